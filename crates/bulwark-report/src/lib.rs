//! Reports for one crash-lab run: a self-contained HTML page with inline SVG
//! charts, and the same headline numbers as a plain-text table.
//!
//! The crate depends on no engine or lab type: the lab fills a [`RunReport`]
//! with display data and calls [`write_report`] or [`render_html`].

mod charts;
mod console;
pub mod downsample;
mod error;
mod format;
mod html;
mod model;
mod page;
pub mod sample;
mod svg;
mod xy;

use std::fs;
use std::path::{Path, PathBuf};

pub use charts::{cluster_marks, MarkCluster};
pub use console::render_console_table;
pub use error::ReportError;
pub use format::{fmt_compact, fmt_duration_s, fmt_number, fmt_pct, fmt_usd, fmt_usd_compact};
pub use html::{escape_html, render_html};
pub use model::{
    col, unit, Column, ComparisonTable, HeadlineRow, LiquidationMark, Period, PeriodKind,
    RunReport, TimeSeries, WaterfallStage,
};
pub use page::{render_page, write_page, Page, PageItem, PageSection};
pub use xy::{render_xy_chart, XyAxis, XyChart, XyPoint, XySeries, XyStyle};

/// File name of the page inside the report directory.
pub const REPORT_FILE_NAME: &str = "report.html";

/// Writes `report.html` into `dir` (created if missing) and returns its path.
///
/// The page is written to a temporary name first and renamed, so a reader
/// never sees half a report.
pub fn write_report(dir: &Path, report: &RunReport) -> Result<PathBuf, ReportError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let final_path = dir.join(REPORT_FILE_NAME);
    let temp_path = dir.join(format!(".{REPORT_FILE_NAME}.tmp"));
    fs::write(&temp_path, render_html(report)).map_err(io_error(&temp_path))?;
    fs::rename(&temp_path, &final_path).map_err(io_error(&final_path))?;
    Ok(final_path)
}
