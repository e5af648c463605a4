//! The defences as the run saw them: every circuit-breaker halt and degraded-oracle period
//! with its reason, start, end and what the venue refused during it; dynamic margin's steps
//! and the adaptive fee's range. The engine emits the transitions as events; a refusal changes
//! nothing in the engine, so what a period refused is counted here, from the rejections.

use bulwark_engine::{Event, HaltMode, HaltReason, MarketId, Reject};
use serde::Serialize;

/// One breaker or degraded-oracle period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DefencePeriod {
    pub market: u16,
    /// `halt` or `degraded`.
    pub kind: &'static str,
    /// Why: `price_move`, `divergence`, `cascade` (the proactive breaker) or `oracle_sources`.
    pub reason: &'static str,
    /// The figure that tripped it: the move or divergence in ppm, the valid sources left, for
    /// a predicted cascade the notional at risk over the depth in ppm (capped at 1e12).
    pub trigger: i64,
    /// `full` or `reduce_only` (a degraded market takes reduce-only orders).
    pub mode: &'static str,
    pub liquidations: bool,
    /// Seconds since the run's start.
    pub start_s: f64,
    /// `None` while still open at the end of the run.
    pub end_s: Option<f64>,
    pub orders_refused: u64,
    pub notional_refused_usd: f64,
    /// A predicted cascade's verdict: whether the mark made the predicted move within
    /// [`CONFIRM_WINDOW_S`] of the trip (`None` for other periods, and while still open).
    pub confirmed: Option<bool>,
}

/// How long after a proactive trip the predicted move may take to count as having come:
/// later, the trip was a false one.
pub const CONFIRM_WINDOW_S: f64 = 3600.0;

/// A proactive trip waiting for its verdict.
#[derive(Clone, Copy, Debug)]
struct Prediction {
    period: usize,
    market: MarketId,
    start_s: f64,
    /// The mark the predicted move reaches (micro-USD) and its direction.
    target_micros: i64,
    down: bool,
}

impl DefencePeriod {
    pub fn duration_s(&self, run_end_s: f64) -> f64 {
        (self.end_s.unwrap_or(run_end_s) - self.start_s).max(0.0)
    }
}

/// What summary.json reports of the defences.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DefencesSummary {
    pub halts: u64,
    pub halted_s: f64,
    pub degraded_periods: u64,
    pub degraded_s: f64,
    pub orders_refused_in_periods: u64,
    pub margin_steps: u64,
    /// Highest maintenance fraction dynamic margin reached (ppm; 0: no step).
    pub maintenance_max_ppm: i64,
    pub taker_fee_changes: u64,
    /// Highest adaptive taker fee (ppm; 0: never changed).
    pub taker_fee_max_ppm: i64,
    pub volatility_reports: u64,
    /// Halts of the proactive breaker, and those whose predicted move did not come within
    /// an hour (a run's end counts as not coming).
    pub proactive_trips: u64,
    pub proactive_false_trips: u64,
}

#[derive(Clone, Debug, Default)]
pub struct DefenceLog {
    pub periods: Vec<DefencePeriod>,
    /// Index in `periods` of each market's open halt and open degraded period.
    open_halt: Vec<Option<usize>>,
    open_degraded: Vec<Option<usize>>,
    pub margin_steps: u64,
    pub maintenance_max_ppm: i64,
    pub taker_fee_changes: u64,
    pub taker_fee_max_ppm: i64,
    pub volatility_reports: u64,
    predictions: Vec<Prediction>,
}

/// Whether the lab's defence log reads this event.
pub fn reads(ev: &Event) -> bool {
    matches!(
        ev,
        Event::HaltStarted { .. }
            | Event::HaltEnded { .. }
            | Event::OracleDegraded { .. }
            | Event::OracleRecovered { .. }
            | Event::MaintenanceChanged { .. }
            | Event::TakerFeeChanged { .. }
            | Event::VolatilitySet { .. }
    )
}

fn slot(v: &mut Vec<Option<usize>>, market: MarketId) -> &mut Option<usize> {
    let i = market.0 as usize;
    if v.len() <= i {
        v.resize(i + 1, None);
    }
    &mut v[i]
}

impl DefenceLog {
    /// An event of a command applied `t_s` seconds into the run.
    pub fn on_event(&mut self, t_s: f64, ev: &Event) {
        match *ev {
            Event::HaltStarted {
                market,
                reason,
                mode,
                liquidations,
                ..
            } => {
                let (reason, trigger) = match reason {
                    HaltReason::PriceMove { move_ppm, .. } => ("price_move", move_ppm),
                    HaltReason::Divergence { divergence_ppm, .. } => ("divergence", divergence_ppm),
                    HaltReason::Cascade {
                        at_risk_usd,
                        depth_usd,
                        ..
                    } => (
                        "cascade",
                        ratio_ppm(at_risk_usd.micros(), depth_usd.micros()),
                    ),
                };
                let mode = match mode {
                    HaltMode::Full => "full",
                    HaltMode::ReduceOnly => "reduce_only",
                };
                self.open(market, t_s, "halt", reason, trigger, mode, liquidations);
            }
            Event::HaltEnded { market, .. } => self.close(market, t_s, true),
            Event::OracleDegraded { market, valid, .. } => {
                let trigger = i64::from(valid);
                self.open(
                    market,
                    t_s,
                    "degraded",
                    "oracle_sources",
                    trigger,
                    "reduce_only",
                    true,
                );
            }
            Event::OracleRecovered { market, .. } => self.close(market, t_s, false),
            Event::MaintenanceChanged { new, .. } => {
                self.margin_steps += 1;
                self.maintenance_max_ppm = self.maintenance_max_ppm.max(new.raw());
            }
            Event::TakerFeeChanged { new, .. } => {
                self.taker_fee_changes += 1;
                self.taker_fee_max_ppm = self.taker_fee_max_ppm.max(new.raw());
            }
            Event::VolatilitySet { .. } => self.volatility_reports += 1,
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        market: MarketId,
        t_s: f64,
        kind: &'static str,
        reason: &'static str,
        trigger: i64,
        mode: &'static str,
        liquidations: bool,
    ) {
        let index = self.periods.len();
        self.periods.push(DefencePeriod {
            market: market.0,
            kind,
            reason,
            trigger,
            mode,
            liquidations,
            start_s: t_s,
            end_s: None,
            orders_refused: 0,
            notional_refused_usd: 0.0,
            confirmed: None,
        });
        let open = if kind == "halt" {
            &mut self.open_halt
        } else {
            &mut self.open_degraded
        };
        *slot(open, market) = Some(index);
    }

    fn close(&mut self, market: MarketId, t_s: f64, halt: bool) {
        let open = if halt {
            &mut self.open_halt
        } else {
            &mut self.open_degraded
        };
        if let Some(i) = slot(open, market).take() {
            self.periods[i].end_s = Some(t_s);
        }
    }

    /// An order in `market` of `notional_usd` was refused with `r`: a period that caused the
    /// refusal counts it (a halt first, then degraded mode).
    pub fn on_refused(&mut self, market: MarketId, notional_usd: f64, r: &Reject) {
        let open = match r {
            Reject::MarketHalted { .. } => slot(&mut self.open_halt, market),
            Reject::MarketDegraded { .. } => slot(&mut self.open_degraded, market),
            _ => return,
        };
        if let Some(i) = *open {
            let p = &mut self.periods[i];
            p.orders_refused += 1;
            p.notional_refused_usd += notional_usd;
        }
    }

    /// Seconds halted, summed over the periods (a period still open ends at `run_end_s`).
    pub fn halted_s(&self, run_end_s: f64) -> f64 {
        self.total_s("halt", run_end_s)
    }

    fn total_s(&self, kind: &str, run_end_s: f64) -> f64 {
        self.periods
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.duration_s(run_end_s))
            .fold(0.0, |a, b| a + b)
    }

    /// A proactive trip in `market` at `t_s` predicted a move of `move_ppm` from `mark_micros`:
    /// watch the marks for it (the metrics call this after the trip's `HaltStarted`).
    pub fn watch_prediction(
        &mut self,
        t_s: f64,
        market: MarketId,
        move_ppm: i64,
        mark_micros: i64,
    ) {
        let Some(period) = slot(&mut self.open_halt, market).as_ref().copied() else {
            return;
        };
        let target = mark_micros as i128 + mark_micros as i128 * move_ppm as i128 / 1_000_000;
        self.predictions.push(Prediction {
            period,
            market,
            start_s: t_s,
            target_micros: target.clamp(1, i64::MAX as i128) as i64,
            down: move_ppm < 0,
        });
    }

    /// Whether a prediction waits for its verdict (the metrics then pass every mark).
    pub fn watching_marks(&self) -> bool {
        !self.predictions.is_empty()
    }

    /// A new mark of `market` at `t_s`: confirm the predictions it reaches, and fail those
    /// whose window is over.
    pub fn on_mark(&mut self, t_s: f64, market: MarketId, mark_micros: i64) {
        let periods = &mut self.periods;
        self.predictions.retain(|p| {
            if p.market != market {
                return true;
            }
            let reached = if p.down {
                mark_micros <= p.target_micros
            } else {
                mark_micros >= p.target_micros
            };
            let verdict = if reached {
                Some(true)
            } else if t_s - p.start_s > CONFIRM_WINDOW_S {
                Some(false)
            } else {
                None
            };
            if let Some(v) = verdict {
                periods[p.period].confirmed = Some(v);
            }
            verdict.is_none()
        });
    }

    pub fn summary(&self, run_end_s: f64) -> DefencesSummary {
        let count = |kind: &str| self.periods.iter().filter(|p| p.kind == kind).count() as u64;
        let proactive = || self.periods.iter().filter(|p| p.reason == "cascade");
        DefencesSummary {
            halts: count("halt"),
            halted_s: self.halted_s(run_end_s),
            degraded_periods: count("degraded"),
            degraded_s: self.total_s("degraded", run_end_s),
            orders_refused_in_periods: self.periods.iter().map(|p| p.orders_refused).sum(),
            margin_steps: self.margin_steps,
            maintenance_max_ppm: self.maintenance_max_ppm,
            taker_fee_changes: self.taker_fee_changes,
            taker_fee_max_ppm: self.taker_fee_max_ppm,
            volatility_reports: self.volatility_reports,
            proactive_trips: proactive().count() as u64,
            // A trip still waiting when the run ends did not see its move.
            proactive_false_trips: proactive().filter(|p| p.confirmed != Some(true)).count() as u64,
        }
    }
}

/// `num / den` in ppm, an empty denominator and the cap at 1e12 ppm (a million times).
fn ratio_ppm(num: i64, den: i64) -> i64 {
    const CAP: i128 = 1_000_000_000_000;
    if den <= 0 {
        return CAP as i64;
    }
    (num as i128 * 1_000_000 / den as i128).min(CAP) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_engine::{Price, TimestampMs};

    #[test]
    fn a_halt_period_counts_its_refusals_and_its_time() {
        let mut log = DefenceLog::default();
        let m = MarketId(0);
        let reason = HaltReason::PriceMove {
            move_ppm: 110_000,
            from: Price::from_micros(1),
            to: Price::from_micros(1),
        };
        log.on_event(
            100.0,
            &Event::HaltStarted {
                market: m,
                reason,
                mode: HaltMode::ReduceOnly,
                liquidations: false,
                until: TimestampMs(0),
            },
        );
        let halted = Reject::MarketHalted {
            market: m,
            why: "",
            until: TimestampMs(0),
            allowed: "",
        };
        log.on_refused(m, 2_500.0, &halted);
        log.on_refused(m, 500.0, &Reject::MarketDegraded { market: m });
        log.on_event(
            400.0,
            &Event::HaltEnded {
                market: m,
                reason,
                started: TimestampMs(0),
            },
        );
        log.on_event(
            500.0,
            &Event::OracleDegraded {
                market: m,
                valid: 1,
                status: [bulwark_engine::SourceStatus::Missing; 8],
            },
        );
        let s = log.summary(1_000.0);
        assert_eq!((s.halts, s.halted_s), (1, 300.0));
        assert_eq!(
            (s.degraded_periods, s.degraded_s),
            (1, 500.0),
            "open until the end"
        );
        assert_eq!(
            s.orders_refused_in_periods, 1,
            "the degraded refusal came before it opened"
        );
        let p = &log.periods[0];
        assert_eq!(
            (p.reason, p.trigger, p.mode),
            ("price_move", 110_000, "reduce_only")
        );
        assert_eq!(p.notional_refused_usd, 2_500.0);
    }
}
