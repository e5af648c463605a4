//! Bootstrap intervals, the paired bootstrap test and Holm's correction.

use bulwark_risk::{
    bootstrap_ci, expected_shortfall, expected_shortfall_ci, holm, paired_mean_diff, quantile,
    quantile_ci, var, var_ci, Bootstrap, RiskError,
};
use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// n draws of a standard normal (Box–Muller on a seeded stream), scaled and shifted.
fn normal_sample(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let (u, v) = (unit(), unit());
            mean + sd * libm::sqrt(-2.0 * libm::log(u)) * libm::cos(2.0 * std::f64::consts::PI * v)
        })
        .collect()
}

fn boot(seed: u64) -> Bootstrap {
    Bootstrap {
        resamples: 1_000,
        confidence: 0.95,
        seed,
    }
}

#[test]
fn same_seed_same_bits_other_seed_other_interval() {
    let losses = normal_sample(500, 100.0, 30.0, 1);
    let a = var_ci(&losses, 0.95, &boot(7)).unwrap();
    let b = var_ci(&losses, 0.95, &boot(7)).unwrap();
    assert_eq!(a.lower.to_bits(), b.lower.to_bits());
    assert_eq!(a.upper.to_bits(), b.upper.to_bits());
    let c = var_ci(&losses, 0.95, &boot(8)).unwrap();
    assert_ne!((a.lower, a.upper), (c.lower, c.upper));
    let p = paired_mean_diff(&losses, &normal_sample(500, 100.0, 30.0, 2), &boot(7)).unwrap();
    let q = paired_mean_diff(&losses, &normal_sample(500, 100.0, 30.0, 2), &boot(7)).unwrap();
    assert_eq!(p, q);
}

#[test]
fn counted_resamples_equal_materialised_ones_bit_for_bit() {
    // The fast path (counts over the sorted sample) against the general one (copies of each
    // resample fed to the public functions): same seed, same index stream, same bits.
    let losses = normal_sample(301, 10.0, 4.0, 3);
    let b = boot(11);
    let pairs = [
        (
            quantile_ci(&losses, 0.9, &b).unwrap(),
            bootstrap_ci(&losses, &b, |x| quantile(x, 0.9).unwrap()).unwrap(),
        ),
        (
            var_ci(&losses, 0.975, &b).unwrap(),
            bootstrap_ci(&losses, &b, |x| var(x, 0.975).unwrap()).unwrap(),
        ),
        (
            expected_shortfall_ci(&losses, 0.975, &b).unwrap(),
            bootstrap_ci(&losses, &b, |x| expected_shortfall(x, 0.975).unwrap()).unwrap(),
        ),
    ];
    for (fast, slow) in pairs {
        assert_eq!(fast, slow);
    }
}

#[test]
fn intervals_bracket_the_estimate_and_cover_the_truth() {
    // 2,000 standard normal losses: the true 95% VaR is 1.6449, the true ES 2.0627.
    let losses = normal_sample(2_000, 0.0, 1.0, 5);
    let v = var_ci(&losses, 0.95, &boot(1)).unwrap();
    let e = expected_shortfall_ci(&losses, 0.95, &boot(1)).unwrap();
    assert!(v.lower <= v.estimate && v.estimate <= v.upper, "{v:?}");
    assert!(e.lower <= e.estimate && e.estimate <= e.upper, "{e:?}");
    assert!(v.lower < 1.6449 && 1.6449 < v.upper, "{v:?}");
    assert!(e.lower < 2.0627 && 2.0627 < e.upper, "{e:?}");
    assert_eq!(v.estimate, var(&losses, 0.95).unwrap());
    // A 99% interval is wider than a 90% one from the same replicates' stream.
    let wide = var_ci(
        &losses,
        0.95,
        &Bootstrap {
            confidence: 0.99,
            ..boot(1)
        },
    )
    .unwrap();
    let narrow = var_ci(
        &losses,
        0.95,
        &Bootstrap {
            confidence: 0.90,
            ..boot(1)
        },
    )
    .unwrap();
    assert!(wide.lower <= narrow.lower && narrow.upper <= wide.upper);
}

#[test]
fn paired_bootstrap_flags_a_clear_difference() {
    // Variant b loses 5 USD less than a on every seed, plus seed noise common to both and
    // a little noise of its own.
    let common = normal_sample(200, 100.0, 40.0, 21);
    let own = normal_sample(200, 0.0, 3.0, 22);
    let a = common.clone();
    let b: Vec<f64> = common.iter().zip(&own).map(|(c, e)| c - 5.0 + e).collect();
    let d = paired_mean_diff(&a, &b, &Bootstrap::with_seed(1)).unwrap();
    assert!((d.mean_diff - 5.0).abs() < 1.0, "{d:?}");
    assert!(d.ci.lower > 0.0, "{d:?}");
    // Nothing as extreme in 2,000 resamples: p is the floor 1 / 2001.
    assert_eq!(d.p_value, 1.0 / 2001.0);
    assert_eq!(d.n, 200);
}

#[test]
fn paired_bootstrap_does_not_flag_a_null_difference() {
    let common = normal_sample(200, 100.0, 40.0, 31);
    let a: Vec<f64> = common
        .iter()
        .zip(normal_sample(200, 0.0, 3.0, 32))
        .map(|(c, e)| c + e)
        .collect();
    let b: Vec<f64> = common
        .iter()
        .zip(normal_sample(200, 0.0, 3.0, 33))
        .map(|(c, e)| c + e)
        .collect();
    let d = paired_mean_diff(&a, &b, &Bootstrap::with_seed(1)).unwrap();
    assert!(d.p_value > 0.05, "{d:?}");
    assert!(d.ci.lower < 0.0 && 0.0 < d.ci.upper, "{d:?}");
    // Identical variants: mean difference 0, p = 1.
    let same = paired_mean_diff(&a, &a, &Bootstrap::with_seed(1)).unwrap();
    assert_eq!((same.mean_diff, same.p_value), (0.0, 1.0));
}

#[test]
fn bootstrap_settings_and_data_are_validated() {
    let xs = [1.0, 2.0, 3.0];
    let zero = Bootstrap {
        resamples: 0,
        ..boot(1)
    };
    assert!(matches!(
        var_ci(&xs, 0.9, &zero),
        Err(RiskError::CountOutOfRange {
            what: "resamples",
            ..
        })
    ));
    let too_many = Bootstrap {
        resamples: 1_000_001,
        ..boot(1)
    };
    assert!(quantile_ci(&xs, 0.5, &too_many).is_err());
    for confidence in [0.0, 1.0, f64::NAN] {
        assert!(quantile_ci(
            &xs,
            0.5,
            &Bootstrap {
                confidence,
                ..boot(1)
            }
        )
        .is_err());
    }
    assert!(matches!(
        var_ci(&[1.0], 0.9, &boot(1)),
        Err(RiskError::TooFewObservations {
            have: 1,
            need: 2,
            ..
        })
    ));
    assert!(matches!(
        paired_mean_diff(&[1.0, 2.0], &[1.0], &boot(1)),
        Err(RiskError::LengthMismatch {
            left: 2,
            right: 1,
            ..
        })
    ));
    assert!(paired_mean_diff(&[1.0, f64::NAN], &[1.0, 2.0], &boot(1)).is_err());
    assert!(expected_shortfall_ci(&xs, 1.0, &boot(1)).is_err());
    assert!(matches!(
        bootstrap_ci(&xs, &boot(1), |_| f64::NAN),
        Err(RiskError::OutOfRange {
            what: "statistic",
            ..
        })
    ));
}

#[test]
fn holm_worked_example() {
    // Four tests: sorted p = 0.005, 0.01, 0.03, 0.04 with multipliers 4, 3, 2, 1 give
    // 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06 (R: p.adjust(.., "holm")).
    let h = holm(&[0.01, 0.04, 0.03, 0.005], 0.05).unwrap();
    let want = [0.03, 0.06, 0.06, 0.02];
    for (got, want) in h.adjusted.iter().zip(want) {
        assert!((got - want).abs() < 1e-15, "{:?}", h.adjusted);
    }
    assert_eq!(h.reject, [true, false, false, true]);
    // Capped at 1, ties kept in order, one test is just alpha.
    let h = holm(&[0.5, 0.5, 0.9], 0.05).unwrap();
    assert_eq!(h.adjusted, [1.0, 1.0, 1.0]);
    assert_eq!(holm(&[0.04], 0.05).unwrap().reject, [true]);
    assert!(holm(&[], 0.05).is_err());
    assert!(holm(&[1.2], 0.05).is_err());
    assert!(holm(&[-0.1], 0.05).is_err());
    assert!(holm(&[f64::NAN], 0.05).is_err());
    assert!(holm(&[0.1], 0.0).is_err());
}

proptest! {
    #[test]
    fn holm_adjusted_values_are_sane(ps in prop::collection::vec(0.0..=1.0f64, 1..40), alpha in 0.001..0.5f64) {
        let h = holm(&ps, alpha).unwrap();
        let m = ps.len() as f64;
        for ((&p, &adj), &rej) in ps.iter().zip(&h.adjusted).zip(&h.reject) {
            prop_assert!(p <= adj && adj <= 1.0);
            prop_assert!(adj <= (m * p).min(1.0) + 1e-15);
            prop_assert_eq!(rej, adj <= alpha);
        }
        // A smaller raw p never gets a larger adjusted p.
        for i in 0..ps.len() {
            for j in 0..ps.len() {
                if ps[i] < ps[j] {
                    prop_assert!(h.adjusted[i] <= h.adjusted[j]);
                }
            }
        }
    }
}
