//! The `bulwark lab run` and `bulwark data fetch` command lines: results, errors that say what
//! to fix, and the built-in default scenario from any directory.

use std::path::Path;
use std::process::{Command, Output};

fn bulwark(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn lab_run_from_any_directory_uses_the_built_in_default_and_writes_results() {
    let dir = tempfile::tempdir().unwrap();
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "run",
            "--quiet",
            "--set",
            "duration_s=1800",
            "--set",
            "agents.traders.count=50",
            "--out",
            "res",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("embedded default scenario"), "{out}");
    assert!(
        out.contains("Bad debt (total)") && out.contains("report"),
        "{out}"
    );
    for file in [
        "summary.json",
        "timeseries.csv",
        "events.csv",
        "report.html",
    ] {
        assert!(
            dir.path().join("res").join(file).is_file(),
            "{file} missing"
        );
    }
}

#[test]
fn lab_run_bad_set_key_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = bulwark(
        dir.path(),
        &["lab", "run", "--set", "market.maintenanse=8000"],
    );
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("--set market.maintenanse") && out.contains("unknown field"),
        "{out}"
    );
}

#[test]
fn lab_run_unknown_field_in_a_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "name = \"bad\"\n[chain]\nblock_sec = 12\n").unwrap();
    let o = bulwark(dir.path(), &["lab", "run", file.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("bad.toml") && out.contains("line 3") && out.contains("block_sec"),
        "{out}"
    );
}

#[test]
fn data_fetch_rejects_a_bad_date_before_any_download() {
    let dir = tempfile::tempdir().unwrap();
    let o = bulwark(
        dir.path(),
        &[
            "data",
            "fetch",
            "--symbol",
            "BTCUSDT",
            "--from",
            "2020-13-01",
            "--to",
            "2020-03-13",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("--from"), "{}", text(&o));
}

#[test]
fn lab_run_compare_adds_a_table_and_writes_each_variant() {
    let dir = tempfile::tempdir().unwrap();
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "run",
            "--quiet",
            "--set",
            "duration_s=1800",
            "--set",
            "agents.traders.count=50",
            "--out",
            "res",
            "--compare",
            "venue.native_liquidation=true",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let variant = dir
        .path()
        .join("res/compare/venue.native_liquidation=true/summary.json");
    assert!(variant.is_file());
    let html = std::fs::read_to_string(dir.path().join("res/report.html")).unwrap();
    assert!(html.contains("venue.native_liquidation=true") && html.contains("as run"));
}

#[test]
fn data_fetch_from_an_unreachable_archive_says_where_it_tried() {
    let dir = tempfile::tempdir().unwrap();
    let o = bulwark(
        dir.path(),
        &[
            "data",
            "fetch",
            "--symbol",
            "BTCUSDT",
            "--from",
            "2020-03-11",
            "--to",
            "2020-03-11",
            "--base-url",
            "http://127.0.0.1:9",
            "--cache",
            "c",
        ],
    );
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("fetching BTCUSDT 1m from http://127.0.0.1:9"),
        "{out}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    // `bulwark lab run | head -1`: the pipe closes before the headline is written. The run
    // still writes its files and exits 0, with no panic about a broken pipe.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args([
            "lab",
            "run",
            "--quiet",
            "--set",
            "duration_s=600",
            "--set",
            "agents.traders.count=20",
            "--out",
            "res",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take()); // the reader goes away at once
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(dir.path().join("res/summary.json").exists());
}

/// Arguments of a short run: half an hour, fifty traders.
const SHORT: [&str; 5] = [
    "run",
    "--quiet",
    "--set",
    "duration_s=1800",
    "--set=agents.traders.count=50",
];

fn lab(cwd: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["lab"];
    args.extend(SHORT);
    args.extend(extra);
    bulwark(cwd, &args)
}

#[test]
fn a_bad_field_is_an_error_naming_it_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let o = lab(
        dir.path(),
        &[
            "--set",
            "agents.market_makers.capital_usd=nan",
            "--out",
            "res",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("agents.market_makers.capital_usd") && out.contains("(0, 1e11]"),
        "{out}"
    );
    assert!(!dir.path().join("res").exists(), "nothing written");
}

#[test]
fn lab_run_compare_with_a_bad_key_fails_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let o = lab(
        dir.path(),
        &["--out", "res", "--compare", "venue.native_liquidaton=true"],
    );
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("--compare venue.native_liquidaton=true") && out.contains("unknown field"),
        "{out}"
    );
    assert!(
        !out.contains("Bad debt"),
        "the main run did not start: {out}"
    );
    assert!(!dir.path().join("res").exists());
    assert!(started.elapsed().as_secs_f64() < 5.0);
}

#[test]
fn a_failed_run_never_leaves_a_new_summary_beside_an_old_report() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["--set", "agents.market_makers.count=20", "--out", "res"];
    let o = lab(dir.path(), &sets);
    assert!(o.status.success(), "{}", text(&o));
    let summary = dir.path().join("res/summary.json");
    let old = std::fs::read(&summary).unwrap();
    // The main run succeeds; its variant's makers cannot all deposit 1e11 USD: the command
    // fails after the main run, and nothing of it reaches `res`.
    let mut failing = sets.to_vec();
    failing.extend([
        "--set",
        "seed=2",
        "--compare",
        "agents.market_makers.capital_usd=100000000000",
    ]);
    let o = lab(dir.path(), &failing);
    assert!(!o.status.success());
    assert!(text(&o).contains("market_maker"), "{}", text(&o));
    assert_eq!(
        std::fs::read(&summary).unwrap(),
        old,
        "the old summary stays"
    );
    assert!(!dir.path().join("res/compare").exists());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["res"], "no staging folder left behind");
}

#[test]
fn the_output_stays_inside_lab_out_whatever_the_scenario_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("work");
    std::fs::create_dir(&inner).unwrap();
    let file = inner.join("escape.toml");
    std::fs::write(&file, "name = \"../../escaped\"\n").unwrap();
    let o = lab(&inner, &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let mut top: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        vec!["work"],
        "nothing written above the working folder"
    );
    let runs: Vec<String> = std::fs::read_dir(inner.join("lab-out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(runs.len(), 1);
    assert!(inner
        .join("lab-out")
        .join(&runs[0])
        .join("summary.json")
        .is_file());
}

#[test]
fn an_output_folder_that_cannot_be_made_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "a file").unwrap();
    let o = lab(dir.path(), &["--out", "taken/res"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(out.contains("taken"), "{out}");
    assert!(!out.contains("Bad debt"), "nothing ran: {out}");
}

#[test]
fn lab_compare_runs_paired_variants_and_reports_them() {
    let dir = tempfile::tempdir().unwrap(); // ok: test
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "compare",
            "--vary",
            "market.maintenance=5000,10000",
            "--seeds",
            "2",
            "--set",
            "duration_s=1800",
            "--set",
            "agents.traders.count=40",
            "--out",
            "cmp",
            "--quiet",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("4 runs in"), "{out}");
    let csv = std::fs::read_to_string(dir.path().join("cmp/runs.csv")).unwrap(); // ok: test
    assert!(csv.starts_with("run,set,seed_index,seed,variant,"), "{csv}");
    assert!(csv.contains("market.maintenance=10000"), "{csv}");
    let html = std::fs::read_to_string(dir.path().join("cmp/report.html")).unwrap(); // ok: test
    assert!(html.contains("Against the baseline (market.maintenance=5000)"));
}

#[test]
fn lab_sweep_and_compare_errors_name_what_to_fix_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap(); // ok: test
    let o = bulwark(
        dir.path(),
        &["lab", "compare", "--vary", "market.maintenance=5000"],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("give at least two values"),
        "{}",
        text(&o)
    );
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"s\"\nseeds = 2\n[grid]\n\"market.maintenanc\" = [1, 2]\n",
    )
    .unwrap(); // ok: test
    let o = bulwark(dir.path(), &["lab", "sweep", "s.toml", "--out", "o"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("market.maintenanc") && out.contains("unknown field"),
        "{out}"
    );
    assert!(
        !dir.path().join("o").exists(),
        "nothing is written before every set loads"
    );
    let o = bulwark(dir.path(), &["lab", "sweep", "s.toml", "--shard", "3/3"]);
    assert!(
        text(&o).contains("--shard 3/3: expected i/n"),
        "{}",
        text(&o)
    );
}

#[test]
fn lab_stress_runs_each_regime_of_a_data_folder_and_the_calibrated_shock() {
    let dir = tempfile::tempdir().unwrap(); // ok: test
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap(); // ok: test
                                         // 48 hourly bars: flat at 30,000, then a 30% fall over six hours.
    let mut csv = String::from("open_time_ms,open,high,low,close,volume\n");
    let mut price = 30_000.0f64;
    for h in 0..48u64 {
        let next = if (20..26).contains(&h) {
            price * 0.94
        } else {
            price
        };
        let (hi, lo) = (price.max(next) * 1.001, price.min(next) * 0.999);
        csv.push_str(&format!(
            "{},{price},{hi},{lo},{next},1\n",
            1_600_000_000_000 + h * 3_600_000
        ));
        price = next;
    }
    std::fs::write(data.join("crash_1h.csv"), csv).unwrap(); // ok: test
    std::fs::write(data.join("notes.csv"), "a,b\n1,2\n").unwrap(); // ok: test
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "stress",
            "--data",
            "data",
            "--seeds",
            "2",
            "--set",
            "duration_s=7200",
            "--set",
            "agents.traders.count=30",
            "--out",
            "st",
            "--quiet",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("skipped data/notes.csv: not price bars"),
        "{out}"
    );
    assert!(out.contains("1 historical regime(s)"), "{out}");
    assert!(out.contains("March 2020 (calibrated shock)"), "{out}");
    assert!(out.contains("crash_1h 2020-09-13 (48 h, -31%)"), "{out}");
    let html = std::fs::read_to_string(dir.path().join("st/report.html")).unwrap(); // ok: test
    assert!(html.contains("Loss quantiles per parameter set"));
    assert!(
        !html.contains("Against the baseline"),
        "regimes are not paired settings"
    );
    assert!(dir.path().join("st/regimes").read_dir().unwrap().count() == 1); // ok: test
}

#[test]
fn lab_run_writes_a_snapshot_that_a_later_run_starts_from() {
    let dir = tempfile::tempdir().unwrap(); // ok: test
    let first = bulwark(
        dir.path(),
        &[
            "lab",
            "run",
            "--quiet",
            "--set",
            "duration_s=1800",
            "--set",
            "agents.traders.count=40",
            "--out",
            "r1",
            "--snapshot-out",
            "snap",
        ],
    );
    assert!(first.status.success(), "{}", text(&first));
    for f in ["accounts.csv", "positions.csv", "orders.csv", "venue.json"] {
        assert!(dir.path().join("snap").join(f).is_file(), "{f} missing");
    }
    let second = bulwark(
        dir.path(),
        &[
            "lab",
            "run",
            "--quiet",
            "--set",
            "duration_s=600",
            "--set",
            "agents.traders.count=10",
            "--set",
            "snapshot.dir=\"snap\"",
            "--out",
            "r2",
        ],
    );
    let out = text(&second);
    assert!(second.status.success(), "{out}");
    assert!(
        out.contains("Conservation") && out.contains("holds"),
        "{out}"
    );
}

/// A tune file over the shipped split, cut to a few seconds: 2 candidates on one seed of
/// 5 simulated minutes of the March-2020 tuning scenario, 1 paired seed per held-out scenario.
fn tiny_tune(dir: &Path, tuning: &str) -> std::path::PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let text = format!(
        r#"name = "cli-tune"
scenarios = [{:?}]
heldout = {:?}
fit_data = {:?}
[set]
duration_s = 300
"agents.traders.count" = 20
"agents.lps.count" = 2
[objective]
insurance_es_level = 0.5
[search]
candidates = 2
rungs = [1]
[space.uniform]
"market.maintenance" = [4000, 9000]
[judge]
seeds = 1
"#,
        shipped.join(tuning),
        shipped.join("heldout"),
        shipped.join("fit-data.toml")
    );
    let file = dir.join("tune.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn lab_tune_writes_tuned_params_that_a_scenario_runs_and_judges_on_held_out_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = tiny_tune(dir.path(), "tune/march_2020.toml");
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "tune",
            file.to_str().unwrap(),
            "--quiet",
            "--out",
            "t",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Held-out judgement"), "{out}");
    for name in ["october_2025", "regime_btc_5m", "garch_btc_5m"] {
        for variant in ["default", "tuned"] {
            let row = out
                .lines()
                .any(|l| l.starts_with(name) && l.contains(variant));
            assert!(row, "{name} / {variant}: {out}");
        }
        assert!(dir
            .path()
            .join("t/heldout")
            .join(name)
            .join("report.html")
            .is_file());
    }
    let tuned = std::fs::read_to_string(dir.path().join("t/tuned.toml")).unwrap();
    assert!(tuned.contains("\"market.maintenance\" = "), "{tuned}");
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"tuned-run\"\nparams = \"t/tuned.toml\"\n",
    )
    .unwrap();
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "run",
            "s.toml",
            "--quiet",
            "--set",
            "duration_s=300",
            "--set",
            "agents.traders.count=20",
            "--out",
            "r",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn lab_tune_refuses_a_held_out_scenario_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let file = tiny_tune(dir.path(), "heldout/garch_btc_5m.toml");
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "tune",
            file.to_str().unwrap(),
            "--quiet",
            "--out",
            "t",
        ],
    );
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("error: ") && out.contains("garch_btc_5m.toml") && out.contains("fingerprint"),
        "{out}"
    );
    assert!(!dir.path().join("t").exists(), "nothing ran");
}

#[test]
fn lab_compare_risk_manager_runs_static_tuned_and_controlled_variants() {
    let dir = tempfile::tempdir().unwrap(); // ok: test
    std::fs::write(
        dir.path().join("tuned.toml"),
        "\"market.maintenance\" = 8000\n",
    )
    .unwrap(); // ok: test
    let o = bulwark(
        dir.path(),
        &[
            "lab",
            "compare",
            "--risk-manager",
            "--tuned",
            "tuned.toml",
            "--seeds",
            "2",
            "--set",
            "duration_s=3600",
            "--set",
            "agents.traders.count=40",
            "--set",
            "controller.paths=5",
            "--out",
            "rm",
            "--quiet",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("8 runs in"), "{out}");
    let csv = std::fs::read_to_string(dir.path().join("rm/runs.csv")).unwrap(); // ok: test
    for name in [
        "static",
        "tuned static",
        "controller",
        "controller + proactive breaker",
    ] {
        assert!(csv.contains(&format!(",{name},")), "{name} missing: {csv}");
    }
    assert!(csv.lines().next().unwrap().contains("controller_hours")); // ok: test
    assert!(out.contains("controller VaR 95% backtest"), "{out}");
    // A tuned file that is not there is an error naming it, before anything runs.
    let o = bulwark(
        dir.path(),
        &["lab", "compare", "--risk-manager", "--tuned", "nope.toml"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("nope.toml"), "{}", text(&o));
}
