//! `bulwark lab run`: replay a crash scenario against the engine and write a report.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use bulwark_lab::output::{comparison_table, write_all_with};
use bulwark_lab::run::run_to_dir;
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
}

pub fn run(a: &RunArgs) -> Result<()> {
    let (file, sets, out, quiet) = (a.file, a.sets, a.out, a.quiet);
    let loaded = load(file, sets)?;
    let out_dir = out.map_or_else(
        || PathBuf::from("lab-out").join(&loaded.scenario.name),
        Path::to_path_buf,
    );
    eprintln!(
        "scenario {} ({}), seed {}, output {}",
        loaded.scenario.name,
        loaded.source,
        loaded.scenario.seed,
        out_dir.display()
    );
    let bar = progress_bar(quiet);
    let started = std::time::Instant::now();
    let mut on_progress = |p: Progress| {
        // Shown only once the run has lasted a second: short runs stay quiet.
        if started.elapsed().as_secs_f64() >= 1.0 && bar.is_hidden() && !quiet {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_length(p.sim_total_ms / 1000);
        bar.set_position(p.sim_done_ms / 1000);
    };
    let outcome = bulwark_lab::run::run(&loaded, &mut on_progress)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("running scenario {}", loaded.scenario.name))?;
    let comparison = match a.compare {
        Some(spec) => Some(compare(file, sets, spec, &out_dir, &outcome.summary)?),
        None => None,
    };
    let written = write_all_with(
        &out_dir,
        &outcome.sim,
        &outcome.summary,
        outcome.wall_time_s,
        comparison,
    )
    .map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
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

/// Runs one variant per value of `KEY=V1,V2,...` (on top of the other --set overrides), writes
/// each into `<out>/compare/KEY=V/`, and returns the comparison table for the main report.
fn compare(
    file: Option<&Path>,
    sets: &[String],
    spec: &str,
    out_dir: &Path,
    base: &bulwark_lab::output::Summary,
) -> Result<bulwark_report::ComparisonTable> {
    let (key, values) = spec.split_once('=').ok_or_else(|| {
        anyhow!("--compare {spec}: expected KEY=V1,V2 (e.g. venue.native_liquidation=false,true)")
    })?;
    let mut summaries = vec![("as run".to_string(), base.clone())];
    for value in values.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let mut variant_sets = sets.to_vec();
        variant_sets.push(format!("{key}={value}"));
        let loaded =
            load(file, &variant_sets).with_context(|| format!("--compare {key}={value}"))?;
        let dir = out_dir.join("compare").join(format!("{key}={value}"));
        let (outcome, _) = run_to_dir(&loaded, &dir, &mut |_| {})
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("running variant {key}={value}"))?;
        eprintln!("variant {key}={value}: results in {}", dir.display());
        summaries.push((format!("{key}={value}"), outcome.summary));
    }
    let rows: Vec<(String, &bulwark_lab::output::Summary)> =
        summaries.iter().map(|(n, s)| (n.clone(), s)).collect();
    let table = comparison_table(
        &format!("The same scenario and seed with {key} switched."),
        &rows,
    );
    Ok(table)
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
