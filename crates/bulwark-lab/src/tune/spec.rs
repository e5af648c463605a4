//! A tune file (`bulwark lab tune TUNE.toml`): the tuning scenarios, the held-out folder, the
//! objective and its constraints, the search's schedule and the space it draws candidates
//! from. Format and defaults: `scenarios/README.md`, "Tuning".

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::search::{Constraints, Halving};
use crate::scenario::Override;

/// Upper bound on the candidates of one tune: a typo such as `candidates = 50000` must be an
/// error, not a month of CPU.
pub const MAX_CANDIDATES: u32 = 10_000;

/// A tune file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneSpec {
    pub name: String,
    /// The tune's seed: candidates and every run's seed derive from it.
    #[serde(default = "one")]
    pub seed: u64,
    /// The tuning scenarios: files, or folders whose `*.toml` are taken in name order;
    /// relative to the tune file.
    pub scenarios: Vec<PathBuf>,
    /// The held-out folder (`*.toml`, relative to the tune file): never tuned on, the judge.
    #[serde(default = "default_heldout")]
    pub heldout: PathBuf,
    /// The committed list of fit-data files' hashes (relative to the tune file).
    #[serde(default = "default_fit_data")]
    pub fit_data: PathBuf,
    /// Overrides applied to every run, tuning and held-out, tuned and default alike (the
    /// experiment's set-up, such as a shorter run or fewer traders).
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub objective: Objective,
    #[serde(default)]
    pub search: SearchSpec,
    pub space: Space,
    #[serde(default)]
    pub judge: Judge,
}

fn one() -> u64 {
    1
}

fn default_heldout() -> PathBuf {
    PathBuf::from("heldout")
}

fn default_fit_data() -> PathBuf {
    PathBuf::from("fit-data.toml")
}

/// `[objective]`: minimise `margin_per_oi` subject to these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Objective {
    /// Target for P(bad debt), judged by the upper end of its Wilson interval.
    pub max_bad_debt_probability: f64,
    /// Two-sided confidence of that Wilson interval.
    pub bad_debt_confidence: f64,
    /// Cap on the mean `volume_refused_share` (so tiny caps or long halts cannot win).
    pub max_volume_refused_share: f64,
    /// The insurance fund is sized as the expected shortfall at this level of the chosen
    /// candidate's deficits that reach the insurance stage.
    pub insurance_es_level: f64,
    /// Seeds per tuning scenario the chosen candidate runs for that expected shortfall
    /// (cumulative, as the rungs); absent: the last rung's runs only.
    pub insurance_seeds: Option<u32>,
}

impl Default for Objective {
    fn default() -> Self {
        Objective {
            max_bad_debt_probability: 0.05,
            bad_debt_confidence: 0.95,
            max_volume_refused_share: 0.01,
            insurance_es_level: 0.99,
            insurance_seeds: None,
        }
    }
}

/// `[search]`: successive halving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSpec {
    pub candidates: u32,
    /// Cumulative seeds per tuning scenario at each rung.
    pub rungs: Vec<u32>,
    pub eta: u32,
}

impl Default for SearchSpec {
    fn default() -> Self {
        SearchSpec {
            candidates: 50,
            rungs: vec![11, 33, 100],
            eta: 3,
        }
    }
}

/// `[space]`: where candidates are drawn from. Each key is a `--set` key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Space {
    /// `key = [low, high]`: uniform; integers if both are integers.
    pub uniform: BTreeMap<String, [toml::Value; 2]>,
    /// `key = [low, high]`, both above zero: uniform in the logarithm (a fee or a cap that
    /// matters by its order of magnitude); rounded to integers if both are integers.
    pub log_uniform: BTreeMap<String, [toml::Value; 2]>,
    /// `key = [a, b, ...]`: one of them, each as likely.
    pub choice: BTreeMap<String, Vec<toml::Value>>,
}

/// `[judge]`: tuned against default on the held-out set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Judge {
    /// Paired seeds per held-out scenario.
    pub seeds: u32,
}

impl Default for Judge {
    fn default() -> Self {
        Judge { seeds: 100 }
    }
}

/// One candidate: its index and its values, in the space's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub index: usize,
    pub values: Vec<(String, toml::Value)>,
}

impl Candidate {
    pub fn overrides(&self) -> Vec<Override> {
        self.values
            .iter()
            .map(|(k, v)| Override {
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    }
}

impl TuneSpec {
    /// Parses a tune file's text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<TuneSpec, String> {
        toml::from_str(text).map_err(|e| format!("{source}: {}", e.to_string().trim_end()))
    }

    pub fn constraints(&self) -> Constraints {
        Constraints {
            max_bad_debt_probability: self.objective.max_bad_debt_probability,
            confidence: self.objective.bad_debt_confidence,
            max_volume_refused_share: self.objective.max_volume_refused_share,
        }
    }

    pub fn halving(&self) -> Halving {
        Halving {
            rungs: self.search.rungs.clone(),
            eta: self.search.eta,
        }
    }

    /// The spec's own rules (the scenario fields are checked when each candidate loads).
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name: must not be empty".into());
        }
        if self.scenarios.is_empty() {
            return Err("scenarios: list at least one tuning scenario (file or folder)".into());
        }
        let o = &self.objective;
        let unit = |name: &str, x: f64, open: bool| {
            let ok = if open {
                x > 0.0 && x < 1.0
            } else {
                (0.0..=1.0).contains(&x)
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "objective.{name}: {x}: must be in {}",
                    if open { "(0, 1)" } else { "[0, 1]" }
                ))
            }
        };
        unit(
            "max_bad_debt_probability",
            o.max_bad_debt_probability,
            false,
        )?;
        unit("bad_debt_confidence", o.bad_debt_confidence, true)?;
        unit(
            "max_volume_refused_share",
            o.max_volume_refused_share,
            false,
        )?;
        unit("insurance_es_level", o.insurance_es_level, true)?;
        self.halving().check()?;
        if self.search.candidates == 0 || self.search.candidates > MAX_CANDIDATES {
            return Err(format!(
                "search.candidates: {}: must be in [1, {MAX_CANDIDATES}]",
                self.search.candidates
            ));
        }
        let last = self.search.rungs.last().copied().unwrap_or(0);
        if let Some(n) = o.insurance_seeds.filter(|n| *n < last) {
            return Err(format!(
                "objective.insurance_seeds: {n}: below the last rung's {last} seeds (absent: \
                 the last rung's runs)"
            ));
        }
        if self.judge.seeds == 0 {
            return Err("judge.seeds: must be at least 1".into());
        }
        self.check_space()
    }

    fn check_space(&self) -> Result<(), String> {
        let s = &self.space;
        let keys = s.keys();
        if keys.is_empty() {
            return Err(
                "space: give at least one field to search ([space.uniform], \
                        [space.log_uniform] or [space.choice])"
                    .into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for k in &keys {
            if !seen.insert(k.as_str()) {
                return Err(format!(
                    "space: {k} is given twice; give each field one range"
                ));
            }
            if self.set.contains_key(k) {
                return Err(format!("space: {k} is also in [set]; search it or fix it"));
            }
            if k == crate::scenario::params::PARAMS_KEY || k == "seed" {
                return Err(format!("space: {k} is not a venue parameter"));
            }
            // The crash is the scenario's, not a parameter of the venue: searching it would
            // also move the tuning side's data fingerprints.
            if CRASH_KEYS
                .iter()
                .any(|c| k == c || k.starts_with(&format!("{c}.")))
            {
                return Err(format!(
                    "space: {k} changes the crash (path, length, step, data), not the venue"
                ));
            }
        }
        for (k, [lo, hi]) in &s.uniform {
            bounds(lo, hi, false).map_err(|e| format!("space.uniform.{k}: {e}"))?;
        }
        for (k, [lo, hi]) in &s.log_uniform {
            bounds(lo, hi, true).map_err(|e| format!("space.log_uniform.{k}: {e}"))?;
        }
        for (k, values) in &s.choice {
            if values.is_empty() {
                return Err(format!("space.choice.{k}: give at least one value"));
            }
        }
        Ok(())
    }

    /// Candidate `index`, drawn from its own ChaCha8 stream of the tune seed: a candidate's
    /// values do not depend on how many others there are.
    pub fn candidate(&self, index: usize) -> Result<Candidate, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ CANDIDATE_SALT);
        rng.set_stream(index as u64);
        let s = &self.space;
        let mut values = Vec::new();
        for (k, [lo, hi]) in &s.uniform {
            let v = match bounds(lo, hi, false)? {
                Bounds::Int(a, b) => toml::Value::Integer(rng.gen_range(a..=b)),
                Bounds::Float(a, b) => toml::Value::Float(a + (b - a) * rng.gen::<f64>()),
            };
            values.push((k.clone(), v));
        }
        for (k, [lo, hi]) in &s.log_uniform {
            let u: f64 = rng.gen();
            let v = match bounds(lo, hi, true)? {
                Bounds::Int(a, b) => {
                    let x = log_between(a as f64, b as f64, u);
                    // Rounded, then kept inside the bounds the rounding may step past.
                    toml::Value::Integer((libm::round(x) as i64).clamp(a, b))
                }
                Bounds::Float(a, b) => toml::Value::Float(log_between(a, b, u).clamp(a, b)),
            };
            values.push((k.clone(), v));
        }
        for (k, choices) in &s.choice {
            values.push((k.clone(), choices[rng.gen_range(0..choices.len())].clone()));
        }
        Ok(Candidate { index, values })
    }
}

/// Fields that make the crash a scenario states; none may be searched.
const CRASH_KEYS: [&str; 8] = [
    "path",
    "more_markets",
    "correlation",
    "duration_s",
    "step_ms",
    "snapshot",
    "chain.gas_csv",
    "params",
];

/// Separates the candidates' streams from the sweep's sample points and every run's.
const CANDIDATE_SALT: u64 = 0x0054_554E_4552; // "TUNER"

fn log_between(a: f64, b: f64, u: f64) -> f64 {
    libm::exp(libm::log(a) + (libm::log(b) - libm::log(a)) * u)
}

impl Space {
    /// Every searched key: uniform, then log-uniform, then choice, each sorted.
    pub fn keys(&self) -> Vec<String> {
        self.uniform
            .keys()
            .chain(self.log_uniform.keys())
            .chain(self.choice.keys())
            .cloned()
            .collect()
    }
}

enum Bounds {
    Int(i64, i64),
    Float(f64, f64),
}

fn bounds(lo: &toml::Value, hi: &toml::Value, log: bool) -> Result<Bounds, String> {
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
    let (a, b_) = match b {
        Bounds::Int(a, b) => (a as f64, b as f64),
        Bounds::Float(a, b) => (a, b),
    };
    if !(a.is_finite() && b_.is_finite()) {
        return Err("low and high must be finite".into());
    }
    if a > b_ {
        return Err(format!("low {a} is above high {b_}"));
    }
    if log && a <= 0.0 {
        return Err(format!("low {a}: a log-uniform range must lie above zero"));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
        name = "t"
        scenarios = ["tune"]
        [space.uniform]
        "market.maintenance" = [3000, 10000]
        [space.log_uniform]
        "market.taker_fee" = [100, 2000]
        "market.defences.dynamic_margin.z" = [1.5, 6.0]
        [space.choice]
        "market.defences.halt.enabled" = [true, false]
    "#;

    #[test]
    fn candidates_are_reproducible_within_their_ranges_and_independent_of_the_count() {
        let spec = TuneSpec::parse(TEXT, "t.toml").unwrap(); // ok: test
        spec.check().unwrap(); // ok: test
        let mut logs = Vec::new();
        for i in 0..200 {
            let c = spec.candidate(i).unwrap(); // ok: test
            assert_eq!(c, spec.candidate(i).unwrap()); // ok: test
            for (k, v) in &c.values {
                match k.as_str() {
                    "market.maintenance" => {
                        assert!((3000..=10000).contains(&v.as_integer().unwrap()))
                        // ok: test
                    }
                    "market.taker_fee" => {
                        let x = v.as_integer().unwrap(); // ok: test
                        assert!((100..=2000).contains(&x));
                        logs.push((x as f64).ln());
                    }
                    "market.defences.dynamic_margin.z" => {
                        assert!((1.5..=6.0).contains(&v.as_float().unwrap())) // ok: test
                    }
                    _ => assert!(v.is_bool()),
                }
            }
        }
        // Log-uniform: the mean logarithm is the midpoint of the logarithms (within about
        // four standard errors: the log range's width / sqrt(12 x 200)).
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        let mid = (100f64.ln() + 2000f64.ln()) / 2.0;
        assert!((mean - mid).abs() < 4.0 * (2000f64 / 100.0).ln() / (12.0f64 * 200.0).sqrt());
    }

    #[test]
    fn bad_tune_files_are_errors_naming_the_field() {
        let cases = [
            (
                "[space.log_uniform]\n\"a.b\" = [0, 5]",
                "space.log_uniform.a.b",
            ),
            ("[space.uniform]\n\"a.b\" = [5, 1]", "space.uniform.a.b"),
            (
                "[search]\neta = 1\n[space.choice]\n\"a.b\" = [1]",
                "search.eta",
            ),
            (
                "[objective]\nmax_bad_debt_probability = 2.0\n[space.choice]\n\"a.b\" = [1]",
                "objective.max_bad_debt_probability",
            ),
            (
                "[set]\n\"a.b\" = 1\n[space.choice]\n\"a.b\" = [1]",
                "also in [set]",
            ),
            ("[space]", "space: give at least one field"),
        ];
        for (tail, want) in cases {
            let text = format!("name = \"t\"\nscenarios = [\"x.toml\"]\n{tail}");
            let err = TuneSpec::parse(&text, "t.toml")
                .and_then(|s| s.check())
                .unwrap_err(); // ok: test
            assert!(err.contains(want), "{tail}: {err}");
        }
    }
}
