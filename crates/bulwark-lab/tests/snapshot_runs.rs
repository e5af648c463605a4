//! Runs from snapshots: the example snapshot loads, passes every invariant and runs through
//! the start of the March-2020 shock; a snapshot written at the end of one run starts another.

use std::path::{Path, PathBuf};

use bulwark_engine::{AccountId, MarketId};
use bulwark_lab::run::{run, Outcome};
use bulwark_lab::scenario::{self, LoadedScenario, Override};
use bulwark_lab::snapshot::write_snapshot;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn load(sets: &[String]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    let file = scenarios().join("snapshot_example.toml");
    scenario::load_file(&file, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn quiet_run(l: &LoadedScenario) -> Outcome {
    run(l, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_example_snapshot_runs_and_resumes_from_its_own_snapshot() {
    let short = vec!["duration_s=1800".to_string()];
    let out = quiet_run(&load(&short));
    let e = &out.sim.venue.engine;
    e.check_invariants().unwrap();
    // No synthetic traders: the open interest is the snapshot's (and the makers' trades).
    assert!(e.market(MarketId(0)).unwrap().open_interest.lots() > 100_000);
    let traders = out.sim.agents().filter(|a| a.kind() == "trader").count();
    assert_eq!(traders, 0);
    // Write the state at the end and start a second run from it.
    let dir = tempfile::tempdir().unwrap();
    let name = |id: AccountId| format!("acct-{}", id.0);
    write_snapshot(e, dir.path(), &name).unwrap();
    let mut sets = short.clone();
    sets.push(format!("snapshot.dir=\"{}\"", dir.path().display()));
    let resumed = quiet_run(&load(&sets));
    resumed.sim.venue.engine.check_invariants().unwrap();
    let positions = std::fs::read_to_string(dir.path().join("positions.csv")).unwrap();
    assert!(positions.lines().count() > 150, "{positions}");
}

#[test]
fn a_bad_snapshot_stops_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("venue.json"), "{}").unwrap();
    std::fs::write(
        dir.path().join("accounts.csv"),
        "account_id,collateral_usd\na,1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("positions.csv"),
        "account_id,market,qty_units,entry_price,mode,isolated_margin_usd\na,ETH-PERP,1,1,cross,0\n",
    )
    .unwrap();
    let sets = vec![format!("snapshot.dir=\"{}\"", dir.path().display())];
    let err = match run(&load(&sets), &mut |_| {}) {
        Err(e) => e,
        Ok(_) => panic!("a bad snapshot ran"),
    };
    assert!(
        err.contains("positions.csv line 2, market: unknown market `ETH-PERP`"),
        "{err}"
    );
}
