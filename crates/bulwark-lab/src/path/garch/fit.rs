//! Maximum-likelihood fit of [`Garch`] to the log returns of regular bars.
//!
//! The returns are demeaned (the generator has no drift; the sample mean is reported), the
//! variance recursion is started at their sample variance, and the log-likelihood of
//! unit-variance Student-t innovations,
//!
//! ```text
//! sum over t of  ln G((dof + 1) / 2) - ln G(dof / 2) - ln(pi (dof - 2)) / 2 - ln(h_t) / 2
//!                - (dof + 1) / 2 ln(1 + e_t^2 / ((dof - 2) h_t))
//! ```
//!
//! (`G` the gamma function), is maximized by Nelder-Mead over unconstrained coordinates that
//! keep every parameter in its range: `ln omega`, the persistence `alpha + beta` and the
//! share of it that is `alpha` through logistic functions (so `alpha + beta < 1` always), and
//! `ln(dof - 2)`.

use super::Garch;
use crate::path::fitting::{check_returns, excess_kurtosis, logistic, logit, mean_var, FitError};
use crate::path::optimize::nelder_mead;

/// What the fit found, with the numbers that judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct GarchFit {
    pub params: Garch,
    pub returns: usize,
    /// The sample mean removed before the fit, per bar.
    pub mean_removed: f64,
    /// The maximized log-likelihood.
    pub log_likelihood: f64,
    /// The sample's own annualized volatility, beside the model's long-run one
    /// ([`Garch::annual_vol`]).
    pub sample_annual_vol: f64,
    /// Excess kurtosis of the returns, and of the returns divided by their fitted
    /// volatility (what is left for the t to explain).
    pub excess_kurtosis: f64,
    pub standardized_excess_kurtosis: f64,
}

/// Fewest returns a fit accepts.
const MIN_RETURNS: usize = 200;

/// Fits the model to log returns of bars `bar_s` seconds long, all four parameters free.
pub fn fit_returns(returns: &[f64], bar_s: u64) -> Result<GarchFit, FitError> {
    fit_with(returns, bar_s, false)
}

/// Fits the model with variance targeting (Engle and Mezrich, 1996): `omega` is tied to the
/// persistence so that the long-run variance is the sample's, `omega = var (1 - alpha -
/// beta)`, and the likelihood is maximized over `alpha`, `beta` and `dof` alone. Over a long
/// sample whose level of volatility shifts (BTC's 2017-2018 against its 2023-2025), the free
/// fit pushes `alpha + beta` to one (an integrated GARCH, with no long-run variance);
/// targeting keeps the sample's long-run variance and a stationary model.
pub fn fit_returns_variance_targeted(returns: &[f64], bar_s: u64) -> Result<GarchFit, FitError> {
    fit_with(returns, bar_s, true)
}

fn fit_with(returns: &[f64], bar_s: u64, target: bool) -> Result<GarchFit, FitError> {
    check_returns(returns, MIN_RETURNS)?;
    let (mean, var) = mean_var(returns);
    let e: Vec<f64> = returns.iter().map(|r| r - mean).collect();
    // Start: persistence 0.95 of which 10% is alpha, omega at the sample variance, dof 5.
    let x0 = [
        libm::log(var * 0.05),
        logit(0.95),
        logit(0.1),
        libm::log(3.0),
    ];
    let at = |x: &[f64]| {
        if target {
            let mut full = [libm::log(var), x[0], x[1], x[2]];
            let p = params_at(&full, bar_s);
            full[0] = libm::log(var * (1.0 - p.persistence()));
            params_at(&full, bar_s)
        } else {
            params_at(x, bar_s)
        }
    };
    let objective = |x: &[f64]| -log_likelihood(&at(x), &e, var);
    let start = if target { &x0[1..] } else { &x0[..] };
    let (mut best, mut value) = nelder_mead(objective, start, 0.5, 10_000);
    for _ in 0..2 {
        (best, value) = nelder_mead(objective, &best, 0.1, 10_000);
    }
    let params = at(&best);
    let standardized: Vec<f64> = e
        .iter()
        .zip(variances(&params, &e, var))
        .map(|(x, h)| x / libm::sqrt(h))
        .collect();
    Ok(GarchFit {
        params,
        returns: returns.len(),
        mean_removed: mean,
        log_likelihood: -value,
        sample_annual_vol: libm::sqrt(var * crate::path::MS_PER_YEAR / (bar_s as f64 * 1000.0)),
        excess_kurtosis: excess_kurtosis(&e),
        standardized_excess_kurtosis: excess_kurtosis(&standardized),
    })
}

/// The parameters at the optimizer's coordinates.
fn params_at(x: &[f64], bar_s: u64) -> Garch {
    let persistence = logistic(x[1]);
    let alpha_share = logistic(x[2]);
    Garch {
        omega: libm::exp(x[0]),
        alpha: persistence * alpha_share,
        beta: persistence * (1.0 - alpha_share),
        dof: 2.0 + libm::exp(x[3]),
        bar_s,
    }
}

/// The conditional variances of the demeaned returns `e`, started at `h0`.
fn variances(p: &Garch, e: &[f64], h0: f64) -> Vec<f64> {
    let mut h = h0;
    e.iter()
        .map(|x| {
            let now = h;
            h = p.omega + p.alpha * x * x + p.beta * h;
            now
        })
        .collect()
}

/// The log-likelihood of the demeaned returns `e` under `p`, the recursion started at `h0`.
pub fn log_likelihood(p: &Garch, e: &[f64], h0: f64) -> f64 {
    let nu = p.dof;
    if !(nu > 2.0 && nu.is_finite() && p.omega > 0.0 && p.omega.is_finite()) {
        return f64::NEG_INFINITY;
    }
    let constant = libm::lgamma((nu + 1.0) / 2.0)
        - libm::lgamma(nu / 2.0)
        - 0.5 * libm::log(std::f64::consts::PI * (nu - 2.0));
    let mut h = h0;
    let mut ll = 0.0;
    for x in e {
        ll += constant
            - 0.5 * libm::log(h)
            - (nu + 1.0) / 2.0 * libm::log1p(x * x / ((nu - 2.0) * h));
        h = p.omega + p.alpha * x * x + p.beta * h;
    }
    ll
}
