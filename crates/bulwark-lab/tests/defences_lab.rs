//! The defences in whole lab runs: failing oracle sources against the guard, the volatility
//! feed driving dynamic margin and the adaptive fee, and breaker periods in the outputs.

use std::path::PathBuf;

use bulwark_lab::run::{run, Outcome};
use bulwark_lab::scenario::{self, LoadedScenario, Override};

fn load(text: &str, sets: &[&str]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::parse(text, "test", PathBuf::from("."), &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn quiet_run(l: &LoadedScenario) -> Outcome {
    run(l, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// Three sources: one honest, one a manipulator pushes 15% up from 1 h for 30 min, one that
/// stops publishing at the same moment. With the stale one gone, the honest and the pushed
/// source are 15% apart: the guard trusts neither.
const SOURCES: &str = r#"
[[oracle.sources]]
name = "honest"
[[oracle.sources]]
name = "thin"
[oracle.sources.failure]
mode = "pushed"
start_s = 3600
duration_s = 1800
size_bp = 1500
[[oracle.sources]]
name = "halted"
[oracle.sources.failure]
mode = "stale"
start_s = 3600
duration_s = 1800
"#;

const GUARD: &str = r#"
[market.defences.oracle_guard]
enabled = true
min_sources = 2
recover_sources = 3
recover_ms = 60000
"#;

const SHORT: [&str; 3] = [
    "duration_s=7200",
    "agents.traders.count=200",
    "agents.traders.entry_window_s=1800",
];

fn scenario(extra: &str) -> LoadedScenario {
    let text = format!("{}\n{SOURCES}\n{extra}", scenario::DEFAULT_SCENARIO_TOML);
    load(&text, &SHORT)
}

#[test]
fn a_pushed_source_moves_the_mark_without_the_guard_and_degrades_the_market_with_it() {
    let open = quiet_run(&scenario(""));
    let guarded = quiet_run(&scenario(GUARD));
    // Without the guard the oracle is the median of the fresh sources: honest and pushed, so
    // their mean, 7.5% over the outside price; the mark follows part of the way.
    let open_dev = open.summary.mark_vs_outside.max_abs_bp;
    let guarded_dev = guarded.summary.mark_vs_outside.max_abs_bp;
    assert!(open_dev > 200.0, "unguarded mark deviation {open_dev} bp");
    assert!(
        guarded_dev < open_dev / 2.0,
        "guarded {guarded_dev} bp against unguarded {open_dev} bp"
    );
    assert_eq!(open.summary.defences.degraded_periods, 0);
    // With it: the pushed source is rejected at once (two others agree); the halted one's
    // last report turns stale within the 60 s staleness, leaving two sources 15% apart: one
    // degraded period from then to a minute after the sources recover (3 valid at 5,400 s).
    let d = &guarded.summary.defences;
    assert_eq!(d.degraded_periods, 1, "{d:?}");
    let p = &guarded.sim.metrics.defences.periods[0];
    assert_eq!(
        (p.kind, p.reason, p.trigger),
        ("degraded", "oracle_sources", 0)
    );
    assert!((3_600.0..3_662.0).contains(&p.start_s), "{p:?}");
    assert!(
        p.orders_refused > 0,
        "risk-increasing orders refused while degraded"
    );
    let end = p.end_s.expect("recovered before the end");
    assert!((5_460.0..5_520.0).contains(&end), "{p:?}");
    assert!(guarded.summary.conservation.ok);
}

#[test]
fn the_volatility_feed_drives_dynamic_margin_and_the_adaptive_fee() {
    let extra = r#"
[market.defences.dynamic_margin]
enabled = true
floor = 5000
z = 3000000
horizon_s = 600
max_change_per_hour = 10000
step_ms = 300000
notice_ms = 300000
[market.defences.adaptive_fee]
enabled = true
slope = 1000000
max_taker_fee = 1500
surcharge_insurance_share = 1000000
"#;
    let text = format!("{}\n{extra}", scenario::DEFAULT_SCENARIO_TOML);
    // The first 14 hours hold the start of the fall.
    let out = quiet_run(&load(
        &text,
        &[
            "duration_s=50400",
            "agents.traders.count=200",
            "agents.traders.entry_window_s=7200",
        ],
    ));
    let d = &out.summary.defences;
    assert_eq!(d.volatility_reports, 50_400 / 60, "one report a minute");
    assert!(d.margin_steps > 0, "{d:?}");
    // Steps of at most 1 point an hour / 12 = 833 ppm: 14 hours move it at most 11.7 points.
    assert!(
        d.maintenance_max_ppm > 5_000 && d.maintenance_max_ppm <= 5_000 + 14 * 10_000,
        "{d:?}"
    );
    assert!(
        d.taker_fee_changes > 0 && d.taker_fee_max_ppm <= 1_500,
        "{d:?}"
    );
    let m = out
        .sim
        .venue
        .engine
        .market(bulwark_engine::MarketId(0))
        .unwrap();
    let want = bulwark_engine::Ppm::from_raw(d.maintenance_max_ppm);
    assert!(m.params.maintenance <= want);
    assert!(out.summary.capital_efficiency.margin_per_oi > 0.0);
}

/// The Mango Markets attack: a manipulator pushes a thin source 30% up and borrows against
/// the inflated value of its long. Two sources, so without the guard the oracle is their mean.
const ATTACK: &str = r#"
[[oracle.sources]]
name = "honest"
[[oracle.sources]]
name = "thin"
[oracle.sources.failure]
mode = "pushed"
start_s = 3600
duration_s = 1800
size_bp = 3000
[agents.manipulator]
enabled = true
capital_usd = 1000000
leverage = 20
"#;

/// The attack on a market whose mark has no book input (a huge impact notional, as on a venue
/// whose mark is its oracle and its last trades): the push moves the oracle, which moves the
/// mark half-way with the trade EMA.
fn attack(extra: &str) -> Outcome {
    attack_with_push(3000, extra)
}

fn attack_with_push(size_bp: u32, extra: &str) -> Outcome {
    let attack = ATTACK.replace("size_bp = 3000", &format!("size_bp = {size_bp}"));
    let text = format!("{}\n{attack}\n{extra}", scenario::DEFAULT_SCENARIO_TOML);
    let mut sets = SHORT.to_vec();
    sets.push("market.impact_notional_usd=\"1000000000000\"");
    quiet_run(&load(&text, &sets))
}

#[test]
fn the_manipulator_extracts_collateral_unless_the_guard_stops_it() {
    // What honest prices alone free during the window (no push): the control.
    let control = attack_with_push(0, "");
    let honest = control.summary.agent_activity.manipulator_extracted_usd;
    let open = attack("");
    let took = open.summary.agent_activity.manipulator_extracted_usd;
    assert!(open.summary.conservation.ok);
    // Without defences the push frees collateral honest prices would not: the mark follows
    // the oracle (the mean of the two sources) half-way.
    assert!(
        took > honest + 20_000.0,
        "extracted {took} against {honest} without the push"
    );
    // The guard: the two sources are 30% apart, neither is trusted, the market degrades and
    // its mark does not follow the push: no more than honest prices free.
    let guarded = attack(
        "[market.defences.oracle_guard]\nenabled = true\nmin_sources = 1\nrecover_sources = 2",
    );
    let took_guarded = guarded.summary.agent_activity.manipulator_extracted_usd;
    assert!(
        took_guarded < honest * 1.2 + 1_000.0,
        "guarded {took_guarded} against {honest} without the push"
    );
    // The stable price delays it: its first withdrawal in the push takes what the lagging
    // price frees, not what the mark does; a push held for half an hour at 6% an hour of
    // growth still gets most of the way (the stable price's trade-off).
    let stable = attack("[market.defences.stable_price]\nenabled = true\ngrowth_per_hour = 60000");
    let took_stable = stable.summary.agent_activity.manipulator_extracted_usd;
    assert!(
        took_stable <= took * 1.05,
        "stable {took_stable} against {took}"
    );
    eprintln!(
        "manipulator extracted (USD): no push {honest:.0}, push {took:.0}, guard {took_guarded:.0}, stable price {took_stable:.0}"
    );
}

/// The first ten minutes in which at least `n` liquidations start: where a cascade reaches
/// the liquidation layer (single liquidations of over-leveraged traders come before).
fn cascade_start_s(o: &Outcome, n: usize) -> Option<f64> {
    let starts: Vec<f64> = o
        .sim
        .metrics
        .events
        .iter()
        .filter(|r| r.event == "liquidation_started")
        .map(|r| r.t_s)
        .collect();
    (0..starts.len())
        .find(|&i| {
            starts[i..]
                .iter()
                .take_while(|&&t| t < starts[i] + 600.0)
                .count()
                >= n
        })
        .map(|i| starts[i])
}

/// The proactive breaker with its defaults (a 3-sigma move of the short volatility over 15
/// minutes, 10x the depth, at least 1 M USD at risk), on the first 16 hours of the default
/// crash and on a calm day of the same venue.
const PROACTIVE: [&str; 2] = ["duration_s=57600", "market.defences.proactive.enabled=true"];

#[test]
fn the_proactive_breaker_trips_before_the_cascade_and_not_on_a_calm_day() {
    let crash = quiet_run(&load(scenario::DEFAULT_SCENARIO_TOML, &PROACTIVE));
    let unguarded = quiet_run(&load(scenario::DEFAULT_SCENARIO_TOML, &PROACTIVE[..1]));
    let cascade = cascade_start_s(&unguarded, 20).expect("the default crash has a cascade");
    let trips: Vec<_> = crash
        .sim
        .metrics
        .defences
        .periods
        .iter()
        .filter(|p| p.reason == "cascade")
        .collect();
    let first = trips.first().expect("the breaker trips in the crash");
    assert!(
        first.start_s < cascade,
        "first trip at {} s, the cascade starts at {cascade} s without it",
        first.start_s
    );
    // Its prediction: the notional at risk over the depth, above the 10x threshold.
    assert!(first.trigger > 10_000_000, "{first:?}");
    assert_eq!(crash.summary.defences.proactive_trips, trips.len() as u64);
    let mut calm = PROACTIVE.to_vec();
    calm.extend([
        "path.kind=synthetic",
        "path.synthetic.preset=gbm_btc_daily_fit",
    ]);
    calm[0] = "duration_s=86400";
    let calm = quiet_run(&load(scenario::DEFAULT_SCENARIO_TOML, &calm));
    assert!(
        calm.summary.liquidations.count > 0,
        "the calm day still liquidates someone"
    );
    assert_eq!(calm.summary.defences.proactive_trips, 0);
    assert_eq!(calm.summary.capital_efficiency.halted_s, 0.0);
}
