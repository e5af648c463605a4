//! Orders: plan an order on copies of every account it touches (fills, fees, realized PnL, all
//! checked), check its risk on the plan, then commit. A rejected plan changes nothing.

use super::defences::Gate;
use super::params::validate_price;
use super::*;
use crate::account::{Account, Position};
use crate::book::{NewOrder, Order, Side};
use crate::command::{MarginMode, OrderKind, PlaceOrder, SelfTrade};
use crate::event::{CancelReason, Event, Scope};
use crate::margin::{self};
use crate::market::Market;
use crate::reject::Reject;
use bulwark_core::{
    mul_div, AccountId, ArithResult, MarketId, OrderId, Ppm, Price, Qty, Round, Usd,
};

/// One planned step of matching an incoming order.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    Fill {
        maker: OrderId,
        maker_account: AccountId,
        price: Price,
        qty: Qty,
        notional: Usd,
        maker_fee: Usd,
        taker_fee: Usd,
        maker_realized: Usd,
        taker_realized: Usd,
    },
    CancelMaker {
        order: OrderId,
        account: AccountId,
        qty: Qty,
        reason: CancelReason,
    },
}

/// Why matching stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PlanEnd {
    /// Filled, or nothing crosses any more: a limit order's rest may rest.
    Exhausted,
    /// Met the account's own order with cancel-taker or cancel-both.
    SelfTrade,
    /// Met `max_fills_per_order` orders; the rest is cancelled so the book never crosses.
    WorkLimit,
}

/// An account's state for one market while an order is planned.
#[derive(Clone, Copy, Debug)]
pub(super) struct Draft {
    account: AccountId,
    collateral: Usd,
    pos: Position,
    /// Where the position sits (Ok) or would be inserted (Err) in the account's list.
    index: Result<usize, usize>,
    /// Whether anything that maintenance depends on changed (set at write-back).
    changed: bool,
    /// Whether the order closed the position (set at write-back).
    closed_now: bool,
    /// The sign of the position before the order (set when drafted).
    closed_sign: i64,
    /// Funding and socialized loss the position had pending, settled into the draft's pool
    /// when the draft was made (booked to the market's clearing balances at write-back).
    funding: Usd,
    loss: Usd,
}

impl Draft {
    /// The collateral of the position's pool as drafted.
    fn pool_value(&self) -> Usd {
        match self.pos.mode {
            MarginMode::Cross => self.collateral,
            MarginMode::Isolated => self.pos.isolated_usd,
        }
    }

    /// The pool that pays this position's fees and receives its PnL.
    fn pool(&mut self) -> &mut Usd {
        match self.pos.mode {
            MarginMode::Cross => &mut self.collateral,
            MarginMode::Isolated => &mut self.pos.isolated_usd,
        }
    }
}

impl Engine {
    pub(super) fn place_order(&mut self, o: &PlaceOrder) -> Result<(), Reject> {
        let mi = self.market_index(o.market)?;
        let a = self.active_account(o.account)?;
        let scope = scope_of(o.margin, o.market);
        if self.pool_in_bankruptcy(o.account, scope) {
            // Only the engine trades a pool whose loss is not yet booked.
            return Err(Reject::PoolInBankruptcy {
                account: o.account,
                scope,
            });
        }
        let m = &self.markets[mi];
        let p = &m.params;
        if !o.qty.is_positive() {
            return Err(Reject::QtyNotPositive(o.qty));
        }
        if o.qty > p.max_order_qty {
            return Err(Reject::QtyTooLarge {
                qty: o.qty,
                limit: p.max_order_qty,
            });
        }
        let limit = self.order_limit_price(m, o)?;
        let gate = self.order_gate(m, o, limit)?;
        let index = self.order_position(a, o)?;
        let pos = match index {
            Ok(i) => a.positions[i],
            Err(_) => Position::new(o.market, o.margin),
        };
        let mut qty = o.qty;
        if o.reduce_only {
            let reducible = pos.reducible_by(o.side);
            if reducible.is_zero() {
                return Err(Reject::ReduceOnlyWouldIncrease);
            }
            qty = qty.min(reducible);
        }
        let may_rest = matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly);
        if o.kind == OrderKind::PostOnly {
            if let Some(best) = m.book.best(o.side.opposite()) {
                if o.side.crosses(limit, best) {
                    return Err(Reject::PostOnlyWouldCross { price: limit });
                }
            }
        }
        if may_rest {
            if a.orders.len() as u32 >= self.config.max_open_orders_per_account {
                return Err(Reject::TooManyOrders {
                    limit: self.config.max_open_orders_per_account,
                });
            }
            if !m.book.has_capacity() {
                return Err(Reject::BookFull);
            }
        }
        if let Some(i) = self.rests_unmatched(m, o, &pos, index, limit) {
            // Nothing to plan: no fill, no maker met, nothing pending to settle.
            self.steps.clear();
            self.plan_end = PlanEnd::Exhausted;
            let a = self.active_account(o.account)?;
            self.check_order_risk(a, &pos, o, qty, limit, gate)?;
            return Ok(self.commit_resting(mi, o, i, qty, limit)?);
        }
        self.plan_matching(mi, o, &pos, index, qty, limit)?;
        let a = self.active_account(o.account)?;
        self.check_order_risk(a, &pos, o, qty, limit, gate)?;
        Ok(self.commit_order(mi, o, qty, limit)?)
    }

    /// The index of the order's position if the order can only rest: a limit or post-only
    /// order that crosses nothing, on a position the account already holds with nothing
    /// pending to settle. (Most orders of a run: a market maker's ladder.) Its plan would be
    /// one draft of that position, no step, and a write-back that changes only the position's
    /// resting total, which `commit_resting` does in place.
    #[inline(always)]
    fn rests_unmatched(
        &self,
        m: &Market,
        o: &PlaceOrder,
        pos: &Position,
        index: Result<usize, usize>,
        limit: Price,
    ) -> Option<usize> {
        #[cfg(feature = "testing")]
        if self.hooks.plan_every_order {
            return None;
        }
        if !matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly) {
            return None;
        }
        let crosses = m
            .book
            .best(o.side.opposite())
            .is_some_and(|best| o.side.crosses(limit, best));
        let settled = pos.qty.is_zero() || super::index::is_current(m, pos);
        index.ok().filter(|_| !crosses && settled)
    }

    /// Commit an order `rests_unmatched` passed: accepted, then rested whole. The same state
    /// and events as `commit_order` of its plan (no steps, one draft whose only change is the
    /// resting total: no settlement, no change of open interest, no recheck).
    fn commit_resting(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        index: usize,
        qty: Qty,
        limit: Price,
    ) -> Bounded {
        let seq = self.next_order_seq;
        self.next_order_seq += 1;
        let id = self.book_reserve(mi, seq);
        self.events.push(Event::OrderAccepted {
            order: id,
            account: o.account,
            market: o.market,
            side: o.side,
            kind: o.kind,
            price: limit,
            qty,
        });
        self.add_resting(o.account, index, o.side, qty)?;
        self.rest_in_book(mi, id, o, limit, qty);
        Ok(())
    }

    /// Where the position the order trades sits in the account's list (or would be inserted:
    /// a new market); refuses a new market beyond the position limit and an order in the
    /// other margin mode than the position's.
    #[inline(always)]
    fn order_position(&self, a: &Account, o: &PlaceOrder) -> Result<Result<usize, usize>, Reject> {
        let index = a.position_index(o.market);
        let mode = match index {
            Ok(i) => a.positions[i].mode,
            Err(_) if a.positions.len() >= self.config.max_positions_per_account => {
                return Err(Reject::TooManyPositions {
                    limit: self.config.max_positions_per_account,
                });
            }
            Err(_) => o.margin,
        };
        if mode != o.margin {
            let current = match mode {
                MarginMode::Cross => "cross",
                MarginMode::Isolated => "isolated",
            };
            return Err(Reject::MarginModeConflict {
                market: o.market,
                current,
            });
        }
        Ok(index)
    }

    /// The order's limit: its own price (validated), or for a market order the edge of the
    /// market-order band around the mark, on the tick grid.
    pub(super) fn order_limit_price(&self, m: &Market, o: &PlaceOrder) -> Result<Price, Reject> {
        let p = &m.params;
        if o.kind == OrderKind::Market {
            return Ok(liquidation::band_edge(
                m.mark,
                p.market_order_band,
                p.tick_size,
                p.max_price,
                o.side,
            )?);
        }
        let price = o.price.ok_or(Reject::PriceMissing(kind_name(o.kind)))?;
        validate_price(price, p)?;
        Ok(price)
    }

    /// Pre-trade risk, on the plan of the order: the position limit and the initial margin of
    /// the pool, counting the worse side of all resting orders plus this one, the loss against
    /// the mark of the planned fills and of the resting rest at its limit, and the fees (taker
    /// on the fills, maker on the rest). An order that does not increase the worst case (it
    /// only reduces exposure) passes without a margin check.
    pub(super) fn check_order_risk(
        &self,
        a: &Account,
        pos: &Position,
        o: &PlaceOrder,
        qty: Qty,
        limit: Price,
        gate: Gate,
    ) -> Result<(), Reject> {
        let m = &self.markets[pos.market.0 as usize];
        let old_worst = margin::worst_case_qty(pos.qty, pos.open_buy, pos.open_sell);
        let mut with = *pos;
        let open = with.open_on(o.side);
        *open = open.checked_add(qty)?;
        let new_worst = margin::worst_case_qty(with.qty, with.open_buy, with.open_sell);
        if o.reduce_only || new_worst <= old_worst {
            return Ok(());
        }
        if gate != Gate::Open {
            if let Some(reject) = self.gate_reject(m, gate) {
                return Err(reject);
            }
        }
        if new_worst > m.params.max_position_qty {
            return Err(Reject::PositionLimit {
                qty: new_worst,
                limit: m.params.max_position_qty,
            });
        }
        // What the order can add to open interest: the part of it that opens (beyond what it
        // closes of the position); its fills add at most that.
        let opening = qty.checked_sub(qty.min(pos.reducible_by(o.side)))?;
        let im_scale = self.oi_cap_check(m, new_worst, opening)?;
        let scope = match pos.mode {
            MarginMode::Cross => Scope::Cross,
            MarginMode::Isolated => Scope::Isolated(pos.market),
        };
        let h = self.pool_health_for_initial(a, scope, Some(&with))?;
        let lots = m.params.lots_per_unit;
        let mark = m.mark.micros();
        let against = |price: Price| -> i64 {
            match o.side {
                Side::Buy => price.micros().saturating_sub(mark),
                Side::Sell => mark.saturating_sub(price.micros()),
            }
            .max(0)
        };
        let mut cost = Usd::ZERO;
        let mut filled = Qty::ZERO;
        for step in &self.steps {
            if let Step::Fill {
                price,
                qty: q,
                taker_fee,
                ..
            } = *step
            {
                let loss = Usd::from_micros(mul_div(q.lots(), against(price), lots, Round::Ceil)?);
                cost = cost
                    .checked_add(loss)?
                    .checked_add(taker_fee.max(Usd::ZERO))?;
                filled = filled.checked_add(q)?;
            }
        }
        let rests = matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly)
            && self.plan_end == PlanEnd::Exhausted;
        if rests {
            let rest = qty.checked_sub(filled)?;
            let loss = Usd::from_micros(mul_div(rest.lots(), against(limit), lots, Round::Ceil)?);
            let notional = margin::notional_ceil_usd(rest, limit, lots)?;
            let fee = margin::fee_usd(notional, m.params.maker_fee)?.max(Usd::ZERO);
            cost = cost.checked_add(loss)?.checked_add(fee)?;
        }
        let initial = if im_scale == bulwark_core::PPM_ONE {
            h.initial_usd
        } else {
            h.initial_usd
                .mul_ppm(Ppm::from_raw(im_scale), Round::Ceil)?
        };
        let required = initial.checked_add(cost)?;
        if h.equity_usd < required {
            return Err(Reject::InsufficientMargin {
                equity: h.equity_usd,
                required,
            });
        }
        Ok(())
    }

    /// Draft a resting order's account (which has a position entry in the market).
    fn push_maker_draft(
        &self,
        drafts: &mut Vec<Draft>,
        account: AccountId,
        market: MarketId,
    ) -> Result<(), Reject> {
        let a = &self.accounts[account.0 as usize];
        let index = a.position_index(market);
        let pos = match index {
            Ok(i) => &a.positions[i],
            // Invariant 3: every resting order is in its position's resting totals.
            Err(_) => unreachable!("a resting order has a position entry"), // ok: invariant 3
        };
        self.push_draft(drafts, account, a.collateral_usd, pos, index)
    }

    /// Push a draft of `pos` with its pending funding and socialized loss settled into the
    /// draft's pool (health is unchanged by it; a rejected plan discards it with the draft).
    /// Built in place: a draft is large, and the order path moves it as little as it can. A
    /// flat position, or one whose snapshots are current (the common case between funding
    /// intervals), has nothing to settle: that check is inline, the settlement is not.
    #[inline(always)]
    fn push_draft(
        &self,
        drafts: &mut Vec<Draft>,
        account: AccountId,
        collateral: Usd,
        pos: &Position,
        index: Result<usize, usize>,
    ) -> Result<(), Reject> {
        let m = &self.markets[pos.market.0 as usize];
        if pos.qty.is_zero() || super::index::is_current(m, pos) {
            drafts.push(Draft {
                account,
                collateral,
                pos: *pos,
                index,
                changed: false,
                closed_now: false,
                closed_sign: pos.qty.signum(),
                funding: Usd::ZERO,
                loss: Usd::ZERO,
            });
            return Ok(());
        }
        self.push_settled_draft(drafts, account, collateral, pos, index)
    }

    /// `push_draft` for a position with something pending: settle it on the draft.
    #[cold]
    #[inline(never)]
    fn push_settled_draft(
        &self,
        drafts: &mut Vec<Draft>,
        account: AccountId,
        collateral: Usd,
        pos: &Position,
        index: Result<usize, usize>,
    ) -> Result<(), Reject> {
        let m = &self.markets[pos.market.0 as usize];
        let mut d = Draft {
            account,
            collateral,
            pos: *pos,
            index,
            changed: false,
            closed_now: false,
            closed_sign: pos.qty.signum(),
            funding: Usd::ZERO,
            loss: Usd::ZERO,
        };
        (d.funding, d.loss) = super::index::settle(m, &mut d.pos, &mut d.collateral)?;
        drafts.push(d);
        Ok(())
    }

    /// Walk the opposite side and plan every fill and maker cancel on copies of the accounts
    /// involved. Nothing is changed; an arithmetic failure or an unfillable FOK rejects.
    pub(super) fn plan_matching(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        pos: &Position,
        index: Result<usize, usize>,
        qty: Qty,
        limit: Price,
    ) -> Result<(), Reject> {
        // The plan is built in scratch vectors taken out of `self` (so `self` can be read while
        // they grow) and put back whatever happens.
        let mut steps = std::mem::take(&mut self.steps);
        let mut drafts = std::mem::take(&mut self.drafts);
        steps.clear();
        drafts.clear();
        let taker_collateral = self.acct(o.account).collateral_usd;
        let result = match self.push_draft(&mut drafts, o.account, taker_collateral, pos, index) {
            Err(e) => Err(e),
            Ok(()) if o.kind == OrderKind::PostOnly => Ok(PlanEnd::Exhausted),
            Ok(()) => self.plan_walk(mi, o, qty, limit, &mut steps, &mut drafts),
        };
        self.steps = steps;
        self.drafts = drafts;
        let end = result?;
        self.plan_end = end;
        Ok(())
    }

    /// The matching of `plan_matching`: walk the book if anything crosses, then the checks on
    /// the whole plan (a fill-or-kill filled entirely, the fee pool's bound).
    fn plan_walk(
        &self,
        mi: usize,
        o: &PlaceOrder,
        qty: Qty,
        limit: Price,
        steps: &mut Vec<Step>,
        drafts: &mut Vec<Draft>,
    ) -> Result<PlanEnd, Reject> {
        let m = &self.markets[mi];
        // Most orders cross nothing and rest: the best opposite price says so without setting
        // up the walk.
        let crosses = m
            .book
            .best(o.side.opposite())
            .is_some_and(|best| o.side.crosses(limit, best));
        let (remaining, end) = if crosses {
            self.plan_crossing(mi, o, qty, limit, steps, drafts)?
        } else {
            (qty, PlanEnd::Exhausted)
        };
        if o.kind == OrderKind::Fok && remaining.is_positive() {
            return Err(Reject::FokNotFillable {
                requested: qty,
                available: qty.checked_sub(remaining)?,
            });
        }
        self.check_fee_pool_bound(steps)?;
        Ok(end)
    }

    /// The matching loop: one step per resting order met, in price-time order, until the
    /// order is filled, stops at its own order, or meets the work limit. Returns the quantity
    /// left and why matching stopped.
    fn plan_crossing(
        &self,
        mi: usize,
        o: &PlaceOrder,
        qty: Qty,
        limit: Price,
        steps: &mut Vec<Step>,
        drafts: &mut Vec<Draft>,
    ) -> Result<(Qty, PlanEnd), Reject> {
        let m = &self.markets[mi];
        let mut remaining = qty;
        for (met, maker) in m.book.crossing(o.side, limit).enumerate() {
            if remaining.is_zero() {
                break;
            }
            if met >= self.config.max_fills_per_order {
                return Ok((remaining, PlanEnd::WorkLimit));
            }
            if maker.account == o.account {
                if plan_self_trade(o, maker, steps, &mut drafts[0])? {
                    continue;
                }
                return Ok((remaining, PlanEnd::SelfTrade));
            }
            let di = self.maker_draft(drafts, maker.account, o.market)?;
            let filled = self.plan_maker(o, maker, remaining, &mut drafts[di], steps)?;
            if let Some(mut fill) = filled {
                fill.taker_realized = plan_fill_taker(o, &fill, &mut drafts[0])?;
                remaining = remaining.checked_sub(fill.qty)?;
                steps.push(fill.step(maker));
                // A reduce-only maker clipped by its position cannot fill the rest of its
                // order any more: cancel that rest now, or it would rest crossed with the taker.
                let left = maker.remaining.checked_sub(fill.qty)?;
                if maker.reduce_only && left.is_positive() && remaining.is_positive() {
                    plan_cancel(
                        &mut drafts[di],
                        maker,
                        left,
                        CancelReason::ReduceOnly,
                        steps,
                    )?;
                }
            }
        }
        Ok((remaining, PlanEnd::Exhausted))
    }

    /// The index of the maker's draft, drafting it on first sight.
    fn maker_draft(
        &self,
        drafts: &mut Vec<Draft>,
        account: AccountId,
        market: MarketId,
    ) -> Result<usize, Reject> {
        if let Some(di) = drafts.iter().position(|d| d.account == account) {
            return Ok(di);
        }
        self.push_maker_draft(drafts, account, market)?;
        Ok(drafts.len() - 1)
    }

    /// Plan the maker's side of meeting `maker`: either a cancel (its pool is bankrupt, or a
    /// reduce-only order with nothing left to reduce) or a fill of up to `remaining` lots,
    /// booked on the maker's draft. Returns the fill, if any.
    fn plan_maker(
        &self,
        o: &PlaceOrder,
        maker: &Order,
        remaining: Qty,
        md: &mut Draft,
        steps: &mut Vec<Step>,
    ) -> Result<Option<PlannedFill>, Reject> {
        if self.pool_in_bankruptcy(maker.account, scope_of(md.pos.mode, o.market)) {
            // A maker whose pool has negative equity no longer trades it: its order leaves the
            // book (the liquidation would have cancelled it).
            plan_cancel(md, maker, maker.remaining, CancelReason::Liquidation, steps)?;
            return Ok(None);
        }
        let mut fill_qty = remaining.min(maker.remaining);
        if maker.reduce_only {
            fill_qty = fill_qty.min(md.pos.reducible_by(maker.side));
            if fill_qty.is_zero() {
                plan_cancel(md, maker, maker.remaining, CancelReason::ReduceOnly, steps)?;
                return Ok(None);
            }
        }
        let m = &self.markets[o.market.0 as usize];
        let notional = margin::fill_notional_usd(fill_qty, maker.price, m.params.lots_per_unit)?;
        let (maker_fee, taker_fee) = self.fill_fees(m, notional)?;
        let maker_realized = md.pos.apply_fill(maker.side, fill_qty, notional)?;
        let open = md.pos.open_on(maker.side);
        *open = open.checked_sub(fill_qty)?;
        md.pos.fees_paid_usd = md.pos.fees_paid_usd.checked_add(maker_fee)?;
        let pool = md.pool();
        *pool = pool.checked_add(maker_realized)?.checked_sub(maker_fee)?;
        Ok(Some(PlannedFill {
            qty: fill_qty,
            notional,
            maker_fee,
            taker_fee,
            maker_realized,
            taker_realized: Usd::ZERO,
        }))
    }

    /// (maker fee, taker fee) on a fill's notional. A bankrupt close pays no taker fee and
    /// earns its maker no rebate (see the waterfall).
    fn fill_fees(&self, m: &Market, notional: Usd) -> Result<(Usd, Usd), Reject> {
        let p = &m.params;
        if self.bankrupt_close {
            let maker_fee = margin::fee_usd(notional, p.maker_fee.max(Ppm::ZERO))?;
            return Ok((maker_fee, Usd::ZERO));
        }
        Ok((
            margin::fee_usd(notional, p.maker_fee)?,
            margin::fee_usd(notional, m.taker_fee())?,
        ))
    }

    /// The fee pool must not overflow when the plan's fees reach it.
    fn check_fee_pool_bound(&self, steps: &[Step]) -> Result<(), Reject> {
        let mut pool = self.fee_pool_usd;
        for s in steps {
            if let Step::Fill {
                maker_fee,
                taker_fee,
                ..
            } = s
            {
                pool = pool.checked_add(*maker_fee)?.checked_add(*taker_fee)?;
            }
        }
        Ok(())
    }

    /// Apply a plan that passed every check. Fails only on an engine bug (a [`Breach`]).
    pub(super) fn commit_order(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        qty: Qty,
        limit: Price,
    ) -> Bounded {
        let seq = self.next_order_seq;
        self.next_order_seq += 1;
        let id = self.book_reserve(mi, seq);
        self.events.push(Event::OrderAccepted {
            order: id,
            account: o.account,
            market: o.market,
            side: o.side,
            kind: o.kind,
            price: limit,
            qty,
        });
        let steps = std::mem::take(&mut self.steps);
        let result = self.commit_steps(mi, o, id, &steps);
        self.steps = steps;
        let filled = result?;
        let remaining = bounded(qty.checked_sub(filled))?;
        let rests = remaining.is_positive()
            && self.plan_end == PlanEnd::Exhausted
            && matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly);
        if rests {
            self.rest_order(mi, o, id, limit, remaining)?;
        } else {
            self.drop_unfilled(mi, o, id, remaining);
        }
        self.write_back_drafts(mi)
    }

    /// The planned fills and maker cancels, in order; returns the quantity filled.
    fn commit_steps(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        id: OrderId,
        steps: &[Step],
    ) -> Bounded<Qty> {
        let mut filled = Qty::ZERO;
        for step in steps {
            match *step {
                Step::Fill { qty: q, .. } => {
                    self.commit_fill(mi, o, id, step)?;
                    filled = bounded(filled.checked_add(q))?;
                }
                Step::CancelMaker {
                    order,
                    account,
                    qty: q,
                    reason,
                } => self.commit_maker_cancel(mi, order, account, q, reason),
            }
        }
        Ok(filled)
    }

    /// One planned fill: the maker's order in the book, the trade EMA, the fees (a share to
    /// the insurance fund, the rest to the fee pool) and the `Fill` event.
    fn commit_fill(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        taker_order: OrderId,
        step: &Step,
    ) -> Bounded {
        let Step::Fill {
            maker,
            maker_account,
            price,
            qty,
            notional,
            maker_fee,
            taker_fee,
            maker_realized,
            taker_realized,
        } = *step
        else {
            unreachable!("commit_fill takes fills") // ok: its one caller matches `Step::Fill`
        };
        // The plan was made against this book in this command, nothing ran in between.
        let book = &self.markets[mi].book;
        let resting = *book.get(maker).expect("planned maker rests"); // ok: see above
        if qty == resting.remaining {
            // The maker's resting total is on its draft.
            self.order_gone(mi, &resting, None);
        } else {
            self.book_take(mi, maker, qty);
        }
        let now = self.now_ms;
        let m = self.market_mut(mi);
        bounded(m.record_trade(price, now))?;
        let share = m.params.insurance_fee_share;
        // The adaptive fee's surcharge: what the taker paid over the base fee.
        let surcharge = match m.defence.taker_fee_in_force {
            Some(_) if !taker_fee.is_zero() => {
                let base = bounded(margin::fee_usd(notional, m.params.taker_fee))?;
                let extra = bounded(taker_fee.checked_sub(base))?.max(Usd::ZERO);
                let to_fund = m.params.defences.adaptive_fee.surcharge_insurance_share;
                (extra, to_fund)
            }
            _ => (Usd::ZERO, Ppm::ZERO),
        };
        let (fund, pool) = (self.insurance_usd, self.fee_pool_usd);
        (self.insurance_usd, self.fee_pool_usd) = bounded(book_fees(
            fund, pool, maker_fee, taker_fee, share, surcharge,
        ))?;
        self.events.push(Event::Fill {
            market: o.market,
            maker_order: maker,
            taker_order,
            maker: maker_account,
            taker: o.account,
            taker_side: o.side,
            price,
            qty,
            notional_usd: notional,
            maker_fee_usd: maker_fee,
            taker_fee_usd: taker_fee,
            maker_realized_pnl_usd: maker_realized,
            taker_realized_pnl_usd: taker_realized,
            liquidation: self.liquidating,
        });
        Ok(())
    }

    /// One planned cancel of a resting order the taker met.
    fn commit_maker_cancel(
        &mut self,
        mi: usize,
        order: OrderId,
        account: AccountId,
        qty: Qty,
        reason: CancelReason,
    ) {
        let gone = *self.markets[mi]
            .book
            .get(order)
            .expect("planned maker rests"); // ok: as in commit_fill
                                            // The maker's resting total is on its draft.
        self.order_gone(mi, &gone, None);
        self.events.push(Event::OrderCancelled {
            order,
            account,
            market: self.markets[mi].id,
            qty,
            reason,
        });
    }

    /// The unfilled rest of a limit or post-only order rests in the book, on its account's
    /// list and in its position's resting total (on the taker's draft).
    fn rest_order(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        id: OrderId,
        limit: Price,
        qty: Qty,
    ) -> Bounded {
        let open = self.drafts[0].pos.open_on(o.side);
        *open = bounded(open.checked_add(qty))?;
        self.rest_in_book(mi, id, o, limit, qty);
        Ok(())
    }

    /// The order's remainder joins the book at `limit`: listed with its account, then
    /// `OrderRested` (both order paths, the planned one and the resting shortcut).
    fn rest_in_book(&mut self, mi: usize, id: OrderId, o: &PlaceOrder, limit: Price, qty: Qty) {
        let new = NewOrder {
            account: o.account,
            side: o.side,
            price: limit,
            qty,
            reduce_only: o.reduce_only,
        };
        let acct_slot = self.acct(o.account).orders.len() as u32;
        self.book_insert(mi, id, new, acct_slot);
        let listed = self.list_order(o.account, (o.market, id));
        debug_assert_eq!(listed, acct_slot);
        self.events.push(Event::OrderRested {
            order: id,
            market: o.market,
            price: limit,
            qty,
        });
    }

    /// An order that does not rest gives its id's slot back; its unfilled rest is cancelled.
    fn drop_unfilled(&mut self, mi: usize, o: &PlaceOrder, id: OrderId, remaining: Qty) {
        self.book_release(mi, id);
        if !remaining.is_positive() {
            return;
        }
        let reason = match self.plan_end {
            PlanEnd::SelfTrade => CancelReason::SelfTrade,
            PlanEnd::Exhausted | PlanEnd::WorkLimit => CancelReason::Unfilled,
        };
        self.events.push(Event::OrderCancelled {
            order: id,
            account: o.account,
            market: o.market,
            qty: remaining,
            reason,
        });
    }

    /// Store the planned accounts, update open interest, drop idle positions and re-check the
    /// health of every account the order touched.
    pub(super) fn write_back_drafts(&mut self, mi: usize) -> Bounded {
        let mut drafts = std::mem::take(&mut self.drafts);
        let result = self.write_back(mi, &mut drafts);
        self.drafts = drafts;
        result
    }

    fn write_back(&mut self, mi: usize, drafts: &mut [Draft]) -> Bounded {
        let market = self.markets[mi].id;
        let mut oi_delta = 0i64;
        for d in drafts.iter_mut() {
            // What the position had pending was settled into the draft, leaving its snapshots
            // current for the side it was on; only a position that changed side or went flat
            // needs new ones. The pending amounts go to the clearing balances now.
            if d.closed_sign != d.pos.qty.signum() {
                super::index::snap(&self.markets[mi], &mut d.pos);
            }
            self.book_settlement(mi, d.account, d.funding, d.loss)?;
            // The taker's index may point at an insertion place; it is still valid because
            // nothing else changed this account's positions during the command.
            let old = self.write_position(d.account, d.index, &d.pos, d.collateral);
            oi_delta += d.pos.qty.lots().max(0) - old.qty.lots().max(0);
            d.closed_now = !old.qty.is_zero() && d.pos.qty.is_zero();
            d.changed = (old.qty, old.cost_usd, old.isolated_usd)
                != (d.pos.qty, d.pos.cost_usd, d.pos.isolated_usd)
                || old.collateral_usd != d.collateral;
        }
        if oi_delta != 0 {
            let m = self.market_mut(mi);
            m.open_interest = Qty::from_lots(m.open_interest.lots() + oi_delta);
        }
        for d in drafts.iter() {
            if d.closed_now && d.pool_value().is_negative() {
                // Closing the last position past bankruptcy realizes a deficit: book it. (With
                // nothing open, the pool's equity is its collateral: a pool left with
                // non-negative collateral has nothing to book.)
                let origin = LossOrigin {
                    mi,
                    sign: d.closed_sign,
                    weight: self.lifetime_loss(mi, &d.pos)?.max(1),
                };
                self.note_realized_deficit(d.account, scope_of(d.pos.mode, market), origin)?;
            }
            // `d.pos` is what the account holds in the market now (each account has one
            // draft): only an idle entry may be released.
            debug_assert_eq!(self.acct(d.account).position(market), Some(&d.pos));
            if d.pos.is_idle() {
                self.release_if_idle(d.account, market, d.closed_now)?;
            }
        }
        for d in drafts.iter() {
            // Resting an order changes no maintenance flag: only a changed position or pool
            // needs a recheck.
            if d.changed {
                self.reevaluate(d.account)?;
            }
        }
        Ok(())
    }

    /// Drop a position entry with nothing open or resting. An isolated position that has just
    /// closed (`closed_now`) returns its remaining collateral to the cross pool; one funded in
    /// advance of trading keeps it until the owner moves it. A negative remainder stays,
    /// recorded, for the waterfall; the pool being liquidated keeps its entry until the end.
    pub(super) fn release_if_idle(
        &mut self,
        account: AccountId,
        market: MarketId,
        closed_now: bool,
    ) -> Bounded {
        if self.liquidating_pool == Some((account, Scope::Isolated(market))) {
            return Ok(());
        }
        let a = self.acct(account);
        let Ok(i) = a.position_index(market) else {
            return Ok(());
        };
        let p = a.positions[i];
        let keeps_funds = p.isolated_usd.is_positive() && !closed_now;
        if !p.is_idle() || p.isolated_usd.is_negative() || keeps_funds {
            return Ok(());
        }
        self.remove_position(account, i);
        if p.mode == MarginMode::Isolated {
            self.unwatch_isolated(account, &p);
        }
        let scope = Scope::Isolated(market);
        let removed = match p.mode {
            MarginMode::Isolated => self.set_flag((account, scope), Flag::default()),
            MarginMode::Cross => None,
        };
        if removed.is_some_and(|f| f.negative_equity) {
            self.negative_pools -= 1;
        }
        if removed.is_some() {
            let equity_usd = p.isolated_usd;
            self.events.push(Event::BackAboveMaintenance {
                account,
                scope,
                equity_usd,
            });
        }
        if p.isolated_usd.is_positive() {
            let a = self.acct_mut(account);
            a.collateral_usd = bounded(a.collateral_usd.checked_add(p.isolated_usd))?;
            self.events.push(Event::IsolatedMarginReleased {
                account,
                market,
                amount_usd: p.isolated_usd,
            });
            // The cross pool just gained collateral: its flags may clear.
            self.reevaluate(account)?;
        }
        Ok(())
    }

    #[inline(never)]
    pub(super) fn cancel(
        &mut self,
        account: AccountId,
        market: MarketId,
        order: OrderId,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        let a = self.active_account(account)?;
        let o = *self.markets[mi]
            .book
            .get(order)
            .ok_or(Reject::UnknownOrder(order))?;
        if o.account != account {
            return Err(Reject::NotOrderOwner { order });
        }
        let i = a
            .position_index(market)
            .expect("resting order has a position entry"); // ok: invariant 3
        self.cancel_order(mi, &o, i, CancelReason::User);
        // Only an idle entry is released: spare the call otherwise.
        if self.acct(account).positions[i].is_idle() {
            self.release_if_idle(account, market, false)?;
        }
        Ok(())
    }

    pub(super) fn cancel_resting(&mut self, mi: usize, order: OrderId, reason: CancelReason) {
        let o = *self.markets[mi]
            .book
            .get(order)
            .expect("caller checked the order rests"); // ok: checked by the caller
        let i = self
            .acct(o.account)
            .position_index(self.markets[mi].id)
            .expect("resting order has a position entry"); // ok: invariant 3
        self.cancel_order(mi, &o, i, reason);
    }

    /// Cancel `orders` (market, order), all the account's and resting in one market: its
    /// position's place is looked up once (cancels change no position entry; an idle one is
    /// released after them).
    fn cancel_in_market(&mut self, account: AccountId, orders: &[(MarketId, OrderId)]) {
        let Some(&(market, _)) = orders.first() else {
            return;
        };
        let mi = market.0 as usize;
        let i = self
            .acct(account)
            .position_index(market)
            .expect("resting order has a position entry"); // ok: invariant 3
        for &(_, id) in orders {
            let o = *self.markets[mi].book.get(id).expect("a listed order rests"); // ok: invariant 3 (the account's list is its resting orders)
            self.cancel_order(mi, &o, i, CancelReason::User);
        }
    }

    /// Take resting order `o` out of the book and of its account (its position at `index`).
    #[inline(always)]
    fn cancel_order(&mut self, mi: usize, o: &Order, index: usize, reason: CancelReason) {
        self.order_gone(mi, o, Some(index));
        self.events.push(Event::OrderCancelled {
            order: o.id,
            account: o.account,
            market: self.markets[mi].id,
            qty: o.remaining,
            reason,
        });
    }

    pub(super) fn cancel_all(
        &mut self,
        account: AccountId,
        market: Option<MarketId>,
    ) -> Result<(), Reject> {
        if let Some(m) = market {
            self.market_index(m)?;
        }
        self.active_account(account)?;
        // The targets go into a buffer the engine keeps (not state: never read between
        // calls), so a call allocates nothing once the buffer has grown.
        let mut targets = std::mem::take(&mut self.cancel_targets);
        targets.clear();
        targets.extend(
            self.acct(account)
                .orders
                .iter()
                .filter(|(m, _)| market.is_none_or(|want| *m == want)),
        );
        // Cancel oldest first so the event order does not depend on the list's internal order.
        targets.sort_unstable_by_key(|(m, id)| (*m, *id));
        for same_market in targets.chunk_by(|a, b| a.0 == b.0) {
            self.cancel_in_market(account, same_market);
        }
        targets.dedup_by_key(|(m, _)| *m);
        let released = targets
            .iter()
            .try_for_each(|&(m, _)| self.release_if_idle(account, m, false));
        self.cancel_targets = targets;
        Ok(released?)
    }
}

/// A fill planned against one resting order, before it becomes a `Step`.
struct PlannedFill {
    qty: Qty,
    notional: Usd,
    maker_fee: Usd,
    taker_fee: Usd,
    maker_realized: Usd,
    taker_realized: Usd,
}

impl PlannedFill {
    fn step(&self, maker: &Order) -> Step {
        Step::Fill {
            maker: maker.id,
            maker_account: maker.account,
            price: maker.price,
            qty: self.qty,
            notional: self.notional,
            maker_fee: self.maker_fee,
            taker_fee: self.taker_fee,
            maker_realized: self.maker_realized,
            taker_realized: self.taker_realized,
        }
    }
}

/// The insurance fund and the fee pool after a fill's fees: a share of them (rounded down,
/// never negative) to the fund, plus a share of the adaptive surcharge (part of the taker
/// fee, `(amount, share)`) on top, the rest to the pool. One checked computation, so one
/// commit-phase step (nothing changes in between).
fn book_fees(
    fund: Usd,
    pool: Usd,
    maker_fee: Usd,
    taker_fee: Usd,
    share: Ppm,
    surcharge: (Usd, Ppm),
) -> ArithResult<(Usd, Usd)> {
    let fees = maker_fee.checked_add(taker_fee)?;
    let base = fees.checked_sub(surcharge.0)?;
    let to_insurance = base
        .mul_ppm(share, Round::Floor)?
        .max(Usd::ZERO)
        .checked_add(surcharge.0.mul_ppm(surcharge.1, Round::Floor)?)?
        .min(fees.max(Usd::ZERO));
    let pool = pool.checked_add(fees)?.checked_sub(to_insurance)?;
    Ok((fund.checked_add(to_insurance)?, pool))
}

/// Plan the cancel of `qty` lots of a resting order: off its account's resting total (on the
/// account's draft) and into the plan.
fn plan_cancel(
    draft: &mut Draft,
    maker: &Order,
    qty: Qty,
    reason: CancelReason,
    steps: &mut Vec<Step>,
) -> Result<(), Reject> {
    let open = draft.pos.open_on(maker.side);
    *open = open.checked_sub(qty)?;
    steps.push(Step::CancelMaker {
        order: maker.id,
        account: maker.account,
        qty,
        reason,
    });
    Ok(())
}

/// The taker met its own resting order: cancel it if the policy says so. Returns whether
/// matching goes on (cancel-maker) or stops here (cancel-taker, cancel-both).
fn plan_self_trade(
    o: &PlaceOrder,
    maker: &Order,
    steps: &mut Vec<Step>,
    taker: &mut Draft,
) -> Result<bool, Reject> {
    if matches!(o.self_trade, SelfTrade::CancelMaker | SelfTrade::CancelBoth) {
        plan_cancel(
            taker,
            maker,
            maker.remaining,
            CancelReason::SelfTrade,
            steps,
        )?;
    }
    Ok(o.self_trade == SelfTrade::CancelMaker)
}

/// Book the taker's side of a planned fill on its draft; returns its realized PnL.
#[inline(always)]
fn plan_fill_taker(o: &PlaceOrder, fill: &PlannedFill, td: &mut Draft) -> Result<Usd, Reject> {
    let realized = td.pos.apply_fill(o.side, fill.qty, fill.notional)?;
    td.pos.fees_paid_usd = td.pos.fees_paid_usd.checked_add(fill.taker_fee)?;
    let pool = td.pool();
    *pool = pool.checked_add(realized)?.checked_sub(fill.taker_fee)?;
    Ok(realized)
}

fn kind_name(k: OrderKind) -> &'static str {
    match k {
        OrderKind::Limit => "limit",
        OrderKind::Market => "market",
        OrderKind::Ioc => "ioc",
        OrderKind::Fok => "fok",
        OrderKind::PostOnly => "post_only",
    }
}
