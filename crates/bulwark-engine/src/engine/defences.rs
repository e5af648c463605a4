//! The defences driven from commands (the arithmetic is in `crate::defence`): oracle sources
//! and the guard's degraded mode, the halt and divergence breakers, dynamic margin's schedule,
//! the adaptive taker fee, and the gate every order passes (price band, halt, degraded mode,
//! open-interest caps).

use super::*;
use crate::command::PlaceOrder;
use crate::defence::{
    self, gap_ppm, Halt, HaltMode, HaltReason, MarginSchedule, SourceReading, VolatilityReading,
    MAX_ORACLE_SOURCES,
};
use crate::event::Event;
use crate::market::Market;
use crate::reject::Reject;
use bulwark_core::{MarketId, Ppm, Price, Qty, TimestampMs, PPM_ONE};

/// What the defences allow an order that would add to the account's exposure. Small and
/// `Copy`: it crosses the order path on every order; the rejection is built only when used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gate {
    Open,
    /// Only exposure-reducing orders, because of a reduce-only halt.
    HaltedReduceOnly,
    /// Only exposure-reducing orders, because the oracle guard degraded the market.
    Degraded,
}

impl Engine {
    /// Record one source's report, then judge the sources, refresh the mark and run what a
    /// price change runs.
    pub(super) fn oracle_source(
        &mut self,
        market: MarketId,
        source: u8,
        reading: SourceReading,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        if source as usize >= MAX_ORACLE_SOURCES {
            return Err(Reject::UnknownOracleSource {
                source_id: source,
                max: MAX_ORACLE_SOURCES,
            });
        }
        let max = self.markets[mi].params.max_price;
        if !reading.price.is_positive() {
            return Err(Reject::PriceNotPositive(reading.price));
        }
        if reading.price > max {
            return Err(Reject::PriceOutOfRange {
                price: reading.price,
                max,
            });
        }
        if reading.confidence.is_negative() || reading.confidence > max {
            return Err(Reject::InvalidParam {
                name: "confidence",
                reason: "must be in [0, max_price]".into(),
            });
        }
        if reading.published > now {
            return Err(Reject::PublishedInFuture {
                published: reading.published,
                now,
            });
        }
        if let Some(last) = self.markets[mi].defence.sources[source as usize] {
            if reading.published < last.published {
                return Err(Reject::SourceReportOutOfOrder {
                    source_id: source,
                    published: reading.published,
                    last: last.published,
                });
            }
        }
        self.defence_mut(mi).sources[source as usize] = Some(reading);
        self.events.push(Event::OracleSourceReported {
            market,
            source,
            price: reading.price,
            confidence: reading.confidence,
            published: reading.published,
        });
        self.after_price_input(mi, now, false)?;
        Ok(self.native_sweep()?)
    }

    /// After any price input or the passing of time: end a halt that is over, judge the
    /// sources (at a tick only: the sources of one moment report one after another, and a
    /// market must not degrade between the first report and the last), refresh the mark and
    /// let the breakers look at it.
    pub(super) fn after_price_input(&mut self, mi: usize, now: TimestampMs, tick: bool) -> Bounded {
        self.end_halt_if_due(mi, now);
        if tick {
            self.update_guard(mi, now);
        }
        self.refresh_mark(mi, now)?;
        self.evaluate_breakers(mi, now);
        if tick {
            self.evaluate_proactive(mi, now)?;
        }
        Ok(())
    }

    /// Enter or leave degraded mode (judged at each tick). Between ticks the oracle is still
    /// the median of the sources valid at that moment.
    fn update_guard(&mut self, mi: usize, now: TimestampMs) {
        let m = &self.markets[mi];
        let g = m.params.defences.oracle_guard;
        if !g.enabled {
            return;
        }
        let verdict = m.oracle_verdict(now);
        let market = m.id;
        let st = m.defence;
        match st.degraded_since {
            None if verdict.valid < g.min_sources => {
                let d = self.defence_mut(mi);
                d.degraded_since = Some(now);
                d.recovering_since = None;
                self.events.push(Event::OracleDegraded {
                    market,
                    valid: verdict.valid,
                    status: verdict.status,
                });
            }
            None => {}
            Some(since) if verdict.valid >= g.recover_sources => {
                let from = st.recovering_since.unwrap_or(now);
                if now.saturating_sub_ms(from) >= g.recover_ms {
                    let d = self.defence_mut(mi);
                    d.degraded_since = None;
                    d.recovering_since = None;
                    self.events.push(Event::OracleRecovered {
                        market,
                        valid: verdict.valid,
                        degraded_ms: now.saturating_sub_ms(since),
                    });
                } else if st.recovering_since.is_none() {
                    self.defence_mut(mi).recovering_since = Some(now);
                }
            }
            Some(_) if st.recovering_since.is_some() => {
                self.defence_mut(mi).recovering_since = None;
            }
            Some(_) => {}
        }
    }

    /// Record the mark in the halt window and start a halt if a breaker trips.
    fn evaluate_breakers(&mut self, mi: usize, now: TimestampMs) {
        let m = &self.markets[mi];
        let d = *m.params.defences;
        if m.defence.halt.is_some() || !(d.halt.enabled || d.divergence.enabled) {
            return;
        }
        let mark = m.mark;
        let mut trip = None;
        if d.halt.enabled {
            let mut window = m.defence.window;
            if let Some((low, high)) = window.range(now, d.halt.window_ms) {
                // The move up from the window's low, in ppm of the low; down from its high, of the high.
                let (up, down) = (gap_ppm(mark.micros(), low), gap_ppm(mark.micros(), high));
                let (move_ppm, from) = if up >= down { (up, low) } else { (down, high) };
                if move_ppm > d.halt.max_move.raw() {
                    trip = Some((
                        HaltReason::PriceMove {
                            move_ppm,
                            from: Price::from_micros(from),
                            to: mark,
                        },
                        d.halt.mode,
                        d.halt.liquidations,
                        d.halt.cooldown_ms,
                    ));
                }
            }
            window.record(now, mark, d.halt.window_ms);
            self.defence_mut(mi).window = window;
        }
        let m = &self.markets[mi];
        if trip.is_none() && d.divergence.enabled {
            if let (Some(oracle), Some(book)) = (m.fresh_oracle(now), m.impact_mid()) {
                let divergence_ppm = gap_ppm(book.micros(), oracle.micros());
                if divergence_ppm > d.divergence.max_divergence.raw() {
                    trip = Some((
                        HaltReason::Divergence {
                            divergence_ppm,
                            oracle,
                            book,
                        },
                        d.divergence.mode,
                        d.divergence.liquidations,
                        d.divergence.cooldown_ms,
                    ));
                }
            }
        }
        if let Some((reason, mode, liquidations, cooldown_ms)) = trip {
            let until = TimestampMs(now.0.saturating_add(cooldown_ms));
            let market = m.id;
            self.defence_mut(mi).halt = Some(Halt {
                reason,
                mode,
                liquidations,
                started: now,
                until,
            });
            self.events.push(Event::HaltStarted {
                market,
                reason,
                mode,
                liquidations,
                until,
            });
        }
    }

    /// End a halt whose cool-down is over (or whose breaker was switched off). The price window
    /// starts afresh: the move that tripped it is history.
    pub(super) fn end_halt_if_due(&mut self, mi: usize, now: TimestampMs) {
        let m = &self.markets[mi];
        let Some(h) = m.defence.halt else { return };
        let d = *m.params.defences;
        let breaker_on = match h.reason {
            HaltReason::PriceMove { .. } => d.halt.enabled,
            HaltReason::Divergence { .. } => d.divergence.enabled,
            HaltReason::Cascade { .. } => d.proactive.enabled,
        };
        if now < h.until && breaker_on {
            return;
        }
        let market = m.id;
        // A predicted cascade is judged again only `check_ms` after its halt: a halt thins the
        // book (a reduce-only halt refuses half of every maker's quotes), and the depth that
        // matters is the one makers post once trading resumes.
        let rearm = matches!(h.reason, HaltReason::Cascade { .. }) && d.proactive.enabled;
        let st = self.defence_mut(mi);
        st.halt = None;
        st.window = defence::MarkWindow::default();
        if rearm {
            st.proactive_checked = Some(now);
        }
        self.events.push(Event::HaltEnded {
            market,
            reason: h.reason,
            started: h.started,
        });
    }

    /// The driver's volatility estimate: reschedule dynamic margin and reprice the taker fee.
    pub(super) fn set_volatility(
        &mut self,
        market: MarketId,
        short: Ppm,
        long: Ppm,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        for (name, v) in [("short", short), ("long", long)] {
            if v.raw() < 0 || v.raw() > PPM_ONE {
                return Err(Reject::InvalidParam {
                    name,
                    reason: "a one-hour volatility must be in [0, 100%] (ppm 0..=1000000)".into(),
                });
            }
        }
        self.defence_mut(mi).volatility = Some(VolatilityReading {
            short,
            long,
            at: now,
        });
        self.events.push(Event::VolatilitySet {
            market,
            short,
            long,
        });
        self.reschedule_margin(mi, now);
        self.reprice_taker_fee(mi);
        Ok(())
    }

    /// Set (or drop) dynamic margin's schedule toward the target its rule gives now.
    pub(super) fn reschedule_margin(&mut self, mi: usize, now: TimestampMs) {
        let m = &self.markets[mi];
        let dm = m.params.defences.dynamic_margin;
        if !dm.enabled {
            if m.defence.margin_schedule.is_some() {
                self.defence_mut(mi).margin_schedule = None;
            }
            return;
        }
        let sigma = m.defence.volatility.map_or(Ppm::ZERO, |v| v.short);
        let target = defence::margin_target(&dm, sigma);
        let in_force = m.params.maintenance;
        let old = m.defence.margin_schedule;
        if target == in_force {
            if old.is_some() {
                self.defence_mut(mi).margin_schedule = None;
            }
            return;
        }
        if old.is_some_and(|s| s.target == target) {
            return;
        }
        // A running schedule keeps its clock (the rate limit); a new one gives notice.
        let next_step = match old {
            Some(s) => s.next_step,
            None => {
                let earliest = m
                    .defence
                    .margin_last_step
                    .map_or(0, |t| t.0.saturating_add(dm.step_ms));
                TimestampMs(now.0.saturating_add(dm.notice_ms).max(earliest))
            }
        };
        let step = defence::margin_step(&dm);
        let steps = (target.raw() - in_force.raw())
            .unsigned_abs()
            .div_ceil(step as u64);
        let reaches = next_step
            .0
            .saturating_add(steps.saturating_sub(1).saturating_mul(dm.step_ms));
        let market = m.id;
        self.defence_mut(mi).margin_schedule = Some(MarginSchedule { target, next_step });
        self.events.push(Event::MarginScheduled {
            market,
            in_force,
            target,
            step: Ppm::from_raw(step),
            next_step,
            reaches_target: TimestampMs(reaches),
        });
    }

    /// Apply dynamic margin's next step if it is due. A step re-evaluates every pool of the
    /// market and re-registers its trigger prices.
    pub(super) fn step_margin_if_due(&mut self, mi: usize, now: TimestampMs) -> Bounded {
        let m = &self.markets[mi];
        let Some(s) = m.defence.margin_schedule else {
            return Ok(());
        };
        if now < s.next_step {
            return Ok(());
        }
        let dm = m.params.defences.dynamic_margin;
        let old = m.params.maintenance;
        let new = defence::margin_next(&dm, old, s.target);
        let market = m.id;
        let mut p = m.params.clone();
        p.maintenance = new;
        self.set_params(mi, p);
        let st = self.defence_mut(mi);
        st.margin_last_step = Some(now);
        st.margin_schedule = (new != s.target).then_some(MarginSchedule {
            target: s.target,
            next_step: TimestampMs(now.0.saturating_add(dm.step_ms)),
        });
        self.events.push(Event::MaintenanceChanged {
            market,
            old,
            new,
            target: s.target,
        });
        self.reevaluate_market(market)
    }

    /// Recompute the adaptive taker fee in force; an event when it changes.
    pub(super) fn reprice_taker_fee(&mut self, mi: usize) {
        let m = &self.markets[mi];
        let af = m.params.defences.adaptive_fee;
        let new = af
            .enabled
            .then(|| defence::adaptive_taker_fee(&af, m.params.taker_fee, m.defence.volatility))
            .filter(|&f| f != m.params.taker_fee);
        let old = m.taker_fee();
        let market = m.id;
        if m.defence.taker_fee_in_force != new {
            self.defence_mut(mi).taker_fee_in_force = new;
        }
        let now_fee = self.markets[mi].taker_fee();
        if now_fee != old {
            self.events.push(Event::TakerFeeChanged {
                market,
                old,
                new: now_fee,
            });
        }
    }

    /// After a defence parameter changed: leave states the new parameters no longer allow.
    pub(super) fn defences_changed(&mut self, mi: usize, now: TimestampMs) -> Bounded {
        let m = &self.markets[mi];
        if !m.params.defences.oracle_guard.enabled {
            if let Some(since) = m.defence.degraded_since {
                let market = m.id;
                let valid = m.oracle_verdict(now).valid;
                let d = self.defence_mut(mi);
                d.degraded_since = None;
                d.recovering_since = None;
                self.events.push(Event::OracleRecovered {
                    market,
                    valid,
                    degraded_ms: now.saturating_sub_ms(since),
                });
            }
        }
        if !self.markets[mi].params.defences.proactive.enabled
            && self.markets[mi].defence.proactive_checked.is_some()
        {
            self.defence_mut(mi).proactive_checked = None;
        }
        self.end_halt_if_due(mi, now);
        self.reschedule_margin(mi, now);
        self.reprice_taker_fee(mi);
        self.update_guard(mi, now);
        self.refresh_mark(mi, now)
    }

    /// The defences' verdict on an order before its plan: the price band (any order with a
    /// limit of its own), a full halt (nothing), and what a reduce-only halt or degraded mode
    /// leaves (exposure-reducing orders only; `check_order_risk` applies it).
    #[inline]
    pub(super) fn order_gate(
        &self,
        m: &Market,
        o: &PlaceOrder,
        limit: Price,
    ) -> Result<Gate, Reject> {
        let st = &m.defence;
        if st.halt.is_none() && st.degraded_since.is_none() && !m.params.defences.price_band.enabled
        {
            return Ok(Gate::Open);
        }
        self.order_gate_slow(m, o, limit)
    }

    /// The halt in force at this command's time: one whose cool-down is over no longer gates
    /// anything, even before the next price input or tick ends it formally.
    fn halt_in_force(&self, m: &Market) -> Option<Halt> {
        m.defence.halt.filter(|h| self.now_ms < h.until)
    }

    fn order_gate_slow(&self, m: &Market, o: &PlaceOrder, limit: Price) -> Result<Gate, Reject> {
        let d = &m.params.defences;
        if d.price_band.enabled && o.kind != crate::command::OrderKind::Market {
            let (low, high) = band_limits(m.mark, d.price_band.band);
            if limit < low || limit > high {
                return Err(Reject::OutsidePriceBand {
                    price: limit,
                    low,
                    high,
                });
            }
        }
        if let Some(h) = self.halt_in_force(m) {
            return match h.mode {
                HaltMode::Full => Err(halted(m, h, "no orders are accepted; cancels are")),
                HaltMode::ReduceOnly => Ok(Gate::HaltedReduceOnly),
            };
        }
        if m.is_degraded() {
            return Ok(Gate::Degraded);
        }
        Ok(Gate::Open)
    }

    /// The rejection of an order that would add exposure where `gate` allows none.
    pub(super) fn gate_reject(&self, m: &Market, gate: Gate) -> Option<Reject> {
        match gate {
            Gate::Open => None,
            Gate::HaltedReduceOnly => self
                .halt_in_force(m)
                .map(|h| halted(m, h, "only orders that reduce exposure are accepted")),
            Gate::Degraded => Some(Reject::MarketDegraded { market: m.id }),
        }
    }

    /// Open-interest caps on an order whose opening part is `added` lots (its fills can add at
    /// most that to open interest) and which takes the account's worst-case position to
    /// `new_worst`; and the initial-margin scale the cap's use asks for. Checked at placement:
    /// a resting order filled later may take open interest past the cap by what it opens.
    #[inline]
    pub(super) fn oi_cap_check(
        &self,
        m: &Market,
        new_worst: Qty,
        added: Qty,
    ) -> Result<i64, Reject> {
        let c = &m.params.defences.oi_cap;
        if !c.enabled {
            return Ok(PPM_ONE);
        }
        let cap = c.max_open_interest;
        // floor(cap x share / 1e6), in `i64` when the product fits (a 128-bit division is a
        // library call the order path would pay on every order).
        let share = c.max_account_share.raw();
        let account_cap = match cap.lots().checked_mul(share) {
            Some(p) => p / PPM_ONE,
            None => (cap.lots() as i128 * share as i128 / PPM_ONE as i128) as i64,
        };
        let account_cap = Qty::from_lots(account_cap);
        if new_worst > account_cap {
            return Err(Reject::AccountOpenInterestCap {
                qty: new_worst,
                cap: account_cap,
                share_ppm: share,
            });
        }
        let oi = Qty::from_lots(m.open_interest.lots().saturating_add(added.lots()));
        if oi > cap {
            return Err(Reject::OpenInterestCap { oi, cap });
        }
        Ok(defence::oi_initial_scale(c, m.open_interest))
    }

    /// A market of the pool is halted with liquidations off: the halted market, if any.
    pub(super) fn liquidation_paused(&self, account: AccountId, scope: Scope) -> Option<&Market> {
        self.acct(account)
            .positions
            .iter()
            .filter(|p| !p.qty.is_zero() && in_scope(p, scope))
            .map(|p| &self.markets[p.market.0 as usize])
            .find(|m| self.halt_in_force(m).is_some_and(|h| !h.liquidations))
    }
}

fn halted(m: &Market, h: Halt, allowed: &'static str) -> Reject {
    let why = match h.reason {
        HaltReason::PriceMove { .. } => "the price moved too fast",
        HaltReason::Divergence { .. } => "the book diverged from the oracle",
        HaltReason::Cascade { .. } => {
            "a further move would set off more liquidations than the book can absorb"
        }
    };
    Reject::MarketHalted {
        market: m.id,
        why,
        until: h.until,
        allowed,
    }
}

/// The band [mark x (1 - band), mark x (1 + band)], rounded outward (a price on the edge
/// passes).
pub(super) fn band_limits(mark: Price, band: Ppm) -> (Price, Price) {
    // mark <= 1e15 and band < 1e6: the product fits i128 and the half-width i64; in `i64`
    // when it fits (every realistic price), since a 128-bit division is a library call.
    let half = match mark.micros().checked_mul(band.raw()) {
        Some(w) => (w + PPM_ONE - 1) / PPM_ONE,
        None => {
            let one = PPM_ONE as i128;
            ((mark.micros() as i128 * band.raw() as i128 + one - 1) / one) as i64
        }
    };
    (
        Price::from_micros(mark.micros().saturating_sub(half).max(0)),
        Price::from_micros(mark.micros().saturating_add(half)),
    )
}

impl Market {
    /// The taker fee in force: the adaptive fee when it is on, else the market's.
    #[inline]
    pub fn taker_fee(&self) -> Ppm {
        self.defence
            .taker_fee_in_force
            .unwrap_or(self.params.taker_fee)
    }

    /// The liquidation band in force: wider by the guard's margin in degraded mode (capped at
    /// 90%, so a band edge stays a positive price).
    #[inline]
    pub fn liquidation_band(&self) -> Ppm {
        let base = self.params.liquidation_band;
        if !self.is_degraded() {
            return base;
        }
        let extra = self.params.defences.oracle_guard.degraded_liquidation_band;
        Ppm::from_raw((base.raw() + extra.raw()).min(900_000))
    }

    /// The halt in force, if any.
    pub fn halt(&self) -> Option<Halt> {
        self.defence.halt
    }
}

/// The fee schedule of a market as it stands (`Engine::fee_schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeeSchedule {
    pub maker_fee: Ppm,
    /// The market's base taker fee.
    pub base_taker_fee: Ppm,
    /// What a taker pays now (the adaptive fee when it is on).
    pub taker_fee: Ppm,
    /// Share of every fee credited to the insurance fund.
    pub insurance_fee_share: Ppm,
    /// Share of the adaptive surcharge (taker fee over base) credited to the insurance fund.
    pub surcharge_insurance_share: Ppm,
    /// The volatility the fee was priced from, if any.
    pub short_volatility: Option<Ppm>,
    pub long_volatility: Option<Ppm>,
}

impl Engine {
    /// The fee schedule in force in `market`.
    pub fn fee_schedule(&self, market: MarketId) -> Option<FeeSchedule> {
        let m = self.markets.get(market.0 as usize)?;
        let af = &m.params.defences.adaptive_fee;
        Some(FeeSchedule {
            maker_fee: m.params.maker_fee,
            base_taker_fee: m.params.taker_fee,
            taker_fee: m.taker_fee(),
            insurance_fee_share: m.params.insurance_fee_share,
            surcharge_insurance_share: if af.enabled {
                af.surcharge_insurance_share
            } else {
                Ppm::ZERO
            },
            short_volatility: m.defence.volatility.map(|v| v.short),
            long_volatility: m.defence.volatility.map(|v| v.long),
        })
    }
}
