use super::*;
use crate::path::fitting::mean_var;
use rand::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

const TEST: MertonJumps = MertonJumps {
    annual_vol: 0.6,
    jumps_per_day: 3.0,
    jump_mean_log: -0.02,
    jump_sd_log: 0.03,
};

#[test]
fn jump_counts_and_the_log_return_match_the_theory_over_many_paths() {
    // 2,000 paths of two days at ten-minute steps. Over t = 2 days:
    //   jumps: Poisson with mean and variance 3 x 2 = 6;
    //   log return: mean 6 x -0.02 = -0.12, variance
    //   0.6^2 x 2 / 365 + 6 x (0.02^2 + 0.03^2) = 0.001973 + 0.0078 = 0.009773.
    // Standard errors over 2,000 paths: mean count 0.055, mean return 0.0022, variance of
    // the return about 3.3% of it (the 2-day return is close to normal). Tolerances: about
    // four standard errors.
    let (paths, steps, step_ms) = (2_000, 288, 600_000);
    let t_days = 2.0;
    let mut counts = Vec::with_capacity(paths);
    let mut totals = Vec::with_capacity(paths);
    for seed in 0..paths as u64 {
        let mut r = rng(seed);
        counts.push(TEST.jumps(t_days * DAY_MS as f64, &mut r).len() as f64);
        totals.push(
            TEST.log_increments(steps, step_ms, &mut rng(seed))
                .iter()
                .sum(),
        );
    }
    let (count_mean, count_var) = mean_var(&counts);
    assert!((count_mean - 6.0).abs() < 0.22, "mean count {count_mean}");
    assert!(
        (count_var / 6.0 - 1.0).abs() < 0.15,
        "count variance {count_var}"
    );
    let (mean, var) = mean_var(&totals);
    let want_var = TEST.log_variance_per_day() * t_days;
    assert!((want_var - 0.009_773).abs() < 1e-6, "{want_var}");
    assert!((mean + 0.12).abs() < 0.009, "mean log return {mean}");
    assert!(
        (var / want_var - 1.0).abs() < 0.13,
        "variance {var} vs {want_var}"
    );
}

#[test]
fn without_jumps_it_is_gbm_with_variance_sigma_squared_t() {
    // GBM: the log return over t has variance sigma^2 t. 500 paths of one day at one-minute
    // steps, sigma 0.8: 0.64 / 365 = 0.001753; the sample variance of 500 normals has a
    // standard error of sqrt(2 / 500) = 6.3%: tolerance 20% (3.2 of them). The steps' own
    // variance (720,000 increments) is held to 1%.
    let gbm = MertonJumps {
        annual_vol: 0.8,
        jumps_per_day: 0.0,
        ..TEST
    };
    let mut totals = Vec::new();
    let mut steps_all = Vec::new();
    for seed in 0..500 {
        let inc = gbm.log_increments(1_440, 60_000, &mut rng(seed));
        totals.push(inc.iter().sum::<f64>());
        steps_all.extend(inc);
    }
    let want = 0.64 / 365.0;
    let (_, var) = mean_var(&totals);
    assert!((var / want - 1.0).abs() < 0.2, "{var} vs {want}");
    let (_, step_var) = mean_var(&steps_all);
    assert!((step_var * 1_440.0 / want - 1.0).abs() < 0.01, "{step_var}");
}

#[test]
fn a_seed_gives_the_same_bits_twice_and_another_seed_another_path() {
    let a = TEST.log_increments(5_000, 1_000, &mut rng(9));
    let b = TEST.log_increments(5_000, 1_000, &mut rng(9));
    let c = TEST.log_increments(5_000, 1_000, &mut rng(10));
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn every_bad_parameter_is_named_with_its_range() {
    let bad = MertonJumps {
        annual_vol: -0.1,
        jumps_per_day: f64::NAN,
        jump_mean_log: 3.0,
        jump_sd_log: 0.1,
    };
    let Err(PathError::InvalidModel { model, problems }) = bad.validate() else {
        panic!("accepted");
    };
    assert_eq!(model, "merton");
    let names: Vec<&str> = problems.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["annual_vol", "jumps_per_day", "jump_mean_log"]);
    assert!(problems[0].rule.contains("[0, 10]"), "{}", problems[0]);
    assert!(problems[1].rule.contains("[0, 1440]"), "{}", problems[1]);
    assert!(MertonJumps::btc_daily_fit().validate().is_ok());
}

#[test]
fn the_fit_recovers_simulated_daily_returns() {
    // 5,000 days (about 14 years, the scale of the real file) from known parameters. About
    // 1,000 jumps: the jump rate and sizes are checked to the precision that many give (the
    // rate within 35%, the sizes' spread within 20%); the diffusion within 5%.
    let truth = MertonJumps {
        annual_vol: 0.5,
        jumps_per_day: 0.2,
        jump_mean_log: -0.01,
        jump_sd_log: 0.07,
    };
    let returns = truth.log_increments(5_000, DAY_MS, &mut rng(21));
    let f = fit::fit_returns(&returns, DAY_MS).unwrap();
    let p = f.params;
    println!("{f:?}");
    assert!(
        (p.annual_vol / truth.annual_vol - 1.0).abs() < 0.05,
        "{f:?}"
    );
    assert!(
        (p.jumps_per_day / truth.jumps_per_day - 1.0).abs() < 0.35,
        "{f:?}"
    );
    assert!(
        (p.jump_sd_log / truth.jump_sd_log - 1.0).abs() < 0.2,
        "{f:?}"
    );
    assert!(
        (p.jump_mean_log - truth.jump_mean_log).abs() < 0.01,
        "{f:?}"
    );
    assert!(f.drift_per_bar.abs() < 0.002, "{f:?}");
    assert!(f.log_likelihood > f.normal_log_likelihood + 50.0, "{f:?}");
}
