//! A sweep's runs keep only their summary (`run::run_summary`): no `timeseries.csv` samples
//! and no `events.csv` rows are built. The summary must be the very one a full run gives.

use std::path::PathBuf;

use bulwark_lab::output::summary_json;
use bulwark_lab::run::{run, run_summary};
use bulwark_lab::scenario::{self, LoadedScenario, Override};

fn default_with(sets: &[&str]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::parse(
        scenario::DEFAULT_SCENARIO_TOML,
        "test",
        PathBuf::from("."),
        &overrides,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_summary_only_run_gives_the_full_runs_summary() {
    // Into the drop, so liquidations, rejections and notes all happen: every kind of event
    // row a full run would list.
    let l = default_with(&["agents.traders.count=300", "duration_s=100800"]);
    let full = run(&l, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let lean = run_summary(&l, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let s = &full.summary;
    assert!(
        s.liquidations.count > 0 && !s.commands_rejected.is_empty(),
        "a busy run"
    );
    assert!(!full.sim.metrics.events.is_empty() && !full.sim.samples.rows.is_empty());
    assert!(lean.sim.samples.rows.is_empty(), "no samples built");
    assert!(
        lean.sim.metrics.events.len() < full.sim.metrics.events.len(),
        "event rows skipped"
    );
    assert_eq!(summary_json(&lean.summary), summary_json(s));
    assert_eq!(lean.summary.final_state_hash, s.final_state_hash);
    assert_eq!(
        bulwark_engine::state_hash_hex(&lean.sim.venue.engine),
        bulwark_engine::state_hash_hex(&full.sim.venue.engine)
    );
}
