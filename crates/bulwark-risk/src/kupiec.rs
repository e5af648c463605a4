//! Kupiec's proportion-of-failures test of a VaR forecast (Kupiec 1995, "Techniques for
//! verifying the accuracy of risk measurement models", J. Derivatives 3(2)): with `n`
//! forecasts at level `1 - p` and `x` exceedances, the likelihood ratio
//!
//! LR = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - x/n)^(n - x) (x/n)^x]
//!
//! is asymptotically chi-squared with one degree of freedom under a correct model.

use crate::{check, normal_quantile, RiskError};

/// The likelihood ratio for `exceedances` of `trials` at exceedance probability `p` in
/// (0, 1) (0 ln 0 is 0).
///
/// # Errors
/// [`RiskError::OutOfRange`] for `p` outside (0, 1), no trials, or more exceedances than
/// trials.
pub fn kupiec_lr(exceedances: u64, trials: u64, p: f64) -> Result<f64, RiskError> {
    check::open_unit("p", p)?;
    if trials == 0 || exceedances > trials {
        return Err(RiskError::CountOutOfRange {
            what: if trials == 0 { "trials" } else { "exceedances" },
            value: if trials == 0 { trials } else { exceedances },
            range: if trials == 0 { "1.." } else { "0..=trials" },
        });
    }
    let (n, x) = (trials as f64, exceedances as f64);
    let xlny = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * libm::log(b) };
    let null = xlny(n - x, 1.0 - p) + xlny(x, p);
    let rate = x / n;
    let alt = xlny(n - x, 1.0 - rate) + xlny(x, rate);
    Ok((-2.0 * (null - alt)).max(0.0))
}

/// The exceedance counts Kupiec's test accepts at `confidence` (0.95: LR below the chi-squared
/// quantile 3.841) for `trials` forecasts at exceedance probability `p`: `(low, high)`
/// inclusive, or `None` when no count is accepted (too few trials).
///
/// # Errors
/// As [`kupiec_lr`], and for `confidence` outside (0, 1).
pub fn kupiec_accepted_counts(
    trials: u64,
    p: f64,
    confidence: f64,
) -> Result<Option<(u64, u64)>, RiskError> {
    check::open_unit("confidence", confidence)?;
    // The chi-squared(1) quantile is the square of the normal's two-sided one.
    let z = normal_quantile(0.5 + confidence / 2.0)?;
    let critical = z * z;
    let mut accepted = None::<(u64, u64)>;
    for x in 0..=trials {
        if kupiec_lr(x, trials, p)? < critical {
            accepted = Some(accepted.map_or((x, x), |(lo, _)| (lo, x)));
        }
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand for 100 forecasts at 5%: x = 2 gives LR = 2.43 and x = 9 gives 2.75 (accepted),
    /// x = 1 gives 4.95 and x = 10 gives 4.13 (rejected at 3.841).
    #[test]
    fn kupiec_matches_hand_computed_ratios() {
        let lr = |x| kupiec_lr(x, 100, 0.05).unwrap();
        assert!((lr(2) - 2.4285).abs() < 1e-3, "{}", lr(2));
        assert!((lr(1) - 4.9470).abs() < 1e-3, "{}", lr(1));
        assert!((lr(9) - 2.7510).abs() < 1e-3, "{}", lr(9));
        assert!((lr(10) - 4.1309).abs() < 1e-3, "{}", lr(10));
        assert_eq!(lr(5), 0.0);
        assert_eq!(
            kupiec_accepted_counts(100, 0.05, 0.95).unwrap(),
            Some((2, 9))
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(kupiec_lr(3, 2, 0.05).is_err());
        assert!(kupiec_lr(0, 0, 0.05).is_err());
        assert!(kupiec_lr(0, 10, 1.0).is_err());
        assert!(kupiec_accepted_counts(10, 0.05, 1.5).is_err());
        // One trial: x = 0 gives LR = -2 ln 0.95 = 0.10, accepted.
        assert_eq!(kupiec_accepted_counts(1, 0.05, 0.95).unwrap(), Some((0, 0)));
    }
}
