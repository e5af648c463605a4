//! The Bulwark crash lab: replays real crashes and synthetic tail scenarios against the engine.
//!
//! Modules:
//! - [`data`]: loading market data (exchange klines, the project's simple CSV, gas prices);
//! - [`path`]: the outside ("fair") price path the lab's oracle and arbitrageurs see, built
//!   from bars or from a calibrated shock, one per market (several markets' shocks from
//!   correlated noise);
//! - [`fetch`]: downloading kline archives for `bulwark data fetch`;
//! - [`scenario`]: scenario files (TOML) and `--set` overrides;
//! - [`agents`]: leveraged traders, market makers, arbitrageurs, keepers;
//! - [`chain`]: blocks, capacity and a gas auction against background demand;
//! - [`sim`]: the discrete-event run loop against the engine (with the venue plumbing, the
//!   agents' wake-ups and the oracle feed under it);
//! - [`metrics`]: what a run measures, from the engine's events and the lab's observations;
//! - [`sampling`]: the venue's snapshots over time (`timeseries.csv`);
//! - [`output`]: the summary, the report and the files a run writes;
//! - [`run`]: one run end to end;
//! - [`snapshot`]: a venue's accounts, positions and orders as files, loaded through genesis
//!   and written from an engine;
//! - [`sweep`]: Monte Carlo sweeps over seeds and scenario fields, on every core, sharded;
//! - [`tune`]: the tuner: successive halving over venue parameters, judged on held-out
//!   scenarios;
//! - [`calibrate`]: fitting market makers' depth to volatility from order-book snapshots;
//! - [`venue`]: what agents may see of the venue (client queries only);
//! - [`venue_state`]: the venue's own books that the metrics read.

// Tests compute expected values with std's floats; only the lab's own code must use libm
// (clippy.toml's disallowed methods).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod agents;
pub mod calibrate;
pub mod chain;
pub mod controller;
pub mod data;
pub mod fetch;
pub mod metrics;
pub mod output;
pub mod path;
pub mod run;
pub mod sampling;
pub mod scenario;
pub mod sim;
pub mod snapshot;
pub mod sweep;
pub mod tune;
pub mod venue;
pub mod venue_state;
