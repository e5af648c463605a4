//! The one error type of the crate: every invalid input is a value, never a panic.

/// Why a statistic could not be computed from the inputs given.
///
/// Every public function of the crate validates its inputs before computing and returns one
/// of these instead of panicking or returning NaN. `what` names the argument at fault, in the
/// words of the function's signature (`"losses_usd"`, `"level"`, ...), or the estimator
/// that refused (`"GARCH(1,1) fit"`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RiskError {
    /// A slice that must hold at least one value is empty.
    #[error("{what} is empty")]
    Empty {
        /// The argument.
        what: &'static str,
    },

    /// An element of an input slice is NaN or infinite.
    #[error("{what}[{index}] is {value}, not a finite number")]
    NonFinite {
        /// The argument.
        what: &'static str,
        /// 0-based index of the first bad element.
        index: usize,
        /// Its value.
        value: f64,
    },

    /// An element of an input slice that must be positive (a price) is zero or negative.
    #[error("{what}[{index}] is {value}, not positive")]
    NotPositive {
        /// The argument.
        what: &'static str,
        /// 0-based index of the first bad element.
        index: usize,
        /// Its value.
        value: f64,
    },

    /// A scalar argument is NaN, infinite or outside its documented range.
    #[error("{what} is {value}, outside {range}")]
    OutOfRange {
        /// The argument.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range, in interval notation.
        range: &'static str,
    },

    /// An integer argument (a count of resamples, of steps) is outside its documented range.
    #[error("{what} is {value}, outside {range}")]
    CountOutOfRange {
        /// The argument.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The accepted range, in Rust range notation.
        range: &'static str,
    },

    /// Two slices that are compared element by element have different lengths.
    #[error("{left_what} has {left} elements but {right_what} has {right}")]
    LengthMismatch {
        /// The first argument.
        left_what: &'static str,
        /// Its length.
        left: usize,
        /// The second argument.
        right_what: &'static str,
        /// Its length.
        right: usize,
    },

    /// The estimator needs more observations than it was given.
    #[error("{what} needs at least {need} observations, got {have}")]
    TooFewObservations {
        /// The estimator.
        what: &'static str,
        /// Observations given.
        have: usize,
        /// Observations needed.
        need: usize,
    },

    /// `successes` is larger than `trials`, or `trials` is zero.
    #[error("{successes} successes out of {trials} trials is not a proportion")]
    InvalidCount {
        /// Successes given.
        successes: u64,
        /// Trials given.
        trials: u64,
    },

    /// A maximum-likelihood fit failed: degenerate data, an optimiser error, or a maximum on
    /// the boundary of the parameter space.
    #[error("{what}: {reason}")]
    FitFailed {
        /// The estimator.
        what: &'static str,
        /// What went wrong, in words.
        reason: String,
    },
}
