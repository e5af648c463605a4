//! The tuner (`bulwark lab tune`): margin, fee, cap and breaker parameters that minimise
//! `margin_per_oi` subject to a bound on the probability of bad debt and a cap on refused
//! volume, over a set of tuning scenarios; an insurance fund sized from the expected
//! shortfall of the chosen venue's losses; the result judged against the default parameters
//! on held-out scenarios only.
//!
//! - [`spec`]: the tune file, and the candidates drawn from its space;
//! - [`search`]: successive halving over any `(candidate, seed) -> metrics`, apart from the
//!   lab (the unit tests give it a synthetic objective with a known optimum);
//! - [`fingerprint`]: a scenario's data fingerprint and the committed fit-data list, which
//!   enforce the held-out split;
//! - [`exec`]: the lab's side: each rung a sweep, the insurance fund, `tuned.toml`, the
//!   held-out judgement.

pub mod exec;
pub mod fingerprint;
pub mod search;
pub mod spec;

pub use exec::{load, run_tune, JudgeRow, LoadedTune, TuneOptions, TuneOutcome};
pub use spec::TuneSpec;
