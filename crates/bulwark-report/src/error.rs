use std::path::PathBuf;

/// Why a report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("column `{name}` has {len} values but the series has {expected} times")]
    ColumnLength {
        name: String,
        len: usize,
        expected: usize,
    },
    #[error("column `{name}` appears more than once")]
    DuplicateColumn { name: String },
    #[error("sample times must not decrease; t_s[{index}] is below the one before (or NaN)")]
    TimeDecreasing { index: usize },
    #[error("period #{index} ends before it starts")]
    PeriodReversed { index: usize },
    #[error("cannot write report to {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
