use super::*;
use crate::path::fitting::{excess_kurtosis, mean_var};
use rand::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Hourly bars, long-run variance 1e-4 (1% an hour), a finite fourth moment:
/// (alpha + beta)^2 + (kappa - 1) alpha^2 = 0.9604 + 3.5 x 0.0064 = 0.983 < 1 with the t's
/// kurtosis kappa = 3 + 6 / (dof - 4) = 4.5.
const TEST: Garch = Garch {
    omega: 2e-6,
    alpha: 0.08,
    beta: 0.9,
    dof: 8.0,
    bar_s: 3_600,
};

#[test]
fn long_run_variance_and_fat_tails_over_many_paths() {
    // 400 paths of 1,000 bars, each started at the long-run variance, so every bar's
    // expected squared return is omega / (1 - alpha - beta) = 1e-4. The returns' own
    // kurtosis is kappa (1 - p^2) / (1 - p^2 - (kappa - 1) alpha^2) = 10.4 (excess 7.4),
    // and squared returns are autocorrelated with persistence 0.98, so the 400,000 bars
    // are worth about 20,000 independent ones: the mean square has a standard error near
    // 2.2%. Tolerance 8%. The excess kurtosis must be positive (the t's own is 1.5; the
    // clustering adds the rest), and the squared returns must cluster: their lag-one
    // autocorrelation is positive.
    let mut all = Vec::with_capacity(400_000);
    for seed in 0..400 {
        all.extend(TEST.bar_returns(1_000, &mut rng(seed)).0);
    }
    assert!((TEST.unconditional_variance() - 1e-4).abs() < 1e-15);
    let mean_square = all.iter().map(|r| r * r).sum::<f64>() / all.len() as f64;
    assert!(
        (mean_square / 1e-4 - 1.0).abs() < 0.08,
        "mean square {mean_square}"
    );
    let k = excess_kurtosis(&all);
    assert!(k > 1.5, "excess kurtosis {k}");
    let sq: Vec<f64> = all.iter().map(|r| r * r).collect();
    let (m, v) = mean_var(&sq);
    let lag1 =
        sq.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum::<f64>() / (sq.len() - 1) as f64 / v;
    assert!(lag1 > 0.05, "squared returns do not cluster: {lag1}");
}

#[test]
fn steps_inside_a_bar_add_up_to_it_and_carry_its_variance() {
    // A bar's return r spread over n steps with variance h: the moves add up to r, and their
    // squares to h (1 - 1/n) + r^2 / n in expectation (the bridge's variance plus the share
    // of the return). 10,000 bars of 60 steps: within 1% (the sum of squares of 59 free
    // normals has a relative standard error of sqrt(2 / 59) = 18% a bar, 0.2% over all).
    let (r, h, n) = (0.0123, 1e-4, 60);
    let mut sum_sq = 0.0;
    let mut g = rng(1);
    for _ in 0..10_000 {
        let mut out = Vec::new();
        spread_over_steps(r, h, n, &mut g, &mut out);
        assert_eq!(out.len(), n);
        assert!((out.iter().sum::<f64>() - r).abs() < 1e-15);
        sum_sq += out.iter().map(|x| x * x).sum::<f64>();
    }
    let want = h * (1.0 - 1.0 / n as f64) + r * r / n as f64;
    assert!((sum_sq / 10_000.0 / want - 1.0).abs() < 0.01, "{sum_sq}");
    // Hourly bars on one-minute steps: over 1,000 paths of 240 hours the one-minute moves
    // have the variance 1e-4 / 60. The 240,000 hours have the clustering of the first test
    // (persistence 0.98, kurtosis 10): worth about 11,000 independent ones, a standard error
    // near 3%; tolerance 10%.
    let mut moves = Vec::new();
    for seed in 0..1_000 {
        let inc = TEST.log_increments(240 * 60, 60_000, &mut rng(seed));
        assert_eq!(inc.len(), 240 * 60);
        moves.extend(inc);
    }
    let (_, var) = mean_var(&moves);
    assert!((var * 60.0 / 1e-4 - 1.0).abs() < 0.1, "{var}");
    // Steps longer than a bar sum whole bars: two-hour steps are the sums of pairs.
    let two_hour = TEST.log_increments(50, 7_200_000, &mut rng(4));
    let (bars, _) = TEST.bar_returns(100, &mut rng(4));
    for (k, x) in two_hour.iter().enumerate() {
        assert_eq!(*x, bars[2 * k] + bars[2 * k + 1]);
    }
    assert!(!TEST.fits_step(7_000));
    assert!(TEST.fits_step(1_000) && TEST.fits_step(3_600_000 * 24));
}

#[test]
fn a_seed_gives_the_same_bits_twice_and_another_seed_another_path() {
    let bits = |seed| {
        TEST.log_increments(7_200, 1_000, &mut rng(seed))
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(5), bits(5));
    assert_ne!(bits(5), bits(6));
}

#[test]
fn the_fit_recovers_a_simulated_series() {
    // 5,000 hourly bars from `TEST`. Standard errors at this length are about 0.015 for
    // alpha, 0.02 for beta and 1 for dof near 8 (the t's tail is hard to pin down); the
    // long-run variance is known to about 10%. Tolerances: alpha 0.04, beta 0.05, dof 3,
    // the long-run variance 25%.
    let (returns, _) = TEST.bar_returns(5_000, &mut rng(31));
    let f = fit::fit_returns(&returns, 3_600).unwrap();
    let p = f.params;
    println!("{f:?}");
    assert!((p.alpha - TEST.alpha).abs() < 0.04, "{f:?}");
    assert!((p.beta - TEST.beta).abs() < 0.05, "{f:?}");
    assert!((p.dof - TEST.dof).abs() < 3.0, "{f:?}");
    assert!(
        (p.unconditional_variance() / TEST.unconditional_variance() - 1.0).abs() < 0.25,
        "{f:?}"
    );
    assert!(p.persistence() < 1.0 && p.bar_s == 3_600);
    // What is left after dividing by the fitted volatility is thinner-tailed than the raw
    // returns: the clustering explained part of the kurtosis.
    assert!(f.standardized_excess_kurtosis < f.excess_kurtosis, "{f:?}");
}

#[test]
fn log_likelihood_by_hand() {
    // Two returns, 0.01 and -0.02, h0 = 1e-4; omega 1e-5, alpha 0.1, beta 0.8, dof 5:
    // h1 = 1e-4, h2 = 1e-5 + 0.1 x 1e-4 + 0.8 x 1e-4 = 1e-4 as well.
    let p = Garch {
        omega: 1e-5,
        alpha: 0.1,
        beta: 0.8,
        dof: 5.0,
        bar_s: 60,
    };
    let ll = fit::log_likelihood(&p, &[0.01, -0.02], 1e-4);
    // Unit-variance t(5) density at x with variance h: the constant
    // G(3) / (G(2.5) sqrt(3 pi)) = 2 / (1.329340 x 3.069980) = 0.490070, over sqrt(h), times
    // (1 + x^2 / (3 h))^-3.
    let c = 2.0 / (1.329_340_388_179_137 * (3.0 * std::f64::consts::PI).sqrt());
    let dens = |x: f64, h: f64| c / h.sqrt() * (1.0 + x * x / (3.0 * h)).powf(-3.0);
    let want = dens(0.01, 1e-4).ln() + dens(-0.02, 1e-4).ln();
    assert!((ll - want).abs() < 1e-9, "{ll} vs {want}");
}

#[test]
fn every_bad_parameter_is_named_with_its_range() {
    let names = |g: Garch| -> Vec<String> {
        match g.validate() {
            Err(PathError::InvalidModel { problems, .. }) => {
                problems.into_iter().map(|p| p.name).collect()
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        names(Garch {
            alpha: 0.2,
            beta: 0.8,
            ..TEST
        }),
        ["beta"]
    );
    assert_eq!(
        names(Garch {
            omega: 0.0,
            dof: 2.0,
            bar_s: 0,
            ..TEST
        }),
        ["omega", "dof", "bar_s"]
    );
    // A long-run vol of sqrt(0.1 / 0.02 x 8760) = 209 a year is refused.
    let wild = Garch { omega: 0.1, ..TEST };
    assert_eq!(names(wild), ["omega"]);
    assert!(TEST.validate().is_ok());
    assert!(Garch::btc_daily_fit().validate().is_ok());
    assert!(Garch::btc_5m_oct_2025_fit().validate().is_ok());
}
