//! Whole runs on synthetic paths: the shipped `scenarios/synthetic_garch.toml`, shortened, and
//! a run of every model's default preset, each conserving money and following its path.

use std::path::Path;

use bulwark_lab::output::summary_json;
use bulwark_lab::path::ModelKind;
use bulwark_lab::run::{prepare, run};
use bulwark_lab::scenario::{self, LoadedScenario, Override};

fn load(sets: &[&str]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/synthetic_garch.toml");
    scenario::load_file(&file, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

/// One hour, 200 traders entering over its first half.
const SHORT: [&str; 3] = [
    "duration_s=3600",
    "agents.traders.count=200",
    "agents.traders.entry_window_s=1800",
];

#[test]
fn the_garch_scenario_runs_conserving_money_and_is_reproducible() {
    let l = load(&SHORT);
    let prepared = prepare(&l).unwrap();
    // The preset's 72 hours at one-second steps, from its first price.
    assert_eq!(prepared.path.len(), 259_201);
    assert_eq!(prepared.path.prices[0], 123_237.94);
    assert_eq!(prepared.path.start_ms, 1_759_968_000_000);
    let a = run(&l, &mut |_| {}).unwrap();
    assert!(a.summary.conservation.ok, "{:?}", a.summary.conservation);
    assert_eq!(a.summary.engine_steps, 3_600);
    let b = run(&l, &mut |_| {}).unwrap();
    assert_eq!(summary_json(&a.summary), summary_json(&b.summary));
}

#[test]
fn every_models_default_preset_runs() {
    // Ten minutes each, on the default scenario switched to the model: its default preset's
    // path is built, the venue follows it, money is conserved.
    for kind in ModelKind::ALL {
        let model = format!("path.synthetic.model={}", kind.name());
        let sets = [
            "path.kind=synthetic",
            &model,
            "duration_s=600",
            "agents.traders.count=50",
            "agents.traders.entry_window_s=300",
        ];
        let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        let l = scenario::parse(
            scenario::DEFAULT_SCENARIO_TOML,
            "default",
            ".".into(),
            &overrides,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want = bulwark_lab::path::preset(kind.default_preset()).unwrap();
        let prepared = prepare(&l).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        assert_eq!(
            prepared.path.prices[0],
            want.path.start_price,
            "{}",
            kind.name()
        );
        let outcome = run(&l, &mut |_| {}).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        assert!(outcome.summary.conservation.ok, "{}", kind.name());
        assert_eq!(outcome.summary.engine_steps, 600, "{}", kind.name());
    }
}
