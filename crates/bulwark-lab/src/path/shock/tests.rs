use super::*;
use crate::path::realized_vol_annualized;

const MINUTE_MS: u64 = 60_000;

#[test]
fn march_2020_hits_its_anchors_exactly() {
    let shock = CalibratedShock::march_2020();
    assert_eq!(shock.total_s(), 72 * 3600);
    assert!((shock.trough_price() - 3858.0).abs() < 1e-9);
    assert!((shock.rebound_price() - 5637.6).abs() < 1e-9);
    let path = shock.generate(MINUTE_MS, 1).unwrap();
    assert_eq!(path.len(), 72 * 60 + 1);
    assert_eq!(path.start_ms, 1_583_928_000_000); // 2020-03-11 12:00 UTC
    assert_eq!(path.prices[0], 7938.05);
    assert_eq!(path.prices[12 * 60], 7938.05); // drop starts 2020-03-12 00:00 UTC
                                               // Trough at 2020-03-13 02:00 UTC, sample 38 h in; it is the path's minimum and, being
                                               // the 13 March low too, takes the published price to the last bit.
    assert_eq!(shock.trough_ms(), 1_584_064_800_000);
    assert_eq!(path.price_at(shock.trough_ms()), 3858.0);
    assert_eq!(path.min_price(), Some((38 * 60, 3858.0)));
    assert_eq!(path.prices[60 * 60], 5637.6);
    assert!(path.prices.iter().all(|p| p.is_finite() && *p > 0.0));
}

#[test]
fn march_2020_keeps_the_published_daily_facts() {
    let shock = CalibratedShock::march_2020();
    let day_12 = 1_583_971_200_000;
    for seed in [1, 2, 3] {
        let path = shock.generate(1_000, seed).unwrap();
        let ohlc = |start: u64| {
            let (from, to) = (path.index_at(start), path.index_at(start + DAY_MS));
            let day = &path.prices[from..=to];
            (
                day[0],
                day.iter().copied().fold(0.0, f64::max),
                day.iter().copied().fold(f64::INFINITY, f64::min),
                day[day.len() - 1],
            )
        };
        let (o, _, l, c) = ohlc(day_12);
        assert_eq!((o, l, c), (7938.05, 4644.0, 4857.1), "seed {seed}");
        assert_eq!(
            ohlc(day_12 + DAY_MS),
            (4857.1, 5995.0, 3858.0, 5637.6),
            "seed {seed}"
        );
        // The fast leg: from about 4,998 at 01:00 to the low at 02:00 on 13 March.
        let top = path.price_at(day_12 + DAY_MS + 3_600_000);
        assert!(
            (top - 3858.0 / (1.0 - 0.638 * 2137.0 / 5995.0)).abs() < 1e-6,
            "{top}"
        );
    }
}

#[test]
fn days_that_contradict_the_shape_are_refused_by_name() {
    let deeper = CalibratedShock {
        drop_frac: 0.6,
        ..CalibratedShock::march_2020()
    };
    match deeper.generate(MINUTE_MS, 0) {
        Err(PathError::InvalidShock { name, problem }) => {
            // The deeper trough moves the rebound's end off the 13 March close.
            assert_eq!(name, "days.close");
            assert!(problem.contains("days = []"), "{problem}");
        }
        other => panic!("expected InvalidShock, got {other:?}"),
    }
    let without_days = CalibratedShock {
        days: Vec::new(),
        ..deeper
    };
    assert!(without_days.generate(MINUTE_MS, 0).is_ok());
    let leg_too_long = CalibratedShock {
        fast_leg: Some(FastLeg {
            duration_s: 27 * 3600,
            ..CalibratedShock::march_2020().fast_leg.unwrap()
        }),
        ..CalibratedShock::march_2020()
    };
    match leg_too_long.generate(MINUTE_MS, 0) {
        Err(PathError::InvalidShock { name, .. }) => assert_eq!(name, "fast_leg.duration_s"),
        other => panic!("expected InvalidShock, got {other:?}"),
    }
}

#[test]
fn shock_is_reproducible_and_seed_dependent() {
    let shock = CalibratedShock::march_2020();
    let a = shock.generate(MINUTE_MS, 9).unwrap();
    assert_eq!(a, shock.generate(MINUTE_MS, 9).unwrap());
    let b = shock.generate(MINUTE_MS, 10).unwrap();
    assert_ne!(a, b);
    // Different noise, same anchors.
    assert_eq!(a.price_at(shock.trough_ms()), b.price_at(shock.trough_ms()));
}

#[test]
fn calm_noise_matches_the_stated_vol() {
    let shock = CalibratedShock {
        start_ms: 0,
        start_price: 100.0,
        pre_shock_s: 0,
        drop_frac: 0.01,
        drop_duration_s: 60,
        rebound_frac: 0.0,
        rebound_duration_s: 0,
        tail_s: 30 * 86_400,
        annual_vol: 0.8,
        shock_vol_mult: 1.0,
        jumps: None,
        days: Vec::new(),
        fast_leg: None,
    };
    let path = shock.generate(MINUTE_MS, 5).unwrap();
    let vol = realized_vol_annualized(&path, path.len() - 1).unwrap()[0];
    // 43,201 one-minute returns: the estimate's standard error is about 0.3%.
    assert!((vol - 0.8).abs() < 0.02, "realized vol {vol}");
}

#[test]
fn jumps_are_sudden_gaps_in_the_drop() {
    // Without noise the drop is a straight line in log space plus exactly three gaps.
    let shock = CalibratedShock {
        annual_vol: 0.0,
        jumps: Some(ShockJumps {
            count: 3,
            mean_frac: 0.05,
        }),
        days: Vec::new(),
        fast_leg: None,
        ..CalibratedShock::march_2020()
    };
    let path = shock.generate(MINUTE_MS, 2).unwrap();
    let drop = &path.prices[12 * 60..=38 * 60];
    let returns: Vec<f64> = drop.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let mut sorted = returns.clone();
    sorted.sort_by(f64::total_cmp);
    let typical = sorted[sorted.len() / 2];
    let gaps = returns.iter().filter(|r| **r < typical - 1e-6).count();
    assert_eq!(gaps, 3);
}

#[test]
fn validation_names_the_parameter() {
    let base = CalibratedShock::march_2020();
    let name_of = |shock: CalibratedShock, step_ms: u64| match shock.generate(step_ms, 0) {
        Err(PathError::InvalidShock { name, .. }) => name,
        other => panic!("expected InvalidShock, got {other:?}"),
    };
    let bad_drop = CalibratedShock {
        drop_frac: 1.0,
        ..base.clone()
    };
    assert_eq!(name_of(bad_drop, MINUTE_MS), "drop_frac");
    assert_eq!(name_of(base.clone(), 7_000), "pre_shock_s");
    let too_many_jumps = CalibratedShock {
        jumps: Some(ShockJumps {
            count: 30,
            mean_frac: 0.1,
        }),
        ..base.clone()
    };
    assert_eq!(name_of(too_many_jumps, MINUTE_MS), "jumps");
    let no_rebound_time = CalibratedShock {
        rebound_duration_s: 0,
        ..base.clone()
    };
    assert_eq!(name_of(no_rebound_time, MINUTE_MS), "rebound_duration_s");
    let negative_price = CalibratedShock {
        start_price: -1.0,
        ..base
    };
    assert_eq!(name_of(negative_price, MINUTE_MS), "start_price");
}

#[test]
fn deserializes_from_toml_and_rejects_unknown_fields() {
    let text = r#"
        start_price = 7938.05
        pre_shock_s = 43200
        drop_frac = 0.52
        drop_duration_s = 93600
        rebound_frac = 0.3
        rebound_duration_s = 79200
        tail_s = 43200
        annual_vol = 0.7
        jumps = { count = 2, mean_frac = 0.03 }
        days = []
    "#;
    let shock: CalibratedShock = toml::from_str(text).unwrap();
    // Absent fields take March 2020's values.
    let march = CalibratedShock::march_2020();
    assert_eq!(shock.start_ms, march.start_ms);
    assert_eq!(shock.shock_vol_mult, march.shock_vol_mult);
    assert_eq!(shock.jumps.map(|j| j.count), Some(2));
    assert!(shock.days.is_empty(), "days = [] drops the published bars");
    assert_eq!(shock.fast_leg, march.fast_leg);
    let path = shock.generate(MINUTE_MS, 0).unwrap();
    assert!((path.min_price().unwrap().1 - 7938.05 * 0.48).abs() < 1e-9);

    let typo = format!("{text}\ndrop_fraction = 0.5\n");
    let err = toml::from_str::<CalibratedShock>(&typo).unwrap_err();
    assert!(err.to_string().contains("drop_fraction"), "{err}");
}

/// Issue 10's acceptance: over 100 seeds at the lab's one-second step, the median share of
/// 13 March's range (35.6% of its high) that the worst 10 and 60 minutes fell is within 25% of
/// the real crash day's (0.522 and 0.638). The hour is the leg's size by construction (0.639
/// measured); the 10 minutes are the fitted process's own clustering (0.413 measured, -21%: a
/// simulated cascade spreads its fall a little more than the real one did).
#[test]
fn march_2020_fast_leg_matches_the_crash_day_shares() {
    let shock = CalibratedShock::march_2020();
    let day_13 = 1_584_057_600_000;
    let mut w10 = Vec::new();
    let mut w60 = Vec::new();
    for seed in 0..100 {
        let path = shock.generate(1_000, seed).unwrap();
        let s = crate::path::stats::day_crash_shares(&path, day_13);
        w10.push(s.worst_10_min);
        w60.push(s.worst_60_min);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[49] + v[50]) / 2.0
    };
    let (m10, m60) = (median(&mut w10), median(&mut w60));
    println!("median shares: 10 min {m10:.3}, 60 min {m60:.3}");
    assert!(
        (m10 / CRASH_DAY_WORST_10_MIN_SHARE - 1.0).abs() < 0.25,
        "{m10}"
    );
    assert!(
        (m60 / CRASH_DAY_WORST_HOUR_SHARE - 1.0).abs() < 0.25,
        "{m60}"
    );
}

#[test]
fn an_empty_shock_table_is_march_2020_with_its_daily_bars_and_fast_leg() {
    let shock: CalibratedShock = toml::from_str("").unwrap();
    assert_eq!(shock, CalibratedShock::march_2020());
    assert!(!shock.days.is_empty());
    assert!(shock.fast_leg.is_some());
}
