//! The prices a calibrated shock passes through exactly (its phase boundaries, the fast leg's
//! top, the published daily opens, closes, lows and highs), the daily bounds it stays inside,
//! and the bridge that joins them with noise.

use rand_chacha::ChaCha8Rng;

use super::{invalid, steps_of, CalibratedShock, DailyFacts, DAY_MS};
use crate::path::draw::uniform_open;
use crate::path::PathError;

/// Relative tolerance within which two prices stated for the same sample agree (the preset's
/// trough is computed as `start * (1 - drop_frac)`, a rounding away from the day's low).
const SAME_PRICE_REL: f64 = 1e-9;

/// A daily low or high placed by the seed sits in the middle of its segment, this share of
/// the segment's length away from either end, so it is never glued to a neighbouring anchor.
const EXTREME_MARGIN: f64 = 0.1;

/// Sample range of one day (both ends inclusive) and its log bounds.
#[derive(Debug, Clone, Copy)]
struct DayBound {
    from: usize,
    to: usize,
    lo: f64,
    hi: f64,
}

/// Pinned samples (index, price), sorted and distinct, and the bounds to keep.
#[derive(Debug)]
pub(super) struct Anchors {
    points: Vec<(usize, f64)>,
    bounds: Vec<DayBound>,
    trough_log: f64,
    trough: f64,
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= SAME_PRICE_REL * a.abs().max(b.abs())
}

/// The sample range `[from, to]` of a day, clipped to the path's `last` sample.
fn day_range(day: &DailyFacts, start_ms: u64, step_ms: u64) -> (usize, usize) {
    let from = ((day.open_time_ms - start_ms) / step_ms) as usize;
    (from, from + (DAY_MS / step_ms) as usize)
}

/// Checks the stated days on their own: on the grid, inside the path, prices ordered.
pub(super) fn validate_days(shock: &CalibratedShock, step_ms: u64) -> Result<(), PathError> {
    let end_ms = shock.start_ms + shock.total_s() * 1000;
    for day in &shock.days {
        if day.open_time_ms < shock.start_ms || day.open_time_ms >= end_ms {
            return invalid("days.open_time_ms", "each day must start inside the path");
        }
        if !(day.open_time_ms - shock.start_ms).is_multiple_of(step_ms)
            || !DAY_MS.is_multiple_of(step_ms)
        {
            return invalid(
                "days.open_time_ms",
                "each day must start and end on the sample grid (a multiple of step_ms \
                 after start_ms)",
            );
        }
        let stated = [day.open, day.high, day.low, day.close];
        if stated
            .iter()
            .flatten()
            .any(|p| !(p.is_finite() && *p > 0.0))
        {
            return invalid("days", "every stated price must be finite and > 0");
        }
        let lo = day.low.unwrap_or(0.0);
        let hi = day.high.unwrap_or(f64::INFINITY);
        if stated.iter().flatten().any(|p| *p < lo || *p > hi) {
            return invalid(
                "days",
                &format!(
                    "the day starting at {} ms states a price outside its own low and high",
                    day.open_time_ms
                ),
            );
        }
        if day
            .low
            .is_some_and(|l| l < shock.trough_price() * (1.0 - SAME_PRICE_REL))
        {
            return invalid(
                "days.low",
                "a day's low is below the trough, which is the path's minimum; change \
                 drop_frac or the day (or clear the preset's days with days = [])",
            );
        }
    }
    Ok(())
}

impl Anchors {
    /// The phase anchors, the fast leg's top, then each day's facts (which win over a
    /// computed price at the same sample, so stated prices come out exactly).
    pub(super) fn build(
        shock: &CalibratedShock,
        step_ms: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, PathError> {
        let (drop_start, trough_at, rebound_end) = shock.phase_steps(step_ms);
        let last = steps_of(shock.total_s(), step_ms);
        let trough = shock.trough_price();
        let mut a = Anchors {
            points: vec![(0, shock.start_price)],
            bounds: Vec::new(),
            trough_log: libm::log(trough),
            trough,
        };
        a.pin(drop_start, shock.start_price, "pre_shock_s")?;
        a.pin(trough_at, trough, "drop_frac")?;
        if rebound_end > trough_at {
            a.pin(rebound_end, shock.rebound_price(), "rebound_frac")?;
        }
        if let Some(leg) = &shock.fast_leg {
            let top = trough / (1.0 - leg.drop_frac);
            a.pin(
                trough_at - steps_of(leg.duration_s, step_ms),
                top,
                "fast_leg",
            )?;
        }
        for day in &shock.days {
            let (from, to) = day_range(day, shock.start_ms, step_ms);
            if let Some(open) = day.open {
                a.pin_stated(from, open, "days.open")?;
            }
            if let (Some(close), true) = (day.close, to <= last) {
                a.pin_stated(to, close, "days.close")?;
            }
        }
        for day in &shock.days {
            let (from, to) = day_range(day, shock.start_ms, step_ms);
            a.place_extremes(day, from, to.min(last), rng)?;
            a.bounds.push(DayBound {
                from,
                to: to.min(last),
                lo: day.low.map_or(f64::NEG_INFINITY, libm::log),
                hi: day.high.map_or(f64::INFINITY, libm::log),
            });
        }
        a.check_inside_bounds()
    }

    /// Pins a computed price; a different price already pinned at the sample is an error.
    fn pin(&mut self, at: usize, price: f64, what: &'static str) -> Result<(), PathError> {
        match self.points.binary_search_by_key(&at, |p| p.0) {
            Ok(i) if same(self.points[i].1, price) => Ok(()),
            Ok(i) => invalid(
                what,
                &format!(
                    "pins {price:.2} at sample {at}, where the shape already has {:.2}; align \
                     the shock's phases with its days, or clear them with days = []",
                    self.points[i].1
                ),
            ),
            Err(i) => {
                self.points.insert(i, (at, price));
                Ok(())
            }
        }
    }

    /// Pins a stated price, which replaces an equal computed one to the last bit.
    fn pin_stated(&mut self, at: usize, price: f64, what: &'static str) -> Result<(), PathError> {
        self.pin(at, price, what)?;
        let i = self
            .points
            .binary_search_by_key(&at, |p| p.0)
            .expect("just pinned");
        self.points[i].1 = price;
        Ok(())
    }

    /// Pins a day's low and high where no anchor of the day already has them. The order is
    /// the conventional reading of a bar: high before low in a down day, low before high
    /// otherwise; each goes in the longest free segment on its side of the other.
    fn place_extremes(
        &mut self,
        day: &DailyFacts,
        from: usize,
        to: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), PathError> {
        let down_day = matches!((day.open, day.close), (Some(o), Some(c)) if c < o);
        let (first, second) = if down_day {
            ((day.high, "days.high"), (day.low, "days.low"))
        } else {
            ((day.low, "days.low"), (day.high, "days.high"))
        };
        let second_at = second.0.and_then(|p| self.find(p, from, to));
        if let (Some(p), Some(at)) = (second.0, second_at) {
            self.pin_stated(at, p, second.1)?;
        }
        let first_at = match first.0 {
            Some(p) => Some(match self.find(p, from, to) {
                Some(at) => {
                    self.pin_stated(at, p, first.1)?;
                    at
                }
                None => self.place(p, from, second_at.unwrap_or(to), first.1, rng)?,
            }),
            None => None,
        };
        if let (Some(p), None) = (second.0, second_at) {
            self.place(p, first_at.unwrap_or(from), to, second.1, rng)?;
        }
        Ok(())
    }

    /// The sample in `[from, to]` already pinned at `price`, if any.
    fn find(&self, price: f64, from: usize, to: usize) -> Option<usize> {
        self.points
            .iter()
            .find(|(at, p)| (from..=to).contains(at) && same(*p, price))
            .map(|p| p.0)
    }

    /// Pins `price` at a seeded sample inside the longest segment between anchors within
    /// `[from, to]`.
    fn place(
        &mut self,
        price: f64,
        from: usize,
        to: usize,
        what: &'static str,
        rng: &mut ChaCha8Rng,
    ) -> Result<usize, PathError> {
        let mut edges: Vec<usize> = vec![from];
        edges.extend(
            self.points
                .iter()
                .map(|p| p.0)
                .filter(|at| *at > from && *at < to),
        );
        edges.push(to);
        let (a, b) = edges
            .windows(2)
            .map(|w| (w[0], w[1]))
            .max_by_key(|(a, b)| (b - a, std::cmp::Reverse(*a)))
            .expect("at least two edges");
        if b - a < 2 {
            return Err(PathError::InvalidShock {
                name: what,
                problem: "no free sample in its day to place it; use a smaller step_ms".into(),
            });
        }
        let len = (b - a) as f64;
        let offset = len * EXTREME_MARGIN + uniform_open(rng) * len * (1.0 - 2.0 * EXTREME_MARGIN);
        let at = (a + offset as usize).clamp(a + 1, b - 1);
        self.pin(at, price, what)?;
        Ok(at)
    }

    /// Every anchor inside a day must lie within that day's low and high.
    fn check_inside_bounds(self) -> Result<Self, PathError> {
        for b in &self.bounds {
            let outside = self.points.iter().find(|(at, p)| {
                (b.from..=b.to).contains(at) && {
                    let y = libm::log(*p);
                    y < b.lo - SAME_PRICE_REL || y > b.hi + SAME_PRICE_REL
                }
            });
            if let Some((at, p)) = outside {
                invalid(
                    "days",
                    &format!(
                        "the shape puts {p:.2} at sample {at}, outside that day's stated low \
                         and high; align the shock's phases with the days or clear them with \
                         days = []"
                    ),
                )?;
            }
        }
        Ok(self)
    }

    /// Log prices: a bridge between consecutive anchors whose noise is the given increments
    /// (`X_k = a + (b - a) k/m + W_k - (k/m) W_m`, which keeps every increment's randomness,
    /// a fast leg's jumps included, and lands exactly on the next anchor), then free noise
    /// after the last anchor. `increments[k]` moves sample `k` to `k + 1`.
    pub(super) fn bridge(&self, increments: &[f64]) -> Vec<f64> {
        let mut logs = Vec::with_capacity(increments.len() + 1);
        logs.push(libm::log(self.points[0].1));
        for pair in self.points.windows(2) {
            let ((a, pa), (b, pb)) = (pair[0], pair[1]);
            let (from, to) = (libm::log(pa), libm::log(pb));
            let m = (b - a) as f64;
            let walk_end: f64 = increments[a..b].iter().sum();
            let mut walk = 0.0;
            for k in 1..=b - a {
                walk += increments[a + k - 1];
                let frac = k as f64 / m;
                logs.push(from + (to - from) * frac + walk - frac * walk_end);
            }
        }
        let last = self.points[self.points.len() - 1].0;
        for dx in &increments[last..] {
            logs.push(logs[logs.len() - 1] + dx);
        }
        logs
    }

    /// Reflects each day's samples into its bounds and everything above the trough (the
    /// path's minimum), exponentiates, and writes the anchors exactly.
    pub(super) fn to_prices(&self, logs: &[f64]) -> Vec<f64> {
        let mut logs = logs.to_vec();
        for b in &self.bounds {
            for y in &mut logs[b.from..=b.to] {
                *y = reflect_into(*y, b.lo, b.hi);
            }
        }
        let mut prices: Vec<f64> = logs
            .iter()
            .map(|&y| {
                let y = reflect_into(y, self.trough_log, f64::INFINITY);
                libm::exp(y).max(self.trough)
            })
            .collect();
        for &(at, price) in &self.points {
            prices[at] = price;
        }
        prices
    }
}

/// Reflects `y` off `lo` and `hi` once, then clamps (a second reflection would need a move
/// wider than the band, which only a degenerate band allows).
fn reflect_into(y: f64, lo: f64, hi: f64) -> f64 {
    let r = if y < lo {
        2.0 * lo - y
    } else if y > hi {
        2.0 * hi - y
    } else {
        y
    };
    r.max(lo).min(hi)
}
