//! Leveraged traders.
//!
//! Behaviour, in order of a trader's life:
//! 1. It deposits collateral (lognormal) once, at the start.
//! 2. At its entry time it reads the venue's public price feed and opens a position with a
//!    market order: a *trend follower* goes with the mark's move over the lookback window, a
//!    *mean reverter* against it (a flat market: a coin flip). Notional = equity x leverage,
//!    leverage lognormal, clipped to its own cap and to the market's maximum.
//! 3. While the position is open it watches the mark (price triggers, no polling): it takes
//!    profit at `take_profit_frac` of its collateral, stops out at `stop_loss_frac` if it is one
//!    of the traders who use stops, and closes after its holding time. A *topper-up* who sees
//!    equity fall below `topup_trigger_multiple` x maintenance deposits more collateral after
//!    a reaction delay, at most `max_topups` times.
//! 4. Once flat (closed or liquidated) it pauses (exponential) and enters again with what is
//!    left, unless less than a tenth of its first deposit remains.
//!
//! A trader whose account trades several markets (`legs` > 1, one agent per market on one
//! cross pool) sizes each entry on the pool's whole equity at its leverage divided by the
//! number of legs, so the pool's leverage is the drawn one when every leg is open.

use bulwark_core::Round;
use bulwark_engine::{AccountId, Command, MarginMode, OrderKind, PlaceOrder, SelfTrade, Side};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{draw_exp, draw_lognormal, Action, Ctx};
use crate::scenario::limits::{MAX_TRADER_COLLATERAL_USD, MIN_TRADER_COLLATERAL_USD};
use crate::scenario::TraderParams;
use crate::venue::usd_from_f64;

/// A trader whose order has not changed its position after this long acts again (an IOC that
/// found no liquidity, or a transaction the chain dropped). Longer than the chain's default
/// transaction lifetime (60 s), so a retry never doubles an order still in the mempool.
pub const RETRY_AFTER_MS: u64 = 90_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    TrendFollowing,
    MeanReverting,
}

#[derive(Clone, Debug)]
pub struct Trader {
    pub account: AccountId,
    pub style: Style,
    pub collateral0_usd: f64,
    pub leverage: f64,
    pub uses_stop: bool,
    pub tops_up: bool,
    pub topups_done: u32,
    /// Time of the next entry while flat.
    pub next_entry_ms: u64,
    /// When the open position is closed anyway.
    pub hold_until_ms: u64,
    /// A top-up decided and waiting for its delay.
    pub topup_due_ms: Option<u64>,
    /// Entries made, for the summary.
    pub entries: u32,
    /// Positions this trader's cross pool holds in as many markets (1, or more when the
    /// account trades several markets through several legs): each leg's entry is sized at
    /// the leverage divided by this.
    pub legs: u32,
    /// An order sent and not yet seen in the position: (when, position then).
    pending: Option<(u64, i64)>,
    was_open: bool,
    params: TraderParams,
}

impl Trader {
    /// Draws one trader's traits from the population's distributions.
    pub fn new(account: AccountId, p: &TraderParams, rng: &mut ChaCha8Rng) -> Trader {
        let style = if rng.gen_bool(p.trend_share.clamp(0.0, 1.0)) {
            Style::TrendFollowing
        } else {
            Style::MeanReverting
        };
        let collateral0_usd = draw_lognormal(rng, p.collateral_usd)
            .clamp(MIN_TRADER_COLLATERAL_USD, MAX_TRADER_COLLATERAL_USD);
        let leverage = draw_lognormal(rng, p.leverage).clamp(1.0, p.max_leverage.max(1.0));
        let uses_stop = rng.gen_bool(p.stop_loss_share.clamp(0.0, 1.0));
        let tops_up = rng.gen_bool(p.topup_share.clamp(0.0, 1.0));
        let next_entry_ms = rng.gen_range(0..p.entry_window_s.max(1) * 1000);
        Trader {
            account,
            style,
            collateral0_usd,
            leverage,
            uses_stop,
            tops_up,
            topups_done: 0,
            next_entry_ms,
            hold_until_ms: 0,
            topup_due_ms: None,
            entries: 0,
            legs: 1,
            pending: None,
            was_open: false,
            params: p.clone(),
        }
    }

    /// The first deposit.
    pub fn initial_deposit(&self) -> Command {
        Command::Deposit {
            account: self.account,
            amount_usd: usd_from_f64(self.collateral0_usd),
        }
    }

    /// Makes the entry time absolute (the population draws it relative to the start).
    pub fn start_at(&mut self, start_ms: u64) {
        self.next_entry_ms += start_ms;
    }

    pub fn on_wake(&mut self, ctx: &mut Ctx, rng: &mut ChaCha8Rng) {
        let own = ctx.venue.own(self.account);
        if let Some((sent_ms, qty_then)) = self.pending {
            // An order on its way (through the chain, when the book is on-chain): wait for it
            // rather than send another; one that never shows is given up after a while.
            let retry_ms = sent_ms + RETRY_AFTER_MS;
            if own.qty_lots == qty_then && ctx.now_ms < retry_ms {
                ctx.out.push(Action::WakeAt(retry_ms));
                return;
            }
            self.pending = None;
        }
        if let Some(due) = self.topup_due_ms {
            if ctx.now_ms >= due {
                self.topup_due_ms = None;
                self.top_up(ctx);
            }
        }
        if own.qty_lots == 0 {
            self.when_flat(ctx, rng);
        } else {
            self.when_open(ctx, rng);
        }
    }

    fn when_flat(&mut self, ctx: &mut Ctx, rng: &mut ChaCha8Rng) {
        if self.was_open {
            // Closed or liquidated since the last look: pause before the next entry.
            self.was_open = false;
            self.next_entry_ms = ctx
                .now_ms
                .saturating_add((draw_exp(rng, self.params.reentry_mean_s) * 1000.0) as u64);
        }
        if ctx.now_ms < self.next_entry_ms {
            ctx.out.push(Action::WakeAt(self.next_entry_ms));
            return;
        }
        let equity = ctx
            .venue
            .own_equity(self.account)
            .map_or(0.0, |e| e.to_f64_lossy());
        if equity < self.collateral0_usd * 0.1 {
            return; // Too little left to trade: this trader is done.
        }
        let side = self.entry_side(ctx, rng);
        let mark = ctx.venue.mark();
        let mut leverage = self.leverage.min(ctx.venue.max_leverage() * 0.9);
        if self.legs > 1 {
            leverage /= f64::from(self.legs);
        }
        let qty = ctx.venue.lots_for_usd(equity * leverage, mark);
        if qty.lots() == 0 {
            return;
        }
        self.pending = Some((ctx.now_ms, 0));
        ctx.out.push(Action::Send(entry_order(
            self.account,
            ctx,
            side,
            qty.lots(),
            self.params.max_slippage_bp,
        )));
        self.entries += 1;
        self.was_open = true;
        let hold_s = draw_lognormal(rng, self.params.hold_s);
        // Saturating: a lognormal's far tail may exceed any clock.
        self.hold_until_ms = ctx.now_ms.saturating_add((hold_s * 1000.0) as u64);
        // Look again shortly to arm the exits once the order has filled.
        ctx.out.push(Action::WakeAt(ctx.now_ms + 1_000));
    }

    /// Trend followers go with the mark's move over the lookback, mean reverters against it.
    fn entry_side(&self, ctx: &Ctx, rng: &mut ChaCha8Rng) -> Side {
        let then = ctx
            .mark_history
            .at(ctx.now_ms.saturating_sub(self.params.lookback_s * 1000));
        let now = ctx.venue.mark();
        let up = match then {
            Some(then) if now > then => true,
            Some(then) if now < then => false,
            _ => rng.gen_bool(0.5),
        };
        match (self.style, up) {
            (Style::TrendFollowing, true) | (Style::MeanReverting, false) => Side::Buy,
            _ => Side::Sell,
        }
    }

    fn when_open(&mut self, ctx: &mut Ctx, rng: &mut ChaCha8Rng) {
        self.was_open = true;
        let own = ctx.venue.own(self.account);
        let mark = ctx.venue.mark();
        let lots = ctx.venue.lots_per_unit();
        let q = own.qty_lots as f64 / lots;
        let pnl = q * mark - own.cost_usd;
        let take = pnl >= self.params.take_profit_frac * self.collateral0_usd;
        let stop = self.uses_stop && pnl <= -self.params.stop_loss_frac * self.collateral0_usd;
        if take || stop || ctx.now_ms >= self.hold_until_ms {
            let side = if own.qty_lots > 0 {
                Side::Sell
            } else {
                Side::Buy
            };
            self.pending = Some((ctx.now_ms, own.qty_lots));
            ctx.out.push(Action::Send(market_order(
                self.account,
                ctx,
                side,
                own.qty_lots.abs(),
                true,
            )));
            ctx.out.push(Action::WakeAt(ctx.now_ms + 1_000));
            return;
        }
        self.consider_topup(ctx, rng);
        self.arm(ctx, q, own.cost_usd);
    }

    /// A topper-up near liquidation decides to deposit, after its reaction delay.
    fn consider_topup(&mut self, ctx: &mut Ctx, rng: &mut ChaCha8Rng) {
        if !self.tops_up
            || self.topup_due_ms.is_some()
            || self.topups_done >= self.params.max_topups
        {
            return;
        }
        let Some(h) = ctx.venue.own_health(self.account) else {
            return;
        };
        let maintenance = h.maintenance_usd.to_f64_lossy();
        if h.equity_usd.to_f64_lossy() < self.params.topup_trigger_multiple * maintenance {
            let delay_s = draw_lognormal(rng, self.params.topup_delay_s);
            let due = ctx
                .now_ms
                .saturating_add((delay_s * 1000.0).max(1.0) as u64);
            self.topup_due_ms = Some(due);
            ctx.out.push(Action::WakeAt(due));
        }
    }

    fn top_up(&mut self, ctx: &mut Ctx) {
        if ctx.venue.own_lots(self.account) == 0 {
            return; // Liquidated or closed while deciding: nothing to save.
        }
        self.topups_done += 1;
        ctx.out.push(Action::Send(Command::Deposit {
            account: self.account,
            amount_usd: usd_from_f64(self.collateral0_usd * self.params.topup_frac),
        }));
        ctx.out.push(Action::Note("trader_topup"));
    }

    /// Price triggers for the exits and the top-up check, and a timer for the holding time.
    /// For a position of `q` units with cost `cost`: PnL(P) = q P - cost, so the take-profit
    /// and stop prices solve q P - cost = target. The top-up level solves equity(P) =
    /// k x mm x |q| P with equity(P) = collateral + q P - cost.
    fn arm(&self, ctx: &mut Ctx, q: f64, cost: f64) {
        let p = &self.params;
        let own = ctx.venue.own(self.account);
        let tp = (cost + p.take_profit_frac * self.collateral0_usd) / q;
        let mut levels = vec![tp];
        if self.uses_stop {
            levels.push((cost - p.stop_loss_frac * self.collateral0_usd) / q);
        }
        if self.tops_up && self.topups_done < p.max_topups {
            let k_mm = p.topup_trigger_multiple * ctx.venue.maintenance_frac();
            let denom = q - k_mm * q.abs();
            if denom.abs() > 1e-12 {
                levels.push((cost - own.collateral_usd) / denom);
            }
        }
        let mark = ctx.venue.mark();
        for level in levels.into_iter().filter(|l| l.is_finite() && *l > 0.0) {
            if level >= mark {
                ctx.out.push(Action::TriggerAbove(level));
            } else {
                ctx.out.push(Action::TriggerBelow(level));
            }
        }
        ctx.out.push(Action::WakeAt(self.hold_until_ms));
    }
}

/// An entry: IOC limited `slippage_bp` beyond the mark. Not a market order, because the
/// engine margins a market order at the edge of its band (5% by default), which would cap
/// entries near 16x.
fn entry_order(account: AccountId, ctx: &Ctx, side: Side, lots: i64, slippage_bp: f64) -> Command {
    let mark = ctx.venue.mark();
    let (limit, round) = match side {
        Side::Buy => (mark * (1.0 + slippage_bp / 1e4), Round::Floor),
        Side::Sell => (mark * (1.0 - slippage_bp / 1e4), Round::Ceil),
    };
    Command::PlaceOrder(PlaceOrder {
        account,
        market: ctx.venue.market_id(),
        side,
        kind: OrderKind::Ioc,
        price: ctx.venue.to_tick(limit, round),
        qty: bulwark_engine::Qty::from_lots(lots),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

/// A market order (fills within the engine's band around the mark): exits, which must go.
fn market_order(
    account: AccountId,
    ctx: &Ctx,
    side: Side,
    lots: i64,
    reduce_only: bool,
) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: ctx.venue.market_id(),
        side,
        kind: OrderKind::Market,
        price: None,
        qty: bulwark_engine::Qty::from_lots(lots),
        reduce_only,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}
