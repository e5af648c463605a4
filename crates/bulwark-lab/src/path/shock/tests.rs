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
                                               // Trough at 2020-03-13 02:00 UTC, sample 38 h in; it is the path's minimum.
    assert_eq!(shock.trough_ms(), 1_584_064_800_000);
    assert_eq!(path.price_at(shock.trough_ms()), shock.trough_price());
    assert_eq!(path.min_price(), Some((38 * 60, shock.trough_price())));
    assert_eq!(path.prices[60 * 60], shock.rebound_price());
    assert!(path.prices.iter().all(|p| p.is_finite() && *p > 0.0));
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
    "#;
    let shock: CalibratedShock = toml::from_str(text).unwrap();
    // Absent fields take March 2020's values.
    let march = CalibratedShock::march_2020();
    assert_eq!(shock.start_ms, march.start_ms);
    assert_eq!(shock.shock_vol_mult, march.shock_vol_mult);
    assert_eq!(shock.jumps.map(|j| j.count), Some(2));
    let path = shock.generate(MINUTE_MS, 0).unwrap();
    assert!((path.min_price().unwrap().1 - 7938.05 * 0.48).abs() < 1e-9);

    let typo = format!("{text}\ndrop_fraction = 0.5\n");
    let err = toml::from_str::<CalibratedShock>(&typo).unwrap_err();
    assert!(err.to_string().contains("drop_fraction"), "{err}");
}
