//! A sweep file: a base scenario, the fields to vary (a grid, random points, or both), the
//! number of seeds per point and the sweep's own seed.
//!
//! ```toml
//! name = "maintenance"
//! scenario = "default.toml"       # relative to this file; absent: the default scenario
//! seeds = 20                      # runs per parameter set, on the same seeds for every set
//! seed = 1                        # every run's seed derives from it and the seed index
//!
//! [set]                           # applied to every run
//! "agents.traders.count" = 1000
//!
//! [grid]                          # every combination of these values
//! "market.maintenance" = [5000, 10000]
//!
//! [[variants]]                    # and/or named variants, each a set of overrides
//! name = "no insurance"
//! set = { "venue.insurance" = false }
//!
//! [sample]                        # and/or this many random points
//! count = 8
//! [sample.uniform]                # drawn uniformly in [low, high]
//! "venue.insurance_seed_usd" = [0.0, 2000000.0]
//! [sample.choice]                 # drawn from the list
//! "venue.native_liquidation" = [true, false]
//! ```
//!
//! Variants, grid points and random points combine: each variant with each grid point with
//! each random point. The first parameter set (the first variant, the grid's first values) is
//! the baseline that the report's paired comparison measures the others against.
//! Any scenario field a `--set` override can reach can be swept; each parameter set is loaded
//! and validated before anything runs.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::Override;

/// Upper bound on the runs of one sweep: a typo such as `seeds = 1000000` must be an error,
/// not a week of CPU.
pub const MAX_RUNS: u64 = 1_000_000;

/// A sweep file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub name: String,
    /// The base scenario, relative to the sweep file; absent: the default scenario.
    #[serde(default)]
    pub scenario: Option<std::path::PathBuf>,
    /// Runs per parameter set.
    pub seeds: u32,
    /// The sweep's seed: with the seed index it gives every run's seed, so every parameter
    /// set runs on the same seeds (paired comparisons).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Overrides applied to every run.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Every combination of these values.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    pub sample: Option<SampleSpec>,
    /// Named parameter sets, each its own overrides; the first is the baseline.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Whether the report measures every set against the first on paired seeds (true unless
    /// the sets are not settings of one venue but, say, different crashes).
    #[serde(default = "yes")]
    pub paired_comparison: bool,
}

fn yes() -> bool {
    true
}

/// A named parameter set of a sweep (`[[variants]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
}

/// The column that names a set's variant, when a sweep has variants.
pub const VARIANT_COLUMN: &str = "variant";

fn default_seed() -> u64 {
    1
}

/// Random points of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSpec {
    pub count: u32,
    /// `key = [low, high]`: uniform between them; integers if both are integers.
    #[serde(default)]
    pub uniform: BTreeMap<String, [toml::Value; 2]>,
    /// `key = [a, b, ...]`: one of them, each as likely.
    #[serde(default)]
    pub choice: BTreeMap<String, Vec<toml::Value>>,
}

/// One point of the sweep: the values of the swept fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSet {
    pub index: usize,
    /// The variant's name, with a sweep of variants.
    pub variant: Option<String>,
    /// The variant's overrides (not columns: its name stands for them).
    pub variant_set: Vec<(String, toml::Value)>,
    /// (key, value) for each swept field, in column order.
    pub values: Vec<(String, toml::Value)>,
}

impl ParamSet {
    /// `key=value, key=value` (or "base" when nothing is swept).
    pub fn label(&self) -> String {
        let parts: Vec<String> = self
            .variant
            .iter()
            .cloned()
            .chain(
                self.values
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_text(v))),
            )
            .collect();
        if parts.is_empty() {
            "base".into()
        } else {
            parts.join(", ")
        }
    }

    /// The set's value of column `key` as text (the variant column included).
    pub fn cell(&self, key: &str) -> String {
        if key == VARIANT_COLUMN {
            if let Some(v) = &self.variant {
                return v.clone();
            }
        }
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map_or(String::new(), |(_, v)| value_text(v))
    }
}

/// A value as a CSV cell and a label show it: strings without quotes, numbers as TOML writes
/// them.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a sweep file asks for, expanded: the parameter sets and the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The swept keys, in column order: the grid's (sorted), then the sample's.
    pub keys: Vec<String>,
    pub sets: Vec<ParamSet>,
    pub seeds: u32,
    pub sweep_seed: u64,
}

/// One run of a plan: run `index` = `set * seeds + seed_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunId {
    pub index: u64,
    pub set: usize,
    pub seed_index: u32,
    /// The scenario seed this run uses.
    pub seed: u64,
}

impl Plan {
    pub fn total_runs(&self) -> u64 {
        self.sets.len() as u64 * u64::from(self.seeds)
    }

    pub fn run(&self, index: u64) -> RunId {
        let seeds = u64::from(self.seeds);
        let seed_index = (index % seeds) as u32;
        RunId {
            index,
            set: (index / seeds) as usize,
            seed_index,
            seed: run_seed(self.sweep_seed, seed_index),
        }
    }

    /// The overrides of a parameter set: the sweep's fixed `set`, then the set's values.
    pub fn overrides(&self, spec: &SweepSpec, set: usize) -> Vec<Override> {
        let fixed = spec.set.iter().map(|(k, v)| Override {
            key: k.clone(),
            value: v.clone(),
        });
        let p = &self.sets[set];
        let swept = p
            .variant_set
            .iter()
            .chain(&p.values)
            .map(|(k, v)| Override {
                key: k.clone(),
                value: v.clone(),
            });
        fixed.chain(swept).collect()
    }
}

/// The scenario seed of seed index `i`: SplitMix64 of the sweep seed and the index, kept
/// within TOML's integers so `lab run --set seed=...` reproduces any run.
pub fn run_seed(sweep_seed: u64, seed_index: u32) -> u64 {
    let mut z =
        sweep_seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(u64::from(seed_index) + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & (i64::MAX as u64)
}

impl SweepSpec {
    /// Parses a sweep file's text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<SweepSpec, String> {
        toml::from_str(text).map_err(|e| format!("{source}: {}", e.to_string().trim_end()))
    }

    /// Checks the spec's own rules (not the scenario fields, which loading each set checks)
    /// and expands it.
    pub fn plan(&self) -> Result<Plan, String> {
        if self.name.trim().is_empty() {
            return Err("name: must not be empty".into());
        }
        if self.seeds == 0 {
            return Err("seeds: must be at least 1".into());
        }
        for (k, values) in &self.grid {
            if values.is_empty() {
                return Err(format!("grid.{k}: give at least one value"));
            }
            if self.set.contains_key(k) {
                return Err(format!(
                    "grid.{k}: also in [set]; sweep it or fix it, not both"
                ));
            }
        }
        let variants = self.check_variants()?;
        let mut points = vec![Vec::new()];
        for (k, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|p: Vec<(String, toml::Value)>| {
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.push((k.clone(), v.clone()));
                        p
                    })
                })
                .collect();
        }
        let mut keys: Vec<String> = self.grid.keys().cloned().collect();
        if let Some(sample) = &self.sample {
            let drawn = sample.draw(self.seed, &self.set, &self.grid)?;
            keys.extend(sample.keys());
            points = points
                .into_iter()
                .flat_map(|p| {
                    drawn.iter().map(move |d| {
                        let mut p = p.clone();
                        p.extend(d.iter().cloned());
                        p
                    })
                })
                .collect();
        }
        let sets_count = points.len() as u64 * variants.len().max(1) as u64;
        let total = sets_count * u64::from(self.seeds);
        if total > MAX_RUNS {
            return Err(format!(
                "{sets_count} parameter sets x {} seeds = {total} runs, beyond the limit of \
                 {MAX_RUNS}; sweep fewer values or seeds, or split the sweep",
                self.seeds
            ));
        }
        let named: Vec<Option<&Variant>> = if variants.is_empty() {
            vec![None]
        } else {
            variants.iter().map(Some).collect()
        };
        let sets = named
            .iter()
            .flat_map(|v| points.iter().map(move |p| (*v, p.clone())))
            .enumerate()
            .map(|(index, (v, values))| ParamSet {
                index,
                variant: v.map(|v| v.name.clone()),
                variant_set: v.map_or(Vec::new(), |v| {
                    v.set.iter().map(|(k, x)| (k.clone(), x.clone())).collect()
                }),
                values,
            })
            .collect();
        if !variants.is_empty() {
            keys.insert(0, VARIANT_COLUMN.to_string());
        }
        Ok(Plan {
            keys,
            sets,
            seeds: self.seeds,
            sweep_seed: self.seed,
        })
    }
}

impl SweepSpec {
    /// Variants need distinct, non-empty names, and may not set a field the grid or the
    /// sample sweeps (the set would not be what its column says).
    fn check_variants(&self) -> Result<&[Variant], String> {
        let mut names = std::collections::BTreeSet::new();
        for (i, v) in self.variants.iter().enumerate() {
            if v.name.trim().is_empty() {
                return Err(format!("variants[{i}].name: must not be empty"));
            }
            if !names.insert(v.name.as_str()) {
                return Err(format!("variants[{i}].name: {:?} is used twice", v.name));
            }
            let sampled = self.sample.as_ref().map_or(Vec::new(), SampleSpec::keys);
            for k in v.set.keys() {
                if self.grid.contains_key(k) || sampled.contains(k) {
                    return Err(format!(
                        "variants[{i}] ({}): {k} is also swept by [grid] or [sample]",
                        v.name
                    ));
                }
            }
        }
        Ok(&self.variants)
    }
}

/// The random stream of a sweep's sample points: apart from every run's own streams.
const SAMPLE_STREAM: u64 = 0x0053_5745_4550; // "SWEEP"

impl SampleSpec {
    fn keys(&self) -> Vec<String> {
        self.uniform
            .keys()
            .chain(self.choice.keys())
            .cloned()
            .collect()
    }

    fn draw(
        &self,
        seed: u64,
        fixed: &BTreeMap<String, toml::Value>,
        grid: &BTreeMap<String, Vec<toml::Value>>,
    ) -> Result<Vec<Vec<(String, toml::Value)>>, String> {
        if self.count == 0 {
            return Err("sample.count: must be at least 1".into());
        }
        for k in self.keys() {
            if fixed.contains_key(&k) || grid.contains_key(&k) {
                return Err(format!(
                    "sample: {k} is also in [set] or [grid]; give each field one role"
                ));
            }
        }
        if self.uniform.keys().any(|k| self.choice.contains_key(k)) {
            return Err("sample: a field is both uniform and choice".into());
        }
        for (k, [lo, hi]) in &self.uniform {
            uniform_bounds(lo, hi).map_err(|e| format!("sample.uniform.{k}: {e}"))?;
        }
        for (k, values) in &self.choice {
            if values.is_empty() {
                return Err(format!("sample.choice.{k}: give at least one value"));
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SAMPLE_STREAM);
        let mut out = Vec::with_capacity(self.count as usize);
        for _ in 0..self.count {
            let mut point = Vec::new();
            for (k, [lo, hi]) in &self.uniform {
                let v = match uniform_bounds(lo, hi)? {
                    Bounds::Int(a, b) => toml::Value::Integer(rng.gen_range(a..=b)),
                    Bounds::Float(a, b) => toml::Value::Float(a + (b - a) * rng.gen::<f64>()),
                };
                point.push((k.clone(), v));
            }
            for (k, values) in &self.choice {
                let v = values[rng.gen_range(0..values.len())].clone();
                point.push((k.clone(), v));
            }
            out.push(point);
        }
        Ok(out)
    }
}

enum Bounds {
    Int(i64, i64),
    Float(f64, f64),
}

fn uniform_bounds(lo: &toml::Value, hi: &toml::Value) -> Result<Bounds, String> {
    use toml::Value::{Float, Integer};
    let b = match (lo, hi) {
        (Integer(a), Integer(b)) => Bounds::Int(*a, *b),
        (Integer(_) | Float(_), Integer(_) | Float(_)) => {
            let f = |v: &toml::Value| match v {
                Integer(i) => *i as f64,
                Float(x) => *x,
                _ => f64::NAN,
            };
            Bounds::Float(f(lo), f(hi))
        }
        _ => return Err("expected [low, high] as two numbers".into()),
    };
    match b {
        Bounds::Int(a, b) if a > b => Err(format!("low {a} is above high {b}")),
        Bounds::Float(a, b) if !(a.is_finite() && b.is_finite()) => {
            Err("low and high must be finite".into())
        }
        Bounds::Float(a, b) if a > b => Err(format!("low {a} is above high {b}")),
        ok => Ok(ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SweepSpec {
        SweepSpec::parse(text, "test").unwrap() // ok: test input
    }

    #[test]
    fn a_grid_expands_to_every_combination_and_runs_share_seeds_across_sets() {
        let s = spec(
            r#"
            name = "g"
            seeds = 3
            seed = 9
            [grid]
            "market.maintenance" = [5000, 10000]
            "venue.insurance" = [true, false]
            "#,
        );
        let plan = s.plan().unwrap(); // ok: test
        assert_eq!(plan.keys, ["market.maintenance", "venue.insurance"]);
        assert_eq!(plan.sets.len(), 4);
        assert_eq!(plan.total_runs(), 12);
        assert_eq!(
            plan.sets[1].label(),
            "market.maintenance=5000, venue.insurance=false"
        );
        let (a, b) = (plan.run(1), plan.run(4));
        assert_eq!((a.set, a.seed_index, b.set, b.seed_index), (0, 1, 1, 1));
        assert_eq!(a.seed, b.seed, "paired: the same seed index, the same seed");
        assert_ne!(plan.run(0).seed, a.seed);
        assert!(a.seed <= i64::MAX as u64);
    }

    #[test]
    fn variants_cross_the_grid_and_name_their_sets() {
        let s = spec(
            r#"
            name = "v"
            seeds = 2
            [grid]
            "market.maintenance" = [5000, 10000]
            [[variants]]
            name = "all on"
            [[variants]]
            name = "no insurance"
            set = { "venue.insurance" = false }
            "#,
        );
        let plan = s.plan().unwrap(); // ok: test
        assert_eq!(plan.keys, ["variant", "market.maintenance"]);
        assert_eq!(plan.sets.len(), 4);
        assert_eq!(
            plan.sets[2].label(),
            "no insurance, market.maintenance=5000"
        );
        assert_eq!(plan.sets[2].cell("variant"), "no insurance");
        let o = plan.overrides(&s, 2);
        let keys: Vec<&str> = o.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["venue.insurance", "market.maintenance"]);
        let dup = "name = \"d\"\nseeds = 1\n[[variants]]\nname = \"a\"\n[[variants]]\nname = \"a\"";
        assert!(spec(dup).plan().unwrap_err().contains("used twice")); // ok: test
    }

    #[test]
    fn random_points_are_reproducible_within_bounds_and_cross_the_grid() {
        let text = r#"
            name = "r"
            seeds = 2
            [grid]
            "market.maintenance" = [5000, 10000]
            [sample]
            count = 5
            [sample.uniform]
            "venue.insurance_seed_usd" = [0.0, 2000000.0]
            "agents.traders.count" = [100, 200]
            [sample.choice]
            "venue.native_liquidation" = [true, false]
            "#;
        let plan = spec(text).plan().unwrap(); // ok: test
        assert_eq!(plan.sets.len(), 10);
        assert_eq!(plan, spec(text).plan().unwrap()); // ok: test
        for set in &plan.sets {
            for (k, v) in &set.values {
                match k.as_str() {
                    "venue.insurance_seed_usd" => {
                        let x = v.as_float().unwrap(); // ok: test
                        assert!((0.0..=2e6).contains(&x));
                    }
                    "agents.traders.count" => {
                        let n = v.as_integer().unwrap(); // ok: test
                        assert!((100..=200).contains(&n));
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn bad_specs_are_errors_naming_the_field() {
        let cases = [
            ("name = \"x\"\nseeds = 0", "seeds"),
            ("name = \"x\"\nseeds = 1\n[grid]\n\"a.b\" = []", "grid.a.b"),
            (
                "name = \"x\"\nseeds = 1\n[set]\n\"a.b\" = 1\n[grid]\n\"a.b\" = [1]",
                "also in [set]",
            ),
            (
                "name = \"x\"\nseeds = 1\n[sample]\ncount = 2\n[sample.uniform]\n\"a\" = [2, 1]",
                "sample.uniform.a: low 2 is above high 1",
            ),
            (
                "name = \"x\"\nseeds = 1000000\n[grid]\n\"a\" = [1, 2]",
                "beyond the limit",
            ),
        ];
        for (text, want) in cases {
            let err = spec(text).plan().unwrap_err(); // ok: test
            assert!(err.contains(want), "{text}: {err}");
        }
        let err = SweepSpec::parse("name = \"x\"\nseeds = 1\nsed = 2", "f.toml").unwrap_err(); // ok: test
        assert!(err.contains("f.toml") && err.contains("sed"), "{err}");
    }
}
