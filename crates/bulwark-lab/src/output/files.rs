//! Writing a run's files: `summary.json`, `timeseries.csv`, `events.csv`, `report.html`.
//!
//! A run's folder is replaced whole or not at all: everything is written into a staging
//! folder beside it ([`Staging`]) and moved into place once complete, so a failed run never
//! leaves a new summary beside an old report. Every I/O error names the file.

use crate::metrics::DefencePeriod;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bulwark_report::ComparisonTable;
use thiserror::Error;

use super::report::report;
use super::summary::{summary_json, Summary};
use crate::metrics::rows::EVENT_COLUMNS;
use crate::metrics::EventRow;
use crate::sim::Sim;

pub const SUMMARY_FILE: &str = "summary.json";
pub const TIMESERIES_FILE: &str = "timeseries.csv";
pub const EVENTS_FILE: &str = "events.csv";
pub const BREAKERS_FILE: &str = "breakers.csv";
pub const CONTROLLER_FILE: &str = "controller.csv";
pub const REPORT_FILE: &str = bulwark_report::REPORT_FILE_NAME;
/// Where `--compare` writes its variants, inside the run's folder.
pub const COMPARE_DIR: &str = "compare";

/// What a run writes into its folder; a folder holding only these may be replaced.
const OWN_NAMES: [&str; 7] = [
    SUMMARY_FILE,
    TIMESERIES_FILE,
    EVENTS_FILE,
    BREAKERS_FILE,
    CONTROLLER_FILE,
    REPORT_FILE,
    COMPARE_DIR,
];

/// Why a run's files could not be written.
#[derive(Debug, Error)]
pub enum OutputError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {detail}", path.display())]
    Write { path: PathBuf, detail: String },
    #[error(
        "{} holds files a lab run does not write ({names}); a run replaces its whole \
         folder, so choose a new or empty folder with --out",
        dir.display()
    )]
    Foreign { dir: PathBuf, names: String },
    #[error("{} is a file, not a folder; choose a folder with --out", path.display())]
    NotADir { path: PathBuf },
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> OutputError + 'p {
    move |source| OutputError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> OutputError + '_ {
    move |e| OutputError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// A folder name from free text (a scenario's name, a `--compare` value): letters, digits,
/// `.`, `-`, `_`, `=` and `,` are kept, anything else (separators, `..` at the start,
/// spaces) becomes `_`, so the folder stays inside its parent whatever the text says.
pub fn dir_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '=' | ',') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    if name.is_empty() {
        name.push('_');
    }
    name.truncate(120);
    name
}

/// A run's folder under construction: files go into a staging folder beside `dir`;
/// [`Staging::commit`] moves it into place, replacing what was there; dropped without a
/// commit, it is removed and `dir` is left as it was.
#[derive(Debug)]
pub struct Staging {
    /// Where the files go in the end.
    target: PathBuf,
    /// Where they are written first.
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    /// Checks `dir` may be replaced (absent, empty, or a previous run's folder) and creates
    /// the staging folder beside it.
    pub fn begin(dir: &Path) -> Result<Staging, OutputError> {
        check_replaceable(dir)?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io("create", &parent))?;
        let name = dir
            .file_name()
            .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
        let stage = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if stage.exists() {
            fs::remove_dir_all(&stage).map_err(io("remove", &stage))?;
        }
        fs::create_dir(&stage).map_err(io("create", &stage))?;
        Ok(Staging {
            target: dir.to_path_buf(),
            dir: stage,
            committed: false,
        })
    }

    /// Where to write now.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder the files end up in.
    pub fn final_dir(&self) -> &Path {
        &self.target
    }

    /// Moves the staged files into place (the previous folder, if any, is removed) and says
    /// where they are.
    pub fn commit(mut self) -> Result<Written, OutputError> {
        let old = self.dir.with_file_name(format!(
            "{}.old",
            self.dir.file_name().unwrap_or_default().to_string_lossy()
        ));
        let had_old = self.target.exists();
        if had_old {
            fs::rename(&self.target, &old).map_err(io("move aside", &self.target))?;
        }
        if let Err(source) = fs::rename(&self.dir, &self.target) {
            if had_old {
                // Put the previous results back; the new ones stay staged for inspection.
                let _ = fs::rename(&old, &self.target);
            }
            self.committed = true;
            return Err(OutputError::Io {
                action: "move into place",
                path: self.target.clone(),
                source,
            });
        }
        self.committed = true;
        if had_old {
            fs::remove_dir_all(&old).map_err(io("remove", &old))?;
        }
        Ok(Written::in_dir(&self.target))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `dir` is absent, empty, or holds only what a lab run writes.
fn check_replaceable(dir: &Path) -> Result<(), OutputError> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(OutputError::NotADir {
            path: dir.to_path_buf(),
        });
    }
    let mut foreign: Vec<String> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("read", dir))? {
        let name = entry
            .map_err(io("read", dir))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !OWN_NAMES.contains(&name.as_str()) {
            foreign.push(name);
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let more = foreign.len().saturating_sub(3);
    let mut names = foreign.into_iter().take(3).collect::<Vec<_>>().join(", ");
    if more > 0 {
        names.push_str(&format!(" and {more} more"));
    }
    Err(OutputError::Foreign {
        dir: dir.to_path_buf(),
        names,
    })
}

/// Writes `timeseries.csv`.
pub fn write_timeseries(path: &Path, sim: &Sim) -> Result<(), OutputError> {
    let mut w = csv::Writer::from_path(path).map_err(csv_err(path))?;
    let mut header = vec!["t_s".to_string()];
    header.extend(sim.samples.columns.iter().map(|c| c.0.to_string()));
    w.write_record(&header).map_err(csv_err(path))?;
    for s in &sim.samples.rows {
        let mut row = vec![format!("{}", s.t_s)];
        row.extend(s.values.iter().map(|v| {
            if v.is_finite() {
                format!("{v}")
            } else {
                String::new()
            }
        }));
        w.write_record(&row).map_err(csv_err(path))?;
    }
    w.flush().map_err(io("write", path))
}

/// Writes `events.csv`: one engine (or lab) event per line, flat columns.
pub fn write_events(path: &Path, events: &[EventRow]) -> Result<(), OutputError> {
    let mut w = csv::Writer::from_path(path).map_err(csv_err(path))?;
    if events.is_empty() {
        // serde writes the header with the first row; an empty file still needs one.
        w.write_record(EVENT_COLUMNS).map_err(csv_err(path))?;
    }
    for e in events {
        w.serialize(e).map_err(csv_err(path))?;
    }
    w.flush().map_err(io("write", path))
}

/// Writes `controller.csv`: the online controller's forecasts and decisions, one per line
/// (columns: the fields of [`crate::controller::ControllerRow`]).
pub fn write_controller(
    path: &Path,
    rows: &[crate::controller::ControllerRow],
) -> Result<(), OutputError> {
    let mut w = csv::Writer::from_path(path).map_err(csv_err(path))?;
    for r in rows {
        w.serialize(r).map_err(csv_err(path))?;
    }
    w.flush().map_err(io("write", path))
}

/// Writes `breakers.csv`: one circuit-breaker halt or degraded-oracle period per line.
pub fn write_breakers(path: &Path, periods: &[DefencePeriod]) -> Result<(), OutputError> {
    let mut w = csv::Writer::from_path(path).map_err(csv_err(path))?;
    w.write_record(BREAKER_COLUMNS).map_err(csv_err(path))?;
    for p in periods {
        let end = p.end_s.map(|e| e.to_string()).unwrap_or_default();
        w.write_record([
            p.market.to_string(),
            p.kind.to_string(),
            p.reason.to_string(),
            p.trigger.to_string(),
            p.mode.to_string(),
            p.liquidations.to_string(),
            p.start_s.to_string(),
            end,
            p.orders_refused.to_string(),
            p.notional_refused_usd.to_string(),
            p.confirmed.map(|c| c.to_string()).unwrap_or_default(),
        ])
        .map_err(csv_err(path))?;
    }
    w.flush().map_err(io("write", path))
}

/// The columns of `breakers.csv` (an empty `end_s`: still open when the run ended; an empty
/// `confirmed`: not a proactive trip, or its verdict was still open).
pub const BREAKER_COLUMNS: [&str; 11] = [
    "market",
    "kind",
    "reason",
    "trigger",
    "mode",
    "liquidations",
    "start_s",
    "end_s",
    "orders_refused",
    "notional_refused_usd",
    "confirmed",
];

/// Paths of the files one run writes.
#[derive(Clone, Debug)]
pub struct Written {
    pub summary: PathBuf,
    pub timeseries: PathBuf,
    pub events: PathBuf,
    pub breakers: PathBuf,
    pub report: PathBuf,
}

impl Written {
    /// The files of a run in `dir`.
    pub fn in_dir(dir: &Path) -> Written {
        Written {
            summary: dir.join(SUMMARY_FILE),
            timeseries: dir.join(TIMESERIES_FILE),
            events: dir.join(EVENTS_FILE),
            breakers: dir.join(BREAKERS_FILE),
            report: dir.join(REPORT_FILE),
        }
    }
}

/// Writes every output into `dir` (created if missing).
pub fn write_all(
    dir: &Path,
    sim: &Sim,
    summary: &Summary,
    wall_time_s: f64,
) -> Result<Written, OutputError> {
    write_all_with(dir, sim, summary, wall_time_s, None)
}

/// [`write_all`], with a comparison table for the report.
pub fn write_all_with(
    dir: &Path,
    sim: &Sim,
    summary: &Summary,
    wall_time_s: f64,
    comparison: Option<ComparisonTable>,
) -> Result<Written, OutputError> {
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    let written = Written::in_dir(dir);
    let mut f = fs::File::create(&written.summary).map_err(io("create", &written.summary))?;
    f.write_all(summary_json(summary).as_bytes())
        .map_err(io("write", &written.summary))?;
    write_timeseries(&written.timeseries, sim)?;
    write_events(&written.events, &sim.metrics.events)?;
    write_breakers(&written.breakers, &sim.metrics.defences.periods)?;
    if let Some(c) = &sim.controller {
        write_controller(&dir.join(CONTROLLER_FILE), &c.rows)?;
    }
    let mut page = report(sim, summary, wall_time_s);
    page.comparison = comparison;
    bulwark_report::write_report(dir, &page).map_err(|e| match e {
        bulwark_report::ReportError::Io { path, source } => OutputError::Io {
            action: "write",
            path,
            source,
        },
        other => OutputError::Write {
            path: written.report.clone(),
            detail: other.to_string(),
        },
    })?;
    Ok(written)
}
