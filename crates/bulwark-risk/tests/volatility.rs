//! Log returns, EWMA, annualisation and GARCH(1,1) fits.

use bulwark_risk::{
    annualise_variance, annualise_volatility, ewma_variance, ewma_variance_path, fit_garch11,
    log_returns, FittedInnovations, Garch11, Innovations, RiskError, RISKMETRICS_LAMBDA,
};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn log_returns_of_prices() {
    let r = log_returns(&[100.0, 110.0, 99.0]).unwrap();
    assert_eq!(r.len(), 2);
    assert!((r[0] - (1.1f64).ln()).abs() < 1e-15);
    assert!((r[1] - (0.9f64).ln()).abs() < 1e-15);
    assert!(matches!(
        log_returns(&[100.0, 0.0]),
        Err(RiskError::NotPositive { index: 1, .. })
    ));
    assert!(log_returns(&[100.0]).is_err());
    assert!(log_returns(&[100.0, f64::NAN]).is_err());
}

#[test]
fn ewma_by_hand() {
    // s0 = 0.01^2 = 1e-4
    // s1 = 0.94 * 1e-4 + 0.06 * 0.02^2 = 0.94e-4 + 0.24e-4 = 1.18e-4
    // s2 = 0.94 * 1.18e-4 + 0.06 * 0.015^2 = 1.1092e-4 + 0.135e-4 = 1.2442e-4
    // s3 = 0.94 * 1.2442e-4 + 0.06 * 0.03^2 = 1.169548e-4 + 0.54e-4 = 1.709548e-4
    let returns = [0.01, -0.02, 0.015, -0.03];
    let path = ewma_variance_path(&returns, RISKMETRICS_LAMBDA).unwrap();
    let want = [1e-4, 1.18e-4, 1.2442e-4, 1.709548e-4];
    for (got, want) in path.iter().zip(want) {
        assert!((got - want).abs() < 1e-18, "{path:?}");
    }
    assert_eq!(ewma_variance(&returns, 0.94).unwrap(), path[3]);
    assert!(ewma_variance(&[], 0.94).is_err());
    assert!(ewma_variance(&returns, 1.0).is_err());
    assert!(ewma_variance(&[f64::INFINITY], 0.94).is_err());
}

#[test]
fn annualisation() {
    // A daily variance of 4e-4 (2% daily vol) over 365 days: variance 0.146, vol 38.2%.
    assert!((annualise_variance(4e-4, 365.0).unwrap() - 0.146).abs() < 1e-15);
    let vol = annualise_volatility(0.02, 365.0).unwrap();
    assert!((vol - 0.02 * 365f64.sqrt()).abs() < 1e-15);
    assert!(annualise_volatility(0.02, 0.0).is_err());
    assert!(annualise_volatility(-0.02, 365.0).is_err());
    assert!(annualise_variance(4e-4, f64::NAN).is_err());
}

/// n returns of a GARCH(1,1) after a burn-in of 1,000, innovations standard normal
/// (`dof = None`) or Student-t with integer dof scaled to unit variance.
fn simulate(model: Garch11, n: usize, dof: Option<usize>, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let mut normal = || {
        let (u, v) = (unit(), unit());
        libm::sqrt(-2.0 * libm::log(u)) * libm::cos(2.0 * std::f64::consts::PI * v)
    };
    let mut innovation = || match dof {
        None => normal(),
        Some(k) => {
            let z = normal();
            let chi2: f64 = (0..k).map(|_| normal().powi(2)).sum();
            let t = z / libm::sqrt(chi2 / k as f64);
            t * libm::sqrt((k as f64 - 2.0) / k as f64)
        }
    };
    let mut s2 = model.unconditional_variance();
    let mut out = Vec::with_capacity(n);
    for i in 0..n + 1_000 {
        let r = libm::sqrt(s2) * innovation();
        if i >= 1_000 {
            out.push(r);
        }
        s2 = model.omega + model.alpha * r * r + model.beta * s2;
    }
    out
}

/// Tolerances for 5,000 returns, about three standard errors: over 30 seeds (1000..1030) the
/// fits of both models below, with either innovation law, stayed within alpha +/- 0.028,
/// beta +/- 0.041, omega x [0.40, 1.81] (the bounds below are three standard errors of
/// ln omega) and dof 6 +/- 1.3.
const ALPHA_TOL: f64 = 0.04;
const BETA_TOL: f64 = 0.06;
const OMEGA_RATIO: (f64, f64) = (0.33, 2.5);
const DOF_TOL: f64 = 2.0;

fn assert_recovered(truth: Garch11, dof: Option<usize>, seed: u64) {
    let returns = simulate(truth, 5_000, dof, seed);
    let (innovations, law) = match dof {
        None => (Innovations::Gaussian, FittedInnovations::Gaussian),
        Some(k) => (
            Innovations::StudentT,
            FittedInnovations::StudentT { dof: k as f64 },
        ),
    };
    let fit = fit_garch11(&returns, innovations).unwrap();
    let m = fit.model;
    assert!(fit.converged, "{fit:?}");
    assert!((m.alpha - truth.alpha).abs() <= ALPHA_TOL, "{fit:?}");
    assert!((m.beta - truth.beta).abs() <= BETA_TOL, "{fit:?}");
    let ratio = m.omega / truth.omega;
    assert!(OMEGA_RATIO.0 <= ratio && ratio <= OMEGA_RATIO.1, "{fit:?}");
    match (fit.innovations, dof) {
        (FittedInnovations::Gaussian, None) => {}
        (FittedInnovations::StudentT { dof: got }, Some(k)) => {
            assert!((got - k as f64).abs() <= DOF_TOL, "{fit:?}")
        }
        other => panic!("innovations {other:?}"),
    }
    // The maximiser does at least as well as the truth, and its reported likelihood is the
    // likelihood of its parameters.
    let at_truth = truth.log_likelihood(&returns, law).unwrap();
    assert!(
        fit.log_likelihood >= at_truth - 1e-6,
        "{fit:?} vs {at_truth}"
    );
    let at_fit = m.log_likelihood(&returns, fit.innovations).unwrap();
    assert!(
        (fit.log_likelihood - at_fit).abs() <= 1e-9 * at_fit.abs(),
        "{at_fit}"
    );
    // The next variance is the last step of the recursion; the forecast tends to the long run.
    let path = m.conditional_variances(&returns).unwrap();
    assert_eq!(fit.next_variance, path[returns.len()]);
    assert_eq!(fit.forecast_variance(1).unwrap(), fit.next_variance);
    let far = fit.forecast_variance(10_000).unwrap();
    assert!((far - m.unconditional_variance()).abs() <= 1e-12 * far);
    // Same data, same bits.
    assert_eq!(fit_garch11(&returns, innovations).unwrap(), fit);
}

#[test]
fn garch_fit_recovers_parameters_gaussian() {
    // Daily-like: long-run vol 1.4%, persistence 0.95.
    assert_recovered(Garch11::new(1e-5, 0.10, 0.85).unwrap(), None, 2024);
    // Persistence 0.98, smaller shocks.
    assert_recovered(Garch11::new(2e-6, 0.05, 0.93).unwrap(), None, 2025);
}

#[test]
fn garch_fit_recovers_parameters_student_t() {
    assert_recovered(Garch11::new(1e-5, 0.10, 0.85).unwrap(), Some(6), 7);
    assert_recovered(Garch11::new(2e-6, 0.05, 0.93).unwrap(), Some(6), 8);
}

#[test]
fn garch_forecast_by_hand() {
    // V = 1e-5 / 0.05 = 2e-4. From sigma^2_{n+1} = 4e-4, two steps ahead:
    // 2e-4 + 0.95 * (4e-4 - 2e-4) = 3.9e-4.
    let model = Garch11::new(1e-5, 0.10, 0.85).unwrap();
    let returns = simulate(model, 200, None, 1);
    let mut fit = fit_garch11(&returns, Innovations::Gaussian).unwrap();
    fit.model = model;
    fit.next_variance = 4e-4;
    assert!((fit.forecast_variance(2).unwrap() - 3.9e-4).abs() < 1e-18);
    assert!(fit.forecast_variance(0).is_err());
    // The recursion by hand: backcast mean(r^2) = (0.01^2 + 0.02^2) / 2 = 2.5e-4, then
    // 1e-5 + 0.1 * 1e-4 + 0.85 * 2.5e-4 = 2.325e-4, then
    // 1e-5 + 0.1 * 4e-4 + 0.85 * 2.325e-4 = 2.47625e-4.
    let path = model.conditional_variances(&[0.01, -0.02]).unwrap();
    let want = [2.5e-4, 2.325e-4, 2.47625e-4];
    for (got, want) in path.iter().zip(want) {
        assert!((got - want).abs() < 1e-18, "{path:?}");
    }
}

#[test]
fn garch_inputs_are_validated() {
    assert!(Garch11::new(0.0, 0.1, 0.8).is_err());
    assert!(Garch11::new(1e-6, -0.1, 0.8).is_err());
    assert!(matches!(
        Garch11::new(1e-6, 0.2, 0.8),
        Err(RiskError::OutOfRange {
            what: "alpha + beta",
            ..
        })
    ));
    assert!(matches!(
        fit_garch11(&[0.01; 50], Innovations::Gaussian),
        Err(RiskError::TooFewObservations {
            have: 50,
            need: 100,
            ..
        })
    ));
    assert!(matches!(
        fit_garch11(&[0.0; 200], Innovations::Gaussian),
        Err(RiskError::FitFailed { .. })
    ));
    let mut returns = vec![0.01; 200];
    returns[3] = f64::NAN;
    assert!(fit_garch11(&returns, Innovations::StudentT).is_err());
    let model = Garch11::new(1e-6, 0.1, 0.8).unwrap();
    assert!(model
        .log_likelihood(&[0.01], FittedInnovations::StudentT { dof: 2.0 })
        .is_err());
}
