//! Scenarios: everything one lab run needs, read from a TOML file.
//!
//! A scenario names the market and its engine parameters, the outside price path, the agent
//! populations, the chain model, which mechanisms are on, and the run's length, step and seed.
//! Every section and field has a default except `name`, so a scenario states only what it
//! changes. `scenarios/README.md` documents every field; the doc comments below are the source.
//!
//! Unknown fields are errors (serde `deny_unknown_fields`): a typo must not silently fall back
//! to a default. Errors from a file name the file, the line and the field; errors from a
//! `--set key=value` override name the key. Once typed, every field is checked against its
//! rule ([`validate`]): a value out of range is an error naming the field and the range,
//! never clamped.
//!
//! - [`fields`]: the types and their defaults;
//! - [`overrides`]: `--set key=value`; [`params`]: a file of them (`params = "tuned.toml"`);
//! - [`validate`]: every field's rule, [`limits`]: the shared bounds and why;
//! - [`error`]: what goes wrong, in words that say what to fix.

pub mod error;
pub mod fields;
pub mod limits;
pub mod overrides;
pub mod params;
pub mod synthetic;
pub mod validate;

use std::path::{Path, PathBuf};

pub use error::{FieldProblem, ScenarioError};
pub use fields::*;
pub use overrides::Override;

/// The default scenario, shipped as `scenarios/default.toml` and embedded so `bulwark lab run`
/// works from any directory.
pub const DEFAULT_SCENARIO_TOML: &str = include_str!("../../../scenarios/default.toml");

/// Where the default scenario lives relative to the repository root.
pub const DEFAULT_SCENARIO_PATH: &str = "scenarios/default.toml";

/// A scenario as loaded, with where it came from (relative paths inside it resolve there).
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    /// Directory that relative paths in the scenario are resolved against.
    pub base_dir: PathBuf,
    /// What to call the source in messages (a file name, or "embedded default").
    pub source: String,
    /// Whether `market.initial_price` was given; if not, the run uses the path's first price.
    pub initial_price_given: bool,
    /// The same for each of `more_markets`, in order.
    pub more_initial_prices_given: Vec<bool>,
}

impl LoadedScenario {
    /// Whether market `index` (0: `[market]`, then `more_markets` in order) states its
    /// initial price.
    pub fn initial_price_given(&self, index: usize) -> bool {
        match index {
            0 => self.initial_price_given,
            i => self
                .more_initial_prices_given
                .get(i - 1)
                .copied()
                .unwrap_or(false),
        }
    }
}

impl LoadedScenario {
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Loads a scenario file and applies the overrides.
pub fn load_file(path: &Path, overrides: &[Override]) -> Result<LoadedScenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        file: path.display().to_string(),
        source,
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(&text, &path.display().to_string(), base_dir, overrides)
}

/// Loads the default scenario: `scenarios/default.toml` under `root` if it exists there (so an
/// edited copy is honoured), else the copy embedded in the binary.
pub fn load_default(root: &Path, overrides: &[Override]) -> Result<LoadedScenario, ScenarioError> {
    let on_disk = root.join(DEFAULT_SCENARIO_PATH);
    if on_disk.is_file() {
        return load_file(&on_disk, overrides);
    }
    parse(
        DEFAULT_SCENARIO_TOML,
        "embedded default scenario",
        root.to_path_buf(),
        overrides,
    )
}

/// Parses scenario text. The text is first deserialized as written, so an unknown or
/// mistyped field is reported with its line; then each override is applied to the parsed
/// document and the result deserialized again, so a bad key is reported with the key. Last,
/// every field is checked against its rule.
pub fn parse(
    text: &str,
    source: &str,
    base_dir: PathBuf,
    overrides: &[Override],
) -> Result<LoadedScenario, ScenarioError> {
    let parse_error = |e: toml::de::Error| ScenarioError::Parse {
        file: source.to_string(),
        detail: e.to_string().trim_end().to_string(),
    };
    let mut scenario: Scenario = toml::from_str(text).map_err(parse_error)?;
    let mut doc: toml::Table = text.parse().map_err(parse_error)?;
    let mut initial_price_given = doc
        .get("market")
        .and_then(|m| m.as_table())
        .is_some_and(|m| m.contains_key("initial_price"));
    // A parameters file's keys come first, so the command line's `--set` has the last word.
    if let Some(file) = params::params_file(&doc, overrides, &base_dir, source)? {
        for o in params::read(&file, source)? {
            scenario = apply_override(&mut doc, &scenario, &o).map_err(|e| match e {
                ScenarioError::Override { key, problem } => ScenarioError::Params {
                    file: file.display().to_string(),
                    scenario: source.to_string(),
                    problem: format!("{key}: {problem}"),
                },
                other => other,
            })?;
            initial_price_given |= overrides::sets_initial_price(&o);
        }
    }
    for o in overrides {
        scenario = apply_override(&mut doc, &scenario, o)?;
        initial_price_given |= overrides::sets_initial_price(o);
    }
    // After the overrides: the document is then the scenario as run.
    let more_initial_prices_given: Vec<bool> = doc
        .get("more_markets")
        .and_then(|m| m.as_array())
        .map_or(Vec::new(), |markets| {
            markets
                .iter()
                .map(|m| {
                    m.get("market")
                        .and_then(|p| p.as_table())
                        .is_some_and(|p| p.contains_key("initial_price"))
                })
                .collect()
        });
    let problems = validate::check(
        &scenario,
        &base_dir,
        initial_price_given,
        &more_initial_prices_given,
    );
    if !problems.is_empty() {
        return Err(ScenarioError::Invalid {
            file: source.to_string(),
            problems,
        });
    }
    Ok(LoadedScenario {
        scenario,
        base_dir,
        source: source.to_string(),
        initial_price_given,
        more_initial_prices_given,
    })
}

/// One override applied to the document, and the scenario it now types as.
fn apply_override(
    doc: &mut toml::Table,
    scenario: &Scenario,
    o: &Override,
) -> Result<Scenario, ScenarioError> {
    // The typed scenario as it stands fills sections the document does not have yet; one
    // that cannot be written as TOML (a seed beyond i64) only loses that convenience.
    let current = toml::Table::try_from(scenario).unwrap_or_default();
    overrides::set_dotted(doc, o, &current)?;
    toml::Value::Table(doc.clone())
        .try_into()
        .map_err(|e: toml::de::Error| ScenarioError::Override {
            key: o.key.clone(),
            problem: e.message().trim_end().to_string(),
        })
}

#[cfg(test)]
mod tests;
