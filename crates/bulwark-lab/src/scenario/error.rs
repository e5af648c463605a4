//! Why a scenario could not be loaded.

use std::fmt;

use thiserror::Error;

/// One field that breaks its rule: where it is, what it holds, what it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldProblem {
    /// Dotted path, e.g. `agents.traders.leverage.median`.
    pub field: String,
    /// The value as given.
    pub value: String,
    /// The rule, with the allowed range, e.g. "must be a finite number in [1, 50]".
    pub rule: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` = {}: {}", self.field, self.value, self.rule)
    }
}

/// The problems, one per line when there are several.
fn list(problems: &[FieldProblem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => many
            .iter()
            .map(|p| format!("\n  - {p}"))
            .collect::<String>(),
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or a field problem in the file; `detail` carries toml's line, column and
    /// an excerpt of the offending line.
    #[error("scenario {file}: {detail}")]
    Parse { file: String, detail: String },
    #[error("--set {key}: {problem}")]
    Override { key: String, problem: String },
    /// A parameters file (`params = "..."`) that cannot be read or holds a bad key.
    #[error("params file {file} (named by `params` in {scenario}): {problem}")]
    Params {
        file: String,
        scenario: String,
        problem: String,
    },
    /// Fields outside their allowed ranges, or that break a rule between fields; every one
    /// is listed.
    #[error("scenario {file}: {}", list(problems))]
    Invalid {
        file: String,
        problems: Vec<FieldProblem>,
    },
}
