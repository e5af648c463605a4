//! Arbitrageurs.
//!
//! An arbitrageur trades the venue toward the outside price and hedges elsewhere. Every
//! `poll_ms` it compares the venue's best quotes with the outside price `o`:
//! - best ask below `o x (1 - cost)`: it buys with an IOC limited at `o x (1 - cost)`;
//! - best bid above `o x (1 + cost)`: it sells with an IOC limited at `o x (1 + cost)`;
//! - otherwise, if it holds inventory and the venue now trades on the other side of `o`
//!   (bid above `o` while long, ask below `o` while short) it unwinds, reduce-only, at `o`.
//!
//! Each trade is at most `clip_usd`, and its venue position never exceeds
//! `capital_usd x max_leverage` of notional: capital limits how hard it can pull the price.

use bulwark_core::Round;
use bulwark_engine::{
    AccountId, Command, MarginMode, OrderKind, PlaceOrder, Price, Qty, SelfTrade, Side,
};

use super::{Action, Ctx};
use crate::scenario::ArbitrageurParams;
use crate::venue::usd_from_f64;

#[derive(Clone, Debug)]
pub struct Arbitrageur {
    pub account: AccountId,
    pub params: ArbitrageurParams,
    pub trades: u32,
    /// A trade sent and not yet seen in the position: (when, position then). Off-chain it
    /// lands at once; through the chain it waits for a block, and sending it again meanwhile
    /// would double it.
    pending: Option<(u64, i64)>,
}

impl Arbitrageur {
    pub fn new(account: AccountId, params: &ArbitrageurParams) -> Arbitrageur {
        Arbitrageur {
            account,
            params: params.clone(),
            trades: 0,
            pending: None,
        }
    }

    pub fn initial_deposit(&self) -> Command {
        Command::Deposit {
            account: self.account,
            amount_usd: usd_from_f64(self.params.capital_usd),
        }
    }

    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        ctx.out
            .push(Action::WakeAt(ctx.now_ms + self.params.poll_ms.max(1)));
        let o = ctx.outside_price;
        let cost = self.params.cost_bp / 1e4;
        let own_lots = ctx.venue.own_lots(self.account);
        if let Some((sent_ms, qty_then)) = self.pending {
            if own_lots == qty_then && ctx.now_ms < sent_ms + super::trader::RETRY_AFTER_MS {
                return;
            }
            self.pending = None;
        }
        let lots = ctx.venue.lots_per_unit();
        let pos_usd = own_lots as f64 / lots * o;
        let room_usd = self.params.capital_usd * self.params.max_leverage;
        if let Some(ask) = ctx.venue.best_ask().filter(|a| *a < o * (1.0 - cost)) {
            let budget = (room_usd - pos_usd).min(self.params.clip_usd);
            self.trade(ctx, Side::Buy, o * (1.0 - cost), budget, ask, false);
        } else if let Some(bid) = ctx.venue.best_bid().filter(|b| *b > o * (1.0 + cost)) {
            let budget = (room_usd + pos_usd).min(self.params.clip_usd);
            self.trade(ctx, Side::Sell, o * (1.0 + cost), budget, bid, false);
        } else if own_lots > 0 && ctx.venue.best_bid().is_some_and(|b| b > o) {
            let budget = pos_usd.min(self.params.clip_usd);
            self.trade(ctx, Side::Sell, o, budget, o, true);
        } else if own_lots < 0 && ctx.venue.best_ask().is_some_and(|a| a < o) {
            let budget = (-pos_usd).min(self.params.clip_usd);
            self.trade(ctx, Side::Buy, o, budget, o, true);
        }
    }

    fn trade(
        &mut self,
        ctx: &mut Ctx,
        side: Side,
        limit: f64,
        budget_usd: f64,
        at: f64,
        reduce_only: bool,
    ) {
        let qty = ctx.venue.lots_for_usd(budget_usd, at);
        let round = match side {
            Side::Buy => Round::Floor,
            Side::Sell => Round::Ceil,
        };
        let Some(price) = ctx.venue.to_tick(limit, round) else {
            return;
        };
        if qty.lots() > 0 {
            self.trades += 1;
            self.pending = Some((ctx.now_ms, ctx.venue.own_lots(self.account)));
            ctx.out.push(Action::Send(ioc(
                self.account,
                ctx,
                side,
                price,
                qty,
                reduce_only,
            )));
        }
    }
}

fn ioc(
    account: AccountId,
    ctx: &Ctx,
    side: Side,
    price: Price,
    qty: Qty,
    reduce_only: bool,
) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: ctx.venue.market_id(),
        side,
        kind: OrderKind::Ioc,
        price: Some(price),
        qty,
        reduce_only,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}
