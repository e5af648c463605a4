//! A run's results: `summary.json`, `timeseries.csv`, `events.csv` and `report.html`.
//!
//! - [`summary`]: the [`Summary`] of a run and `summary.json` (byte-identical for the same
//!   scenario, overrides and seed);
//! - [`report`]: the console headline, the HTML report's data, the comparison table;
//! - [`files`]: writing the files, into a staging folder moved into place when complete.

pub mod files;
pub mod report;
pub mod summary;

pub use files::{
    dir_name, write_all, write_all_with, write_events, write_timeseries, OutputError, Staging,
    Written, COMPARE_DIR,
};
pub use report::{comparison_table, headline, report};
pub use summary::{summarize, summary_json, DataRepair, Summary};
