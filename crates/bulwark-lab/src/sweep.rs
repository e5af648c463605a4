//! Monte Carlo sweeps: a base scenario, a grid or random sample over any of its fields, times
//! N seeds, on every core, with one CSV row per run.
//!
//! - [`spec`]: the sweep file and its expansion into parameter sets and runs;
//! - [`exec`]: loading every set, running on a rayon pool, resuming;
//! - [`store`]: the output folder (manifest, resume log, `runs.csv`), shards;
//! - [`merge`]: shard folders joined into one;
//! - [`row`]: the metric columns of a run;
//! - [`stress`]: the historical stress suite's regimes, cut from the crash data;
//! - [`report`]: the sweep report (`report.html`, `sets.csv`) from `runs.csv`.

pub mod exec;
pub mod merge;
pub mod report;
pub mod row;
pub mod spec;
pub mod store;
pub mod stress;

pub use exec::{load, run_sweep, LoadedSweep, SweepOptions, SweepOutcome, SweepProgress};
pub use merge::merge;
pub use spec::{Plan, SweepSpec};
pub use store::{Manifest, Shard};
