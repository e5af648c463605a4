//! Whole lab runs: the default scenario's golden summary, determinism, outputs, mechanism
//! switches, and historical replays of every kline file in the shared data directory.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use bulwark_lab::data::SIMPLE_HEADER;
use bulwark_lab::output::summary_json;
use bulwark_lab::run::{run, run_to_dir, Outcome};
use bulwark_lab::scenario::{self, LoadedScenario, Override};
use expect_test::expect_file;

fn load(text: &str, sets: &[&str]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::parse(text, "test", PathBuf::from("."), &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn default_with(sets: &[&str]) -> LoadedScenario {
    load(scenario::DEFAULT_SCENARIO_TOML, sets)
}

fn quiet_run(l: &LoadedScenario) -> Outcome {
    run(l, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// A small version of the default: 300 traders over the first 30 hours (the calm and most of
/// the drop).
const SMALL: [&str; 3] = [
    "agents.traders.count=300",
    "duration_s=108000",
    "agents.traders.entry_window_s=36000",
];

#[test]
fn default_scenario_summary_is_golden() {
    let outcome = quiet_run(&default_with(&[]));
    let s = &outcome.summary;
    assert!(s.conservation.ok, "{:?}", s.conservation.first_breach);
    assert_eq!(s.duration_s, 72.0 * 3600.0);
    assert_eq!(s.engine_steps, 72 * 3600);
    assert!(s.liquidations.count > 0, "the crash liquidates someone");
    // The vault's 2 M USD comes from its LPs; every request is either paid or still pending.
    assert_eq!((s.lps.count, s.lps.capital_usd), (20, 2_000_000.0));
    assert_eq!(s.vault.deposited_usd, 2_000_000.0);
    assert!(s.lps.requested.count > 0, "the vault's loss sets off a run");
    assert_eq!(
        s.lps.paid.count + s.lps.pending_end.count,
        s.lps.requested.count
    );
    expect_file!["golden/default_summary.json"].assert_eq(&summary_json(s));
}

#[test]
fn same_seed_same_bytes_other_seed_other_run() {
    let a = quiet_run(&default_with(&SMALL));
    let b = quiet_run(&default_with(&SMALL));
    assert_eq!(summary_json(&a.summary), summary_json(&b.summary));
    assert_eq!(a.summary.final_state_hash, b.summary.final_state_hash);
    assert_eq!(a.sim.metrics.events, b.sim.metrics.events);
    let mut sets = SMALL.to_vec();
    sets.push("seed=2");
    let c = quiet_run(&default_with(&sets));
    assert_ne!(a.summary.final_state_hash, c.summary.final_state_hash);
}

#[test]
fn outputs_are_written_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let l = default_with(&["agents.traders.count=100", "duration_s=7200"]);
    let (outcome, written) = run_to_dir(&l, dir.path(), &mut |_| {}).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&written.summary).unwrap()).unwrap();
    assert_eq!(
        summary["final_state_hash"],
        outcome.summary.final_state_hash.as_str()
    );
    let mut ts = csv::Reader::from_path(&written.timeseries).unwrap();
    let header: Vec<String> = ts.headers().unwrap().iter().map(str::to_string).collect();
    for col in [
        "t_s",
        "outside_price",
        "oracle_price",
        "mark_price",
        "insurance_fund_usd",
        "vault_equity_usd",
        "vault_share_price",
        "open_interest_usd",
        "bad_debt_cum_usd",
        "liquidations_cum",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "{col} missing from {header:?}"
        );
    }
    let rows = ts.records().count();
    assert_eq!(rows, 7200 / 10, "one row every 10 s");
    let mut ev = csv::Reader::from_path(&written.events).unwrap();
    assert_eq!(ev.headers().unwrap().get(0), Some("t_s"));
    let html = fs::read_to_string(&written.report).unwrap();
    assert!(html.contains("<svg") && html.contains("march-2020"));
}

#[test]
fn native_and_keeper_liquidation_compare_on_one_scenario() {
    let keeper = quiet_run(&default_with(&SMALL));
    let mut sets = SMALL.to_vec();
    sets.push("venue.native_liquidation=true");
    let native = quiet_run(&default_with(&sets));
    for o in [&keeper, &native] {
        assert!(
            o.summary.conservation.ok,
            "{:?}",
            o.summary.conservation.first_breach
        );
    }
    assert!(keeper.summary.liquidations.keeper_count > 0);
    // A keeper liquidation comes strictly after the account was flagged: the keeper's
    // reaction time and the chain's block time lie between.
    let events = &keeper.sim.metrics.events;
    for liq in events.iter().filter(|e| e.event == "liquidation_started") {
        let flagged = events
            .iter()
            .filter(|e| {
                e.event == "below_maintenance" && e.account == liq.account && e.t_s < liq.t_s
            })
            .map(|e| e.t_s)
            .fold(f64::NAN, f64::max);
        assert!(
            flagged < liq.t_s,
            "liquidation of {:?} at {} s without an earlier flag",
            liq.account,
            liq.t_s
        );
    }
    assert_eq!(keeper.summary.liquidations.native_count, 0);
    assert!(native.summary.liquidations.native_count > 0);
}

#[test]
fn a_chain_halt_stalls_the_oracle() {
    let base = quiet_run(&default_with(&[
        "agents.traders.count=50",
        "duration_s=7200",
    ]));
    let halted = quiet_run(&default_with(&[
        "agents.traders.count=50",
        "duration_s=7200",
        "chain.halt={ start_s = 1800, duration_s = 1800 }",
    ]));
    assert!(base.summary.oracle.max_lag_s < 120.0);
    assert!(
        halted.summary.oracle.max_lag_s >= 1800.0,
        "{}",
        halted.summary.oracle.max_lag_s
    );
    assert!(halted.summary.chain.blocks_skipped_halt >= 149);
}

/// Files whose first line is the simple bar header or a headerless Binance kline row.
fn kline_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .filter(|p| {
            let mut first = String::new();
            BufReader::new(fs::File::open(p).unwrap())
                .read_line(&mut first)
                .unwrap();
            let first = first.trim();
            first == SIMPLE_HEADER.join(",") || first.starts_with(|c: char| c.is_ascii_digit())
        })
        .collect();
    files.sort();
    files
}

/// A reduced population whose cadences follow the step, so daily bars replay at hourly steps.
fn historical(csv: &Path, step_ms: u64) -> LoadedScenario {
    let text = format!(
        "name = \"replay\"\nstep_ms = {step_ms}\n[path]\nkind = \"historical\"\n[path.historical]\ncsv = {:?}\n",
        csv.display().to_string()
    );
    let slow = step_ms > 1_000;
    let mut sets = vec![
        "agents.traders.count=100".to_string(),
        "agents.traders.entry_window_s=3600".to_string(),
        "agents.market_makers.count=3".to_string(),
        "agents.arbitrageurs.count=1".to_string(),
        "agents.keepers.count=2".to_string(),
        "metrics.invariant_check_every=20000".to_string(),
    ];
    if slow {
        for key in [
            "chain.block_ms",
            "oracle.poll_ms",
            "agents.market_makers.requote_interval_ms",
            "agents.arbitrageurs.poll_ms",
            "agents.keepers.poll_ms",
            "market.oracle_stale_ms",
        ] {
            sets.push(format!("{key}={}", 2 * step_ms));
        }
        sets.push(format!("oracle.heartbeat_s={}", step_ms / 1000));
        sets.push(format!("metrics.sample_every_s={}", step_ms / 1000));
        sets.push(format!(
            "agents.traders.entry_window_s={}",
            30 * step_ms / 1000
        ));
    }
    let refs: Vec<&str> = sets.iter().map(String::as_str).collect();
    load(&text, &refs)
}

#[test]
fn every_kline_file_replays_to_the_end_with_conservation() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let files = kline_files(&dir);
    assert!(
        files.len() >= 3,
        "expected the kline files of PROVENANCE.md, found {files:?}"
    );
    for file in &files {
        let bars = bulwark_lab::data::load_bars(file).unwrap();
        let bar_ms = bulwark_lab::path::infer_bar_ms(&bars).unwrap();
        // Minute bars at 1-second steps; daily bars at hourly steps (8 years of seconds would
        // be 275 million steps).
        let step_ms = if bar_ms >= 86_400_000 {
            3_600_000
        } else {
            1_000
        };
        let outcome = quiet_run(&historical(file, step_ms));
        let s = &outcome.summary;
        assert!(
            s.conservation.ok,
            "{}: {:?}",
            file.display(),
            s.conservation.first_breach
        );
        let span_s =
            (bars.last().unwrap().open_time_ms + bar_ms - bars[0].open_time_ms) as f64 / 1000.0;
        assert!(
            s.duration_s >= span_s - step_ms as f64 / 1000.0,
            "{}: ran {} of {span_s} s",
            file.display(),
            s.duration_s
        );
        assert!(
            s.agent_activity.trader_entries > 0,
            "{}: nobody traded",
            file.display()
        );
        println!(
            "{}: {} liquidations, bad debt {}",
            file.display(),
            s.liquidations.count,
            s.bad_debt.total_usd
        );
    }
}

#[test]
fn an_on_chain_book_delays_orders_without_doubling_them() {
    let mut sets = SMALL.to_vec();
    sets.push("chain.orders_on_chain=true");
    let o = quiet_run(&default_with(&sets));
    let s = &o.summary;
    assert!(s.conservation.ok, "{:?}", s.conservation.first_breach);
    assert!(s.agent_activity.trader_entries > 0);
    // Agents wait for an order in the mempool instead of sending it again; a few exits still
    // meet a position a liquidation closed first.
    let doubled: u64 = s
        .commands_rejected
        .iter()
        .filter(|(k, _)| k.ends_with("ReduceOnlyWouldIncrease"))
        .map(|(_, v)| v)
        .sum();
    assert!(doubled < 100, "{:?}", s.commands_rejected);
}

/// Three hours of one-minute bars from 2025-10-10 20:00 UTC with a 13-minute hole at 21:02
/// (the length of the outage that opened a real crash's file), as a simple CSV.
fn csv_with_a_gap(dir: &Path) -> PathBuf {
    let t0: u64 = 1_760_126_400_000;
    let mut text = SIMPLE_HEADER.join(",") + "\n";
    let mut price = 117_000.0f64;
    for k in 0..180u64 {
        if (62..75).contains(&k) {
            continue;
        }
        let close = price * if k % 3 == 0 { 0.998 } else { 1.001 };
        let (hi, lo) = (price.max(close) * 1.0005, price.min(close) * 0.9995);
        text += &format!("{},{price},{hi},{lo},{close},0\n", t0 + k * 60_000);
        price = close;
    }
    let file = dir.join("gap.csv");
    fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_gap_in_the_data_is_bridged_reported_and_refusable() {
    let dir = tempfile::tempdir().unwrap();
    let csv = csv_with_a_gap(dir.path());
    let outcome = quiet_run(&historical(&csv, 1_000));
    let g = &outcome.summary.data_gaps;
    assert_eq!((g.count, g.longest_s, g.total_s), (1, 780.0, 780.0));
    assert_eq!(g.longest_start_ms, 1_760_126_400_000 + 62 * 60_000);
    assert_eq!(g.gaps.len(), 1);
    // Bridged, not held: the outside price moves inside the gap.
    let path = outcome.sim.path();
    let inside = path.index_at(g.longest_start_ms)..path.index_at(g.longest_start_ms + 780_000);
    let first = path.prices[inside.start];
    assert!(path.prices[inside].iter().any(|p| *p != first));
    // The report shades it.
    let page = bulwark_lab::output::report(&outcome.sim, &outcome.summary, 0.0);
    assert!(page
        .periods
        .iter()
        .any(|p| p.kind == bulwark_report::PeriodKind::DataGap && p.end_s - p.start_s == 780.0));

    let mut strict = historical(&csv, 1_000);
    strict.scenario.path.historical.as_mut().unwrap().max_gap_s = Some(300);
    let err = bulwark_lab::run::build_path(&strict).unwrap_err();
    assert!(
        err.contains("gap of 780 s starting 2025-10-10 21:02:00 UTC")
            && err.contains("max_gap_s = 300"),
        "{err}"
    );
    strict.scenario.path.historical.as_mut().unwrap().max_gap_s = Some(780);
    assert!(bulwark_lab::run::build_path(&strict).is_ok());
}
