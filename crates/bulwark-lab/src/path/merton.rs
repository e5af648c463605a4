//! Merton's jump-diffusion (Merton, "Option pricing when underlying stock returns are
//! discontinuous", JFE 1976): geometric Brownian motion plus compound-Poisson jumps whose log
//! sizes are normal.
//!
//! ```text
//! d log S = annual_vol dW + dJ,   J = sum of N(t) jumps, N Poisson(jumps_per_day),
//!                                 each jump's log size ~ Normal(jump_mean_log, jump_sd_log^2)
//! ```
//!
//! The lab's paths are driftless in log price apart from the jumps (as [`Diffusion`]'s): over
//! a crash window the drift is noise. So over `t` days the log return has mean
//! `jumps_per_day * jump_mean_log * t` and variance
//! `sigma^2 t + jumps_per_day * (jump_mean_log^2 + jump_sd_log^2) * t`, sigma the daily vol.
//!
//! Jumps are drawn in continuous time (exponential waits) and land in the step their time
//! falls in, so the process is the same at any step; [`fit`] fits it to daily closes.
//!
//! [`Diffusion`]: super::Diffusion

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::draw::{exp1, standard_normal};
use super::params::ParamChecks;
use super::{LogIncrements, PathError, DAY_MS, MS_PER_YEAR};

pub mod fit;

/// Upper bound on `annual_vol` (1000% a year), as a calibrated shock's.
pub const MAX_ANNUAL_VOL: f64 = 10.0;

/// Upper bound on `jumps_per_day`: one a minute on average. More is no longer a jump but a
/// second diffusion.
pub const MAX_JUMPS_PER_DAY: f64 = 1_440.0;

/// Upper bound on `|jump_mean_log|` and `jump_sd_log`: a typical jump of e^1 (2.7x or -63%).
pub const MAX_JUMP_LOG: f64 = 1.0;

/// The parameters of the jump-diffusion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MertonJumps {
    /// Annualized (365-day) volatility of the diffusion between jumps, e.g. 0.5 for 50%.
    pub annual_vol: f64,
    /// Mean number of jumps a day (the Poisson intensity).
    pub jumps_per_day: f64,
    /// Mean of one jump's log size (negative: jumps are falls on average).
    pub jump_mean_log: f64,
    /// Standard deviation of one jump's log size.
    pub jump_sd_log: f64,
}

/// One jump: its time from the start (ms) and its log size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MertonJump {
    pub t_ms: f64,
    pub log_size: f64,
}

impl MertonJumps {
    /// Fitted by maximum likelihood to Coinbase's daily BTC-USD closes, 2017-01-01 to
    /// 2025-09-24 (`coinbase_btcusd_1d_2017-01-01_2025-09-25.csv`, [`fit::fit_daily_returns`]);
    /// `tests/synthetic_fits.rs` refits the file and checks these numbers.
    pub fn btc_daily_fit() -> Self {
        Self {
            annual_vol: 0.245,
            jumps_per_day: 0.792,
            jump_mean_log: 0.000_384,
            jump_sd_log: 0.037_9,
        }
    }

    /// The variance of the log return over one day.
    pub fn log_variance_per_day(&self) -> f64 {
        let sigma2 = self.annual_vol * self.annual_vol * DAY_MS as f64 / MS_PER_YEAR;
        sigma2
            + self.jumps_per_day
                * (self.jump_mean_log * self.jump_mean_log + self.jump_sd_log * self.jump_sd_log)
    }

    /// Checks every parameter; the error lists each one outside its range.
    pub fn validate(&self) -> Result<(), PathError> {
        let mut c = ParamChecks::default();
        self.check(&mut c);
        c.finish("merton")
    }

    pub(crate) fn check(&self, c: &mut ParamChecks) {
        c.real(
            "annual_vol",
            self.annual_vol,
            0.0,
            false,
            MAX_ANNUAL_VOL,
            " (0.5 = 50% a year)",
        );
        c.real(
            "jumps_per_day",
            self.jumps_per_day,
            0.0,
            false,
            MAX_JUMPS_PER_DAY,
            " jumps a day",
        );
        c.real(
            "jump_mean_log",
            self.jump_mean_log,
            -MAX_JUMP_LOG,
            false,
            MAX_JUMP_LOG,
            " (log size; -0.05 is a typical fall of 4.9%)",
        );
        c.real(
            "jump_sd_log",
            self.jump_sd_log,
            0.0,
            false,
            MAX_JUMP_LOG,
            " (log size)",
        );
    }

    /// The jumps over `duration_ms`, in time order: exponential waits at the Poisson rate, a
    /// normal log size each. Exact in continuous time.
    pub fn jumps(&self, duration_ms: f64, rng: &mut ChaCha8Rng) -> Vec<MertonJump> {
        let rate_per_ms = self.jumps_per_day / DAY_MS as f64;
        let mut out = Vec::new();
        if rate_per_ms <= 0.0 {
            return out;
        }
        let mut t = exp1(rng) / rate_per_ms;
        while t < duration_ms {
            let log_size = self.jump_mean_log + self.jump_sd_log * standard_normal(rng);
            out.push(MertonJump { t_ms: t, log_size });
            t += exp1(rng) / rate_per_ms;
        }
        out
    }
}

impl LogIncrements for MertonJumps {
    /// The jumps first ([`MertonJumps::jumps`]), then one diffusion draw a step; each jump is
    /// added to the step its time falls in.
    fn log_increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let jumps = self.jumps(steps as f64 * step_ms as f64, rng);
        let sd = self.annual_vol * libm::sqrt(step_ms as f64 / MS_PER_YEAR);
        let mut out: Vec<f64> = (0..steps).map(|_| sd * standard_normal(rng)).collect();
        for j in jumps {
            let k = ((j.t_ms / step_ms as f64) as usize).min(steps.saturating_sub(1));
            if let Some(slot) = out.get_mut(k) {
                *slot += j.log_size;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
