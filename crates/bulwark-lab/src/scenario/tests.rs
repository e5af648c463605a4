//! Scenario parsing, defaults, overrides and their errors.

use super::*;
use crate::path::CalibratedShock;
use bulwark_engine::Ppm;

fn parse_text(text: &str, sets: &[&str]) -> Result<LoadedScenario, ScenarioError> {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    parse(text, "test.toml", PathBuf::from("."), &overrides)
}

fn err_text(text: &str, sets: &[&str]) -> String {
    parse_text(text, sets).unwrap_err().to_string()
}

#[test]
fn default_scenario_is_the_march_2020_crash_at_full_size() {
    let l = parse_text(DEFAULT_SCENARIO_TOML, &[]).unwrap();
    let s = &l.scenario;
    assert_eq!(s.step_ms, 1_000);
    assert_eq!(s.path.kind, PathKind::CalibratedShock);
    let shock = s.path.shock.clone();
    assert_eq!(shock, CalibratedShock::march_2020());
    assert_eq!(shock.total_s(), 72 * 3600);
    assert!(s.agents.traders.count >= 2_000);
    assert_eq!(
        (
            s.agents.market_makers.count,
            s.agents.arbitrageurs.count,
            s.agents.keepers.count
        ),
        (5, 3, 5)
    );
    assert!(!l.initial_price_given, "the initial price follows the path");
}

#[test]
fn shipped_default_file_matches_the_embedded_copy() {
    let on_disk = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/default.toml");
    assert_eq!(
        std::fs::read_to_string(on_disk).unwrap(),
        DEFAULT_SCENARIO_TOML
    );
}

#[test]
fn unknown_field_names_the_field_and_the_line() {
    let text = "name = \"x\"\n\n[market]\nmaintenance = 8000\nmaintenanse = 1\n";
    let e = err_text(text, &[]);
    assert!(e.contains("maintenanse"), "{e}");
    assert!(e.contains("line 5"), "{e}");
    assert!(e.contains("test.toml"), "{e}");
}

#[test]
fn unknown_nested_agent_field_names_the_field_and_the_line() {
    let text = "name = \"x\"\n[agents.traders]\ncount = 10\nleverag = 3\n";
    let e = err_text(text, &[]);
    assert!(e.contains("leverag") && e.contains("line 4"), "{e}");
}

#[test]
fn overrides_reach_every_level() {
    let l = parse_text(
        "name = \"x\"\n",
        &[
            "seed=7",
            "market.maintenance=8000",
            "agents.traders.count=500",
            "chain.halt={ start_s = 10, duration_s = 20 }",
            "path.shock.drop_frac=0.6",
            "market.waterfall.adl=false",
        ],
    )
    .unwrap();
    let s = l.scenario;
    assert_eq!(s.seed, 7);
    assert_eq!(s.market.maintenance, Ppm::from_raw(8_000));
    assert_eq!(s.agents.traders.count, 500);
    assert_eq!(
        s.chain.halt,
        Some(ChainHalt {
            start_s: 10,
            duration_s: 20
        })
    );
    assert_eq!(s.path.shock.drop_frac, 0.6);
    assert!(!s.market.waterfall.adl);
    // Fields not overridden keep their defaults, including the shock's March 2020 values.
    assert_eq!(
        s.path.shock.start_price,
        CalibratedShock::march_2020().start_price
    );
}

#[test]
fn bad_override_key_names_the_key() {
    let e = err_text("name = \"x\"\n", &["market.maintenanse=1"]);
    assert!(e.starts_with("--set market.maintenanse:"), "{e}");
    assert!(e.contains("maintenanse"), "{e}");
    let e = err_text("name = \"x\"\nseed = 3\n", &["seed.deep=1"]);
    assert!(
        e.contains("--set seed.deep") && e.contains("`seed` is a value"),
        "{e}"
    );
    // Absent from the file: the key still gets the blame.
    let e = err_text("name = \"x\"\n", &["seed.deep=1"]);
    assert!(e.starts_with("--set seed.deep:"), "{e}");
    let e = "noequals".parse::<Override>().unwrap_err().to_string();
    assert!(e.contains("key=value"), "{e}");
}

#[test]
fn override_values_are_toml_or_plain_strings() {
    let o: Override = "path.kind=historical".parse().unwrap();
    assert_eq!(o.value, toml::Value::String("historical".into()));
    let o: Override = "seed=7".parse().unwrap();
    assert_eq!(o.value, toml::Value::Integer(7));
    let o: Override = "venue.native_liquidation=true".parse().unwrap();
    assert_eq!(o.value, toml::Value::Boolean(true));
}

#[test]
fn historical_kind_needs_its_section() {
    let e = err_text("name = \"x\"\n", &["path.kind=historical"]);
    assert!(e.contains("path.historical"), "{e}");
}

#[test]
fn money_must_not_be_a_float() {
    let e = err_text("name = \"x\"\n[venue]\ninsurance_seed_usd = 1.5\n", &[]);
    assert!(e.contains("line 3") && e.contains("float"), "{e}");
}

#[test]
fn explicit_initial_price_is_kept() {
    let l = parse_text("name = \"x\"\n[market]\ninitial_price = \"7000\"\n", &[]).unwrap();
    assert!(l.initial_price_given);
}

fn problems(sets: &[&str]) -> Vec<FieldProblem> {
    match parse_text(DEFAULT_SCENARIO_TOML, sets) {
        Err(ScenarioError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("expected field problems for {sets:?}, got: {other}"),
        Ok(_) => panic!("{sets:?} was accepted"),
    }
}

/// The one problem `sets` cause, which must name `field` and mention `range`.
fn assert_rejected(sets: &[&str], field: &str, range: &str) {
    let found = problems(sets);
    let p = found
        .iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("{sets:?}: no problem for {field} in {found:?}"));
    assert!(p.rule.contains(range), "{sets:?}: {p}");
}

#[test]
fn nan_or_negative_money_and_medians_are_errors_naming_the_field_and_range() {
    for (set, field, range) in [
        (
            "agents.market_makers.capital_usd=nan",
            "agents.market_makers.capital_usd",
            "(0, 1e11]",
        ),
        (
            "agents.keepers.capital_usd=nan",
            "agents.keepers.capital_usd",
            "(0, 1e11]",
        ),
        (
            "agents.arbitrageurs.capital_usd=-1",
            "agents.arbitrageurs.capital_usd",
            "(0, 1e11]",
        ),
        (
            "agents.traders.collateral_usd.median=-3000",
            "agents.traders.collateral_usd.median",
            "[10, 10000000]",
        ),
        (
            "agents.traders.leverage.median=nan",
            "agents.traders.leverage.median",
            "[1, 50]",
        ),
        (
            "agents.traders.leverage.sigma=-1",
            "agents.traders.leverage.sigma",
            "[0, 3]",
        ),
        (
            "venue.insurance_seed_usd=\"-5\"",
            "venue.insurance_seed_usd",
            "[0, 1e11]",
        ),
        (
            "venue.vault_seed_usd=\"-1\"",
            "venue.vault_seed_usd",
            "[0, 1e11]",
        ),
        (
            "agents.traders.trend_share=1.5",
            "agents.traders.trend_share",
            "[0, 1]",
        ),
        (
            "chain.calm_gwei=inf",
            "chain.calm_gwei",
            "(0, 1000000] gwei",
        ),
        (
            "oracle.deviation_bp=-1",
            "oracle.deviation_bp",
            "[0, 10000]",
        ),
        ("step_ms=0", "step_ms", "[1, 86400000]"),
        (
            "metrics.invariant_check_every=0",
            "metrics.invariant_check_every",
            "[1, 1000000000]",
        ),
    ] {
        assert_rejected(&[set], field, range);
    }
}

#[test]
fn gas_process_and_keeper_bidding_fields_are_checked_naming_the_field() {
    for (set, field, range) in [
        (
            "chain.daily_gwei=[12.9, nan]",
            "chain.daily_gwei[1]",
            "(0, 1000000] gwei",
        ),
        (
            "chain.daily_gwei=[-1.0]",
            "chain.daily_gwei[0]",
            "(0, 1000000] gwei",
        ),
        ("chain.gas_scale=0", "chain.gas_scale", "(0, 1000]"),
        (
            "chain.gas_noise_sigma=-0.1",
            "chain.gas_noise_sigma",
            "[0, 3]",
        ),
        (
            "chain.gas_noise_half_life_s=0",
            "chain.gas_noise_half_life_s",
            "[1, ",
        ),
        (
            "chain.spike_rate_per_h=inf",
            "chain.spike_rate_per_h",
            "[0, 3600]",
        ),
        (
            "chain.spike_excitation=1.0",
            "chain.spike_excitation",
            "[0, 0.95]",
        ),
        ("chain.spike_mean=-1", "chain.spike_mean", "[0, 100]"),
        (
            "chain.spike_half_life_s=0",
            "chain.spike_half_life_s",
            "[1, ",
        ),
        (
            "agents.keepers.reward_spend_share.median=2",
            "agents.keepers.reward_spend_share.median",
            "(0, 1]",
        ),
        (
            "agents.keepers.venue_count=6",
            "agents.keepers.venue_count",
            "[0, 5]",
        ),
    ] {
        assert_rejected(&[set], field, range);
    }
    // One-millisecond blocks over three days: more blocks than a run holds.
    assert_rejected(
        &["chain.block_ms=1", "duration_s=259200"],
        "chain.block_ms",
        "blocks fit a run",
    );
}

#[test]
fn huge_durations_and_intervals_are_errors_not_overflows() {
    let huge = i64::MAX;
    for field in [
        "duration_s",
        "agents.traders.entry_window_s",
        "agents.traders.lookback_s",
        "agents.market_makers.pull_duration_s",
        "chain.tx_ttl_s",
        "oracle.heartbeat_s",
        "metrics.sample_every_s",
        "metrics.cascade_window_s",
    ] {
        assert_rejected(&[&format!("{field}={huge}")], field, "[");
        let p = problems(&[&format!("{field}={huge}")]);
        assert!(p[0].rule.contains("315360000] s"), "{}", p[0]);
    }
    for field in [
        "step_ms",
        "chain.block_ms",
        "oracle.poll_ms",
        "agents.market_makers.requote_interval_ms",
        "agents.market_makers.latency_ms",
        "agents.arbitrageurs.poll_ms",
        "agents.keepers.poll_ms",
    ] {
        assert_rejected(&[&format!("{field}={huge}")], field, "86400000] ms");
    }
    for (set, field) in [
        (
            format!("chain.halt={{ start_s = {huge}, duration_s = 60 }}"),
            "chain.halt.start_s",
        ),
        (
            format!("chain.halt={{ start_s = 60, duration_s = {huge} }}"),
            "chain.halt.duration_s",
        ),
        (
            "agents.traders.hold_s.median=1e300".to_string(),
            "agents.traders.hold_s.median",
        ),
        (
            "agents.keepers.latency_ms.median=1e300".to_string(),
            "agents.keepers.latency_ms.median",
        ),
    ] {
        assert_rejected(&[&set], field, "]");
    }
}

#[test]
fn counts_and_run_length_are_bounded_by_stated_limits() {
    assert_rejected(
        &["agents.traders.count=10000000"],
        "agents.traders.count",
        "[0, 1000000]",
    );
    assert_rejected(
        &["agents.keepers.count=100000"],
        "agents.keepers.count",
        "[0, 10000]",
    );
    // Ten years at 1 ms steps: far more engine steps than a run holds.
    assert_rejected(
        &["duration_s=315360000", "step_ms=1"],
        "duration_s",
        "at most 20000000 steps",
    );
}

#[test]
fn rules_between_fields_are_checked() {
    assert_rejected(
        &["chain.stress_gwei=5"],
        "chain.stress_gwei",
        "chain.calm_gwei",
    );
    assert_rejected(
        &["chain.stress_vol_annual=0.1"],
        "chain.stress_vol_annual",
        "chain.calm_vol_annual",
    );
    assert_rejected(
        &["agents.traders.leverage.median=80"],
        "agents.traders.leverage.median",
        "[1, 50]",
    );
    // A shock whose phases do not fall on the step grid.
    assert_rejected(
        &["step_ms=7000"],
        "path.shock.pre_shock_s",
        "multiple of step_ms",
    );
}

#[test]
fn every_problem_is_listed_at_once() {
    let e = err_text(
        DEFAULT_SCENARIO_TOML,
        &[
            "agents.market_makers.capital_usd=nan",
            "venue.insurance_seed_usd=\"-5\"",
            "oracle.poll_ms=0",
        ],
    );
    for field in [
        "agents.market_makers.capital_usd",
        "venue.insurance_seed_usd",
        "oracle.poll_ms",
    ] {
        assert!(e.contains(field), "{e}");
    }
}

#[test]
fn engine_parameters_are_checked_at_load_by_the_engine() {
    assert_rejected(&["market.maintenance=0"], "market.maintenance", "(0, 1]");
    let p = problems(&["market.initial_multiplier=500000"]);
    assert_eq!(p[0].field, "market.initial_multiplier", "{}", p[0]);
    assert_eq!(p[0].value, "500000");
}

#[test]
fn one_field_of_a_section_the_file_left_out_can_be_set() {
    // The default file has no [agents.traders.leverage]: the other field keeps its default.
    let l = parse_text(DEFAULT_SCENARIO_TOML, &["agents.traders.leverage.median=5"]).unwrap();
    let leverage = l.scenario.agents.traders.leverage;
    assert_eq!(leverage.median, 5.0);
    assert_eq!(leverage.sigma, TraderParams::default().leverage.sigma);
    // A median of 0 is not a lognormal: a rule names the field and the range (it used to
    // fail on "missing field `sigma`").
    let e = err_text(DEFAULT_SCENARIO_TOML, &["agents.traders.leverage.median=0"]);
    assert!(
        e.contains("agents.traders.leverage.median") && e.contains("[1, 50]"),
        "{e}"
    );
    assert!(!e.contains("sigma"), "{e}");
    // Deeper and in a section absent from a bare file.
    let l = parse_text(
        "name = \"x\"\n",
        &["agents.keepers.reward_spend_share.sigma=0.2"],
    )
    .unwrap();
    let share = l.scenario.agents.keepers.reward_spend_share;
    assert_eq!((share.median, share.sigma), (0.5, 0.2));
    // Filling a section from its defaults does not make the initial price "given".
    let l = parse_text("name = \"x\"\n", &["market.tick_size=\"1\""]).unwrap();
    assert!(!l.initial_price_given);
    let l = parse_text("name = \"x\"\n", &["market.initial_price=\"7000\""]).unwrap();
    assert!(l.initial_price_given);
}

#[test]
fn data_files_must_exist_at_load() {
    assert_rejected(
        &[
            "path.kind=historical",
            "path.historical={ csv = \"no-such-file.csv\" }",
        ],
        "path.historical.csv",
        "no-such-file.csv does not exist",
    );
    assert_rejected(
        &["chain.gas_csv=\"missing-gas.csv\""],
        "chain.gas_csv",
        "does not exist",
    );
}

#[test]
fn lp_fields_are_checked_by_name_and_range() {
    for (set, field, range) in [
        ("agents.lps.count=20000", "agents.lps.count", "[0, 10000]"),
        (
            "agents.lps.total_capital_usd=nan",
            "agents.lps.total_capital_usd",
            "(0, 1e11]",
        ),
        (
            "agents.lps.capital_sigma=-1",
            "agents.lps.capital_sigma",
            "[0, 3]",
        ),
        (
            "agents.lps.threshold_share=1.5",
            "agents.lps.threshold_share",
            "[0, 1]",
        ),
        (
            "agents.lps.drawdown_frac.median=0",
            "agents.lps.drawdown_frac.median",
            "(0, 1]",
        ),
        (
            "agents.lps.drawdown_frac.sigma=inf",
            "agents.lps.drawdown_frac.sigma",
            "[0, 3]",
        ),
        (
            "agents.lps.follow_outflow_frac=0",
            "agents.lps.follow_outflow_frac",
            "(0, 1]",
        ),
        (
            "agents.lps.withdraw_frac=-0.5",
            "agents.lps.withdraw_frac",
            "(0, 1]",
        ),
        ("agents.lps.poll_s=0", "agents.lps.poll_s", "[1, 315360000]"),
        (
            "agents.lps.retry_s=0",
            "agents.lps.retry_s",
            "[1, 315360000]",
        ),
    ] {
        assert_rejected(&[set], field, range);
    }
    // Each LP follows one rule: the two shares together at most 1.
    assert_rejected(
        &[
            "agents.lps.threshold_share=0.7",
            "agents.lps.follow_share=0.4",
        ],
        "agents.lps.follow_share",
        "at most 1 - `agents.lps.threshold_share`",
    );
    assert_rejected(
        &["agents.lps.total_capital_usd=0.00001"],
        "agents.lps.total_capital_usd",
        "each of the 20 LPs at least one micro-USD",
    );
    // No LPs (and no vault but a passive seed) is a valid scenario.
    let l = parse_text(DEFAULT_SCENARIO_TOML, &["agents.lps.count=0"]).unwrap();
    assert_eq!(l.scenario.agents.lps.count, 0);
}

/// A scenario file with `params = "tuned.toml"` beside a parameters file; returns the folder.
fn with_params_file(params: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap(); // ok: test
    std::fs::write(dir.path().join("tuned.toml"), params).unwrap(); // ok: test
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"p\"\nparams = \"tuned.toml\"\n[market]\nmaintenance = 5000\ntaker_fee = 500\n",
    )
    .unwrap(); // ok: test
    (dir, scenario)
}

#[test]
fn a_params_file_loads_before_the_command_line() {
    let (_dir, file) = with_params_file(
        "\"market.maintenance\" = 8000\n\"agents.traders.count\" = 300\nseed = 9\n",
    );
    let l = load_file(&file, &[]).unwrap(); // ok: test
    assert_eq!(l.scenario.market.maintenance, Ppm::from_raw(8_000));
    assert_eq!(
        l.scenario.market.taker_fee,
        Ppm::from_raw(500),
        "the rest is the file's"
    );
    assert_eq!((l.scenario.agents.traders.count, l.scenario.seed), (300, 9));
    let set: Override = "market.maintenance=9000".parse().unwrap(); // ok: test
    let l = load_file(&file, &[set]).unwrap(); // ok: test
    assert_eq!(
        l.scenario.market.maintenance,
        Ppm::from_raw(9_000),
        "--set comes after the params file"
    );
}

#[test]
fn a_bad_key_in_a_params_file_is_an_error_naming_it_and_the_file() {
    let (_dir, file) = with_params_file("\"market.maintenace\" = 8000\n");
    let err = load_file(&file, &[]).unwrap_err().to_string(); // ok: test
    assert!(
        err.contains("tuned.toml") && err.contains("market.maintenace") && err.contains("s.toml"),
        "{err}"
    );
    let (_dir, file) = with_params_file("[market]\nmaintenance = 8000\n");
    let err = load_file(&file, &[]).unwrap_err().to_string(); // ok: test
    assert!(err.contains("whole section"), "{err}");
    let (_dir, file) = with_params_file("\"market.maintenance\" = -3\n");
    let err = load_file(&file, &[]).unwrap_err().to_string(); // ok: test
    assert!(err.contains("market.maintenance"), "{err}");
    let dir = tempfile::tempdir().unwrap(); // ok: test
    let file = dir.path().join("s.toml");
    std::fs::write(&file, "name = \"p\"\nparams = \"missing.toml\"\n").unwrap(); // ok: test
    let err = load_file(&file, &[]).unwrap_err().to_string(); // ok: test
    assert!(err.contains("missing.toml"), "{err}");
}
