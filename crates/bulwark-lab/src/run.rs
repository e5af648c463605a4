//! One lab run end to end: scenario in, simulation, summary and output files out.
//!
//! A run is [`prepare`]d first (the price paths built, the historical data checked and
//! cleaned as the scenario allows, the run's size estimated), which allocates little and
//! fails fast; then [`run_prepared`] builds the venue and the agents and runs the loop.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use crate::data::{self, clip_bad_prints, load_bars, Bar};
use crate::output::{summarize, DataRepair, Summary, Written};
use crate::path::{correlated_shocks, path_from_bars_with_interval, CalibratedShock, PricePath};
use crate::sampling::SAMPLE_COLUMNS;
use crate::scenario::{HistoricalParams, LoadedScenario, OutlierBars, PathKind, Scenario};
use crate::sim::{Progress, Sim};

/// A finished run.
pub struct Outcome {
    pub sim: Sim,
    pub summary: Summary,
    /// Wall-clock seconds; reported, never part of `summary.json`.
    pub wall_time_s: f64,
}

/// A run ready to start: its paths, what was changed in its data, and its size.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The first market's path.
    pub path: PricePath,
    /// Each of `more_markets`' paths, in order.
    pub more_paths: Vec<PricePath>,
    /// Changes made to historical bars (wick clips, dropped bad prints), in time order.
    pub repairs: Vec<DataRepair>,
    pub estimate: RunEstimate,
}

/// The outside price path a scenario asks for, sampled every engine step, with the changes
/// made to historical data on the way.
pub fn build_path(loaded: &LoadedScenario) -> Result<(PricePath, Vec<DataRepair>), String> {
    let s = &loaded.scenario;
    match s.path.kind {
        PathKind::CalibratedShock => s
            .path
            .shock
            .generate(s.step_ms, s.seed)
            .map(|p| (p, Vec::new()))
            .map_err(|e| format!("path.shock: {e}")),
        PathKind::Synthetic => {
            let path = crate::scenario::synthetic::resolve(&s.path.synthetic, s.step_ms).map_err(
                |problems| {
                    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    listed.join("; ")
                },
            )?;
            path.generate(s.step_ms, s.seed)
                .map(|p| (p, Vec::new()))
                .map_err(|e| format!("path.synthetic: {e}"))
        }
        PathKind::Historical => {
            let h = s
                .path
                .historical
                .as_ref()
                .ok_or("path.historical is missing")?;
            let file = loaded.resolve(&h.csv);
            let in_file =
                |e: &dyn fmt::Display| format!("path.historical.csv ({}): {e}", file.display());
            let bars = load_bars(&file).map_err(|e| in_file(&e))?;
            let bar_ms = data::bar_interval(&bars).map_err(|e| in_file(&e))?;
            let (bars, mut repairs) = without_bad_prints(bars, h).map_err(|e| in_file(&e))?;
            if let Some(max_gap_s) = h.max_gap_s {
                // After dropping bad prints: a dropped bar is a gap like any other.
                let gaps = data::find_gaps(&bars, bar_ms);
                data::check_max_gap(&gaps, max_gap_s, &file.display().to_string())
                    .map_err(|e| format!("path.historical: {e}"))?;
            }
            let (bars, clips) = clip_bad_prints(&bars, h.clip_wick_frac);
            repairs.extend(clips.iter().map(|r| DataRepair {
                open_time_ms: r.open_time_ms,
                field: r.field,
                action: "clipped",
                was: r.was,
                now: r.now,
            }));
            repairs.sort_by_key(|r| r.open_time_ms);
            let path = path_from_bars_with_interval(&bars, bar_ms, s.step_ms, s.seed)
                .map_err(|e| in_file(&e))?;
            Ok((path, repairs))
        }
    }
}

/// The bars without whole-body bad prints, if the scenario lets them be dropped.
fn without_bad_prints(
    bars: Vec<Bar>,
    h: &HistoricalParams,
) -> Result<(Vec<Bar>, Vec<DataRepair>), data::QualityError> {
    let outliers = data::body_outliers(&bars, h.outlier_frac);
    if outliers.is_empty() {
        return Ok((bars, Vec::new()));
    }
    match h.outlier_bars {
        OutlierBars::Error => Err(data::QualityError::Outliers {
            bars: outliers,
            frac: h.outlier_frac,
        }),
        OutlierBars::Drop => {
            let repairs = outliers
                .iter()
                .map(|o| DataRepair {
                    open_time_ms: o.open_time_ms,
                    field: "bar",
                    action: "dropped",
                    was: o.price,
                    now: o.reference,
                })
                .collect();
            Ok((data::drop_outliers(&bars, &outliers), repairs))
        }
    }
}

/// Every market's path, `[market]`'s first: [`build_path`] for one market; for several, the
/// calibrated shocks driven together from correlated noise ([`correlated_shocks`]).
pub fn build_paths(loaded: &LoadedScenario) -> Result<(Vec<PricePath>, Vec<DataRepair>), String> {
    let s = &loaded.scenario;
    if s.more_markets.is_empty() {
        return build_path(loaded).map(|(p, repairs)| (vec![p], repairs));
    }
    let shocks: Vec<CalibratedShock> = std::iter::once(s.path.shock.clone())
        .chain(s.more_markets.iter().map(|m| m.shock.clone()))
        .collect();
    correlated_shocks(&shocks, &s.correlation, s.step_ms, s.seed)
        .map(|paths| (paths, Vec::new()))
        .map_err(|e| format!("more_markets: {e}"))
}

/// Builds the paths and sizes the run; nothing big is allocated yet.
pub fn prepare(loaded: &LoadedScenario) -> Result<Prepared, String> {
    let (mut paths, repairs) = build_paths(loaded)?;
    let path = paths.remove(0);
    let estimate = RunEstimate::of(&loaded.scenario, &path);
    Ok(Prepared {
        path,
        more_paths: paths,
        repairs,
        estimate,
    })
}

/// What a run keeps beside its summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// What the output files show too: the samples of `timeseries.csv` and the rows of
    /// `events.csv`.
    #[default]
    Files,
    /// The summary alone (a sweep's row): those samples and rows are never built. The summary
    /// is the same either way (`tests/summary_only.rs`).
    Summary,
}

/// Runs a prepared scenario; `progress` is told how far the simulated clock got.
pub fn run_prepared(
    loaded: &LoadedScenario,
    prepared: Prepared,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, String> {
    run_prepared_keeping(loaded, prepared, Keep::Files, progress)
}

/// [`run_prepared`], keeping what `keep` says.
pub fn run_prepared_keeping(
    loaded: &LoadedScenario,
    prepared: Prepared,
    keep: Keep,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, String> {
    let started = Instant::now();
    let paths = std::iter::once(prepared.path)
        .chain(prepared.more_paths)
        .collect();
    let mut sim = Sim::with_markets(loaded, paths)?;
    if keep == Keep::Summary {
        sim.keep_summary_only();
    }
    sim.run(progress);
    let mut summary = summarize(&sim);
    summary.data_repairs = prepared.repairs;
    Ok(Outcome {
        sim,
        summary,
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

/// Prepares and runs a scenario.
pub fn run(loaded: &LoadedScenario, progress: &mut dyn FnMut(Progress)) -> Result<Outcome, String> {
    let prepared = prepare(loaded)?;
    run_prepared(loaded, prepared, progress)
}

/// Prepares and runs a scenario for its summary alone ([`Keep::Summary`]: a sweep's run).
pub fn run_summary(
    loaded: &LoadedScenario,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, String> {
    let prepared = prepare(loaded)?;
    run_prepared_keeping(loaded, prepared, Keep::Summary, progress)
}

/// Runs a scenario and writes its outputs into `out_dir` (see [`crate::output::Staging`]:
/// nothing is replaced unless the run and every file succeed).
pub fn run_to_dir(
    loaded: &LoadedScenario,
    out_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Outcome, Written), String> {
    let staging = crate::output::Staging::begin(out_dir).map_err(|e| e.to_string())?;
    let outcome = run(loaded, progress)?;
    crate::output::write_all(
        staging.dir(),
        &outcome.sim,
        &outcome.summary,
        outcome.wall_time_s,
    )
    .map_err(|e| e.to_string())?;
    let written = staging.commit().map_err(|e| e.to_string())?;
    Ok((outcome, written))
}

/// A rough size of a run, before it starts: from the cost of the default run on the
/// reference machine (259,200 one-second steps, 2,000 traders and 13 other agents: about
/// 1.4 s of CPU and 25 MB), scaled by steps and agents. Liquidation cascades cost more than
/// calm, and events add memory as they happen, so take it as an order of magnitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEstimate {
    pub engine_steps: u64,
    pub agents: u64,
    pub memory_mb: f64,
    pub cpu_s: f64,
}

/// CPU per engine step with no trader (the chain, the oracle, makers and arbitrageurs), s.
const STEP_CPU_S: f64 = 4.1e-6;
/// CPU per trader per simulated hour at small populations, s; it grows with the population
/// (more fills, deeper cascades): x (1 + traders / `TRADER_CROWD`).
const TRADER_HOUR_CPU_S: f64 = 1.7e-6;
const TRADER_CROWD: f64 = 6_200.0;
/// Setting one agent up (its draw, its account, its deposit), s.
const AGENT_SETUP_CPU_S: f64 = 2e-6;
/// Memory of one agent with its engine account (measured: 1.2 GB for a million traders).
const AGENT_BYTES: f64 = 1_200.0;
/// The program, the engine and the book with no agent.
const BASE_BYTES: f64 = 20e6;
/// A run is big when it needs more than this much CPU or memory.
const BIG_CPU_S: f64 = 20.0;
const BIG_MEMORY_MB: f64 = 500.0;

impl RunEstimate {
    pub fn of(s: &Scenario, path: &PricePath) -> RunEstimate {
        let span_ms = path.end_ms() - path.start_ms;
        let run_ms = s.duration_s.map_or(span_ms, |d| d.saturating_mul(1000));
        let steps = run_ms / s.step_ms.max(1);
        let a = &s.agents;
        let more = &s.more_markets;
        let more_traders: u64 = more.iter().map(|m| u64::from(m.agents.traders)).sum();
        let traders = f64::from(a.traders.count) + more_traders as f64;
        let agents = u64::from(a.traders.count)
            + u64::from(a.market_makers.count)
            + u64::from(a.arbitrageurs.count)
            + u64::from(a.keepers.count)
            + more
                .iter()
                .map(|m| {
                    u64::from(m.agents.traders)
                        + u64::from(m.agents.market_makers)
                        + u64::from(m.agents.arbitrageurs)
                })
                .sum::<u64>();
        let hours = run_ms as f64 / 3.6e6;
        // Each further market adds its own makers', arbitrageurs' and oracle's step work.
        let markets = 1.0 + more.len() as f64;
        let cpu_s = steps as f64 * STEP_CPU_S * markets
            + traders * hours * TRADER_HOUR_CPU_S * (1.0 + traders / TRADER_CROWD)
            + agents as f64 * AGENT_SETUP_CPU_S;
        let sample_rows = run_ms / (s.metrics.sample_every_s.max(1) * 1000);
        let bytes = BASE_BYTES
            + agents as f64 * AGENT_BYTES
            + (path.len() as f64 + steps as f64) * 8.0
            + sample_rows as f64 * (SAMPLE_COLUMNS.len() as f64 * 8.0 + 48.0);
        RunEstimate {
            engine_steps: steps,
            agents,
            memory_mb: bytes / 1e6,
            cpu_s,
        }
    }

    /// Worth telling the user before it starts.
    pub fn is_big(&self) -> bool {
        self.cpu_s > BIG_CPU_S || self.memory_mb > BIG_MEMORY_MB
    }
}

impl fmt::Display for RunEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} engine steps and {} agents: roughly {:.0} MB of memory and {:.0} s of CPU \
             (scaled from the default run; cascades cost more)",
            self.engine_steps, self.agents, self.memory_mb, self.cpu_s
        )
    }
}
