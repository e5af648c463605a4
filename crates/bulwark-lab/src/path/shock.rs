//! Calibrated shocks: synthetic paths forced through published facts about a crash (its
//! peak-to-trough drop, how long it took, how much was recovered), with realistic noise.

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::draw::{exp1, standard_normal};
use super::jump::SelfExcitingJumps;
use super::{LogIncrements, PathError, PricePath, MAX_PATH_SAMPLES, MS_PER_YEAR};

mod anchors;

use anchors::Anchors;

/// A crash in four phases: calm, drop, rebound, tail.
///
/// - calm (`pre_shock_s`): noise around `start_price`, pinned back to it when the drop starts;
/// - drop (`drop_duration_s`): from `start_price` to the trough
///   `start_price * (1 - drop_frac)`, reached exactly at `start_ms + pre_shock_s + drop_duration_s`;
/// - rebound (`rebound_duration_s`): from the trough up to
///   `trough + rebound_frac * (start_price - trough)`, reached exactly at the phase's end;
/// - tail (`tail_s`): free noise from there, never pinned.
///
/// Noise is a log-space Brownian bridge between those anchors (a geometric random walk forced
/// through them), so prices stay positive and moves scale with the price. The drop and rebound
/// use `annual_vol * shock_vol_mult`. Optional jumps add sudden downward gaps during the drop.
/// The trough is the path's minimum: noise that would dip below it is reflected back up, so
/// the stated peak-to-trough drop is exactly the drop the path shows.
///
/// Two optional additions make the crash look like the real ones:
/// - `days`: published daily bars (open, high, low, close, any of them) that the path keeps
///   exactly: an open or close is pinned at the day's start or end, a low or high not already
///   pinned is reached once at a time drawn from the seed, and the whole day stays inside
///   its stated low and high (noise beyond them is reflected back);
/// - `fast_leg`: the last `duration_s` before the trough is a fast leg drawn from a
///   self-exciting jump process fitted to a real crash day ([`FastLeg`]).
///
/// Every phase boundary must fall on the sample grid, so each duration (in ms) must be a
/// multiple of the `step_ms` passed to [`CalibratedShock::generate`].
///
/// Read from TOML (a scenario's `[path.shock]`), every absent field takes its value from
/// [`CalibratedShock::march_2020`], the `Default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibratedShock {
    /// Time of the first sample, UTC epoch ms (0 for a path on relative time).
    pub start_ms: u64,
    /// Price at the start and at the top of the drop.
    pub start_price: f64,
    /// Length of the calm period before the drop, in seconds.
    pub pre_shock_s: u64,
    /// Peak-to-trough drop as a share of `start_price`, in (0, 1), e.g. 0.52.
    pub drop_frac: f64,
    /// Time from the start of the drop to the trough, in seconds (> 0).
    pub drop_duration_s: u64,
    /// Share of the drop recovered by the end of the rebound, in [0, 1].
    pub rebound_frac: f64,
    /// Time from the trough to the end of the rebound, in seconds.
    pub rebound_duration_s: u64,
    /// Time after the rebound, in seconds.
    pub tail_s: u64,
    /// Annualized (365-day) volatility of the calm and tail noise, e.g. 0.7 for 70%.
    pub annual_vol: f64,
    /// Multiplier on `annual_vol` during the drop and rebound (crash-time vol is higher).
    pub shock_vol_mult: f64,
    /// Sudden gaps during the drop, if any.
    pub jumps: Option<ShockJumps>,
    /// Published daily bars the path keeps exactly (`[]` for none).
    pub days: Vec<DailyFacts>,
    /// A fast leg of clustered jumps into the trough.
    pub fast_leg: Option<FastLeg>,
}

/// One UTC day's published bar; each stated price is kept exactly by the path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyFacts {
    /// Start of the day, UTC epoch ms; the day lasts 24 h.
    pub open_time_ms: u64,
    #[serde(default)]
    pub open: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub close: Option<f64>,
}

/// Milliseconds in a day of [`DailyFacts`].
pub const DAY_MS: u64 = 86_400_000;

/// The fast leg into the trough: the path falls `drop_frac` of its price in the last
/// `duration_s` of the drop, in the shape of a real cascade.
///
/// The shape comes from the fitted process: one day of [`SelfExcitingJumps`] is simulated at
/// the path's step and its worst `duration_s` window (the largest fall) is taken, jumps,
/// diffusion and all; the published facts set its size: the window's log increments are
/// scaled so that it falls exactly `drop_frac`. Scaling keeps what the statistics of a crash
/// day are made of (when the jumps come, how they cluster, their sizes relative to each
/// other and to the diffusion), so the worst 10 minutes keep their share of the worst hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastLeg {
    /// Length of the leg, ending at the trough, in seconds.
    pub duration_s: u64,
    /// Fall over the leg as a share of the price at its top, in (0, 1).
    pub drop_frac: f64,
    /// The process that shapes the leg (default: fitted to the crash of 2025-10-10).
    #[serde(default = "SelfExcitingJumps::crash_2025_10_10")]
    pub jumps: SelfExcitingJumps,
}

/// Length of the simulated day the fast leg's window is taken from, in ms.
const FAST_LEG_SEARCH_MS: u64 = DAY_MS;

/// Share of the day's range (high - low, over the high) that the worst 60 one-minute closes
/// fell on the crash day of 2025-10-10 (Binance CM BTCUSD perp mark, one-minute bars: 10.42%
/// of a 16.34% range). `tests/calibration.rs` measures it again from the file.
pub const CRASH_DAY_WORST_HOUR_SHARE: f64 = 0.638;

/// The same for the worst 10 minutes (8.54% of 16.34%).
pub const CRASH_DAY_WORST_10_MIN_SHARE: f64 = 0.522;

/// Sudden downward gaps during the drop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShockJumps {
    /// Number of gaps, placed at distinct random steps of the drop.
    pub count: u32,
    /// Typical size of one gap as a share of the price, in (0, 0.5). Sizes are exponential in
    /// log space, so one gap falls `1 - (1 - mean_frac)^E` with `E ~ Exp(1)`.
    pub mean_frac: f64,
}

/// Upper bound on `annual_vol`: beyond 1000% the "calm" phase is no longer calm and the log
/// noise swamps the shape the scenario states.
const MAX_ANNUAL_VOL: f64 = 10.0;

/// Upper bound on the number of jumps: "a few sudden gaps", not a jump process.
const MAX_JUMPS: u32 = 1000;

impl Default for CalibratedShock {
    fn default() -> Self {
        CalibratedShock::march_2020()
    }
}

impl CalibratedShock {
    /// BTC on 12-13 March 2020, calibrated to Coinbase's daily bars
    /// (`coinbase_btcusd_1d_2017-01-01_2025-09-25.csv`: 2020-03-12 O 7,938.05, L 4,644.00,
    /// C 4,857.10; 2020-03-13 O 4,857.10, H 5,995.00, L 3,858.00, C 5,637.60), all kept exactly,
    /// over a 72-hour window:
    /// - 12 h of calm from 2020-03-11 12:00 UTC (realized vol then was about 70%);
    /// - a 26 h drop from 7,938.05 at 03-12 00:00 UTC to 3,858.00 at 03-13 02:00 UTC, the hour
    ///   of the low on major venues, at 3x the calm vol, through the 12 March low and close;
    /// - its last hour a fast leg: the self-exciting jump process fitted to the one-minute bars
    ///   of the 2025-10-10 crash, falling the share of 13 March's range that the real crash
    ///   day's worst hour fell of its own ([`CRASH_DAY_WORST_HOUR_SHARE`] x (5,995 - 3,858) /
    ///   5,995 = 22.8%, from about 4,998 to 3,858);
    /// - a 22 h rebound through the 13 March high to its close, 5,637.60 (43.6% of the drop
    ///   recovered; other venues closed nearer 5,000);
    /// - 12 h of tail.
    ///
    /// The 12 March high (7,969.45, 0.4% above the open) is not kept: the calm-to-drop noise
    /// would have to stay under it all day, and no run depends on it.
    pub fn march_2020() -> Self {
        let start_price = 7938.05;
        let trough = 3858.0;
        let rebound_to = 5637.6;
        let (high_13, close_12, low_12) = (5995.0, 4857.1, 4644.0);
        let day_12 = 1_583_971_200_000; // 2020-03-12 00:00 UTC
        let range_13 = (high_13 - trough) / high_13;
        Self {
            start_ms: 1_583_928_000_000,
            start_price,
            pre_shock_s: 12 * 3600,
            drop_frac: 1.0 - trough / start_price,
            drop_duration_s: 26 * 3600,
            rebound_frac: (rebound_to - trough) / (start_price - trough),
            rebound_duration_s: 22 * 3600,
            tail_s: 12 * 3600,
            annual_vol: 0.7,
            shock_vol_mult: 3.0,
            jumps: None,
            days: vec![
                DailyFacts {
                    open_time_ms: day_12,
                    open: Some(start_price),
                    high: None,
                    low: Some(low_12),
                    close: Some(close_12),
                },
                DailyFacts {
                    open_time_ms: day_12 + DAY_MS,
                    open: Some(close_12),
                    high: Some(high_13),
                    low: Some(trough),
                    close: Some(rebound_to),
                },
            ],
            fast_leg: Some(FastLeg {
                duration_s: 3600,
                drop_frac: CRASH_DAY_WORST_HOUR_SHARE * range_13,
                jumps: SelfExcitingJumps::crash_2025_10_10(),
            }),
        }
    }

    /// The price at the bottom of the drop.
    pub fn trough_price(&self) -> f64 {
        self.start_price * (1.0 - self.drop_frac)
    }

    /// The price at the end of the rebound.
    pub fn rebound_price(&self) -> f64 {
        let trough = self.trough_price();
        trough + self.rebound_frac * (self.start_price - trough)
    }

    /// Time of the trough, UTC epoch ms.
    pub fn trough_ms(&self) -> u64 {
        self.start_ms + (self.pre_shock_s + self.drop_duration_s) * 1000
    }

    /// Time of the end of the rebound, UTC epoch ms.
    pub fn rebound_end_ms(&self) -> u64 {
        self.trough_ms() + self.rebound_duration_s * 1000
    }

    /// Total length of the scenario, in seconds.
    pub fn total_s(&self) -> u64 {
        // Saturating: absurd durations must reach validation's sample limit, not overflow.
        self.pre_shock_s
            .saturating_add(self.drop_duration_s)
            .saturating_add(self.rebound_duration_s)
            .saturating_add(self.tail_s)
    }

    /// Checks every parameter; the error names the parameter and the allowed range.
    pub fn validate(&self, step_ms: u64) -> Result<(), PathError> {
        self.validate_prices()?;
        self.validate_durations(step_ms)?;
        self.validate_noise()?;
        self.validate_jumps(step_ms)?;
        self.validate_fast_leg(step_ms)?;
        anchors::validate_days(self, step_ms)
    }

    fn validate_prices(&self) -> Result<(), PathError> {
        if !(self.start_price.is_finite() && self.start_price > 0.0) {
            return invalid("start_price", "must be finite and > 0");
        }
        if !(self.drop_frac > 0.0 && self.drop_frac < 1.0) {
            return invalid("drop_frac", "must be in (0, 1), e.g. 0.52 for a 52% drop");
        }
        if !(0.0..=1.0).contains(&self.rebound_frac) {
            return invalid(
                "rebound_frac",
                "must be in [0, 1] (share of the drop recovered)",
            );
        }
        Ok(())
    }

    fn validate_durations(&self, step_ms: u64) -> Result<(), PathError> {
        if step_ms == 0 {
            return Err(PathError::ZeroStep);
        }
        if self.drop_duration_s == 0 {
            return invalid("drop_duration_s", "must be > 0");
        }
        if self.rebound_frac > 0.0 && self.rebound_duration_s == 0 {
            return invalid(
                "rebound_duration_s",
                "must be > 0 when rebound_frac > 0 (a rebound takes time)",
            );
        }
        for (name, secs) in self.named_durations() {
            let ms = secs.checked_mul(1000).ok_or_else(|| too_long(name))?;
            if ms % step_ms != 0 {
                return invalid(
                    name,
                    &format!(
                        "{secs} s is not a multiple of step_ms ({step_ms} ms); pick a step \
                         that divides every phase so the trough falls on a sample"
                    ),
                );
            }
        }
        let total_ms = self.total_s().saturating_mul(1000);
        if self.start_ms.checked_add(total_ms).is_none() {
            return invalid(
                "start_ms",
                "start_ms plus the scenario's length overflows u64 ms",
            );
        }
        let samples = total_ms / step_ms + 1;
        if samples > MAX_PATH_SAMPLES as u64 {
            return Err(PathError::TooManySamples {
                samples,
                max: MAX_PATH_SAMPLES,
            });
        }
        Ok(())
    }

    fn named_durations(&self) -> [(&'static str, u64); 4] {
        [
            ("pre_shock_s", self.pre_shock_s),
            ("drop_duration_s", self.drop_duration_s),
            ("rebound_duration_s", self.rebound_duration_s),
            ("tail_s", self.tail_s),
        ]
    }

    fn validate_noise(&self) -> Result<(), PathError> {
        if !(self.annual_vol >= 0.0 && self.annual_vol <= MAX_ANNUAL_VOL) {
            return invalid(
                "annual_vol",
                &format!("must be in [0, {MAX_ANNUAL_VOL}], e.g. 0.7 for 70% a year"),
            );
        }
        if !(self.shock_vol_mult.is_finite() && self.shock_vol_mult >= 0.0) {
            return invalid("shock_vol_mult", "must be finite and >= 0");
        }
        if self.annual_vol * self.shock_vol_mult > MAX_ANNUAL_VOL {
            return invalid(
                "shock_vol_mult",
                &format!("annual_vol * shock_vol_mult must be at most {MAX_ANNUAL_VOL}"),
            );
        }
        Ok(())
    }

    fn validate_jumps(&self, step_ms: u64) -> Result<(), PathError> {
        let Some(jumps) = self.jumps else {
            return Ok(());
        };
        if !(jumps.mean_frac > 0.0 && jumps.mean_frac < 0.5) {
            return invalid(
                "jumps.mean_frac",
                "must be in (0, 0.5), e.g. 0.04 for 4% gaps",
            );
        }
        let drop_steps = self.drop_duration_s * 1000 / step_ms;
        if jumps.count > MAX_JUMPS || u64::from(jumps.count) > drop_steps {
            return invalid(
                "jumps.count",
                &format!("must be at most {MAX_JUMPS} and at most the drop's {drop_steps} steps"),
            );
        }
        // Jumps are part of the drop, not extra to it: if their expected total exceeded the
        // whole drop, the bridge would have to climb between gaps to land on the trough.
        let expected_jump_log = f64::from(jumps.count) * -libm::log(1.0 - jumps.mean_frac);
        let drop_log = -libm::log(1.0 - self.drop_frac);
        if expected_jump_log > drop_log {
            return invalid(
                "jumps",
                "count * mean_frac adds up to more than the whole drop; use fewer or smaller jumps",
            );
        }
        Ok(())
    }

    fn validate_fast_leg(&self, step_ms: u64) -> Result<(), PathError> {
        let Some(leg) = self.fast_leg else {
            return Ok(());
        };
        if !(leg.drop_frac > 0.0 && leg.drop_frac < 1.0) {
            return invalid("fast_leg.drop_frac", "must be in (0, 1), e.g. 0.23");
        }
        if leg.duration_s == 0 || leg.duration_s > self.drop_duration_s {
            return invalid(
                "fast_leg.duration_s",
                "must be > 0 and at most drop_duration_s (the leg ends the drop)",
            );
        }
        if (leg.duration_s * 1000) % step_ms != 0 {
            return invalid(
                "fast_leg.duration_s",
                &format!("must be a multiple of step_ms ({step_ms} ms)"),
            );
        }
        if leg.duration_s * 1000 >= FAST_LEG_SEARCH_MS {
            return invalid("fast_leg.duration_s", "must be shorter than a day");
        }
        let top = self.trough_price() / (1.0 - leg.drop_frac);
        if top > self.start_price {
            return invalid(
                "fast_leg.drop_frac",
                &format!(
                    "the leg would start at {top:.2}, above start_price; the leg is part of \
                     the drop, so use a smaller drop_frac"
                ),
            );
        }
        leg.jumps.validate()
    }

    /// Generates the path sampled every `step_ms`, reproducibly from `seed`.
    pub fn generate(&self, step_ms: u64, seed: u64) -> Result<PricePath, PathError> {
        self.validate(step_ms)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let anchors = Anchors::build(self, step_ms, &mut rng)?;
        let increments = self.phase_noise(step_ms, &mut rng);
        self.finish(anchors, increments, step_ms, &mut rng)
    }

    /// The same path with its diffusion noise given (`noise`, one log increment a step, as
    /// [`CalibratedShock::phase_noise`] would draw it): the anchors' random placements come
    /// from `anchor_rng`, the gaps and the fast leg from `leg_rng`. Several markets built
    /// from correlated noise and the same two streams fall together (`path::correlated`).
    /// The shock must be valid for `step_ms` and `noise` one increment per step.
    pub(super) fn generate_with_noise(
        &self,
        step_ms: u64,
        noise: Vec<f64>,
        anchor_rng: &mut ChaCha8Rng,
        leg_rng: &mut ChaCha8Rng,
    ) -> Result<PricePath, PathError> {
        assert_eq!(noise.len(), self.steps(step_ms), "one increment per step");
        let anchors = Anchors::build(self, step_ms, anchor_rng)?;
        self.finish(anchors, noise, step_ms, leg_rng)
    }

    /// Gaps, the fast leg, then the bridge through the anchors.
    fn finish(
        &self,
        anchors: Anchors,
        mut increments: Vec<f64>,
        step_ms: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<PricePath, PathError> {
        self.add_gaps(&mut increments, step_ms, rng);
        if let Some(leg) = &self.fast_leg {
            self.put_fast_leg(leg, &mut increments, step_ms, rng);
        }
        let logs = anchors.bridge(&increments);
        let prices = anchors.to_prices(&logs);
        PricePath::new(self.start_ms, step_ms, prices)
    }

    /// Number of log increments (steps) of the path at `step_ms`.
    pub(super) fn steps(&self, step_ms: u64) -> usize {
        steps_of(self.total_s(), step_ms)
    }

    /// Whether step `i` lies in the drop or the rebound (the shock's own crisis), and the
    /// standard deviation of its diffusion increment there.
    pub(super) fn step_noise_sd(&self, step_ms: u64) -> impl Fn(usize) -> (bool, f64) {
        let (drop_start, _, rebound_end) = self.phase_steps(step_ms);
        let per_step = libm::sqrt(step_ms as f64 / MS_PER_YEAR);
        let calm = self.annual_vol * per_step;
        let shock = self.annual_vol * self.shock_vol_mult * per_step;
        move |i| {
            let crisis = (drop_start..rebound_end).contains(&i);
            (crisis, if crisis { shock } else { calm })
        }
    }

    /// Sample indexes of the drop's start, the trough and the rebound's end.
    fn phase_steps(&self, step_ms: u64) -> (usize, usize, usize) {
        let drop_start = steps_of(self.pre_shock_s, step_ms);
        let trough_at = drop_start + steps_of(self.drop_duration_s, step_ms);
        let rebound_end = trough_at + steps_of(self.rebound_duration_s, step_ms);
        (drop_start, trough_at, rebound_end)
    }

    /// Gaussian log increments, one per step: the calm vol before the drop and after the
    /// rebound, the shock vol in between.
    fn phase_noise(&self, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let total = steps_of(self.total_s(), step_ms);
        let (drop_start, _, rebound_end) = self.phase_steps(step_ms);
        let calm = Diffusion {
            annual_vol: self.annual_vol,
        };
        let shock = Diffusion {
            annual_vol: self.annual_vol * self.shock_vol_mult,
        };
        let mut out = calm.log_increments(drop_start, step_ms, rng);
        out.extend(shock.log_increments(rebound_end - drop_start, step_ms, rng));
        out.extend(calm.log_increments(total - rebound_end, step_ms, rng));
        out
    }

    /// Adds the `jumps` gaps at distinct random steps of the drop.
    fn add_gaps(&self, increments: &mut [f64], step_ms: u64, rng: &mut ChaCha8Rng) {
        let Some(jumps) = self.jumps else {
            return;
        };
        let (drop_start, trough_at, _) = self.phase_steps(step_ms);
        let log_mean = libm::log(1.0 - jumps.mean_frac);
        for step in index::sample(rng, trough_at - drop_start, jumps.count as usize) {
            increments[drop_start + step] += log_mean * exp1(rng);
        }
    }

    /// Replaces the increments of the leg's steps (the last of the drop) with the worst
    /// window of a simulated day of the leg's process, scaled to fall `drop_frac`.
    fn put_fast_leg(
        &self,
        leg: &FastLeg,
        increments: &mut [f64],
        step_ms: u64,
        rng: &mut ChaCha8Rng,
    ) {
        let leg_steps = steps_of(leg.duration_s, step_ms);
        let day_steps = (FAST_LEG_SEARCH_MS / step_ms) as usize;
        let day = leg.jumps.log_increments(day_steps, step_ms, rng);
        let (from, fall) = worst_window(&day, leg_steps);
        // A simulated day with no fall at all (vanishingly rare) leaves the shock noise, which
        // the bridge still takes to the trough.
        if fall >= 0.0 {
            return;
        }
        let scale = libm::log(1.0 - leg.drop_frac) / fall;
        let (_, trough_at, _) = self.phase_steps(step_ms);
        for (slot, dx) in increments[trough_at - leg_steps..trough_at]
            .iter_mut()
            .zip(&day[from..from + leg_steps])
        {
            *slot = dx * scale;
        }
    }
}

/// Gaussian log increments of a given annualized volatility: geometric Brownian motion
/// without drift, the plainest generator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diffusion {
    /// Annualized (365-day) volatility, e.g. 0.7 for 70%.
    pub annual_vol: f64,
}

impl Diffusion {
    /// The volatility of Coinbase's daily BTC-USD log returns, 2017-01-01 to 2025-09-24
    /// (`coinbase_btcusd_1d_2017-01-01_2025-09-25.csv`): the maximum-likelihood estimate of
    /// a driftless GBM's volatility is the root mean square of the demeaned returns,
    /// annualized over 365 days. `tests/synthetic_fits.rs` measures it again from the file.
    pub fn btc_daily_fit() -> Self {
        Self { annual_vol: 0.711 }
    }

    /// Checks the volatility; the error names it and its range.
    pub fn validate(&self) -> Result<(), PathError> {
        let mut c = super::params::ParamChecks::default();
        c.real(
            "annual_vol",
            self.annual_vol,
            0.0,
            false,
            MAX_ANNUAL_VOL,
            " (0.7 = 70% a year)",
        );
        c.finish("gbm")
    }
}

impl LogIncrements for Diffusion {
    fn log_increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let sd = self.annual_vol * libm::sqrt(step_ms as f64 / MS_PER_YEAR);
        (0..steps).map(|_| sd * standard_normal(rng)).collect()
    }
}

/// The start and sum of the `len` consecutive increments with the smallest sum.
fn worst_window(increments: &[f64], len: usize) -> (usize, f64) {
    let mut sum: f64 = increments[..len].iter().sum();
    let mut best = (0, sum);
    for from in 1..=increments.len() - len {
        sum += increments[from + len - 1] - increments[from - 1];
        if sum < best.1 {
            best = (from, sum);
        }
    }
    // Recompute the winner exactly: the running sum drifts by rounding over a day of steps.
    (best.0, increments[best.0..best.0 + len].iter().sum())
}

fn steps_of(secs: u64, step_ms: u64) -> usize {
    (secs * 1000 / step_ms) as usize
}

fn invalid(name: &'static str, problem: &str) -> Result<(), PathError> {
    Err(PathError::InvalidShock {
        name,
        problem: problem.to_string(),
    })
}

fn too_long(name: &'static str) -> PathError {
    PathError::InvalidShock {
        name,
        problem: "is too long to express in milliseconds".to_string(),
    }
}

#[cfg(test)]
mod tests;
