//! Calibrated shocks: synthetic paths forced through published facts about a crash (its
//! peak-to-trough drop, how long it took, how much was recovered), with realistic noise.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{PathError, PricePath, MAX_PATH_SAMPLES, MS_PER_YEAR};

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
}

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
    /// (2020-03-12 O 7,938.05; 2020-03-13 L 3,858.00, C 5,637.60) over a 72-hour window:
    /// - 12 h of calm from 2020-03-11 12:00 UTC (realized vol then was about 70%);
    /// - a 26 h drop from 7,938.05 at 03-12 00:00 UTC to 3,858.00 at 03-13 02:00 UTC, the hour
    ///   of the low on major venues, at 3x the calm vol, with four gaps of about 4% each (the
    ///   12 March sell-off came in sudden legs);
    /// - a 22 h rebound to Coinbase's 03-13 close, 5,637.60 (43.6% of the drop recovered;
    ///   other venues closed nearer 5,000);
    /// - 12 h of tail.
    pub fn march_2020() -> Self {
        let start_price = 7938.05;
        let trough = 3858.0;
        let rebound_to = 5637.6;
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
            jumps: Some(ShockJumps {
                count: 4,
                mean_frac: 0.04,
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
        self.validate_jumps(step_ms)
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
        let expected_jump_log = f64::from(jumps.count) * -(1.0 - jumps.mean_frac).ln();
        let drop_log = -(1.0 - self.drop_frac).ln();
        if expected_jump_log > drop_log {
            return invalid(
                "jumps",
                "count * mean_frac adds up to more than the whole drop; use fewer or smaller jumps",
            );
        }
        Ok(())
    }

    /// Generates the path sampled every `step_ms`, reproducibly from `seed`.
    pub fn generate(&self, step_ms: u64, seed: u64) -> Result<PricePath, PathError> {
        self.validate(step_ms)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let steps = |secs: u64| steps_of(secs, step_ms);
        let sigma_calm = self.annual_vol * (step_ms as f64 / MS_PER_YEAR).sqrt();
        let sigma_shock = sigma_calm * self.shock_vol_mult;
        let (start, trough, rebound) = (
            self.start_price.ln(),
            self.trough_price().ln(),
            self.rebound_price().ln(),
        );

        let mut logs = vec![start];
        let calm = random_walk(steps(self.pre_shock_s), sigma_calm, &[], &mut rng);
        push_bridge(&mut logs, &calm, start);
        let drop_steps = steps(self.drop_duration_s);
        let jumps = self.draw_jumps(drop_steps, &mut rng);
        let drop = random_walk(drop_steps, sigma_shock, &jumps, &mut rng);
        push_bridge(&mut logs, &drop, trough);
        let up = random_walk(steps(self.rebound_duration_s), sigma_shock, &[], &mut rng);
        push_bridge(&mut logs, &up, rebound);
        let tail = random_walk(steps(self.tail_s), sigma_calm, &[], &mut rng);
        push_free(&mut logs, &tail);

        let prices = self.to_prices(&logs, step_ms);
        PricePath::new(self.start_ms, step_ms, prices)
    }

    /// Jump sizes (log, negative) keyed by the 1-based step of the drop they land on.
    fn draw_jumps(&self, drop_steps: usize, rng: &mut ChaCha8Rng) -> Vec<(usize, f64)> {
        let Some(jumps) = self.jumps else {
            return Vec::new();
        };
        let log_mean = (1.0 - jumps.mean_frac).ln();
        let at = index::sample(rng, drop_steps, jumps.count as usize);
        at.into_iter()
            .map(|step| {
                let size: f64 = rng.sample(Exp1);
                (step + 1, log_mean * size)
            })
            .collect()
    }

    /// Exponentiates, reflects anything below the trough back above it, and writes the anchor
    /// prices exactly (`exp(ln(x))` need not give back `x` to the last bit).
    fn to_prices(&self, logs: &[f64], step_ms: u64) -> Vec<f64> {
        let trough = self.trough_price();
        let trough_log = trough.ln();
        let mut prices: Vec<f64> = logs
            .iter()
            .map(|&y| {
                let reflected = if y < trough_log {
                    2.0 * trough_log - y
                } else {
                    y
                };
                reflected.exp().max(trough)
            })
            .collect();
        let drop_start = steps_of(self.pre_shock_s, step_ms);
        let trough_at = drop_start + steps_of(self.drop_duration_s, step_ms);
        let rebound_end = trough_at + steps_of(self.rebound_duration_s, step_ms);
        prices[0] = self.start_price;
        prices[drop_start] = self.start_price;
        prices[trough_at] = trough;
        prices[rebound_end] = self.rebound_price();
        prices
    }
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

/// A random walk `W_0 = 0, W_k = W_{k-1} + sigma * Z_k (+ jump at step k)`, `steps + 1` points.
fn random_walk(steps: usize, sigma: f64, jumps: &[(usize, f64)], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut increments: Vec<f64> = (0..steps)
        .map(|_| sigma * rng.sample::<f64, _>(StandardNormal))
        .collect();
    for &(k, size) in jumps {
        increments[k - 1] += size;
    }
    let mut walk = Vec::with_capacity(steps + 1);
    walk.push(0.0);
    for dx in increments {
        walk.push(walk[walk.len() - 1] + dx);
    }
    walk
}

/// Appends `walk` turned into a bridge from the current last log price to `target`:
/// `X_k = a + (target - a) k/m + W_k - (k/m) W_m`. Subtracting the walk's own endpoint pins the
/// end while keeping every increment's randomness, including the jumps' suddenness.
fn push_bridge(logs: &mut Vec<f64>, walk: &[f64], target: f64) {
    let from = logs[logs.len() - 1];
    let m = walk.len() - 1;
    if m == 0 {
        return;
    }
    let end_noise = walk[m];
    for (k, w) in walk.iter().enumerate().skip(1) {
        let frac = k as f64 / m as f64;
        logs.push(from + (target - from) * frac + w - frac * end_noise);
    }
}

/// Appends `walk` as free noise from the current last log price.
fn push_free(logs: &mut Vec<f64>, walk: &[f64]) {
    let from = logs[logs.len() - 1];
    logs.extend(walk.iter().skip(1).map(|w| from + w));
}

#[cfg(test)]
mod tests;
