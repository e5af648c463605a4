use super::*;
use crate::path::fitting::mean_var;
use crate::path::MS_PER_YEAR;

#[test]
fn every_preset_is_named_valid_and_makes_a_path() {
    for name in PRESET_NAMES {
        let p = preset(name).unwrap_or_else(|| panic!("{name} is listed but unknown"));
        assert_eq!(p.name, name);
        assert!(
            p.path.validate(1_000).is_ok(),
            "{name}: {:?}",
            p.path.validate(1_000)
        );
        // One hour at one-second steps (the shock states its own 72 hours).
        let short = SyntheticPath {
            duration_s: 3_600,
            ..p.path.clone()
        };
        let path = short.generate(1_000, 1).unwrap();
        assert_eq!(path.prices[0], p.path.start_price, "{name}");
        assert_eq!(path.start_ms, p.path.start_ms, "{name}");
        if p.path.model.kind() != ModelKind::Shock {
            assert_eq!(path.len(), 3_601, "{name}");
        }
    }
    assert!(preset("nope").is_none());
    for kind in ModelKind::ALL {
        let p = preset(kind.default_preset()).unwrap();
        assert_eq!(p.path.model.kind(), kind, "{}", kind.name());
    }
}

#[test]
fn the_march_2020_preset_is_the_default_calibrated_shock() {
    let p = preset("march_2020").unwrap();
    let via_preset = p.path.generate(1_000, 7).unwrap();
    let direct = CalibratedShock::march_2020().generate(1_000, 7).unwrap();
    assert_eq!(via_preset, direct);
}

#[test]
fn gbm_log_returns_have_variance_sigma_squared_t_over_many_paths() {
    // 500 paths of one day at one-minute steps, sigma = the daily-fit preset's 0.711:
    // variance of the day's log return sigma^2 / 365 = 0.001385; the sample variance of 500
    // normals has a standard error of sqrt(2 / 500) = 6.3%, tolerance 20%. Each path's first
    // price is the preset's and none is negative or zero.
    let mut p = preset("gbm_btc_daily_fit").unwrap().path;
    p.duration_s = 86_400;
    let mut totals = Vec::new();
    for seed in 0..500 {
        let path = p.generate(60_000, seed).unwrap();
        totals.push(libm::log(path.prices[1_440] / path.prices[0]));
    }
    let want = 0.711 * 0.711 * 86_400_000.0 / MS_PER_YEAR;
    let (_, var) = mean_var(&totals);
    assert!((var / want - 1.0).abs() < 0.2, "{var} vs {want}");
}

#[test]
fn a_seed_gives_the_same_bits_on_every_machine() {
    // The first prices of each generator's preset at seed 1, as bits: every draw goes
    // through ChaCha8 and libm, so these are the same on any CPU and C library. A change
    // here means every stored run of that model changes.
    let mut got = String::new();
    for name in PRESET_NAMES {
        let p = preset(name).unwrap();
        let path = SyntheticPath {
            duration_s: 600,
            ..p.path
        }
        .generate(1_000, 1)
        .unwrap();
        let again = preset(name).unwrap().path;
        let again = SyntheticPath {
            duration_s: 600,
            ..again
        }
        .generate(1_000, 1)
        .unwrap();
        assert_eq!(path, again, "{name}");
        let last = path.prices[600.min(path.len() - 1)];
        got.push_str(&format!("{name}: {:016x}\n", last.to_bits()));
    }
    expect_test::expect![[r#"
        march_2020: 40beefd1e1d2eb05
        october_2025: 40fda7ca95818420
        gbm_btc_daily_fit: 40fbb21888febe65
        merton_btc_daily_fit: 40fbba38809a536b
        garch_btc_daily_fit: 40fbacb4d4dd090f
        garch_btc_5m_oct_2025: 40fe3c3fa00101eb
        regime_crypto: 40fbb9b8add3a960
        regime_btc_5m_oct_2025: 40fe0b9556b52d23
    "#]]
    .assert_eq(&got);
}

#[test]
fn lengths_steps_and_prices_are_checked_naming_the_field() {
    let base = preset("garch_btc_5m_oct_2025").unwrap().path;
    let names = |p: &SyntheticPath, step_ms| match p.validate(step_ms) {
        Err(PathError::InvalidModel { problems, .. }) => {
            problems.into_iter().map(|p| p.name).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    // A 7-second step does not divide the 300-second bar, and three days are no whole number
    // of 7-second steps.
    assert_eq!(names(&base, 7_000), ["duration_s", "garch.bar_s"]);
    let bad = SyntheticPath {
        start_price: f64::NAN,
        duration_s: 0,
        model: Model::Garch(Garch {
            alpha: 0.5,
            beta: 0.6,
            ..Garch::btc_5m_oct_2025_fit()
        }),
        ..base.clone()
    };
    assert_eq!(
        names(&bad, 1_000),
        ["garch.beta", "start_price", "duration_s"]
    );
    let too_long = SyntheticPath {
        duration_s: 300_000_000,
        ..base
    };
    assert_eq!(names(&too_long, 1), ["duration_s"]);
    assert_eq!(too_long.generate(0, 1), Err(PathError::ZeroStep));
}
