//! Maximum-likelihood fit of [`MertonJumps`] to the log returns of regular bars.
//!
//! Over one bar the log return is a Poisson mixture of normals: with `k` jumps (probability
//! `e^-l l^k / k!`, `l` the jumps a bar) it is normal with mean `m + k mu` and variance
//! `s^2 + k v^2`. The log-likelihood sums the log of that mixture over the returns, truncated
//! where the Poisson tail is negligible, and Nelder-Mead maximizes it over
//! `(m, ln s, ln l, mu, ln v)`. `m` is a drift per bar, a nuisance the fit needs (the data
//! rose over the years) and the generator leaves out (its paths are driftless, see
//! [`super`]); it is reported beside the parameters.

use super::MertonJumps;
use crate::path::fitting::{check_returns, log_normal_density, mean_var, FitError};
use crate::path::optimize::nelder_mead;
use crate::path::{DAY_MS, MS_PER_YEAR};

/// What the fit found, with the numbers that judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct MertonFit {
    pub params: MertonJumps,
    pub returns: usize,
    /// The fitted drift, per bar (not part of the generator).
    pub drift_per_bar: f64,
    /// The maximized log-likelihood, and that of a normal with the sample mean and variance:
    /// twice their difference is the likelihood-ratio statistic for "jumps at all".
    pub log_likelihood: f64,
    pub normal_log_likelihood: f64,
    /// The sample's own annualized volatility (jumps included), for comparison.
    pub sample_annual_vol: f64,
}

/// Fewest returns a fit accepts: the jumps' three parameters need some tail to see.
const MIN_RETURNS: usize = 100;

/// Most jumps in one bar the mixture sums over.
const MAX_TERMS: usize = 60;

/// Fits the model to log returns of bars `bar_ms` long.
pub fn fit_returns(returns: &[f64], bar_ms: u64) -> Result<MertonFit, FitError> {
    check_returns(returns, MIN_RETURNS)?;
    let (mean, var) = mean_var(returns);
    let sd_robust = robust_sd(returns, mean);
    let tail: Vec<f64> = returns
        .iter()
        .filter(|r| (*r - mean).abs() > 3.0 * sd_robust)
        .copied()
        .collect();
    let lambda0 = (tail.len() as f64 / returns.len() as f64).max(0.01);
    let (tail_mean, tail_var) = if tail.len() >= 2 {
        mean_var(&tail)
    } else {
        (0.0, 9.0 * sd_robust * sd_robust)
    };
    let objective = |x: &[f64]| -log_likelihood(x, returns);
    // Three starts, from many small jumps to a few large ones (the likelihood of a mixture
    // has several local maxima), each Nelder-Mead restarted from its own answer (a fresh
    // simplex escapes the early collapse a five-dimensional search is prone to); the best
    // wins.
    let mut best = Vec::new();
    let mut value = f64::INFINITY;
    for lambda in [lambda0, 0.02, 0.5] {
        let x0 = [
            mean,
            libm::log(sd_robust),
            libm::log(lambda),
            tail_mean - mean,
            0.5 * libm::log(tail_var.max(sd_robust * sd_robust)),
        ];
        let (mut x, mut v) = nelder_mead(objective, &x0, 0.5, 10_000);
        for _ in 0..2 {
            (x, v) = nelder_mead(objective, &x, 0.1, 10_000);
        }
        if v < value {
            (best, value) = (x, v);
        }
    }
    let bars_per_day = DAY_MS as f64 / bar_ms as f64;
    let bars_per_year = MS_PER_YEAR / bar_ms as f64;
    let params = MertonJumps {
        annual_vol: libm::exp(best[1]) * libm::sqrt(bars_per_year),
        jumps_per_day: libm::exp(best[2]) * bars_per_day,
        jump_mean_log: best[3],
        jump_sd_log: libm::exp(best[4]),
    };
    let normal_log_likelihood = returns
        .iter()
        .map(|r| log_normal_density(*r, mean, var))
        .sum();
    Ok(MertonFit {
        params,
        returns: returns.len(),
        drift_per_bar: best[0],
        log_likelihood: -value,
        normal_log_likelihood,
        sample_annual_vol: libm::sqrt(var * bars_per_year),
    })
}

/// Median absolute deviation from `center`, scaled to a normal's standard deviation.
fn robust_sd(xs: &[f64], center: f64) -> f64 {
    let mut a: Vec<f64> = xs.iter().map(|x| (x - center).abs()).collect();
    a.sort_by(f64::total_cmp);
    a[a.len() / 2] / 0.674_489_750_196_081_7
}

/// The log-likelihood at `x = (m, ln s, ln l, mu, ln v)`, per-bar units.
fn log_likelihood(x: &[f64], returns: &[f64]) -> f64 {
    let (m, s2, l, mu, v2) = (
        x[0],
        libm::exp(2.0 * x[1]),
        libm::exp(x[2]),
        x[3],
        libm::exp(2.0 * x[4]),
    );
    if !(l.is_finite() && l < 1e3 && s2 > 0.0 && v2 > 0.0) {
        return f64::NEG_INFINITY;
    }
    let terms = ((l + 8.0 * libm::sqrt(l) + 8.0).ceil() as usize).min(MAX_TERMS);
    // ln of each term's Poisson weight, computed once.
    let mut log_w = Vec::with_capacity(terms);
    let mut acc = -l;
    for k in 0..terms {
        if k > 0 {
            acc += libm::log(l) - libm::log(k as f64);
        }
        log_w.push(acc);
    }
    let mut total = 0.0;
    let mut parts = vec![0.0; terms];
    for r in returns {
        for (k, part) in parts.iter_mut().enumerate() {
            let kf = k as f64;
            *part = log_w[k] + log_normal_density(*r, m + kf * mu, s2 + kf * v2);
        }
        let top = parts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = parts.iter().map(|p| libm::exp(p - top)).sum();
        total += top + libm::log(sum);
    }
    total
}
