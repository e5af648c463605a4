//! The online risk controller in whole lab runs: its forward simulation leaves the live
//! engine untouched and is reproducible, its actions keep their rate limits and bounds, shadow
//! mode and the kill switch change nothing, the backtest steers the paths' volatility, and a
//! bad `[controller]` field is an error.

use std::path::PathBuf;

use bulwark_engine::{state_hash_hex, MarketId};
use bulwark_lab::controller::forecast::{forecast, FeedRule, ForecastSpec, JumpSpec};
use bulwark_lab::run::{run, Outcome};
use bulwark_lab::scenario::{self, LoadedScenario, Override};

fn load(sets: &[&str]) -> Result<LoadedScenario, String> {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::parse(
        scenario::DEFAULT_SCENARIO_TOML,
        "test",
        PathBuf::from("."),
        &overrides,
    )
    .map_err(|e| e.to_string())
}

fn quiet_run(sets: &[&str]) -> Outcome {
    run(&load(sets).unwrap(), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// The first 14 hours of the default crash (its cascade starts at about 13 h), 50 paths a
/// forecast to keep the test short.
const BASE: [&str; 3] = [
    "duration_s=50400",
    "controller.paths=50",
    "controller.enabled=true",
];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    BASE.iter().copied().chain(extra.iter().copied()).collect()
}

/// 40 half-hour paths at 3% an hour, Student-t(4), 5-second prices, native liquidation.
fn forty_paths(book_follows: bool) -> ForecastSpec {
    ForecastSpec {
        paths: 40,
        horizon_s: 1_800,
        step_s: 5,
        tick_every_s: 60,
        sigma_1h: 0.03,
        drift_1h: 0.0,
        jumps: JumpSpec::NONE,
        tail_dof: 4,
        liquidation_delay_s: 0,
        max_liquidations_per_sweep: 0,
        book_follows,
        feed: FeedRule::EVERY_STEP,
        seed: 11,
    }
}

#[test]
fn a_forecast_leaves_the_live_engine_unchanged_and_repeats_bit_for_bit() {
    let o = quiet_run(&BASE[..1]);
    let engine = &o.sim.venue.engine;
    let before = state_hash_hex(engine);
    let spec = forty_paths(false);
    let a = forecast(engine, MarketId(0), o.sim.now_ms(), &spec).unwrap();
    assert_eq!(
        state_hash_hex(engine),
        before,
        "the forecast changed the venue"
    );
    let b = forecast(engine, MarketId(0), o.sim.now_ms(), &spec).unwrap();
    assert_eq!(a, b);
    // At 3% an hour from the crash's 14th hour some paths leave the quiet band and lose.
    assert!(a.paths_simulated > 0, "{a:?}");
    // A path's loss is marked to market: deficits plus the change in unliquidated negative
    // equity, so it can be negative, but never by more than the negative equity there was.
    let negative_usd = bulwark_lab::venue_state::negative_equity_usd(engine);
    assert!(a
        .losses_usd
        .iter()
        .all(|l| l.is_finite() && *l >= -negative_usd - 1e-6));
    assert!(a.es_usd(0.95) >= a.var_usd(0.95));
    // The first hour of the run, at a calm 0.1% an hour: every path stays inside the quiet
    // band, so none needs a clone, and none loses.
    let early = quiet_run(&["duration_s=3600"]);
    let calm = ForecastSpec {
        sigma_1h: 0.001,
        ..spec
    };
    let c = forecast(
        &early.sim.venue.engine,
        MarketId(0),
        early.sim.now_ms(),
        &calm,
    )
    .unwrap();
    assert_eq!((c.paths_simulated, c.es_usd(0.95)), (0, 0.0), "{c:?}");
    let bad = ForecastSpec { paths: 0, ..spec };
    assert!(forecast(engine, MarketId(0), o.sim.now_ms(), &bad).is_err());
}

#[test]
fn the_controllers_actions_keep_their_rate_limits_and_bounds() {
    let o = quiet_run(&with(&["controller.oi_cap_headroom=0.1"]));
    let c = o.sim.controller.as_ref().expect("controller on");
    let p = &o.sim.scenario().controller;
    let actions: Vec<_> = c.rows.iter().filter(|r| r.kind == "action").collect();
    assert!(!actions.is_empty(), "the crash makes the controller act");
    assert_eq!(
        o.summary.controller.as_ref().unwrap().actions,
        actions.len() as u64
    );
    for lever in ["maintenance", "taker_fee", "oi_cap"] {
        let moves: Vec<_> = actions.iter().filter(|r| r.lever == lever).collect();
        for w in moves.windows(2) {
            assert!(
                w[1].t_s - w[0].t_s >= p.min_interval_s as f64,
                "{lever} moved twice within {} s: {w:?}",
                p.min_interval_s
            );
        }
        for r in &moves {
            let (old, new) = (r.old.unwrap(), r.new.unwrap());
            match lever {
                "maintenance" => {
                    assert!((new - old).abs() <= p.maintenance_step_ppm, "{r:?}");
                    assert!(new <= p.maintenance_max_ppm && new >= 5_000, "{r:?}");
                }
                "taker_fee" => {
                    assert!((new - old).abs() <= p.taker_fee_step_ppm, "{r:?}");
                    assert!(new <= p.taker_fee_max_ppm && new >= 500, "{r:?}");
                }
                // Tightening caps just above the open interest; relaxing restores the cap
                // the run started with (none: 0).
                _ if r.reason.contains("over the budget") => {
                    assert!(new > 0 && (old == 0 || new <= old), "{r:?}")
                }
                _ => assert_eq!(new, 0, "{r:?}"),
            }
            assert!(r.reason.contains("ES95"), "{r:?}");
        }
    }
    // Every action reached the engine as a parameter command: the market shows the last one.
    let m = o.sim.venue.engine.market(MarketId(0)).unwrap();
    let last = |lever: &str| {
        actions
            .iter()
            .rev()
            .find(|r| r.lever == lever)
            .and_then(|r| r.new)
    };
    if let Some(v) = last("maintenance") {
        assert_eq!(m.params.maintenance.raw(), v);
    }
    if let Some(v) = last("taker_fee") {
        assert_eq!(m.params.taker_fee.raw(), v);
    }
    // On the hour, a decision that acted is forecast again from the venue after its actions
    // (the forecast the backtest judges), and only then.
    let on_hour = |t: f64| t % 3_600.0 == 0.0;
    let acted_hours: std::collections::BTreeSet<u64> = actions
        .iter()
        .filter(|r| on_hour(r.t_s))
        .map(|r| r.t_s as u64)
        .collect();
    let after: std::collections::BTreeSet<u64> = c
        .rows
        .iter()
        .filter(|r| r.kind == "forecast_after")
        .map(|r| r.t_s as u64)
        .collect();
    assert!(!acted_hours.is_empty(), "the crash makes it act on an hour");
    assert_eq!(after, acted_hours);
    // The paths' volatility is never under the run's estimate; in the crash the mark's
    // moves at the forecast's scale make it larger.
    let forecasts: Vec<_> = c.rows.iter().filter(|r| r.kind == "forecast").collect();
    assert!(forecasts.iter().all(|r| r.sigma_1h >= r.sigma_run_1h));
    assert!(forecasts.iter().any(|r| r.sigma_1h > 1.2 * r.sigma_run_1h));
}

/// The backtest's multiplier on the paths' volatility, by hand on the default crash's first
/// 14 hours: the calm hours lose nothing (an hour whose paths lose nothing either moves
/// nothing; one with a few losing paths would lower it, but 1 is its floor), so it stays 1;
/// hour 12, where the crash begins, loses more than every path of its forecast (probability
/// 1), so from the forecast at 13 h it is e^(1 x 0.95); hour 13 stays under its VaR
/// (probability 0), so at 14 h it is e^(0.95 - 0.05). It only
/// moves on the hour, scales the paths' volatility, and with `maintenance_on_the_hour`
/// maintenance moves only then (without it, the same crash moves it at a quarter past).
#[test]
fn the_backtest_steers_the_paths_volatility_and_maintenance_waits_for_the_hour() {
    let o = quiet_run(&with(&[
        "controller.calibration_gain=1",
        "controller.maintenance_on_the_hour=true",
    ]));
    let c = o.sim.controller.as_ref().expect("controller on");
    let multiplier_at = |t_s: f64| {
        c.rows
            .iter()
            .find(|r| r.kind == "forecast" && r.t_s == t_s)
            .map(|r| r.vol_multiplier)
            .unwrap_or_else(|| panic!("a forecast at {t_s} s"))
    };
    for h in 1..=12 {
        assert_eq!(multiplier_at(h as f64 * 3600.0), 1.0, "hour {h}");
    }
    assert!((multiplier_at(46_800.0) - libm::exp(0.95)).abs() < 1e-12);
    assert!((multiplier_at(50_400.0) - libm::exp(0.90)).abs() < 1e-12);
    let s = o.summary.controller.as_ref().unwrap();
    assert!(
        (s.vol_multiplier_max - libm::exp(0.95)).abs() < 1e-12,
        "{s:?}"
    );
    let mut last = 1.0;
    for r in c.rows.iter().filter(|r| r.kind == "forecast") {
        if r.t_s % 3600.0 != 0.0 {
            assert_eq!(r.vol_multiplier, last, "moved off the hour: {r:?}");
        }
        last = r.vol_multiplier;
        assert!((1.0..=4.0).contains(&r.vol_multiplier), "{r:?}");
        assert!(
            r.sigma_1h >= r.vol_multiplier * r.sigma_run_1h * (1.0 - 1e-12),
            "{r:?}"
        );
    }
    let maintenance_moves = |c: &bulwark_lab::controller::Controller| -> Vec<f64> {
        c.rows
            .iter()
            .filter(|r| r.kind == "action" && r.lever == "maintenance")
            .map(|r| r.t_s)
            .collect()
    };
    let on_the_hour = maintenance_moves(c);
    assert!(!on_the_hour.is_empty(), "the crash tightens maintenance");
    assert!(
        on_the_hour.iter().all(|t| t % 3600.0 == 0.0),
        "{on_the_hour:?}"
    );
    // Each move was announced at the decision before (a quarter to the hour, same step), and
    // the hour's forecast is of the venue with it: one forecast an hour, none made again after
    // the hour's actions.
    for r in c
        .rows
        .iter()
        .filter(|r| r.kind == "action" && r.lever == "maintenance")
    {
        let announced = c
            .rows
            .iter()
            .find(|a| a.kind == "announce" && a.t_s == r.t_s - 900.0)
            .unwrap_or_else(|| panic!("no announcement before {r:?}"));
        assert_eq!((announced.old, announced.new), (r.old, r.new), "{r:?}");
        let forecast = c
            .rows
            .iter()
            .find(|f| f.kind == "forecast" && f.t_s == r.t_s)
            .expect("the hour's forecast");
        assert_eq!(forecast.reason, "the venue with the announced maintenance");
    }
    let announcements = c.rows.iter().filter(|r| r.kind == "announce").count();
    assert_eq!(
        announcements,
        on_the_hour.len(),
        "every announcement is applied"
    );
    assert!(c.rows.iter().all(|r| r.kind != "forecast_after"));
    let any_time = quiet_run(&BASE);
    assert_eq!(
        any_time
            .summary
            .controller
            .as_ref()
            .unwrap()
            .vol_multiplier_max,
        1.0,
        "the correction is off by default"
    );
    let any = maintenance_moves(any_time.sim.controller.as_ref().unwrap());
    assert!(any.iter().any(|t| t % 3600.0 != 0.0), "{any:?}");
}

/// With maintenance on the hour, the decisions at a quarter past and half past can move only
/// the fee and the cap: with `decision_horizon_s = 900` their forecasts look a quarter of an
/// hour ahead against a quarter of the budget (the default budget: the larger of 1,000 USD and
/// 0.25% of the insurance fund). The hour's forecast (the backtest's) and the one before the
/// hour (which announces maintenance) look the whole hour ahead against the whole budget, and
/// maintenance still moves only on the hour, as announced.
#[test]
fn decisions_that_move_only_the_fee_look_as_far_as_the_next_decision() {
    let o = quiet_run(&with(&[
        "controller.maintenance_on_the_hour=true",
        "controller.decision_horizon_s=900",
    ]));
    let c = o.sim.controller.as_ref().expect("controller on");
    let forecasts: Vec<_> = c.rows.iter().filter(|r| r.kind == "forecast").collect();
    assert_eq!(forecasts.len(), 56, "every 15 minutes for 14 hours");
    let mut short = 0;
    for r in &forecasts {
        let full_budget = (0.0025 * r.insurance_usd).max(1_000.0);
        let quarter = matches!(r.t_s as u64 % 3600, 900 | 1800);
        let (budget, ahead) = if quarter {
            short += 1;
            (full_budget / 4.0, true)
        } else {
            (full_budget, false)
        };
        assert!(
            (r.budget_usd - budget).abs() <= 1e-9 * budget,
            "{r:?}: budget {budget}"
        );
        assert_eq!(r.reason.contains("900 s ahead"), ahead, "{r:?}");
    }
    assert_eq!(short, 28);
    let moves: Vec<_> = c
        .rows
        .iter()
        .filter(|r| r.kind == "action" && r.lever == "maintenance")
        .collect();
    assert!(!moves.is_empty(), "the crash tightens maintenance");
    for m in moves {
        assert_eq!(m.t_s % 3600.0, 0.0, "{m:?}");
        assert!(
            c.rows
                .iter()
                .any(|a| a.kind == "announce" && a.t_s == m.t_s - 900.0),
            "announced: {m:?}"
        );
    }
}

/// The shipped parameters file of the calibrated controller loads and sets what it says.
#[test]
fn the_calibrated_controllers_parameters_file_loads() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/controller-calibrated.toml"
    );
    let set = format!("params={file}");
    let s = load(&[set.as_str()]).unwrap_or_else(|e| panic!("{e}"));
    let c = &s.scenario.controller;
    assert!(c.enabled && c.keeper_throughput && c.maintenance_on_the_hour);
    assert_eq!(c.calibration_gain, 1.0);
    assert_eq!(c.decision_horizon_s, 900);
    assert_eq!(c.jump_prior_per_day, 0.0, "no gap prior");
}

/// The gap prior's file is the calibrated controller's, with the prior on top, its rate
/// learned from the venue's own gaps (the prior weighing one day).
#[test]
fn the_gap_priors_parameters_file_is_the_calibrated_one_with_the_prior() {
    let load_file = |name: &str| {
        let set = format!(
            "params={}/../../scenarios/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        load(&[set.as_str()]).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let calibrated = load_file("controller-calibrated.toml").scenario.controller;
    let gaps = load_file("controller-gaps.toml").scenario.controller;
    assert_eq!((gaps.jump_prior_per_day, gaps.jump_prior_mean), (0.5, 0.03));
    assert_eq!((gaps.jump_learn_days, gaps.jump_gap_log), (1.0, 0.01));
    let without_prior = bulwark_lab::controller::ControllerParams {
        jump_prior_per_day: calibrated.jump_prior_per_day,
        jump_prior_mean: calibrated.jump_prior_mean,
        jump_learn_days: calibrated.jump_learn_days,
        ..gaps
    };
    assert_eq!(without_prior, calibrated);
}

/// The gap prior's rate in the paths: the prior's own when it is not learned; learned, it
/// falls over the default scenario's calm first hours, where the mark makes no gap, as a
/// Gamma prior weighing one day does with no gap seen in `t` days: `0.5 / (1 + t)`.
#[test]
fn a_learned_gap_rate_falls_over_calm_hours_and_a_fixed_one_stays() {
    let rates = |learn: &'static str| -> Vec<(f64, f64)> {
        let o = quiet_run(&[
            "duration_s=21600",
            "controller.paths=20",
            "controller.enabled=true",
            "controller.jump_prior_per_day=0.5",
            learn,
        ]);
        let c = o.sim.controller.as_ref().expect("controller on");
        let rates: Vec<(f64, f64)> = c
            .rows
            .iter()
            .filter(|r| r.kind == "forecast")
            .map(|r| (r.t_s, r.gaps_per_day))
            .collect();
        // The summary (and the report's headline) carry the range the rate moved over.
        let s = o.summary.controller.as_ref().expect("controller summary");
        let lo = rates.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        let hi = rates.iter().map(|r| r.1).fold(0.0, f64::max);
        assert_eq!((s.gaps_per_day_min, s.gaps_per_day_max), (lo, hi));
        rates
    };
    let fixed = rates("controller.jump_learn_days=0");
    assert_eq!(fixed.len(), 24, "a forecast every 15 minutes for 6 hours");
    assert!(fixed.iter().all(|&(_, g)| g == 0.5), "{fixed:?}");
    let learned = rates("controller.jump_learn_days=1");
    assert_eq!(learned.len(), fixed.len());
    for w in learned.windows(2) {
        assert!(w[1].1 < w[0].1, "no gap seen, the rate falls: {w:?}");
    }
    for &(t_s, g) in &learned {
        // The days seen: `t_s` discounted by the one-day half-life, `(1 - 2^(-t/H)) H / ln 2`
        // (the log sums one-minute samples, so within a sample of it).
        let half_life_s = 86_400.0;
        let seen_s = (1.0 - libm::exp2(-t_s / half_life_s)) * half_life_s / std::f64::consts::LN_2;
        let by_hand = 0.5 / (1.0 + seen_s / 86_400.0);
        assert!(
            (g - by_hand).abs() < 0.001,
            "{t_s} s: {g} against {by_hand}"
        );
    }
}

#[test]
fn shadow_mode_and_the_kill_switch_change_nothing() {
    let off = quiet_run(&BASE[..1]);
    let shadow = quiet_run(&with(&["controller.shadow=true"]));
    let s = shadow.summary.controller.as_ref().unwrap();
    assert!(s.shadow_actions > 0 && s.actions == 0, "{s:?}");
    assert_eq!(
        shadow.summary.final_state_hash,
        off.summary.final_state_hash
    );
    // Killed at the start: it never forecasts, and the run is the uncontrolled one.
    let killed = quiet_run(&with(&["controller.kill_at_s=0"]));
    let k = killed.summary.controller.as_ref().unwrap();
    assert!(k.killed && k.forecasts == 0 && k.actions == 0, "{k:?}");
    assert_eq!(
        killed.summary.final_state_hash,
        off.summary.final_state_hash
    );
}

#[test]
fn a_bad_controller_field_is_an_error_naming_it() {
    for (set, field) in [
        ("controller.paths=0", "controller.paths"),
        ("controller.tail_dof=2", "controller.tail_dof"),
        ("controller.relax_below=1.5", "controller.relax_below"),
        (
            "controller.maintenance_max_ppm=-5",
            "controller.maintenance_max_ppm",
        ),
        ("controller.horizon_s=0", "controller.horizon_s"),
        ("controller.scale_window_s=90", "controller.scale_window_s"),
        (
            "controller.scale_half_life_s=0",
            "controller.scale_half_life_s",
        ),
        ("controller.trend_weight=1.5", "controller.trend_weight"),
        ("controller.trend_weight=-0.1", "controller.trend_weight"),
        ("controller.jump_threshold=0", "controller.jump_threshold"),
        (
            "controller.jump_half_life_s=0",
            "controller.jump_half_life_s",
        ),
        (
            "controller.jump_prior_per_day=-1",
            "controller.jump_prior_per_day",
        ),
        (
            "controller.jump_prior_per_day=inf",
            "controller.jump_prior_per_day",
        ),
        ("controller.jump_prior_mean=0", "controller.jump_prior_mean"),
        (
            "controller.jump_prior_mean=nan",
            "controller.jump_prior_mean",
        ),
        (
            "controller.jump_learn_days=-1",
            "controller.jump_learn_days",
        ),
        (
            "controller.jump_learn_days=4000",
            "controller.jump_learn_days",
        ),
        ("controller.jump_gap_log=0", "controller.jump_gap_log"),
        ("controller.jump_gap_log=2", "controller.jump_gap_log"),
        (
            "controller.calibration_gain=-1",
            "controller.calibration_gain",
        ),
        (
            "controller.calibration_gain=nan",
            "controller.calibration_gain",
        ),
        ("controller.calibration_min=0", "controller.calibration_min"),
        (
            "controller.calibration_min=1.5",
            "controller.calibration_min",
        ),
        (
            "controller.calibration_max=0.5",
            "controller.calibration_max",
        ),
        (
            "controller.calibration_max=inf",
            "controller.calibration_max",
        ),
        (
            "controller.decision_horizon_s=5",
            "controller.decision_horizon_s",
        ),
        (
            "controller.decision_horizon_s=7200",
            "controller.decision_horizon_s",
        ),
    ] {
        let e = load(&[set]).expect_err(set);
        assert!(e.contains(field), "{set}: {e}");
    }
}

/// The depth model that moves the book with each path's price: the live engine is left as
/// it was, a forecast repeats bit for bit, and a path that falls liquidates where the moved
/// book is, so its losses differ from the book-as-it-is model's.
#[test]
fn a_forecast_with_a_following_book_leaves_the_venue_unchanged() {
    let o = quiet_run(&BASE[..1]);
    let engine = &o.sim.venue.engine;
    let before = state_hash_hex(engine);
    let spec = forty_paths(true);
    let a = forecast(engine, MarketId(0), o.sim.now_ms(), &spec).unwrap(); // ok: a test
    assert_eq!(
        state_hash_hex(engine),
        before,
        "the forecast changed the venue"
    );
    let b = forecast(engine, MarketId(0), o.sim.now_ms(), &spec).unwrap(); // ok: a test
    assert_eq!(a, b);
    assert!(a.paths_simulated > 0, "{a:?}");
    let frozen = forty_paths(false);
    let f = forecast(engine, MarketId(0), o.sim.now_ms(), &frozen).unwrap(); // ok: a test
    assert_eq!(
        f.paths_simulated, a.paths_simulated,
        "the same paths leave the band"
    );
    assert_ne!(
        f.losses_usd, a.losses_usd,
        "the depth model changes what they lose"
    );
}

/// The paths' refinements on one live state (the crash's 14th hour), each against the plain
/// paths: every forecast leaves the venue as it was; the feed's rule posts fewer prices and
/// so liquidates differently; a cap of one pool per sweep liquidates less notional; a trend
/// down loses more than no trend, and jumps down more than none.
#[test]
fn the_paths_refinements_leave_the_venue_unchanged_and_move_the_forecast_their_way() {
    let o = quiet_run(&BASE[..1]);
    let engine = &o.sim.venue.engine;
    let before = state_hash_hex(engine);
    let now = o.sim.now_ms();
    let run = |spec: &ForecastSpec| forecast(engine, MarketId(0), now, spec).unwrap(); // ok: a test
    let plain = forty_paths(false);
    let base = run(&plain);
    let total = |v: &[f64]| v.iter().sum::<f64>();

    let fed = run(&ForecastSpec {
        feed: FeedRule {
            deviation_bp: 20.0,
            heartbeat_s: 30,
        },
        ..plain
    });
    assert_ne!(
        fed.liquidated_usd, base.liquidated_usd,
        "the feed's rule changes the paths"
    );

    let capped = run(&ForecastSpec {
        liquidation_delay_s: 30,
        max_liquidations_per_sweep: 1,
        ..plain
    });
    let uncapped = run(&ForecastSpec {
        liquidation_delay_s: 30,
        ..plain
    });
    assert!(
        total(&capped.liquidated_usd) < total(&uncapped.liquidated_usd),
        "capped {} against {}",
        total(&capped.liquidated_usd),
        total(&uncapped.liquidated_usd)
    );

    let falling = run(&ForecastSpec {
        drift_1h: -0.05,
        ..plain
    });
    assert!(total(&falling.losses_usd) > total(&base.losses_usd));

    let mut jumps = JumpSpec::NONE;
    jumps.rate_1h = 4.0;
    jumps.sizes[0] = libm::log(0.97);
    jumps.n = 1;
    let jumpy = run(&ForecastSpec { jumps, ..plain });
    assert!(total(&jumpy.losses_usd) > total(&base.losses_usd));
    // The prior alone (no history): gaps up and down alike at 4 an hour, 3% on average,
    // lose more than none on a state with pools on both sides.
    let prior = JumpSpec {
        prior_rate_1h: 4.0,
        prior_mean_log: 0.03,
        ..JumpSpec::NONE
    };
    let gapped = run(&ForecastSpec {
        jumps: prior,
        ..plain
    });
    assert!(total(&gapped.losses_usd) > total(&base.losses_usd));
    // A spec the paths cannot draw from is an error, not a panic.
    let (mut too_many, mut no_rate) = (jumps, jumps);
    too_many.n = 33;
    no_rate.rate_1h = f64::NAN;
    let (mut prior_nan, mut prior_negative, mut prior_mean_inf) = (prior, prior, prior);
    prior_nan.prior_rate_1h = f64::NAN;
    prior_negative.prior_rate_1h = -1.0;
    prior_mean_inf.prior_mean_log = f64::INFINITY;
    for bad in [too_many, no_rate, prior_nan, prior_negative, prior_mean_inf] {
        let spec = ForecastSpec {
            jumps: bad,
            ..plain
        };
        assert!(
            forecast(engine, MarketId(0), now, &spec).is_err(),
            "{bad:?}"
        );
    }
    assert_eq!(
        state_hash_hex(engine),
        before,
        "a forecast changed the venue"
    );
}
