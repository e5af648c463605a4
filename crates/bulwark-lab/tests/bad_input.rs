//! Bad input gets an error that says what to fix, never nonsense or a panic: agents whose
//! set-up fails, historical data with shifted bars or whole-body bad prints, runs too big to
//! start blind, and output folders that must never end up half old, half new.

use std::fs;
use std::path::{Path, PathBuf};

use bulwark_lab::data::{write_simple_csv, Bar};
use bulwark_lab::output::{dir_name, summary_json, Staging};
use bulwark_lab::run::{prepare, run, run_to_dir, RunEstimate};
use bulwark_lab::scenario::{self, LoadedScenario, Override, DEFAULT_SCENARIO_TOML};

fn load(text: &str, base: &Path, sets: &[&str]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::parse(text, "test", base.to_path_buf(), &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn default_with(sets: &[&str]) -> LoadedScenario {
    load(DEFAULT_SCENARIO_TOML, Path::new("."), sets)
}

const MIN: u64 = 60_000;

/// Two hours of one-minute bars from 7,000, gently rising.
fn minute_bars() -> Vec<Bar> {
    (0..120)
        .map(|i| {
            let p = 7_000.0 + i as f64;
            Bar {
                open_time_ms: 1_583_928_000_000 + i * MIN,
                open: p,
                high: p + 3.0,
                low: p - 3.0,
                close: p + 1.0,
                volume: 1.0,
            }
        })
        .collect()
}

/// A small historical scenario over `bars`, written beside it in `dir`.
fn historical(dir: &Path, bars: &[Bar], extra: &str) -> LoadedScenario {
    let csv = dir.join("bars.csv");
    write_simple_csv(&csv, bars).unwrap();
    let text = format!(
        "name = \"replay\"\n[path]\nkind = \"historical\"\n[path.historical]\ncsv = \"bars.csv\"\n{extra}\n"
    );
    load(
        &text,
        dir,
        &[
            "agents.traders.count=20",
            "agents.traders.entry_window_s=600",
            "agents.keepers.count=2",
        ],
    )
}

#[test]
fn an_agent_whose_deposit_is_refused_stops_the_run_naming_it() {
    // Twenty makers of 1e11 USD each pass their own rule, but together exceed the engine's
    // bound on all collateral (1e12 USD): a maker's deposit is refused.
    let l = default_with(&[
        "duration_s=600",
        "agents.traders.count=10",
        "agents.market_makers.count=20",
        "agents.market_makers.capital_usd=1e11",
    ]);
    let e = run(&l, &mut |_| {}).err().expect("the run must not start");
    assert!(
        e.contains("market_maker") && e.contains("agents.market_makers.capital_usd"),
        "{e}"
    );
    assert!(e.contains("total collateral"), "{e}");
}

#[test]
fn a_bar_shifted_by_30_s_is_an_error_naming_file_and_bar() {
    let dir = tempfile::tempdir().unwrap();
    let mut bars = minute_bars();
    bars[50].open_time_ms -= 30_000;
    let e = prepare(&historical(dir.path(), &bars, "")).expect_err("shifted bar");
    assert!(
        e.contains("bars.csv") && e.contains("bar 51") && e.contains("30000 ms off"),
        "{e}"
    );
}

#[test]
fn whole_body_bad_prints_are_an_error_or_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut bars = minute_bars();
    for (i, p) in [(30, 1e-7), (80, 1e9)] {
        let b = &mut bars[i];
        (b.open, b.high, b.low, b.close) = (p, p, p, p);
    }
    let e = prepare(&historical(dir.path(), &bars, "")).expect_err("bad prints");
    assert!(
        e.contains("2 whole-body bad print(s)") && e.contains("outlier_bars = \"drop\""),
        "{e}"
    );
    let l = historical(dir.path(), &bars, "outlier_bars = \"drop\"");
    let outcome = run(&l, &mut |_| {}).unwrap();
    let s = &outcome.summary;
    let dropped: Vec<(u64, f64)> = s
        .data_repairs
        .iter()
        .filter(|r| r.action == "dropped")
        .map(|r| (r.open_time_ms, r.was))
        .collect();
    assert_eq!(
        dropped,
        vec![(bars[30].open_time_ms, 1e-7), (bars[80].open_time_ms, 1e9)]
    );
    assert!(summary_json(s).contains("\"data_repairs\""));
    assert!(s.price.outside_min > 6_000.0 && s.conservation.ok);
}

#[test]
fn a_clean_run_has_no_repairs_in_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&historical(dir.path(), &minute_bars(), ""), &mut |_| {}).unwrap();
    assert!(outcome.summary.data_repairs.is_empty());
    assert!(!summary_json(&outcome.summary).contains("data_repairs"));
}

#[test]
fn a_big_run_is_estimated_before_it_starts() {
    let path = prepare(&default_with(&[])).unwrap().path;
    let default = RunEstimate::of(&default_with(&[]).scenario, &path);
    assert!(!default.is_big(), "{default}");
    assert!(default.cpu_s > 0.5 && default.cpu_s < 3.0, "{default}");
    let crowd = RunEstimate::of(
        &default_with(&["agents.traders.count=1000000"]).scenario,
        &path,
    );
    assert!(crowd.is_big());
    assert!(crowd.memory_mb > 1_000.0, "{crowd}");
    let text = crowd.to_string();
    assert!(
        text.contains("MB") && text.contains("1000013 agents"),
        "{text}"
    );
}

fn small() -> LoadedScenario {
    default_with(&["duration_s=1200", "agents.traders.count=20"])
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_failed_run_leaves_the_previous_results_whole() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("res");
    run_to_dir(&small(), &out, &mut |_| {}).unwrap();
    let old_summary = fs::read(out.join("summary.json")).unwrap();
    // A run that fails after it started writing: staged files are dropped with it.
    {
        let staging = Staging::begin(&out).unwrap();
        fs::write(staging.dir().join("summary.json"), "new, never finished").unwrap();
    }
    assert_eq!(fs::read(out.join("summary.json")).unwrap(), old_summary);
    assert_eq!(names_in(root.path()), vec!["res"], "no staging folder left");
    // A run whose agents cannot be set up: it fails before anything is replaced.
    let bad = default_with(&[
        "duration_s=600",
        "agents.market_makers.count=20",
        "agents.market_makers.capital_usd=1e11",
    ]);
    assert!(run_to_dir(&bad, &out, &mut |_| {}).is_err());
    assert_eq!(fs::read(out.join("summary.json")).unwrap(), old_summary);
    assert_eq!(names_in(root.path()), vec!["res"]);
    // A successful run replaces the folder whole.
    let (outcome, written) = run_to_dir(
        &default_with(&["duration_s=600", "agents.traders.count=20"]),
        &out,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(written.summary, out.join("summary.json"));
    let new_summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert_eq!(new_summary, summary_json(&outcome.summary));
    assert_eq!(
        names_in(&out),
        vec![
            "breakers.csv",
            "events.csv",
            "report.html",
            "summary.json",
            "timeseries.csv"
        ]
    );
}

#[test]
fn a_folder_with_other_files_is_never_replaced() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("notes.txt"), "mine").unwrap();
    let e = Staging::begin(root.path()).unwrap_err().to_string();
    assert!(e.contains("notes.txt") && e.contains("--out"), "{e}");
    assert!(root.path().join("notes.txt").is_file());
}

#[test]
fn an_io_error_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let e = Staging::begin(&file).unwrap_err().to_string();
    assert!(e.contains("a-file") && e.contains("not a folder"), "{e}");
    let under_a_file: PathBuf = file.join("res");
    let e = run_to_dir(&small(), &under_a_file, &mut |_| {})
        .err()
        .expect("cannot write under a file");
    assert!(e.contains("a-file"), "{e}");
}

#[test]
fn folder_names_from_free_text_stay_inside_their_parent() {
    for (text, want) in [
        ("march-2020", "march-2020"),
        ("../../etc", "_._.._etc"),
        ("/abs/path", "_abs_path"),
        ("..", "_."),
        ("", "_"),
        (
            "venue.native_liquidation=true",
            "venue.native_liquidation=true",
        ),
        ("a b\\c", "a_b_c"),
    ] {
        let name = dir_name(text);
        assert_eq!(name, want, "{text}");
        let joined = Path::new("lab-out").join(&name);
        assert_eq!(joined.parent(), Some(Path::new("lab-out")), "{text}");
        assert_eq!(joined.components().count(), 2, "{text}");
    }
}
