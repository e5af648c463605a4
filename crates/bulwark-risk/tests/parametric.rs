//! Parametric VaR/ES: closed forms against 30-digit values, AS 241 against statrs, fits.

// Reference values are written with the 17 digits mpmath printed, not rounded by hand.
#![allow(clippy::excessive_precision)]

use bulwark_risk::{normal_quantile, NormalLoss, RiskError, StudentTLoss};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ContinuousCDF, Normal};

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1.0)
}

#[test]
fn as241_agrees_with_statrs() {
    let statrs = Normal::new(0.0, 1.0).unwrap();
    for i in 1..2_000 {
        let p = i as f64 / 2_000.0;
        let ours = normal_quantile(p).unwrap();
        let theirs = statrs.inverse_cdf(p);
        assert!(close(ours, theirs, 1e-14), "p {p}: {ours} vs {theirs}");
    }
    for p in [1e-300, 1e-100, 1e-20, 1e-8, 1.0 - 1e-12] {
        let (ours, theirs) = (normal_quantile(p).unwrap(), statrs.inverse_cdf(p));
        assert!(close(ours, theirs, 1e-13), "p {p}: {ours} vs {theirs}");
    }
}

#[test]
fn normal_var_and_es() {
    // mpmath, 30 digits: z_0.99 = 2.32634787404084110, phi(z)/0.01 = 2.66521422034580481;
    // z_0.95 = 1.64485362695147271, phi(z)/0.05 = 2.06271280750742602.
    let n = NormalLoss::new(1_000.0, 200.0).unwrap();
    assert!(close(
        n.var(0.99).unwrap(),
        1_000.0 + 200.0 * 2.326_347_874_040_841_1,
        1e-14
    ));
    assert!(close(
        n.expected_shortfall(0.99).unwrap(),
        1_000.0 + 200.0 * 2.665_214_220_345_804_8,
        1e-14
    ));
    assert!(close(
        n.var(0.95).unwrap(),
        1_000.0 + 200.0 * 1.644_853_626_951_472_7,
        1e-14
    ));
    assert!(close(
        n.expected_shortfall(0.95).unwrap(),
        1_000.0 + 200.0 * 2.062_712_807_507_426,
        1e-14
    ));
    // Fit: mean 3, sample sd sqrt(2.5) for 1..=5.
    let f = NormalLoss::fit(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    assert_eq!(f.mean_usd, 3.0);
    assert!(close(f.sd_usd, 2.5f64.sqrt(), 1e-15));
    assert!(NormalLoss::fit(&[1.0]).is_err());
    assert!(NormalLoss::new(0.0, -1.0).is_err());
    assert!(n.var(1.0).is_err());
    assert!(n.expected_shortfall(f64::NAN).is_err());
}

#[test]
fn student_t_var_and_es() {
    // (dof, level, t quantile, ES of the standard t), mpmath at 30 digits; ES checked there
    // by integrating t f(t) over the tail.
    let cases = [
        (
            10.0,
            0.975,
            2.228_138_851_986_274_7,
            2.818_997_590_565_499_4,
        ),
        (5.0, 0.99, 3.364_929_998_907_218_6, 4.452_429_111_817_970_4),
        (4.0, 0.95, 2.131_846_786_326_650_3, 3.202_870_402_094_873_5),
        (3.0, 0.99, 4.540_702_858_568_133_6, 7.003_082_036_242_112_1),
    ];
    for (dof, level, q, es) in cases {
        let t = StudentTLoss::new(50.0, 10.0, dof).unwrap();
        // The quantile is statrs's (AS 64 + Newton); 1e-9 is what it reaches.
        assert!(
            close(t.var(level).unwrap(), 50.0 + 10.0 * q, 1e-9),
            "dof {dof}"
        );
        assert!(
            close(t.expected_shortfall(level).unwrap(), 50.0 + 10.0 * es, 1e-9),
            "dof {dof}"
        );
    }
    // With many dof the t is the normal.
    let t = StudentTLoss::new(0.0, 1.0, 1e6).unwrap();
    assert!(close(t.var(0.99).unwrap(), 2.326_347_874_040_841, 1e-5));
    assert!(StudentTLoss::new(0.0, 1.0, 1.0).is_err());
    assert!(StudentTLoss::new(0.0, 0.0, 5.0).is_err());
    assert!(t.var(0.0).is_err());
}

#[test]
fn student_t_fit_with_given_dof_matches_moments() {
    let losses = [1.0, 2.0, 3.0, 4.0, 5.0];
    let t = StudentTLoss::fit_with_dof(&losses, 4.0).unwrap();
    assert_eq!(t.location_usd, 3.0);
    // sd sqrt((dof - 2) / dof) = sqrt(2.5) sqrt(0.5).
    assert!(close(t.scale_usd, (2.5f64 * 0.5).sqrt(), 1e-15));
    assert_eq!(t.dof, 4.0);
    assert!(StudentTLoss::fit_with_dof(&losses, 2.0).is_err());
    assert!(StudentTLoss::fit_with_dof(&[], 5.0).is_err());
}

/// n draws of location + scale * T_dof (integer dof: a normal over the root of a chi-square).
fn t_sample(n: usize, location: f64, scale: f64, dof: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let mut normal = || {
        let (u, v) = (unit(), unit());
        libm::sqrt(-2.0 * libm::log(u)) * libm::cos(2.0 * std::f64::consts::PI * v)
    };
    (0..n)
        .map(|_| {
            let z = normal();
            let chi2: f64 = (0..dof).map(|_| normal().powi(2)).sum();
            location + scale * z / libm::sqrt(chi2 / dof as f64)
        })
        .collect()
}

#[test]
fn student_t_maximum_likelihood_recovers_parameters() {
    // 5,000 draws of 100 + 20 T_4. Tolerances are about three standard errors.
    let xs = t_sample(5_000, 100.0, 20.0, 4, 9);
    let t = StudentTLoss::fit(&xs).unwrap();
    assert!((t.location_usd - 100.0).abs() < 1.5, "{t:?}");
    assert!((t.scale_usd - 20.0).abs() < 1.5, "{t:?}");
    assert!((t.dof - 4.0).abs() < 1.0, "{t:?}");
    // Normal data: a large dof.
    let t = StudentTLoss::fit(&t_sample(5_000, 0.0, 1.0, 200, 10)).unwrap();
    assert!(t.dof > 30.0, "{t:?}");
    assert!(matches!(
        StudentTLoss::fit(&[1.0; 10]),
        Err(RiskError::TooFewObservations {
            have: 10,
            need: 30,
            ..
        })
    ));
    assert!(matches!(
        StudentTLoss::fit(&[1.0; 40]),
        Err(RiskError::FitFailed { .. })
    ));
}
