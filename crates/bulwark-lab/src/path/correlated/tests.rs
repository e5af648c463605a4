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
