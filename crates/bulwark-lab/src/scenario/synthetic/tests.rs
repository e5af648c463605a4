//! `kind = "synthetic"`: presets, models, changes laid over a preset, and every bad field
//! named with its range.

use std::path::PathBuf;

use crate::path::{Garch, Model, RegimeSwitching, StartRegime};
use crate::scenario::{
    parse, FieldProblem, LoadedScenario, Override, ScenarioError, DEFAULT_SCENARIO_TOML,
};

fn load(text: &str, sets: &[&str]) -> Result<LoadedScenario, ScenarioError> {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    parse(text, "test.toml", PathBuf::from("."), &overrides)
}

/// The default scenario switched to a synthetic path, with `sets` on top.
fn synthetic(sets: &[&str]) -> Result<LoadedScenario, ScenarioError> {
    let mut all = vec!["path.kind=synthetic"];
    all.extend(sets);
    load(DEFAULT_SCENARIO_TOML, &all)
}

fn resolved(sets: &[&str]) -> crate::path::SyntheticPath {
    let l = synthetic(sets).unwrap_or_else(|e| panic!("{sets:?}: {e}"));
    super::resolve(&l.scenario.path.synthetic, l.scenario.step_ms).unwrap()
}

fn problems(sets: &[&str]) -> Vec<FieldProblem> {
    match synthetic(sets) {
        Err(ScenarioError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("expected field problems for {sets:?}, got: {other}"),
        Ok(_) => panic!("{sets:?} was accepted"),
    }
}

#[test]
fn a_preset_a_model_or_nothing_picks_the_parameters() {
    // Nothing: GARCH's default preset, the daily fit.
    let p = resolved(&[]);
    assert_eq!(p.model, Model::Garch(Garch::btc_daily_fit()));
    assert_eq!(p.duration_s, 3 * 86_400);
    // A model alone takes its default preset; a preset alone brings its model.
    let p = resolved(&["path.synthetic.model=regime"]);
    assert_eq!(p.model, Model::Regime(RegimeSwitching::btc_daily_fit()));
    let p = resolved(&["path.synthetic.preset=regime_btc_5m_oct_2025"]);
    assert_eq!(
        p.model,
        Model::Regime(RegimeSwitching::btc_5m_oct_2025_fit())
    );
    // The shipped scenario file.
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/synthetic_garch.toml"
    );
    let l = crate::scenario::load_file(std::path::Path::new(file), &[]).unwrap();
    let p = super::resolve(&l.scenario.path.synthetic, l.scenario.step_ms).unwrap();
    assert_eq!(p.model, Model::Garch(Garch::btc_5m_oct_2025_fit()));
    assert_eq!((p.start_price, p.duration_s), (123_237.94, 259_200));
}

#[test]
fn changes_keep_every_other_field_of_the_preset() {
    let text = r#"
name = "x"
[path]
kind = "synthetic"
[path.synthetic]
preset = "garch_btc_5m_oct_2025"
start_price = 50000.0
[path.synthetic.garch]
alpha = 0.1
"#;
    let l = load(text, &[]).unwrap();
    let p = super::resolve(&l.scenario.path.synthetic, l.scenario.step_ms).unwrap();
    let want = Garch {
        alpha: 0.1,
        ..Garch::btc_5m_oct_2025_fit()
    };
    assert_eq!(p.model, Model::Garch(want));
    assert_eq!(p.start_price, 50_000.0);
    // Nested: one field of the crisis regime, from --set, keeps the rest of it.
    let p = resolved(&[
        "path.synthetic.model=regime",
        "path.synthetic.regime.crisis.jumps_per_day=4",
        "path.synthetic.regime.start=crisis",
    ]);
    let base = RegimeSwitching::btc_daily_fit();
    let Model::Regime(r) = p.model else {
        panic!("{p:?}")
    };
    assert_eq!(r.crisis.jumps_per_day, 4.0);
    assert_eq!(r.crisis.annual_vol, base.crisis.annual_vol);
    assert_eq!((r.calm, r.start), (base.calm, StartRegime::Crisis));
}

#[test]
fn every_bad_field_is_named_with_its_range() {
    for (sets, field, rule) in [
        (
            &["path.synthetic.preset=nope"][..],
            "path.synthetic.preset",
            "must be one of march_2020, october_2025",
        ),
        (
            &[
                "path.synthetic.model=merton",
                "path.synthetic.preset=garch_btc_daily_fit",
            ],
            "path.synthetic.model",
            "preset \"garch_btc_daily_fit\" is a \"garch\" model",
        ),
        (
            &["path.synthetic.merton.annual_vol=0.5"],
            "path.synthetic.merton",
            "this path's model is \"garch\"",
        ),
        (
            &["path.synthetic.garch.alpha=-0.1"],
            "path.synthetic.garch.alpha",
            "[0, 1]",
        ),
        (
            &["path.synthetic.garch.dof=2"],
            "path.synthetic.garch.dof",
            "(2, 1000]",
        ),
        (
            &[
                "path.synthetic.garch.alpha=0.5",
                "path.synthetic.garch.beta=0.6",
            ],
            "path.synthetic.garch.beta",
            "must be below 1",
        ),
        (
            &["path.synthetic.garch.omega=nan"],
            "path.synthetic.garch.omega",
            "(0, 1]",
        ),
        (
            &["path.synthetic.garch.alpah=0.1"],
            "path.synthetic.garch",
            "unknown field `alpah`",
        ),
        (
            &["path.synthetic.garch.bar_s=\"day\""],
            "path.synthetic.garch",
            "invalid type",
        ),
        (
            &[
                "path.synthetic.preset=garch_btc_5m_oct_2025",
                "step_ms=7000",
            ],
            "path.synthetic.garch.bar_s",
            "must divide one another",
        ),
        (
            &["path.synthetic.start_price=nan"],
            "path.synthetic.start_price",
            "(0, 1000000000] USD",
        ),
        (
            &["path.synthetic.start_price=-5"],
            "path.synthetic.start_price",
            "(0, 1000000000] USD",
        ),
        (
            &["path.synthetic.duration_s=0"],
            "path.synthetic.duration_s",
            "[1, 315360000]",
        ),
        (
            &["path.synthetic.duration_s=3601", "step_ms=2000"],
            "path.synthetic.duration_s",
            "whole number of steps",
        ),
        (
            &["path.synthetic.start_ms=253402300000000"],
            "path.synthetic.start_ms",
            "year 9999",
        ),
        (
            &[
                "path.synthetic.gbm.annual_vol=11",
                "path.synthetic.model=gbm",
            ],
            "path.synthetic.gbm.annual_vol",
            "[0, 10]",
        ),
        (
            &[
                "path.synthetic.model=merton",
                "path.synthetic.merton.jumps_per_day=1e6",
            ],
            "path.synthetic.merton.jumps_per_day",
            "[0, 1440]",
        ),
        (
            &[
                "path.synthetic.model=merton",
                "path.synthetic.merton.jump_sd_log=-0.1",
            ],
            "path.synthetic.merton.jump_sd_log",
            "[0, 1]",
        ),
        (
            &[
                "path.synthetic.model=regime",
                "path.synthetic.regime.mean_crisis_s=0",
            ],
            "path.synthetic.regime.mean_crisis_s",
            "[1, 315360000]",
        ),
        (
            &[
                "path.synthetic.model=regime",
                "path.synthetic.regime.crisis.annual_vol=-1",
            ],
            "path.synthetic.regime.crisis.annual_vol",
            "[0, 10]",
        ),
        (
            &[
                "path.synthetic.model=regime",
                "path.synthetic.regime.start=sometimes",
            ],
            "path.synthetic.regime",
            "unknown variant `sometimes`",
        ),
        (
            &[
                "path.synthetic.model=self_exciting",
                "path.synthetic.self_exciting.decay_per_min=0",
            ],
            "path.synthetic.self_exciting.decay_per_min",
            "finite and > 0",
        ),
        (
            &[
                "path.synthetic.model=self_exciting",
                "path.synthetic.self_exciting.down_after_down=1",
            ],
            "path.synthetic.self_exciting.down_after_down",
            "branching ratio",
        ),
        (
            &[
                "path.synthetic.preset=march_2020",
                "path.synthetic.start_price=5",
            ],
            "path.synthetic.start_price",
            "a shock states its own start",
        ),
        (
            &[
                "path.synthetic.model=shock",
                "path.synthetic.shock.drop_frac=1.5",
            ],
            "path.synthetic.shock.drop_frac",
            "(0, 1)",
        ),
    ] {
        let found = problems(sets);
        let p = found
            .iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("{sets:?}: no problem for {field} in {found:?}"));
        assert!(p.rule.contains(rule), "{sets:?}: {p}");
    }
}

#[test]
fn every_problem_is_listed_at_once_and_a_bad_model_name_is_a_parse_error() {
    let found = problems(&[
        "path.synthetic.garch.alpha=-1",
        "path.synthetic.garch.dof=1",
        "path.synthetic.start_price=0",
    ]);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "path.synthetic.garch.alpha",
            "path.synthetic.garch.dof",
            "path.synthetic.start_price"
        ]
    );
    assert_eq!(found[0].value, "-1");
    let e = synthetic(&["path.synthetic.model=heston"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("path.synthetic.model") && e.contains("unknown variant"),
        "{e}"
    );
}
