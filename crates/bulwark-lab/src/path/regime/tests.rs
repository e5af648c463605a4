use super::*;
use crate::path::fitting::mean_var;
use crate::path::DAY_MS;
use rand::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Three days of calm, then one of crisis, on average: a quarter of the time in crisis.
const TEST: RegimeSwitching = RegimeSwitching {
    calm: MertonJumps {
        annual_vol: 0.5,
        jumps_per_day: 0.0,
        jump_mean_log: 0.0,
        jump_sd_log: 0.0,
    },
    crisis: MertonJumps {
        annual_vol: 1.5,
        jumps_per_day: 0.0,
        jump_mean_log: 0.0,
        jump_sd_log: 0.0,
    },
    mean_calm_s: 3.0 * 86_400.0,
    mean_crisis_s: 86_400.0,
    start: StartRegime::Stationary,
};

#[test]
fn the_time_in_crisis_is_the_chains_long_run_share() {
    // pi_crisis = rate_in / (rate_in + rate_out) = (1/3) / (1/3 + 1) = 0.25. 500 paths of 60
    // days at one-minute steps, each started from the long-run shares: about 15 crisis spells
    // a path, 7,500 in all. The share's standard error over paths (measured: 0.003) is
    // well inside the tolerance of 0.015.
    assert!((TEST.crisis_share() - 0.25).abs() < 1e-15);
    let steps = 60 * 1_440;
    let mut shares = Vec::new();
    let mut spells = 0;
    for seed in 0..500 {
        let c = TEST.chain(steps, 60_000, &mut rng(seed));
        assert_eq!(c.len(), steps);
        shares.push(c.iter().filter(|x| **x).count() as f64 / steps as f64);
        spells += stretches(&c).iter().filter(|s| s.2).count();
    }
    let (share, var) = mean_var(&shares);
    let se = (var / 500.0).sqrt();
    println!("crisis share {share}, standard error {se}, {spells} crisis spells");
    assert!((share - 0.25).abs() < 0.015, "{share}");
    assert!(se < 0.006, "{se}");
    // Mean spell length: 60 days / 15 cycles; the spells cut by the path's end make the
    // count a little higher than 60 / 4 = 15 a path.
    let per_path = spells as f64 / 500.0;
    assert!((13.5..17.0).contains(&per_path), "{per_path}");
}

#[test]
fn each_regime_moves_at_its_own_volatility() {
    // 200 paths of 20 days at five-minute steps. Per step, calm moves have variance
    // 0.5^2 x 300 / 31,536,000 = 2.378e-6 and crisis moves 9 times that; each regime gets
    // hundreds of thousands of Gaussian moves, so a 3% tolerance is over ten standard errors.
    let step_ms = 300_000;
    let per_step = step_ms as f64 / MS_PER_YEAR;
    let (mut calm, mut crisis) = (Vec::new(), Vec::new());
    for seed in 0..200 {
        let p = TEST.simulate(20 * 288, step_ms, &mut rng(seed));
        for (x, c) in p.increments.iter().zip(&p.crisis) {
            if *c {
                crisis.push(*x);
            } else {
                calm.push(*x);
            }
        }
    }
    let (_, v_calm) = mean_var(&calm);
    let (_, v_crisis) = mean_var(&crisis);
    assert!((v_calm / (0.25 * per_step) - 1.0).abs() < 0.03, "{v_calm}");
    assert!(
        (v_crisis / (2.25 * per_step) - 1.0).abs() < 0.03,
        "{v_crisis}"
    );
}

#[test]
fn crisis_jumps_come_only_in_crisis() {
    // Jumps of exactly -0.2 (no spread) at 20 a day in crisis only: every move below -0.1
    // holds jumps (the diffusion's step sd is 0.5%), as many as it is multiples of -0.2, and
    // each lands in a crisis step. Over 300 paths of 10 days the jump count is Poisson with
    // mean 20 x the crisis days (about 14,000, a standard error under 1%): within 4%.
    let p = RegimeSwitching {
        crisis: MertonJumps {
            jumps_per_day: 20.0,
            jump_mean_log: -0.2,
            ..TEST.crisis
        },
        ..TEST
    };
    let (mut jumps, mut crisis_steps) = (0usize, 0usize);
    for seed in 0..300 {
        let path = p.simulate(2_880, 300_000, &mut rng(seed));
        for (x, c) in path.increments.iter().zip(&path.crisis) {
            if *x < -0.1 {
                assert!(*c, "a jump in calm");
                jumps += libm::round(x / -0.2) as usize;
            }
        }
        crisis_steps += path.crisis.iter().filter(|c| **c).count();
    }
    let want = 20.0 * crisis_steps as f64 * 300_000.0 / DAY_MS as f64;
    assert!(
        (jumps as f64 / want - 1.0).abs() < 0.04,
        "{jumps} vs {want}"
    );
}

#[test]
fn a_stated_start_holds_and_stretches_cover_the_path() {
    let calm_first = RegimeSwitching {
        start: StartRegime::Calm,
        ..TEST
    };
    let crisis_first = RegimeSwitching {
        start: StartRegime::Crisis,
        ..TEST
    };
    for seed in 0..20 {
        assert!(!calm_first.chain(100, 60_000, &mut rng(seed))[0]);
        assert!(crisis_first.chain(100, 60_000, &mut rng(seed))[0]);
    }
    let s = stretches(&[false, false, true, false]);
    assert_eq!(s, [(0, 2, false), (2, 1, true), (3, 1, false)]);
    assert!(stretches(&[]).is_empty());
}

#[test]
fn a_seed_gives_the_same_bits_twice_and_another_seed_another_path() {
    let run = |seed| {
        let p = TEST.simulate(20_000, 60_000, &mut rng(seed));
        let bits: Vec<u64> = p.increments.iter().map(|x| x.to_bits()).collect();
        (bits, p.crisis)
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).0, run(4).0);
}

#[test]
fn bad_parameters_are_named_with_their_range_nested_by_regime() {
    let bad = RegimeSwitching {
        crisis: MertonJumps {
            annual_vol: 50.0,
            ..TEST.crisis
        },
        mean_calm_s: 0.0,
        ..TEST
    };
    let Err(PathError::InvalidModel { problems, .. }) = bad.validate() else {
        panic!("accepted");
    };
    let names: Vec<&str> = problems.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["crisis.annual_vol", "mean_calm_s"]);
    assert!(
        problems[1].rule.contains("[1, 315360000]"),
        "{}",
        problems[1]
    );
    assert!(RegimeSwitching::btc_daily_fit().validate().is_ok());
}

#[test]
fn the_fit_recovers_a_simulated_chain() {
    // 6,000 daily returns of a chain with 40 days of calm at 40% and 12 of crisis at 120%
    // on average (about 115 crisis spells): the vols within 10%, the mean durations within
    // 40% (the number of spells bounds their precision to about 10% each, and daily bars
    // blur the switches).
    let truth = RegimeSwitching {
        calm: gaussian(0.4),
        crisis: gaussian(1.2),
        mean_calm_s: 40.0 * 86_400.0,
        mean_crisis_s: 12.0 * 86_400.0,
        start: StartRegime::Stationary,
    };
    let path = truth.simulate(6_000, DAY_MS, &mut rng(41));
    let f = fit::fit_returns(&path.increments, DAY_MS).unwrap();
    println!("{f:?}");
    let p = f.params;
    assert!((p.calm.annual_vol / 0.4 - 1.0).abs() < 0.1, "{f:?}");
    assert!((p.crisis.annual_vol / 1.2 - 1.0).abs() < 0.1, "{f:?}");
    assert!(
        (p.mean_calm_s / truth.mean_calm_s - 1.0).abs() < 0.4,
        "{f:?}"
    );
    assert!(
        (p.mean_crisis_s / truth.mean_crisis_s - 1.0).abs() < 0.4,
        "{f:?}"
    );
    let true_share = path.crisis.iter().filter(|c| **c).count() as f64 / 6_000.0;
    assert!((f.filtered_crisis_share - true_share).abs() < 0.05, "{f:?}");
    assert!(f.log_likelihood > f.normal_log_likelihood, "{f:?}");
}
