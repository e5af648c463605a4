//! Market makers.
//!
//! A market maker prices off the outside market (it sees other venues) and keeps a ladder of
//! `levels` limit orders on each side of the venue's book:
//! - half spread = `base_half_spread_bp + vol_spread_bp x vol`, where vol is its own EWMA
//!   estimate of the outside price's annualized volatility, so quotes widen in a crash;
//! - each level holds `level_usd x min(1, (ref_vol / vol)^elasticity)`, so depth thins as
//!   volatility rises (the Oct 2025 depth data shows depth within 1% falling sharply);
//! - the ladder's centre is skewed against inventory by up to `max_skew_bp`, and the side that
//!   would add to an inventory beyond `max_inventory_usd` is not quoted;
//! - past `pull_vol_annual` volatility, or once equity has fallen `pull_loss_frac` below its
//!   reference, it cancels everything and stays out for `pull_duration_s`; it returns when
//!   volatility is back under the threshold (taking its equity then as the new reference).
//!
//! Inventory beyond `max_inventory_usd` is unloaded with a reduce-only IOC, limited two half
//! spreads through the outside price, down to half the limit (a maker cannot carry an
//! unbounded position; during a cascade this passes liquidated inventory on).
//!
//! It wakes every `requote_interval_ms` (with jitter) and shortly after any of its orders
//! fills; it skips a requote when the outside price moved less than `requote_threshold_bp`
//! and nothing filled.

use bulwark_core::Round;
use bulwark_engine::{
    limits, AccountId, Command, MarginMode, OrderKind, QuoteOrder, Requote, SelfTrade, Side,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Action, Ctx};
use crate::scenario::MarketMakerParams;
use crate::venue::usd_from_f64;

/// Seconds in a 365-day year, for annualizing per-second variance.
const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// Slots in a maker's table of EWMA weights by gap (`MarketMaker::weight`): more than the
/// gaps of its regular wake-ups (the default 3 s interval plus up to 0.6 s of jitter).
const WEIGHT_SLOTS: usize = 1024;

#[derive(Clone, Debug)]
pub struct MarketMaker {
    pub account: AccountId,
    pub params: MarketMakerParams,
    /// EWMA of squared log returns per second of the outside price.
    var_per_s: f64,
    last_obs: Option<(u64, f64)>,
    last_quote_ref: f64,
    /// Set when one of its orders filled since the last quote.
    pub filled_since_quote: bool,
    pub pulled_until_ms: Option<u64>,
    equity_ref_usd: f64,
    pub pulls: u32,
    pub pulled_ms_total: u64,
    pulled_since_ms: u64,
    /// The EWMA weights of the gaps between observations seen so far, `(gap_ms, weight)`, one
    /// slot per gap modulo the table's length (`u64::MAX`: empty).
    weights: Vec<(u64, f64)>,
}

impl MarketMaker {
    pub fn new(account: AccountId, params: &MarketMakerParams) -> MarketMaker {
        let ref_sigma = params.ref_vol_annual / SECONDS_PER_YEAR.sqrt();
        MarketMaker {
            account,
            params: params.clone(),
            var_per_s: ref_sigma * ref_sigma,
            last_obs: None,
            last_quote_ref: 0.0,
            filled_since_quote: false,
            pulled_until_ms: None,
            equity_ref_usd: params.capital_usd,
            pulls: 0,
            pulled_ms_total: 0,
            pulled_since_ms: 0,
            weights: vec![(u64::MAX, 0.0); WEIGHT_SLOTS],
        }
    }

    pub fn initial_deposit(&self) -> Command {
        Command::Deposit {
            account: self.account,
            amount_usd: usd_from_f64(self.params.capital_usd),
        }
    }

    /// Annualized volatility estimate.
    pub fn vol_annual(&self) -> f64 {
        (self.var_per_s * SECONDS_PER_YEAR).sqrt()
    }

    pub fn is_quoting(&self) -> bool {
        self.pulled_until_ms.is_none()
    }

    /// Folds a new outside observation into the EWMA (weight by elapsed time, half-life
    /// `vol_half_life_s`), normalizing the squared return to one second.
    pub fn observe(&mut self, now_ms: u64, price: f64) {
        if let Some((t, p)) = self.last_obs {
            let gap_ms = now_ms.saturating_sub(t);
            let dt_s = gap_ms as f64 / 1000.0;
            if dt_s > 0.0 && p > 0.0 && price > 0.0 {
                let r = libm::log(price / p);
                let w = self.weight(gap_ms, dt_s);
                self.var_per_s += w * (r * r / dt_s - self.var_per_s);
            }
        }
        self.last_obs = Some((now_ms, price));
    }

    /// The EWMA's weight of an observation `gap_ms` (`dt_s` seconds) after the last one:
    /// `1 - 0.5^(dt / half-life)`. A maker looks every `requote_interval_ms` plus a jitter, so
    /// the same few hundred gaps recur, and the power is the costliest step of its wake: a
    /// gap's weight is kept in the table, and what it returns is what the call returned for
    /// that gap (the same bits).
    fn weight(&mut self, gap_ms: u64, dt_s: f64) -> f64 {
        let slot = &mut self.weights[(gap_ms % WEIGHT_SLOTS as u64) as usize];
        if slot.0 != gap_ms {
            let w = 1.0 - libm::pow(0.5, dt_s / self.params.vol_half_life_s.max(1e-3));
            *slot = (gap_ms, w);
        }
        slot.1
    }

    pub fn on_wake(&mut self, ctx: &mut Ctx, rng: &mut ChaCha8Rng) {
        self.observe(ctx.now_ms, ctx.outside_price);
        let jitter = rng.gen_range(0..=self.params.requote_interval_ms / 5);
        let next = ctx.now_ms + self.params.requote_interval_ms + jitter;
        ctx.out.push(Action::WakeAt(next));
        let equity = ctx
            .venue
            .own_equity(self.account)
            .map_or(0.0, |e| e.to_f64_lossy());
        if let Some(until) = self.pulled_until_ms {
            if ctx.now_ms < until || self.vol_annual() > self.params.pull_vol_annual {
                return;
            }
            self.pulled_until_ms = None;
            self.pulled_ms_total += ctx.now_ms - self.pulled_since_ms;
            self.equity_ref_usd = equity;
            ctx.out.push(Action::Note("mm_return"));
        }
        let losing = equity < self.equity_ref_usd * (1.0 - self.params.pull_loss_frac);
        if self.vol_annual() > self.params.pull_vol_annual || losing {
            self.pull(ctx);
            return;
        }
        let moved_bp = (ctx.outside_price / self.last_quote_ref - 1.0).abs() * 1e4;
        if !self.filled_since_quote
            && moved_bp < self.params.requote_threshold_bp
            && ctx.venue.own_open_orders(self.account) > 0
        {
            return;
        }
        self.quote(ctx);
    }

    fn pull(&mut self, ctx: &mut Ctx) {
        self.pulls += 1;
        self.pulled_until_ms = Some(ctx.now_ms + self.params.pull_duration_s * 1000);
        self.pulled_since_ms = ctx.now_ms;
        ctx.out.push(Action::Send(self.cancel_all(ctx)));
        ctx.out.push(Action::Note("mm_pull"));
    }

    fn cancel_all(&self, ctx: &Ctx) -> Command {
        Command::CancelAll {
            account: self.account,
            market: Some(ctx.venue.market_id()),
        }
    }

    /// The ladder this maker wants now, appended to `out`: a limit order per side and level,
    /// bid then ask, level by level (a level smaller than a lot left out).
    pub fn ladder(&self, ctx: &Ctx, out: &mut Vec<QuoteOrder>) {
        let p = &self.params;
        let reference = ctx.outside_price;
        let inventory_usd = self.inventory_usd(ctx);
        let inv_ratio = (inventory_usd / p.max_inventory_usd).clamp(-1.0, 1.0);
        let centre = reference * (1.0 - inv_ratio * p.max_skew_bp / 1e4);
        let vol = self.vol_annual();
        let half_bp = p.base_half_spread_bp + p.vol_spread_bp * vol;
        let ratio = p.ref_vol_annual / vol;
        // At or under the reference volatility the power is at least 1 (a non-negative
        // exponent): full depth, without the call.
        let depth_scale = if ratio >= 1.0 && p.depth_vol_elasticity >= 0.0 {
            1.0
        } else {
            libm::pow(ratio, p.depth_vol_elasticity).min(1.0)
        };
        let level_usd = p.level_usd * depth_scale;
        let grid = ctx.venue.grid();
        let mut level = |side, price: Option<bulwark_engine::Price>, px| {
            let qty = grid.lots_for_usd(level_usd, px);
            if let Some(price) = price.filter(|_| qty.lots() > 0) {
                out.push(QuoteOrder {
                    side,
                    kind: OrderKind::Limit,
                    price: Some(price),
                    qty,
                    reduce_only: false,
                    self_trade: SelfTrade::CancelTaker,
                    margin: MarginMode::Cross,
                });
            }
        };
        for i in 0..p.levels {
            let off = (half_bp + f64::from(i) * p.level_spacing_bp) / 1e4;
            if inventory_usd < p.max_inventory_usd {
                let px = centre * (1.0 - off);
                level(Side::Buy, grid.to_tick(px, Round::Floor), px);
            }
            if inventory_usd > -p.max_inventory_usd {
                let px = centre * (1.0 + off);
                level(Side::Sell, grid.to_tick(px, Round::Ceil), px);
            }
        }
    }

    /// The maker's position valued at the outside price, USD (positive: long).
    fn inventory_usd(&self, ctx: &Ctx) -> f64 {
        let lots = ctx.venue.own_lots(self.account);
        lots as f64 / ctx.venue.lots_per_unit() * ctx.outside_price
    }

    /// A reduce-only IOC that brings inventory back to half the limit, if it is beyond it.
    pub fn unload(&self, ctx: &Ctx) -> Option<QuoteOrder> {
        let p = &self.params;
        let reference = ctx.outside_price;
        let inventory_usd = self.inventory_usd(ctx);
        if inventory_usd.abs() <= p.max_inventory_usd {
            return None;
        }
        let excess_usd = inventory_usd.abs() - p.max_inventory_usd / 2.0;
        let through = 2.0 * (p.base_half_spread_bp + p.vol_spread_bp * self.vol_annual()) / 1e4;
        let (side, limit, round) = if inventory_usd > 0.0 {
            (Side::Sell, reference * (1.0 - through), Round::Ceil)
        } else {
            (Side::Buy, reference * (1.0 + through), Round::Floor)
        };
        let qty = ctx.venue.lots_for_usd(excess_usd, reference);
        (qty.lots() > 0).then(|| QuoteOrder {
            side,
            kind: OrderKind::Ioc,
            price: ctx.venue.to_tick(limit, round),
            qty,
            reduce_only: true,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
    }

    /// One requote: cancel its resting orders, unload excess inventory, place the ladder. The
    /// engine applies it as those commands one after another (`Command::Requote`), at the
    /// cost of one.
    fn quote(&mut self, ctx: &mut Ctx) {
        let mut orders = Vec::with_capacity(2 * self.params.levels as usize + 1);
        orders.extend(self.unload(ctx));
        self.ladder(ctx, &mut orders);
        let requote = Requote {
            account: self.account,
            market: ctx.venue.market_id(),
            orders,
        };
        // Scenarios allow at most 100 levels a side (201 orders with the unload), within a
        // requote's bound; past it the commands would go one by one.
        if requote.orders.len() <= limits::MAX_REQUOTE_ORDERS {
            ctx.out.push(Action::Send(Command::Requote(requote)));
        } else {
            ctx.out.extend(requote.commands().map(Action::Send));
        }
        self.last_quote_ref = ctx.outside_price;
        self.filled_since_quote = false;
    }

    /// Closes the books at the end of the run (time still pulled counts).
    pub fn finish(&mut self, end_ms: u64) {
        if self.pulled_until_ms.is_some() {
            self.pulled_ms_total += end_ms.saturating_sub(self.pulled_since_ms);
            self.pulled_since_ms = end_ms;
        }
    }
}
