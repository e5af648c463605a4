//! Writing a run's files: `summary.json`, `timeseries.csv`, `events.csv`, `report.html`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bulwark_report::ComparisonTable;

use super::report::report;
use super::summary::{summary_json, Summary};
use crate::metrics::EventRow;
use crate::sim::Sim;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("cannot write {}: {e}", path.display())
}

/// Writes `timeseries.csv`.
pub fn write_timeseries(path: &Path, sim: &Sim) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut header = vec!["t_s".to_string()];
    header.extend(sim.samples.columns.iter().map(|c| c.0.to_string()));
    w.write_record(&header).map_err(|e| e.to_string())?;
    for s in &sim.samples.rows {
        let mut row = vec![format!("{}", s.t_s)];
        row.extend(s.values.iter().map(|v| {
            if v.is_finite() {
                format!("{v}")
            } else {
                String::new()
            }
        }));
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(io_err(path))
}

/// Writes `events.csv`: one engine (or lab) event per line, flat columns.
pub fn write_events(path: &Path, events: &[EventRow]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if events.is_empty() {
        // serde writes the header with the first row; an empty file still needs one.
        w.write_record(crate::metrics::EVENT_COLUMNS)
            .map_err(|e| e.to_string())?;
    }
    for e in events {
        w.serialize(e).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(io_err(path))
}

/// Paths of the files one run writes.
#[derive(Clone, Debug)]
pub struct Written {
    pub summary: PathBuf,
    pub timeseries: PathBuf,
    pub events: PathBuf,
    pub report: PathBuf,
}

/// Writes every output into `dir` (created if missing).
pub fn write_all(
    dir: &Path,
    sim: &Sim,
    summary: &Summary,
    wall_time_s: f64,
) -> Result<Written, String> {
    write_all_with(dir, sim, summary, wall_time_s, None)
}

/// [`write_all`], with a comparison table for the report.
pub fn write_all_with(
    dir: &Path,
    sim: &Sim,
    summary: &Summary,
    wall_time_s: f64,
    comparison: Option<ComparisonTable>,
) -> Result<Written, String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let summary_path = dir.join("summary.json");
    let mut f = fs::File::create(&summary_path).map_err(io_err(&summary_path))?;
    f.write_all(summary_json(summary).as_bytes())
        .map_err(io_err(&summary_path))?;
    let timeseries = dir.join("timeseries.csv");
    write_timeseries(&timeseries, sim)?;
    let events = dir.join("events.csv");
    write_events(&events, &sim.metrics.events)?;
    let mut page = report(sim, summary, wall_time_s);
    page.comparison = comparison;
    let report_path = bulwark_report::write_report(dir, &page).map_err(|e| e.to_string())?;
    Ok(Written {
        summary: summary_path,
        timeseries,
        events,
        report: report_path,
    })
}
