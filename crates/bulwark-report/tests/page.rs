//! Whole-page properties: self-contained, escaped, one SVG per chart, bounded
//! size for long runs, and a golden console table.

use std::time::{Duration, Instant};

use bulwark_report::sample::sample_report;
use bulwark_report::{
    col, render_console_table, render_html, unit, write_report, ComparisonTable, HeadlineRow,
    LiquidationMark, Period, PeriodKind, RunReport, TimeSeries, WaterfallStage,
};
use expect_test::expect;

/// Five time-independent charts: price, funds, share price, waterfall, OI/bad debt.
const STANDARD_CHART_COUNT: usize = 5;

fn small_report() -> RunReport {
    let mut report = RunReport::new("Small <test> run", "flash_crash & rebound", 7, "00ff");
    report.run_wall_time_s = 0.42;
    let t_s: Vec<f64> = (0..=120).map(|i| f64::from(i) * 60.0).collect();
    // Prices on a 1/64 grid: exact in binary, so the JSON round trip (whose
    // default float parser is not correctly rounded) compares equal.
    let price: Vec<f64> = t_s
        .iter()
        .map(|t| ((100.0 - (t / 600.0).sin() * 10.0) * 64.0).round() / 64.0)
        .collect();
    let mut series = TimeSeries::new(t_s.clone());
    for name in [col::OUTSIDE_PRICE, col::ORACLE_PRICE, col::MARK_PRICE] {
        series.push_column(name, unit::USD, price.clone()).unwrap();
    }
    for (name, unit_name) in [
        (col::INSURANCE_FUND_USD, unit::USD),
        (col::VAULT_EQUITY_USD, unit::USD),
        (col::VAULT_SHARE_PRICE, unit::RATIO),
        (col::OPEN_INTEREST_USD, unit::USD),
        (col::BAD_DEBT_CUM_USD, unit::USD),
    ] {
        series
            .push_column(name, unit_name, t_s.iter().map(|t| 1e6 - t).collect())
            .unwrap();
    }
    report.series = series;
    report.headline = vec![
        HeadlineRow::new("Bad debt (total)", "$1,284,000").with_detail("after insurance fund"),
        HeadlineRow::new("Insurance fund minimum", "$3,950,000"),
        HeadlineRow::new("Liquidations", "1,912").with_detail("$412,000,000 notional"),
        HeadlineRow::new("ADL notional", "$0.00"),
        HeadlineRow::new("Breaker time", "15m 00s").with_detail("1 trip"),
    ];
    report.liquidations = vec![LiquidationMark {
        t_s: 600.0,
        price: 91.0,
        notional_usd: 250_000.0,
        stage: "vault".into(),
    }];
    report.waterfall = vec![
        WaterfallStage {
            stage: "Own collateral".into(),
            amount_usd: 900_000.0,
        },
        WaterfallStage {
            stage: "Insurance fund".into(),
            amount_usd: 100_000.0,
        },
    ];
    report.periods = vec![Period {
        start_s: 1_200.0,
        end_s: 2_100.0,
        kind: PeriodKind::Breaker,
        label: "<b>trip</b>".into(),
    }];
    let mut table = ComparisonTable::new(["Variant", "Bad debt"]);
    table
        .push_row(["Baseline", "$1"])
        .push_row(["<No breaker>"]);
    report.comparison = Some(table);
    report
}

#[test]
fn console_table_matches_golden() {
    let table = render_console_table(&small_report().headline);
    expect![[r#"
        Metric                       Value  Detail
        ----------------------  ----------  ---------------------
        Bad debt (total)        $1,284,000  after insurance fund
        Insurance fund minimum  $3,950,000
        Liquidations                 1,912  $412,000,000 notional
        ADL notional                 $0.00
        Breaker time               15m 00s  1 trip
    "#]]
    .assert_eq(&table);
}

#[test]
fn page_is_self_contained() {
    let html = render_html(&sample_report(6.0 * 3_600.0, 5.0));
    let lower = html.to_ascii_lowercase();
    for forbidden in [
        "http://", "https://", "<script", "<link", "src=", "url(", "@import", "<iframe", "<img",
    ] {
        assert!(!lower.contains(forbidden), "page contains {forbidden:?}");
    }
    assert!(lower.starts_with("<!doctype html>"));
    assert!(lower.contains("<meta charset=\"utf-8\">"));
}

#[test]
fn one_svg_per_chart() {
    let html = render_html(&small_report());
    assert_eq!(html.matches("<svg").count(), STANDARD_CHART_COUNT);
    assert_eq!(html.matches("</svg>").count(), STANDARD_CHART_COUNT);

    // An extra column gets a chart of its own, without code changes here.
    let mut report = small_report();
    let len = report.series.t_s.len();
    report
        .series
        .push_column("funding_rate", "ratio", vec![0.0001; len])
        .unwrap();
    let html = render_html(&report);
    assert_eq!(html.matches("<svg").count(), STANDARD_CHART_COUNT + 1);
    assert!(html.contains("Other series"));
}

#[test]
fn user_text_is_escaped_everywhere() {
    let html = render_html(&small_report());
    assert!(html.contains("<title>Small &lt;test&gt; run</title>"));
    assert!(html.contains("flash_crash &amp; rebound"));
    assert!(html.contains("&lt;b&gt;trip&lt;/b&gt;"));
    assert!(html.contains("&lt;No breaker&gt;"));
    assert!(!html.contains("<test>") && !html.contains("<b>") && !html.contains("<No breaker>"));
}

#[test]
fn page_shows_headline_waterfall_and_comparison() {
    let html = render_html(&small_report());
    for text in [
        "$1,284,000",
        "after insurance fund",
        "Own collateral",
        "$900,000",
        "90.00%",
        "Mechanism comparison",
        "Baseline",
        "Circuit breaker",
        "liquidation: vault",
        "Time since start (hours)",
        "Price (USD)",
        "(right axis)",
    ] {
        assert!(html.contains(text), "page lacks {text:?}");
    }
    // The short comparison row is padded to the header's width.
    assert!(html.contains("<td>&lt;No breaker&gt;</td><td></td>"));
}

#[test]
fn missing_columns_and_bad_data_are_reported_not_fatal() {
    let mut report = RunReport::new("Empty", "none", 1, "");
    report.series = TimeSeries {
        t_s: vec![0.0, 2.0, 1.0],
        columns: vec![bulwark_report::Column {
            name: col::MARK_PRICE.into(),
            unit: unit::USD.into(),
            values: vec![1.0],
        }],
    };
    let html = render_html(&report);
    assert!(html.contains("Data problems"));
    assert!(html.contains("t_s[2]"));
    assert!(html.contains("`mark_price` has 1 values but the series has 3 times"));
    assert!(html.contains("No data: the run provided none of the columns insurance_fund_usd"));
    assert!(html.contains("No headline numbers"));
}

#[test]
fn push_column_rejects_misaligned_and_duplicate_columns() {
    let mut series = TimeSeries::new(vec![0.0, 1.0]);
    assert!(series.push_column("a", "USD", vec![1.0]).is_err());
    series.push_column("a", "USD", vec![1.0, 2.0]).unwrap();
    assert!(series.push_column("a", "USD", vec![1.0, 2.0]).is_err());
    assert!(series.problems().is_empty());
}

#[test]
fn a_72_hour_run_at_one_second_steps_stays_small_and_fast() {
    let report = sample_report(72.0 * 3_600.0, 1.0);
    assert_eq!(report.series.t_s.len(), 259_201);
    let started = Instant::now();
    let html = render_html(&report);
    let elapsed = started.elapsed();
    // Generous for an unoptimised build on a loaded machine; typical is far less.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(html.len() < 1_500_000, "page is {} bytes", html.len());
    assert_eq!(html.matches("<svg").count(), STANDARD_CHART_COUNT);
    // Every drawn line is bounded by 4 points per pixel column.
    let max_points = html
        .split("points=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or("").split(' ').count())
        .max()
        .unwrap_or(0);
    assert!(max_points <= 4 * 960, "a polyline has {max_points} points");
    assert!(
        max_points > 500,
        "lines should still be detailed: {max_points}"
    );
}

#[test]
fn write_report_creates_the_directory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nested/run-7");
    let path = write_report(&target, &small_report()).unwrap();
    assert_eq!(path, target.join("report.html"));
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, render_html(&small_report()));
    assert!(!target.join(".report.html.tmp").exists());
}

#[test]
fn write_report_surfaces_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = write_report(&file, &small_report()).unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn report_round_trips_through_json() {
    let report = small_report();
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"kind\":\"breaker\""));
    let back: RunReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}
