//! Liquidation and the loss waterfall.
//!
//! A pool (an account's cross pool or one isolated position) whose equity falls below
//! maintenance is liquidated: its orders are cancelled, then positions are closed partially,
//! through the book and within a band around the mark, until equity is back above the
//! "liquidation-end" requirement (`liquidation_end_multiplier` x maintenance: hysteresis, so the
//! pool is not liquidated again a moment later). A penalty on the closed notional goes to the
//! keeper and the insurance fund, capped so the penalty itself never makes the pool bankrupt.
//!
//! If the band cannot absorb the close, or equity reaches zero, the pool goes down the
//! waterfall, each stage an event with amounts, in this order:
//! a. the pool's own collateral (`Bankrupt` when it is exhausted);
//! b. the backstop vault takes the positions over at the bankruptcy price, if its own margin
//!    limit allows (`VaultTakeover`);
//! otherwise the positions are closed against opposite positions at the mark by auto-
//! deleveraging (or, with ADL off, through the book at any price), and the deficit is paid by
//! c. the insurance fund (`InsurancePayout`);
//! d. the deleveraged counterparties, in proportion to what was closed against them — closing
//!    at the bankruptcy price instead of the mark (`Deleveraged` with its haircut);
//! e. the opposite side of the market, pro rata to position size (`SocializedLoss`);
//!
//! and whatever is left is recorded as bad debt (`UncoveredLoss`). Stages switch on and off per
//! market; for a cross pool with several markets, the market with the largest position decides.

use super::{bounded, Engine, VAULT};
use crate::account::{Account, Position};
use crate::book::Side;
use crate::command::{MarginMode, OrderKind, PlaceOrder, SelfTrade};
use crate::event::{Event, Scope};
use crate::margin::{self, Health};
use crate::reject::Reject;
use bulwark_core::{mul_div, AccountId, MarketId, Ppm, Price, Qty, Round, Usd, PPM_ONE};
use serde::{Deserialize, Serialize};

/// Most partial closes one liquidation makes before it yields (the rest waits in the queue).
pub const MAX_LIQUIDATION_ROUNDS: usize = 8;
/// Most rounds the vault spends reducing itself in one command.
pub const MAX_VAULT_REDUCE_ROUNDS: usize = 4;

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
enum Close {
    /// A liquidation: within the band, charged the penalty.
    Liquidation { keeper: Option<AccountId> },
    /// The vault reducing itself: within the band, no penalty.
    VaultReduce,
    /// A bankrupt position with no other home: at any price the book offers, no penalty.
    Unbanded,
}

/// A position closed against a counterparty by ADL, before its haircut is known.
struct AdlClose {
    counterparty: AccountId,
    market: MarketId,
    /// Lots closed, signed as the counterparty's position was.
    qty: Qty,
    mark: Price,
}

impl Engine {
    /// Pools below maintenance, largest shortfall first (ties by account, then pool).
    pub fn liquidation_queue(&self) -> Vec<QueueEntry> {
        let mut q: Vec<QueueEntry> = self
            .flags
            .iter()
            .filter(|(_, f)| f.below_maintenance)
            .map(|(&(account, scope), _)| {
                let h = bounded(self.pool_health(self.acct(account), scope, None));
                let shortfall_usd = bounded(h.maintenance_usd.checked_sub(h.equity_usd));
                QueueEntry {
                    account,
                    scope,
                    equity_usd: h.equity_usd,
                    maintenance_usd: h.maintenance_usd,
                    shortfall_usd,
                }
            })
            .collect();
        q.sort_by(|a, b| {
            b.shortfall_usd
                .cmp(&a.shortfall_usd)
                .then((a.account, a.scope).cmp(&(b.account, b.scope)))
        });
        q
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
        self.liquidate_pool(account, scope, Some(keeper), h);
        self.reduce_vault();
        Ok(())
    }

    /// Protocol-native liquidation: after a price change, liquidate up to
    /// `max_liquidations_per_step` pools, largest shortfall first; the rest stay queued.
    /// The vault's own reduction runs after every price change whichever way liquidations are
    /// driven: it is the venue managing its backstop, not a liquidation.
    pub(super) fn native_sweep(&mut self) {
        if !self.venue.native_liquidation {
            self.reduce_vault();
            return;
        }
        let budget = self.venue.max_liquidations_per_step as usize;
        if self.flags.values().any(|f| f.below_maintenance) {
            let queue = self.liquidation_queue();
            for e in queue.into_iter().take(budget) {
                // An earlier liquidation in this sweep may have changed this pool.
                let h = bounded(self.pool_health(self.acct(e.account), e.scope, None));
                if h.below_maintenance() {
                    self.liquidate_pool(e.account, e.scope, None, h);
                }
            }
        }
        self.reduce_vault();
    }

    fn liquidate_pool(
        &mut self,
        account: AccountId,
        scope: Scope,
        keeper: Option<AccountId>,
        h: Health,
    ) {
        self.events.push(Event::LiquidationStarted {
            account,
            scope,
            keeper,
            equity_usd: h.equity_usd,
            maintenance_usd: h.maintenance_usd,
        });
        self.liquidating_pool = Some((account, scope));
        self.cancel_pool_orders(account, scope);
        let markets: Vec<MarketId> = self
            .pool_positions(account, scope)
            .iter()
            .map(|(mi, _)| self.markets[*mi].id)
            .collect();
        let mut band_failed = false;
        for _ in 0..MAX_LIQUIDATION_ROUNDS {
            let h = self.pool_health_of(account, scope);
            let end = self.end_requirement(account, scope, None);
            if !h.equity_usd.is_positive() || h.equity_usd >= end {
                break;
            }
            let Some((mi, side, qty)) = self.liquidation_slice(account, scope, h, None) else {
                break;
            };
            let filled =
                self.close_through_book(account, mi, side, qty, Close::Liquidation { keeper });
            if filled < qty {
                band_failed = true;
                break;
            }
        }
        let h = self.pool_health_of(account, scope);
        let in_waterfall = h.below_maintenance() && (band_failed || !h.equity_usd.is_positive());
        if in_waterfall {
            self.waterfall(account, scope);
        }
        self.liquidating_pool = None;
        for market in markets {
            let closed = self
                .acct(account)
                .position(market)
                .is_some_and(|p| p.qty.is_zero());
            self.release_if_idle(account, market, closed);
        }
        let h = self.pool_health_of(account, scope);
        self.events.push(Event::LiquidationEnded {
            account,
            scope,
            equity_usd: h.equity_usd,
            maintenance_usd: h.maintenance_usd,
            in_waterfall,
        });
        self.reevaluate(account);
    }

    fn pool_health_of(&self, account: AccountId, scope: Scope) -> Health {
        bounded(self.pool_health(self.acct(account), scope, None))
    }

    /// The positions of a pool: (market index, position), open ones only.
    fn pool_positions(&self, account: AccountId, scope: Scope) -> Vec<(usize, Position)> {
        self.acct(account)
            .positions
            .iter()
            .filter(|p| !p.qty.is_zero() && in_scope(p, scope))
            .map(|p| (p.market.0 as usize, *p))
            .collect()
    }

    /// Sum over the pool's positions of maintenance x the end multiplier: the market's
    /// `liquidation_end_multiplier`, or `k` when given (the vault's own margin multiplier).
    fn end_requirement(&self, account: AccountId, scope: Scope, k: Option<Ppm>) -> Usd {
        let mut total = Usd::ZERO;
        for (mi, p) in self.pool_positions(account, scope) {
            let m = &self.markets[mi];
            let notional = bounded(margin::notional_ceil_usd(
                p.qty,
                m.mark,
                m.params.lots_per_unit,
            ));
            let mm = bounded(margin::maintenance_usd(&m.params, notional));
            let k = k.unwrap_or(m.params.liquidation_end_multiplier);
            let end = bounded(mm.mul_ppm(k, Round::Ceil));
            total = bounded(total.checked_add(end));
        }
        total
    }

    /// What to close next: the position with the largest maintenance requirement, and enough of
    /// it that equity would reach the end requirement if the fill came at the mark. Closing a
    /// notional x frees k * f * x of requirement (k the end multiplier, f the maintenance
    /// fraction) and costs (penalty + taker fee) * x of equity, so x = deficit / (k f - cost).
    fn liquidation_slice(
        &self,
        account: AccountId,
        scope: Scope,
        h: Health,
        k_override: Option<Ppm>,
    ) -> Option<(usize, Side, Qty)> {
        let mut best: Option<(Usd, usize, Position)> = None;
        for (mi, p) in self.pool_positions(account, scope) {
            let m = &self.markets[mi];
            let notional = bounded(margin::notional_ceil_usd(
                p.qty,
                m.mark,
                m.params.lots_per_unit,
            ));
            let mm = bounded(margin::maintenance_usd(&m.params, notional));
            if best.as_ref().is_none_or(|(b, _, _)| mm > *b) {
                best = Some((mm, mi, p));
            }
        }
        let (_, mi, p) = best?;
        let m = &self.markets[mi];
        let side = if p.qty.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let end = self.end_requirement(account, scope, k_override);
        let deficit = bounded(end.checked_sub(h.equity_usd)).max(Usd::from_micros(1));
        let notional = bounded(margin::notional_ceil_usd(
            p.qty,
            m.mark,
            m.params.lots_per_unit,
        ));
        let f = margin::maintenance_fraction(&m.params, notional).raw() as i128;
        let k = k_override
            .unwrap_or(m.params.liquidation_end_multiplier)
            .raw() as i128;
        let penalty = if k_override.is_some() {
            0
        } else {
            m.params.liquidation_penalty.raw()
        };
        let fixed_cost = (penalty + m.params.taker_fee.raw().max(0)) as i128;
        let all = p.qty.abs();
        let lots = m.params.lots_per_unit as i128;
        let mark = m.mark.micros() as i128;
        if !m.mark.is_positive() {
            return Some((mi, side, all));
        }
        let gain = k * f / PPM_ONE as i128;
        // First with no slippage, then again with the slippage the book would actually give
        // those lots: a thin account closed too far below the mark would be bankrupted by its own
        // liquidation. If closing cannot gain health at that cost, close everything.
        let mut qty = all;
        let mut cost = fixed_cost;
        for _ in 0..2 {
            let gain_ppm = gain - cost;
            if gain_ppm <= 0 {
                return Some((mi, side, all));
            }
            let x_usd = (deficit.micros() as i128 * PPM_ONE as i128 + gain_ppm - 1) / gain_ppm;
            qty = Qty(((x_usd * lots + mark - 1) / mark).clamp(1, all.0 as i128) as i64);
            let band = band_edge(
                m.mark,
                m.params.liquidation_band,
                m.params.tick_size,
                m.params.max_price,
                side,
            );
            let Some(slip_ppm) = slippage_ppm(m, side, band, qty) else {
                break;
            };
            cost = fixed_cost + slip_ppm;
        }
        Some((mi, side, qty))
    }

    /// Cancel the pool's resting orders: all cross-market orders for the cross pool, the
    /// market's orders for an isolated one.
    fn cancel_pool_orders(&mut self, account: AccountId, scope: Scope) {
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
            self.release_if_idle(account, m, false);
        }
    }

    /// Send an IOC, reduce-only order that closes up to `qty` lots, within the market's
    /// liquidation band unless `how` is `Unbanded`; a liquidation is charged the penalty.
    /// Returns the lots filled.
    fn close_through_book(
        &mut self,
        account: AccountId,
        mi: usize,
        side: Side,
        qty: Qty,
        how: Close,
    ) -> Qty {
        let banded = !matches!(how, Close::Unbanded);
        let m = &self.markets[mi];
        let a = self.acct(account);
        let Ok(index) = a.position_index(m.id) else {
            return Qty::ZERO;
        };
        let pos = a.positions[index];
        let limit = if banded {
            band_edge(
                m.mark,
                m.params.liquidation_band,
                m.params.tick_size,
                m.params.max_price,
                side,
            )
        } else {
            match side {
                Side::Buy => Price::from_micros(
                    m.params.max_price.micros()
                        - m.params.max_price.micros() % m.params.tick_size.micros(),
                ),
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
        if self
            .plan_matching(mi, &o, &pos, Ok(index), qty, limit)
            .is_err()
        {
            return Qty::ZERO;
        }
        let (mut filled, mut closed_notional) = (Qty::ZERO, Usd::ZERO);
        for s in &self.steps {
            if let super::Step::Fill { qty, notional, .. } = s {
                filled.0 += qty.0;
                closed_notional = bounded(closed_notional.checked_add(*notional));
            }
        }
        self.liquidating = true;
        self.commit_order(mi, &o, qty, limit);
        self.liquidating = false;
        if let (Close::Liquidation { keeper }, true) = (how, filled.is_positive()) {
            self.charge_penalty(
                account,
                pos.mode,
                self.markets[mi].id,
                closed_notional,
                keeper,
            );
        }
        filled
    }

    fn charge_penalty(
        &mut self,
        account: AccountId,
        mode: MarginMode,
        market: MarketId,
        closed_notional: Usd,
        keeper: Option<AccountId>,
    ) {
        let p = &self.markets[market.0 as usize].params;
        let scope = scope_of(mode, market);
        let full = bounded(closed_notional.mul_ppm(p.liquidation_penalty, Round::Ceil));
        let h = self.pool_health_of(account, scope);
        // The penalty never makes the pool bankrupt, nor pushes it back below maintenance: it
        // takes at most the equity above the maintenance requirement left after the close.
        let surplus = bounded(h.equity_usd.checked_sub(h.maintenance_usd));
        let penalty = full.min(surplus.max(Usd::ZERO));
        let to_keeper = match keeper {
            Some(_) => bounded(penalty.mul_ppm(p.keeper_reward_share, Round::Floor)),
            None => Usd::ZERO,
        };
        let to_insurance = bounded(penalty.checked_sub(to_keeper));
        self.add_to_pool(account, scope, bounded(penalty.checked_neg()));
        if let Some(k) = keeper {
            let a = self.acct_mut(k);
            a.collateral_usd = bounded(a.collateral_usd.checked_add(to_keeper));
        }
        self.insurance_usd = bounded(self.insurance_usd.checked_add(to_insurance));
        self.events.push(Event::LiquidationPenalty {
            account,
            market,
            closed_notional_usd: closed_notional,
            penalty_usd: penalty,
            to_insurance_usd: to_insurance,
            to_keeper_usd: to_keeper,
        });
        if let Some(k) = keeper {
            self.reevaluate(k);
        }
    }

    /// Add `delta` (may be negative) to a pool's collateral.
    fn add_to_pool(&mut self, account: AccountId, scope: Scope, delta: Usd) {
        let a = self.acct_mut(account);
        match scope {
            Scope::Cross => a.collateral_usd = bounded(a.collateral_usd.checked_add(delta)),
            Scope::Isolated(m) => {
                let i = a
                    .position_index(m)
                    .expect("an isolated pool has its position entry");
                let p = &mut a.positions[i];
                p.isolated_usd = bounded(p.isolated_usd.checked_add(delta));
            }
        }
    }

    /// A trade between two accounts outside the book (vault takeover, ADL), at `price`, with no
    /// fees: `a` trades on `a_side`, `b` on the other side. Realized PnL lands in each pool.
    fn direct_fill(
        &mut self,
        mi: usize,
        a: AccountId,
        a_side: Side,
        b: AccountId,
        qty: Qty,
        price: Price,
    ) {
        let market = self.markets[mi].id;
        let notional = bounded(margin::fill_notional_usd(
            qty,
            price,
            self.markets[mi].params.lots_per_unit,
        ));
        let mut oi_delta = 0i64;
        for (acc, side) in [(a, a_side), (b, a_side.opposite())] {
            let account = self.acct_mut(acc);
            let i = match account.position_index(market) {
                Ok(i) => i,
                Err(i) => {
                    account
                        .positions
                        .insert(i, Position::new(market, MarginMode::Cross));
                    i
                }
            };
            let p = &mut account.positions[i];
            let old = p.qty;
            let realized = bounded(p.apply_fill(side, qty, notional));
            oi_delta += p.qty.0.max(0) - old.0.max(0);
            match p.mode {
                MarginMode::Cross => {
                    account.collateral_usd = bounded(account.collateral_usd.checked_add(realized))
                }
                MarginMode::Isolated => {
                    p.isolated_usd = bounded(p.isolated_usd.checked_add(realized))
                }
            }
        }
        let m = &mut self.markets[mi];
        m.open_interest = Qty(m.open_interest.0 + oi_delta);
    }

    fn waterfall(&mut self, account: AccountId, scope: Scope) {
        let positions = self.pool_positions(account, scope);
        let equity = self.pool_health_of(account, scope).equity_usd;
        if equity.is_negative() {
            self.events.push(Event::Bankrupt {
                account,
                scope,
                deficit_usd: bounded(equity.checked_neg()),
            });
        }
        // The market with the largest position decides which stages are on.
        let primary = positions
            .iter()
            .max_by_key(|(mi, p)| {
                let m = &self.markets[*mi];
                (
                    bounded(margin::notional_ceil_usd(
                        p.qty,
                        m.mark,
                        m.params.lots_per_unit,
                    )),
                    std::cmp::Reverse(*mi),
                )
            })
            .map(|(mi, _)| *mi)
            .or_else(|| {
                self.acct(account)
                    .positions
                    .first()
                    .map(|p| p.market.0 as usize)
            })
            .unwrap_or(0);
        let Some(wf) = self.markets.get(primary).map(|m| m.params.waterfall) else {
            self.cover_uncovered(account, scope);
            return;
        };
        if wf.vault
            && !positions.is_empty()
            && account != VAULT
            && self.vault_accepts(&positions, equity)
        {
            self.vault_takeover(account, scope, &positions, equity);
            return;
        }
        // Who was on the other side, for socialization: (market, sign of the bankrupt position).
        let sides: Vec<(usize, i64, Usd)> = positions
            .iter()
            .map(|(mi, p)| {
                let m = &self.markets[*mi];
                (
                    *mi,
                    p.qty.signum(),
                    bounded(margin::notional_ceil_usd(
                        p.qty,
                        m.mark,
                        m.params.lots_per_unit,
                    )),
                )
            })
            .collect();
        let mut closes = Vec::new();
        for (mi, p) in &positions {
            if self.markets[*mi].params.waterfall.adl {
                self.adl_close(account, *mi, p.qty, &mut closes);
            } else {
                let side = if p.qty.is_positive() {
                    Side::Sell
                } else {
                    Side::Buy
                };
                self.close_through_book(account, *mi, side, p.qty.abs(), Close::Unbanded);
            }
        }
        let mut deficit = self.pool_deficit(account, scope);
        if deficit.is_positive() && wf.insurance && self.insurance_usd.is_positive() {
            let pay = deficit.min(self.insurance_usd);
            self.insurance_usd = bounded(self.insurance_usd.checked_sub(pay));
            self.add_to_pool(account, scope, pay);
            deficit = bounded(deficit.checked_sub(pay));
            self.events.push(Event::InsurancePayout {
                account,
                amount_usd: pay,
                fund_after_usd: self.insurance_usd,
            });
        }
        // The deleveraged counterparties cover the share of the deficit that belongs to the
        // markets where ADL ran (by the pool's notional in each), not losses made elsewhere.
        let adl_flags: Vec<bool> = self
            .markets
            .iter()
            .map(|m| m.params.waterfall.adl)
            .collect();
        let adl_on = |mi: usize| adl_flags[mi];
        let total_notional: i128 = sides.iter().map(|s| s.2.micros() as i128).sum();
        let adl_notional: i128 = sides
            .iter()
            .filter(|s| adl_on(s.0))
            .map(|s| s.2.micros() as i128)
            .sum();
        let haircut_total = if closes.is_empty() || total_notional == 0 {
            Usd::ZERO
        } else if adl_notional == total_notional {
            deficit
        } else {
            Usd::from_micros((deficit.micros() as i128 * adl_notional / total_notional) as i64)
        };
        self.settle_adl(account, scope, &closes, haircut_total);
        deficit = bounded(deficit.checked_sub(haircut_total));
        if deficit.is_positive() && wf.socialize {
            // What is left belongs to the markets without ADL, when there are any.
            let rest: Vec<(usize, i64, Usd)> =
                sides.iter().copied().filter(|s| !adl_on(s.0)).collect();
            let sides = if closes.is_empty() || rest.is_empty() {
                &sides
            } else {
                &rest
            };
            let covered = self.socialize(account, scope, sides, deficit);
            deficit = bounded(deficit.checked_sub(covered));
        }
        if deficit.is_positive() {
            self.cover_uncovered(account, scope);
        }
        for (mi, _) in &positions {
            let market = self.markets[*mi].id;
            self.release_if_idle(account, market, false);
        }
    }

    /// How far below zero the pool's equity is (zero if it is not).
    fn pool_deficit(&self, account: AccountId, scope: Scope) -> Usd {
        let e = self.pool_health_of(account, scope).equity_usd;
        bounded(e.checked_neg()).max(Usd::ZERO)
    }

    /// Record what no stage covered as bad debt and bring the pool back to zero.
    fn cover_uncovered(&mut self, account: AccountId, scope: Scope) {
        let d = self.pool_deficit(account, scope);
        if !d.is_positive() {
            return;
        }
        self.add_to_pool(account, scope, d);
        self.bad_debt_usd = bounded(self.bad_debt_usd.checked_add(d));
        self.events.push(Event::UncoveredLoss {
            account,
            amount_usd: d,
        });
    }

    /// Would the vault stay within its margin limit after taking these positions at the mark
    /// and the pool's equity (negative: a loss) with them?
    fn vault_accepts(&self, positions: &[(usize, Position)], equity: Usd) -> bool {
        let mut v: Account = self.vault.account.clone();
        for (mi, p) in positions {
            let m = &self.markets[*mi];
            let side = if p.qty.is_positive() {
                Side::Buy
            } else {
                Side::Sell
            };
            let Ok(notional) =
                margin::fill_notional_usd(p.qty.abs(), m.mark, m.params.lots_per_unit)
            else {
                return false;
            };
            let i = match v.position_index(m.id) {
                Ok(i) => i,
                Err(i) => {
                    v.positions
                        .insert(i, Position::new(m.id, MarginMode::Cross));
                    i
                }
            };
            let Ok(realized) = v.positions[i].apply_fill(side, p.qty.abs(), notional) else {
                return false;
            };
            let Ok(c) = v.collateral_usd.checked_add(realized) else {
                return false;
            };
            v.collateral_usd = c;
        }
        let Ok(c) = v.collateral_usd.checked_add(equity) else {
            return false;
        };
        v.collateral_usd = c;
        let Ok(h) = self.pool_health(&v, Scope::Cross, None) else {
            return false;
        };
        let Ok(limit) = h
            .maintenance_usd
            .mul_ppm(self.venue.vault_margin_multiplier, Round::Ceil)
        else {
            return false;
        };
        h.equity_usd.is_positive() && h.equity_usd >= limit
    }

    fn vault_takeover(
        &mut self,
        account: AccountId,
        scope: Scope,
        positions: &[(usize, Position)],
        equity: Usd,
    ) {
        let notionals: Vec<i128> = positions
            .iter()
            .map(|(mi, p)| {
                let m = &self.markets[*mi];
                bounded(margin::notional_ceil_usd(
                    p.qty,
                    m.mark,
                    m.params.lots_per_unit,
                ))
                .micros() as i128
            })
            .collect();
        let total: i128 = notionals.iter().sum::<i128>().max(1);
        let mut allocated = 0i128;
        for (k, (mi, p)) in positions.iter().enumerate() {
            let m = &self.markets[*mi];
            let (mark, lots, market) = (m.mark, m.params.lots_per_unit, m.id);
            // The equity handed over with each position, in proportion to notional; the last
            // position takes the rounding remainder so the parts add up exactly.
            let share = if k + 1 == positions.len() {
                equity.micros() as i128 - allocated
            } else {
                (equity.micros() as i128 * notionals[k]).div_euclid(total)
            };
            allocated += share;
            let side = if p.qty.is_positive() {
                Side::Sell
            } else {
                Side::Buy
            };
            self.direct_fill(*mi, account, side, VAULT, p.qty.abs(), mark);
            self.release_if_idle(VAULT, market, true);
            // Bankruptcy price: where this position's share of equity would be zero.
            let per_lot = share * lots as i128 / p.qty.0 as i128;
            let bankruptcy_price = Price::from_micros(
                (mark.micros() as i128 - per_lot).clamp(1, i64::MAX as i128) as i64,
            );
            self.events.push(Event::VaultTakeover {
                account,
                market,
                qty: p.qty,
                bankruptcy_price,
                equity_usd: Usd::from_micros(share as i64),
            });
        }
        // Whatever the pool holds now (its equity, realized at the mark) goes to the vault.
        let left = self.pool_health_of(account, scope).equity_usd;
        self.add_to_pool(account, scope, bounded(left.checked_neg()));
        self.vault.account.collateral_usd =
            bounded(self.vault.account.collateral_usd.checked_add(left));
        for (mi, _) in positions {
            let market = self.markets[*mi].id;
            self.release_if_idle(account, market, false);
        }
    }

    /// Close the bankrupt position `qty` in market `mi` against opposite positions at the mark,
    /// choosing them by the market's ADL policy. Exactly |qty| lots are closed, never more.
    fn adl_close(&mut self, bankrupt: AccountId, mi: usize, qty: Qty, closes: &mut Vec<AdlClose>) {
        let m = &self.markets[mi];
        let (market, mark, policy) = (m.id, m.mark, m.params.adl_policy);
        let plan = self.adl_plan(bankrupt, mi, qty, policy);
        let side = if qty.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        for (cp, cp_qty, close) in plan {
            self.direct_fill(mi, bankrupt, side, cp, close, mark);
            self.release_if_idle(cp, market, true);
            closes.push(AdlClose {
                counterparty: cp,
                market,
                qty: Qty(close.0 * cp_qty.signum()),
                mark,
            });
        }
    }

    /// (counterparty, its position, lots to close) for an ADL of `qty` in market `mi`.
    ///
    /// The ranked policy reads the candidates in the order computed at the first ADL of this
    /// market and side within the command (a scan of every account, done once per command,
    /// not once per bankruptcy), with each candidate's position as it is now.
    fn adl_plan(
        &mut self,
        bankrupt: AccountId,
        mi: usize,
        qty: Qty,
        policy: crate::command::AdlPolicy,
    ) -> Vec<(AccountId, Qty, Qty)> {
        let market = self.markets[mi].id;
        let want_sign = -qty.signum();
        let key = (market, want_sign);
        let k = match self.adl_cache.iter().position(|(kk, _)| *kk == key) {
            Some(k) => k,
            None => {
                let ranked = self.adl_candidates(market, want_sign, policy);
                self.adl_cache.push((key, ranked));
                self.adl_cache.len() - 1
            }
        };
        let current = |e: &Engine, id: AccountId| -> Option<Qty> {
            let p = e.acct(id).position(market)?;
            (id != bankrupt && p.qty.signum() == want_sign).then_some(p.qty)
        };
        let need = qty.abs().0;
        let mut plan = Vec::new();
        match policy {
            crate::command::AdlPolicy::Ranked => {
                let mut left = need;
                for &id in &self.adl_cache[k].1 {
                    if left == 0 {
                        break;
                    }
                    let Some(q) = current(self, id) else { continue };
                    let close = q.abs().0.min(left);
                    left -= close;
                    plan.push((id, q, Qty(close)));
                }
                if left > 0 {
                    // Someone took the opposite side since the list was ranked (the vault took
                    // a position over, say): rank again and start over.
                    self.adl_cache[k].1 = self.adl_candidates(market, want_sign, policy);
                    plan.clear();
                    left = need;
                    for &id in &self.adl_cache[k].1 {
                        if left == 0 {
                            break;
                        }
                        let Some(q) = current(self, id) else { continue };
                        let close = q.abs().0.min(left);
                        left -= close;
                        plan.push((id, q, Qty(close)));
                    }
                }
            }
            crate::command::AdlPolicy::ProRata => {
                let mut cands: Vec<(AccountId, Qty)> = self.adl_cache[k]
                    .1
                    .iter()
                    .filter_map(|&id| current(self, id).map(|q| (id, q)))
                    .collect();
                let total: i128 = cands.iter().map(|c| c.1.abs().0 as i128).sum();
                if total == 0 {
                    return plan;
                }
                // Shares rounded down, then the remaining lots one each to the largest
                // positions (ties by id) so the total is exactly what is needed.
                cands.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
                let mut shares: Vec<i64> = cands
                    .iter()
                    .map(|c| (need as i128 * c.1.abs().0 as i128 / total) as i64)
                    .collect();
                let mut left = need - shares.iter().sum::<i64>();
                while left > 0 {
                    let before = left;
                    for (j, c) in cands.iter().enumerate() {
                        if left > 0 && shares[j] < c.1.abs().0 {
                            shares[j] += 1;
                            left -= 1;
                        }
                    }
                    if left == before {
                        break;
                    }
                }
                for (j, (id, q)) in cands.into_iter().enumerate() {
                    if shares[j] > 0 {
                        plan.push((id, q, Qty(shares[j])));
                    }
                }
            }
        }
        plan
    }

    /// Every account (and the vault) with a position of sign `sign` in `market`: ranked by
    /// score for the ranked policy (ties by id), by id for pro rata.
    fn adl_candidates(
        &self,
        market: MarketId,
        sign: i64,
        policy: crate::command::AdlPolicy,
    ) -> Vec<AccountId> {
        let ids = (0..self.accounts.len() as u32)
            .map(AccountId)
            .chain(std::iter::once(VAULT));
        let mut cands: Vec<(i128, AccountId)> = Vec::new();
        for id in ids {
            let a = self.acct(id);
            let Some(p) = a
                .position(market)
                .filter(|p| a.active && p.qty.signum() == sign)
            else {
                continue;
            };
            let score = match policy {
                crate::command::AdlPolicy::Ranked => self.adl_score(a, p),
                crate::command::AdlPolicy::ProRata => 0,
            };
            cands.push((score, id));
        }
        cands.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        cands.into_iter().map(|(_, id)| id).collect()
    }

    /// ADL rank: profit fraction x effective leverage = upnl/|cost| x notional/equity, in ppm.
    /// Losing or underwater positions rank below every profitable one.
    fn adl_score(&self, a: &Account, p: &Position) -> i128 {
        let m = &self.markets[p.market.0 as usize];
        let Ok(value) = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit) else {
            return i128::MIN;
        };
        let upnl = value.micros() as i128 - p.cost_usd.micros() as i128;
        let scope = scope_of(p.mode, p.market);
        let equity = self
            .pool_health(a, scope, None)
            .map(|h| h.equity_usd.micros())
            .unwrap_or(0) as i128;
        let cost = (p.cost_usd.micros() as i128).abs().max(1);
        if upnl <= 0 || equity <= 0 {
            return upnl.min(0) - 1;
        }
        let notional = (value.micros() as i128).abs();
        upnl.saturating_mul(notional)
            .saturating_mul(PPM_ONE as i128)
            / cost.saturating_mul(equity)
    }

    /// Stage d: the deleveraged counterparties pay `total` (the deficit left after the
    /// insurance fund) in proportion to the lots closed against them, rounded up; the excess of
    /// the rounding goes to the insurance fund. Emits one `Deleveraged` per close.
    fn settle_adl(&mut self, bankrupt: AccountId, scope: Scope, closes: &[AdlClose], total: Usd) {
        let lots: i128 = closes
            .iter()
            .map(|c| c.qty.abs().0 as i128)
            .sum::<i128>()
            .max(1);
        let mut collected = Usd::ZERO;
        for c in closes {
            let haircut = if total.is_positive() {
                let h = (total.micros() as i128 * c.qty.abs().0 as i128 + lots - 1) / lots;
                Usd::from_micros(h as i64)
            } else {
                Usd::ZERO
            };
            if haircut.is_positive() {
                let cp_scope = self.counterparty_scope(c.counterparty, c.market);
                self.add_to_pool(c.counterparty, cp_scope, bounded(haircut.checked_neg()));
                let a = self.acct_mut(c.counterparty);
                a.adl_haircut_usd = bounded(a.adl_haircut_usd.checked_add(haircut));
                collected = bounded(collected.checked_add(haircut));
            }
            let lots_per_unit = self.markets[c.market.0 as usize].params.lots_per_unit;
            let per_lot = haircut.micros() as i128 * lots_per_unit as i128 / c.qty.abs().0 as i128;
            let price = c.mark.micros() as i128 - per_lot * c.qty.signum() as i128;
            self.events.push(Event::Deleveraged {
                bankrupt,
                counterparty: c.counterparty,
                market: c.market,
                qty: c.qty,
                price: Price::from_micros(price.clamp(1, i64::MAX as i128) as i64),
                haircut_usd: haircut,
            });
            self.reevaluate(c.counterparty);
        }
        if total.is_positive() {
            self.add_to_pool(bankrupt, scope, total);
            let excess = bounded(collected.checked_sub(total));
            self.insurance_usd = bounded(self.insurance_usd.checked_add(excess));
        }
    }

    /// The pool a counterparty's position in `market` belongs to. After an ADL close its entry
    /// may be gone (fully closed cross position): then the cross pool.
    fn counterparty_scope(&self, account: AccountId, market: MarketId) -> Scope {
        match self.acct(account).position(market) {
            Some(p) if p.mode == MarginMode::Isolated => Scope::Isolated(market),
            _ => Scope::Cross,
        }
    }

    /// Stage e: share `deficit` across the opposite side of the bankrupt pool's markets (in
    /// proportion to the pool's notional in each), pro rata to position size, rounded up; the
    /// rounding excess goes to the insurance fund. Returns what was covered. Accounts with no
    /// open position never pay.
    fn socialize(
        &mut self,
        bankrupt: AccountId,
        scope: Scope,
        sides: &[(usize, i64, Usd)],
        deficit: Usd,
    ) -> Usd {
        let total_notional: i128 = sides.iter().map(|s| s.2.micros() as i128).sum::<i128>();
        let mut covered = Usd::ZERO;
        let mut allocated = 0i128;
        for (k, &(mi, sign, notional)) in sides.iter().enumerate() {
            let part = if k + 1 == sides.len() || total_notional == 0 {
                deficit.micros() as i128 - allocated
            } else {
                deficit.micros() as i128 * notional.micros() as i128 / total_notional
            };
            allocated += part;
            let part = Usd::from_micros(part as i64);
            if !part.is_positive() {
                continue;
            }
            let market = self.markets[mi].id;
            let payers: Vec<(AccountId, Qty, Scope)> = (0..self.accounts.len() as u32)
                .map(AccountId)
                .chain(std::iter::once(VAULT))
                .filter(|id| *id != bankrupt)
                .filter_map(|id| {
                    let a = self.acct(id);
                    let p = a
                        .position(market)
                        .filter(|p| a.active && p.qty.signum() == -sign)?;
                    Some((id, p.qty.abs(), scope_of(p.mode, market)))
                })
                .collect();
            let lots: i128 = payers.iter().map(|p| p.1 .0 as i128).sum();
            if lots == 0 {
                continue;
            }
            let mut collected = Usd::ZERO;
            for (id, q, pool) in &payers {
                let share = (part.micros() as i128 * q.0 as i128 + lots - 1) / lots;
                let share = Usd::from_micros(share as i64);
                self.add_to_pool(*id, *pool, bounded(share.checked_neg()));
                let a = self.acct_mut(*id);
                a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(share));
                collected = bounded(collected.checked_add(share));
                self.events.push(Event::SocializedLoss {
                    account: *id,
                    market,
                    amount_usd: share,
                });
            }
            self.add_to_pool(bankrupt, scope, part);
            let excess = bounded(collected.checked_sub(part));
            self.insurance_usd = bounded(self.insurance_usd.checked_add(excess));
            covered = bounded(covered.checked_add(part));
            for (id, _, _) in payers {
                self.reevaluate(id);
            }
        }
        covered
    }

    /// Keep the vault inside its own margin limit by reducing its largest position through the
    /// book, within the liquidation band.
    pub(super) fn reduce_vault(&mut self) {
        for _ in 0..MAX_VAULT_REDUCE_ROUNDS {
            if self.vault.account.positions.is_empty() || !self.vault_over_limit() {
                break;
            }
            let h = self.pool_health_of(VAULT, Scope::Cross);
            let k = Some(self.venue.vault_margin_multiplier);
            let Some((mi, side, qty)) = self.liquidation_slice(VAULT, Scope::Cross, h, k) else {
                break;
            };
            let filled = self.close_through_book(VAULT, mi, side, qty, Close::VaultReduce);
            if filled.is_zero() {
                break;
            }
            let market = self.markets[mi].id;
            self.events.push(Event::VaultReduced {
                market,
                qty: filled,
            });
        }
        // A vault the book could not bring back above its own maintenance is liquidated like
        // any account: its LPs' equity absorbs the loss first, then the rest of the waterfall
        // (without the vault stage). Its equity never stays negative.
        let h = self.pool_health_of(VAULT, Scope::Cross);
        if h.below_maintenance() {
            self.events.push(Event::LiquidationStarted {
                account: VAULT,
                scope: Scope::Cross,
                keeper: None,
                equity_usd: h.equity_usd,
                maintenance_usd: h.maintenance_usd,
            });
            self.waterfall(VAULT, Scope::Cross);
            let h = self.pool_health_of(VAULT, Scope::Cross);
            self.events.push(Event::LiquidationEnded {
                account: VAULT,
                scope: Scope::Cross,
                equity_usd: h.equity_usd,
                maintenance_usd: h.maintenance_usd,
                in_waterfall: true,
            });
        }
    }
}

/// The average distance from the mark, in ppm of the mark, at which a taker on `side` would
/// fill `qty` lots against the book within `limit`; `None` if the book cannot fill them.
fn slippage_ppm(m: &crate::market::Market, side: Side, limit: Price, qty: Qty) -> Option<i128> {
    let mut left = qty.0 as i128;
    let mut cost = 0i128; // sum of lots x price, micro-USD
    for o in m.book.crossing(side, limit) {
        let q = left.min(o.remaining.0 as i128);
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
        Side::Sell => mark * qty.0 as i128 - cost,
        Side::Buy => cost - mark * qty.0 as i128,
    };
    let denom = mark * qty.0 as i128;
    Some((avg_gap.max(0) * PPM_ONE as i128 + denom - 1) / denom)
}

fn in_scope(p: &Position, scope: Scope) -> bool {
    match scope {
        Scope::Cross => p.mode == MarginMode::Cross,
        Scope::Isolated(m) => p.mode == MarginMode::Isolated && p.market == m,
    }
}

fn scope_of(mode: MarginMode, market: MarketId) -> Scope {
    match mode {
        MarginMode::Cross => Scope::Cross,
        MarginMode::Isolated => Scope::Isolated(market),
    }
}

/// The edge of a band of `band` around `mark` on the side a taker on `side` pays, snapped
/// inward onto the tick grid (buys down, sells up) and kept within (0, max_price].
pub(super) fn band_edge(
    mark: Price,
    band: Ppm,
    tick: Price,
    max_price: Price,
    side: Side,
) -> Price {
    let tick = tick.micros();
    let width = mul_div(mark.micros(), band.raw(), PPM_ONE, Round::Floor).unwrap_or(0);
    let edge = match side {
        Side::Buy => {
            let raw = mark.micros().saturating_add(width).min(max_price.micros());
            raw - raw.rem_euclid(tick)
        }
        Side::Sell => {
            let raw = mark.micros() - width;
            raw + (tick - raw.rem_euclid(tick)) % tick
        }
    };
    Price::from_micros(edge.max(tick))
}
