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
//! A pool with positions in several markets is tested with every market's mark moved to its
//! own outside price (the engine's `health_with_mark` moves one market only, so the run loop
//! asserts the pair for single-market pools).
//!
//! The *endogenous share* is the endogenous part of liquidation volume. The *longest chain* is
//! the largest number of liquidations in a row each starting within `cascade_window_s` of the
//! previous one.
//!
//! *Cross-market contagion*: a liquidation of a pool that held positions in two or more
//! markets when it began, and that closed one of them through the book at a realized profit
//! (or break-even). That position was not what lost money: the pool fell below maintenance
//! because of its positions elsewhere, and their market's move is what closed it.

use bulwark_core::{ArithResult, Round};
use bulwark_engine::margin::{maintenance_usd, notional_ceil_usd, value_usd};
use bulwark_engine::{
    AccountId, Engine, Event, MarginMode, MarketId, MarketParams, Price, Qty, Scope, Side, Usd,
};

use super::units::{notional, usd, LotsPerUnit};

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
    /// Markets the pool held positions in when it began.
    pub markets_held: u32,
    /// Markets it closed positions in (bit `i`: market id `i`), through the book, the vault
    /// or ADL.
    pub closed_markets: u32,
    /// Cross-market contagion (see the module documentation): the markets (bits) whose
    /// position it closed at a profit while the pool held others.
    pub contagion_markets: u32,
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

/// What the metrics read besides a command's events: the engine after the command, and
/// each market's outside price when the command was applied (index: market id).
pub struct CommandContext<'a> {
    pub engine: &'a Engine,
    pub outside_prices: &'a [f64],
    /// Lots in one base unit, to turn lot quantities into notional.
    pub lots: &'a LotsPerUnit,
}

/// One position of the pool being liquidated, as it stood when its liquidation began.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Leg<'a> {
    pub market: MarketId,
    pub qty: Qty,
    pub mark: Price,
    pub outside: Price,
    pub params: &'a MarketParams,
}

/// Whether the pool, with `equity` at the marks (pending funding and socialized loss
/// counted, from the event), would have been at or above maintenance had every mark been
/// its market's outside price: equity moves by each position's value change, the
/// requirement is recomputed at the outside prices, all with the engine's rounding. An
/// arithmetic overflow counts as "not endogenous".
pub fn endogenous(equity: Usd, legs: &[Leg<'_>]) -> bool {
    let at_outside = || -> ArithResult<bool> {
        let (mut equity, mut maintenance) = (equity, Usd::ZERO);
        for leg in legs.iter().filter(|l| !l.qty.is_zero()) {
            let lots = leg.params.lots_per_unit;
            equity = equity
                .checked_sub(value_usd(leg.qty, leg.mark, lots)?)?
                .checked_add(value_usd(leg.qty, leg.outside, lots)?)?;
            let notional = notional_ceil_usd(leg.qty, leg.outside, lots)?;
            maintenance = maintenance.checked_add(maintenance_usd(leg.params, notional)?)?;
        }
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

/// Bit `i` for market id `i` (the run drives at most `MAX_MARKETS` = 8 markets).
pub fn market_bit(m: MarketId) -> u32 {
    1u32.checked_shl(u32::from(m.0)).unwrap_or(0)
}

/// The pool's positions when the event `events[i]` (its `LiquidationStarted`) happened, one
/// per market it held, in market order, with each market's mark and outside price.
fn legs_at_start<'e>(
    events: &[Event],
    i: usize,
    account: AccountId,
    scope: Scope,
    at: &CommandContext<'e>,
) -> Vec<Leg<'e>> {
    let mut legs = Vec::new();
    for (m, market) in at.engine.markets().iter().enumerate() {
        let id = MarketId(m as u16);
        let after = pool_qty(at.engine, account, scope, id);
        let qty = qty_at_start(events, i, account, id, after);
        if qty.is_zero() {
            continue;
        }
        let outside = at.outside_prices.get(m).copied().unwrap_or(0.0);
        legs.push(Leg {
            market: id,
            qty,
            mark: market.mark,
            outside: Price::from_f64(outside, Round::Floor).unwrap_or(Price::ZERO),
            params: &market.params,
        });
    }
    legs
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
                let legs = legs_at_start(events, i, account, scope, at);
                let endogenous = endogenous(equity_usd, &legs);
                // The mark of the first market it held: the market's own, for a one-market pool.
                let first = legs.first().map_or(MarketId(0), |l| l.market);
                let mark = at.engine.market(first).map_or(Price::ZERO, |m| m.mark);
                self.records.push(LiquidationRecord {
                    t_ms,
                    account,
                    price: mark.to_f64_lossy(),
                    volume_usd: 0.0,
                    endogenous,
                    native: keeper.is_none(),
                    stage: "book",
                    markets_held: legs.len() as u32,
                    closed_markets: 0,
                    contagion_markets: 0,
                });
                self.current = Some(self.records.len() - 1);
            }
            Event::Fill {
                market,
                maker,
                taker,
                price,
                notional_usd,
                maker_realized_pnl_usd,
                taker_realized_pnl_usd,
                liquidation: true,
                ..
            } => {
                let n = usd(notional_usd);
                self.volume_usd += n;
                if let Some(r) = self.current_mut() {
                    r.volume_usd += n;
                    r.price = price.to_f64_lossy();
                    r.closed_markets |= market_bit(market);
                    let pnl = if taker == r.account {
                        Some(taker_realized_pnl_usd)
                    } else if maker == r.account {
                        Some(maker_realized_pnl_usd)
                    } else {
                        None
                    };
                    if r.markets_held >= 2 && pnl.is_some_and(|p| !p.is_negative()) {
                        r.contagion_markets |= market_bit(market);
                    }
                }
            }
            Event::VaultTakeover {
                qty,
                bankruptcy_price,
                market,
                ..
            } => {
                let n = notional(
                    bankruptcy_price.to_f64_lossy(),
                    qty.lots(),
                    at.lots.of(market),
                );
                self.mark_stage("vault");
                if let Some(r) = self.current_mut() {
                    r.volume_usd += n;
                    r.closed_markets |= market_bit(market);
                }
                self.volume_usd += n;
            }
            Event::InsurancePayout { .. } => self.mark_stage("insurance"),
            Event::Deleveraged {
                bankrupt, market, ..
            } => {
                self.mark_stage("adl");
                if let Some(r) = self.current_mut().filter(|r| r.account == bankrupt) {
                    r.closed_markets |= market_bit(market);
                }
            }
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
