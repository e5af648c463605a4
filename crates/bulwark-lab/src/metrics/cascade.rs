//! Liquidations and cascade depth.
//!
//! A liquidation is *endogenous* when, at the moment it begins, the pool would have stayed at
//! or above maintenance had the mark equalled the outside price: the venue's own price
//! (pushed by earlier liquidations, thin books, a stale oracle) killed it, not the market.
//! The test is the same for keeper and protocol-native liquidations ([`endogenous`]): it
//! starts from the pool as the `LiquidationStarted` event reports it (equity and maintenance
//! at the mark) and the position it held then ([`qty_at_start`]: the position after the
//! command with every later change the command made undone), and moves the position's value
//! and requirement from the mark to the outside price with the engine's own margin arithmetic.
//! For a keeper's liquidation this is exactly `Engine::health_with_mark` at the outside price
//! just before the `Liquidate` command (the run loop asserts so in debug builds).
//!
//! The *endogenous share* is the endogenous part of liquidation volume. The *longest chain* is
//! the largest number of liquidations in a row each starting within `cascade_window_s` of the
//! previous one.

use bulwark_core::{ArithResult, Round};
use bulwark_engine::margin::{maintenance_usd, notional_ceil_usd, value_usd};
use bulwark_engine::{
    AccountId, Engine, Event, MarginMode, MarketId, MarketParams, Price, Qty, Scope, Side, Usd,
};

use super::units::{notional, usd};

/// A liquidation as the cascade metrics see it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidationRecord {
    pub t_ms: u64,
    pub account: AccountId,
    /// The mark when it began, then the price of its latest fill.
    pub price: f64,
    pub volume_usd: f64,
    pub endogenous: bool,
    pub native: bool,
    /// Where its loss landed last: "book", "vault", "insurance", "adl", "socialized".
    pub stage: &'static str,
}

/// Every liquidation of the run, in order.
#[derive(Clone, Debug, Default)]
pub struct Liquidations {
    pub records: Vec<LiquidationRecord>,
    /// Liquidation volume: fills through the book plus positions the vault took over.
    pub volume_usd: f64,
    /// The liquidation the current command's events belong to.
    current: Option<usize>,
}

/// What the metrics read besides a command's events: the engine after the command, the
/// market, and the outside price when the command was applied.
pub struct CommandContext<'a> {
    pub engine: &'a Engine,
    pub market: MarketId,
    pub outside_price: f64,
    /// Lots in one base unit, to turn lot quantities into notional.
    pub lots_per_unit: f64,
}

/// The pool being liquidated, as it stood when its liquidation began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolAtStart {
    /// Equity at `mark` (pending funding and socialized loss counted), from the event.
    pub equity: Usd,
    /// Its position in the market.
    pub qty: Qty,
    pub mark: Price,
}

/// Whether the pool would have been at or above maintenance had the mark been `outside`:
/// equity moves by the position's value change, the requirement is recomputed at `outside`,
/// both with the engine's rounding. An arithmetic overflow counts as "not endogenous".
pub fn endogenous(pool: PoolAtStart, outside: Price, params: &MarketParams) -> bool {
    let at_outside = || -> ArithResult<bool> {
        let lots = params.lots_per_unit;
        let equity = pool
            .equity
            .checked_sub(value_usd(pool.qty, pool.mark, lots)?)?
            .checked_add(value_usd(pool.qty, outside, lots)?)?;
        let maintenance = if pool.qty.is_zero() {
            Usd::ZERO
        } else {
            maintenance_usd(params, notional_ceil_usd(pool.qty, outside, lots)?)?
        };
        Ok(equity >= maintenance)
    };
    at_outside().unwrap_or(false)
}

/// The position `account` held in `market` when the event `events[start]` happened, given
/// its position `after` the whole command: every later change the command's events record
/// (fills, vault takeovers, deleveraging on either side) is undone.
pub fn qty_at_start(
    events: &[Event],
    start: usize,
    account: AccountId,
    market: MarketId,
    after: Qty,
) -> Qty {
    let mut q = after.lots();
    for ev in &events[start + 1..] {
        match *ev {
            Event::Fill {
                market: m,
                maker,
                taker,
                taker_side,
                qty,
                ..
            } if m == market => {
                let bought = match taker_side {
                    Side::Buy => qty.lots(),
                    Side::Sell => -qty.lots(),
                };
                if taker == account {
                    q -= bought;
                }
                if maker == account {
                    q += bought;
                }
            }
            // The account's whole position (signed) went to the vault.
            Event::VaultTakeover {
                account: a,
                market: m,
                qty,
                ..
            } if a == account && m == market => q += qty.lots(),
            // `qty` is signed as the counterparty's position was; the bankrupt held the
            // opposite.
            Event::Deleveraged {
                bankrupt,
                counterparty,
                market: m,
                qty,
                ..
            } if m == market => {
                if counterparty == account {
                    q += qty.lots();
                }
                if bankrupt == account {
                    q -= qty.lots();
                }
            }
            _ => {}
        }
    }
    Qty::from_lots(q)
}

/// The position of `account` in `market` that belongs to `scope`'s pool (zero if none).
fn pool_qty(engine: &Engine, account: AccountId, scope: Scope, market: MarketId) -> Qty {
    let in_scope = |mode: MarginMode| match scope {
        Scope::Cross => mode == MarginMode::Cross,
        Scope::Isolated(m) => mode == MarginMode::Isolated && m == market,
    };
    engine
        .account(account)
        .and_then(|a| a.position(market))
        .filter(|p| in_scope(p.mode))
        .map_or(Qty::ZERO, |p| p.qty)
}

impl Liquidations {
    /// Counts `events[i]`, one event of a command applied at `t_ms`; `engine` is the state
    /// after the command, `outside` the outside price then.
    pub fn on_event(&mut self, t_ms: u64, events: &[Event], i: usize, at: &CommandContext) {
        match events[i] {
            Event::LiquidationStarted {
                account,
                scope,
                keeper,
                equity_usd,
                ..
            } => {
                let endogenous = at.engine.market(at.market).is_some_and(|m| {
                    let after = pool_qty(at.engine, account, scope, at.market);
                    let pool = PoolAtStart {
                        equity: equity_usd,
                        qty: qty_at_start(events, i, account, at.market, after),
                        mark: m.mark,
                    };
                    let outside =
                        Price::from_f64(at.outside_price, Round::Floor).unwrap_or(Price::ZERO);
                    endogenous(pool, outside, &m.params)
                });
                let mark = at.engine.market(at.market).map_or(Price::ZERO, |m| m.mark);
                self.records.push(LiquidationRecord {
                    t_ms,
                    account,
                    price: mark.to_f64_lossy(),
                    volume_usd: 0.0,
                    endogenous,
                    native: keeper.is_none(),
                    stage: "book",
                });
                self.current = Some(self.records.len() - 1);
            }
            Event::Fill {
                price,
                notional_usd,
                liquidation: true,
                ..
            } => {
                let n = usd(notional_usd);
                self.volume_usd += n;
                if let Some(r) = self.current_mut() {
                    r.volume_usd += n;
                    r.price = price.to_f64_lossy();
                }
            }
            Event::VaultTakeover {
                qty,
                bankruptcy_price,
                ..
            } => {
                let n = notional(
                    bankruptcy_price.to_f64_lossy(),
                    qty.lots(),
                    at.lots_per_unit,
                );
                self.mark_stage("vault");
                if let Some(r) = self.current_mut() {
                    r.volume_usd += n;
                }
                self.volume_usd += n;
            }
            Event::InsurancePayout { .. } => self.mark_stage("insurance"),
            Event::Deleveraged { .. } => self.mark_stage("adl"),
            Event::SocializedLoss { .. } => self.mark_stage("socialized"),
            _ => {}
        }
    }

    /// The liquidation the events being read belong to.
    pub fn current(&self) -> Option<&LiquidationRecord> {
        self.current.map(|i| &self.records[i])
    }

    fn current_mut(&mut self) -> Option<&mut LiquidationRecord> {
        self.current.map(|i| &mut self.records[i])
    }

    /// A command's events are read: the next command starts with no liquidation current.
    pub fn end_command(&mut self) {
        self.current = None;
    }

    fn mark_stage(&mut self, stage: &'static str) {
        if let Some(r) = self.current_mut() {
            r.stage = stage;
        }
    }

    /// Endogenous liquidation volume and its share of all liquidation volume (0 with none).
    pub fn endogenous_share(&self) -> (f64, f64) {
        let endo: f64 = self
            .records
            .iter()
            .filter(|l| l.endogenous)
            .map(|l| l.volume_usd)
            .fold(0.0, |a, b| a + b);
        let total: f64 = self
            .records
            .iter()
            .map(|l| l.volume_usd)
            .fold(0.0, |a, b| a + b);
        (endo, if total > 0.0 { endo / total } else { 0.0 })
    }
}

/// The longest run of liquidations each starting within `window_ms` of the previous one:
/// (length, start ms, end ms). Times must be sorted (the run loop records them in order).
pub fn longest_chain(times_ms: &[u64], window_ms: u64) -> (usize, u64, u64) {
    let Some(&first) = times_ms.first() else {
        return (0, 0, 0);
    };
    let (mut best, mut best_start, mut best_end) = (1, first, first);
    let (mut len, mut start) = (1, first);
    for w in times_ms.windows(2) {
        if w[1] - w[0] <= window_ms {
            len += 1;
        } else {
            len = 1;
            start = w[1];
        }
        if len > best {
            (best, best_start, best_end) = (len, start, w[1]);
        }
    }
    (best, best_start, best_end)
}

#[cfg(test)]
mod tests;
