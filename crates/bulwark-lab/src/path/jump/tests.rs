use super::*;
use rand::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn log_likelihood_by_hand() {
    // Down jumps at 1 and 2 min, horizon 3 min; base 0.5 down, 0.1 up; a down jump adds 0.4
    // to the down rate and 0.2 to the up rate; decay 1 per minute.
    //   log lambda_down(1) = ln 0.5;  log lambda_down(2) = ln(0.5 + 0.4 e^-1)
    //   compensator = 0.6 * 3 + (0.4 + 0.2) * ((1 - e^-2) + (1 - e^-1))
    let p = [0.5, 0.1, 0.4, 0.0, 0.2, 0.0, 1.0];
    let ll = fit::log_likelihood_for_tests(&p, &[(1.0, true), (2.0, true)], 3.0);
    let e = std::f64::consts::E;
    let want = 0.5f64.ln() + (0.5 + 0.4 / e).ln()
        - (1.8 + 0.6 * ((1.0 - 1.0 / (e * e)) + (1.0 - 1.0 / e)));
    assert!((ll - want).abs() < 1e-12, "{ll} vs {want}");
}

#[test]
fn branching_ratio_by_hand_and_validation() {
    // A = [[0.3, 0.1], [0.2, 0.2]], decay 0.5: eigenvalues of A are 0.25 +- sqrt(0.0025 + 0.02)
    // = 0.4 and 0.1, so the ratio is 0.4 / 0.5 = 0.8.
    let p = SelfExcitingJumps {
        down_after_down: 0.3,
        down_after_up: 0.1,
        up_after_down: 0.2,
        up_after_up: 0.2,
        decay_per_min: 0.5,
        ..SelfExcitingJumps::crash_2025_10_10()
    };
    assert!((p.branching_ratio() - 0.8).abs() < 1e-12);
    assert!(p.validate().is_ok());
    let critical = SelfExcitingJumps {
        decay_per_min: 0.4,
        ..p
    };
    match critical.validate() {
        Err(PathError::InvalidShock { name, problem }) => {
            assert_eq!(name, "down_after_down");
            assert!(problem.contains("branching ratio 1.000"), "{problem}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn simulated_rates_match_the_stationary_rates() {
    // Stationary mean rates solve m = base + (A / decay) m: with base (0.01, 0.005),
    // A = [[0.3, 0.1], [0.2, 0.2]] and decay 0.5 (ratio 0.8), m = (I - A/decay)^-1 base:
    // I - A/decay = [[0.4, -0.2], [-0.4, 0.6]], determinant 0.16, so
    // m_down = (0.6 * 0.01 + 0.2 * 0.005) / 0.16 = 0.04375, m_up = (0.4 * 0.01 + 0.4 * 0.005)
    // / 0.16 = 0.0375 per minute.
    let p = SelfExcitingJumps {
        base_down_per_min: 0.01,
        base_up_per_min: 0.005,
        down_after_down: 0.3,
        down_after_up: 0.1,
        up_after_down: 0.2,
        up_after_up: 0.2,
        decay_per_min: 0.5,
        ..SelfExcitingJumps::crash_2025_10_10()
    };
    let minutes = 2_000_000.0;
    let jumps = p.simulate(minutes, None, &mut rng(3));
    let downs = jumps.iter().filter(|j| j.kind == JumpKind::Down).count() as f64;
    let ups = jumps.len() as f64 - downs;
    // About 87,500 and 75,000 jumps; clustering (ratio 0.8) inflates the count's standard
    // deviation by about 1 / (1 - 0.8) = 5x over Poisson: about 1.5k, under 2% of the count.
    assert!(
        (downs / minutes / 0.043_75 - 1.0).abs() < 0.05,
        "down {downs}"
    );
    assert!((ups / minutes / 0.0375 - 1.0).abs() < 0.05, "up {ups}");
    assert!(jumps.windows(2).all(|w| w[0].t_min <= w[1].t_min));
    assert!(jumps.iter().all(|j| {
        let size = j.log_size.abs();
        size >= p.threshold_log
            && size <= p.max_jump_log
            && (j.log_size < 0.0) == (j.kind == JumpKind::Down)
    }));
}

#[test]
fn a_trigger_starts_a_cascade_and_increments_carry_every_jump() {
    let p = SelfExcitingJumps::crash_2025_10_10();
    let jumps = p.simulate(60.0, Some(JumpKind::Down), &mut rng(5));
    assert_eq!((jumps[0].t_min, jumps[0].kind), (0.0, JumpKind::Down));
    // On the grid: same seed, same draws in the same order, so the increments add up to the
    // diffusion plus exactly these jumps.
    let inc = p.increments_with(3600, 1_000, Some(JumpKind::Down), &mut rng(5));
    assert_eq!(inc.len(), 3600);
    let jump_sum: f64 = jumps.iter().map(|j| j.log_size).sum();
    let diffusion_sd = p.diffusion_per_sqrt_min * 60f64.sqrt();
    let total: f64 = inc.iter().sum();
    assert!(
        (total - jump_sum).abs() < 5.0 * diffusion_sd,
        "{total} vs jumps {jump_sum}"
    );
}

#[test]
fn the_fit_recovers_a_simulated_process() {
    // Ten days of one-minute closes from known parameters, then the fit. The fit sees jump
    // minutes, not jumps, and a threshold, not the true sizes, so it is checked loosely: the
    // clustering (branching ratio) and the diffusion it finds.
    let truth = SelfExcitingJumps::crash_2025_10_10();
    let inc = truth.increments_with(14_400, 60_000, None, &mut rng(11));
    let mut closes = vec![100_000.0];
    for dx in inc {
        closes.push(closes[closes.len() - 1] * libm::exp(dx));
    }
    let fit = fit::fit_minute_closes(&closes, fit::DEFAULT_THRESHOLD_SIGMAS).unwrap();
    let sigma = fit.params.diffusion_per_sqrt_min;
    assert!(
        (sigma / truth.diffusion_per_sqrt_min - 1.0).abs() < 0.1,
        "{fit:?}"
    );
    let n = fit.params.branching_ratio();
    assert!((n - truth.branching_ratio()).abs() < 0.15, "{n} {fit:?}");
    assert!((fit.rescaled_gap_mean - 1.0).abs() < 0.15, "{fit:?}");
}

#[test]
fn fit_refuses_bad_input() {
    assert!(matches!(
        fit::fit_minute_closes(&[1.0; 10], 4.0),
        Err(fit::FitError::TooFewCloses { .. })
    ));
    let mut closes = vec![100.0; 100];
    closes[7] = f64::NAN;
    assert!(matches!(
        fit::fit_minute_closes(&closes, 4.0),
        Err(fit::FitError::BadClose { index: 7, .. })
    ));
    // A flat series has no returns beyond any threshold.
    assert!(matches!(
        fit::fit_minute_closes(&[100.0; 100], 4.0),
        Err(fit::FitError::TooFewJumps { .. })
    ));
}
