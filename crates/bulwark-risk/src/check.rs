//! Input validation shared by every public function (crate-private).
//!
//! Each check returns the first fault it finds, so an error names one index and one value.

use crate::RiskError;

/// A non-empty slice of finite numbers.
pub(crate) fn finite_slice(what: &'static str, xs: &[f64]) -> Result<(), RiskError> {
    if xs.is_empty() {
        return Err(RiskError::Empty { what });
    }
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(RiskError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// A probability-like level strictly inside (0, 1): VaR levels, confidences, alpha, lambda.
pub(crate) fn open_unit(what: &'static str, value: f64) -> Result<(), RiskError> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(RiskError::OutOfRange {
            what,
            value,
            range: "(0, 1)",
        })
    }
}

/// A probability in the closed interval [0, 1]: quantile probabilities, p-values.
pub(crate) fn closed_unit(what: &'static str, value: f64) -> Result<(), RiskError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(RiskError::OutOfRange {
            what,
            value,
            range: "[0, 1]",
        })
    }
}

/// A finite, strictly positive scalar.
pub(crate) fn positive(what: &'static str, value: f64) -> Result<(), RiskError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(RiskError::OutOfRange {
            what,
            value,
            range: "(0, inf)",
        })
    }
}

/// A finite scalar.
pub(crate) fn finite(what: &'static str, value: f64) -> Result<(), RiskError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(RiskError::OutOfRange {
            what,
            value,
            range: "finite numbers",
        })
    }
}

/// At least `need` observations.
pub(crate) fn at_least(what: &'static str, have: usize, need: usize) -> Result<(), RiskError> {
    if have >= need {
        Ok(())
    } else {
        Err(RiskError::TooFewObservations { what, have, need })
    }
}

/// An ascending copy of finite data, ordered by `f64::total_cmp` (the one total order on f64,
/// so the result does not depend on the sort's stability or on the platform).
pub(crate) fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}
