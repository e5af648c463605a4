//! A synthetic, deterministic report shaped like a March-2020-style crash, for
//! the example binary, the tests and anyone checking how a page looks. The
//! numbers are made up; nothing here comes from the engine.

use crate::format::{fmt_duration_s, fmt_number, fmt_pct, fmt_usd};
use crate::model::{
    col, unit, ComparisonTable, HeadlineRow, LiquidationMark, Period, PeriodKind, RunReport,
    TimeSeries, WaterfallStage,
};

const HOUR_S: f64 = 3_600.0;

/// Small deterministic noise source (xorshift64*), so the sample needs no RNG
/// crate and is identical on every machine.
struct Noise(u64);

impl Noise {
    /// Uniform in [-1, 1).
    fn next_signed(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Outside price in USD at `t_s`: about 7,900 falling to about 3,800 between
/// hours 20 and 30 of a 72-hour run (scaled to `duration_s`), then a partial
/// recovery.
fn outside_price_at(t_s: f64, duration_s: f64) -> f64 {
    let u = t_s / duration_s; // 0..1 through the run
    let crash = 1.0 / (1.0 + (-(u - 0.35) * 40.0).exp()); // logistic drop
    let recovery = 1.0 / (1.0 + (-(u - 0.6) * 15.0).exp());
    7_900.0 - 4_100.0 * crash + 1_300.0 * recovery + 60.0 * (u * 40.0).sin()
}

/// Builds a report covering `duration_s` seconds sampled every `step_s`.
pub fn sample_report(duration_s: f64, step_s: f64) -> RunReport {
    let n = (duration_s / step_s).floor() as usize + 1;
    let t_s: Vec<f64> = (0..n).map(|i| i as f64 * step_s).collect();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);

    let outside: Vec<f64> = t_s
        .iter()
        .map(|&t| outside_price_at(t, duration_s) * (1.0 + 0.002 * noise.next_signed()))
        .collect();
    let periods = sample_periods(duration_s);
    let oracle = oracle_path(&t_s, &outside, &periods);
    // The mark overshoots the outside price in the steepest part of the fall:
    // thin books after market makers pull quotes.
    let mark: Vec<f64> = t_s
        .iter()
        .zip(&outside)
        .map(|(&t, &p)| {
            let u = t / duration_s;
            let stress = (-((u - 0.35) * 25.0).powi(2)).exp();
            p * (1.0 - 0.04 * stress + 0.003 * noise.next_signed())
        })
        .collect();
    let stress: Vec<f64> = t_s
        .iter()
        .map(|&t| (-((t / duration_s - 0.35) * 12.0).powi(2)).exp())
        .collect();
    let insurance: Vec<f64> = stress
        .iter()
        .scan(25e6, |fund, s| {
            *fund = (*fund - 2e3 * s * step_s / 60.0 + 20.0 * step_s / 60.0).max(0.0);
            Some(*fund)
        })
        .collect();
    let vault_equity: Vec<f64> = stress
        .iter()
        .zip(&t_s)
        .map(|(s, &t)| {
            60e6 - 18e6 * s.sqrt() * (t / duration_s).min(0.4) / 0.4 + 2e5 * (t / 7_200.0).sin()
        })
        .collect();
    let share_price: Vec<f64> = vault_equity.iter().map(|e| e / 60e6).collect();
    let open_interest: Vec<f64> = outside
        .iter()
        .zip(&stress)
        .map(|(p, s)| 1.2e9 * p / 7_900.0 * (1.0 - 0.45 * s))
        .collect();
    let bad_debt: Vec<f64> = stress
        .iter()
        .scan(0.0, |debt, s| {
            if *s > 0.8 {
                *debt += 1_200.0 * s * step_s / 60.0;
            }
            Some(*debt)
        })
        .collect();

    let mut series = TimeSeries::new(t_s);
    let columns = [
        (col::OUTSIDE_PRICE, unit::USD, outside),
        (col::ORACLE_PRICE, unit::USD, oracle),
        (col::MARK_PRICE, unit::USD, mark),
        (col::INSURANCE_FUND_USD, unit::USD, insurance),
        (col::VAULT_EQUITY_USD, unit::USD, vault_equity),
        (col::VAULT_SHARE_PRICE, unit::RATIO, share_price),
        (col::OPEN_INTEREST_USD, unit::USD, open_interest),
        (col::BAD_DEBT_CUM_USD, unit::USD, bad_debt),
    ];
    for (name, column_unit, values) in columns {
        series
            .push_column(name, column_unit, values)
            .expect("sample columns match the time axis");
    }

    let liquidations = sample_liquidations(&series, &mut noise);
    let waterfall = sample_waterfall();
    let mut report = RunReport::new(
        "Crash replay: BTC-PERP, 12-13 Mar 2020 shape",
        "btc_mar2020_shock",
        42,
        "9f2c4e7a1b3d5f60718293a4b5c6d7e8f9012345678abcdef0123456789abcd",
    );
    report.run_wall_time_s = 14.7;
    report.headline = sample_headline(&series, &liquidations, &waterfall);
    report.series = series;
    report.liquidations = liquidations;
    report.waterfall = waterfall;
    report.periods = periods;
    report.comparison = Some(sample_comparison());
    report
}

/// Oracle updates once a minute and freezes while the oracle is degraded or
/// the chain is halted.
fn oracle_path(t_s: &[f64], outside: &[f64], periods: &[Period]) -> Vec<f64> {
    let frozen = |t: f64| {
        periods.iter().any(|p| {
            matches!(p.kind, PeriodKind::OracleDegraded | PeriodKind::ChainHalt)
                && t >= p.start_s
                && t < p.end_s
        })
    };
    let mut last_update_s = f64::NEG_INFINITY;
    let mut price = outside.first().copied().unwrap_or(0.0);
    t_s.iter()
        .zip(outside)
        .map(|(&t, &p)| {
            if t - last_update_s >= 60.0 && !frozen(t) {
                price = p;
                last_update_s = t;
            }
            price
        })
        .collect()
}

fn sample_periods(duration_s: f64) -> Vec<Period> {
    let at = |fraction: f64| fraction * duration_s;
    vec![
        Period {
            start_s: at(0.30),
            end_s: at(0.30) + 1.5 * HOUR_S,
            kind: PeriodKind::OracleDegraded,
            label: "2 of 5 sources stale".into(),
        },
        Period {
            start_s: at(0.345),
            end_s: at(0.345) + 0.25 * HOUR_S,
            kind: PeriodKind::Breaker,
            label: "-10% in 5 min".into(),
        },
        Period {
            start_s: at(0.37),
            end_s: at(0.37) + HOUR_S,
            kind: PeriodKind::ChainHalt,
            label: "Chain halt".into(),
        },
        Period {
            start_s: at(0.42),
            end_s: at(0.42) + 0.5 * HOUR_S,
            kind: PeriodKind::Halt,
            label: "Venue halt".into(),
        },
    ]
}

/// Liquidations cluster where the mark falls fastest; the stage escalates with
/// the depth of the crash.
fn sample_liquidations(series: &TimeSeries, noise: &mut Noise) -> Vec<LiquidationMark> {
    let (t_s, mark) = (&series.t_s, series.mark_price().unwrap_or(&[]));
    let mut marks = Vec::new();
    // Compare prices 5 minutes apart whatever the sampling step.
    let step_s = t_s.get(1).map_or(1.0, |t1| t1 - t_s[0]).max(1e-9);
    let lag = ((300.0 / step_s).round() as usize).max(1);
    for i in (lag..mark.len()).step_by(lag) {
        let drop = (mark[i - lag] - mark[i]) / mark[i - lag];
        let count = (drop * 400.0).clamp(0.0, 12.0) as usize;
        for _ in 0..count {
            let stage = match (drop * 100.0, noise.next_signed()) {
                (d, r) if d > 0.9 && r > 0.7 => "socialized",
                (d, r) if d > 0.8 && r > 0.4 => "adl",
                (d, r) if d > 0.6 && r > 0.0 => "insurance",
                (d, _) if d > 0.4 => "vault",
                _ => "book",
            };
            marks.push(LiquidationMark {
                t_s: t_s[i] + 150.0 * noise.next_signed(),
                price: mark[i] * (1.0 + 0.004 * noise.next_signed()),
                notional_usd: 50e3 + 2e6 * (noise.next_signed() + 1.0).powi(3),
                stage: stage.to_owned(),
            });
        }
    }
    marks
}

fn sample_waterfall() -> Vec<WaterfallStage> {
    [
        ("Own collateral", 48_250_000.0),
        ("Backstop vault", 17_400_000.0),
        ("Insurance fund", 9_800_000.0),
        ("ADL", 3_100_000.0),
        ("Socialized loss", 420_000.0),
    ]
    .into_iter()
    .map(|(stage, amount_usd)| WaterfallStage {
        stage: stage.to_owned(),
        amount_usd,
    })
    .collect()
}

fn sample_headline(
    series: &TimeSeries,
    marks: &[LiquidationMark],
    waterfall: &[WaterfallStage],
) -> Vec<HeadlineRow> {
    let min_of = |values: Option<&[f64]>| {
        values
            .unwrap_or(&[])
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    };
    let last_of =
        |values: Option<&[f64]>| values.and_then(|v| v.last().copied()).unwrap_or(f64::NAN);
    let volume_usd: f64 = marks.iter().map(|m| m.notional_usd).sum();
    let adl_usd = waterfall
        .iter()
        .find(|s| s.stage == "ADL")
        .map_or(0.0, |s| s.amount_usd);
    let start_equity = series
        .vault_equity_usd()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN);
    let end_equity = last_of(series.vault_equity_usd());
    vec![
        HeadlineRow::new(
            "Bad debt (total)",
            fmt_usd(last_of(series.bad_debt_cum_usd())),
        )
        .with_detail("after insurance fund, before socialization"),
        HeadlineRow::new(
            "Insurance fund minimum",
            fmt_usd(min_of(series.insurance_fund_usd())),
        )
        .with_detail("started at $25,000,000"),
        HeadlineRow::new("Vault PnL", fmt_usd(end_equity - start_equity))
            .with_detail(fmt_pct((end_equity - start_equity) / start_equity)),
        HeadlineRow::new("Liquidations", fmt_number(marks.len() as f64, 0))
            .with_detail(format!("{} notional", fmt_usd(volume_usd))),
        HeadlineRow::new("ADL notional", fmt_usd(adl_usd)),
        HeadlineRow::new("Socialized loss", fmt_usd(420_000.0)).with_detail("positions open only"),
        HeadlineRow::new("Breaker time", fmt_duration_s(0.25 * HOUR_S)),
        HeadlineRow::new("Conservation check", "passed")
            .with_detail("sum of balances = deposits + PnL"),
    ]
}

fn sample_comparison() -> ComparisonTable {
    let mut table = ComparisonTable::new([
        "Variant",
        "Bad debt",
        "Insurance min",
        "ADL notional",
        "Liquidations",
        "Breaker time",
    ]);
    table.caption = Some("Seed 42; one mechanism changed per row against the baseline.".into());
    table
        .push_row([
            "Baseline (all on)",
            "$1,284,000",
            "$3,950,000",
            "$3,100,000",
            "1,912",
            "15m 00s",
        ])
        .push_row([
            "No circuit breaker",
            "$4,870,000",
            "$0.00",
            "$11,800,000",
            "2,604",
            "0m 00s",
        ])
        .push_row([
            "No backstop vault",
            "$9,420,000",
            "$0.00",
            "$24,500,000",
            "1,930",
            "15m 00s",
        ])
        .push_row([
            "Keeper-driven liquidation",
            "$2,310,000",
            "$1,120,000",
            "$5,600,000",
            "1,744",
            "15m 00s",
        ])
        .push_row([
            "Pro-rata ADL",
            "$1,284,000",
            "$3,950,000",
            "$2,950,000",
            "1,912",
            "15m 00s",
        ]);
    table
}
