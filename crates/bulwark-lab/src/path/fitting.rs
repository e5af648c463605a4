//! What the maximum-likelihood fits of [`super::merton`], [`super::garch`] and
//! [`super::regime`] share: their input (log returns of consecutive bars), its checks, and
//! the transforms that keep a parameter in its range while Nelder-Mead searches freely.

use crate::data::Bar;

/// Why a fit could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("need at least {need} returns to fit, got {got}")]
    TooFewReturns { need: usize, got: usize },
    #[error("return {index} is {value}; returns must be finite")]
    BadReturn { index: usize, value: f64 },
    #[error("the returns do not vary; nothing to fit")]
    NoVariation,
    #[error("{0}")]
    Degenerate(String),
}

/// Log returns close to close of bars exactly `bar_ms` apart: a return across a gap in the
/// data (a missing day) is left out rather than counted as one bar's move.
pub fn log_returns_without_gaps(bars: &[Bar], bar_ms: u64) -> Vec<f64> {
    bars.windows(2)
        .filter(|w| w[1].open_time_ms == w[0].open_time_ms + bar_ms)
        .map(|w| libm::log(w[1].close / w[0].close))
        .collect()
}

/// Checks the returns (at least `need`, finite, not all equal).
pub fn check_returns(returns: &[f64], need: usize) -> Result<(), FitError> {
    if returns.len() < need {
        return Err(FitError::TooFewReturns {
            need,
            got: returns.len(),
        });
    }
    if let Some((index, &value)) = returns.iter().enumerate().find(|(_, r)| !r.is_finite()) {
        return Err(FitError::BadReturn { index, value });
    }
    if returns.iter().all(|r| *r == returns[0]) {
        return Err(FitError::NoVariation);
    }
    Ok(())
}

/// Mean and (population) variance.
pub fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}

/// Excess kurtosis (0 for a normal).
pub fn excess_kurtosis(xs: &[f64]) -> f64 {
    let (mean, var) = mean_var(xs);
    let n = xs.len() as f64;
    let m4 = xs
        .iter()
        .map(|x| {
            let d2 = (x - mean) * (x - mean);
            d2 * d2
        })
        .sum::<f64>()
        / n;
    m4 / (var * var) - 3.0
}

/// The logistic function, mapping the real line onto (0, 1).
pub fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-x))
}

/// Its inverse, for starting points.
pub fn logit(p: f64) -> f64 {
    libm::log(p / (1.0 - p))
}

/// `ln` of the normal density of `x` with mean `mean` and variance `var`.
pub fn log_normal_density(x: f64, mean: f64, var: f64) -> f64 {
    let d = x - mean;
    -0.5 * (libm::log(std::f64::consts::TAU * var) + d * d / var)
}
