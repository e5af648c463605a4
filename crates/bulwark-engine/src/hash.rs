//! A deterministic state hash over a canonical encoding.
//!
//! Every field that is state is fed in a fixed order (markets by id, accounts by id, book
//! orders in priority order, flags in key order) as little-endian integers into BLAKE3. No
//! hash-map order, pointer or allocation layout reaches it, so the same commands give the same
//! hash on any machine, and a journal replay can be checked against the live engine.

use crate::account::Position;
use crate::book::Side;
use crate::command::{MarginMode, MarketParams};
use crate::defence::{DefenceState, Defences, HaltMode, HaltReason};
use crate::engine::Engine;
use crate::event::Scope;

struct Feed(blake3::Hasher);

impl Feed {
    fn u64(&mut self, v: u64) {
        self.0.update(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.update(&v.to_le_bytes());
    }
    fn i128(&mut self, v: i128) {
        self.0.update(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.0.update(&[v as u8]);
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => {
                self.0.update(&[0]);
            }
            Some(x) => {
                self.0.update(&[1]);
                self.i64(x);
            }
        }
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.update(s.as_bytes());
    }
    fn params(&mut self, p: &MarketParams) {
        self.str(&p.symbol);
        for v in [
            p.tick_size.micros(),
            p.lots_per_unit,
            p.maintenance.raw(),
            p.initial_multiplier.raw(),
            p.size_premium.raw(),
            p.maker_fee.raw(),
            p.taker_fee.raw(),
            p.funding_interval_ms as i64,
            p.funding_clamp.raw(),
            p.trade_ema_alpha.raw(),
            p.impact_notional_usd.micros(),
            p.oracle_stale_ms as i64,
            p.market_order_band.raw(),
            p.max_order_qty.lots(),
            p.max_position_qty.lots(),
            p.initial_price.micros(),
            p.max_price.micros(),
            p.liquidation_end_multiplier.raw(),
            p.liquidation_penalty.raw(),
            p.keeper_reward_share.raw(),
            p.liquidation_band.raw(),
            p.insurance_fee_share.raw(),
            p.adl_policy as i64,
        ] {
            self.i64(v);
        }
        for on in [
            p.waterfall.vault,
            p.waterfall.insurance,
            p.waterfall.adl,
            p.waterfall.socialize,
        ] {
            self.bool(on);
        }
        self.defences(&p.defences);
    }
    fn defences(&mut self, d: &Defences) {
        let g = &d.oracle_guard;
        self.bool(g.enabled);
        for v in [
            g.max_confidence.raw(),
            g.max_deviation.raw(),
            g.min_sources as i64,
            g.recover_sources as i64,
            g.recover_ms as i64,
            g.degraded_liquidation_band.raw(),
        ] {
            self.i64(v);
        }
        self.bool(d.stable_price.enabled);
        self.i64(d.stable_price.growth_per_hour.raw());
        self.bool(d.price_band.enabled);
        self.i64(d.price_band.band.raw());
        let h = &d.halt;
        for (on, v) in [
            (
                h.enabled,
                [h.max_move.raw(), h.window_ms as i64, h.cooldown_ms as i64],
            ),
            (
                d.divergence.enabled,
                [
                    d.divergence.max_divergence.raw(),
                    d.divergence.cooldown_ms as i64,
                    0,
                ],
            ),
        ] {
            self.bool(on);
            for x in v {
                self.i64(x);
            }
        }
        self.bool(h.mode == HaltMode::Full);
        self.bool(h.liquidations);
        self.bool(d.divergence.mode == HaltMode::Full);
        self.bool(d.divergence.liquidations);
        let p = &d.proactive;
        self.bool(p.enabled);
        for v in [
            p.move_ppm.raw(),
            p.z.raw(),
            p.horizon_s as i64,
            p.max_ratio.raw(),
            p.min_at_risk_usd.micros(),
            p.check_ms as i64,
            p.cooldown_ms as i64,
        ] {
            self.i64(v);
        }
        self.bool(p.mode == HaltMode::Full);
        self.bool(p.liquidations);
        let m = &d.dynamic_margin;
        self.bool(m.enabled);
        for v in [
            m.floor.raw(),
            m.z.raw(),
            m.horizon_s as i64,
            m.max_change_per_hour.raw(),
            m.step_ms as i64,
            m.notice_ms as i64,
        ] {
            self.i64(v);
        }
        self.opt_i64(m.override_maintenance.map(|p| p.raw()));
        let f = &d.adaptive_fee;
        self.bool(f.enabled);
        for v in [
            f.slope.raw(),
            f.max_taker_fee.raw(),
            f.surcharge_insurance_share.raw(),
        ] {
            self.i64(v);
        }
        let c = &d.oi_cap;
        self.bool(c.enabled);
        for v in [
            c.max_open_interest.lots(),
            c.max_account_share.raw(),
            c.scale_from.raw(),
            c.scale_max.raw(),
        ] {
            self.i64(v);
        }
    }
    fn defence_state(&mut self, s: &DefenceState) {
        for src in &s.sources {
            self.opt_i64(src.map(|r| r.price.micros()));
            self.opt_i64(src.map(|r| r.confidence.micros()));
            self.opt_i64(src.map(|r| r.published.0 as i64));
        }
        self.opt_i64(s.degraded_since.map(|t| t.0 as i64));
        self.opt_i64(s.recovering_since.map(|t| t.0 as i64));
        self.bool(s.halt.is_some());
        if let Some(h) = &s.halt {
            // The reason's figures are in the HaltStarted event; the state is what gates.
            self.bool(h.mode == HaltMode::Full);
            self.bool(h.liquidations);
            self.u64(h.started.0);
            self.u64(h.until.0);
            match h.reason {
                HaltReason::PriceMove { move_ppm, from, to } => {
                    self.u64(0);
                    self.i64(move_ppm);
                    self.i64(from.micros());
                    self.i64(to.micros());
                }
                HaltReason::Divergence {
                    divergence_ppm,
                    oracle,
                    book,
                } => {
                    self.u64(1);
                    self.i64(divergence_ppm);
                    self.i64(oracle.micros());
                    self.i64(book.micros());
                }
                HaltReason::Cascade {
                    move_ppm,
                    pools,
                    at_risk_usd,
                    depth_usd,
                } => {
                    self.u64(2);
                    self.i64(move_ppm);
                    self.u64(pools);
                    self.i64(at_risk_usd.micros());
                    self.i64(depth_usd.micros());
                }
            }
        }
        self.bool(s.window.used);
        for b in &s.window.buckets {
            self.u64(b.slot);
            self.i64(b.low);
            self.i64(b.high);
        }
        self.opt_i64(s.volatility.map(|v| v.short.raw()));
        self.opt_i64(s.volatility.map(|v| v.long.raw()));
        self.opt_i64(s.volatility.map(|v| v.at.0 as i64));
        self.opt_i64(s.margin_schedule.map(|m| m.target.raw()));
        self.opt_i64(s.margin_schedule.map(|m| m.next_step.0 as i64));
        self.opt_i64(s.margin_last_step.map(|t| t.0 as i64));
        self.opt_i64(s.taker_fee_in_force.map(|f| f.raw()));
        self.opt_i64(s.stable.map(|(p, _)| p.micros()));
        self.opt_i64(s.stable.map(|(_, t)| t.0 as i64));
        self.opt_i64(s.proactive_checked.map(|t| t.0 as i64));
    }
    fn position(&mut self, p: &Position) {
        self.u64(p.market.0 as u64);
        self.bool(p.mode == MarginMode::Isolated);
        for v in [
            p.qty.lots(),
            p.cost_usd.micros(),
            p.open_buy.lots(),
            p.open_sell.lots(),
            p.isolated_usd.micros(),
            p.realized_pnl_usd.micros(),
            p.funding_paid_usd.micros(),
            p.fees_paid_usd.micros(),
        ] {
            self.i64(v);
        }
        self.i128(p.funding_snap.get());
        self.i128(p.loss_snap.get());
    }
}

/// BLAKE3 of the canonical encoding of the whole engine state.
pub fn state_hash(engine: &Engine) -> [u8; 32] {
    let e = engine.parts();
    let mut f = Feed(blake3::Hasher::new());
    f.str("bulwark-state-v4");
    f.u64(e.last_ms.0);
    f.u64(e.next_order_seq);
    f.u64(e.commands_applied);
    for v in [
        e.fee_pool_usd,
        e.deposited_usd,
        e.withdrawn_usd,
        e.insurance_usd,
        e.bad_debt_usd,
    ] {
        f.i64(v.micros());
    }
    // Genesis was added after v2: fed only when used, so a venue that never booked a genesis
    // position hashes as it did (its state is the same: genesis closed, nothing booked).
    if e.genesis_open || !e.genesis_cost_usd.is_zero() {
        f.str("genesis");
        f.bool(e.genesis_open);
        f.i64(e.genesis_cost_usd.micros());
    }
    f.u64(e.waterfall_pending.len() as u64);
    for (account, scope) in e.waterfall_pending {
        f.u64(account.0 as u64);
        match scope {
            Scope::Cross => f.u64(u64::MAX),
            Scope::Isolated(m) => f.u64(m.0 as u64),
        }
    }
    f.bool(e.venue.native_liquidation);
    f.u64(e.venue.max_liquidations_per_step as u64);
    f.u64(e.venue.vault_withdrawal_delay_ms);
    f.i64(e.venue.vault_margin_multiplier.raw());
    let vp = &e.venue.vault_policy;
    f.i64(vp.unwind_depth_share.raw());
    f.i64(vp.unwind_band.raw());
    f.u64(vp.unwind_interval_ms);
    f.u64(vp.max_hold_ms);
    f.i64(vp.max_market_exposure.raw());
    f.i64(vp.max_total_exposure.raw());
    f.u64(e.markets.len() as u64);
    for m in e.markets {
        f.params(&m.params);
        f.i64(m.mark.micros());
        f.opt_i64(m.trade_ema.map(|p| p.micros()));
        f.u64(m.trade_ema_at.0);
        f.defence_state(&m.defence);
        f.i64(m.open_interest.lots());
        f.u64(m.next_funding_ms);
        f.i64(m.premium_sum_ppm);
        f.u64(m.premium_samples as u64);
        for v in m.funding_index.iter().chain(&m.loss_index) {
            f.i128(*v);
        }
        f.i64(m.funding_clearing_usd.micros());
        f.i64(m.loss_clearing_usd.micros());
        f.u64(m.book.free_slots().len() as u64);
        for &slot in m.book.free_slots() {
            f.u64(slot as u64);
        }
        for side in [Side::Buy, Side::Sell] {
            f.u64(m.book.orders_in_priority(side).count() as u64);
            for o in m.book.orders_in_priority(side) {
                f.u64(o.id.0);
                f.u64(o.account.0 as u64);
                f.i64(o.price.micros());
                f.i64(o.remaining.lots());
                f.bool(o.reduce_only);
            }
        }
    }
    f.u64(e.accounts.len() as u64);
    for a in e.accounts.iter().chain(std::iter::once(&e.vault.account)) {
        f.bool(a.active);
        f.i64(a.adl_haircut_usd.micros());
        f.i64(a.socialized_loss_usd.micros());
        f.i64(a.collateral_usd.micros());
        f.u64(a.positions.len() as u64);
        for p in &a.positions {
            f.position(p);
        }
        // The order list's internal order is deterministic too, but hash it sorted so that it
        // is a set, as its meaning is.
        let mut orders = a.orders.clone();
        orders.sort_unstable();
        f.u64(orders.len() as u64);
        for (m, id) in orders {
            f.u64(m.0 as u64);
            f.u64(id.0);
        }
    }
    f.u64(e.vault.total_shares);
    for (lp, shares) in &e.vault.shares {
        f.u64(lp.0 as u64);
        f.u64(*shares);
    }
    f.u64(e.vault.requests.len() as u64);
    for (lp, r) in &e.vault.requests {
        f.u64(lp.0 as u64);
        f.u64(r.shares);
        f.u64(r.claimable_at_ms);
    }
    f.u64(e.vault.inventory.len() as u64);
    for (m, inv) in &e.vault.inventory {
        f.u64(m.0 as u64);
        f.u64(inv.since_ms);
        f.u64(inv.last_unwind_ms);
    }
    f.u64(e.flags.len() as u64);
    for (&(acc, scope), flag) in e.flags {
        f.u64(acc.0 as u64);
        match scope {
            Scope::Cross => f.i64(-1),
            Scope::Isolated(m) => f.i64(m.0 as i64),
        }
        f.bool(flag.below_maintenance);
        f.bool(flag.negative_equity);
    }
    *f.0.finalize().as_bytes()
}

/// The state hash as lowercase hex.
pub fn state_hash_hex(engine: &Engine) -> String {
    state_hash(engine)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
