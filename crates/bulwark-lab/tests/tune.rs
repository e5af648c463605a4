//! The tuner in the lab: the held-out split enforced by data fingerprint, the same bytes
//! whatever the thread count, resuming without running finished runs again, and the
//! committed fit-data list matching the shared data.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bulwark_lab::tune::{self, fingerprint::FitData, TuneOptions};

/// A tuning scenario: the March-2020 shock (every field default).
const TUNING: &str = "name = \"t-shock\"\n[path]\nkind = \"calibrated_shock\"\n";

/// A held-out scenario: the October-2025 jump process.
const HELDOUT: &str =
    "name = \"h-oct\"\n[path]\nkind = \"synthetic\"\n[path.synthetic]\npreset = \"october_2025\"\n";

/// A tiny tune: 3 candidates, rungs of 1 and 2 seeds, 5 simulated minutes with 20 traders,
/// one further seed for the chosen candidate's insurance fund, 2 paired seeds on the
/// held-out side: 3 + 2 tuning runs, 1 insurance run and 4 held-out runs.
const TUNE: &str = r#"
name = "tiny"
seed = 5
scenarios = ["tune"]
[set]
duration_s = 300
"agents.traders.count" = 20
"agents.lps.count" = 2
[objective]
insurance_es_level = 0.9
insurance_seeds = 3
[search]
candidates = 3
rungs = [1, 2]
eta = 2
[space.uniform]
"market.maintenance" = [4000, 12000]
[space.choice]
"market.defences.halt.enabled" = [false, true]
[judge]
seeds = 2
"#;

/// A tune folder: `tune.toml`, `tune/`, `heldout/`, an empty `fit-data.toml`.
fn folder(tune: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir"); // ok: test
    let p = dir.path();
    fs::create_dir_all(p.join("tune")).expect("mkdir"); // ok: test
    fs::create_dir_all(p.join("heldout")).expect("mkdir"); // ok: test
    fs::write(p.join("tune.toml"), tune).expect("write"); // ok: test
    fs::write(p.join("tune/shock.toml"), TUNING).expect("write"); // ok: test
    fs::write(p.join("heldout/oct.toml"), HELDOUT).expect("write"); // ok: test
    fs::write(p.join("fit-data.toml"), "[files]\n").expect("write"); // ok: test
    dir
}

fn load_err(dir: &Path) -> String {
    tune::load(&dir.join("tune.toml")).expect_err("the tune must be refused") // ok: test
}

#[test]
fn a_heldout_scenario_given_to_the_tuner_is_an_error_even_renamed() {
    // Named directly.
    let dir = folder(&TUNE.replace("[\"tune\"]", "[\"tune\", \"heldout/oct.toml\"]"));
    let err = load_err(dir.path());
    assert!(
        err.contains("heldout/oct.toml") && err.contains("fingerprint"),
        "{err}"
    );
    // A copy under another name, with another description, seed and agents: the same crash.
    let dir = folder(TUNE);
    let copy = HELDOUT.replace("h-oct", "innocent").replace(
        "[path]",
        "description = \"x\"\nseed = 77\n[agents.traders]\ncount = 99\n[path]",
    );
    fs::write(dir.path().join("tune/renamed.toml"), copy).expect("write"); // ok: test
    let err = load_err(dir.path());
    assert!(
        err.contains("tune/renamed.toml") && err.contains("heldout/oct.toml"),
        "names both files: {err}"
    );
    assert!(err.contains("fingerprint"), "{err}");
    // Another preset is another crash: allowed.
    let dir = folder(TUNE);
    let other = HELDOUT
        .replace("h-oct", "other")
        .replace("october_2025", "regime_btc_5m_oct_2025");
    fs::write(dir.path().join("tune/other.toml"), other).expect("write"); // ok: test
    tune::load(&dir.path().join("tune.toml")).expect("a different crash is allowed");
    // ok: test
}

#[test]
fn a_heldout_scenario_that_reads_fit_data_is_an_error() {
    let dir = folder(TUNE);
    let csv = "open_time_ms,open,high,low,close,volume\n\
               1583971200000,7938.05,7969.45,4644.0,4857.1,0\n\
               1584057600000,4857.1,5995.0,3858.0,5637.6,0\n";
    fs::write(dir.path().join("heldout/bars.csv"), csv).expect("write"); // ok: test
    let hash = blake3::hash(csv.as_bytes()).to_hex().to_string();
    fs::write(
        dir.path().join("fit-data.toml"),
        format!("[files.\"bars.csv\"]\nblake3 = \"{hash}\"\nused_for = \"a test fit\"\n"),
    )
    .expect("write"); // ok: test
    let replay = "name = \"h-replay\"\nstep_ms = 60000\n[path]\nkind = \"historical\"\n\
                  [path.historical]\ncsv = \"bars.csv\"\n";
    fs::write(dir.path().join("heldout/replay.toml"), replay).expect("write"); // ok: test
    let err = load_err(dir.path());
    assert!(
        err.contains("heldout/replay.toml") && err.contains("bars.csv") && err.contains("fit data"),
        "{err}"
    );
}

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn opts(threads: usize) -> TuneOptions {
    TuneOptions {
        threads,
        binary_hash: "test-build".into(),
    }
}

/// Every file whose bytes must not depend on the thread count or on a resume.
fn outputs(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![
        PathBuf::from("tuned.toml"),
        PathBuf::from("search.csv"),
        PathBuf::from("heldout.csv"),
        PathBuf::from("rung-0/runs.csv"),
        PathBuf::from("rung-1/runs.csv"),
        PathBuf::from("heldout/oct/runs.csv"),
        PathBuf::from("insurance/runs.csv"),
    ];
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let bytes = fs::read(out.join(&f)).unwrap_or_else(|e| panic!("{}: {e}", f.display())); // ok: test
            (f, bytes)
        })
        .collect()
}

#[test]
fn a_tiny_tune_gives_the_same_bytes_on_one_and_two_threads_and_resumes() {
    let dir = folder(TUNE);
    let t = tune::load(&dir.path().join("tune.toml")).expect("the tiny tune loads"); // ok: test
    let one = dir.path().join("out-1");
    let a = tune::run_tune(&t, &one, &opts(1), &|_, _| {}).expect("the tune runs"); // ok: test
    assert_eq!((a.ran, a.skipped), (3 + 2 + 1 + 4, 0));
    assert_eq!(a.insurance.runs, 3, "2 from the rungs, 1 of its own");
    assert!(a.insurance.es_usd.is_some());
    let two = dir.path().join("out-2");
    tune::run_tune(&t, &two, &opts(2), &|_, _| {}).expect("the tune runs"); // ok: test
    let reference = outputs(&one);
    assert_eq!(reference, outputs(&two), "1 and 2 threads: the same bytes");

    // The tuned file loads as a scenario's params and names the chosen values.
    let tuned = fs::read_to_string(one.join("tuned.toml")).expect("tuned.toml"); // ok: test
    assert!(tuned.contains("\"market.maintenance\" = "), "{tuned}");
    assert!(
        tuned.contains("\"venue.insurance_seed_usd\" = \""),
        "{tuned}"
    );
    fs::copy(one.join("tuned.toml"), dir.path().join("tune/tuned.toml")).expect("copy"); // ok: test
    let scenario = dir.path().join("with-params.toml");
    fs::write(&scenario, "name = \"p\"\nparams = \"tune/tuned.toml\"\n").expect("write"); // ok: test
    let loaded = bulwark_lab::scenario::load_file(&scenario, &[]).expect("params load"); // ok: test
    let maintenance = a.chosen.values[0].1.as_integer().expect("an integer"); // ok: test
    assert_eq!(loaded.scenario.market.maintenance.raw(), maintenance);

    // Run again: everything is found done. Then lose part of rung 0's resume log: only those
    // runs are made again, and every output keeps its bytes.
    let again = tune::run_tune(&t, &one, &opts(2), &|_, _| {}).expect("resumes"); // ok: test
    assert_eq!((again.ran, again.skipped), (0, 10));
    let log = one.join("rung-0/runs.partial.csv");
    let text = fs::read_to_string(&log).expect("the resume log"); // ok: test
    let kept: Vec<&str> = text.lines().take(2).collect(); // the header and one run
    fs::write(&log, kept.join("\n") + "\n").expect("write"); // ok: test
    fs::remove_file(one.join("rung-0/runs.csv")).expect("remove"); // ok: test
    let resumed = tune::run_tune(&t, &one, &opts(2), &|_, _| {}).expect("resumes"); // ok: test
    assert_eq!((resumed.ran, resumed.skipped), (2, 8));
    assert_eq!(reference, outputs(&one), "a resumed tune: the same bytes");
}

#[test]
fn the_committed_fit_data_list_matches_the_shared_data() {
    let list = FitData::load(&repo_root().join("scenarios/fit-data.toml"))
        .expect("scenarios/fit-data.toml loads"); // ok: test
    assert!(
        list.files.len() >= 5,
        "every fit-data file of scenarios/README.md"
    );
    let readme = fs::read_to_string(repo_root().join("scenarios/README.md")).expect("README"); // ok: test
    for name in list.files.keys() {
        assert!(
            readme.contains(name.as_str()),
            "{name} is listed as fit data in the README"
        );
    }
    let Some(data) = common::data_dir() else {
        return;
    };
    // Every mismatch at once, with the hash to commit.
    let wrong: Vec<String> = list
        .files
        .iter()
        .filter_map(|(name, entry)| {
            let hash = tune::fingerprint::file_hash(&data.join(name)).expect("the file"); // ok: test
            (hash != entry.blake3).then(|| format!("{name}: blake3 = \"{hash}\""))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "fit-data.toml is stale:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_shipped_tune_files_load_and_keep_the_split() {
    for file in ["scenarios/tune.toml", "scenarios/tune-bench.toml"] {
        let t = tune::load(&repo_root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}")); // ok: test
        assert_eq!(t.candidates.len(), 50, "{file}");
        assert_eq!(t.heldout.len(), 3, "{file}");
        assert!(
            t.heldout.iter().all(|h| h.fingerprint.files.is_empty()),
            "synthetic held-out"
        );
    }
    // The shipped held-out scenarios, given as tuning scenarios, are refused.
    let dir = tempfile::tempdir().expect("tempdir"); // ok: test
    let shipped = repo_root().join("scenarios");
    let text = fs::read_to_string(shipped.join("tune.toml")).expect("tune.toml"); // ok: test
    let text = text
        .replace(
            "scenarios = [\"tune\"]",
            &format!(
                "scenarios = [{:?}]",
                shipped.join("heldout/october_2025.toml")
            ),
        )
        .replace(
            "heldout = \"heldout\"",
            &format!("heldout = {:?}", shipped.join("heldout")),
        )
        .replace(
            "fit_data = \"fit-data.toml\"",
            &format!("fit_data = {:?}", shipped.join("fit-data.toml")),
        );
    fs::write(dir.path().join("t.toml"), text).expect("write"); // ok: test
    let err = tune::load(&dir.path().join("t.toml")).expect_err("refused"); // ok: test
    assert!(
        err.contains("october_2025.toml") && err.contains("fingerprint"),
        "{err}"
    );
}
