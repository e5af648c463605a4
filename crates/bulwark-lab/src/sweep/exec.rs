//! Running a sweep: every parameter set loaded and validated first, then the runs on a rayon
//! pool, each finished run appended to the output folder at once (so a stopped sweep resumes
//! where it stopped), and `runs.csv` written in run-index order at the end.
//!
//! Determinism: a run depends only on its scenario and its seed (derived from the sweep seed
//! and the seed index), never on the thread that runs it or on other runs; rows are ordered by
//! run index, never by finishing time. So the output's bytes are the same for 1 or 32 threads,
//! for a resumed or an uninterrupted sweep, and for shards merged or one whole run.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use super::row::metric_cells;
use super::spec::{Plan, SweepSpec};
use super::store::{Manifest, Shard, Store};
use crate::scenario::{self, LoadedScenario, PathKind};

/// A sweep file loaded: its plan and every parameter set's scenario, validated.
#[derive(Debug, Clone)]
pub struct LoadedSweep {
    pub spec: SweepSpec,
    pub plan: Plan,
    /// Each parameter set's scenario (its seed is replaced run by run).
    pub sets: Vec<LoadedScenario>,
    /// blake3 of what the runs depend on: every set's scenario as run and the data they read.
    pub sweep_hash: String,
    pub source: String,
}

/// Loads a sweep file; its `scenario` is relative to the file, and `root` is where the
/// default scenario is looked for when it names none.
pub fn load(path: &Path, root: &Path) -> Result<LoadedSweep, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = path.display().to_string();
    let spec = SweepSpec::parse(&text, &source)?;
    let base_dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    from_spec(spec, &base_dir, root, source)
}

/// Builds a sweep from a spec already in memory (`lab compare` makes one).
pub fn from_spec(
    spec: SweepSpec,
    base_dir: &Path,
    root: &Path,
    source: String,
) -> Result<LoadedSweep, String> {
    let plan = spec.plan().map_err(|e| format!("{source}: {e}"))?;
    let mut sets = Vec::with_capacity(plan.sets.len());
    for set in &plan.sets {
        let overrides = plan.overrides(&spec, set.index);
        let loaded = match &spec.scenario {
            Some(file) => scenario::load_file(&base_dir.join(file), &overrides),
            None => scenario::load_default(root, &overrides),
        }
        .map_err(|e| {
            format!(
                "{source}: parameter set {} ({}): {e}",
                set.index,
                set.label()
            )
        })?;
        sets.push(loaded);
    }
    let sweep_hash = sweep_hash(&spec, &plan, &sets)?;
    Ok(LoadedSweep {
        spec,
        plan,
        sets,
        sweep_hash,
        source,
    })
}

/// What the runs depend on, hashed: the plan and each set's scenario as run (seed aside), and
/// the bytes of any historical data file a set reads.
pub(crate) fn sweep_hash(
    spec: &SweepSpec,
    plan: &Plan,
    sets: &[LoadedScenario],
) -> Result<String, String> {
    let mut h = blake3::Hasher::new();
    h.update(spec.name.as_bytes());
    h.update(&plan.sweep_seed.to_le_bytes());
    h.update(&plan.seeds.to_le_bytes());
    h.update(&[u8::from(spec.paired_comparison)]);
    for key in &plan.keys {
        h.update(key.as_bytes());
        h.update(b"\0");
    }
    for (set, loaded) in plan.sets.iter().zip(sets) {
        h.update(set.label().as_bytes());
        h.update(b"\0");
        let json = serde_json::to_string(&loaded.scenario).map_err(|e| e.to_string())?;
        h.update(json.as_bytes());
        if loaded.scenario.path.kind == PathKind::Historical {
            if let Some(hist) = &loaded.scenario.path.historical {
                let file = loaded.resolve(&hist.csv);
                let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                h.update(&bytes);
            }
        }
    }
    Ok(h.finalize().to_hex().to_string())
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Worker threads; 0: one per core.
    pub threads: usize,
    pub shard: Option<Shard>,
    /// Identifies the program (the CLI hashes its own executable); recorded in the manifest.
    pub binary_hash: String,
}

/// Progress of a sweep, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct SweepProgress {
    /// Runs finished, those found done in the output folder included.
    pub done: u64,
    pub total: u64,
    /// Runs this invocation ran, and the seconds it has spent.
    pub ran: u64,
    pub elapsed_s: f64,
}

/// A finished (or partly finished) sweep.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    pub manifest: Manifest,
    /// Runs found done in the output folder and not run again.
    pub skipped: u64,
    pub ran: u64,
    pub wall_time_s: f64,
    /// `runs.csv`, once every run of the sweep (or shard) is done.
    pub runs_csv: Option<PathBuf>,
    /// `report.html` (with `sets.csv` beside it), once a whole sweep is done.
    pub report: Option<PathBuf>,
}

/// Runs the sweep's runs (the shard's, if given) that `out` does not hold yet.
pub fn run_sweep(
    sweep: &LoadedSweep,
    out: &Path,
    opts: &SweepOptions,
    progress: &(dyn Fn(SweepProgress) + Sync),
) -> Result<SweepOutcome, String> {
    let mut manifest = Manifest::new(
        &sweep.spec.name,
        &sweep.plan,
        &opts.binary_hash,
        &sweep.sweep_hash,
        sweep.spec.paired_comparison,
    );
    manifest.shard = opts.shard;
    let store = Store::open(out, &manifest)?;
    let pending: Vec<u64> = manifest.runs().filter(|r| !store.is_done(*r)).collect();
    let total = manifest.runs().count() as u64;
    let skipped = total - pending.len() as u64;
    let started = Instant::now();
    let state = Mutex::new((store, 0u64));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| format!("cannot start {} worker threads: {e}", opts.threads))?;
    progress(SweepProgress {
        done: skipped,
        total,
        ran: 0,
        elapsed_s: 0.0,
    });
    pool.install(|| {
        pending.par_iter().try_for_each(|&run| {
            let cells = run_one(sweep, &manifest, run)?;
            // A poisoned lock means another worker panicked: stop rather than write on.
            let mut guard = state
                .lock()
                .map_err(|_| "a sweep worker panicked".to_string())?;
            let (store, ran) = &mut *guard;
            store.append(run, cells)?;
            *ran += 1;
            progress(SweepProgress {
                done: skipped + *ran,
                total,
                ran: *ran,
                elapsed_s: started.elapsed().as_secs_f64(),
            });
            Ok::<(), String>(())
        })
    })?;
    let (store, ran) = state
        .into_inner()
        .map_err(|_| "a sweep worker panicked".to_string())?;
    let runs_csv = store.finish(&manifest)?;
    // A shard's report would describe a slice; the merged folder gets the whole one.
    let report = match (&runs_csv, manifest.shard) {
        (Some(_), None) => Some(super::report::write_report(out)?.0),
        _ => None,
    };
    Ok(SweepOutcome {
        manifest,
        skipped,
        ran,
        wall_time_s: started.elapsed().as_secs_f64(),
        runs_csv,
        report,
    })
}

/// One run: its set's scenario with its own seed, run to the end, as CSV cells.
fn run_one(sweep: &LoadedSweep, manifest: &Manifest, index: u64) -> Result<Vec<String>, String> {
    let id = sweep.plan.run(index);
    let mut loaded = sweep.sets[id.set].clone();
    loaded.scenario.seed = id.seed;
    let outcome = crate::run::run_summary(&loaded, &mut |_| {})
        .map_err(|e| format!("run {index} (set {}, seed {}): {e}", id.set, id.seed))?;
    let set_values = &manifest.sets[id.set];
    let mut cells = vec![
        index.to_string(),
        id.set.to_string(),
        id.seed_index.to_string(),
        id.seed.to_string(),
    ];
    cells.extend(
        manifest
            .keys
            .iter()
            .map(|k| set_values.get(k).cloned().unwrap_or_default()),
    );
    cells.extend(metric_cells(&outcome.summary));
    Ok(cells)
}
