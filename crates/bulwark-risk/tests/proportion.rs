//! Wilson score intervals against Newcombe (1998) and the formula.

// Reference values are written with the 17 digits mpmath printed, not rounded by hand.
#![allow(clippy::excessive_precision)]

use bulwark_risk::{wilson, RiskError};
use proptest::prelude::*;

#[test]
fn newcombe_1998_table_i_method_3() {
    // Newcombe, Stat. Med. 17 (1998), Table I, method 3 (score, no continuity correction),
    // to the four decimals printed there.
    let cases = [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ];
    for (k, n, lower, upper) in cases {
        let w = wilson(k, n, 0.95).unwrap();
        assert!((w.lower - lower).abs() < 5e-5, "{k}/{n}: {w:?}");
        assert!((w.upper - upper).abs() < 5e-5, "{k}/{n}: {w:?}");
    }
}

#[test]
fn formula_values_to_twelve_digits() {
    // The formula evaluated in 30-digit arithmetic (mpmath), z = 1.959963984540054.
    let cases = [
        (81, 263, 0.255_288_519_878_274_23, 0.366_209_576_982_800_07),
        (15, 148, 0.062_386_399_530_736_28, 0.160_487_241_723_308_04),
        (1, 29, 0.006_113_214_292_762_660_5, 0.171_755_218_793_202_88),
        (29, 29, 0.883_030_201_500_259_23, 1.0),
        (0, 20, 0.0, 0.161_125_158_052_819_39),
    ];
    for (k, n, lower, upper) in cases {
        let w = wilson(k, n, 0.95).unwrap();
        assert!((w.lower - lower).abs() < 1e-12, "{k}/{n}: {w:?}");
        assert!((w.upper - upper).abs() < 1e-12, "{k}/{n}: {w:?}");
        assert_eq!(w.estimate, k as f64 / n as f64);
    }
    // The edges are exact.
    assert_eq!(wilson(0, 20, 0.95).unwrap().lower, 0.0);
    assert_eq!(wilson(29, 29, 0.95).unwrap().upper, 1.0);
}

#[test]
fn invalid_counts_and_levels() {
    assert_eq!(
        wilson(0, 0, 0.95),
        Err(RiskError::InvalidCount {
            successes: 0,
            trials: 0
        })
    );
    assert!(wilson(5, 4, 0.95).is_err());
    for c in [0.0, 1.0, -1.0, f64::NAN] {
        assert!(wilson(1, 4, c).is_err());
    }
    // The largest confidence below 1 still has a z (0.5 + c / 2 would round to 1).
    let w = wilson(1, 4, 1.0 - f64::EPSILON / 2.0).unwrap();
    assert!(0.0 < w.lower && w.upper < 1.0, "{w:?}");
}

proptest! {
    #[test]
    fn interval_contains_the_estimate_and_stays_in_the_unit_interval(
        n in 1u64..100_000,
        k_share in 0.0..=1.0f64,
        confidence in 0.5..0.9999f64,
    ) {
        let k = ((n as f64) * k_share).floor() as u64;
        let w = wilson(k, n, confidence).unwrap();
        prop_assert!(0.0 <= w.lower && w.lower <= w.estimate);
        prop_assert!(w.estimate <= w.upper && w.upper <= 1.0);
        // A higher confidence never gives a narrower interval.
        let wider = wilson(k, n, (confidence + 1.0) / 2.0).unwrap();
        prop_assert!(wider.lower <= w.lower && w.upper <= wider.upper);
    }
}
