//! Risk statistics for the Bulwark crash lab: tail measures of run losses, bootstrap
//! intervals and tests for comparing variants, event probabilities, and volatility models.
//!
//! Everything here is `f64` and lives outside the engine: a figure from this crate enters
//! the engine only as a fixed-point parameter converted in one audited place (STYLE.md,
//! "No float on the engine path").
//!
//! # Conventions
//!
//! | quantity | convention |
//! |---|---|
//! | loss | USD, **positive = money lost** (a gain is a negative loss); one loss per run |
//! | VaR, ES | USD, positive = loss; `level` in (0, 1), e.g. 0.99 = the worst 1% |
//! | VaR | lower quantile: the ceil(n level)-th smallest loss ([`var`]) |
//! | ES | tail average of Acerbi & Tasche (2002) ([`expected_shortfall`]) |
//! | quantile | type 7 of Hyndman & Fan (1996), numpy's default ([`quantile`]) |
//! | bootstrap | percentile intervals, B resamples, `ChaCha8Rng` from a `u64` seed ([`Bootstrap`]) |
//! | proportion | Wilson score interval ([`wilson`]) |
//! | returns | log returns per period; variances per period until annualised with an explicit `periods_per_year` |
//!
//! # Errors, never panics
//!
//! Every function validates its inputs (empty slices, NaN or infinite values, levels outside
//! their range, mismatched lengths, too few observations) and returns a [`RiskError`].
//!
//! # Determinism
//!
//! The lab needs byte-identical results on every machine. To that end:
//! - the crate's own maths calls `libm` (`exp`, `log`, `log1p`, `sqrt`, `pow`, `lgamma`), a
//!   pure-Rust port of musl's libm, never the platform's C library; Rust never fuses a
//!   multiply and an add unless asked, so each expression rounds the same way everywhere;
//! - normal z-values come from this crate's AS 241 ([`normal_quantile`]), not from statrs;
//! - sorting uses `f64::total_cmp`; sums run in index order;
//! - resampling uses `ChaCha8Rng::seed_from_u64(seed)` and a bounded-index draw written here
//!   (Lemire's method on 64-bit words), independent of pointer width and of `rand`'s
//!   version;
//! - the optimiser (argmin's Nelder–Mead) is plain deterministic f64 arithmetic.
//!
//! One exception: the Student-t quantile in [`StudentTLoss`] is `statrs`'s
//! (`StudentsT::inverse_cdf`), which uses the platform's `ln`/`exp`; its last bits may differ
//! between C libraries. Everything else is bit-identical given the same inputs.

#![deny(missing_docs)]

mod bootstrap;
mod check;
mod empirical;
mod error;
mod garch;
mod multiple;
mod normal;
mod optim;
mod order;
mod parametric;
mod proportion;
mod tail;
mod volatility;

pub use bootstrap::{
    bootstrap_ci, expected_shortfall_ci, paired_mean_diff, quantile_ci, var_ci, Bootstrap,
    ConfidenceInterval, PairedDiff, MAX_RESAMPLES, MIN_BOOTSTRAP_OBSERVATIONS,
};
pub use empirical::{expected_shortfall, quantile, var};
pub use error::RiskError;
pub use garch::{
    fit_garch11, FittedInnovations, Garch11, GarchFit, Innovations, MAX_GARCH_DOF,
    MIN_GARCH_OBSERVATIONS,
};
pub use multiple::{holm, Holm};
pub use normal::{normal_pdf, normal_quantile};
pub use parametric::{NormalLoss, StudentTLoss, MAX_FITTED_DOF, MIN_T_FIT_OBSERVATIONS};
pub use proportion::{wilson, Proportion};
pub use tail::{Tail, TailStat, MIN_RUNS_FOR_99};
pub use volatility::{
    annualise_variance, annualise_volatility, ewma_variance, ewma_variance_path, log_returns,
    RISKMETRICS_LAMBDA,
};
