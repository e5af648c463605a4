//! The manipulator: the Mango Markets attack of October 2022 against this venue.
//!
//! It pushes a thin oracle source (the `[[oracle.sources]]` whose failure is `pushed`: that
//! push is its work on a thin spot venue, which the lab does not model further) and profits
//! on this venue from what the push does to the venue's prices:
//! - `lead_s` before the push it opens a long of `capital_usd x leverage` with an IOC;
//! - half-way to the push it withdraws what honest prices leave free (equity over the
//!   initial requirement, as it reads its own health), so that only the push can free more;
//! - once the push is at full size (a minute in) and every `poll_s` while it lasts, it
//!   withdraws all the collateral the venue lets it take against the inflated value of its
//!   long (what the venue's initial check, `Engine::health_for_initial`, leaves free);
//! - it then walks away: the position stays, and when the push ends its loss lands on the
//!   venue's waterfall. What the venue paid it during the push is the summary's
//!   `manipulator_extracted_usd` (what honest prices freed before it is its own money).
//!
//! Against it: the oracle guard (a pushed source far from the others is not used), the
//! stable price (the initial check values the long at the lagging price, so an inflated mark
//! frees no collateral) and the price band and halt breakers.

use bulwark_core::Round;
use bulwark_engine::{AccountId, Command, MarginMode, OrderKind, PlaceOrder, SelfTrade, Side};

use super::{Action, Ctx};
use crate::scenario::ManipulatorParams;
use crate::venue::usd_from_f64;

/// How long after the push starts it reaches full size, ms (`sim::sources`' ramp).
const PUSH_FULL_MS: u64 = 60_000;

#[derive(Clone, Debug)]
pub struct Manipulator {
    pub account: AccountId,
    pub params: ManipulatorParams,
    /// The push, in ms since the epoch: (start, end).
    pub push_ms: (u64, u64),
    /// 0: waits to open; 1: opened, waits to take what honest prices free; 2: in the push.
    phase: u8,
    /// Withdrawals it asked for (what the venue paid is read from its `Withdrawn` events: the
    /// metrics' `withdrawals`).
    pub withdrawals_asked: u32,
}

impl Manipulator {
    pub fn new(account: AccountId, params: &ManipulatorParams) -> Manipulator {
        Manipulator {
            account,
            params: params.clone(),
            push_ms: (0, 0),
            phase: 0,
            withdrawals_asked: 0,
        }
    }

    pub fn initial_deposit(&self) -> Command {
        Command::Deposit {
            account: self.account,
            amount_usd: usd_from_f64(self.params.capital_usd),
        }
    }

    /// When it first wakes: `lead_s` before the push.
    pub fn first_wake_ms(&self) -> u64 {
        self.push_ms.0.saturating_sub(self.params.lead_s * 1000)
    }

    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        let (start, end) = self.push_ms;
        match self.phase {
            0 => {
                self.phase = 1;
                self.open(ctx);
                let halfway = ctx.now_ms + start.saturating_sub(ctx.now_ms) / 2;
                ctx.out.push(Action::WakeAt(halfway.max(ctx.now_ms + 1)));
                return;
            }
            1 => {
                self.phase = 2;
                self.withdraw(ctx);
                ctx.out.push(Action::WakeAt(start + PUSH_FULL_MS));
                return;
            }
            _ => {}
        }
        if ctx.now_ms >= end {
            return;
        }
        self.withdraw(ctx);
        ctx.out.push(Action::WakeAt(
            ctx.now_ms + self.params.poll_s.max(1) * 1000,
        ));
    }

    fn open(&mut self, ctx: &mut Ctx) {
        let mark = ctx.venue.mark();
        let notional = self.params.capital_usd * self.params.leverage;
        let qty = ctx.venue.lots_for_usd(notional, mark);
        let Some(limit) = ctx.venue.to_tick(mark * 1.01, Round::Floor) else {
            return;
        };
        if qty.lots() > 0 {
            ctx.out.push(Action::Send(Command::PlaceOrder(PlaceOrder {
                account: self.account,
                market: ctx.venue.market_id(),
                side: Side::Buy,
                kind: OrderKind::Ioc,
                price: Some(limit),
                qty,
                reduce_only: false,
                self_trade: SelfTrade::CancelTaker,
                margin: MarginMode::Cross,
            })));
        }
    }

    /// Withdraw what the venue's initial check leaves free: equity over the initial
    /// requirement, at most its collateral. The venue decides; a refusal changes nothing.
    fn withdraw(&mut self, ctx: &mut Ctx) {
        // What the venue says a withdrawal may take (its initial check: with the stable price
        // on, the long at the lagging price).
        let Some(h) = ctx.venue.own_initial_health(self.account) else {
            return;
        };
        let free = (h.equity_usd.to_f64_lossy() - h.initial_usd.to_f64_lossy())
            .min(ctx.venue.own(self.account).collateral_usd);
        // Leave 2% of room: the venue counts pending funding its view nets out, and the price
        // moves before the withdrawal lands. Nothing worth a transaction under 100 USD.
        let amount = free * 0.98;
        if amount < 100.0 {
            return;
        }
        self.withdrawals_asked += 1;
        ctx.out.push(Action::Send(Command::Withdraw {
            account: self.account,
            amount_usd: usd_from_f64(amount),
        }));
    }
}
