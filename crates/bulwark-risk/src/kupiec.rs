//! Kupiec's proportion-of-failures test of a VaR forecast (Kupiec 1995, "Techniques for
//! verifying the accuracy of risk measurement models", J. Derivatives 3(2)): with `n`
//! forecasts at level `1 - p` and `x` exceedances, the likelihood ratio
//!
//! LR = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - x/n)^(n - x) (x/n)^x]
//!
//! is asymptotically chi-squared with one degree of freedom under a correct model.
//!
//! The test assumes a continuous loss: then a correct forecast is exceeded with probability
//! exactly `p`. A venue's hourly bad debt is mostly exactly zero (an atom), and a forecast
//! whose VaR sits on that atom is exceeded less often than `p` even when it is right, so the
//! plain count is biased low and Kupiec rejects a correct forecast for too few exceedances.
//! [`randomized_pit`] is the standard remedy for discrete forecasts (the randomized
//! probability integral transform; Brockwell 2007, Czado, Gneiting & Held 2009, Biometrics
//! 65(4)): with one uniform draw per forecast the transform is exactly uniform under a
//! correct forecast, so "transform above `1 - p`" happens with probability exactly `p`.

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

/// How many of `sample` lie below `realised` and how many at or below it, two values closer
/// than `tolerance` counting as equal: `n F(y-)` and `n F(y)` of the empirical distribution,
/// the ends of the atom a randomized transform spreads.
///
/// # Errors
/// [`RiskError`] for an empty or non-finite sample, a non-finite `realised`, or a negative or
/// non-finite `tolerance`.
pub fn pit_counts(
    sample: &[f64],
    realised: f64,
    tolerance: f64,
) -> Result<(usize, usize), RiskError> {
    check::finite_slice("sample", sample)?;
    check::finite("realised", realised)?;
    check::finite("tolerance", tolerance)?;
    if tolerance < 0.0 {
        return Err(RiskError::OutOfRange {
            what: "tolerance",
            value: tolerance,
            range: "[0, inf)",
        });
    }
    let below = sample.iter().filter(|&&x| x < realised - tolerance).count();
    let at_or_below = sample
        .iter()
        .filter(|&&x| x <= realised + tolerance)
        .count();
    Ok((below, at_or_below))
}

/// The randomized probability integral transform of `realised` under the empirical
/// forecast distribution `sample`: `F(y-) + v (F(y) - F(y-))`, with `F(y-)` the share of the
/// sample below `y`, `F(y)` the share at or below it ([`pit_counts`]) and `v` a uniform draw
/// in [0, 1). Two values closer than `tolerance` count as equal (realised and simulated
/// losses go through different sums). Under a correct forecast the result is uniform on
/// [0, 1); a VaR at level `1 - p` is "exceeded" when it is at least `1 - p`.
///
/// # Errors
/// [`RiskError`] for an empty or non-finite sample, a non-finite `realised`, `v` outside
/// [0, 1) or a negative or non-finite `tolerance`.
pub fn randomized_pit(
    sample: &[f64],
    realised: f64,
    v: f64,
    tolerance: f64,
) -> Result<f64, RiskError> {
    let (below, at_or_below) = pit_counts(sample, realised, tolerance)?;
    if !(0.0..1.0).contains(&v) {
        return Err(RiskError::OutOfRange {
            what: "v",
            value: v,
            range: "[0, 1)",
        });
    }
    let (below, at_or_below) = (below as f64, at_or_below as f64);
    Ok((below + v * (at_or_below - below)) / sample.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: a sample of 20 with 18 zeros, 1 and 5. A realised 0 has F(0-) = 0 and
    /// F(0) = 0.9, so the transform is 0.9 v (never above 0.95); 1 gives 0.9 + 0.05 v; 3
    /// (between atoms) gives 0.95 whatever v; 7 gives 1.
    #[test]
    fn the_randomized_pit_spreads_an_atom() {
        let mut s = vec![0.0; 18];
        s.extend([1.0, 5.0]);
        let pit = |y, v| randomized_pit(&s, y, v, 1e-9).unwrap();
        assert!((pit(0.0, 0.5) - 0.45).abs() < 1e-12);
        assert!((pit(1.0, 0.5) - 0.925).abs() < 1e-12);
        assert!((pit(3.0, 0.0) - 0.95).abs() < 1e-12);
        assert!((pit(3.0, 0.99) - 0.95).abs() < 1e-12);
        assert_eq!(pit(7.0, 0.3), 1.0);
        // Within the tolerance a value is at the atom.
        assert!((randomized_pit(&s, 1e-7, 0.5, 1e-6).unwrap() - 0.45).abs() < 1e-12);
    }

    /// Under a correct forecast with an atom the transform is uniform: draw the forecast's
    /// own distribution (70% zero, else 1..=30) and count transforms at or above 0.95.
    #[test]
    fn the_randomized_pit_is_uniform_under_a_correct_discrete_forecast() {
        use rand::{Rng, SeedableRng};
        let sample: Vec<f64> = (0..100)
            .map(|i| if i < 70 { 0.0 } else { f64::from(i - 69) })
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let (mut plain, mut pit_hits) = (0, 0);
        let var95 = crate::var(&sample, 0.95).unwrap();
        for _ in 0..n {
            let y = sample[rng.gen_range(0..sample.len())];
            plain += u32::from(y > var95);
            let v: f64 = rng.gen();
            pit_hits += u32::from(randomized_pit(&sample, y, v, 1e-9).unwrap() >= 0.95);
        }
        let rate = f64::from(pit_hits) / f64::from(n);
        assert!((rate - 0.05).abs() < 0.006, "randomized {rate}");
        // The plain count: var95 = 25 (the 95th of 100), exceeded by 26..=30: 5% here too, as
        // the quantile falls between atoms; with a VaR on the atom it would be 0.
        assert!((f64::from(plain) / f64::from(n) - 0.05).abs() < 0.006);
        let zeros = vec![0.0; 100];
        assert_eq!(crate::var(&zeros, 0.95).unwrap(), 0.0);
        assert!(randomized_pit(&zeros, 0.0, 0.96, 1e-9).unwrap() >= 0.95);
    }

    #[test]
    fn randomized_pit_refuses_bad_input() {
        assert!(randomized_pit(&[], 0.0, 0.5, 0.0).is_err());
        assert!(randomized_pit(&[1.0], f64::NAN, 0.5, 0.0).is_err());
        assert!(randomized_pit(&[1.0], 0.0, 1.0, 0.0).is_err());
        assert!(randomized_pit(&[1.0], 0.0, 0.5, -1.0).is_err());
    }

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
