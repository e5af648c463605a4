//! The Bulwark crash lab: replays real crashes and synthetic tail scenarios against the engine.
//!
//! Modules so far:
//! - [`data`]: loading market data (exchange klines, the project's simple CSV, gas prices);
//! - [`path`]: the outside ("fair") price path the lab's oracle and arbitrageurs see, built
//!   from bars or from a calibrated shock;
//! - [`fetch`]: downloading kline archives for `bulwark data fetch`.
//!
//! Agents, the chain model and the run loop will live here too.

pub mod data;
pub mod fetch;
pub mod path;
