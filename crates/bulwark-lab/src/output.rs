//! A run's results: `summary.json`, `timeseries.csv`, `events.csv` and `report.html`.
//!
//! `summary.json` is byte-identical for the same scenario, overrides and seed: its keys come
//! in struct order, its numbers are what the run computed (serde_json writes the shortest
//! decimal that reads back to the same `f64`), and wall-clock time is left out of it (it goes
//! to the console and the report only).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bulwark_report::{
    fmt_duration_s, fmt_number, fmt_pct, fmt_usd, unit, ComparisonTable, HeadlineRow,
    LiquidationMark, Period, PeriodKind, RunReport, TimeSeries, WaterfallStage,
};
use serde::Serialize;

use crate::metrics::{longest_chain, EventRow};
use crate::sim::{Agent, Sim};
use crate::venue::Venue;

/// Columns of `timeseries.csv` (after `t_s`), with their report units.
pub const SAMPLE_COLUMNS: [(&str, &str); 17] = [
    ("outside_price", unit::USD),
    ("oracle_price", unit::USD),
    ("mark_price", unit::USD),
    ("insurance_fund_usd", unit::USD),
    ("vault_equity_usd", unit::USD),
    ("vault_share_price", unit::RATIO),
    ("open_interest_usd", unit::USD),
    ("bad_debt_cum_usd", unit::USD),
    ("liquidations_cum", "count"),
    ("liquidation_volume_cum_usd", unit::USD),
    ("negative_equity_usd", unit::USD),
    ("accounts_below_maintenance", "count"),
    ("depth_1pct_usd", unit::USD),
    ("mms_quoting", "count"),
    ("gas_gwei", "gwei"),
    ("mempool_txs", "count"),
    ("oracle_lag_s", "s"),
];

/// One row of samples, in [`SAMPLE_COLUMNS`] order.
pub fn sample_values(sim: &Sim) -> Vec<f64> {
    let venue = Venue::new(&sim.engine, sim.market);
    let outside = sim.path.price_at(sim.now_ms());
    let mark = venue.mark();
    let (vault_equity, share) = crate::venue_state::vault(&sim.engine);
    let oi_usd = venue.open_interest_lots() as f64 / venue.lots_per_unit() * mark;
    let below = venue.flagged().count() as f64;
    let depth = venue.depth_usd(bulwark_engine::Side::Buy, mark, 0.01)
        + venue.depth_usd(bulwark_engine::Side::Sell, mark, 0.01);
    let quoting = sim
        .agents()
        .filter(|a| matches!(a, Agent::MarketMaker(m) if m.is_quoting()))
        .count() as f64;
    let m = &sim.metrics;
    vec![
        outside,
        venue.oracle().unwrap_or(f64::NAN),
        mark,
        crate::venue_state::insurance_fund_usd(&sim.engine),
        vault_equity,
        share,
        oi_usd,
        m.bad_debt_usd,
        m.liquidations.len() as f64,
        m.liquidation_volume_usd,
        crate::venue_state::negative_equity_usd(&sim.engine),
        below,
        depth,
        quoting,
        sim.chain.going_gwei,
        sim.chain.mempool_len() as f64,
        sim.oracle_lag_now_s(),
    ]
}

/// The machine-readable summary of one run. Field order is the key order in the file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub step_ms: u64,
    pub engine_steps: u64,
    pub commands_sent: u64,
    pub commands_applied: u64,
    /// Rejections by `origin/command:reason` (origin: trader, market_maker, arbitrageur,
    /// keeper, oracle, venue).
    pub commands_rejected: std::collections::BTreeMap<String, u64>,
    pub agents: AgentCounts,
    pub price: PriceSummary,
    pub data_gaps: DataGapsSummary,
    pub bad_debt: BadDebt,
    pub insurance_fund: FundSummary,
    pub vault: VaultSummary,
    pub adl: AdlSummary,
    pub liquidations: LiquidationSummary,
    pub cascade: CascadeSummary,
    pub mark_vs_outside: DeviationSummary,
    pub oracle: OracleSummary,
    pub chain: ChainSummary,
    pub agent_activity: AgentActivity,
    pub conservation: Conservation,
    pub final_state_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentCounts {
    pub traders: u32,
    pub market_makers: u32,
    pub arbitrageurs: u32,
    pub keepers: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriceSummary {
    pub outside_start: f64,
    pub outside_min: f64,
    pub outside_end: f64,
    pub mark_min: f64,
    pub mark_end: f64,
}

/// Gaps in historical data (bridged by the path; none for synthetic paths): how many, the
/// longest, and where the first [`MAX_LISTED_GAPS`] are.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataGapsSummary {
    pub count: u64,
    pub total_s: f64,
    pub longest_s: f64,
    /// Start of the longest gap, UTC epoch ms (0 when there is none).
    pub longest_start_ms: u64,
    pub gaps: Vec<GapRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapRow {
    pub start_ms: u64,
    pub length_s: f64,
}

/// Gaps listed one by one in `summary.json`; the count and the longest cover all of them.
pub const MAX_LISTED_GAPS: usize = 50;

fn data_gaps(sim: &Sim) -> DataGapsSummary {
    let gaps = &sim.path.gaps;
    let longest = gaps
        .iter()
        .max_by_key(|g| (g.length_ms(), std::cmp::Reverse(g.start_ms)));
    DataGapsSummary {
        count: gaps.len() as u64,
        total_s: gaps.iter().map(|g| g.length_ms()).sum::<u64>() as f64 / 1000.0,
        longest_s: longest.map_or(0.0, |g| g.length_ms() as f64 / 1000.0),
        longest_start_ms: longest.map_or(0, |g| g.start_ms),
        gaps: gaps
            .iter()
            .take(MAX_LISTED_GAPS)
            .map(|g| GapRow {
                start_ms: g.start_ms,
                length_s: g.length_ms() as f64 / 1000.0,
            })
            .collect(),
    }
}

/// Losses and who paid them, USD. `total_usd` is the sum of what the stages paid (vault,
/// insurance, ADL, socialized, uncovered), which equals the realized `Bankrupt` deficits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BadDebt {
    pub total_usd: f64,
    pub liquidation_penalties_usd: f64,
    pub vault_usd: f64,
    pub insurance_usd: f64,
    pub adl_usd: f64,
    pub socialized_usd: f64,
    pub uncovered_usd: f64,
    /// Negative equity still on the books at the end (never liquidated).
    pub unresolved_negative_equity_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FundSummary {
    pub start_usd: f64,
    pub end_usd: f64,
    pub min_usd: f64,
    pub min_at_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VaultSummary {
    pub start_equity_usd: f64,
    pub end_equity_usd: f64,
    pub pnl_usd: f64,
    pub share_price_start: f64,
    pub share_price_end: f64,
    pub share_price_min: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdlSummary {
    pub count: u64,
    pub notional_usd: f64,
    pub haircut_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiquidationSummary {
    pub count: u64,
    pub volume_usd: f64,
    pub keeper_count: u64,
    pub native_count: u64,
    pub below_maintenance_events: u64,
    pub keeper_txs_sent: u64,
    pub keeper_txs_failed: u64,
}

/// See the `metrics` module for the definitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CascadeSummary {
    pub endogenous_volume_usd: f64,
    pub endogenous_volume_share: f64,
    pub window_s: u64,
    pub longest_chain: u64,
    pub longest_chain_start_s: f64,
    pub longest_chain_end_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviationSummary {
    pub max_abs_bp: f64,
    pub mean_abs_bp: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OracleSummary {
    pub updates: u64,
    pub max_lag_s: f64,
    pub mean_lag_s: f64,
    pub max_chain_delay_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainSummary {
    pub blocks: u64,
    pub blocks_skipped_halt: u64,
    pub halted_s: f64,
    pub max_gas_gwei: f64,
    pub calm_gwei: f64,
    pub stress_gwei: f64,
    pub keeper_txs_included: u64,
    pub keeper_delay_mean_s: f64,
    pub keeper_delay_max_s: f64,
    pub keeper_gas_spent_usd: f64,
    /// Lab transactions dropped after `tx_ttl_s` in the mempool (then sent again).
    pub txs_expired: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentActivity {
    pub trader_entries: u64,
    pub trader_topups: u64,
    pub mm_pulls: u64,
    pub mm_time_pulled_s: f64,
    pub arb_trades: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conservation {
    pub checks: u64,
    pub ok: bool,
    pub first_breach: Option<String>,
}

fn min_of(v: impl Iterator<Item = f64>) -> f64 {
    v.fold(f64::INFINITY, f64::min)
}

/// Keeper totals: (transactions sent, failed, gas spent USD).
#[derive(Default)]
struct KeeperTotals {
    sent: u64,
    failed: u64,
    gas_usd: f64,
}

/// Counts and activity of every population.
fn agent_totals(sim: &Sim) -> (AgentCounts, AgentActivity, KeeperTotals) {
    let mut counts = AgentCounts {
        traders: 0,
        market_makers: 0,
        arbitrageurs: 0,
        keepers: 0,
    };
    let mut act = AgentActivity {
        trader_entries: 0,
        trader_topups: 0,
        mm_pulls: 0,
        mm_time_pulled_s: 0.0,
        arb_trades: 0,
    };
    let mut keepers = KeeperTotals::default();
    for a in sim.agents() {
        match a {
            Agent::Trader(t) => {
                counts.traders += 1;
                act.trader_entries += u64::from(t.entries);
                act.trader_topups += u64::from(t.topups_done);
            }
            Agent::MarketMaker(mm) => {
                counts.market_makers += 1;
                act.mm_pulls += u64::from(mm.pulls);
                act.mm_time_pulled_s += mm.pulled_ms_total as f64 / 1000.0;
            }
            Agent::Arbitrageur(x) => {
                counts.arbitrageurs += 1;
                act.arb_trades += u64::from(x.trades);
            }
            Agent::Keeper(k) => {
                counts.keepers += 1;
                keepers.sent += u64::from(k.sent);
                keepers.failed += u64::from(k.failed);
                keepers.gas_usd += k.gas_spent_usd;
            }
        }
    }
    (counts, act, keepers)
}

fn price_summary(sim: &Sim) -> PriceSummary {
    let window = sim.path.index_at(sim.start_ms)..=sim.path.index_at(sim.end_ms);
    PriceSummary {
        outside_start: sim.path.price_at(sim.start_ms),
        outside_min: min_of(sim.path.prices[window].iter().copied()),
        outside_end: sim.path.price_at(sim.end_ms),
        mark_min: min_of(sim.marks.marks.iter().copied()),
        mark_end: Venue::new(&sim.engine, sim.market).mark(),
    }
}

fn bad_debt(sim: &Sim) -> BadDebt {
    let m = &sim.metrics;
    BadDebt {
        total_usd: m.bad_debt_usd,
        liquidation_penalties_usd: m.penalties_usd,
        vault_usd: m.vault_absorbed_usd,
        insurance_usd: m.insurance_paid_usd,
        adl_usd: m.adl_haircut_usd,
        socialized_usd: m.socialized_usd,
        uncovered_usd: m.uncovered_usd,
        unresolved_negative_equity_usd: sim.negative_equity_end_usd,
    }
}

fn funds(sim: &Sim) -> (FundSummary, VaultSummary) {
    let (vault_end, share_end) = crate::venue_state::vault(&sim.engine);
    let ins_end = crate::venue_state::insurance_fund_usd(&sim.engine);
    let fund = FundSummary {
        start_usd: sim.insurance_start_usd,
        end_usd: ins_end,
        min_usd: sim.insurance_min.0.min(ins_end),
        min_at_s: sim.insurance_min.1,
    };
    let vault = VaultSummary {
        start_equity_usd: sim.vault_start.0,
        end_equity_usd: vault_end,
        pnl_usd: vault_end - sim.vault_start.0,
        share_price_start: sim.vault_start.1,
        share_price_end: share_end,
        share_price_min: if sim.vault_share_min.is_finite() {
            sim.vault_share_min
        } else {
            0.0
        },
    };
    (fund, vault)
}

fn liquidation_summary(sim: &Sim, keepers: &KeeperTotals) -> (LiquidationSummary, CascadeSummary) {
    let m = &sim.metrics;
    let window_s = sim.scenario.metrics.cascade_window_s;
    let times: Vec<u64> = m.liquidations.iter().map(|l| l.t_ms).collect();
    let (chain_len, chain_from, chain_to) = longest_chain(&times, window_s * 1000);
    let (endo_usd, endo_share) = m.endogenous_share();
    let since_start_s = |t: u64| t.saturating_sub(sim.start_ms) as f64 / 1000.0;
    let liquidations = LiquidationSummary {
        count: m.liquidations.len() as u64,
        volume_usd: m.liquidation_volume_usd,
        keeper_count: m.liquidations.iter().filter(|l| !l.native).count() as u64,
        native_count: m.liquidations.iter().filter(|l| l.native).count() as u64,
        below_maintenance_events: m.below_maintenance_events,
        keeper_txs_sent: keepers.sent,
        keeper_txs_failed: keepers.failed,
    };
    let cascade = CascadeSummary {
        endogenous_volume_usd: endo_usd,
        endogenous_volume_share: endo_share,
        window_s,
        longest_chain: chain_len as u64,
        longest_chain_start_s: since_start_s(chain_from),
        longest_chain_end_s: since_start_s(chain_to),
    };
    (liquidations, cascade)
}

fn chain_summary(sim: &Sim, keepers: &KeeperTotals) -> (OracleSummary, ChainSummary) {
    let cs = &sim.chain_stats;
    let (updates, max_lag_s, mean_lag_s) = sim.oracle_stats();
    let oracle = OracleSummary {
        updates,
        max_lag_s,
        mean_lag_s,
        max_chain_delay_s: cs.oracle_delay_max_ms as f64 / 1000.0,
    };
    let keeper_delay_mean_s = if cs.keeper_txs > 0 {
        cs.keeper_delay_sum_ms as f64 / cs.keeper_txs as f64 / 1000.0
    } else {
        0.0
    };
    let chain = ChainSummary {
        blocks: sim.chain.blocks,
        blocks_skipped_halt: cs.blocks_skipped,
        halted_s: cs.halted_ms as f64 / 1000.0,
        max_gas_gwei: sim.chain.max_clearing_gwei,
        calm_gwei: sim.chain.params.calm_gwei,
        stress_gwei: sim.chain.params.stress_gwei,
        keeper_txs_included: cs.keeper_txs,
        keeper_delay_mean_s,
        keeper_delay_max_s: cs.keeper_delay_max_ms as f64 / 1000.0,
        keeper_gas_spent_usd: keepers.gas_usd,
        txs_expired: cs.txs_expired,
    };
    (oracle, chain)
}

/// Builds the summary at the end of a run.
pub fn summarize(sim: &Sim) -> Summary {
    let s = &sim.scenario;
    let m = &sim.metrics;
    let (agents, agent_activity, keepers) = agent_totals(sim);
    let (insurance_fund, vault) = funds(sim);
    let (liquidations, cascade) = liquidation_summary(sim, &keepers);
    let (oracle, chain) = chain_summary(sim, &keepers);
    Summary {
        scenario: s.name.clone(),
        seed: s.seed,
        duration_s: (sim.end_ms - sim.start_ms) as f64 / 1000.0,
        step_ms: s.step_ms,
        engine_steps: sim.engine_steps,
        commands_sent: sim.commands_sent,
        commands_applied: sim.engine.commands_applied(),
        commands_rejected: m.rejections.clone(),
        agents,
        price: price_summary(sim),
        data_gaps: data_gaps(sim),
        bad_debt: bad_debt(sim),
        insurance_fund,
        vault,
        adl: AdlSummary {
            count: m.adl_count,
            notional_usd: m.adl_notional_usd,
            haircut_usd: m.adl_haircut_usd,
        },
        liquidations,
        cascade,
        mark_vs_outside: DeviationSummary {
            max_abs_bp: sim.mark_dev_max_bp,
            mean_abs_bp: sim.mark_dev_mean_bp(),
        },
        oracle,
        chain,
        agent_activity,
        conservation: Conservation {
            checks: sim.invariant_checks,
            ok: sim.invariant_breach.is_none(),
            first_breach: sim.invariant_breach.clone(),
        },
        final_state_hash: bulwark_engine::state_hash_hex(&sim.engine),
    }
}

/// The summary as written to `summary.json` (pretty, trailing newline).
pub fn summary_json(summary: &Summary) -> String {
    let mut s = serde_json::to_string_pretty(summary).expect("the summary has only plain data");
    s.push('\n');
    s
}

/// The headline numbers, shared by the console and the report.
pub fn headline(summary: &Summary, wall_time_s: Option<f64>) -> Vec<HeadlineRow> {
    let b = &summary.bad_debt;
    let l = &summary.liquidations;
    let mut rows = vec![
        HeadlineRow::new("Bad debt (total)", fmt_usd(b.total_usd)).with_detail(format!(
            "unresolved negative equity {}",
            fmt_usd(b.unresolved_negative_equity_usd)
        )),
        HeadlineRow::new(
            "Insurance fund minimum",
            fmt_usd(summary.insurance_fund.min_usd),
        )
        .with_detail(format!("paid out {}", fmt_usd(b.insurance_usd))),
        HeadlineRow::new("Vault PnL", fmt_usd(summary.vault.pnl_usd)).with_detail(format!(
            "share price end {:.4}",
            summary.vault.share_price_end
        )),
        HeadlineRow::new("Liquidations", fmt_number(l.count as f64, 0))
            .with_detail(format!("{} volume", fmt_usd(l.volume_usd))),
        HeadlineRow::new("ADL", fmt_number(summary.adl.count as f64, 0))
            .with_detail(format!("{} notional", fmt_usd(summary.adl.notional_usd))),
        HeadlineRow::new("Socialized loss", fmt_usd(b.socialized_usd)),
        HeadlineRow::new(
            "Cascade: endogenous share",
            fmt_pct(summary.cascade.endogenous_volume_share),
        )
        .with_detail(format!(
            "longest chain {} ({} s window)",
            summary.cascade.longest_chain, summary.cascade.window_s
        )),
        HeadlineRow::new(
            "Mark vs outside (max)",
            format!("{:.1} bp", summary.mark_vs_outside.max_abs_bp),
        )
        .with_detail(format!(
            "mean {:.1} bp",
            summary.mark_vs_outside.mean_abs_bp
        )),
        HeadlineRow::new("Oracle lag (max)", fmt_duration_s(summary.oracle.max_lag_s)).with_detail(
            format!(
                "mean {:.1} s, {} updates",
                summary.oracle.mean_lag_s, summary.oracle.updates
            ),
        ),
        HeadlineRow::new(
            "Gas (max)",
            format!("{:.1} gwei", summary.chain.max_gas_gwei),
        )
        .with_detail(format!(
            "keeper delay max {:.0} s",
            summary.chain.keeper_delay_max_s
        )),
        HeadlineRow::new(
            "Conservation",
            if summary.conservation.ok {
                "holds"
            } else {
                "BROKEN"
            },
        )
        .with_detail(format!("{} checks", summary.conservation.checks)),
        HeadlineRow::new(
            "Rejected commands",
            fmt_number(summary.commands_rejected.values().sum::<u64>() as f64, 0),
        ),
    ];
    if let Some(w) = wall_time_s {
        rows.push(HeadlineRow::new("Run time", format!("{w:.2} s")));
    }
    rows
}

/// Builds the HTML report's data.
pub fn report(sim: &Sim, summary: &Summary, wall_time_s: f64) -> RunReport {
    let title = if sim.scenario.description.is_empty() {
        format!("Crash lab: {}", sim.scenario.name)
    } else {
        sim.scenario.description.clone()
    };
    let mut r = RunReport::new(
        &title,
        &sim.scenario.name,
        sim.scenario.seed,
        &summary.final_state_hash,
    );
    r.run_wall_time_s = wall_time_s;
    r.headline = headline(summary, Some(wall_time_s));
    let mut series = TimeSeries::new(sim.samples.iter().map(|s| s.t_s).collect());
    for (i, (name, unit_name)) in sim.sample_columns.iter().enumerate() {
        let values = sim.samples.iter().map(|s| s.values[i]).collect();
        series
            .push_column(name, unit_name, values)
            .expect("columns are distinct and aligned");
    }
    r.series = series;
    r.liquidations = sim
        .metrics
        .liquidations
        .iter()
        .map(|l| LiquidationMark {
            t_s: (l.t_ms - sim.start_ms) as f64 / 1000.0,
            price: l.price,
            notional_usd: l.volume_usd,
            stage: l.stage.to_string(),
        })
        .collect();
    let b = &summary.bad_debt;
    // What the vault's LPs lost in all: the deficits it absorbed at takeover, or, when larger,
    // its whole loss (the positions it took over can lose more after the takeover).
    let vault_loss_usd = b.vault_usd.max(-summary.vault.pnl_usd);
    r.waterfall = [
        (
            "Liquidation penalties (own collateral)",
            b.liquidation_penalties_usd,
        ),
        ("Backstop vault (LP loss)", vault_loss_usd),
        ("Insurance fund", b.insurance_usd),
        ("ADL", b.adl_usd),
        ("Socialized loss", b.socialized_usd),
        ("Uncovered", b.uncovered_usd),
        (
            "Unresolved negative equity",
            b.unresolved_negative_equity_usd,
        ),
    ]
    .into_iter()
    .map(|(stage, amount_usd)| WaterfallStage {
        stage: stage.to_string(),
        amount_usd,
    })
    .collect();
    if let Some(h) = sim.scenario.chain.halt {
        r.periods.push(Period {
            start_s: h.start_s as f64,
            end_s: (h.start_s + h.duration_s) as f64,
            kind: PeriodKind::ChainHalt,
            label: "chain halt (scenario)".to_string(),
        });
    }
    r.periods.extend(stale_oracle_periods(sim));
    r.periods.extend(sim.path.gaps.iter().map(|g| Period {
        start_s: g.start_ms.saturating_sub(sim.start_ms) as f64 / 1000.0,
        end_s: g.end_ms.saturating_sub(sim.start_ms) as f64 / 1000.0,
        kind: PeriodKind::DataGap,
        label: format!(
            "no data from {} for {} (bridged)",
            crate::data::format_utc_ms(g.start_ms),
            fmt_duration_s(g.length_ms() as f64 / 1000.0)
        ),
    }));
    r
}

/// Intervals where the venue's oracle price was older than the market's staleness limit
/// (the mark then ignores it): the report's "oracle degraded" shading.
fn stale_oracle_periods(sim: &Sim) -> Vec<Period> {
    let limit_s = sim.scenario.market.oracle_stale_ms as f64 / 1000.0;
    let lag_col = sim
        .sample_columns
        .iter()
        .position(|c| c.0 == "oracle_lag_s")
        .expect("column exists");
    let mut out = Vec::new();
    let mut open: Option<f64> = None;
    for s in &sim.samples {
        let stale = s.values[lag_col] > limit_s;
        match (stale, open) {
            (true, None) => open = Some(s.t_s),
            (false, Some(from)) => {
                out.push(Period {
                    start_s: from,
                    end_s: s.t_s,
                    kind: PeriodKind::OracleDegraded,
                    label: "oracle stale".into(),
                });
                open = None;
            }
            _ => {}
        }
    }
    if let (Some(from), Some(last)) = (open, sim.samples.last()) {
        out.push(Period {
            start_s: from,
            end_s: last.t_s,
            kind: PeriodKind::OracleDegraded,
            label: "oracle stale".into(),
        });
    }
    out
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("cannot write {}: {e}", path.display())
}

/// Writes `timeseries.csv`.
pub fn write_timeseries(path: &Path, sim: &Sim) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut header = vec!["t_s".to_string()];
    header.extend(sim.sample_columns.iter().map(|c| c.0.to_string()));
    w.write_record(&header).map_err(|e| e.to_string())?;
    for s in &sim.samples {
        let mut row = vec![format!("{}", s.t_s)];
        row.extend(s.values.iter().map(|v| {
            if v.is_finite() {
                format!("{v}")
            } else {
                String::new()
            }
        }));
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `events.csv`: one engine (or lab) event per line, flat columns.
pub fn write_events(path: &Path, events: &[EventRow]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if events.is_empty() {
        // serde writes the header with the first row; an empty file still needs one.
        w.write_record([
            "t_s",
            "event",
            "account",
            "scope",
            "counterparty",
            "keeper",
            "side",
            "price",
            "qty_lots",
            "notional_usd",
            "amount_usd",
            "equity_usd",
            "maintenance_usd",
            "endogenous",
        ])
        .map_err(|e| e.to_string())?;
    }
    for e in events {
        w.serialize(e).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(io_err(path))
}

/// Paths of the files one run writes.
#[derive(Clone, Debug)]
pub struct Written {
    pub summary: PathBuf,
    pub timeseries: PathBuf,
    pub events: PathBuf,
    pub report: PathBuf,
}

/// Writes every output into `dir` (created if missing).
pub fn write_all(
    dir: &Path,
    sim: &Sim,
    summary: &Summary,
    wall_time_s: f64,
) -> Result<Written, String> {
    write_all_with(dir, sim, summary, wall_time_s, None)
}

/// One table row per variant of a scenario (a mechanism switched on or off): what each
/// variant lost and who paid.
pub fn comparison_table(caption: &str, variants: &[(String, &Summary)]) -> ComparisonTable {
    let mut t = ComparisonTable::new([
        "variant",
        "bad debt",
        "insurance paid",
        "ADL notional",
        "socialized",
        "liquidations",
        "endogenous share",
        "longest chain",
        "max mark dev",
    ]);
    t.caption = Some(caption.to_string());
    for (name, s) in variants {
        t.push_row([
            name.clone(),
            fmt_usd(s.bad_debt.total_usd),
            fmt_usd(s.bad_debt.insurance_usd),
            fmt_usd(s.adl.notional_usd),
            fmt_usd(s.bad_debt.socialized_usd),
            fmt_number(s.liquidations.count as f64, 0),
            fmt_pct(s.cascade.endogenous_volume_share),
            s.cascade.longest_chain.to_string(),
            format!("{:.1} bp", s.mark_vs_outside.max_abs_bp),
        ]);
    }
    t
}

/// [`write_all`], with a comparison table for the report.
pub fn write_all_with(
    dir: &Path,
    sim: &Sim,
    summary: &Summary,
    wall_time_s: f64,
    comparison: Option<ComparisonTable>,
) -> Result<Written, String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let summary_path = dir.join("summary.json");
    let mut f = fs::File::create(&summary_path).map_err(io_err(&summary_path))?;
    f.write_all(summary_json(summary).as_bytes())
        .map_err(io_err(&summary_path))?;
    let timeseries = dir.join("timeseries.csv");
    write_timeseries(&timeseries, sim)?;
    let events = dir.join("events.csv");
    write_events(&events, &sim.metrics.events)?;
    let mut page = report(sim, summary, wall_time_s);
    page.comparison = comparison;
    let report_path = bulwark_report::write_report(dir, &page).map_err(|e| e.to_string())?;
    Ok(Written {
        summary: summary_path,
        timeseries,
        events,
        report: report_path,
    })
}
