//! Regime switching between calm and crisis (Hamilton, "A new approach to the economic
//! analysis of nonstationary time series", Econometrica 1989, in continuous time): a
//! two-state Markov chain decides which of two jump-diffusions ([`MertonJumps`]) moves the
//! price.
//!
//! The chain stays in calm for an exponential time of mean `mean_calm_s`, then in crisis for
//! one of mean `mean_crisis_s`, and so on: rates `1 / mean_calm_s` into crisis and
//! `1 / mean_crisis_s` out of it, so in the long run the share of time in crisis is
//! `rate_in / (rate_in + rate_out) = mean_crisis_s / (mean_calm_s + mean_crisis_s)`. A step
//! belongs to the regime in force at its start. The regime series is part of the output
//! ([`RegimePath::crisis`]), so that several markets can share one chain and have their
//! correlation stressed toward one while it is in crisis
//! ([`super::correlated::correlated_regimes`]).
//!
//! [`fit`] fits a two-state Gaussian switching model to bar returns and turns its per-bar
//! transition probabilities into this chain's mean durations exactly.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::draw::{exp1, standard_normal, uniform_open};
use super::merton::MertonJumps;
use super::params::ParamChecks;
use super::{LogIncrements, PathError, MS_PER_YEAR};

pub mod fit;

/// Bounds on a regime's mean duration: one second to ten years (a scenario's longest run).
pub const MIN_MEAN_DURATION_S: f64 = 1.0;
pub const MAX_MEAN_DURATION_S: f64 = 10.0 * 365.0 * 86_400.0;

/// The two regimes, how long each lasts, and where the chain starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimeSwitching {
    /// The price's moves in calm and in crisis.
    pub calm: MertonJumps,
    pub crisis: MertonJumps,
    /// Mean time in calm before a crisis starts, and in crisis before calm returns, s.
    pub mean_calm_s: f64,
    pub mean_crisis_s: f64,
    /// The regime at time 0.
    #[serde(default)]
    pub start: StartRegime,
}

/// The regime at time 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartRegime {
    /// Drawn from the long-run shares (crisis with probability [`RegimeSwitching::crisis_share`]).
    #[default]
    Stationary,
    Calm,
    Crisis,
}

/// A path's log increments and, step by step, whether it was in crisis.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimePath {
    pub increments: Vec<f64>,
    pub crisis: Vec<bool>,
}

impl RegimeSwitching {
    /// Fitted by maximum likelihood ([`fit::fit_returns`]) to Coinbase's daily BTC-USD
    /// closes, 2017-01-01 to 2025-09-24 (`coinbase_btcusd_1d_2017-01-01_2025-09-25.csv`):
    /// Gaussian regimes, no jumps: calm at 34.9% a year for 7.04 days on average, crisis at
    /// 106% for 4.34 days (38% of the time). At the daily scale a "crisis" is a volatile
    /// week, not a crash hour. `tests/synthetic_fits.rs` refits the file and checks these
    /// numbers.
    pub fn btc_daily_fit() -> Self {
        Self {
            calm: gaussian(0.349),
            crisis: gaussian(1.06),
            mean_calm_s: 608_000.0,
            mean_crisis_s: 375_000.0,
            start: StartRegime::Stationary,
        }
    }

    /// Fitted the same way to Binance's BTCUSDT perpetual five-minute mark prices of
    /// 2025-10-09 to 2025-10-12 (`binance_um_btcusdt_markprice_5m_2025-10-09_2025-10-13.csv`),
    /// the four days around the crash of 10 October: calm at 40.7% a year for 3.7 hours on
    /// average, crisis at 349% for 16 minutes (6.8% of the time): regimes of the crash's
    /// scale.
    pub fn btc_5m_oct_2025_fit() -> Self {
        Self {
            calm: gaussian(0.407),
            crisis: gaussian(3.49),
            mean_calm_s: 13_400.0,
            mean_crisis_s: 981.0,
            start: StartRegime::Stationary,
        }
    }

    /// The long-run share of time in crisis.
    pub fn crisis_share(&self) -> f64 {
        self.mean_crisis_s / (self.mean_calm_s + self.mean_crisis_s)
    }

    /// Checks every parameter; the error lists each one outside its range.
    pub fn validate(&self) -> Result<(), PathError> {
        let mut c = ParamChecks::default();
        self.check(&mut c);
        c.finish("regime")
    }

    pub(crate) fn check(&self, c: &mut ParamChecks) {
        for (name, regime) in [("calm", &self.calm), ("crisis", &self.crisis)] {
            let mut inner = ParamChecks::default();
            regime.check(&mut inner);
            c.nested(name, inner.problems);
        }
        for (name, v) in [
            ("mean_calm_s", self.mean_calm_s),
            ("mean_crisis_s", self.mean_crisis_s),
        ] {
            c.real(
                name,
                v,
                MIN_MEAN_DURATION_S,
                false,
                MAX_MEAN_DURATION_S,
                " s (one second to ten years)",
            );
        }
    }

    /// The regime of each of `steps` steps of `step_ms` (`true`: crisis), in continuous time:
    /// exponential sojourns, each step taking the regime in force at its start.
    pub fn chain(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<bool> {
        let mut crisis = match self.start {
            StartRegime::Calm => false,
            StartRegime::Crisis => true,
            StartRegime::Stationary => uniform_open(rng) < self.crisis_share(),
        };
        let mut out = Vec::with_capacity(steps);
        let mut t_ms = 0.0;
        while out.len() < steps {
            let mean_s = if crisis {
                self.mean_crisis_s
            } else {
                self.mean_calm_s
            };
            t_ms += exp1(rng) * mean_s * 1000.0;
            // Steps starting before the sojourn ends are in this regime.
            let until = libm::ceil(t_ms / step_ms as f64).min(steps as f64) as usize;
            if until > out.len() {
                out.resize(until, crisis);
            }
            crisis = !crisis;
        }
        out
    }

    /// The chain, then each regime's jumps over its stretches, then one diffusion draw a step
    /// at the regime's volatility.
    pub fn simulate(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> RegimePath {
        let crisis = self.chain(steps, step_ms, rng);
        let mut increments = vec![0.0; steps];
        add_regime_jumps(
            &crisis,
            &self.calm,
            &self.crisis,
            step_ms,
            rng,
            &mut increments,
        );
        let sd = |m: &MertonJumps| m.annual_vol * libm::sqrt(step_ms as f64 / MS_PER_YEAR);
        let (calm_sd, crisis_sd) = (sd(&self.calm), sd(&self.crisis));
        for (x, c) in increments.iter_mut().zip(&crisis) {
            *x += if *c { crisis_sd } else { calm_sd } * standard_normal(rng);
        }
        RegimePath { increments, crisis }
    }
}

impl LogIncrements for RegimeSwitching {
    fn log_increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        self.simulate(steps, step_ms, rng).increments
    }
}

/// A regime without jumps: Gaussian moves of `annual_vol`.
pub fn gaussian(annual_vol: f64) -> MertonJumps {
    MertonJumps {
        annual_vol,
        jumps_per_day: 0.0,
        jump_mean_log: 0.0,
        jump_sd_log: 0.0,
    }
}

/// The maximal stretches of one regime: `(start, length, crisis)`.
pub fn stretches(crisis: &[bool]) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    let mut from = 0;
    for k in 1..=crisis.len() {
        if k == crisis.len() || crisis[k] != crisis[from] {
            out.push((from, k - from, crisis[from]));
            from = k;
        }
    }
    out
}

/// Adds to `out` the jumps of each stretch, drawn from its regime over the stretch's time
/// (a Poisson process restarted at each switch is still Poisson: its waits are memoryless).
pub fn add_regime_jumps(
    crisis: &[bool],
    calm: &MertonJumps,
    stressed: &MertonJumps,
    step_ms: u64,
    rng: &mut ChaCha8Rng,
    out: &mut [f64],
) {
    for (from, len, in_crisis) in stretches(crisis) {
        let regime = if in_crisis { stressed } else { calm };
        for j in regime.jumps(len as f64 * step_ms as f64, rng) {
            let k = ((j.t_ms / step_ms as f64) as usize).min(len - 1);
            out[from + k] += j.log_size;
        }
    }
}

#[cfg(test)]
mod tests;
