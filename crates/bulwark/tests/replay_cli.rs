//! The `bulwark replay` command line, run as a built binary: the waterfall walk visits every
//! stage in order, a replay is deterministic, a bad line applies nothing, and `--strict` stops
//! at the first rejected command.

use bulwark_engine::{AccountId, Event, Scope, Usd};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn replay_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replay")
}

/// Run `bulwark replay FILE --events EVENTS [--strict]`.
fn replay(file: &Path, events: &Path, strict: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    c.arg("replay").arg(file).arg("--events").arg(events);
    if strict {
        c.arg("--strict");
    }
    c.output().expect("the bulwark binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The 64-hex-digit state hash the summary prints.
fn printed_hash(out: &Output) -> String {
    let stdout = text(&out.stdout);
    let hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("state hash "))
        .unwrap_or_else(|| panic!("no state hash printed:\n{stdout}"))
        .trim()
        .to_string();
    assert_eq!(hash.len(), 64, "hash {hash:?}");
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "hash {hash:?}");
    hash
}

/// The records of an events file: (line of the command, the record).
fn records(path: &Path) -> Vec<(u64, Value)> {
    let body = std::fs::read_to_string(path).expect("events file written");
    body.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (v["line"].as_u64().expect("record has its line"), v)
        })
        .collect()
}

/// The records that are engine events, parsed back into `Event` (the extra `line` and `ts_ms`
/// fields are ignored).
fn events(path: &Path) -> Vec<(u64, Event)> {
    records(path)
        .into_iter()
        .filter(|(_, v)| v["event"] != "rejected")
        .map(|(line, v)| {
            let e: Event = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
            (line, e)
        })
        .collect()
}

fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}

#[test]
fn waterfall_walk_visits_every_stage_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let ev_path = dir.path().join("events.jsonl");
    let out = replay(&replay_dir().join("waterfall_walk.jsonl"), &ev_path, true);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    printed_hash(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(" 0 rejected"), "{stdout}");

    let trader = AccountId(1);
    let evs = events(&ev_path);
    // Only the trader is ever liquidated.
    for (line, e) in &evs {
        if let Event::LiquidationStarted { account, .. } | Event::Bankrupt { account, .. } = e {
            assert_eq!(*account, trader, "line {line}: {e:?}");
        }
    }
    // The stages of the trader's liquidations, in order of appearance (consecutive repeats
    // folded). A liquidation that ends outside the waterfall after closing through the book is
    // stage a (its own collateral absorbed the loss).
    let mut stages: Vec<&str> = Vec::new();
    let mut penalties = 0;
    for (_, e) in &evs {
        let stage = match e {
            Event::LiquidationPenalty { account, .. } if *account == trader => {
                penalties += 1;
                None
            }
            Event::LiquidationEnded {
                account,
                in_waterfall: false,
                ..
            } if *account == trader && penalties > 0 => Some("a"),
            Event::VaultTakeover { account, .. } if *account == trader => Some("b"),
            Event::InsurancePayout { account, .. } if *account == trader => Some("c"),
            Event::Deleveraged { bankrupt, .. } if *bankrupt == trader => Some("d"),
            // Socialized losses are paid by others, for the trader's liquidation (the only one).
            Event::SocializedLoss { .. } => Some("e"),
            Event::UncoveredLoss { account, .. } if *account == trader => Some("uncovered"),
            _ => None,
        };
        if let Some(s) = stage {
            if stages.last() != Some(&s) {
                stages.push(s);
            }
        }
    }
    assert_eq!(stages, ["a", "b", "c", "d", "e", "uncovered"]);

    // The amounts the comments of the log work out by hand.
    let has = |want: &Event| evs.iter().any(|(_, e)| e == want);
    let cross = Scope::Cross;
    assert!(has(&Event::LiquidationEnded {
        account: trader,
        scope: cross,
        equity_usd: usd("284.2"),
        maintenance_usd: usd("188"),
        in_waterfall: false,
    }));
    // b: bankrupt by 500; the vault takes the loss over.
    assert!(has(&Event::Bankrupt {
        account: trader,
        scope: cross,
        deficit_usd: usd("500"),
    }));
    assert!(has(&Event::VaultTakeover {
        account: trader,
        market: bulwark_engine::MarketId(0),
        qty: bulwark_engine::Qty::from_lots(10),
        bankruptcy_price: "900".parse().unwrap(),
        equity_usd: usd("-500"),
        loss_usd: usd("500"),
    }));
    // c + d: a deficit of 1,000 = 300 from the fund (emptied) + 700 of ADL haircut.
    assert!(has(&Event::InsurancePayout {
        account: trader,
        amount_usd: usd("300"),
        fund_after_usd: Usd::ZERO,
    }));
    let haircuts: Vec<(AccountId, Usd)> = evs
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Deleveraged {
                counterparty,
                haircut_usd,
                ..
            } => Some((*counterparty, *haircut_usd)),
            _ => None,
        })
        .collect();
    assert_eq!(haircuts, [(AccountId(4), usd("700"))]);
    // e: closed through the book at 700, the deficit is 2,000, charged to the shorts (15 and 5
    // lots, 1 lot per unit) in one event through their loss index: the step is
    // ceil(2,000e6 x 1 x 1e6 / 20) = 1e14, so they owe ceil(15 x 1e14 / 1e6) = 1,500 USD and
    // ceil(5 x 1e14 / 1e6) = 500 USD, settled when next touched.
    let social: Vec<&Event> = evs
        .iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::SocializedLoss { .. }))
        .collect();
    assert_eq!(
        social,
        [&Event::SocializedLoss {
            market: bulwark_engine::MarketId(0),
            side: bulwark_engine::PositionSide::Short,
            amount_usd: usd("2000"),
            index_step: 100_000_000_000_000,
            open_interest: bulwark_engine::Qty::from_lots(20),
        }]
    );
    assert!(has(&Event::UncoveredLoss {
        account: trader,
        amount_usd: usd("2000"),
    }));
    // Every liquidation leaves the trader's pool at zero, never negative.
    for (line, e) in &evs {
        if let Event::LiquidationEnded {
            equity_usd,
            in_waterfall: true,
            ..
        } = e
        {
            assert_eq!(*equity_usd, Usd::ZERO, "line {line}");
        }
    }
}

#[test]
fn basic_replay_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let log = replay_dir().join("basic.jsonl");
    let (ev1, ev2) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let first = replay(&log, &ev1, false);
    let second = replay(&log, &ev2, false);
    for out in [&first, &second] {
        assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    }
    assert_eq!(printed_hash(&first), printed_hash(&second));
    let (a, b) = (
        std::fs::read_to_string(&ev1).unwrap(),
        std::fs::read_to_string(&ev2).unwrap(),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "the two replays wrote different events");
}

#[test]
fn a_bad_line_names_its_number_and_field_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad.jsonl");
    std::fs::write(
        &log,
        [
            r#"{"ts_ms":0,"cmd":"deposit","account":0,"amount_usd":"1000"}"#,
            r#"{"ts_ms":0,"cmd":"deposit","account":1,"amount_usd":"1000"}"#,
            r#"{"ts_ms":1,"cmd":"deposit","account":1,"amout_usd":"1000"}"#,
            r#"{"ts_ms":2,"cmd":"deposit","account":2,"amount_usd":"1000"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let ev = dir.path().join("events.jsonl");
    let out = replay(&log, &ev, false);
    assert!(!out.status.success(), "a bad line must fail the replay");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 3"), "stderr: {stderr}");
    assert!(stderr.contains("amout_usd"), "stderr: {stderr}");
    assert!(
        !text(&out.stdout).contains("state hash"),
        "no summary after a bad line"
    );
    // The log is read whole before anything is applied: not even lines 1 and 2 produced events.
    let written = std::fs::read_to_string(&ev).unwrap_or_default();
    assert!(written.is_empty(), "events written: {written}");
}

#[test]
fn strict_stops_at_the_first_rejected_command() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("rejects.jsonl");
    std::fs::write(
        &log,
        [
            r#"{"ts_ms":0,"cmd":"deposit","account":0,"amount_usd":"1000"}"#,
            r#"// a comment line is skipped but keeps its number"#,
            r#"{"ts_ms":1,"cmd":"withdraw","account":0,"amount_usd":"5000"}"#,
            r#"{"ts_ms":2,"cmd":"deposit","account":1,"amount_usd":"1000"}"#,
            r#"{"ts_ms":3,"cmd":"withdraw","account":1,"amount_usd":"9999"}"#,
        ]
        .join("\n"),
    )
    .unwrap();

    // Strict: stops at line 3, with a non-zero status naming it; line 4 is never applied.
    let ev = dir.path().join("strict.jsonl");
    let out = replay(&log, &ev, true);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("withdraw rejected"),
        "stderr: {stderr}"
    );
    let recs = records(&ev);
    let lines: Vec<u64> = recs.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 3], "records: {recs:?}");
    assert_eq!(recs[1].1["event"], "rejected");
    assert_eq!(recs[1].1["cmd"], "withdraw");

    // Not strict: both rejections are recorded and the replay goes on to the end.
    let ev = dir.path().join("lenient.jsonl");
    let out = replay(&log, &ev, false);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 commands applied, 2 rejected"),
        "{}",
        text(&out.stdout)
    );
    printed_hash(&out);
    let rejected: Vec<u64> = records(&ev)
        .into_iter()
        .filter(|(_, v)| v["event"] == "rejected")
        .map(|(l, _)| l)
        .collect();
    assert_eq!(rejected, [3, 5]);
    assert!(events(&ev).iter().any(|(l, _)| *l == 4));
}

#[test]
fn help_says_a_malformed_log_applies_nothing_and_the_events_file_is_replaced() {
    let out = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(["replay", "--help"])
        .output()
        .expect("the bulwark binary runs");
    assert!(out.status.success());
    // clap wraps the text; compare it with the line breaks folded.
    let help = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for claim in [
        "parsed before any command is applied",
        "nothing at all is applied (not even the lines before it)",
        "An existing file is replaced, even when the log does not parse",
    ] {
        assert!(help.contains(claim), "{claim:?} not in:\n{help}");
    }
}

#[test]
fn events_file_is_replaced_not_left_stale() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("events.jsonl");
    // An earlier, longer run: the basic log's many events.
    let out = replay(&replay_dir().join("basic.jsonl"), &ev, false);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(records(&ev).len() > 2);

    // A shorter run: exactly its two events (one deposit each), nothing left of the first.
    let short = dir.path().join("short.jsonl");
    std::fs::write(
        &short,
        [
            r#"{"ts_ms":0,"cmd":"deposit","account":0,"amount_usd":"1000"}"#,
            r#"{"ts_ms":0,"cmd":"deposit","account":1,"amount_usd":"5"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = replay(&short, &ev, false);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let recs = records(&ev);
    let lines: Vec<u64> = recs.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 2], "{recs:?}");
    assert!(
        recs.iter().all(|(_, v)| v["event"] == "deposited"),
        "{recs:?}"
    );

    // A malformed log after that: nothing applied, and the file holds nothing (before, it
    // kept the previous run's events, as if this run had produced them).
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        [
            r#"{"ts_ms":0,"cmd":"deposit","account":0,"amount_usd":"1000"}"#,
            r#"{"ts_ms":0,"cmd":"tick","foo":1}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = replay(&bad, &ev, false);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("foo"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&ev).unwrap(), "");
}
