//! A scenario's data fingerprint: what its crash is made of, apart from what it is called.
//!
//! blake3 over a canonical JSON of the resolved price-path specification (the path's kind;
//! the calibrated shock, every field; or the synthetic model resolved against its preset,
//! every parameter, start and length; or a historical replay's cleaning rules; the further
//! markets' shocks and their correlation; the run's step and duration) followed by the
//! blake3 of every data file the scenario reads (the historical CSV, the gas CSV, the
//! snapshot's files), in a fixed order. Not its name, description, seed, file path, agents or
//! venue: two files that replay the same crash from the same data have the same fingerprint
//! whatever they are called, so a held-out scenario copied under another name is recognised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::path::{Model, SyntheticPath};
use crate::scenario::{LoadedScenario, PathKind};

/// Bumped when the canonical form changes.
const VERSION: &str = "bulwark data fingerprint v1";

/// A scenario's fingerprint and the data files behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// blake3, hex.
    pub hash: String,
    /// Every data file the scenario reads, with its blake3 (hex).
    pub files: Vec<(PathBuf, String)>,
}

/// The fingerprint of a loaded scenario (overrides applied: what would run).
pub fn fingerprint(loaded: &LoadedScenario) -> Result<Fingerprint, String> {
    let spec = path_spec(loaded)?;
    let json = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
    let files = data_files(loaded)?;
    let mut h = blake3::Hasher::new();
    h.update(VERSION.as_bytes());
    h.update(b"\0");
    h.update(json.as_bytes());
    for (_, file_hash) in &files {
        h.update(b"\0");
        h.update(file_hash.as_bytes());
    }
    Ok(Fingerprint {
        hash: h.finalize().to_hex().to_string(),
        files,
    })
}

/// The blake3 of a file's bytes, hex.
pub fn file_hash(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

/// The price path as it resolves, in a fixed field order (serde's declaration order; JSON
/// numbers in their shortest round-trip form).
fn path_spec(loaded: &LoadedScenario) -> Result<serde_json::Value, String> {
    let s = &loaded.scenario;
    let mut kind = s.path.kind;
    let path = match s.path.kind {
        PathKind::CalibratedShock => {
            serde_json::json!({ "shock": s.path.shock })
        }
        PathKind::Historical => {
            let h = s
                .path
                .historical
                .as_ref()
                .ok_or("path.kind = \"historical\" without [path.historical]")?;
            // The file enters by its bytes, not its name.
            serde_json::json!({ "historical": {
                "clip_wick_frac": h.clip_wick_frac,
                "outlier_frac": h.outlier_frac,
                "outlier_bars": h.outlier_bars,
                "max_gap_s": h.max_gap_s,
            }})
        }
        PathKind::Synthetic => {
            let resolved = crate::scenario::synthetic::resolve(&s.path.synthetic, s.step_ms)
                .map_err(|p| {
                    p.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })?;
            match &resolved.model {
                // A shock preset is the calibrated shock by another route: one form for both.
                Model::Shock(shock) => {
                    kind = PathKind::CalibratedShock;
                    serde_json::json!({ "shock": shock })
                }
                _ => serde_json::json!({ "synthetic": synthetic_json(&resolved)? }),
            }
        }
    };
    let more: Vec<&crate::path::CalibratedShock> =
        s.more_markets.iter().map(|m| &m.shock).collect();
    Ok(serde_json::json!({
        "kind": kind,
        "path": path,
        "more_markets": more,
        "correlation": if s.more_markets.is_empty() { None } else { Some(&s.correlation) },
        "step_ms": s.step_ms,
        "duration_s": s.duration_s,
    }))
}

fn synthetic_json(p: &SyntheticPath) -> Result<serde_json::Value, String> {
    let v = |x: Result<serde_json::Value, serde_json::Error>| x.map_err(|e| e.to_string());
    let params = match &p.model {
        Model::Gbm(m) => v(serde_json::to_value(m))?,
        Model::Merton(m) => v(serde_json::to_value(m))?,
        Model::Garch(m) => v(serde_json::to_value(m))?,
        Model::Regime(m) => v(serde_json::to_value(m))?,
        Model::SelfExciting(m) => v(serde_json::to_value(m))?,
        Model::Shock(m) => v(serde_json::to_value(m))?,
    };
    // A shock states its own frame: the path's start, price and length are not used.
    let frame = !matches!(p.model, Model::Shock(_));
    Ok(serde_json::json!({
        "model": p.model.kind().name(),
        "params": params,
        "start_ms": frame.then_some(p.start_ms),
        "start_price": frame.then_some(p.start_price),
        "duration_s": frame.then_some(p.duration_s),
    }))
}

/// Every data file the scenario reads, each with its hash: the historical CSV, the gas CSV,
/// the snapshot folder's files (in name order).
fn data_files(loaded: &LoadedScenario) -> Result<Vec<(PathBuf, String)>, String> {
    let s = &loaded.scenario;
    let mut files = Vec::new();
    if s.path.kind == PathKind::Historical {
        if let Some(h) = &s.path.historical {
            files.push(loaded.resolve(&h.csv));
        }
    }
    if let Some(gas) = &s.chain.gas_csv {
        files.push(loaded.resolve(gas));
    }
    if let Some(snap) = &s.snapshot {
        let dir = loaded.resolve(&snap.dir);
        let mut inside: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        inside.sort();
        files.extend(inside);
    }
    files
        .into_iter()
        .map(|f| file_hash(&f).map(|h| (f, h)))
        .collect()
}

/// `scenarios/fit-data.toml`: the data files used to fit a generator or calibrate a preset,
/// by name, with their blake3 hash and what each fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitData {
    /// file name -> its entry.
    pub files: BTreeMap<String, FitFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitFile {
    pub blake3: String,
    pub used_for: String,
}

impl FitData {
    pub fn load(path: &Path) -> Result<FitData, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))
    }

    /// The fit-data file with this hash, if any.
    pub fn name_of(&self, hash: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(_, f)| f.blake3 == hash)
            .map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn print(text: &str) -> String {
        let loaded = parse(text, "test.toml", PathBuf::from("."), &[]).unwrap(); // ok: test
        fingerprint(&loaded).unwrap().hash // ok: test
    }

    const OCT: &str = "[path]\nkind = \"synthetic\"\n[path.synthetic]\npreset = \"october_2025\"\n";

    #[test]
    fn the_fingerprint_is_the_crash_not_the_name_seed_or_agents() {
        let a = print(&format!("name = \"a\"\nseed = 1\n{OCT}"));
        let renamed = format!(
            "name = \"b\"\ndescription = \"x\"\nseed = 9\n[agents.traders]\ncount = 7\n\
             [market]\nmaintenance = 9000\n{OCT}"
        );
        assert_eq!(a, print(&renamed));
        // Another length, step, preset or parameter is another crash.
        for other in [
            format!("name = \"a\"\nduration_s = 600\n{OCT}"),
            format!("name = \"a\"\nstep_ms = 2000\n{OCT}"),
            format!(
                "name = \"a\"\n{}",
                OCT.replace("october_2025", "regime_btc_5m_oct_2025")
            ),
            format!("name = \"a\"\n{OCT}[path.synthetic.self_exciting]\ndecay_per_min = 0.1\n"),
        ] {
            assert_ne!(a, print(&other), "{other}");
        }
    }

    #[test]
    fn a_shock_preset_and_the_calibrated_shock_are_one_crash() {
        let calibrated = print("name = \"a\"\n[path]\nkind = \"calibrated_shock\"\n");
        let preset = print(
            "name = \"b\"\n[path]\nkind = \"synthetic\"\n[path.synthetic]\npreset = \"march_2020\"\n",
        );
        assert_eq!(calibrated, preset);
        let deeper = print("name = \"a\"\n[path]\nkind = \"calibrated_shock\"\n[path.shock]\ndrop_frac = 0.6\ndays = []\n");
        assert_ne!(calibrated, deeper);
    }
}
