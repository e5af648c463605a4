//! GARCH(1,1) with Student-t innovations (Bollerslev, "Generalized autoregressive conditional
//! heteroskedasticity", J. Econometrics 1986; t innovations: Bollerslev, REStat 1987): the
//! size of moves clusters, and single moves have fat tails.
//!
//! On bars of `bar_s` seconds, the log return of bar `t` and the variance of the next are
//!
//! ```text
//! r_t = sqrt(h_t) z_t,   z_t ~ Student-t(dof) scaled to unit variance
//! h_{t+1} = omega + alpha r_t^2 + beta h_t
//! ```
//!
//! stationary when `alpha + beta < 1`, with unconditional variance `omega / (1 - alpha -
//! beta)` a bar; the first bar starts there. The model is stated at its bar: GARCH is not
//! closed under time aggregation (Drost and Nijman 1993), so a fit to daily bars says how
//! days behave, not seconds. On a finer grid each bar's return is spread over its steps by a
//! Gaussian bridge with the bar's variance (the bar's return exactly, the steps' moves
//! diffusive inside it); on a coarser grid a step sums whole bars. Either way the bar must
//! divide the step or the step the bar.
//!
//! Why the crash lab also has [`super::SelfExcitingJumps`]: a GARCH path clusters the size of
//! moves but draws their signs independently, so it has no direction; a crash's cascade is
//! directional. GARCH is the model of volatility regimes (calm weeks, wild weeks) that the
//! volatility-based margin and adaptive fees react to. [`fit`] fits it by maximum likelihood.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::draw::{standard_normal, student_t_unit};
use super::params::ParamChecks;
use super::{LogIncrements, PathError, MS_PER_YEAR};

pub mod fit;

/// Upper bound on `dof`: beyond it the t is a normal to every digit that matters.
pub const MAX_DOF: f64 = 1_000.0;

/// Upper bound on `bar_s`: one day, the longest bar in the data.
pub const MAX_BAR_S: u64 = 86_400;

/// Upper bound on the unconditional volatility, annualized (1000% a year), as a shock's.
pub const MAX_ANNUAL_VOL: f64 = 10.0;

/// The parameters of the GARCH(1,1)-t process, per bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Garch {
    /// Constant of the variance recursion, in squared log return per bar (> 0).
    pub omega: f64,
    /// Weight of the last bar's squared return (the reaction to news), >= 0.
    pub alpha: f64,
    /// Weight of the last bar's variance (the memory), >= 0; `alpha + beta < 1`.
    pub beta: f64,
    /// Degrees of freedom of the Student-t innovations, > 2 (scaled to unit variance; lower
    /// is fatter-tailed).
    pub dof: f64,
    /// Length of one bar, s: the interval the parameters are stated (and were fitted) at.
    pub bar_s: u64,
}

impl Garch {
    /// Fitted by maximum likelihood with variance targeting
    /// ([`fit::fit_returns_variance_targeted`]) to Coinbase's daily BTC-USD closes,
    /// 2017-01-01 to 2025-09-24 (`coinbase_btcusd_1d_2017-01-01_2025-09-25.csv`): long-run
    /// volatility 71% a year (the sample's), persistence 0.9906 (a variance shock halves in
    /// 73 days). Stated to four digits because the long-run variance divides by
    /// `1 - alpha - beta`. `tests/synthetic_fits.rs` refits the file and checks these
    /// numbers.
    pub fn btc_daily_fit() -> Self {
        Self {
            omega: 1.299e-5,
            alpha: 0.069_11,
            beta: 0.921_5,
            dof: 3.600,
            bar_s: 86_400,
        }
    }

    /// Fitted by maximum likelihood, all four parameters free ([`fit::fit_returns`]), to
    /// Binance's BTCUSDT perpetual five-minute mark prices of 2025-10-09 to 2025-10-12
    /// (`binance_um_btcusdt_markprice_5m_2025-10-09_2025-10-13.csv`), the four days around
    /// the crash of 10 October: long-run volatility 84% a year, persistence 0.985 (a variance
    /// shock halves in 3.7 hours).
    pub fn btc_5m_oct_2025_fit() -> Self {
        Self {
            omega: 1.025e-7,
            alpha: 0.187_5,
            beta: 0.797_0,
            dof: 4.274,
            bar_s: 300,
        }
    }

    /// `alpha + beta`: how much of a shock to the variance is left after one bar.
    pub fn persistence(&self) -> f64 {
        self.alpha + self.beta
    }

    /// The unconditional (long-run) variance of one bar's log return.
    pub fn unconditional_variance(&self) -> f64 {
        self.omega / (1.0 - self.persistence())
    }

    /// The unconditional volatility, annualized over 365 days.
    pub fn annual_vol(&self) -> f64 {
        libm::sqrt(self.unconditional_variance() * MS_PER_YEAR / (self.bar_s as f64 * 1000.0))
    }

    /// Checks every parameter; the error lists each one outside its range.
    pub fn validate(&self) -> Result<(), PathError> {
        let mut c = ParamChecks::default();
        self.check(&mut c);
        c.finish("garch")
    }

    pub(crate) fn check(&self, c: &mut ParamChecks) {
        c.real(
            "omega",
            self.omega,
            0.0,
            true,
            1.0,
            " (squared log return per bar)",
        );
        c.real("alpha", self.alpha, 0.0, false, 1.0, "");
        c.real("beta", self.beta, 0.0, false, 1.0, "");
        c.real(
            "dof",
            self.dof,
            2.0,
            true,
            MAX_DOF,
            " (a unit-variance t needs dof > 2)",
        );
        if !(1..=MAX_BAR_S).contains(&self.bar_s) {
            c.fail(
                "bar_s",
                self.bar_s,
                format!("must be in [1, {MAX_BAR_S}] s"),
            );
        }
        let p = self.persistence();
        if self.alpha.is_finite() && self.beta.is_finite() && p >= 1.0 {
            c.fail(
                "beta",
                self.beta,
                format!(
                    "alpha + beta is {p}; it must be below 1 for a stationary process (a \
                     finite long-run variance)"
                ),
            );
        } else if c.problems.is_empty() && self.annual_vol() > MAX_ANNUAL_VOL {
            c.fail(
                "omega",
                self.omega,
                format!(
                    "the long-run volatility omega / (1 - alpha - beta) is {:.2} a year; at \
                     most {MAX_ANNUAL_VOL} (1000%)",
                    self.annual_vol()
                ),
            );
        }
    }

    /// Whether a path on steps of `step_ms` can carry bars of `bar_s`: one must divide the
    /// other.
    pub fn fits_step(&self, step_ms: u64) -> bool {
        let bar_ms = self.bar_s * 1000;
        step_ms > 0 && (bar_ms.is_multiple_of(step_ms) || step_ms.is_multiple_of(bar_ms))
    }

    /// `bars` bar returns from the unconditional variance, with the variance each was drawn
    /// at: `(returns, variances)`.
    pub fn bar_returns(&self, bars: usize, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let mut h = self.unconditional_variance();
        let mut returns = Vec::with_capacity(bars);
        let mut variances = Vec::with_capacity(bars);
        for _ in 0..bars {
            let r = libm::sqrt(h) * student_t_unit(self.dof, rng);
            returns.push(r);
            variances.push(h);
            h = self.omega + self.alpha * r * r + self.beta * h;
        }
        (returns, variances)
    }
}

impl LogIncrements for Garch {
    /// Panics unless [`Garch::fits_step`]: the scenario checks it at load.
    fn log_increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        assert!(
            self.fits_step(step_ms),
            "GARCH bar of {} s and step of {step_ms} ms: one must divide the other",
            self.bar_s
        );
        let bar_ms = self.bar_s * 1000;
        if step_ms >= bar_ms {
            let per_step = (step_ms / bar_ms) as usize;
            let (returns, _) = self.bar_returns(steps * per_step, rng);
            return returns.chunks(per_step).map(|c| c.iter().sum()).collect();
        }
        let per_bar = (bar_ms / step_ms) as usize;
        let bars = steps.div_ceil(per_bar);
        let mut out = Vec::with_capacity(bars * per_bar);
        let mut h = self.unconditional_variance();
        for _ in 0..bars {
            let r = libm::sqrt(h) * student_t_unit(self.dof, rng);
            spread_over_steps(r, h, per_bar, rng, &mut out);
            h = self.omega + self.alpha * r * r + self.beta * h;
        }
        out.truncate(steps);
        out
    }
}

/// Appends `n` moves that add up to `r` exactly: a Gaussian bridge of variance `h` over the
/// bar, `r / n + sqrt(h / n) (e_k - mean(e))` with `e` standard normals.
fn spread_over_steps(r: f64, h: f64, n: usize, rng: &mut ChaCha8Rng, out: &mut Vec<f64>) {
    if n == 1 {
        out.push(r);
        return;
    }
    let from = out.len();
    out.extend((0..n).map(|_| standard_normal(rng)));
    let e = &mut out[from..];
    let mean = e.iter().sum::<f64>() / n as f64;
    let sd = libm::sqrt(h / n as f64);
    let drift = r / n as f64;
    for x in e.iter_mut() {
        *x = drift + sd * (*x - mean);
    }
}

#[cfg(test)]
mod tests;
