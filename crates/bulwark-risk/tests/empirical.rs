//! Empirical quantiles, VaR, ES and the tail summary against hand-computed values.

use bulwark_risk::{expected_shortfall, quantile, var, RiskError, Tail, TailStat, MIN_RUNS_FOR_99};
use proptest::prelude::*;

/// 1, 2, ..., n USD, shuffled deterministically so that the functions must sort.
fn one_to(n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (1..=n).map(|i| i as f64).collect();
    // A fixed permutation: multiply the index by a unit mod n.
    let unit = (1..n).rev().find(|u| gcd(*u, n) == 1).unwrap_or(1);
    v = (0..n).map(|i| v[(i * unit) % n]).collect();
    v
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[test]
fn var_and_es_of_one_to_a_hundred() {
    let losses = one_to(100);
    // (level, VaR = ceil(100 level)-th smallest, ES = Acerbi–Tasche tail average)
    let cases = [
        (0.95, 95.0, (96.0 + 97.0 + 98.0 + 99.0 + 100.0) / 5.0), // 98
        (0.99, 99.0, 100.0),
        (0.975, 98.0, (0.5 * 98.0 + 99.0 + 100.0) / 2.5), // 99.2
        (0.5, 50.0, (51..=100).sum::<i32>() as f64 / 50.0), // 75.5
        (
            0.001,
            1.0,
            (0.9 * 1.0 + (2..=100).sum::<i32>() as f64) / 99.9,
        ),
    ];
    for (level, want_var, want_es) in cases {
        assert_eq!(var(&losses, level).unwrap(), want_var, "VaR at {level}");
        let es = expected_shortfall(&losses, level).unwrap();
        assert!(
            (es - want_es).abs() < 1e-12,
            "ES at {level}: {es} vs {want_es}"
        );
    }
}

#[test]
fn var_and_es_of_a_small_set_with_gains() {
    // Five runs: two gains (negative losses), three losses, USD.
    let losses = [-20.0, 50.0, -5.0, 10.0, 30.0];
    // ceil(5 * 0.8) = 4th smallest = 30; tail weight 1 = the largest alone.
    assert_eq!(var(&losses, 0.8).unwrap(), 30.0);
    assert_eq!(expected_shortfall(&losses, 0.8).unwrap(), 50.0);
    // 0.7 * 5 = 3.5: VaR = 4th smallest = 30; ES = (0.5 * 30 + 50) / 1.5.
    assert_eq!(var(&losses, 0.7).unwrap(), 30.0);
    let es = expected_shortfall(&losses, 0.7).unwrap();
    assert!((es - 65.0 / 1.5).abs() < 1e-12);
    // 0.5 * 5 = 2.5: VaR = 3rd smallest = 10; ES = (0.5 * 10 + 30 + 50) / 2.5 = 34.
    assert_eq!(var(&losses, 0.5).unwrap(), 10.0);
    assert!((expected_shortfall(&losses, 0.5).unwrap() - 34.0).abs() < 1e-12);
}

#[test]
fn quantile_is_numpy_type_7() {
    // numpy.quantile([1, 2, 3, 4], p) for p = 0, 0.25, 0.5, 0.9, 1.
    let xs = [4.0, 1.0, 3.0, 2.0];
    for (p, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
        let got = quantile(&xs, p).unwrap();
        assert!((got - want).abs() < 1e-12, "p {p}: {got}");
    }
    assert_eq!(quantile(&[7.0], 0.3).unwrap(), 7.0);
    // numpy.quantile(range(1, 101), 0.95) = 95.05.
    assert!((quantile(&one_to(100), 0.95).unwrap() - 95.05).abs() < 1e-12);
}

#[test]
fn invalid_inputs_are_typed_errors() {
    assert_eq!(var(&[], 0.95), Err(RiskError::Empty { what: "losses_usd" }));
    assert!(matches!(
        expected_shortfall(&[1.0, f64::NAN], 0.95),
        Err(RiskError::NonFinite { index: 1, .. })
    ));
    assert!(matches!(
        var(&[1.0, f64::INFINITY], 0.95),
        Err(RiskError::NonFinite { index: 1, .. })
    ));
    for level in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        assert!(
            matches!(
                var(&[1.0], level),
                Err(RiskError::OutOfRange { what: "level", .. })
            ),
            "{level}"
        );
        assert!(expected_shortfall(&[1.0], level).is_err());
    }
    assert!(quantile(&[1.0], 1.01).is_err());
    assert!(quantile(&[1.0], f64::NAN).is_err());
    assert!(quantile(&[], 0.5).is_err());
    assert!(Tail::from_losses(&[]).is_err());
    assert!(Tail::from_losses(&[f64::NEG_INFINITY]).is_err());
}

#[test]
fn tail_summary_withholds_99_below_a_thousand_runs() {
    let tail = Tail::from_losses(&one_to(100)).unwrap();
    assert_eq!(tail.runs, 100);
    assert_eq!(tail.var_95_usd, 95.0);
    assert_eq!(tail.es_95_usd, 98.0);
    let absent = TailStat::TooFewRuns {
        have: 100,
        need: MIN_RUNS_FOR_99,
    };
    assert_eq!(tail.var_99_usd, absent);
    assert_eq!(tail.es_99_usd, absent);
    assert_eq!(tail.es_99_usd.value(), None);
    assert_eq!(
        tail.var_99_usd.to_string(),
        "too few runs (have 100, need 1000)"
    );

    let tail = Tail::from_losses(&one_to(1000)).unwrap();
    assert_eq!(tail.var_95_usd, 950.0);
    assert_eq!(tail.es_95_usd, (951..=1000).sum::<i32>() as f64 / 50.0);
    assert_eq!(tail.var_99_usd, TailStat::Value(990.0));
    assert_eq!(tail.es_99_usd, TailStat::Value(995.5));
    assert_eq!(format!("{:.2}", tail.es_99_usd), "995.50");
    assert_eq!(tail.var_99_usd.to_string(), "990");
}

fn losses() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1e6..1e6f64, 1..300)
}

proptest! {
    #[test]
    fn es_is_at_least_var(xs in losses(), level in 0.001..0.999f64) {
        let v = var(&xs, level).unwrap();
        let es = expected_shortfall(&xs, level).unwrap();
        // The tail average can round below VaR by an ulp when the tail is all one value.
        prop_assert!(es >= v - 1e-9 * v.abs().max(1.0), "ES {es} < VaR {v}");
        let max = xs.iter().copied().fold(f64::MIN, f64::max);
        prop_assert!(es <= max + 1e-9 * max.abs().max(1.0));
    }

    #[test]
    fn var_and_es_are_monotone_in_level(xs in losses(), a in 0.001..0.999f64, b in 0.001..0.999f64) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(var(&xs, lo).unwrap() <= var(&xs, hi).unwrap());
        let (es_lo, es_hi) = (expected_shortfall(&xs, lo).unwrap(), expected_shortfall(&xs, hi).unwrap());
        prop_assert!(es_lo <= es_hi + 1e-9 * es_hi.abs().max(1.0));
    }

    #[test]
    fn quantile_lies_between_neighbouring_order_statistics(xs in losses(), p in 0.0..=1.0f64) {
        let q = quantile(&xs, p).unwrap();
        let mut s = xs.clone();
        s.sort_by(f64::total_cmp);
        let h = (s.len() - 1) as f64 * p;
        let lo = s[h.floor() as usize];
        let hi = s[(h.ceil() as usize).min(s.len() - 1)];
        prop_assert!(lo <= q && q <= hi, "{lo} <= {q} <= {hi}");
    }
}
