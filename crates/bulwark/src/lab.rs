//! `bulwark lab run`: replay a crash scenario against the engine and write a report.
//!
//! Everything that can be checked is checked before anything runs: the scenario and every
//! `--compare` variant are loaded and validated, the output folder is checked, and every
//! price path is built (historical data read and checked). Results are written into a
//! staging folder and moved into place only when complete.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use bulwark_lab::output::{
    comparison_table, dir_name, write_all_with, Staging, Summary, COMPARE_DIR,
};
use bulwark_lab::run::{prepare, run_prepared, Prepared};
use bulwark_lab::scenario::{self, LoadedScenario, Override};
use bulwark_lab::sim::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Loads the scenario: FILE if given, else the default (`scenarios/default.toml` under the
/// current directory or the repository, else the copy built into the binary).
pub fn load(file: Option<&Path>, sets: &[String]) -> Result<LoadedScenario> {
    let overrides = sets
        .iter()
        .map(|s| s.parse::<Override>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{e}"))?;
    let loaded = match file {
        Some(f) => scenario::load_file(f, &overrides),
        None => {
            let root = std::env::current_dir().context("cannot read the current directory")?;
            scenario::load_default(&root, &overrides)
        }
    };
    loaded.map_err(|e| anyhow!("{e}"))
}

/// What `bulwark lab run` was asked to do.
pub struct RunArgs<'a> {
    pub file: Option<&'a Path>,
    pub sets: &'a [String],
    pub out: Option<&'a Path>,
    pub quiet: bool,
    /// `KEY=V1,V2,...`: also run the scenario with KEY set to each value.
    pub compare: Option<&'a str>,
    /// Write the venue's state at the end of the run as a snapshot folder here.
    pub snapshot_out: Option<&'a Path>,
}

/// One `--compare` variant, loaded and prepared.
struct Variant {
    /// `KEY=VALUE`, as the comparison table names it.
    name: String,
    loaded: LoadedScenario,
    prepared: Prepared,
}

pub fn run(a: &RunArgs) -> Result<()> {
    let loaded = load(a.file, a.sets)?;
    let variants = match a.compare {
        Some(spec) => load_variants(a.file, a.sets, spec)?,
        None => Vec::new(),
    };
    let out_dir = a.out.map_or_else(
        || PathBuf::from("lab-out").join(dir_name(&loaded.scenario.name)),
        Path::to_path_buf,
    );
    let staging = Staging::begin(&out_dir).map_err(|e| anyhow!("{e}"))?;
    let prepared = prepare(&loaded)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("preparing scenario {}", loaded.scenario.name))?;
    let variants = variants
        .into_iter()
        .map(|(name, loaded)| {
            let prepared = prepare(&loaded)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("preparing --compare variant {name}"))?;
            Ok(Variant {
                name,
                loaded,
                prepared,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "scenario {} ({}), seed {}, output {}",
        loaded.scenario.name,
        loaded.source,
        loaded.scenario.seed,
        out_dir.display()
    );
    announce(&prepared, variants.len());
    let bar = progress_bar(a.quiet);
    let started = std::time::Instant::now();
    let mut on_progress = |p: Progress| {
        // Shown only once the run has lasted a second: short runs stay quiet.
        if started.elapsed().as_secs_f64() >= 1.0 && bar.is_hidden() && !a.quiet {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_length(p.sim_total_ms / 1000);
        bar.set_position(p.sim_done_ms / 1000);
    };
    let outcome = run_prepared(&loaded, prepared, &mut on_progress)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("running scenario {}", loaded.scenario.name))?;
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let comparison = if variants.is_empty() {
        None
    } else {
        let key = a
            .compare
            .and_then(|s| s.split_once('='))
            .map_or("", |kv| kv.0);
        Some(compare(key, variants, staging.dir(), &outcome.summary)?)
    };
    write_all_with(
        staging.dir(),
        &outcome.sim,
        &outcome.summary,
        outcome.wall_time_s,
        comparison,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let written = staging.commit().map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
    for name in &names {
        let dir = out_dir.join(COMPARE_DIR).join(dir_name(name));
        eprintln!("variant {name}: results in {}", dir.display());
    }
    for r in &outcome.summary.data_repairs {
        eprintln!(
            "data: bar at {} ms: {} {} {} -> {} (listed in summary.json)",
            r.open_time_ms, r.field, r.action, r.was, r.now
        );
    }
    if let Some(dir) = a.snapshot_out {
        let name = |id: bulwark_engine::AccountId| format!("acct-{}", id.0);
        bulwark_lab::snapshot::write_snapshot(&outcome.sim.venue.engine, dir, &name)
            .map_err(|e| anyhow!("writing the snapshot into {}: {e}", dir.display()))?;
        eprintln!(
            "snapshot of the venue at the end of the run: {} (start a run from it with \
             --set snapshot.dir=...)",
            dir.display()
        );
    }
    let rows = bulwark_lab::output::headline(&outcome.summary, Some(outcome.wall_time_s));
    crate::out::stdout(&format!(
        "{}state hash {}\nsummary    {}\nreport     {}\n",
        bulwark_report::render_console_table(&rows),
        outcome.summary.final_state_hash,
        written.summary.display(),
        written.report.display()
    ))?;
    if !outcome.summary.conservation.ok {
        return Err(anyhow!(
            "conservation broken: {}",
            outcome
                .summary
                .conservation
                .first_breach
                .unwrap_or_default()
        ));
    }
    Ok(())
}

/// Tells the user what a big run will cost before it starts.
fn announce(prepared: &Prepared, variants: usize) {
    let e = &prepared.estimate;
    if e.is_big() {
        let also = if variants > 0 {
            format!(", then {variants} --compare variant(s) of about the same size")
        } else {
            String::new()
        };
        eprintln!("a big run: {e}{also}");
    }
}

/// Parses `KEY=V1,V2,...` and loads (so validates) the scenario with KEY set to each value,
/// on top of the other --set overrides: (`KEY=VALUE`, scenario) per value.
fn load_variants(
    file: Option<&Path>,
    sets: &[String],
    spec: &str,
) -> Result<Vec<(String, LoadedScenario)>> {
    let usage = "expected KEY=V1,V2 (e.g. venue.native_liquidation=false,true)";
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--compare {spec}: {usage}"))?;
    let key = key.trim();
    let values: Vec<&str> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if key.is_empty() || values.is_empty() {
        bail!("--compare {spec}: {usage}");
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for value in values {
        if seen.contains(&value) {
            bail!("--compare {spec}: the value {value} is given twice");
        }
        seen.push(value);
        let name = format!("{key}={value}");
        let mut variant_sets = sets.to_vec();
        variant_sets.push(name.clone());
        let loaded = load(file, &variant_sets).with_context(|| format!("--compare {name}"))?;
        out.push((name, loaded));
    }
    Ok(out)
}

/// Runs each variant, writes its files into `<stage>/compare/<KEY=VALUE>/`, and returns the
/// comparison table for the main report.
fn compare(
    key: &str,
    variants: Vec<Variant>,
    stage: &Path,
    base: &Summary,
) -> Result<bulwark_report::ComparisonTable> {
    let mut summaries = vec![("as run".to_string(), base.clone())];
    for v in variants {
        let outcome = run_prepared(&v.loaded, v.prepared, &mut |_| {})
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("running --compare variant {}", v.name))?;
        let dir = stage.join(COMPARE_DIR).join(dir_name(&v.name));
        bulwark_lab::output::write_all(&dir, &outcome.sim, &outcome.summary, outcome.wall_time_s)
            .map_err(|e| anyhow!("{e}"))?;
        summaries.push((v.name, outcome.summary));
    }
    let rows: Vec<(String, &Summary)> = summaries.iter().map(|(n, s)| (n.clone(), s)).collect();
    Ok(comparison_table(
        &format!("The same scenario and seed with {key} switched."),
        &rows,
    ))
}

fn progress_bar(quiet: bool) -> ProgressBar {
    let bar = ProgressBar::hidden();
    if !quiet {
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} simulated s ({eta})",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
    }
    bar
}
