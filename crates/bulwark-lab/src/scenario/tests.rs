//! Scenario parsing, defaults, overrides and their errors.

use super::*;
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
