//! Maximum-likelihood fit of a two-state switching model to the log returns of regular bars,
//! turned into a [`RegimeSwitching`] chain.
//!
//! The returns are demeaned (the sample mean is reported). Each bar's return is normal with
//! standard deviation `s_calm` or `s_crisis`, the regime following a Markov chain with
//! per-bar probabilities `p_calm` and `p_crisis` of staying. Hamilton's filter (1989) gives
//! the log-likelihood in one pass: predict the regime probabilities with the transition
//! matrix, weigh them by each regime's density of the return, normalize. Nelder-Mead
//! maximizes it over `(ln s_calm, ln s_crisis, logit p_calm, logit p_crisis)`; the regime
//! with the larger deviation is called the crisis.
//!
//! **From bars to continuous time, exactly.** The two-state chain with rates `a` (into
//! crisis) and `b` (out of it), looked at every bar of length `d`, stays in calm with
//! probability `1 - a / (a + b) (1 - e^{-(a + b) d})` and in crisis with
//! `1 - b / (a + b) (1 - e^{-(a + b) d})`. So `a + b = -ln(p_calm + p_crisis - 1) / d` and
//! the crisis share is `(1 - p_calm) / (2 - p_calm - p_crisis)`; the mean durations are
//! `1 / a` and `1 / b`. This needs `p_calm + p_crisis > 1` (regimes that persist), which a
//! fit finding regimes at all gives.

use super::{gaussian, RegimeSwitching, StartRegime};
use crate::path::fitting::{
    check_returns, log_normal_density, logistic, logit, mean_var, FitError,
};
use crate::path::optimize::nelder_mead;
use crate::path::MS_PER_YEAR;

/// What the fit found, with the numbers that judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeFit {
    pub params: RegimeSwitching,
    pub returns: usize,
    /// The sample mean removed before the fit, per bar.
    pub mean_removed: f64,
    /// Per bar: each regime's standard deviation and probability of staying.
    pub sd_calm: f64,
    pub sd_crisis: f64,
    pub p_stay_calm: f64,
    pub p_stay_crisis: f64,
    /// The maximized log-likelihood, and that of one normal (no regimes).
    pub log_likelihood: f64,
    pub normal_log_likelihood: f64,
    /// Share of bars the filter puts in crisis (probability above one half).
    pub filtered_crisis_share: f64,
}

/// Fewest returns a fit accepts.
const MIN_RETURNS: usize = 200;

/// Fits the model to log returns of bars `bar_ms` long.
pub fn fit_returns(returns: &[f64], bar_ms: u64) -> Result<RegimeFit, FitError> {
    check_returns(returns, MIN_RETURNS)?;
    let (mean, var) = mean_var(returns);
    let e: Vec<f64> = returns.iter().map(|r| r - mean).collect();
    let sd = libm::sqrt(var);
    let x0 = [
        libm::log(0.6 * sd),
        libm::log(1.6 * sd),
        logit(0.95),
        logit(0.9),
    ];
    let objective = |x: &[f64]| -filter(&coords(x), &e).0;
    let (mut best, mut value) = nelder_mead(objective, &x0, 0.5, 10_000);
    for _ in 0..2 {
        (best, value) = nelder_mead(objective, &best, 0.1, 10_000);
    }
    let mut c = coords(&best);
    if c.sd[0] > c.sd[1] {
        c.sd.swap(0, 1);
        c.stay.swap(0, 1);
    }
    let (_, in_crisis) = filter(&c, &e);
    let [p_calm, p_crisis] = c.stay;
    let moving = p_calm + p_crisis - 1.0;
    if moving <= 0.0 {
        return Err(FitError::Degenerate(format!(
            "the fitted regimes do not persist (stay probabilities {p_calm} and {p_crisis} \
             add up to at most 1), so no continuous-time chain matches them"
        )));
    }
    let bar_s = bar_ms as f64 / 1000.0;
    let total_rate = -libm::log(moving) / bar_s;
    let crisis_share = (1.0 - p_calm) / (2.0 - p_calm - p_crisis);
    let per_year = libm::sqrt(MS_PER_YEAR / bar_ms as f64);
    let params = RegimeSwitching {
        calm: gaussian(c.sd[0] * per_year),
        crisis: gaussian(c.sd[1] * per_year),
        mean_calm_s: 1.0 / (total_rate * crisis_share),
        mean_crisis_s: 1.0 / (total_rate * (1.0 - crisis_share)),
        start: StartRegime::Stationary,
    };
    Ok(RegimeFit {
        params,
        returns: returns.len(),
        mean_removed: mean,
        sd_calm: c.sd[0],
        sd_crisis: c.sd[1],
        p_stay_calm: p_calm,
        p_stay_crisis: p_crisis,
        log_likelihood: -value,
        normal_log_likelihood: e.iter().map(|x| log_normal_density(*x, 0.0, var)).sum(),
        filtered_crisis_share: in_crisis,
    })
}

/// Per-bar deviations and stay probabilities, regime 0 then 1.
struct Coords {
    sd: [f64; 2],
    stay: [f64; 2],
}

fn coords(x: &[f64]) -> Coords {
    Coords {
        sd: [libm::exp(x[0]), libm::exp(x[1])],
        stay: [logistic(x[2]), logistic(x[3])],
    }
}

/// Hamilton's filter: the log-likelihood, and the share of bars whose filtered probability
/// of regime 1 is above one half. Starts from the chain's stationary probabilities.
fn filter(c: &Coords, e: &[f64]) -> (f64, f64) {
    let [p0, p1] = c.stay;
    let var = [c.sd[0] * c.sd[0], c.sd[1] * c.sd[1]];
    if !(var[0] > 0.0 && var[1] > 0.0 && var.iter().all(|v| v.is_finite())) {
        return (f64::NEG_INFINITY, 0.0);
    }
    let leave = 2.0 - p0 - p1;
    let mut prob1 = if leave > 0.0 { (1.0 - p0) / leave } else { 0.5 };
    let (mut ll, mut in_one) = (0.0, 0usize);
    for x in e {
        let l0 = log_normal_density(*x, 0.0, var[0]);
        let l1 = log_normal_density(*x, 0.0, var[1]);
        let top = l0.max(l1);
        let w0 = (1.0 - prob1) * libm::exp(l0 - top);
        let w1 = prob1 * libm::exp(l1 - top);
        let total = w0 + w1;
        if total <= 0.0 {
            return (f64::NEG_INFINITY, 0.0);
        }
        ll += top + libm::log(total);
        let filtered1 = w1 / total;
        if filtered1 > 0.5 {
            in_one += 1;
        }
        // Predict the next bar's regime.
        prob1 = (1.0 - filtered1) * (1.0 - p0) + filtered1 * p1;
    }
    (ll, in_one as f64 / e.len() as f64)
}
