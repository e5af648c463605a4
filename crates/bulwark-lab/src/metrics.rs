//! What a run measures: read from the engine's events, command by command, and from the
//! lab's own observations.
//!
//! - [`losses`]: who paid for losses, stage by stage of the waterfall;
//! - [`cascade`]: every liquidation, whether the venue's own price caused it (endogenous),
//!   and the longest chain;
//! - [`lp_flows`]: the vault withdrawals LPs requested and were paid;
//! - [`efficiency`]: capital efficiency (margin per open interest, refused volume, halts);
//! - [`rows`]: the flat rows of `events.csv`;
//! - [`observed`]: what the lab watches beside the events (mark against the outside price,
//!   oracle lag, the funds' low points, the chain's delays, negative equity at the end).
//!
//! Rejected commands are counted here by `origin/command:reason`.

pub mod cascade;
pub mod defences;
pub mod efficiency;
pub mod losses;
pub mod lp_flows;
pub mod observed;
pub mod rows;
pub mod units;

use std::collections::BTreeMap;

use bulwark_engine::{AccountId, Engine, Event, MarketId, Reject};

pub use cascade::{longest_chain, market_bit, CommandContext, LiquidationRecord, Liquidations};
pub use defences::{DefenceLog, DefencePeriod, DefencesSummary};
pub use efficiency::{CapitalEfficiency, Efficiency};
pub use losses::{Losses, MarketLosses};
pub use lp_flows::LpFlows;
pub use observed::{ChainStats, Observed};
pub use rows::{EventRow, EVENT_COLUMNS};
pub use units::LotsPerUnit;

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub start_ms: u64,
    /// The first market.
    pub market: MarketId,
    /// The first market's lots in one base unit, to turn lot quantities into notional.
    pub lots_per_unit: f64,
    /// Every market's, by market id.
    pub lots: LotsPerUnit,
    pub losses: Losses,
    pub liquidations: Liquidations,
    pub lp_flows: LpFlows,
    pub efficiency: Efficiency,
    pub defences: DefenceLog,
    /// Every cross-pool withdrawal the venue paid: (account, time ms, USD). Only the
    /// manipulator withdraws today.
    pub withdrawals: Vec<(AccountId, u64, f64)>,
    pub below_maintenance_events: u64,
    /// Rejections by `origin/command:reason`.
    pub rejections: BTreeMap<String, u64>,
    /// The rows of `events.csv`.
    pub events: Vec<EventRow>,
    /// Leave `events` empty: a run that keeps only its summary (a sweep's) never writes them,
    /// and no figure of the summary reads them.
    pub skip_rows: bool,
    pub observed: Observed,
}

/// `InsufficientMargin { .. }` -> `InsufficientMargin`: the variant, for counting.
pub fn reject_kind(r: &Reject) -> String {
    let text = format!("{r:?}");
    text.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("Unknown")
        .to_string()
}

/// Whether any part of the metrics reads this kind of event. Most events are trades, rests,
/// cancels and prices, which none does: skipping them once here keeps the three readers
/// below off the hot path. A reader that starts reading a new kind adds it here.
fn measured(ev: &Event) -> bool {
    matches!(
        ev,
        Event::BelowMaintenance { .. }
            | Event::NegativeEquity { .. }
            | Event::LiquidationStarted { .. }
            | Event::Fill {
                liquidation: true,
                ..
            }
            | Event::LiquidationPenalty { .. }
            | Event::LiquidationEnded { .. }
            | Event::Bankrupt { .. }
            | Event::VaultTakeover { .. }
            | Event::InsurancePayout { .. }
            | Event::Deleveraged { .. }
            | Event::SocializedLoss { .. }
            | Event::UncoveredLoss { .. }
            | Event::VaultUnwound { .. }
            | Event::VaultReduced { .. }
            | Event::VaultDeposited { .. }
            | Event::VaultWithdrawalRequested { .. }
            | Event::VaultWithdrawn { .. }
    ) || defences::reads(ev)
        || matches!(ev, Event::Withdrawn { .. })
}

impl Metrics {
    /// Metrics of a run over `markets`: (id, lots per unit), the first market first, ids
    /// numbered from 0 in order.
    pub fn new(start_ms: u64, markets: &[(MarketId, i64)]) -> Metrics {
        let (market, lots_per_unit) = markets[0];
        debug_assert!(markets
            .iter()
            .enumerate()
            .all(|(i, m)| m.0 .0 as usize == i));
        Metrics {
            start_ms,
            market,
            lots_per_unit: lots_per_unit as f64,
            lots: LotsPerUnit(markets.iter().map(|m| m.1 as f64).collect()),
            ..Metrics::default()
        }
    }

    fn t_s(&self, t_ms: u64) -> f64 {
        (t_ms.saturating_sub(self.start_ms)) as f64 / 1000.0
    }

    /// A command the engine refused: counted by `origin/command:reason` and listed in the
    /// events (`rejected`, with that key as the detail and the engine's message nowhere: the
    /// kind is what a reader filters on).
    pub fn reject(
        &mut self,
        t_ms: u64,
        origin: &str,
        command: &str,
        account: Option<AccountId>,
        r: &Reject,
    ) {
        let key = format!("{origin}/{command}:{}", reject_kind(r));
        if !self.skip_rows {
            self.events.push(EventRow {
                t_s: self.t_s(t_ms),
                event: "rejected",
                account: account.map(|a| a.0),
                detail: Some(key.clone()),
                ..EventRow::default()
            });
        }
        *self.rejections.entry(key).or_default() += 1;
    }

    /// A lab-side event (market maker pulled its quotes, top-up, chain halt...).
    pub fn note(&mut self, t_ms: u64, event: &'static str, account: Option<AccountId>) {
        if self.skip_rows {
            return;
        }
        let row = EventRow {
            t_s: self.t_s(t_ms),
            event,
            account: account.map(|a| a.0),
            ..EventRow::default()
        };
        self.events.push(row);
    }

    /// The marks among a command's events, to the proactive breaker's predictions.
    fn pass_marks(&mut self, t_ms: u64, events: &[Event]) {
        let t_s = self.t_s(t_ms);
        for ev in events {
            if let Event::MarkPrice { market, mark, .. } = *ev {
                self.defences.on_mark(t_s, market, mark.micros());
            }
        }
    }

    /// Whether `on_events` would read any of these events (a measured one, or a mark while
    /// the proactive breaker's predictions are watched): with none, it would leave at once.
    pub fn reads_any(&self, events: &[Event]) -> bool {
        let marks = self.defences.watching_marks();
        events
            .iter()
            .any(|ev| measured(ev) || (marks && matches!(ev, Event::MarkPrice { .. })))
    }

    /// Reads the events of one command applied at `t_ms`, with the engine as the command left
    /// it and each market's outside price when it was applied (index: market id).
    pub fn on_events(
        &mut self,
        t_ms: u64,
        events: &[Event],
        engine: &Engine,
        outside_prices: &[f64],
    ) {
        if self.defences.watching_marks() {
            self.pass_marks(t_ms, events);
        }
        // Most commands (a maker's quotes and cancels) emit nothing measured: they leave at
        // once. The command-end bookkeeping below has nothing to close for them either, as
        // only a measured event opens anything.
        let Some(first) = events.iter().position(measured) else {
            return;
        };
        let at = CommandContext {
            engine,
            outside_prices,
            lots: &self.lots,
        };
        let t_s = self.t_s(t_ms);
        for (i, ev) in events.iter().enumerate().skip(first) {
            if !measured(ev) {
                continue;
            }
            if let Event::BelowMaintenance { .. } = ev {
                self.below_maintenance_events += 1;
            }
            if defences::reads(ev) {
                self.defences.on_event(t_s, ev);
                if let Event::HaltStarted {
                    market,
                    reason: bulwark_engine::HaltReason::Cascade { move_ppm, .. },
                    ..
                } = *ev
                {
                    if let Some(m) = engine.market(market) {
                        self.defences
                            .watch_prediction(t_s, market, move_ppm, m.mark.micros());
                    }
                }
                continue;
            }
            if let Event::Withdrawn {
                account,
                amount_usd,
                ..
            } = ev
            {
                self.withdrawals
                    .push((*account, t_ms, amount_usd.to_f64_lossy()));
                continue;
            }
            self.losses.on_event(ev, &self.lots);
            self.lp_flows.on_event(t_ms, ev, engine);
            self.liquidations.on_event(t_ms, events, i, &at);
            if self.skip_rows {
                continue;
            }
            let current = self.liquidations.current();
            if let Some(row) = rows::row(ev, t_s, &self.lots, current) {
                self.events.push(row);
            }
        }
        self.liquidations.end_command();
        self.losses.end_command();
    }
}
