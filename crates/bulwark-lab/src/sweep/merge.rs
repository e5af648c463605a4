//! `lab merge`: shard outputs joined into the folder one whole run would have written.
//!
//! Refused unless every shard was made by the same build from the same sweep, the shards are
//! `0/n .. n-1/n` each once, and each is complete. The joined `runs.csv` is byte-identical to
//! a single-machine run's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::store::{read_rows, write_runs_csv, Manifest, RUNS_CSV};

/// Joins the shard folders `shards` into `out`; returns the merged manifest and `runs.csv`.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<(Manifest, PathBuf), String> {
    let first = shards.first().ok_or("give the shard folders to merge")?;
    let base = Manifest::read(first)?;
    let count = match base.shard {
        Some(s) => s.count,
        None => {
            return Err(format!(
                "{} is not a shard (no --shard in its manifest)",
                first.display()
            ))
        }
    };
    let mut seen = vec![None::<&Path>; count as usize];
    let mut rows = BTreeMap::new();
    for dir in shards {
        let m = Manifest::read(dir)?;
        let shard = m.shard.ok_or_else(|| {
            format!(
                "{} is not a shard (no --shard in its manifest)",
                dir.display()
            )
        })?;
        if m.sweep_hash != base.sweep_hash {
            return Err(format!(
                "{} comes from a different sweep than {} (the sweep hashes differ): merge only \
                 shards of one sweep",
                dir.display(),
                first.display()
            ));
        }
        if m.binary_hash != base.binary_hash {
            return Err(format!(
                "{} was run by a different build of bulwark than {}: run every shard with the \
                 same binary",
                dir.display(),
                first.display()
            ));
        }
        if shard.count != count || m.format != base.format {
            return Err(format!(
                "{} is shard {}/{} but {} is one of {count}",
                dir.display(),
                shard.index,
                shard.count,
                first.display()
            ));
        }
        if let Some(other) = seen[shard.index as usize] {
            return Err(format!(
                "shard {}/{count} is given twice: {} and {}",
                shard.index,
                other.display(),
                dir.display()
            ));
        }
        seen[shard.index as usize] = Some(dir);
        let shard_rows = read_rows(&dir.join(RUNS_CSV), &m.header())
            .map_err(|e| format!("{e} (is shard {}/{count} finished?)", shard.index))?;
        let want: Vec<u64> = m.runs().collect();
        if shard_rows.keys().copied().ne(want.iter().copied()) {
            return Err(format!(
                "{}: holds {} runs of the {} of shard {}/{count}; finish it first (run it again \
                 with the same --out)",
                dir.display(),
                shard_rows.len(),
                want.len(),
                shard.index
            ));
        }
        rows.extend(shard_rows);
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        return Err(format!(
            "shard {missing}/{count} is missing: give all {count} shard folders"
        ));
    }
    let mut merged = base.clone();
    merged.shard = None;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let text = serde_json::to_string_pretty(&merged).map_err(|e| e.to_string())? + "\n";
    let manifest_path = out.join(super::store::MANIFEST);
    std::fs::write(&manifest_path, text)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let csv = write_runs_csv(out, &merged.header(), rows.values())?;
    super::report::write_report(out)?;
    Ok((merged, csv))
}
