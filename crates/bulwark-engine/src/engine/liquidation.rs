//! Partial liquidation.
//!
//! A pool (an account's cross pool or one isolated position) whose equity falls below
//! maintenance is liquidated: its orders are cancelled, then positions are closed partially,
//! through the book and within a band around the mark, until equity is back above the
//! "liquidation-end" requirement (`liquidation_end_multiplier` x maintenance: hysteresis, so the
//! pool is not liquidated again a moment later). A penalty on the closed notional goes to the
//! keeper and the insurance fund, capped so the penalty itself never makes the pool bankrupt.
//! If the band cannot absorb the close, or equity reaches zero, the pool goes down the
//! waterfall (`waterfall.rs`).

use super::*;
use crate::account::Position;
use crate::book::Side;
use crate::command::{MarginMode, OrderKind, PlaceOrder, SelfTrade};
use crate::event::{Event, Scope};
use crate::margin::{self, Health};
use crate::reject::Reject;
use bulwark_core::{
    div_i128, div_i64, mul_div, AccountId, MarketId, Ppm, Price, Qty, Round, Usd, PPM_ONE,
};

/// Most partial closes one liquidation makes before it yields (the rest waits in the queue).
pub const MAX_LIQUIDATION_ROUNDS: usize = 8;

/// One entry of the liquidation queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub account: AccountId,
    pub scope: Scope,
    pub equity_usd: Usd,
    pub maintenance_usd: Usd,
    /// Maintenance minus equity: how far below the pool is.
    pub shortfall_usd: Usd,
}

/// How a close goes through the book.
#[derive(Clone, Copy, Debug)]
pub(super) enum Close {
    /// A liquidation: within the band, charged the penalty.
    Liquidation { keeper: Option<AccountId> },
    /// The vault reducing itself: within the band, no penalty.
    VaultReduce,
    /// The vault unwinding its inventory: within its own band, no penalty.
    VaultUnwind { band: Ppm },
    /// A bankrupt position with no other home: at any price the book offers, no penalty.
    Unbanded,
}

impl Engine {
    /// Pools below maintenance, largest shortfall first (ties by account, then pool).
    ///
    /// A query cannot fail: a pool whose health overflows (which the bounds in [`limits`] rule
    /// out) is listed first, with a shortfall of `Usd::MAX` and zero equity and maintenance.
    pub fn liquidation_queue(&self) -> Vec<QueueEntry> {
        let mut q: Vec<QueueEntry> = self
            .flags
            .iter()
            .filter(|(_, f)| f.below_maintenance)
            .map(|(&(account, scope), _)| {
                self.queue_entry(account, scope).unwrap_or(QueueEntry {
                    account,
                    scope,
                    equity_usd: Usd::ZERO,
                    maintenance_usd: Usd::ZERO,
                    shortfall_usd: Usd::MAX,
                })
            })
            .collect();
        sort_queue(&mut q);
        q
    }

    /// How many pools are below maintenance: the liquidation queue's length, without the
    /// health of each (a driver that asks only whether anyone waits asks this).
    pub fn liquidation_queue_len(&self) -> usize {
        self.flags.values().filter(|f| f.below_maintenance).count()
    }

    /// The first `n` of the queue as the engine itself walks it: an overflow is a [`Breach`].
    /// With a per-step cap far below the queue's length, the `n` worst are selected before
    /// only they are sorted (the order is total, so the result is the full sort's prefix).
    fn liquidation_queue_bounded(&self, n: usize) -> Bounded<Vec<QueueEntry>> {
        let mut q = self
            .flags
            .iter()
            .filter(|(_, f)| f.below_maintenance)
            .map(|(&(account, scope), _)| self.queue_entry(account, scope))
            .collect::<Bounded<Vec<QueueEntry>>>()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        if n < q.len() {
            q.select_nth_unstable_by(n - 1, queue_order);
            q.truncate(n);
        }
        sort_queue(&mut q);
        Ok(q)
    }

    fn queue_entry(&self, account: AccountId, scope: Scope) -> Bounded<QueueEntry> {
        let h = self.pool_health_of(account, scope)?;
        let shortfall_usd = bounded(h.maintenance_usd.checked_sub(h.equity_usd))?;
        Ok(QueueEntry {
            account,
            scope,
            equity_usd: h.equity_usd,
            maintenance_usd: h.maintenance_usd,
            shortfall_usd,
        })
    }

    pub(super) fn liquidate_command(
        &mut self,
        keeper: AccountId,
        account: AccountId,
        scope: Scope,
    ) -> Result<(), Reject> {
        self.active_account(keeper)?;
        if keeper == account {
            return Err(Reject::SelfLiquidation);
        }
        let h = self.health(account, scope)?;
        if !h.below_maintenance() {
            return Err(Reject::NotLiquidatable {
                equity: h.equity_usd,
                maintenance: h.maintenance_usd,
            });
        }
        if let Some(m) = self.liquidation_paused(account, scope) {
            let until = m.defence.halt.map_or(TimestampMs(0), |h| h.until);
            return Err(Reject::MarketHalted {
                market: m.id,
                why: "a circuit breaker paused liquidations",
                until,
                allowed: "liquidations resume when the halt ends",
            });
        }
        self.liquidate_pool(account, scope, Some(keeper), h)?;
        Ok(self.manage_vault()?)
    }

    /// Protocol-native liquidation: after a price change, liquidate up to
    /// `max_liquidations_per_step` pools, largest shortfall first; the rest stay queued.
    /// The vault's own reduction runs after every price change whichever way liquidations are
    /// driven: it is the venue managing its backstop, not a liquidation.
    pub(super) fn native_sweep(&mut self) -> Bounded {
        let budget = self.venue.max_liquidations_per_step as usize;
        // Bankrupt pools whose positions the book could not take belong to the liquidation
        // process, keepers or not.
        if !self.waterfall_pending.is_empty() {
            self.retry_deferred_bankruptcies(budget)?;
        }
        if !self.venue.native_liquidation {
            return self.manage_vault();
        }
        if self.flags.values().any(|f| f.below_maintenance) {
            let queue = self.liquidation_queue_bounded(budget)?;
            for e in queue {
                // An earlier liquidation in this sweep may have changed this pool.
                let h = self.pool_health_of(e.account, e.scope)?;
                let retried = self.waterfall_pending.contains(&(e.account, e.scope));
                let paused = self.liquidation_paused(e.account, e.scope).is_some();
                if h.below_maintenance() && !retried && !paused {
                    self.liquidate_pool(e.account, e.scope, None, h)?;
                }
            }
        }
        self.manage_vault()
    }

    pub(super) fn liquidate_pool(
        &mut self,
        account: AccountId,
        scope: Scope,
        keeper: Option<AccountId>,
        h: Health,
    ) -> Bounded {
        self.events.push(Event::LiquidationStarted {
            account,
            scope,
            keeper,
            equity_usd: h.equity_usd,
            maintenance_usd: h.maintenance_usd,
        });
        self.liquidating_pool = Some((account, scope));
        // Where the loss comes from, before closes realize it (the waterfall needs it when
        // nothing is left open to measure).
        let positions = self.pool_positions(account, scope);
        let origins = self.loss_origins(&positions)?;
        self.cancel_pool_orders(account, scope)?;
        let markets: Vec<MarketId> = positions
            .iter()
            .map(|(mi, _)| self.markets[*mi].id)
            .collect();
        let mut band_failed = false;
        for _ in 0..MAX_LIQUIDATION_ROUNDS {
            let h = self.pool_health_of(account, scope)?;
            let end = self.end_requirement(account, scope, None)?;
            if !h.equity_usd.is_positive() || h.equity_usd >= end {
                break;
            }
            let Some((mi, side, qty)) = self.liquidation_slice(account, scope, h, None)? else {
                break;
            };
            let filled =
                self.close_through_book(account, mi, side, qty, Close::Liquidation { keeper })?;
            if filled < qty {
                band_failed = true;
                break;
            }
        }
        let h = self.pool_health_of(account, scope)?;
        let in_waterfall = h.below_maintenance() && (band_failed || !h.equity_usd.is_positive());
        if in_waterfall {
            self.waterfall(account, scope, &origins)?;
        }
        self.liquidating_pool = None;
        for market in markets {
            let closed = self
                .acct(account)
                .position(market)
                .is_some_and(|p| p.qty.is_zero());
            self.release_if_idle(account, market, closed)?;
        }
        let h = self.pool_health_of(account, scope)?;
        self.events.push(Event::LiquidationEnded {
            account,
            scope,
            equity_usd: h.equity_usd,
            maintenance_usd: h.maintenance_usd,
            in_waterfall,
        });
        self.reevaluate(account)
    }

    /// A pool's equity and maintenance requirement (its initial requirement is not computed:
    /// `pool_maintenance_health`), an overflow a breach.
    pub(super) fn pool_health_of(&self, account: AccountId, scope: Scope) -> Bounded<Health> {
        bounded(self.pool_maintenance_health(self.acct(account), scope))
    }

    /// The positions of a pool: (market index, position), open ones only.
    pub(super) fn pool_positions(
        &self,
        account: AccountId,
        scope: Scope,
    ) -> Vec<(usize, Position)> {
        self.pool_open(account, scope).collect()
    }

    /// The same, without collecting them: for a reader that changes nothing as it goes (a
    /// liquidation's every round reads them twice, and a list each time was an allocation).
    pub(super) fn pool_open(
        &self,
        account: AccountId,
        scope: Scope,
    ) -> impl Iterator<Item = (usize, Position)> + '_ {
        self.acct(account)
            .positions
            .iter()
            .filter(move |p| !p.qty.is_zero() && in_scope(p, scope))
            .map(|p| (p.market.0 as usize, *p))
    }

    /// Whether the pool has no open position.
    pub(super) fn pool_is_flat(&self, account: AccountId, scope: Scope) -> bool {
        self.pool_open(account, scope).next().is_none()
    }

    /// Sum over the pool's positions of maintenance x the end multiplier: the market's
    /// `liquidation_end_multiplier`, or `k` when given (the vault's own margin multiplier).
    pub(super) fn end_requirement(
        &self,
        account: AccountId,
        scope: Scope,
        k: Option<Ppm>,
    ) -> Bounded<Usd> {
        let mut total = Usd::ZERO;
        for (mi, p) in self.pool_open(account, scope) {
            let m = &self.markets[mi];
            let notional = bounded(margin::notional_ceil_usd(
                p.qty,
                m.mark,
                m.params.lots_per_unit,
            ))?;
            let mm = bounded(margin::maintenance_usd(&m.params, notional))?;
            let k = k.unwrap_or(m.params.liquidation_end_multiplier);
            let end = bounded(mm.mul_ppm(k, Round::Ceil))?;
            total = bounded(total.checked_add(end))?;
        }
        Ok(total)
    }

    /// What to close next: the position with the largest maintenance requirement, and enough of
    /// it that equity would reach the end requirement if the fill came at the mark. Closing a
    /// notional x frees k * f * x of requirement (k the end multiplier, f the maintenance
    /// fraction) and costs (penalty + taker fee) * x of equity, so x = deficit / (k f - cost).
    pub(super) fn liquidation_slice(
        &self,
        account: AccountId,
        scope: Scope,
        h: Health,
        k_override: Option<Ppm>,
    ) -> Bounded<Option<(usize, Side, Qty)>> {
        let Some((mi, p)) = self.largest_requirement(account, scope)? else {
            return Ok(None);
        };
        let m = &self.markets[mi];
        let side = super::waterfall::closing_side(p.qty);
        let end = self.end_requirement(account, scope, k_override)?;
        let deficit = bounded(end.checked_sub(h.equity_usd))?.max(Usd::from_micros(1));
        let notional = bounded(margin::notional_ceil_usd(
            p.qty,
            m.mark,
            m.params.lots_per_unit,
        ))?;
        let f = margin::maintenance_fraction(&m.params, notional).raw() as i128;
        let k = k_override
            .unwrap_or(m.params.liquidation_end_multiplier)
            .raw() as i128;
        let penalty = if k_override.is_some() {
            0
        } else {
            m.params.liquidation_penalty.raw()
        };
        let fixed_cost = (penalty + m.taker_fee().raw().max(0)) as i128;
        let all = p.qty.abs();
        let lots = m.params.lots_per_unit as i128;
        let mark = m.mark.micros() as i128;
        if !m.mark.is_positive() {
            return Ok(Some((mi, side, all)));
        }
        // Rounded down: a smaller gain per unit closes a little more, never too little.
        let gain = bounded(div_i128(k * f, PPM_ONE as i128, Round::Floor))?;
        // First with no slippage, then again with the slippage the book would actually give
        // those lots: a thin account closed too far below the mark would be bankrupted by its own
        // liquidation. If closing cannot gain health at that cost, close everything.
        let mut qty = all;
        let mut cost = fixed_cost;
        for _ in 0..2 {
            let gain_ppm = gain - cost;
            if gain_ppm <= 0 {
                return Ok(Some((mi, side, all)));
            }
            let x_usd = bounded(div_i128(
                deficit.micros() as i128 * PPM_ONE as i128,
                gain_ppm,
                Round::Ceil,
            ))?;
            let lots_needed = bounded(div_i128(x_usd * lots, mark, Round::Ceil))?;
            qty = Qty::from_lots(lots_needed.clamp(1, all.lots() as i128) as i64);
            let band = band_edge(
                m.mark,
                m.liquidation_band(),
                m.params.tick_size,
                m.params.max_price,
                side,
            )?;
            let Some(slip_ppm) = slippage_ppm(m, side, band, qty) else {
                break;
            };
            cost = fixed_cost + slip_ppm;
        }
        Ok(Some((mi, side, qty)))
    }

    /// The pool's position with the largest maintenance requirement (ties: the first market).
    fn largest_requirement(
        &self,
        account: AccountId,
        scope: Scope,
    ) -> Bounded<Option<(usize, Position)>> {
        let mut best: Option<(Usd, usize, Position)> = None;
        for (mi, p) in self.pool_open(account, scope) {
            let m = &self.markets[mi];
            let notional = margin::notional_ceil_usd(p.qty, m.mark, m.params.lots_per_unit);
            let mm = bounded(margin::maintenance_usd(&m.params, bounded(notional)?))?;
            if best.as_ref().is_none_or(|(b, _, _)| mm > *b) {
                best = Some((mm, mi, p));
            }
        }
        Ok(best.map(|(_, mi, p)| (mi, p)))
    }

    /// Cancel the pool's resting orders: all cross-market orders for the cross pool, the
    /// market's orders for an isolated one.
    pub(super) fn cancel_pool_orders(&mut self, account: AccountId, scope: Scope) -> Bounded {
        let a = self.acct(account);
        let mut targets: Vec<(MarketId, bulwark_core::OrderId)> = a
            .orders
            .iter()
            .copied()
            .filter(|(m, _)| a.position(*m).is_some_and(|p| in_scope(p, scope)))
            .collect();
        targets.sort_unstable();
        for (m, id) in &targets {
            self.cancel_resting(m.0 as usize, *id, crate::event::CancelReason::Liquidation);
        }
        targets.dedup_by_key(|(m, _)| *m);
        for (m, _) in targets {
            self.release_if_idle(account, m, false)?;
        }
        Ok(())
    }

    /// Send an IOC, reduce-only order that closes up to `qty` lots, within the market's
    /// liquidation band unless `how` is `Unbanded`; a liquidation is charged the penalty.
    /// Returns the lots filled.
    pub(super) fn close_through_book(
        &mut self,
        account: AccountId,
        mi: usize,
        side: Side,
        qty: Qty,
        how: Close,
    ) -> Bounded<Qty> {
        let banded = !matches!(how, Close::Unbanded);
        let m = &self.markets[mi];
        let a = self.acct(account);
        let Ok(index) = a.position_index(m.id) else {
            return Ok(Qty::ZERO);
        };
        let pos = a.positions[index];
        let band = match how {
            Close::VaultUnwind { band } => band,
            _ => m.liquidation_band(),
        };
        let limit = if banded {
            band_edge(m.mark, band, m.params.tick_size, m.params.max_price, side)?
        } else {
            match side {
                Side::Buy => on_tick(m.params.max_price, m.params.tick_size, Round::Floor)?,
                Side::Sell => m.params.tick_size,
            }
        };
        let o = PlaceOrder {
            account,
            market: m.id,
            side,
            kind: OrderKind::Ioc,
            price: Some(limit),
            qty,
            reduce_only: true,
            self_trade: SelfTrade::CancelMaker,
            margin: pos.mode,
        };
        // A bankrupt close pays no taker fee and earns makers no rebate: that income would be
        // paid by the fund, the ADL victims or the socialized side, not by the account.
        self.bankrupt_close = !banded;
        match self.plan_matching(mi, &o, &pos, Ok(index), qty, limit) {
            Ok(()) => {}
            // An engine bug is never taken for a close the book cannot take.
            Err(Reject::Internal { error, .. }) => return Err(Breach(Box::new(error))),
            Err(_) => {
                // The book cannot take it (a check of the plan failed): nothing closes.
                self.bankrupt_close = false;
                return Ok(Qty::ZERO);
            }
        }
        let (mut filled, mut closed_notional) = (Qty::ZERO, Usd::ZERO);
        for s in &self.steps {
            if let Step::Fill { qty, notional, .. } = s {
                filled = Qty::from_lots(filled.lots() + qty.lots());
                closed_notional = bounded(closed_notional.checked_add(*notional))?;
            }
        }
        self.liquidating = true;
        self.commit_order(mi, &o, qty, limit)?;
        self.liquidating = false;
        self.bankrupt_close = false;
        if let (Close::Liquidation { keeper }, true) = (how, filled.is_positive()) {
            self.charge_penalty(
                account,
                pos.mode,
                self.markets[mi].id,
                closed_notional,
                keeper,
            )?;
        }
        Ok(filled)
    }

    pub(super) fn charge_penalty(
        &mut self,
        account: AccountId,
        mode: MarginMode,
        market: MarketId,
        closed_notional: Usd,
        keeper: Option<AccountId>,
    ) -> Bounded {
        let p = &self.markets[market.0 as usize].params;
        let scope = scope_of(mode, market);
        let full = bounded(closed_notional.mul_ppm(p.liquidation_penalty, Round::Ceil))?;
        let keeper_share = p.keeper_reward_share;
        let h = self.pool_health_of(account, scope)?;
        // The penalty never makes the pool bankrupt, nor pushes it back below maintenance: it
        // takes at most the equity above the maintenance requirement left after the close.
        let surplus = bounded(h.equity_usd.checked_sub(h.maintenance_usd))?;
        let penalty = full.min(surplus.max(Usd::ZERO));
        let to_keeper = match keeper {
            Some(_) => bounded(penalty.mul_ppm(keeper_share, Round::Floor))?,
            None => Usd::ZERO,
        };
        let to_insurance = bounded(penalty.checked_sub(to_keeper))?;
        self.add_to_pool(account, scope, bounded(penalty.checked_neg())?)?;
        if let Some(k) = keeper {
            let a = self.acct_mut(k);
            a.collateral_usd = bounded(a.collateral_usd.checked_add(to_keeper))?;
        }
        self.insurance_usd = bounded(self.insurance_usd.checked_add(to_insurance))?;
        self.events.push(Event::LiquidationPenalty {
            account,
            market,
            closed_notional_usd: closed_notional,
            penalty_usd: penalty,
            to_insurance_usd: to_insurance,
            to_keeper_usd: to_keeper,
        });
        if let Some(k) = keeper {
            self.reevaluate(k)?;
        }
        Ok(())
    }
}

/// Largest shortfall first; ties by account, then pool.
fn sort_queue(q: &mut [QueueEntry]) {
    q.sort_by(queue_order);
}

/// Worst shortfall first, then by pool: a total order.
fn queue_order(a: &QueueEntry, b: &QueueEntry) -> std::cmp::Ordering {
    b.shortfall_usd
        .cmp(&a.shortfall_usd)
        .then((a.account, a.scope).cmp(&(b.account, b.scope)))
}

/// The average distance from the mark, in ppm of the mark, at which a taker on `side` would
/// fill `qty` lots against the book within `limit`; `None` if the book cannot fill them.
fn slippage_ppm(m: &crate::market::Market, side: Side, limit: Price, qty: Qty) -> Option<i128> {
    let mut left = qty.lots() as i128;
    let mut cost = 0i128; // sum of lots x price, micro-USD
    for o in m.book.crossing(side, limit) {
        let q = left.min(o.remaining.lots() as i128);
        cost += q * o.price.micros() as i128;
        left -= q;
        if left == 0 {
            break;
        }
    }
    if left > 0 {
        return None;
    }
    let mark = m.mark.micros() as i128;
    let avg_gap = match side {
        Side::Sell => mark * qty.lots() as i128 - cost,
        Side::Buy => cost - mark * qty.lots() as i128,
    };
    let denom = mark * qty.lots() as i128;
    div_i128(avg_gap.max(0) * PPM_ONE as i128, denom, Round::Ceil).ok()
}

/// The edge of a band of `band` around `mark` on the side a taker on `side` pays, snapped
/// inward onto the tick grid (buys down, sells up) and kept within (0, max_price].
pub(super) fn band_edge(
    mark: Price,
    band: Ppm,
    tick: Price,
    max_price: Price,
    side: Side,
) -> Bounded<Price> {
    let width = mul_div(mark.micros(), band.raw(), PPM_ONE, Round::Floor).unwrap_or(0);
    let edge = match side {
        Side::Buy => {
            let raw = mark.micros().saturating_add(width).min(max_price.micros());
            on_tick(Price::from_micros(raw), tick, Round::Floor)?
        }
        Side::Sell => on_tick(Price::from_micros(mark.micros() - width), tick, Round::Ceil)?,
    };
    Ok(edge.max(tick))
}

/// `price` snapped onto the grid of `tick` (> 0), in the named direction.
fn on_tick(price: Price, tick: Price, round: Round) -> Bounded<Price> {
    let steps = bounded(div_i64(price.micros(), tick.micros(), round))?;
    Ok(Price::from_micros(steps.saturating_mul(tick.micros())))
}
