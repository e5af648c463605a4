//! One lab run end to end: scenario in, simulation, summary and output files out.

use std::path::Path;
use std::time::Instant;

use crate::data::{check_max_gap, clip_bad_prints, find_gaps, load_bars};
use crate::output::{summarize, write_all, Summary, Written};
use crate::path::{infer_bar_ms, path_from_bars_with_interval, PricePath};
use crate::scenario::{LoadedScenario, PathKind};
use crate::sim::{Progress, Sim};

/// A finished run.
pub struct Outcome {
    pub sim: Sim,
    pub summary: Summary,
    /// Wall-clock seconds; reported, never part of `summary.json`.
    pub wall_time_s: f64,
}

/// The outside price path a scenario asks for, sampled every engine step.
pub fn build_path(loaded: &LoadedScenario) -> Result<PricePath, String> {
    let s = &loaded.scenario;
    match s.path.kind {
        PathKind::CalibratedShock => s
            .path
            .shock
            .generate(s.step_ms, s.seed)
            .map_err(|e| format!("path.shock: {e}")),
        PathKind::Historical => {
            let h = s
                .path
                .historical
                .as_ref()
                .ok_or("path.historical is missing")?;
            let file = loaded.resolve(&h.csv);
            let bars = load_bars(&file).map_err(|e| format!("path.historical.csv: {e}"))?;
            let (bars, _repairs) = clip_bad_prints(&bars, h.clip_wick_frac);
            let bar_ms = infer_bar_ms(&bars).map_err(|e| format!("path.historical: {e}"))?;
            if let Some(max_gap_s) = h.max_gap_s {
                check_max_gap(
                    &find_gaps(&bars, bar_ms),
                    max_gap_s,
                    &file.display().to_string(),
                )
                .map_err(|e| format!("path.historical: {e}"))?;
            }
            path_from_bars_with_interval(&bars, bar_ms, s.step_ms, s.seed)
                .map_err(|e| format!("path.historical ({}): {e}", file.display()))
        }
    }
}

/// Runs a scenario; `progress` is told how far the simulated clock got.
pub fn run(loaded: &LoadedScenario, progress: &mut dyn FnMut(Progress)) -> Result<Outcome, String> {
    let started = Instant::now();
    let path = build_path(loaded)?;
    let mut sim = Sim::new(loaded, path)?;
    sim.run(progress);
    let summary = summarize(&sim);
    Ok(Outcome {
        sim,
        summary,
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

/// Runs a scenario and writes its outputs into `out_dir`.
pub fn run_to_dir(
    loaded: &LoadedScenario,
    out_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Outcome, Written), String> {
    let outcome = run(loaded, progress)?;
    let written = write_all(out_dir, &outcome.sim, &outcome.summary, outcome.wall_time_s)?;
    Ok((outcome, written))
}
