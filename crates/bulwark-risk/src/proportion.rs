//! The probability of an event from k occurrences in n runs, with a Wilson score interval.

use crate::normal::normal_quantile;
use crate::{check, RiskError};

/// An estimated probability with its two-sided Wilson score interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proportion {
    /// Number of runs in which the event happened.
    pub successes: u64,
    /// Number of runs.
    pub trials: u64,
    /// The point estimate k / n.
    pub estimate: f64,
    /// Lower end of the interval, in [0, estimate].
    pub lower: f64,
    /// Upper end of the interval, in [estimate, 1].
    pub upper: f64,
    /// The two-sided confidence level of the interval.
    pub confidence: f64,
}

/// The probability of an event that happened in `successes` of `trials` runs, with the Wilson
/// score interval at `confidence` (two-sided, e.g. 0.95).
///
/// Wilson (1927), without continuity correction (method 3 of Newcombe, Stat. Med. 17 (1998)
/// 857-872): with p = k / n and z the (1 + confidence) / 2 standard normal quantile,
///
/// (p + z^2 / (2n) -/+ z sqrt(p (1 - p) / n + z^2 / (4 n^2))) / (1 + z^2 / n).
///
/// Unlike the Wald interval it stays inside [0, 1] and is sensible at k = 0 and k = n, which
/// is where a crash lab's rare events live: 0 of 20 gives [0, 0.1611]. The lower end is
/// exactly 0 when k = 0 and the upper exactly 1 when k = n. z comes from this crate's
/// [`crate::normal_quantile`] (AS 241 with `libm`), so the result is bit-identical across
/// machines.
///
/// # Errors
/// [`RiskError::InvalidCount`] when `trials` is 0 or `successes > trials`;
/// [`RiskError::OutOfRange`] when `confidence` is not strictly inside (0, 1).
pub fn wilson(successes: u64, trials: u64, confidence: f64) -> Result<Proportion, RiskError> {
    if trials == 0 || successes > trials {
        return Err(RiskError::InvalidCount { successes, trials });
    }
    check::open_unit("confidence", confidence)?;
    // z from the lower tail: (1 - confidence) / 2 is exact and positive for every
    // confidence in [0.5, 1), where 0.5 + confidence / 2 can round to 1.
    let z = -normal_quantile((1.0 - confidence) / 2.0)?;
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half_width = z / denominator * libm::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n));
    let lower = if successes == 0 {
        0.0
    } else {
        (centre - half_width).clamp(0.0, p)
    };
    let upper = if successes == trials {
        1.0
    } else {
        (centre + half_width).clamp(p, 1.0)
    };
    Ok(Proportion {
        successes,
        trials,
        estimate: p,
        lower,
        upper,
        confidence,
    })
}
