use super::*;
use crate::path::{DailyFacts, FastLeg, SelfExcitingJumps};

fn corr(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    sxy / (sxx * syy).sqrt()
}

fn var(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n
}

#[test]
fn pairs_fill_the_matrix_and_the_stress_moves_each_toward_one() {
    let c = CorrelationMatrix::from_pairs(3, &[0.5, 0.2, -0.1]).unwrap();
    assert_eq!((c.get(0, 1), c.get(0, 2), c.get(1, 2)), (0.5, 0.2, -0.1));
    assert_eq!((c.get(1, 0), c.get(2, 1), c.get(2, 2)), (0.5, -0.1, 1.0));
    let one = CorrelationMatrix::from_pairs(4, &[0.3]).unwrap();
    assert!((0..4).all(|i| (0..4).all(|j| one.get(i, j) == if i == j { 1.0 } else { 0.3 })));
    // 0.86 moved 65% of the way to one: 0.86 + 0.65 x 0.14 = 0.951.
    let s = CorrelationMatrix::from_pairs(2, &[0.86])
        .unwrap()
        .stressed(0.65);
    assert!((s.get(0, 1) - 0.951).abs() < 1e-12 && s.get(0, 0) == 1.0);
}

#[test]
fn bad_pairs_are_refused_naming_the_field() {
    let err = |n, pairs: &[f64]| CorrelationMatrix::from_pairs(n, pairs).unwrap_err();
    for e in [
        err(3, &[0.5, 0.2]),
        err(2, &[1.5]),
        err(2, &[f64::NAN]),
        err(MAX_MARKETS + 1, &[0.5]),
    ] {
        assert!(matches!(e, PathError::InvalidCorrelation { .. }), "{e}");
    }
    // a-b and a-c at 0.9 force b-c near 0.62 at least; -0.9 is impossible.
    let bad = Correlation {
        calm: vec![0.9, 0.9, -0.9],
        crisis_weight: 0.5,
    };
    let e = bad.validate(3).unwrap_err();
    assert!(e.to_string().contains("positive semi-definite"), "{e}");
    let weight = Correlation {
        crisis_weight: 1.2,
        ..Correlation::default()
    };
    assert!(weight
        .validate(2)
        .unwrap_err()
        .to_string()
        .contains("crisis_weight"));
}

#[test]
fn the_factor_reproduces_the_matrix_even_when_singular() {
    let c = CorrelationMatrix::from_pairs(3, &[0.8, 0.6, 0.7]).unwrap();
    for w in [0.0, 0.5, 1.0] {
        let s = c.stressed(w);
        let l = Cholesky::of(&s).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (l.product(i, j) - s.get(i, j)).abs() < 1e-12,
                    "w {w} ({i},{j})"
                );
            }
        }
    }
    // At w = 1 every market gets the same draw.
    let l = Cholesky::of(&c.stressed(1.0)).unwrap();
    let mut z = [0.0; 3];
    l.apply(&[0.7, -1.3, 2.0], &mut z);
    assert!((z[0] - 0.7).abs() < 1e-12 && (z[1] - 0.7).abs() < 1e-12 && (z[2] - 0.7).abs() < 1e-9);
}

/// 200,000 steps, the second half in the crisis: the standard error of a sample correlation
/// r is about (1 - r^2) / sqrt(n), 0.0008 at 0.86 and 0.0003 at 0.951 over 100,000 steps;
/// the tolerances are five times that or more. Unit variances within 1.5% (the standard
/// error of a variance over 100,000 normals is 0.45%).
#[test]
fn joint_draws_have_the_stated_correlations_in_calm_and_crisis() {
    let corr_spec = Correlation::default();
    let calm = corr_spec.calm_matrix(2).unwrap();
    let (cl, sl) = (
        Cholesky::of(&calm).unwrap(),
        Cholesky::of(&calm.stressed(corr_spec.crisis_weight)).unwrap(),
    );
    let n = 200_000;
    let z = correlated_normals(&cl, &sl, n, |t| t >= n / 2, &mut stream(7, NOISE_STREAM));
    let (calm_r, crisis_r) = (
        corr(&z[0][..n / 2], &z[1][..n / 2]),
        corr(&z[0][n / 2..], &z[1][n / 2..]),
    );
    assert!((calm_r - 0.86).abs() < 0.005, "calm {calm_r}");
    assert!((crisis_r - 0.951).abs() < 0.002, "crisis {crisis_r}");
    for series in &z {
        for half in [&series[..n / 2], &series[n / 2..]] {
            assert!((var(half) - 1.0).abs() < 0.015, "variance {}", var(half));
        }
    }
    // Three markets with different pairs.
    let three = CorrelationMatrix::from_pairs(3, &[0.9, 0.5, 0.3]).unwrap();
    let l = Cholesky::of(&three).unwrap();
    let z = correlated_normals(&l, &l, n, |_| false, &mut stream(8, NOISE_STREAM));
    for (i, j, want) in [(0, 1, 0.9), (0, 2, 0.5), (1, 2, 0.3)] {
        let r = corr(&z[i], &z[j]);
        assert!((r - want).abs() < 0.01, "({i},{j}) {r} against {want}");
    }
}

/// A second market on the first one's grid: BTC's March 2020 facts moved in log space by
/// `beta` from ETH's 194 USD open (so its 13 March low is 90 at beta 1.065), a higher calm vol.
fn eth_like() -> CalibratedShock {
    let btc = CalibratedShock::march_2020();
    let beta = (90.0f64 / 194.0).ln() / (3858.0f64 / 7938.05).ln();
    let map = |p: f64| 194.0 * (p / btc.start_price).powf(beta);
    let days = btc
        .days
        .iter()
        .map(|d| DailyFacts {
            open: d.open.map(map),
            high: d.high.map(map),
            low: d.low.map(map),
            close: d.close.map(map),
            ..*d
        })
        .collect();
    let leg = btc.fast_leg.unwrap();
    let trough = map(btc.trough_price());
    CalibratedShock {
        start_price: 194.0,
        drop_frac: 1.0 - trough / 194.0,
        rebound_frac: (map(btc.rebound_price()) - trough) / (194.0 - trough),
        annual_vol: 0.85,
        days,
        fast_leg: Some(FastLeg {
            drop_frac: 1.0 - (1.0 - leg.drop_frac).powf(beta),
            jumps: SelfExcitingJumps::crash_2025_10_10(),
            ..leg
        }),
        ..btc
    }
}

#[test]
fn shocks_driven_together_keep_their_facts_and_move_together() {
    let btc = CalibratedShock::march_2020();
    let eth = eth_like();
    let step_ms = 1000;
    let paths = correlated_shocks(
        &[btc.clone(), eth.clone()],
        &Correlation::default(),
        step_ms,
        3,
    )
    .unwrap();
    let (b, e) = (&paths[0], &paths[1]);
    assert_eq!((b.len(), b.start_ms), (e.len(), e.start_ms));
    let trough_at = ((btc.trough_ms() - btc.start_ms) / step_ms) as usize;
    assert!((b.prices[trough_at] - 3858.0).abs() < 1e-6);
    assert!((e.prices[trough_at] - 90.0).abs() < 1e-3);
    assert!((b.prices[0] - 7938.05).abs() < 1e-9 && (e.prices[0] - 194.0).abs() < 1e-9);
    assert_eq!(b.min_price().unwrap().1, 3858.0);
    let returns = |p: &PricePath, from: usize, to: usize| -> Vec<f64> {
        (from..to)
            .map(|i| (p.prices[i + 1] / p.prices[i]).ln())
            .collect()
    };
    // The calm half-day before the drop and the drop's first 12 hours: the bridge's pull
    // toward the anchors is a small drift, so the noise's correlation shows through within
    // 0.02. (Hours where a path hugs a stated daily low or high are less correlated: each is
    // reflected off its bound at its own moments.)
    let drop_start = (btc.pre_shock_s * 1000 / step_ms) as usize;
    let calm = corr(
        &returns(b, 0, drop_start - 1),
        &returns(e, 0, drop_start - 1),
    );
    let from = drop_start + 10;
    let to = drop_start + 12 * 3600;
    let crisis = corr(&returns(b, from, to), &returns(e, from, to));
    assert!((calm - 0.86).abs() < 0.02, "calm {calm}");
    assert!((crisis - 0.951).abs() < 0.02, "crisis {crisis}");
    // The fast legs are cut from the same simulated day: the same minutes fall.
    let leg = returns(b, trough_at - 3600, trough_at);
    let leg_eth = returns(e, trough_at - 3600, trough_at);
    assert!(corr(&leg, &leg_eth) > 0.99);
    // Reproducible; another seed, another path.
    let again = correlated_shocks(
        &[btc.clone(), eth.clone()],
        &Correlation::default(),
        step_ms,
        3,
    )
    .unwrap();
    assert_eq!(paths, again);
    let other = correlated_shocks(&[btc, eth], &Correlation::default(), step_ms, 4).unwrap();
    assert_ne!(paths[1], other[1]);
}

#[test]
fn shocks_on_different_grids_are_refused() {
    let btc = CalibratedShock::march_2020();
    let short = CalibratedShock {
        tail_s: btc.tail_s - 3600,
        ..eth_like()
    };
    let e = correlated_shocks(&[btc, short], &Correlation::default(), 1000, 1).unwrap_err();
    assert!(e.to_string().contains("one time grid"), "{e}");
}

/// Sample correlations of the `(i, j)` pairs of `z` over the steps `keep` selects.
fn pair_corr(z: &[Vec<f64>], i: usize, j: usize, keep: impl Fn(usize) -> bool) -> f64 {
    let idx: Vec<usize> = (0..z[0].len()).filter(|t| keep(*t)).collect();
    let xs: Vec<f64> = idx.iter().map(|t| z[i][*t]).collect();
    let ys: Vec<f64> = idx.iter().map(|t| z[j][*t]).collect();
    corr(&xs, &ys)
}

#[test]
fn weighted_normals_have_the_stressed_matrix_at_every_weight() {
    // Three markets, calm pairs 0.8, 0.6, 0.7 (a valid matrix whose stress at w = 1 is
    // singular), 100,000 steps of each weight: the sample correlation of each pair is within
    // 0.01 of (1 - w) c + w (its standard error is (1 - r^2) / sqrt(n), at most 0.003), the
    // variances within 1.5% of one, and at w = 1 the three series are one.
    let c = CorrelationMatrix::from_pairs(3, &[0.8, 0.6, 0.7]).unwrap();
    let l = Cholesky::of(&c).unwrap();
    for w in [0.0, 0.3, 0.65, 1.0] {
        let weights = vec![w; 100_000];
        let z = correlated_normals_weighted(&l, &weights, &mut stream(5, 0));
        let s = c.stressed(w);
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            let r = pair_corr(&z, i, j, |_| true);
            assert!((r - s.get(i, j)).abs() < 0.01, "w {w} ({i},{j}): {r}");
            // The stressed matrix is still a correlation matrix that factors.
            assert!(Cholesky::of(&s).is_ok(), "w {w}");
        }
        for series in &z {
            assert!((var(series) - 1.0).abs() < 0.015, "w {w}");
        }
        if w == 1.0 {
            assert!(z[0].iter().zip(&z[2]).all(|(a, b)| (a - b).abs() < 1e-12));
        }
    }
}

#[test]
fn a_shared_regime_chain_stresses_correlation_in_crisis_only() {
    // Two markets at calm correlation 0.5, crisis weight 0.8: 0.5 in calm, 0.9 in crisis.
    // 200 paths of 10 days at five-minute steps (576,000 steps, about a quarter of them in
    // crisis): the one-step log returns' sample correlation within 0.02 of each target
    // (standard errors under 0.003), and each market's volatility its regime's (within 3%).
    // No jumps, so the moves are exactly the correlated diffusion.
    let chain = crate::path::RegimeSwitching {
        mean_calm_s: 3.0 * 86_400.0,
        mean_crisis_s: 86_400.0,
        ..crate::path::RegimeSwitching::btc_daily_fit()
    };
    let quiet = |vol| crate::path::regime::gaussian(vol);
    let markets = [
        RegimeMarket {
            start_price: 100.0,
            calm: quiet(0.5),
            crisis: quiet(1.5),
        },
        RegimeMarket {
            start_price: 20.0,
            calm: quiet(0.7),
            crisis: quiet(2.1),
        },
    ];
    let stress = Correlation {
        calm: vec![0.5],
        crisis_weight: 0.8,
    };
    let step_ms = 300_000;
    let (mut calm, mut crisis) = ([vec![], vec![]], [vec![], vec![]]);
    for seed in 0..200 {
        let g = correlated_regimes(&chain, &markets, &stress, 0, 2_880, step_ms, seed).unwrap();
        assert_eq!(g.paths[1].prices[0], 20.0);
        for (i, p) in g.paths.iter().enumerate() {
            for (t, w) in p.prices.windows(2).enumerate() {
                let r = libm::log(w[1] / w[0]);
                if g.crisis[t] {
                    crisis[i].push(r);
                } else {
                    calm[i].push(r);
                }
            }
        }
    }
    let share = crisis[0].len() as f64 / (200.0 * 2_880.0);
    assert!((share - 0.25).abs() < 0.03, "crisis share {share}");
    let r_calm = corr(&calm[0], &calm[1]);
    let r_crisis = corr(&crisis[0], &crisis[1]);
    println!("calm {r_calm}, crisis {r_crisis}, crisis share {share}");
    assert!((r_calm - 0.5).abs() < 0.02, "{r_calm}");
    assert!((r_crisis - 0.9).abs() < 0.02, "{r_crisis}");
    let per_step = step_ms as f64 / crate::path::MS_PER_YEAR;
    for (i, m) in markets.iter().enumerate() {
        let v_calm = var(&calm[i]) / (m.calm.annual_vol.powi(2) * per_step);
        let v_crisis = var(&crisis[i]) / (m.crisis.annual_vol.powi(2) * per_step);
        assert!(
            (v_calm - 1.0).abs() < 0.03 && (v_crisis - 1.0).abs() < 0.03,
            "{i}"
        );
    }
}

#[test]
fn regime_groups_are_reproducible_and_refuse_bad_input() {
    let chain = crate::path::RegimeSwitching::btc_5m_oct_2025_fit();
    let m = RegimeMarket {
        start_price: 100.0,
        calm: chain.calm,
        crisis: chain.crisis,
    };
    let corr = Correlation::default();
    let run = |seed| correlated_regimes(&chain, &[m, m], &corr, 0, 5_000, 1_000, seed).unwrap();
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).paths[0], run(2).paths[0]);
    let bad_price = RegimeMarket {
        start_price: -1.0,
        ..m
    };
    assert!(correlated_regimes(&chain, &[m, bad_price], &corr, 0, 10, 1_000, 1).is_err());
    assert!(correlated_regimes(&chain, &[], &corr, 0, 10, 1_000, 1).is_err());
    let three = Correlation {
        calm: vec![0.9, 0.9, -0.9],
        crisis_weight: 0.5,
    };
    assert!(correlated_regimes(&chain, &[m, m, m], &three, 0, 10, 1_000, 1).is_err());
}
