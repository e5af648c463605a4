//! Range checks of the generators' parameters, collected so that every problem is reported
//! at once (a scenario names each as `path.synthetic.<model>.<name>`).

use std::fmt;

use super::PathError;

/// One parameter outside its allowed range: its name inside the model (nested names are
/// dotted, `crisis.annual_vol`), the value as given and the rule with the range.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamProblem {
    pub name: String,
    pub value: String,
    pub rule: String,
}

impl fmt::Display for ParamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` = {}: {}", self.name, self.value, self.rule)
    }
}

/// The first problem, and how many more there are, for [`PathError::InvalidModel`].
pub(super) fn describe(problems: &[ParamProblem]) -> String {
    match problems {
        [] => "no problem".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

/// Collects problems.
#[derive(Debug, Default)]
pub(crate) struct ParamChecks {
    pub problems: Vec<ParamProblem>,
}

impl ParamChecks {
    pub fn fail(&mut self, name: &str, value: impl fmt::Display, rule: impl Into<String>) {
        self.problems.push(ParamProblem {
            name: name.to_string(),
            value: value.to_string(),
            rule: rule.into(),
        });
    }

    /// A finite number in `[lo, hi]`, or `(lo, hi]` when `lo_open`.
    pub fn real(&mut self, name: &str, v: f64, lo: f64, lo_open: bool, hi: f64, unit: &str) {
        let above = if lo_open { v > lo } else { v >= lo };
        if !(v.is_finite() && above && v <= hi) {
            let open = if lo_open { "(" } else { "[" };
            self.fail(
                name,
                v,
                format!("must be a finite number in {open}{lo}, {hi}]{unit}"),
            );
        }
    }

    /// Problems of a part of the model, named under `prefix`.
    pub fn nested(&mut self, prefix: &str, problems: Vec<ParamProblem>) {
        self.problems
            .extend(problems.into_iter().map(|p| ParamProblem {
                name: format!("{prefix}.{}", p.name),
                ..p
            }));
    }

    /// `Ok` when nothing failed, else every problem under `model`'s name.
    pub fn finish(self, model: &'static str) -> Result<(), PathError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(PathError::InvalidModel {
                model,
                problems: self.problems,
            })
        }
    }
}

/// The problems of a validation result (none when it passed).
pub fn problems_of(result: Result<(), PathError>) -> Vec<ParamProblem> {
    match result {
        Ok(()) => Vec::new(),
        Err(PathError::InvalidModel { problems, .. }) => problems,
        Err(PathError::InvalidShock { name, problem }) => vec![ParamProblem {
            name: name.to_string(),
            value: "(as given)".to_string(),
            rule: problem,
        }],
        Err(other) => vec![ParamProblem {
            name: "(the model)".to_string(),
            value: "(as given)".to_string(),
            rule: other.to_string(),
        }],
    }
}
