//! Self-exciting jumps: a jump-diffusion whose jumps cluster, for the fast legs of a crash.
//!
//! Log price = diffusion + jumps. Jumps come in two kinds, down and up, each a Hawkes process
//! with an exponential kernel (mutually exciting jumps, as in Aït-Sahalia, Cacho-Diaz and
//! Laeven, "Modeling financial contagion using mutually exciting jump processes", JFE 2015):
//!
//! ```text
//! lambda_down(t) = base_down + sum over past jumps j of a(down <- kind_j) * exp(-decay (t - t_j))
//! lambda_up(t)   = base_up   + sum over past jumps j of a(up   <- kind_j) * exp(-decay (t - t_j))
//! ```
//!
//! so a jump raises the rate of further jumps (a liquidation cascade: each forced sale moves
//! the price into the next account's trigger), and the excitation fades at `decay` per
//! minute. A jump's size is `threshold + excess`, the excess generalized-Pareto (heavy-tailed:
//! the peaks-over-threshold model of extreme value theory), capped at `max_jump_log`. Between
//! jumps the log price diffuses with `diffusion_per_sqrt_min`.
//!
//! Why this and not GARCH(1,1) with Student-t innovations: a crash is directional. The
//! statistic the lab must reproduce (the worst 10 minutes of a crash day are about half of
//! the day's range) needs a run of same-signed moves; a GARCH path clusters the size of moves
//! but draws their signs independently and symmetrically, so its fast periods are as much up
//! as down. Separate down and up intensities that excite each other express "falls feed
//! falls, then the rebound comes" with four numbers, fitted by maximum likelihood in closed
//! form (the Hawkes likelihood with an exponential kernel needs no filtering). GARCH is also
//! not closed under time aggregation (Drost and Nijman 1993), so a model fitted to one-minute
//! bars says little about one-second steps, while a jump process in continuous time is the
//! same model at any step.
//!
//! [`fit`] fits the model to one-minute closes; [`SelfExcitingJumps::simulate`] draws paths.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::draw::{exp1, generalized_pareto, standard_normal, uniform_open};
use super::params::ParamChecks;
use super::{LogIncrements, PathError};

pub mod fit;

/// Milliseconds in a minute: the model's rates are per minute, the unit of the data it is
/// fitted to.
const MS_PER_MIN: f64 = 60_000.0;

/// Upper bound on jumps one simulation may draw: a guard against a near-critical process
/// (branching ratio close to 1) running away, far above any real day's count (the crash day
/// of 2025-10-10 had about 100 one-minute jumps).
pub const MAX_SIMULATED_JUMPS: usize = 1_000_000;

/// The parameters of the self-exciting jump-diffusion. Rates and the decay are per minute;
/// sizes are in log price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfExcitingJumps {
    /// Background rate of down jumps and of up jumps, per minute.
    pub base_down_per_min: f64,
    pub base_up_per_min: f64,
    /// Rate added to down jumps right after a down jump, and after an up jump, per minute.
    pub down_after_down: f64,
    pub down_after_up: f64,
    /// Rate added to up jumps right after a down jump, and after an up jump, per minute.
    pub up_after_down: f64,
    pub up_after_up: f64,
    /// Decay of the excitation, per minute (1 / decay is its time constant in minutes).
    pub decay_per_min: f64,
    /// Smallest jump, log: a one-minute move beyond this is a jump in the fit.
    pub threshold_log: f64,
    /// Generalized-Pareto shape and scale (log) of a jump's excess over the threshold.
    pub excess_shape: f64,
    pub excess_scale_log: f64,
    /// Largest jump, log: caps the heavy tail (a shape above 0.5 has infinite variance).
    pub max_jump_log: f64,
    /// Standard deviation of the diffusion over one minute, log.
    pub diffusion_per_sqrt_min: f64,
}

/// Which way a jump goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumpKind {
    Down,
    Up,
}

/// One simulated jump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jump {
    /// Time from the start of the simulation, minutes.
    pub t_min: f64,
    pub kind: JumpKind,
    /// Signed log size (negative for a down jump).
    pub log_size: f64,
}

impl SelfExcitingJumps {
    /// Fitted to the Binance coin-margined BTCUSD perpetual's one-minute mark-price bars of
    /// 2025-10-10 (`binance_cm_btcusd_perp_markprice_1m_2025-10-09_2025-10-11.csv`, the UTC
    /// day of the cascade) by [`fit::fit_minute_closes`] with a threshold of
    /// [`fit::DEFAULT_THRESHOLD_SIGMAS`] robust standard deviations. The test
    /// `fit_on_the_real_crash_day_gives_the_preset` refits the file and checks these numbers.
    pub fn crash_2025_10_10() -> Self {
        Self {
            base_down_per_min: 0.004_55,
            base_up_per_min: 0.0,
            down_after_down: 0.065_1,
            down_after_up: 0.014_9,
            up_after_down: 0.053_7,
            up_after_up: 0.026_9,
            decay_per_min: 0.086_0,
            threshold_log: 0.001_90,
            excess_shape: 0.693,
            excess_scale_log: 0.001_12,
            max_jump_log: 0.084_4,
            diffusion_per_sqrt_min: 0.000_475,
        }
    }

    /// Largest eigenvalue of the branching matrix `a / decay`: the expected number of jumps
    /// one jump triggers directly, over both kinds in the long run. Below 1 the process is
    /// stationary; at or above 1 a cascade never ends.
    pub fn branching_ratio(&self) -> f64 {
        let (a, b) = (self.down_after_down, self.down_after_up);
        let (c, d) = (self.up_after_down, self.up_after_up);
        let half_trace = (a + d) / 2.0;
        let disc = libm::sqrt(((a - d) / 2.0) * ((a - d) / 2.0) + b * c);
        (half_trace + disc) / self.decay_per_min
    }

    /// Checks every parameter; the error names the first one outside its range and the
    /// allowed range (as part of a shock's fast leg).
    pub fn validate(&self) -> Result<(), PathError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some((name, _, rule)) => jump_invalid(name, &rule),
        }
    }

    /// Checks every parameter as a model of its own: every problem, named without the fast
    /// leg's prefix.
    pub fn validate_as_model(&self) -> Result<(), PathError> {
        let mut c = ParamChecks::default();
        for (name, value, rule) in self.problems() {
            c.fail(name, value, rule);
        }
        c.finish("self_exciting")
    }

    /// Every parameter outside its range: name, value, rule.
    fn problems(&self) -> Vec<(&'static str, f64, String)> {
        let mut out = Vec::new();
        let named = [
            ("base_down_per_min", self.base_down_per_min),
            ("base_up_per_min", self.base_up_per_min),
            ("down_after_down", self.down_after_down),
            ("down_after_up", self.down_after_up),
            ("up_after_down", self.up_after_down),
            ("up_after_up", self.up_after_up),
            ("threshold_log", self.threshold_log),
            ("excess_scale_log", self.excess_scale_log),
            ("diffusion_per_sqrt_min", self.diffusion_per_sqrt_min),
        ];
        for (name, v) in named {
            if !(v.is_finite() && v >= 0.0) {
                out.push((name, v, "must be finite and >= 0".to_string()));
            }
        }
        if !(self.decay_per_min.is_finite() && self.decay_per_min > 0.0) {
            out.push((
                "decay_per_min",
                self.decay_per_min,
                "must be finite and > 0".to_string(),
            ));
        }
        if !(self.excess_shape.is_finite() && (0.0..1.0).contains(&self.excess_shape)) {
            out.push((
                "excess_shape",
                self.excess_shape,
                "must be in [0, 1) (a finite mean)".to_string(),
            ));
        }
        if !(self.max_jump_log.is_finite()
            && self.max_jump_log >= self.threshold_log
            && self.max_jump_log <= 2.0)
        {
            out.push((
                "max_jump_log",
                self.max_jump_log,
                "must be in [threshold_log, 2] (2 = a move of e^2, 7.4x)".to_string(),
            ));
        }
        if out.is_empty() && self.branching_ratio() >= 1.0 {
            out.push((
                "down_after_down",
                self.down_after_down,
                format!(
                    "the excitation (branching ratio {:.3}) must be below 1, or a cascade never \
                     ends; lower the *_after_* rates or raise decay_per_min",
                    self.branching_ratio()
                ),
            ));
        }
        out
    }

    /// Jumps over `duration_min` minutes, by Ogata's thinning: between jumps the intensity only
    /// decays, so its current value bounds it until the next jump; a candidate time drawn at
    /// that bound is kept with probability (intensity then / bound). `trigger` forces a first
    /// jump of that kind at time 0 (a cascade that starts now). Exact in continuous time, so
    /// the result does not depend on any step.
    pub fn simulate(
        &self,
        duration_min: f64,
        trigger: Option<JumpKind>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Jump> {
        let mut state = Excitation::default();
        let mut jumps = Vec::new();
        let mut t = 0.0;
        if let Some(kind) = trigger {
            jumps.push(self.jump_at(0.0, kind, rng));
            state.add(kind);
        }
        while jumps.len() < MAX_SIMULATED_JUMPS {
            let bound = self.total_rate(&state);
            if bound <= 0.0 {
                break;
            }
            let wait = exp1(rng) / bound;
            if t + wait >= duration_min {
                break;
            }
            t += wait;
            state.decay(libm::exp(-self.decay_per_min * wait));
            let (down, up) = self.rates(&state);
            let u = uniform_open(rng) * bound;
            let kind = if u < down {
                JumpKind::Down
            } else if u < down + up {
                JumpKind::Up
            } else {
                continue; // thinned: no jump at this candidate time
            };
            jumps.push(self.jump_at(t, kind, rng));
            state.add(kind);
        }
        jumps
    }

    fn jump_at(&self, t_min: f64, kind: JumpKind, rng: &mut ChaCha8Rng) -> Jump {
        let excess = generalized_pareto(self.excess_shape, self.excess_scale_log, rng);
        let size = (self.threshold_log + excess).min(self.max_jump_log);
        let log_size = match kind {
            JumpKind::Down => -size,
            JumpKind::Up => size,
        };
        Jump {
            t_min,
            kind,
            log_size,
        }
    }

    fn rates(&self, s: &Excitation) -> (f64, f64) {
        (
            self.base_down_per_min + self.down_after_down * s.down + self.down_after_up * s.up,
            self.base_up_per_min + self.up_after_down * s.down + self.up_after_up * s.up,
        )
    }

    fn total_rate(&self, s: &Excitation) -> f64 {
        let (down, up) = self.rates(s);
        down + up
    }

    /// Log increments on a grid of `steps` steps of `step_ms`: diffusion in every step, plus
    /// the jumps of [`Self::simulate`] in the step their time falls in.
    pub fn increments_with(
        &self,
        steps: usize,
        step_ms: u64,
        trigger: Option<JumpKind>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f64> {
        let step_min = step_ms as f64 / MS_PER_MIN;
        let duration_min = steps as f64 * step_min;
        let jumps = self.simulate(duration_min, trigger, rng);
        let sd = self.diffusion_per_sqrt_min * libm::sqrt(step_min);
        let mut out: Vec<f64> = (0..steps).map(|_| sd * standard_normal(rng)).collect();
        for j in jumps {
            let k = ((j.t_min / step_min) as usize).min(steps.saturating_sub(1));
            if let Some(slot) = out.get_mut(k) {
                *slot += j.log_size;
            }
        }
        out
    }
}

impl LogIncrements for SelfExcitingJumps {
    /// A stretch of the stationary process started with no excitation.
    fn log_increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        self.increments_with(steps, step_ms, None, rng)
    }
}

/// The decaying sums `sum exp(-decay (t - t_j))` over past down jumps and over past up jumps.
#[derive(Debug, Default, Clone, Copy)]
struct Excitation {
    down: f64,
    up: f64,
}

impl Excitation {
    fn decay(&mut self, factor: f64) {
        self.down *= factor;
        self.up *= factor;
    }

    fn add(&mut self, kind: JumpKind) {
        match kind {
            JumpKind::Down => self.down += 1.0,
            JumpKind::Up => self.up += 1.0,
        }
    }
}

fn jump_invalid(name: &'static str, problem: &str) -> Result<(), PathError> {
    Err(PathError::InvalidShock {
        name,
        problem: format!("fast_leg.jumps: {problem}"),
    })
}

#[cfg(test)]
mod tests;
