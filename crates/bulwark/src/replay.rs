//! `bulwark replay`: a command log in, events and a state hash out.

use anyhow::{bail, Context, Result};
use bulwark_core::TimestampMs;
use bulwark_engine::{state_hash_hex, Command, Engine, Event};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One parsed line of a command log.
#[derive(Debug)]
pub struct LogEntry {
    pub line: usize,
    pub ts_ms: u64,
    pub command: Command,
}

/// Parse one log line: a JSON object with `ts_ms` and the command's fields. Errors name what
/// is wrong (serde names the unknown or missing field); the caller adds the line number.
pub fn parse_line(text: &str) -> Result<(u64, Command)> {
    let mut v: Value = serde_json::from_str(text).context("not valid JSON")?;
    let obj = v
        .as_object_mut()
        .context("a command line must be a JSON object")?;
    let ts = obj
        .remove("ts_ms")
        .context("missing field `ts_ms` (milliseconds since the epoch)")?;
    let ts_ms = ts
        .as_u64()
        .context("field `ts_ms` must be a non-negative integer")?;
    let cmd_name = obj
        .get("cmd")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let command: Command =
        serde_json::from_value(v).with_context(|| format!("command `{cmd_name}`"))?;
    Ok((ts_ms, command))
}

/// Read a whole log; the first bad line is an error naming its number, and nothing is applied.
pub fn read_log(path: &Path) -> Result<Vec<LogEntry>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}: line {n}: cannot read", path.display()))?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        let (ts_ms, command) =
            parse_line(trimmed).with_context(|| format!("{}: line {n}", path.display()))?;
        out.push(LogEntry {
            line: n,
            ts_ms,
            command,
        });
    }
    Ok(out)
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Summary {
    pub applied: u64,
    pub rejected: u64,
    pub events_by_kind: BTreeMap<String, u64>,
    pub state_hash: String,
}

/// Apply `entries` to `engine`, writing each event (tagged with its line and time) to `out`.
/// A rejection is written as a `rejected` record; with `strict` it stops the replay.
pub fn apply_log(
    engine: &mut Engine,
    entries: &[LogEntry],
    out: &mut dyn Write,
    strict: bool,
) -> Result<Summary> {
    let mut s = Summary::default();
    for e in entries {
        match engine.apply(&e.command, TimestampMs(e.ts_ms)) {
            Ok(events) => {
                s.applied += 1;
                for ev in events {
                    *s.events_by_kind.entry(event_kind(ev)).or_default() += 1;
                    write_record(out, e, serde_json::to_value(ev)?)?;
                }
            }
            Err(reject) => {
                s.rejected += 1;
                let rec = serde_json::json!({
                    "event": "rejected", "cmd": e.command.name(), "reason": reject.to_string()
                });
                write_record(out, e, rec)?;
                if strict {
                    out.flush()?;
                    bail!("line {}: {} rejected: {reject}", e.line, e.command.name());
                }
            }
        }
    }
    out.flush()?;
    s.state_hash = state_hash_hex(engine);
    Ok(s)
}

fn write_record(out: &mut dyn Write, e: &LogEntry, mut v: Value) -> Result<()> {
    // Put line and time first so a reader sees where each event came from.
    let mut rec = serde_json::Map::new();
    rec.insert("line".into(), e.line.into());
    rec.insert("ts_ms".into(), e.ts_ms.into());
    if let Some(obj) = v.as_object_mut() {
        rec.append(obj);
    }
    serde_json::to_writer(&mut *out, &rec)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn event_kind(ev: &Event) -> String {
    match serde_json::to_value(ev) {
        Ok(Value::Object(m)) => m
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        _ => "?".to_string(),
    }
}

fn default_events_path(log: &Path) -> PathBuf {
    let stem = log.file_stem().and_then(|s| s.to_str()).unwrap_or("replay");
    log.with_file_name(format!("{stem}.events.jsonl"))
}

pub fn run(file: &Path, events: Option<&Path>, strict: bool) -> Result<()> {
    let events_path = events
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_events_path(file));
    let to_stdout = events_path.as_os_str() == "-";
    // The events file is replaced (truncated) before the log is read, so that whatever it
    // holds afterwards is this run's: empty when the log does not parse, never the stale
    // events of an earlier run.
    let mut sink: Box<dyn Write> = if to_stdout {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        let f = File::create(&events_path)
            .with_context(|| format!("cannot write events to {}", events_path.display()))?;
        Box::new(BufWriter::new(f))
    };
    // Every line is parsed before any is applied: a malformed log applies nothing.
    let entries = read_log(file)?;
    let mut engine = Engine::default();
    let summary = apply_log(&mut engine, &entries, &mut sink, strict)?;
    drop(sink);
    let report = render_summary(
        &engine,
        &summary,
        file,
        (!to_stdout).then_some(&events_path),
    );
    if to_stdout {
        eprint!("{report}");
    } else {
        crate::out::stdout(&report)?;
    }
    engine
        .check_invariants()
        .map_err(|b| anyhow::anyhow!("invariant broken at the end of the replay: {b}"))?;
    Ok(())
}

fn render_summary(engine: &Engine, s: &Summary, log: &Path, events: Option<&PathBuf>) -> String {
    let mut r = String::new();
    r += &format!(
        "replayed {}: {} commands applied, {} rejected\n",
        log.display(),
        s.applied,
        s.rejected
    );
    if let Some(p) = events {
        r += &format!("events: {}\n", p.display());
    }
    for (kind, n) in &s.events_by_kind {
        r += &format!("  {kind:<24} {n:>10}\n");
    }
    for m in engine.markets() {
        r += &format!(
            "market {} {}: mark {} open interest {} lots, {} resting orders\n",
            m.id.0,
            m.params.symbol,
            m.mark,
            m.open_interest,
            m.book.len()
        );
    }
    r += &format!(
        "fee pool {} USD, funding clearing {} USD, socialization clearing {} USD, deposits {} USD, withdrawals {} USD\n",
        engine.fee_pool_usd(),
        engine.funding_clearing_usd(),
        engine.loss_clearing_usd(),
        engine.deposited_usd(),
        engine.withdrawn_usd()
    );
    let below = engine
        .flags()
        .values()
        .filter(|f| f.below_maintenance)
        .count();
    let negative = engine
        .flags()
        .values()
        .filter(|f| f.negative_equity)
        .count();
    r += &format!("pools below maintenance: {below}, with negative equity: {negative}\n");
    r += &format!("state hash {}\n", s.state_hash);
    r
}
