//! The sweep report, from `runs.csv` and the manifest alone (so a merged sweep and a whole
//! one give the same page): per parameter set, the distribution of total loss and bad debt,
//! the probability of any bad debt with its Wilson interval, VaR and ES of loss with bootstrap
//! intervals (99% only with at least 1,000 runs), the insurance fund's low point; the frontier
//! of tail loss against margin per open interest; bad debt against peak gas; and, with two or
//! more sets, every set against the first on paired seeds, Holm-corrected.
//!
//! Also `sets.csv`: the same per-set figures as a table for pandas, polars or DuckDB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulwark_report::{
    fmt_number, fmt_pct, fmt_usd, ComparisonTable, Page, PageItem, PageSection, XyAxis, XyChart,
    XyPoint, XySeries, XyStyle,
};
use bulwark_risk::{
    expected_shortfall, expected_shortfall_ci, holm, paired_mean_diff, paired_stat_diff, var_ci,
    wilson, Bootstrap, Tail, TailStat,
};

use super::store::{csv_line, read_rows, Manifest, RUNS_CSV};

pub const REPORT_HTML: &str = "report.html";
pub const SETS_CSV: &str = "sets.csv";

/// Confidence of every interval in the report.
const CONFIDENCE: f64 = 0.95;
/// Family-wise error rate of the paired comparison.
const ALPHA: f64 = 0.05;
/// Most sets drawn on one chart: more lines than this cannot be told apart.
const MAX_CHART_SETS: usize = 10;
/// Most runs drawn as dots on the gas chart.
const MAX_SCATTER_POINTS: usize = 4_000;

/// The metrics the paired comparison tests, with how the table names them and whether they
/// are USD.
const COMPARED: &[(&str, &str, bool)] = &[
    ("loss_total_usd", "total loss", true),
    ("bad_debt_usd", "bad debt", true),
    ("insurance_min_usd", "insurance fund minimum", true),
    ("liquidation_volume_usd", "liquidation volume", true),
    (
        "cascade_longest_chain",
        "cascade depth (longest chain)",
        false,
    ),
    ("adl_notional_usd", "ADL notional", true),
    ("halted_s", "halted (s)", false),
    ("volume_refused_share", "volume refused (share)", false),
    ("margin_per_oi", "margin per OI", false),
];

/// Resamples of each paired bootstrap. A bootstrap p-value is at least 1 / (B + 1), and Holm
/// multiplies the smallest by the number of tests (a compare of 8 variants has 96): with
/// 2,000 resamples no difference, however large, could fall below 0.05 after Holm.
const PAIRED_RESAMPLES: usize = 10_000;

/// Columns whose tail (expected shortfall at 95%) is compared on paired seeds.
const TAIL_COMPARED: &[(&str, &str)] = &[
    ("loss_total_usd", "total loss ES 95%"),
    ("bad_debt_usd", "bad debt ES 95%"),
];

/// The runs of a sweep, column by column, grouped by parameter set.
struct Runs {
    header: Vec<String>,
    /// Rows in run-index order.
    rows: Vec<Vec<String>>,
}

impl Runs {
    fn col(&self, name: &str) -> Result<usize, String> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{RUNS_CSV} has no column {name}"))
    }

    /// Column `name` of set `set`'s runs, in seed order, as numbers.
    fn values(&self, set: usize, name: &str) -> Result<Vec<f64>, String> {
        let (c, set_col) = (self.col(name)?, self.col("set")?);
        let want = set.to_string();
        self.rows
            .iter()
            .filter(|r| r[set_col] == want)
            .map(|r| {
                r[c].parse::<f64>()
                    .map_err(|_| format!("{RUNS_CSV}: {name} = {:?} is not a number", r[c]))
            })
            .collect()
    }
}

/// Per-set figures.
struct SetStats {
    label: String,
    runs: usize,
    loss_mean: f64,
    loss_median: f64,
    tail: Tail,
    var95: bulwark_risk::ConfidenceInterval,
    es95: bulwark_risk::ConfidenceInterval,
    bad_debt_mean: f64,
    bad_debt_p: bulwark_risk::Proportion,
    insurance_min_p05: f64,
    insurance_min_p50: f64,
    margin_per_oi: f64,
    volume_refused_share: f64,
    halted_s: f64,
    gas_max_mean: f64,
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn risk(e: bulwark_risk::RiskError) -> String {
    e.to_string()
}

fn set_stats(runs: &Runs, set: usize, label: String, seed: u64) -> Result<SetStats, String> {
    let loss = runs.values(set, "loss_total_usd")?;
    let bad = runs.values(set, "bad_debt_usd")?;
    let ins = runs.values(set, "insurance_min_usd")?;
    let boot = Bootstrap {
        resamples: 2_000,
        confidence: CONFIDENCE,
        seed: seed ^ set as u64,
    };
    let n = loss.len();
    // A bootstrap needs two runs; with one, the interval is the value itself.
    let ci = |f: &dyn Fn() -> Result<bulwark_risk::ConfidenceInterval, bulwark_risk::RiskError>,
              point: f64| {
        if n >= 2 {
            f().map_err(risk)
        } else {
            Ok(bulwark_risk::ConfidenceInterval {
                estimate: point,
                lower: point,
                upper: point,
                confidence: CONFIDENCE,
            })
        }
    };
    let tail = Tail::from_losses(&loss).map_err(risk)?;
    let var95 = ci(&|| var_ci(&loss, 0.95, &boot), tail.var_95_usd)?;
    let es95 = ci(
        &|| expected_shortfall_ci(&loss, 0.95, &boot),
        tail.es_95_usd,
    )?;
    let with_bad_debt = bad.iter().filter(|b| **b > 0.0).count() as u64;
    Ok(SetStats {
        label,
        runs: n,
        loss_mean: mean(&loss),
        loss_median: bulwark_risk::quantile(&loss, 0.5).map_err(risk)?,
        tail,
        var95,
        es95,
        bad_debt_mean: mean(&bad),
        bad_debt_p: wilson(with_bad_debt, n as u64, CONFIDENCE).map_err(risk)?,
        insurance_min_p05: bulwark_risk::quantile(&ins, 0.05).map_err(risk)?,
        insurance_min_p50: bulwark_risk::quantile(&ins, 0.5).map_err(risk)?,
        margin_per_oi: mean(&runs.values(set, "margin_per_oi")?),
        volume_refused_share: mean(&runs.values(set, "volume_refused_share")?),
        halted_s: mean(&runs.values(set, "halted_s")?),
        gas_max_mean: mean(&runs.values(set, "gas_max_gwei")?),
    })
}

fn tail_text(t: TailStat) -> String {
    match t {
        TailStat::Value(v) => fmt_usd(v),
        TailStat::TooFewRuns { need, .. } => format!("too few runs (n < {need})"),
    }
}

fn interval_usd(ci: &bulwark_risk::ConfidenceInterval) -> String {
    format!(
        "{} [{}, {}]",
        fmt_usd(ci.estimate),
        fmt_usd(ci.lower),
        fmt_usd(ci.upper)
    )
}

/// Writes `report.html` and `sets.csv` for the sweep in `dir`; returns their paths.
pub fn write_report(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let manifest = Manifest::read(dir)?;
    let header = manifest.header();
    let rows = read_rows(&dir.join(RUNS_CSV), &header)?;
    let runs = Runs {
        header,
        rows: rows.into_values().collect(),
    };
    let labels = set_labels(&manifest);
    let stats = labels
        .iter()
        .enumerate()
        .map(|(i, l)| set_stats(&runs, i, l.clone(), manifest.sweep_seed))
        .collect::<Result<Vec<_>, _>>()?;
    let sets_csv = write_sets_csv(dir, &stats)?;
    let mut sections = vec![
        headline_section(&stats),
        quantile_section(&runs, &stats)?,
        distribution_section(&runs, &stats, "loss_total_usd", "Total loss"),
        distribution_section(&runs, &stats, "bad_debt_usd", "Bad debt"),
        frontier_section(&stats),
        gas_section(&runs, &stats)?,
    ];
    if stats.len() >= 2 && manifest.paired_comparison {
        sections.push(paired_section(&runs, &stats, manifest.sweep_seed)?);
    }
    let page = Page {
        title: format!("Sweep {}", manifest.sweep),
        meta: vec![
            ("Runs".into(), manifest.runs_total.to_string()),
            (
                "Parameter sets".into(),
                format!(
                    "{} x {} seeds each (paired: the same seeds in every set)",
                    stats.len(),
                    manifest.seeds
                ),
            ),
            ("Sweep seed".into(), manifest.sweep_seed.to_string()),
            ("Sweep hash".into(), manifest.sweep_hash.clone()),
            ("Build".into(), manifest.binary_hash.clone()),
        ],
        sections,
    };
    let html = bulwark_report::write_page(dir, REPORT_HTML, &page).map_err(|e| e.to_string())?;
    Ok((html, sets_csv))
}

/// Each set's name: its variant and swept values, or "base".
fn set_labels(m: &Manifest) -> Vec<String> {
    m.sets
        .iter()
        .map(|values| {
            let parts: Vec<String> = m
                .keys
                .iter()
                .map(|k| match values.get(k) {
                    Some(v) if k == super::spec::VARIANT_COLUMN => v.clone(),
                    Some(v) => format!("{k}={v}"),
                    None => String::new(),
                })
                .filter(|s| !s.is_empty())
                .collect();
            if parts.is_empty() {
                "base".to_string()
            } else {
                parts.join(", ")
            }
        })
        .collect()
}

fn write_sets_csv(dir: &Path, stats: &[SetStats]) -> Result<PathBuf, String> {
    let header: Vec<String> = [
        "set",
        "label",
        "runs",
        "loss_mean_usd",
        "loss_median_usd",
        "loss_var95_usd",
        "loss_var95_lo_usd",
        "loss_var95_hi_usd",
        "loss_es95_usd",
        "loss_es95_lo_usd",
        "loss_es95_hi_usd",
        "loss_var99_usd",
        "loss_es99_usd",
        "bad_debt_mean_usd",
        "p_bad_debt",
        "p_bad_debt_lo",
        "p_bad_debt_hi",
        "insurance_min_p05_usd",
        "insurance_min_p50_usd",
        "margin_per_oi",
        "volume_refused_share",
        "halted_s",
        "gas_max_mean_gwei",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut text = csv_line(&header);
    for (i, s) in stats.iter().enumerate() {
        let opt = |t: TailStat| t.value().map_or(String::new(), |v| v.to_string());
        let cells: Vec<String> = vec![
            i.to_string(),
            s.label.clone(),
            s.runs.to_string(),
            s.loss_mean.to_string(),
            s.loss_median.to_string(),
            s.var95.estimate.to_string(),
            s.var95.lower.to_string(),
            s.var95.upper.to_string(),
            s.es95.estimate.to_string(),
            s.es95.lower.to_string(),
            s.es95.upper.to_string(),
            opt(s.tail.var_99_usd),
            opt(s.tail.es_99_usd),
            s.bad_debt_mean.to_string(),
            s.bad_debt_p.estimate.to_string(),
            s.bad_debt_p.lower.to_string(),
            s.bad_debt_p.upper.to_string(),
            s.insurance_min_p05.to_string(),
            s.insurance_min_p50.to_string(),
            s.margin_per_oi.to_string(),
            s.volume_refused_share.to_string(),
            s.halted_s.to_string(),
            s.gas_max_mean.to_string(),
        ];
        text.push_str(&csv_line(&cells));
    }
    let path = dir.join(SETS_CSV);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn headline_section(stats: &[SetStats]) -> PageSection {
    let mut t = ComparisonTable::new([
        "Parameter set",
        "Runs",
        "Mean loss",
        "VaR 95% [95% CI]",
        "ES 95% [95% CI]",
        "VaR 99%",
        "ES 99%",
        "P(bad debt) [95% CI]",
        "Insurance min p5 / p50",
        "Margin per OI",
    ]);
    for s in stats {
        let p = &s.bad_debt_p;
        t.push_row([
            s.label.clone(),
            s.runs.to_string(),
            fmt_usd(s.loss_mean),
            interval_usd(&s.var95),
            interval_usd(&s.es95),
            tail_text(s.tail.var_99_usd),
            tail_text(s.tail.es_99_usd),
            format!(
                "{} [{}, {}]",
                fmt_pct(p.estimate),
                fmt_pct(p.lower),
                fmt_pct(p.upper)
            ),
            format!(
                "{} / {}",
                fmt_usd(s.insurance_min_p05),
                fmt_usd(s.insurance_min_p50)
            ),
            fmt_number(s.margin_per_oi, 4),
        ]);
    }
    PageSection {
        title: "Loss per parameter set".into(),
        note: "Total loss is every loss the venue's stages bore (penalties, vault, insurance, \
               ADL, socialized, uncovered). VaR is the ceil(0.95 n)-th smallest loss, ES the \
               Acerbi-Tasche tail average; intervals are 2,000-resample percentile bootstraps. \
               99% figures need at least 1,000 runs. P(bad debt) is the share of runs with any \
               bad debt, with its Wilson interval."
            .into(),
        items: vec![PageItem::Table(t)],
    }
}

/// The loss quantiles of each set, as the stress suite's table shows them: p50, p90, p95,
/// p99 (from 1,000 runs, like the other 99% figures), the worst run.
pub fn loss_quantile_table(dir: &Path) -> Result<ComparisonTable, String> {
    let manifest = Manifest::read(dir)?;
    let header = manifest.header();
    let rows = read_rows(&dir.join(RUNS_CSV), &header)?;
    let runs = Runs {
        header,
        rows: rows.into_values().collect(),
    };
    let labels = set_labels(&manifest);
    quantile_table(&runs, &labels)
}

fn quantile_table(runs: &Runs, labels: &[String]) -> Result<ComparisonTable, String> {
    let mut t = ComparisonTable::new([
        "Parameter set",
        "Runs",
        "Loss p50",
        "p90",
        "p95",
        "p99",
        "Worst run",
        "Bad debt p50",
        "Bad debt p95",
        "P(bad debt)",
    ]);
    for (i, label) in labels.iter().enumerate() {
        let loss = runs.values(i, "loss_total_usd")?;
        let bad = runs.values(i, "bad_debt_usd")?;
        let q = |xs: &[f64], p: f64| bulwark_risk::quantile(xs, p).map(fmt_usd).map_err(risk);
        let p99 = if loss.len() >= bulwark_risk::MIN_RUNS_FOR_99 {
            q(&loss, 0.99)?
        } else {
            format!("too few runs (n < {})", bulwark_risk::MIN_RUNS_FOR_99)
        };
        let worst = loss.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let with_bad = bad.iter().filter(|b| **b > 0.0).count();
        t.push_row([
            label.clone(),
            loss.len().to_string(),
            q(&loss, 0.5)?,
            q(&loss, 0.9)?,
            q(&loss, 0.95)?,
            p99,
            fmt_usd(worst),
            q(&bad, 0.5)?,
            q(&bad, 0.95)?,
            fmt_pct(with_bad as f64 / loss.len().max(1) as f64),
        ]);
    }
    Ok(t)
}

fn quantile_section(runs: &Runs, stats: &[SetStats]) -> Result<PageSection, String> {
    let labels: Vec<String> = stats.iter().map(|s| s.label.clone()).collect();
    Ok(PageSection {
        title: "Loss quantiles per parameter set".into(),
        note: "Quantiles of total loss and of bad debt over each set's runs (type 7, as numpy). \
               p99 needs at least 1,000 runs."
            .into(),
        items: vec![PageItem::Table(quantile_table(runs, &labels)?)],
    })
}

/// Empirical CDF of one metric per set.
fn distribution_section(runs: &Runs, stats: &[SetStats], col: &str, what: &str) -> PageSection {
    let series: Vec<XySeries> = stats
        .iter()
        .enumerate()
        .take(MAX_CHART_SETS)
        .filter_map(|(i, s)| {
            let mut v = runs.values(i, col).ok()?;
            v.sort_by(f64::total_cmp);
            let n = v.len() as f64;
            let mut points = vec![XyPoint::new(v.first().copied().unwrap_or(0.0), 0.0)];
            points.extend(
                v.iter()
                    .enumerate()
                    .map(|(k, x)| XyPoint::new(*x, (k + 1) as f64 / n)),
            );
            Some(XySeries {
                label: s.label.clone(),
                color: None,
                style: XyStyle::Steps,
                points,
            })
        })
        .collect();
    let mut items = vec![PageItem::Chart(XyChart {
        aria_label: format!("Distribution of {what} per parameter set"),
        height_px: 320.0,
        x: XyAxis {
            title: format!("{what} (USD)"),
            usd: true,
            include_zero: true,
        },
        y: XyAxis {
            title: "Share of runs at or below".into(),
            usd: false,
            include_zero: true,
        },
        series,
    })];
    if stats.len() > MAX_CHART_SETS {
        items.push(PageItem::Text(format!(
            "The first {MAX_CHART_SETS} of {} sets are drawn; sets.csv has them all.",
            stats.len()
        )));
    }
    PageSection {
        title: format!("Distribution of {}", what.to_lowercase()),
        note: "Each line is one parameter set: the share of its runs whose value is at or below \
               x. A line further right has heavier losses; its top right is the worst run."
            .into(),
        items,
    }
}

/// ES 95% of loss against margin per open interest, one point per set.
fn frontier_section(stats: &[SetStats]) -> PageSection {
    let points = stats
        .iter()
        .map(|s| {
            XyPoint::new(s.margin_per_oi, s.es95.estimate)
                .with_interval(s.es95.lower, s.es95.upper)
                .with_tooltip(s.label.clone())
        })
        .collect();
    PageSection {
        title: "Tail loss against capital efficiency".into(),
        note: "Each point is one parameter set: its expected shortfall of loss at 95% (with \
               its bootstrap interval) against the margin its traders had to post per dollar of \
               open interest. Sets toward the bottom left protect more for less margin; hover a \
               point for its set."
            .into(),
        items: vec![PageItem::Chart(XyChart {
            aria_label: "Tail loss against margin per open interest".into(),
            height_px: 320.0,
            x: XyAxis {
                title: "Margin per open interest (time-averaged)".into(),
                usd: false,
                include_zero: false,
            },
            y: XyAxis {
                title: "ES 95% of loss (USD)".into(),
                usd: true,
                include_zero: true,
            },
            series: vec![XySeries {
                label: "parameter sets".into(),
                color: None,
                style: XyStyle::Points,
                points,
            }],
        })],
    }
}

/// Bad debt against the run's peak gas, every run (thinned evenly past a few thousand).
fn gas_section(runs: &Runs, stats: &[SetStats]) -> Result<PageSection, String> {
    let mut series = Vec::new();
    let total: usize = stats.iter().map(|s| s.runs).sum();
    let stride = total.div_ceil(MAX_SCATTER_POINTS).max(1);
    for (i, s) in stats.iter().enumerate().take(MAX_CHART_SETS) {
        let gas = runs.values(i, "gas_max_gwei")?;
        let bad = runs.values(i, "bad_debt_usd")?;
        let points = gas
            .iter()
            .zip(&bad)
            .step_by(stride)
            .map(|(g, b)| XyPoint::new(*g, *b))
            .collect();
        series.push(XySeries {
            label: s.label.clone(),
            color: None,
            style: XyStyle::Points,
            points,
        });
    }
    Ok(PageSection {
        title: "Bad debt against peak gas".into(),
        note: "Each dot is one run. When congestion is swept, a slope here is keepers failing \
               as gas rises."
            .into(),
        items: vec![PageItem::Chart(XyChart {
            aria_label: "Bad debt against peak gas per run".into(),
            height_px: 320.0,
            x: XyAxis {
                title: "Peak gas (gwei)".into(),
                usd: false,
                include_zero: false,
            },
            y: XyAxis {
                title: "Bad debt (USD)".into(),
                usd: true,
                include_zero: true,
            },
            series,
        })],
    })
}

/// One row of the paired comparison.
struct Paired {
    set: String,
    metric: &'static str,
    usd: bool,
    diff: Option<bulwark_risk::PairedDiff>,
}

/// Every set against the first on the same seeds: mean difference, interval, p-value, Holm.
fn paired_section(runs: &Runs, stats: &[SetStats], seed: u64) -> Result<PageSection, String> {
    let mut rows = Vec::new();
    for (i, s) in stats.iter().enumerate().skip(1) {
        for (k, &(col, name, usd)) in COMPARED.iter().enumerate() {
            let (a, b) = (runs.values(i, col)?, runs.values(0, col)?);
            let boot = Bootstrap {
                resamples: PAIRED_RESAMPLES,
                confidence: CONFIDENCE,
                seed: seed ^ ((i as u64) << 16) ^ k as u64,
            };
            let diff = (a.len() >= 2 && a.len() == b.len())
                .then(|| paired_mean_diff(&a, &b, &boot))
                .transpose()
                .map_err(risk)?;
            rows.push(Paired {
                set: s.label.clone(),
                metric: name,
                usd,
                diff,
            });
        }
        // The tail and the probability of bad debt, paired the same way: the expected
        // shortfall of each sample and the share of runs with any bad debt.
        let (a, b) = (
            runs.values(i, "bad_debt_usd")?,
            runs.values(0, "bad_debt_usd")?,
        );
        let any =
            |x: &[f64]| -> Vec<f64> { x.iter().map(|&v| f64::from(u8::from(v > 0.0))).collect() };
        let boot = |k: u64| Bootstrap {
            resamples: PAIRED_RESAMPLES,
            confidence: CONFIDENCE,
            seed: seed ^ ((i as u64) << 16) ^ (0x100 + k),
        };
        let p_any = (a.len() >= 2 && a.len() == b.len())
            .then(|| paired_mean_diff(&any(&a), &any(&b), &boot(0)))
            .transpose()
            .map_err(risk)?;
        rows.push(Paired {
            set: s.label.clone(),
            metric: "probability of bad debt",
            usd: false,
            diff: p_any,
        });
        for (k, &(col, name)) in TAIL_COMPARED.iter().enumerate() {
            let (a, b) = (runs.values(i, col)?, runs.values(0, col)?);
            let es = |x: &[f64]| expected_shortfall(x, CONFIDENCE).unwrap_or(f64::NAN);
            // Too few runs for the tail (or a degenerate one) leaves the row without figures.
            let diff = (a.len() >= 20 && a.len() == b.len())
                .then(|| paired_stat_diff(&a, &b, &boot(1 + k as u64), es).ok())
                .flatten();
            rows.push(Paired {
                set: s.label.clone(),
                metric: name,
                usd: true,
                diff,
            });
        }
    }
    let p: Vec<f64> = rows
        .iter()
        .map(|r| r.diff.map_or(1.0, |d| d.p_value))
        .collect();
    let h = holm(&p, ALPHA).map_err(risk)?;
    let mut t = ComparisonTable::new([
        "Parameter set",
        "Metric",
        "Mean difference",
        "95% CI",
        "p",
        "Holm p",
        "Significant",
    ]);
    let fmt = |x: f64, usd: bool| if usd { fmt_usd(x) } else { fmt_number(x, 4) };
    let mut significant = BTreeMap::<&str, Vec<&str>>::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(d) = r.diff else {
            t.push_row([r.set.clone(), r.metric.into(), "too few runs".into()]);
            continue;
        };
        if h.reject[i] {
            significant
                .entry(r.set.as_str())
                .or_default()
                .push(r.metric);
        }
        t.push_row([
            r.set.clone(),
            r.metric.to_string(),
            fmt(d.mean_diff, r.usd),
            format!("[{}, {}]", fmt(d.ci.lower, r.usd), fmt(d.ci.upper, r.usd)),
            format!("{:.4}", d.p_value),
            format!("{:.4}", h.adjusted[i]),
            if h.reject[i] { "yes" } else { "no" }.to_string(),
        ]);
    }
    let verdict = if significant.is_empty() {
        "No difference from the baseline is significant at 5% after Holm's correction.".into()
    } else {
        significant
            .iter()
            .map(|(set, m)| format!("{set}: {}", m.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Ok(PageSection {
        title: format!("Against the baseline ({})", stats[0].label),
        note: format!(
            "Each set ran on the same seeds as the baseline, so each seed gives a pair; the \
             difference is set minus baseline. Intervals and p-values come from a 2,000-resample \
             paired bootstrap; Holm's correction keeps the chance of any false 'yes' across all \
             {} tests under {ALPHA}.",
            rows.len()
        ),
        items: vec![
            PageItem::Text(format!("Significant: {verdict}")),
            PageItem::Table(t),
        ],
    })
}
