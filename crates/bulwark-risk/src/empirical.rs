//! Empirical quantiles, VaR and expected shortfall of a sample.

use crate::order::OrderStat;
use crate::{check, RiskError};

/// The sample quantile of `xs` at probability `p` in [0, 1], type 7 of Hyndman & Fan (1996)
/// (the default of numpy's `quantile` and of R's `quantile`).
///
/// With the sample sorted ascending as x_(0) <= ... <= x_(n-1) (0-based, ordered by
/// `f64::total_cmp`), h = (n - 1) p, and the quantile is
/// x_(floor h) + (h - floor h) (x_(floor h + 1) - x_(floor h)). So `p = 0` is the minimum,
/// `p = 1` the maximum, `p = 0.5` the usual median. The result has the unit of `xs`.
///
/// # Errors
/// [`RiskError::Empty`] for an empty slice, [`RiskError::NonFinite`] for a NaN or infinite
/// element, [`RiskError::OutOfRange`] for `p` outside [0, 1].
pub fn quantile(xs: &[f64], p: f64) -> Result<f64, RiskError> {
    check::finite_slice("xs", xs)?;
    check::closed_unit("p", p)?;
    Ok(OrderStat::Quantile(p).of_sorted(&check::sorted(xs)))
}

/// Empirical value at risk of `losses_usd` at `level` in (0, 1), in USD.
///
/// Convention: an element is a loss, positive = money lost (a gain is a negative loss).
/// VaR is the lower `level`-quantile of the loss distribution,
/// VaR = inf { x : F_n(x) >= level }, which is the ceil(n * level)-th smallest loss (1-based).
/// With 100 losses of 1, 2, ..., 100 USD, VaR at 0.95 is 95 USD and at 0.975 is 98 USD.
///
/// `n * level` is taken as an integer when it is within 4 ulps of one, so that a decimal
/// level such as 0.95 picks the rank it names despite its binary rounding.
///
/// # Errors
/// [`RiskError::Empty`], [`RiskError::NonFinite`], and [`RiskError::OutOfRange`] when
/// `level` is not strictly inside (0, 1).
pub fn var(losses_usd: &[f64], level: f64) -> Result<f64, RiskError> {
    check::finite_slice("losses_usd", losses_usd)?;
    check::open_unit("level", level)?;
    Ok(OrderStat::Var(level).of_sorted(&check::sorted(losses_usd)))
}

/// Empirical expected shortfall of `losses_usd` at `level` in (0, 1), in USD: the average
/// loss in the worst (1 - level) share of outcomes.
///
/// Definition: the tail average of Acerbi & Tasche, "On the coherence of expected
/// shortfall", J. Banking & Finance 26 (2002), Proposition 3.2 (their eq. for ES^(n)),
/// written for losses. With the losses ascending as L_(1) <= ... <= L_(n), k = ceil(n level)
/// (the VaR rank, see [`var`]) and tail weight t = n (1 - level):
///
/// ES = ( (k - n level) L_(k) + L_(k+1) + ... + L_(n) ) / t.
///
/// When n level is a whole number this is the mean of the n - k losses strictly above the VaR
/// rank; otherwise the VaR observation enters with the fraction of it that lies in the tail.
/// This estimator is coherent (sub-additive) and ES >= VaR always. With 100 losses of
/// 1, ..., 100 USD: ES at 0.95 = mean(96..=100) = 98 USD; at 0.975 =
/// (0.5 * 98 + 99 + 100) / 2.5 = 99.2 USD.
///
/// # Errors
/// As [`var`].
pub fn expected_shortfall(losses_usd: &[f64], level: f64) -> Result<f64, RiskError> {
    check::finite_slice("losses_usd", losses_usd)?;
    check::open_unit("level", level)?;
    Ok(OrderStat::Es(level).of_sorted(&check::sorted(losses_usd)))
}

/// The mean of a non-empty slice, summed in index order (so the same bits everywhere).
pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}
