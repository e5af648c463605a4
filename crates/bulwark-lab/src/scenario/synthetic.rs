//! `[path.synthetic]` resolved against its preset: which preset, which model, the model's
//! parameters with the scenario's changes laid over the preset's, and every rule of the
//! result checked, each problem named by its field (`path.synthetic.garch.alpha`).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::FieldProblem;
use super::fields::SyntheticSpec;
use crate::path::{preset, Model, ModelKind, PathError, SyntheticPath, PRESET_NAMES};
use bulwark_engine::limits::MAX_TIMESTAMP_MS;

/// The model of `kind = "synthetic"` when the scenario names neither a model nor a preset.
pub const DEFAULT_MODEL: ModelKind = ModelKind::Garch;

const PREFIX: &str = "path.synthetic";

/// The path `spec` states on steps of `step_ms`, or every problem with it.
pub fn resolve(spec: &SyntheticSpec, step_ms: u64) -> Result<SyntheticPath, Vec<FieldProblem>> {
    let name = match (&spec.preset, spec.model) {
        (Some(name), _) => name.as_str(),
        (None, Some(kind)) => kind.default_preset(),
        (None, None) => DEFAULT_MODEL.default_preset(),
    };
    let Some(preset) = preset(name) else {
        return Err(vec![problem(
            "preset",
            format!("{name:?}"),
            format!("must be one of {}", PRESET_NAMES.join(", ")),
        )]);
    };
    let kind = preset.path.model.kind();
    let mut problems = mismatches(spec, name, kind);
    let changes = tables(spec)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, t)| t);
    let model = match with_changes(&preset.path.model, changes) {
        Ok(model) => model,
        Err(p) => {
            problems.push(p);
            return Err(problems);
        }
    };
    if kind == ModelKind::Shock {
        problems.extend(shock_owns_its_frame(spec));
    }
    let path = SyntheticPath {
        model,
        start_ms: spec.start_ms.unwrap_or(preset.path.start_ms),
        start_price: spec.start_price.unwrap_or(preset.path.start_price),
        duration_s: spec.duration_s.unwrap_or(preset.path.duration_s),
    };
    problems.extend(path_problems(&path, step_ms));
    if problems.is_empty() {
        Ok(path)
    } else {
        Err(problems)
    }
}

/// A `model` other than preset `name`'s (`kind`), and parameter tables of other models.
fn mismatches(spec: &SyntheticSpec, name: &str, kind: ModelKind) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    if let Some(model) = spec.model.filter(|m| *m != kind) {
        out.push(problem(
            "model",
            format!("{:?}", model.name()),
            format!(
                "preset {name:?} is a {:?} model; set model = {:?} or pick a preset of \
                 {:?} (its default is {:?})",
                kind.name(),
                kind.name(),
                model.name(),
                model.default_preset()
            ),
        ));
    }
    for (other, table) in tables(spec) {
        if table.is_some() && other != kind {
            out.push(problem(
                other.name(),
                "(a table)",
                format!(
                    "is the parameter table of model {:?}; this path's model is {:?}: move \
                     the fields to [path.synthetic.{}] or change the model",
                    other.name(),
                    kind.name(),
                    kind.name()
                ),
            ));
        }
    }
    out
}

/// A shock states its own start, first price and length: the path's fields for them are
/// refused rather than silently ignored.
fn shock_owns_its_frame(spec: &SyntheticSpec) -> Vec<FieldProblem> {
    [
        ("start_ms", spec.start_ms.is_some()),
        ("start_price", spec.start_price.is_some()),
        ("duration_s", spec.duration_s.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(field, _)| {
        problem(
            field,
            "(given)",
            "a shock states its own start, price and phases: set them in \
             [path.synthetic.shock] (e.g. shock.start_price, shock.tail_s)",
        )
    })
    .collect()
}

/// Each model's table, in [`ModelKind::ALL`]'s order.
fn tables(spec: &SyntheticSpec) -> [(ModelKind, Option<&toml::Table>); 6] {
    [
        (ModelKind::Gbm, spec.gbm.as_ref()),
        (ModelKind::Merton, spec.merton.as_ref()),
        (ModelKind::Garch, spec.garch.as_ref()),
        (ModelKind::Regime, spec.regime.as_ref()),
        (ModelKind::SelfExciting, spec.self_exciting.as_ref()),
        (ModelKind::Shock, spec.shock.as_ref()),
    ]
}

/// The preset's model with the scenario's table laid over its parameters.
fn with_changes(base: &Model, changes: Option<&toml::Table>) -> Result<Model, FieldProblem> {
    let Some(changes) = changes else {
        return Ok(base.clone());
    };
    let field = base.kind().name();
    Ok(match base {
        Model::Gbm(p) => Model::Gbm(overlaid(p, changes, field)?),
        Model::Merton(p) => Model::Merton(overlaid(p, changes, field)?),
        Model::Garch(p) => Model::Garch(overlaid(p, changes, field)?),
        Model::Regime(p) => Model::Regime(overlaid(p, changes, field)?),
        Model::SelfExciting(p) => Model::SelfExciting(overlaid(p, changes, field)?),
        Model::Shock(p) => Model::Shock(overlaid(p, changes, field)?),
    })
}

/// `base` written as TOML, `changes` laid over it (tables merged field by field, any other
/// value replaced), read back: an unknown field or a wrong type is a problem naming the
/// table.
fn overlaid<T: Serialize + DeserializeOwned>(
    base: &T,
    changes: &toml::Table,
    field: &str,
) -> Result<T, FieldProblem> {
    let mut table = toml::Table::try_from(base).expect("a preset's parameters are valid TOML");
    lay_over(&mut table, changes);
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            problem(field, "(as given)", e.message().trim_end().to_string())
        })
}

fn lay_over(base: &mut toml::Table, changes: &toml::Table) {
    for (key, value) in changes {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(more)) => lay_over(inner, more),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The path's own rules on steps of `step_ms`, and that it ends by the engine's last
/// timestamp.
fn path_problems(path: &SyntheticPath, step_ms: u64) -> Vec<FieldProblem> {
    if step_ms == 0 {
        return Vec::new(); // Reported under `step_ms`.
    }
    let mut out: Vec<FieldProblem> = match path.validate(step_ms) {
        Ok(()) => Vec::new(),
        Err(PathError::InvalidModel { problems, .. }) => problems
            .into_iter()
            .map(|p| problem(&p.name, p.value, p.rule))
            .collect(),
        Err(PathError::InvalidShock {
            name,
            problem: rule,
        }) => {
            let value = match &path.model {
                Model::Shock(s) => super::validate::shock_value(s, name),
                _ => "(as given)".to_string(),
            };
            vec![problem(&format!("shock.{name}"), value, rule)]
        }
        Err(other) => vec![problem("(the path)", "(as given)", other.to_string())],
    };
    let (start_ms, length_s) = match &path.model {
        Model::Shock(s) => (s.start_ms, s.total_s()),
        _ => (path.start_ms, path.duration_s),
    };
    if start_ms.saturating_add(length_s.saturating_mul(1000)) > MAX_TIMESTAMP_MS {
        let field = if matches!(path.model, Model::Shock(_)) {
            "shock.start_ms"
        } else {
            "start_ms"
        };
        out.push(problem(
            field,
            start_ms,
            format!("the path must end by the engine's last timestamp ({MAX_TIMESTAMP_MS} ms, year 9999)"),
        ));
    }
    out
}

fn problem(name: &str, value: impl ToString, rule: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: format!("{PREFIX}.{name}"),
        value: value.to_string(),
        rule: rule.into(),
    }
}

#[cfg(test)]
mod tests;
