//! `--set key=value`: one edit of the scenario document, by dotted path, before it is typed.

use std::fmt;

use super::error::ScenarioError;

/// One `--set key=value` override: a dotted path into the scenario document.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: toml::Value,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl std::str::FromStr for Override {
    type Err = ScenarioError;

    /// Parses `key=value`. The value is read as a TOML value (`7`, `0.5`, `true`,
    /// `"text"`, `[1, 2]`, `{ a = 1 }`); anything that is not valid TOML is taken as a string,
    /// so `--set path.kind=historical` works without quotes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, raw) = s.split_once('=').ok_or_else(|| ScenarioError::Override {
            key: s.to_string(),
            problem: "expected key=value, e.g. --set seed=7".into(),
        })?;
        let key = key.trim().to_string();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(ScenarioError::Override {
                key,
                problem: "the key must be a dotted path such as market.maintenance".into(),
            });
        }
        let raw = raw.trim();
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        Ok(Override { key, value })
    }
}

/// Sets `doc[a][b][c] = value` for key `a.b.c`. A section on the way that the document does
/// not have yet is first filled with its current values (`current`, the typed scenario as it
/// stands, serialized), so setting one field of a section the file left at its defaults keeps
/// that section's other fields: `--set agents.traders.leverage.median=5` keeps the default
/// `sigma`. Whether the key means anything is decided by deserialization (unknown fields are
/// rejected there).
pub fn set_dotted(
    doc: &mut toml::Table,
    o: &Override,
    current: &toml::Table,
) -> Result<(), ScenarioError> {
    let parts: Vec<&str> = o.key.split('.').collect();
    let (last, parents) = parts.split_last().expect("FromStr rejects an empty key");
    let mut table = doc;
    let mut now = Some(current);
    for (depth, part) in parents.iter().enumerate() {
        let now_here = now
            .and_then(|t| t.get(*part))
            .and_then(toml::Value::as_table);
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(now_here.cloned().unwrap_or_default()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| ScenarioError::Override {
                key: o.key.clone(),
                problem: format!(
                    "`{}` is a value, not a section, so it has no field `{}`",
                    parts[..=depth].join("."),
                    parts[depth + 1]
                ),
            })?;
        now = now_here;
    }
    table.insert(last.to_string(), o.value.clone());
    Ok(())
}

/// Whether an override states `market.initial_price` (directly, or inside a `market` table).
pub fn sets_initial_price(o: &Override) -> bool {
    match o.key.as_str() {
        "market.initial_price" => true,
        "market" => o
            .value
            .as_table()
            .is_some_and(|t| t.contains_key("initial_price")),
        _ => false,
    }
}
