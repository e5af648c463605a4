//! `summary.json`: the machine-readable summary of one run.
//!
//! It is byte-identical for the same scenario, overrides and seed: its keys come in struct
//! order, its numbers are what the run computed (serde_json writes the shortest decimal that
//! reads back to the same `f64`), and wall-clock time is left out of it (it goes to the
//! console and the report only).

use serde::Serialize;

use bulwark_engine::{Engine, MarketId};

use crate::agents::population::Agent;
use crate::metrics::{longest_chain, market_bit};
use crate::sim::markets::SimMarket;
use crate::sim::Sim;
use crate::venue::Venue;

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
    /// Changes made to historical bars before the run; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_repairs: Vec<DataRepair>,
    pub losses: Losses,
    pub bad_debt: BadDebt,
    pub insurance_fund: FundSummary,
    pub vault: VaultSummary,
    pub lps: LpSummary,
    pub adl: AdlSummary,
    pub liquidations: LiquidationSummary,
    pub cascade: CascadeSummary,
    pub mark_vs_outside: DeviationSummary,
    pub oracle: OracleSummary,
    pub chain: ChainSummary,
    pub agent_activity: AgentActivity,
    pub conservation: Conservation,
    /// What the venue's protection cost its traders (margin per open interest, refused volume,
    /// halted time); see [`crate::metrics::efficiency`].
    pub capital_efficiency: crate::metrics::CapitalEfficiency,
    /// Circuit-breaker halts, degraded-oracle periods, dynamic margin and the adaptive fee
    /// (every period is in `breakers.csv`).
    pub defences: crate::metrics::DefencesSummary,
    /// The online risk controller (`[controller]`): forecasts, actions, the VaR backtest
    /// (every row in `controller.csv`). Absent when it is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<crate::controller::ControllerSummary>,
    /// With several markets: each market's own numbers, `[market]` first (the fields above
    /// are venue-wide, except `price`, `mark_vs_outside` and `oracle`, which are the first
    /// market's). Absent with one market.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<MarketSummary>,
    /// With several markets: what links them (cross pools, contagion). Absent with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_market: Option<CrossMarketSummary>,
    pub final_state_hash: String,
}

/// One market's numbers in a run of several.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MarketSummary {
    pub symbol: String,
    pub price: PriceSummary,
    pub open_interest_end_units: f64,
    pub open_interest_end_usd: f64,
    pub open_interest_max_usd: f64,
    /// Long lots = short lots = open interest at the end, recounted from every account.
    pub zero_sum: bool,
    /// Liquidations that closed a position here (one liquidation of a cross pool may close
    /// positions in several markets), and those among them that closed it at a profit while
    /// the pool held other markets (contagion into this market).
    pub liquidations: u64,
    pub contagion_liquidations: u64,
    pub adl_count: u64,
    pub adl_notional_usd: f64,
    /// The losses whose events name this market. Insurance payouts and uncovered losses
    /// name none: they are venue-wide only (`losses.by_stage`).
    pub losses_by_stage: MarketLossesByStage,
    /// The vault's position here at the end, signed notional at the mark, and the base units
    /// it unwound here.
    pub vault_inventory_end_usd: f64,
    pub vault_unwound_units: f64,
    pub mark_vs_outside: DeviationSummary,
    pub oracle_updates: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MarketLossesByStage {
    pub penalties_usd: f64,
    pub vault_usd: f64,
    pub adl_usd: f64,
    pub socialized_usd: f64,
}

/// What links the markets of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossMarketSummary {
    pub markets: u64,
    /// The correlations the paths were drawn with: calm pairs, and the crisis weight toward
    /// one (each pair's crisis value is `calm + w (1 - calm)`).
    pub correlation_calm: Vec<f64>,
    pub correlation_crisis_weight: f64,
    /// Accounts whose one cross pool traded in more than one market (traders' second legs).
    pub cross_margin_accounts: u64,
    /// Liquidations of pools that held positions in two or more markets when they began.
    pub multi_market_liquidations: u64,
    /// Those that closed a position at a profit: the pool went under because of another
    /// market's move (see `metrics::cascade`).
    pub contagion_liquidations: u64,
    pub contagion_volume_usd: f64,
}

/// One change made to a historical bar before the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataRepair {
    pub open_time_ms: u64,
    /// `"low"` or `"high"` (a wick), or `"bar"` (the whole bar).
    pub field: &'static str,
    /// `"clipped"` (a wick cut to the body) or `"dropped"` (a whole-body bad print removed;
    /// its time is then missing data).
    pub action: &'static str,
    /// The price before: the wick's extreme, or the bar's body price furthest out.
    pub was: f64,
    /// The price after: the body's edge, or (dropped) the neighbours' median close.
    pub now: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentCounts {
    pub traders: u32,
    pub market_makers: u32,
    pub arbitrageurs: u32,
    pub keepers: u32,
    pub lps: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriceSummary {
    pub outside_start: f64,
    pub outside_min: f64,
    pub outside_end: f64,
    pub mark_min: f64,
    pub mark_end: f64,
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
    let gaps = &sim.path().gaps;
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

/// Every loss of the run and who bore it, USD, from the engine's stage events:
/// `total_usd` = the penalties liquidated accounts paid + the bad debt the waterfall's stages
/// paid (`by_stage`). The vault's own result is beside it: what it absorbed at takeovers is
/// one stage; its realized and marked loss also count what its inventory lost or made after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Losses {
    pub total_usd: f64,
    pub by_stage: LossesByStage,
    pub vault_realized_loss_usd: f64,
    pub vault_marked_loss_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LossesByStage {
    pub penalties_usd: f64,
    pub vault_usd: f64,
    pub insurance_usd: f64,
    pub adl_usd: f64,
    pub socialized_usd: f64,
    pub uncovered_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VaultSummary {
    pub start_equity_usd: f64,
    pub end_equity_usd: f64,
    /// End equity less the capital LPs left in (deposits net of payouts).
    pub pnl_usd: f64,
    pub share_price_start: f64,
    pub share_price_end: f64,
    pub share_price_min: f64,
    /// What LPs put in, and that net of what they took out.
    pub deposited_usd: f64,
    pub capital_usd: f64,
    /// Capital minus collateral (what the vault has lost for good) and capital minus equity
    /// (counting its inventory at the mark).
    pub realized_loss_usd: f64,
    pub marked_loss_usd: f64,
    /// Signed notional still held at the end, at the mark.
    pub inventory_end_usd: f64,
    /// Discretionary unwinds: how many, base units (added over markets, each in its own
    /// unit: see `markets[].vault_unwound_units` with several), PnL they realized.
    pub unwinds: u64,
    pub unwound_units: f64,
    pub unwind_pnl_usd: f64,
    /// Base units sold to get back inside the vault's margin limit.
    pub reduced_units: f64,
}

/// The vault's liquidity providers (`[agents.lps]`) and their withdrawals. Shares are in units
/// of 1e6 engine shares, each worth the share price in USD (1.0 at par, where every LP
/// entered).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LpSummary {
    pub count: u32,
    /// How many leave on a drawdown, follow others, or hold.
    pub drawdown_rule: u32,
    pub follow_rule: u32,
    pub hold: u32,
    /// What the LP agents put into the vault at the start.
    pub capital_usd: f64,
    /// Requests: count, units, USD at the share price when requested.
    pub requested: LpFlowSummary,
    /// Payouts: count, units, USD the engine paid (at the share price when claimed).
    pub paid: LpFlowSummary,
    /// Requests still unpaid at the end.
    pub pending_end: LpFlowSummary,
    /// Claims the engine refused, by reason (each was retried later).
    pub claims_refused: std::collections::BTreeMap<String, u64>,
    pub first_request_s: Option<f64>,
    pub first_payout_s: Option<f64>,
    /// Mean price a paid unit got, and the share price stayers hold at the end: what each
    /// lost per unit against par is one minus these.
    pub paid_share_price_mean: f64,
    pub stayers_share_price_end: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LpFlowSummary {
    pub count: u64,
    pub units: f64,
    pub usd: f64,
}

impl From<crate::metrics::lp_flows::Flow> for LpFlowSummary {
    fn from(f: crate::metrics::lp_flows::Flow) -> Self {
        LpFlowSummary {
            count: f.count,
            units: f.units,
            usd: f.usd,
        }
    }
}

fn lp_summary(sim: &Sim, share_price_end: f64) -> LpSummary {
    use crate::agents::lp::LpRule;
    use crate::metrics::lp_flows::SHARES_PER_UNIT;
    let mut s = LpSummary {
        count: 0,
        drawdown_rule: 0,
        follow_rule: 0,
        hold: 0,
        capital_usd: 0.0,
        requested: sim.metrics.lp_flows.requested.into(),
        paid: sim.metrics.lp_flows.paid.into(),
        pending_end: LpFlowSummary {
            count: 0,
            units: 0.0,
            usd: 0.0,
        },
        claims_refused: sim
            .metrics
            .rejections
            .iter()
            .filter_map(|(k, n)| {
                k.strip_prefix("lp/vault_claim_withdrawal:")
                    .map(|r| (r.to_string(), *n))
            })
            .collect(),
        first_request_s: None,
        first_payout_s: None,
        paid_share_price_mean: 0.0,
        stayers_share_price_end: share_price_end,
    };
    // Summed in micro-USD: the split adds up to the stated total exactly.
    let mut capital_micros = 0i128;
    for a in sim.roster.agents() {
        let Agent::Lp(l) = a else { continue };
        s.count += 1;
        capital_micros += i128::from(l.capital.micros());
        match l.rule {
            LpRule::Drawdown(_) => s.drawdown_rule += 1,
            LpRule::Follow(_) => s.follow_rule += 1,
            LpRule::Hold => s.hold += 1,
        }
    }
    s.capital_usd = capital_micros as f64 / 1e6;
    for r in sim.venue.engine.vault().requests.values() {
        let units = r.shares as f64 / SHARES_PER_UNIT;
        s.pending_end.count += 1;
        s.pending_end.units += units;
        s.pending_end.usd += units * share_price_end;
    }
    let since = |t: u64| t.saturating_sub(sim.start_ms) as f64 / 1000.0;
    s.first_request_s = sim.metrics.lp_flows.first_request_ms.map(since);
    s.first_payout_s = sim.metrics.lp_flows.first_payout_ms.map(since);
    if s.paid.units > 0.0 {
        s.paid_share_price_mean = s.paid.usd / s.paid.units;
    }
    s
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdlSummary {
    pub count: u64,
    pub notional_usd: f64,
    pub haircut_usd: f64,
    /// ADL closes by why the vault did not take the position over; a close with a haircut
    /// also means the insurance fund was off or exhausted.
    pub by_reason: std::collections::BTreeMap<&'static str, u64>,
    /// Notional closed in bankruptcies that charged a haircut (needed) and in those that did
    /// not (the insurance fund covered the deficit: ADL was not needed).
    pub required_notional_usd: f64,
    pub overshoot_notional_usd: f64,
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
    /// Highest clearing price (the going price a wallet suggests), gwei.
    pub max_gas_gwei: f64,
    /// Average price the background transactions of a block paid: mean over the blocks and
    /// the highest block (Etherscan's daily average and the published intraday peaks), gwei.
    pub mean_paid_gwei: f64,
    pub max_paid_gwei: f64,
    pub calm_gwei: f64,
    pub stress_gwei: f64,
    pub keeper_txs_included: u64,
    pub keeper_delay_mean_s: f64,
    pub keeper_delay_max_s: f64,
    pub keeper_gas_spent_usd: f64,
    /// Liquidations keepers did not send because their reward could not pay the going gas.
    pub keeper_priced_out: u64,
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
    /// What the manipulator withdrew while its push lasted (0 without one).
    pub manipulator_extracted_usd: f64,
    pub manipulator_withdrawals: u64,
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
    priced_out: u64,
}

/// Counts and activity of every population.
fn agent_totals(sim: &Sim) -> (AgentCounts, AgentActivity, KeeperTotals) {
    let mut counts = AgentCounts {
        traders: 0,
        market_makers: 0,
        arbitrageurs: 0,
        keepers: 0,
        lps: 0,
    };
    let mut act = AgentActivity {
        trader_entries: 0,
        trader_topups: 0,
        mm_pulls: 0,
        mm_time_pulled_s: 0.0,
        arb_trades: 0,
        manipulator_extracted_usd: 0.0,
        manipulator_withdrawals: 0,
    };
    let mut keepers = KeeperTotals::default();
    for a in sim.roster.agents() {
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
                keepers.priced_out += u64::from(k.priced_out);
            }
            Agent::Lp(_) => counts.lps += 1,
            Agent::Manipulator(m) => {
                let (start, end) = m.push_ms;
                let paid = sim.metrics.withdrawals.iter().filter(|w| w.0 == m.account);
                for &(_, _, usd) in paid.filter(|w| w.1 >= start && w.1 < end) {
                    act.manipulator_extracted_usd += usd;
                    act.manipulator_withdrawals += 1;
                }
            }
        }
    }
    (counts, act, keepers)
}

fn price_summary(sim: &Sim) -> PriceSummary {
    let window = sim.path().index_at(sim.start_ms)..=sim.path().index_at(sim.end_ms);
    PriceSummary {
        outside_start: sim.path().price_at(sim.start_ms),
        outside_min: min_of(sim.path().prices[window].iter().copied()),
        outside_end: sim.path().price_at(sim.end_ms),
        mark_min: min_of(sim.marks().marks.iter().copied()),
        mark_end: Venue::new(&sim.venue.engine, sim.venue.market).mark(),
    }
}

fn bad_debt(sim: &Sim) -> BadDebt {
    let m = &sim.metrics.losses;
    BadDebt {
        total_usd: m.bad_debt_usd,
        liquidation_penalties_usd: m.penalties_usd,
        vault_usd: m.vault_absorbed_usd,
        insurance_usd: m.insurance_paid_usd,
        adl_usd: m.adl_haircut_usd,
        socialized_usd: m.socialized_usd,
        uncovered_usd: m.uncovered_usd,
        unresolved_negative_equity_usd: sim.metrics.observed.negative_equity_end_usd,
    }
}

fn funds(sim: &Sim) -> (FundSummary, VaultSummary) {
    let engine = &sim.venue.engine;
    let o = &sim.metrics.observed;
    let (vault_end, share_end) = crate::venue_state::vault(engine);
    let ins_end = crate::venue_state::insurance_fund_usd(engine);
    let fund = FundSummary {
        start_usd: o.insurance_start_usd,
        end_usd: ins_end,
        min_usd: o.insurance_min.0.min(ins_end),
        min_at_s: o.insurance_min.1,
    };
    let l = &sim.metrics.losses;
    let (collateral, inventory) = crate::venue_state::vault_book(engine);
    // Base units market by market (each market's own lot size), added over the markets.
    let units = |of: fn(&crate::metrics::MarketLosses) -> u64| {
        l.by_market
            .iter()
            .enumerate()
            .map(|(i, m)| of(m) as f64 / sim.markets[i].lots_per_unit as f64)
            .fold(0.0, |a, b| a + b)
    };
    let vault = VaultSummary {
        start_equity_usd: o.vault_start.0,
        end_equity_usd: vault_end,
        // Against the capital LPs left in (deposits net of payouts): a payout is not a loss.
        pnl_usd: vault_end - l.vault_lp_net_usd,
        share_price_start: o.vault_start.1,
        share_price_end: share_end,
        share_price_min: if o.vault_share_min.is_finite() {
            o.vault_share_min
        } else {
            0.0
        },
        deposited_usd: sim.metrics.lp_flows.deposited_micros as f64 / 1e6,
        capital_usd: l.vault_lp_net_usd,
        realized_loss_usd: l.vault_lp_net_usd - collateral,
        marked_loss_usd: l.vault_lp_net_usd - vault_end,
        inventory_end_usd: inventory,
        unwinds: l.vault_unwind_count,
        unwound_units: units(|m| m.vault_unwound_lots),
        unwind_pnl_usd: l.vault_unwind_pnl_usd,
        reduced_units: units(|m| m.vault_reduced_lots),
    };
    (fund, vault)
}

fn liquidation_summary(sim: &Sim, keepers: &KeeperTotals) -> (LiquidationSummary, CascadeSummary) {
    let m = &sim.metrics;
    let records = &m.liquidations.records;
    let window_s = sim.scenario.metrics.cascade_window_s;
    let times: Vec<u64> = records.iter().map(|l| l.t_ms).collect();
    let (chain_len, chain_from, chain_to) = longest_chain(&times, window_s * 1000);
    let (endo_usd, endo_share) = m.liquidations.endogenous_share();
    let since_start_s = |t: u64| t.saturating_sub(sim.start_ms) as f64 / 1000.0;
    let liquidations = LiquidationSummary {
        count: records.len() as u64,
        volume_usd: m.liquidations.volume_usd,
        keeper_count: records.iter().filter(|l| !l.native).count() as u64,
        native_count: records.iter().filter(|l| l.native).count() as u64,
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
    let cs = &sim.metrics.observed.chain;
    let (updates, max_lag_s, mean_lag_s) = sim.metrics.observed.oracle.summary();
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
        mean_paid_gwei: sim.chain.mean_paid_gwei(),
        max_paid_gwei: sim.chain.max_paid_gwei,
        calm_gwei: sim.chain.params.calm_gwei,
        stress_gwei: sim.chain.params.stress_gwei,
        keeper_txs_included: cs.keeper_txs,
        keeper_delay_mean_s,
        keeper_delay_max_s: cs.keeper_delay_max_ms as f64 / 1000.0,
        keeper_gas_spent_usd: keepers.gas_usd,
        keeper_priced_out: keepers.priced_out,
        txs_expired: cs.txs_expired,
    };
    (oracle, chain)
}

/// Each market's numbers and what links them, with several markets; nothing with one.
fn per_market(sim: &Sim) -> (Vec<MarketSummary>, Option<CrossMarketSummary>) {
    if sim.markets.len() < 2 {
        return (Vec::new(), None);
    }
    let markets = sim.markets.iter().map(|m| market_summary(sim, m)).collect();
    let records = &sim.metrics.liquidations.records;
    let contagion = records.iter().filter(|r| r.contagion_markets != 0);
    let cross = CrossMarketSummary {
        markets: sim.markets.len() as u64,
        correlation_calm: sim.scenario.correlation.calm.clone(),
        correlation_crisis_weight: sim.scenario.correlation.crisis_weight,
        cross_margin_accounts: (0..sim.roster.len() as u32)
            .filter(|&i| !sim.roster.opens_account(i))
            .count() as u64,
        multi_market_liquidations: records.iter().filter(|r| r.markets_held >= 2).count() as u64,
        contagion_liquidations: contagion.clone().count() as u64,
        contagion_volume_usd: contagion.map(|r| r.volume_usd).fold(0.0, |a, b| a + b),
    };
    (markets, Some(cross))
}

fn market_summary(sim: &Sim, m: &SimMarket) -> MarketSummary {
    let engine = &sim.venue.engine;
    let path = &m.path;
    let window = path.index_at(sim.start_ms)..=path.index_at(sim.end_ms);
    let mark = m.mark(engine);
    let lots = m.lots_per_unit as f64;
    let oi_lots = engine.market(m.id).map_or(0, |e| e.open_interest.lots());
    let bit = market_bit(m.id);
    let records = &sim.metrics.liquidations.records;
    let losses = sim
        .metrics
        .losses
        .by_market
        .get(usize::from(m.id.0))
        .cloned()
        .unwrap_or_default();
    let vault_lots = engine
        .vault()
        .account
        .position(m.id)
        .map_or(0, |p| p.qty.lots());
    MarketSummary {
        symbol: m.symbol.clone(),
        price: PriceSummary {
            outside_start: path.price_at(sim.start_ms),
            outside_min: min_of(path.prices[window].iter().copied()),
            outside_end: path.price_at(sim.end_ms),
            mark_min: min_of(m.marks.marks.iter().copied()),
            mark_end: mark,
        },
        open_interest_end_units: oi_lots as f64 / lots,
        open_interest_end_usd: oi_lots as f64 / lots * mark,
        open_interest_max_usd: m.watch.oi_max_usd,
        zero_sum: zero_sum(engine, m.id),
        liquidations: records
            .iter()
            .filter(|r| r.closed_markets & bit != 0)
            .count() as u64,
        contagion_liquidations: records
            .iter()
            .filter(|r| r.contagion_markets & bit != 0)
            .count() as u64,
        adl_count: losses.adl_count,
        adl_notional_usd: losses.adl_notional_usd,
        losses_by_stage: MarketLossesByStage {
            penalties_usd: losses.penalties_usd,
            vault_usd: losses.vault_absorbed_usd,
            adl_usd: losses.adl_haircut_usd,
            socialized_usd: losses.socialized_usd,
        },
        vault_inventory_end_usd: vault_lots as f64 / lots * mark,
        vault_unwound_units: losses.vault_unwound_lots as f64 / lots,
        mark_vs_outside: DeviationSummary {
            max_abs_bp: m.watch.dev_max_bp,
            mean_abs_bp: m.dev_mean_bp(),
        },
        oracle_updates: m.watch.oracle_updates,
    }
}

/// Whether long lots = short lots = the open interest in `market`, over every account and
/// the vault.
pub fn zero_sum(engine: &Engine, market: MarketId) -> bool {
    let (mut long, mut short) = (0i128, 0i128);
    let accounts = engine
        .accounts()
        .iter()
        .filter(|a| a.active)
        .chain(std::iter::once(&engine.vault().account));
    for a in accounts {
        if let Some(p) = a.position(market) {
            let q = i128::from(p.qty.lots());
            if q > 0 {
                long += q;
            } else {
                short -= q;
            }
        }
    }
    let oi = engine
        .market(market)
        .map_or(0, |m| i128::from(m.open_interest.lots()));
    long == short && long == oi
}

/// Builds the summary at the end of a run.
pub fn summarize(sim: &Sim) -> Summary {
    let s = &sim.scenario;
    let run_end_s = (sim.end_ms - sim.start_ms) as f64 / 1000.0;
    let m = &sim.metrics;
    let (losses, observed) = (&m.losses, &m.observed);
    let (agents, agent_activity, keepers) = agent_totals(sim);
    let (insurance_fund, vault) = funds(sim);
    let (liquidations, cascade) = liquidation_summary(sim, &keepers);
    let (oracle, chain) = chain_summary(sim, &keepers);
    let (markets, cross_market) = per_market(sim);
    Summary {
        scenario: s.name.clone(),
        seed: s.seed,
        duration_s: run_end_s,
        step_ms: s.step_ms,
        engine_steps: observed.engine_steps,
        commands_sent: sim.venue.commands_sent,
        commands_applied: sim.venue.engine.commands_applied(),
        commands_rejected: m.rejections.clone(),
        agents,
        price: price_summary(sim),
        data_gaps: data_gaps(sim),
        data_repairs: Vec::new(),
        losses: Losses {
            total_usd: losses.penalties_usd + losses.bad_debt_usd,
            by_stage: LossesByStage {
                penalties_usd: losses.penalties_usd,
                vault_usd: losses.vault_absorbed_usd,
                insurance_usd: losses.insurance_paid_usd,
                adl_usd: losses.adl_haircut_usd,
                socialized_usd: losses.socialized_usd,
                uncovered_usd: losses.uncovered_usd,
            },
            vault_realized_loss_usd: vault.realized_loss_usd,
            vault_marked_loss_usd: vault.marked_loss_usd,
        },
        bad_debt: bad_debt(sim),
        insurance_fund,
        lps: lp_summary(sim, vault.share_price_end),
        vault,
        adl: AdlSummary {
            count: losses.adl_count,
            notional_usd: losses.adl_notional_usd,
            haircut_usd: losses.adl_haircut_usd,
            by_reason: losses.adl_by_reason.clone(),
            required_notional_usd: losses.adl_required_notional_usd,
            overshoot_notional_usd: losses.adl_overshoot_notional_usd,
        },
        liquidations,
        cascade,
        mark_vs_outside: DeviationSummary {
            max_abs_bp: observed.mark_dev_max_bp,
            mean_abs_bp: observed.mark_dev_mean_bp(),
        },
        oracle,
        chain,
        agent_activity,
        conservation: Conservation {
            checks: sim.venue.invariant_checks,
            ok: sim.venue.invariant_breach.is_none(),
            first_breach: sim.venue.invariant_breach.clone(),
        },
        capital_efficiency: {
            let mut c = sim.metrics.efficiency.summary();
            c.halted_s += sim.metrics.defences.halted_s(run_end_s);
            c
        },
        defences: sim.metrics.defences.summary(run_end_s),
        controller: sim.controller.as_ref().map(|c| {
            c.summary(
                sim.end_ms,
                crate::venue_state::negative_equity_usd(&sim.venue.engine),
            )
        }),
        markets,
        cross_market,
        final_state_hash: bulwark_engine::state_hash_hex(&sim.venue.engine),
    }
}

/// The summary as written to `summary.json` (pretty, trailing newline).
pub fn summary_json(summary: &Summary) -> String {
    let mut s = serde_json::to_string_pretty(summary).expect("the summary has only plain data");
    s.push('\n');
    s
}
