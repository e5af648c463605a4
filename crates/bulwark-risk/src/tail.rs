//! The tail summary a report shows for a set of runs: VaR and ES at 95%, and at 99% only
//! when there are enough runs for the 99% tail to hold a handful of them.

use core::fmt;

use crate::order::OrderStat;
use crate::{check, RiskError};

/// The fewest runs for which [`Tail`] reports 99% VaR and ES: at 1,000 runs the 1% tail
/// holds 10 of them. With fewer, the 99% "estimate" is one or two extreme runs, which a
/// report must not present as a number.
pub const MIN_RUNS_FOR_99: usize = 1_000;

/// A tail statistic that is either a value or absent for want of runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TailStat {
    /// The statistic, USD (positive = loss).
    Value(f64),
    /// Not computed for want of runs.
    TooFewRuns {
        /// Runs given.
        have: usize,
        /// Runs needed ([`MIN_RUNS_FOR_99`] for the 99% figures).
        need: usize,
    },
}

impl TailStat {
    /// The value, if there is one.
    pub fn value(&self) -> Option<f64> {
        match *self {
            TailStat::Value(v) => Some(v),
            TailStat::TooFewRuns { .. } => None,
        }
    }
}

impl fmt::Display for TailStat {
    /// A value prints as an f64 (honouring a precision: `{:.2}`); an absent one as
    /// "too few runs (have 200, need 1000)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TailStat::Value(v) => match f.precision() {
                Some(digits) => write!(f, "{v:.digits$}"),
                None => write!(f, "{v}"),
            },
            TailStat::TooFewRuns { have, need } => {
                write!(f, "too few runs (have {have}, need {need})")
            }
        }
    }
}

/// VaR and expected shortfall of the losses of a set of runs, one loss per run (USD,
/// positive = loss), as defined by [`crate::var`] and [`crate::expected_shortfall`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tail {
    /// Number of runs.
    pub runs: usize,
    /// 95% VaR, USD.
    pub var_95_usd: f64,
    /// 95% expected shortfall, USD.
    pub es_95_usd: f64,
    /// 99% VaR, USD, when `runs >= MIN_RUNS_FOR_99`.
    pub var_99_usd: TailStat,
    /// 99% expected shortfall, USD, when `runs >= MIN_RUNS_FOR_99`.
    pub es_99_usd: TailStat,
}

impl Tail {
    /// The tail summary of `losses_usd` (one loss per run).
    ///
    /// # Errors
    /// [`RiskError::Empty`] for no runs, [`RiskError::NonFinite`] for a NaN or infinite loss.
    pub fn from_losses(losses_usd: &[f64]) -> Result<Tail, RiskError> {
        check::finite_slice("losses_usd", losses_usd)?;
        let sorted = check::sorted(losses_usd);
        let runs = sorted.len();
        let at_99 = |stat: OrderStat| {
            if runs >= MIN_RUNS_FOR_99 {
                TailStat::Value(stat.of_sorted(&sorted))
            } else {
                TailStat::TooFewRuns {
                    have: runs,
                    need: MIN_RUNS_FOR_99,
                }
            }
        };
        Ok(Tail {
            runs,
            var_95_usd: OrderStat::Var(0.95).of_sorted(&sorted),
            es_95_usd: OrderStat::Es(0.95).of_sorted(&sorted),
            var_99_usd: at_99(OrderStat::Var(0.99)),
            es_99_usd: at_99(OrderStat::Es(0.99)),
        })
    }
}
