//! Sweeps: the same bytes whatever the thread count, the shards or an interruption.

use std::fs;
use std::path::{Path, PathBuf};

use bulwark_lab::sweep::{self, merge, LoadedSweep, Shard, SweepOptions};

/// Six short runs: two maintenance settings x three seeds, 30 simulated minutes of the default
/// scenario with 60 traders each.
const SPEC: &str = r#"
name = "test-sweep"
seeds = 3
seed = 11
[set]
duration_s = 1800
"agents.traders.count" = 60
[grid]
"market.maintenance" = [5000, 10000]
"#;

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn load(dir: &Path) -> LoadedSweep {
    let file = dir.join("sweep.toml");
    fs::write(&file, SPEC).expect("write the sweep file"); // ok: test
    sweep::load(&file, &repo_root()).expect("the test sweep loads") // ok: test
}

fn opts(threads: usize, shard: Option<Shard>) -> SweepOptions {
    SweepOptions {
        threads,
        shard,
        binary_hash: "test-build".into(),
    }
}

fn run(s: &LoadedSweep, out: &Path, o: &SweepOptions) -> sweep::SweepOutcome {
    sweep::run_sweep(s, out, o, &|_| {}).expect("the sweep runs") // ok: test
}

fn csv(dir: &Path) -> Vec<u8> {
    fs::read(dir.join("runs.csv")).expect("runs.csv") // ok: test
}

#[test]
fn threads_shards_and_resume_give_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir"); // ok: test
    let s = load(tmp.path());
    assert_eq!(s.plan.total_runs(), 6);

    let one = tmp.path().join("one-thread");
    let whole = run(&s, &one, &opts(1, None));
    assert_eq!((whole.ran, whole.skipped), (6, 0));
    let reference = csv(&one);
    let text = String::from_utf8(reference.clone()).expect("UTF-8"); // ok: test
    assert_eq!(text.lines().count(), 7, "a header and six rows:\n{text}");
    assert!(text.starts_with("run,set,seed_index,seed,market.maintenance,loss_total_usd,"));
    // Paired seeds: run 0 (set 0) and run 3 (set 1) share seed index 0 and its seed.
    let seeds: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap_or(""))
        .collect(); // ok: test
    assert_eq!(seeds[0], seeds[3]);
    assert_ne!(seeds[0], seeds[1]);

    let two = tmp.path().join("two-threads");
    run(&s, &two, &opts(2, None));
    assert_eq!(csv(&two), reference, "1 and 2 threads differ");

    let shard_dirs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let dir = tmp.path().join(format!("shard-{i}"));
            let shard = Shard { index: i, count: 3 };
            let out = run(&s, &dir, &opts(2, Some(shard)));
            assert_eq!(out.ran, 2);
            dir
        })
        .collect();
    let merged = tmp.path().join("merged");
    merge(&shard_dirs, &merged).expect("the shards merge"); // ok: test
    assert_eq!(
        csv(&merged),
        reference,
        "3 shards merged differ from a whole run"
    );

    // An interrupted sweep: two runs lost and a third cut off mid-line.
    let resumed = tmp.path().join("resumed");
    run(&s, &resumed, &opts(2, None));
    let partial = resumed.join("runs.partial.csv");
    let log = fs::read_to_string(&partial).expect("resume log"); // ok: test
    let lines: Vec<&str> = log.lines().collect();
    let mut cut = lines[..4].join("\n"); // header and three runs
    cut.push('\n');
    cut.push_str(&lines[4][..10]); // a torn line
    fs::write(&partial, cut).expect("rewrite log"); // ok: test
    fs::remove_file(resumed.join("runs.csv")).expect("remove runs.csv"); // ok: test
    let again = run(&s, &resumed, &opts(2, None));
    assert_eq!(
        (again.ran, again.skipped),
        (3, 3),
        "done runs must not run again"
    );
    assert_eq!(
        csv(&resumed),
        reference,
        "a resumed sweep differs from an uninterrupted one"
    );
}

#[test]
fn merge_refuses_other_builds_missing_and_unfinished_shards() {
    let tmp = tempfile::tempdir().expect("tempdir"); // ok: test
    let s = load(tmp.path());
    let shard = |i: u32, build: &str| {
        let dir = tmp.path().join(format!("{build}-{i}"));
        let mut o = opts(1, Some(Shard { index: i, count: 2 }));
        o.binary_hash = build.into();
        run(&s, &dir, &o);
        dir
    };
    let (a0, a1, b1) = (shard(0, "a"), shard(1, "a"), shard(1, "b"));
    let out = tmp.path().join("m");
    let err = merge(&[a0.clone(), b1], &out).unwrap_err(); // ok: test
    assert!(err.contains("different build"), "{err}");
    let err = merge(std::slice::from_ref(&a0), &out).unwrap_err(); // ok: test
    assert!(err.contains("shard 1/2 is missing"), "{err}");
    let err = merge(&[a0.clone(), a0.clone()], &out).unwrap_err(); // ok: test
    assert!(err.contains("given twice"), "{err}");
    fs::remove_file(a1.join("runs.csv")).expect("remove"); // ok: test
    let err = merge(&[a0, a1], &out).unwrap_err(); // ok: test
    assert!(err.contains("finished"), "{err}");
}

#[test]
fn a_folder_of_another_sweep_is_not_resumed_into() {
    let tmp = tempfile::tempdir().expect("tempdir"); // ok: test
    let s = load(tmp.path());
    let out = tmp.path().join("out");
    run(&s, &out, &opts(1, Some(Shard { index: 0, count: 6 })));
    let err = sweep::run_sweep(&s, &out, &opts(1, None), &|_| {}).unwrap_err(); // ok: test
    assert!(err.contains("different --shard"), "{err}");
    let mut other = opts(1, Some(Shard { index: 0, count: 6 }));
    other.binary_hash = "another".into();
    let err = sweep::run_sweep(&s, &out, &other, &|_| {}).unwrap_err(); // ok: test
    assert!(err.contains("different build"), "{err}");
}

/// The paired comparison on the same seeds: maintenance 1% against 0.5% changes the loss
/// (bigger liquidation penalties, less bad debt) and is flagged; the same setting twice gives
/// identical runs and is not.
#[test]
fn the_paired_compare_flags_a_real_difference_and_not_a_null_one() {
    let tmp = tempfile::tempdir().expect("tempdir"); // ok: test
    let file = tmp.path().join("compare.toml");
    fs::write(
        &file,
        r#"
        name = "compare"
        seeds = 12
        seed = 3
        [set]
        duration_s = 57600
        "agents.traders.count" = 150
        [[variants]]
        name = "maintenance 0.5%"
        set = { "market.maintenance" = 5000 }
        [[variants]]
        name = "maintenance 1%"
        set = { "market.maintenance" = 10000 }
        [[variants]]
        name = "maintenance 0.5% again"
        set = { "market.maintenance" = 5000 }
        "#,
    )
    .expect("write"); // ok: test
    let s = sweep::load(&file, &repo_root()).expect("loads"); // ok: test
    let out = tmp.path().join("out");
    let done = run(&s, &out, &opts(2, None));
    let html = fs::read_to_string(done.report.expect("a report")).expect("read"); // ok: test
    let verdict = html
        .split("Significant: ")
        .nth(1)
        .and_then(|t| t.split("</p>").next())
        .expect("a verdict line"); // ok: test
    assert!(
        verdict.contains("maintenance 1%: total loss"),
        "the real difference is not flagged: {verdict}"
    );
    assert!(
        !verdict.contains("again"),
        "the null difference is flagged: {verdict}"
    );
    let sets = fs::read_to_string(out.join("sets.csv")).expect("sets.csv"); // ok: test
    assert_eq!(sets.lines().count(), 4, "{sets}");
    assert!(html.contains("too few runs"), "99% figures need 1,000 runs");
}

mod common;

/// The stress suite's regimes from the real crash files: the March-2020 fall in the Coinbase
/// daily series, the 10 October 2025 crash in both Binance mark-price files; order-book depth
/// and gas files are not price bars and are named as skipped.
#[test]
fn stress_regimes_from_the_shared_crash_data() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir"); // ok: test
    let rules = sweep::stress::RegimeRules::default();
    let found = sweep::stress::find_regimes(&data, tmp.path(), &rules).expect("regimes"); // ok: test
    let names: Vec<&str> = found.regimes.iter().map(|r| r.name.as_str()).collect();
    let has = |s: &str| names.iter().any(|n| n.contains(s));
    assert!(has("coinbase_btcusd_1d 2020-03-1"), "{names:?}");
    assert!(
        has("binance_cm_btcusd_perp_markprice_1m 2025-10-09"),
        "{names:?}"
    );
    assert!(has("binance_um_btcusdt_markprice_5m 2025-10-"), "{names:?}");
    for r in &found.regimes {
        assert!(
            r.drawdown >= rules.min_drawdown && r.drawdown < 0.9,
            "{r:?}"
        );
        assert!(r.csv.is_file());
    }
    let march = found
        .regimes
        .iter()
        .find(|r| r.name.contains("2020-03-1"))
        .expect("March 2020"); // ok: test
    assert!(
        march.drawdown > 0.45,
        "the 12-13 March 2020 fall was about 50%: {march:?}"
    );
    let skipped: Vec<String> = found
        .skipped
        .iter()
        .map(|(f, _)| f.display().to_string())
        .collect();
    assert!(
        skipped.iter().any(|f| f.contains("bookdepth")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|f| f.contains("etherscan")),
        "{skipped:?}"
    );
}
