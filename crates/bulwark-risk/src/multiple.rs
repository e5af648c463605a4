//! Holm–Bonferroni correction for testing several hypotheses at once.

use crate::{check, RiskError};

/// The outcome of [`holm`], in the order of the p-values given.
#[derive(Clone, Debug, PartialEq)]
pub struct Holm {
    /// Holm-adjusted p-values, each in [raw p, 1].
    pub adjusted: Vec<f64>,
    /// Whether each hypothesis is rejected at the family-wise level `alpha`.
    pub reject: Vec<bool>,
    /// The family-wise error rate the decisions control.
    pub alpha: f64,
}

/// Holm's step-down correction (Holm, "A simple sequentially rejective multiple test
/// procedure", Scand. J. Statist. 6 (1979) 65-70) of `p_values`, controlling the family-wise
/// error rate at `alpha`.
///
/// With the m p-values ascending as p_(1) <= ... <= p_(m) (ties kept in input order), the
/// adjusted values are p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) (as R's
/// `p.adjust(method = "holm")`), and hypothesis i is rejected when p~_(i) <= alpha, which is
/// the step-down rule "reject while p_(i) <= alpha / (m - i + 1)". Results are returned in
/// the input order. Example: p = (0.01, 0.04, 0.03, 0.005) gives adjusted
/// (0.03, 0.06, 0.06, 0.02); at alpha = 0.05 the first and last are rejected.
///
/// # Errors
/// [`RiskError::Empty`] for no p-values, [`RiskError::NonFinite`] for NaN/inf,
/// [`RiskError::OutOfRange`] for a p-value outside [0, 1] (`what = "p_values"`) or `alpha`
/// not strictly inside (0, 1).
pub fn holm(p_values: &[f64], alpha: f64) -> Result<Holm, RiskError> {
    check::finite_slice("p_values", p_values)?;
    for &p in p_values {
        check::closed_unit("p_values", p)?;
    }
    check::open_unit("alpha", alpha)?;
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    // Stable, so tied p-values keep their input order.
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![0.0; m];
    let mut running_max = 0.0f64;
    for (step, &i) in order.iter().enumerate() {
        let multiplier = (m - step) as f64;
        running_max = running_max.max((multiplier * p_values[i]).min(1.0));
        adjusted[i] = running_max;
    }
    let reject = adjusted.iter().map(|&p| p <= alpha).collect();
    Ok(Holm {
        adjusted,
        reject,
        alpha,
    })
}
