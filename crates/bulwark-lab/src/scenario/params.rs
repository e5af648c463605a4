//! `params = "tuned.toml"`: a file of overrides a scenario loads before the command line's.
//!
//! The file is a TOML table whose top-level keys are `--set` keys, quoted where they hold a
//! dot, each with its value as `--set` would read it:
//!
//! ```toml
//! "market.maintenance" = 7000
//! "market.defences.oi_cap.enabled" = true
//! "venue.insurance_seed_usd" = "2500000"
//! ```
//!
//! The keys are applied in the file's order (a TOML table is sorted by key), before every
//! `--set`, so the command line still has the last word; each is checked as an override is
//! (an unknown key is an error naming it and the file). `bulwark lab tune` writes such a file.

use std::path::{Path, PathBuf};

use super::error::ScenarioError;
use super::overrides::Override;

/// The scenario field that names a parameters file.
pub const PARAMS_KEY: &str = "params";

/// The parameters file a scenario loads, if any: the last `--set params=...`, else the
/// document's own `params`, resolved against the scenario's directory.
pub fn params_file(
    doc: &toml::Table,
    overrides: &[Override],
    base_dir: &Path,
    source: &str,
) -> Result<Option<PathBuf>, ScenarioError> {
    let given = overrides
        .iter()
        .rev()
        .find(|o| o.key == PARAMS_KEY)
        .map(|o| &o.value)
        .or_else(|| doc.get(PARAMS_KEY));
    let Some(value) = given else {
        return Ok(None);
    };
    let Some(text) = value.as_str() else {
        return Err(ScenarioError::Params {
            file: value.to_string(),
            scenario: source.to_string(),
            problem: "`params` must be a file name in quotes, e.g. params = \"tuned.toml\"".into(),
        });
    };
    let p = Path::new(text);
    Ok(Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }))
}

/// Reads a parameters file into overrides, in key order.
pub fn read(file: &Path, scenario: &str) -> Result<Vec<Override>, ScenarioError> {
    let error = |problem: String| ScenarioError::Params {
        file: file.display().to_string(),
        scenario: scenario.to_string(),
        problem,
    };
    let text = std::fs::read_to_string(file).map_err(|e| error(e.to_string()))?;
    parse(&text).map_err(error)
}

/// The overrides of a parameters file's text.
pub fn parse(text: &str) -> Result<Vec<Override>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.to_string().trim_end().to_string())?;
    let mut out = Vec::with_capacity(table.len());
    for (key, value) in table {
        if key == PARAMS_KEY {
            return Err("a params file cannot name another (`params`)".into());
        }
        // A `[market]` header would replace the whole section with the few fields under it;
        // dotted keys change only what they name.
        if value.is_table() && !key.contains('.') {
            return Err(format!(
                "`[{key}]` is a whole section; write each field as a dotted key instead, e.g. \
                 \"{key}.field\" = value"
            ));
        }
        // The same check as `--set`'s: an empty or malformed dotted path.
        let checked: Override = format!("{key}=0")
            .parse()
            .map_err(|e: ScenarioError| e.to_string().trim_start_matches("--set ").to_string())?;
        out.push(Override {
            key: checked.key,
            value,
        });
    }
    Ok(out)
}
