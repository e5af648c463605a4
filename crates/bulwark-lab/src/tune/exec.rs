//! Running a tune in the lab: every scenario and candidate loaded and the held-out split
//! checked before anything runs; each rung of the search a sweep (rayon, the resume log,
//! `runs.csv` in run-index order) in its own folder; the insurance fund sized from the chosen
//! candidate's runs; `tuned.toml` written; tuned against default judged on the held-out set.
//!
//! Output folder:
//! - `rung-R/`: rung R's sweep (`runs.csv`, `manifest.json`, `report.html`, the resume log);
//!   its sets are (candidate, tuning scenario) pairs, its columns `candidate`, `scenario` and
//!   the searched keys;
//! - `insurance/`: the chosen candidate's further seeds, when `insurance_seeds` asks for them;
//! - `search.csv`: every candidate's standing at every rung, best first;
//! - `tuned.toml`: the chosen parameters (a `params` file);
//! - `heldout/NAME/`: one paired comparison per held-out scenario, default against tuned
//!   (`report.html` with bootstrap intervals and Holm's correction);
//! - `heldout.csv`: the judgement's summary table.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bulwark_risk::{expected_shortfall, wilson, MIN_RUNS_FOR_99};

use super::fingerprint::{fingerprint, Fingerprint, FitData};
use super::search::{successive_halving, RunMetrics, SearchOutcome, Standing};
use super::spec::{Candidate, TuneSpec};
use crate::scenario::{self, LoadedScenario, Override};
use crate::sweep::exec::{from_spec, run_sweep, sweep_hash, LoadedSweep, SweepOptions};
use crate::sweep::spec::{run_seed, ParamSet, Plan, SweepSpec, Variant};
use crate::sweep::store::{csv_line, read_rows, Manifest, RUNS_CSV};
use crate::sweep::SweepProgress;

pub const TUNED_TOML: &str = "tuned.toml";
pub const SEARCH_CSV: &str = "search.csv";
pub const HELDOUT_CSV: &str = "heldout.csv";

/// The runs.csv columns whose sum is the deficit that reaches the insurance fund's stage.
const INSURANCE_STAGE_COLUMNS: [&str; 4] = [
    "loss_insurance_usd",
    "loss_adl_usd",
    "loss_socialized_usd",
    "loss_uncovered_usd",
];

/// A stage row's `candidate` cell: the first swept column, after `run,set,seed_index,seed`.
const CANDIDATE_COLUMN: usize = 4;

/// Salts of the tune's seed streams: each rung, the insurance runs, the judgement.
const RUNG_SALT: u64 = 0x5255_4E47; // "RUNG"
const JUDGE_SALT: u64 = 0x004A_5544_4745; // "JUDGE"

/// A scenario of the tune: its file, loaded with the tune's `[set]`, and its fingerprint.
#[derive(Debug, Clone)]
pub struct TuneScenario {
    pub file: PathBuf,
    /// The file's stem: its column value and its held-out folder's name.
    pub label: String,
    pub loaded: LoadedScenario,
    pub fingerprint: Fingerprint,
}

/// A tune file loaded: every scenario and candidate checked, the split enforced.
#[derive(Debug, Clone)]
pub struct LoadedTune {
    pub spec: TuneSpec,
    pub source: String,
    pub tuning: Vec<TuneScenario>,
    pub heldout: Vec<TuneScenario>,
    pub candidates: Vec<Candidate>,
    /// `[candidate][tuning scenario]`, each with the candidate's values applied.
    sets: Vec<Vec<LoadedScenario>>,
}

/// Loads and checks a tune file: its scenarios (files or folders, relative to it), the
/// held-out folder, the fit-data list, and every candidate on every tuning scenario.
pub fn load(path: &Path) -> Result<LoadedTune, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = path.display().to_string();
    let spec = TuneSpec::parse(&text, &source)?;
    spec.check().map_err(|e| format!("{source}: {e}"))?;
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let fixed: Vec<Override> = spec
        .set
        .iter()
        .map(|(k, v)| Override {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    let mut tuning_files = Vec::new();
    for entry in &spec.scenarios {
        tuning_files.extend(scenario_files(&dir.join(entry))?);
    }
    let heldout_dir = dir.join(&spec.heldout);
    let heldout_files = scenario_files(&heldout_dir)?;
    if heldout_files.is_empty() {
        return Err(format!(
            "{source}: the held-out folder {} holds no scenario: the tuned parameters must be \
             judged on scenarios the tuner never saw",
            heldout_dir.display()
        ));
    }
    let tuning = load_all(&tuning_files, &fixed)?;
    let heldout = load_all(&heldout_files, &fixed)?;
    let fit = FitData::load(&dir.join(&spec.fit_data))?;
    check_split(&tuning, &heldout, &fit, &spec.fit_data)?;
    let candidates = (0..spec.search.candidates as usize)
        .map(|i| spec.candidate(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{source}: {e}"))?;
    let sets = candidates
        .iter()
        .map(|c| candidate_sets(c, &tuning, &fixed))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{source}: {e}"))?;
    Ok(LoadedTune {
        spec,
        source,
        tuning,
        heldout,
        candidates,
        sets,
    })
}

/// A file, or a folder's `*.toml` in name order.
fn scenario_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

fn load_all(files: &[PathBuf], fixed: &[Override]) -> Result<Vec<TuneScenario>, String> {
    files
        .iter()
        .map(|file| {
            let loaded = scenario::load_file(file, fixed).map_err(|e| e.to_string())?;
            let fingerprint =
                fingerprint(&loaded).map_err(|e| format!("{}: {e}", file.display()))?;
            let label = file
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            Ok(TuneScenario {
                file: file.clone(),
                label,
                loaded,
                fingerprint,
            })
        })
        .collect()
}

/// The held-out rules: no held-out scenario reads a fit-data file; no tuning scenario has a
/// held-out one's fingerprint or reads one of its data files.
fn check_split(
    tuning: &[TuneScenario],
    heldout: &[TuneScenario],
    fit: &FitData,
    fit_file: &Path,
) -> Result<(), String> {
    for h in heldout {
        for (file, hash) in &h.fingerprint.files {
            if let Some(name) = fit.name_of(hash) {
                return Err(format!(
                    "held-out scenario {} reads {} (blake3 {hash}), which {} lists as fit data \
                     ({name}): nothing used to fit a generator or calibrate a preset may judge \
                     the tuner; move the scenario to the tuning side or use other data",
                    h.file.display(),
                    file.display(),
                    fit_file.display()
                ));
            }
        }
    }
    for t in tuning {
        for h in heldout {
            if t.fingerprint.hash == h.fingerprint.hash {
                return Err(format!(
                    "tuning scenario {} has the data fingerprint of held-out scenario {} ({}): \
                     the same price path and data, whatever the file is called; the tuner must \
                     never see a scenario it is judged on, so remove it from `scenarios`",
                    t.file.display(),
                    h.file.display(),
                    h.fingerprint.hash
                ));
            }
            for (file, hash) in &t.fingerprint.files {
                if h.fingerprint.files.iter().any(|(_, x)| x == hash) {
                    return Err(format!(
                        "tuning scenario {} reads {}, a data file of held-out scenario {} \
                         (blake3 {hash}): the held-out data must stay unseen",
                        t.file.display(),
                        file.display(),
                        h.file.display()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A candidate on every tuning scenario: the scenario, the tune's `[set]`, the candidate's
/// values, loaded and validated.
fn candidate_sets(
    c: &Candidate,
    tuning: &[TuneScenario],
    fixed: &[Override],
) -> Result<Vec<LoadedScenario>, String> {
    let overrides: Vec<Override> = fixed.iter().cloned().chain(c.overrides()).collect();
    tuning
        .iter()
        .map(|t| {
            scenario::load_file(&t.file, &overrides)
                .map_err(|e| format!("candidate {} ({}): {e}", c.index, label(c)))
        })
        .collect()
}

/// `key=value, ...` of a candidate.
pub fn label(c: &Candidate) -> String {
    c.values
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::sweep::spec::value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to run a tune.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// Worker threads; 0: one per core.
    pub threads: usize,
    /// Identifies the program; recorded in every stage's manifest.
    pub binary_hash: String,
}

/// The insurance fund the chosen candidate's runs call for.
#[derive(Debug, Clone, PartialEq)]
pub struct Insurance {
    pub level: f64,
    pub runs: usize,
    /// The expected shortfall of the deficits reaching the insurance stage, USD; `None`
    /// with too few runs for the level.
    pub es_usd: Option<f64>,
    pub runs_needed: usize,
}

/// One row of the judgement: a held-out scenario and a variant (default or tuned).
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeRow {
    pub scenario: String,
    pub variant: String,
    pub runs: usize,
    pub p_bad_debt: bulwark_risk::Proportion,
    pub loss_mean_usd: f64,
    pub loss_es95_usd: f64,
    pub margin_per_oi: f64,
    pub volume_refused_share: f64,
}

/// What a tune did and found.
#[derive(Debug, Clone)]
pub struct TuneOutcome {
    pub search: SearchOutcome,
    pub chosen: Candidate,
    pub insurance: Insurance,
    pub tuned_toml: PathBuf,
    pub search_csv: PathBuf,
    pub judgement: Vec<JudgeRow>,
    pub heldout_csv: PathBuf,
    /// Runs made by this invocation, and found done in the output folder.
    pub ran: u64,
    pub skipped: u64,
    pub wall_time_s: f64,
}

/// Progress of one stage (`rung 0`, `insurance`, `held-out NAME`).
pub type TuneProgress<'a> = &'a (dyn Fn(&str, SweepProgress) + Sync);

/// Runs the tune into `out` (resuming what it holds).
pub fn run_tune(
    t: &LoadedTune,
    out: &Path,
    opts: &TuneOptions,
    progress: TuneProgress,
) -> Result<TuneOutcome, String> {
    let started = Instant::now();
    let mut runner = Runner {
        opts: SweepOptions {
            threads: opts.threads,
            shard: None,
            binary_hash: opts.binary_hash.clone(),
        },
        progress,
        ran: 0,
        skipped: 0,
    };
    let evaluate = |r: usize, alive: &[usize], seeds: Range<u32>| {
        let what = format!("rung {r}");
        let sweep = stage_sweep(t, &what, r as u64, alive, seeds)?;
        let rows = runner.run(&what, &sweep, &out.join(format!("rung-{r}")))?;
        alive
            .iter()
            .map(|&c| candidate_runs(&rows, c))
            .collect::<Result<Vec<_>, String>>()
    };
    let search = successive_halving(
        t.candidates.len(),
        &t.spec.halving(),
        &t.spec.constraints(),
        evaluate,
    )?;
    let chosen = t.candidates[search.chosen.candidate].clone();
    let insurance = size_insurance(t, &search, out, &mut runner)?;
    let search_csv = write_search_csv(t, &search, out)?;
    let tuned_toml = write_tuned(t, &search.chosen, &chosen, &insurance, out)?;
    let tuned = tuned_overrides(&chosen, &insurance);
    let judgement = judge(t, &tuned, out, &mut runner)?;
    let heldout_csv = write_heldout_csv(&judgement, out)?;
    Ok(TuneOutcome {
        search,
        chosen,
        insurance,
        tuned_toml,
        search_csv,
        judgement,
        heldout_csv,
        ran: runner.ran,
        skipped: runner.skipped,
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

/// Runs the tune's sweeps and counts their runs.
struct Runner<'a> {
    opts: SweepOptions,
    progress: TuneProgress<'a>,
    /// Runs made, and found done in the output folder.
    ran: u64,
    skipped: u64,
}

impl Runner<'_> {
    /// Runs (or resumes) one stage's sweep in `dir`; returns its runs by run index.
    fn run(
        &mut self,
        what: &str,
        sweep: &LoadedSweep,
        dir: &Path,
    ) -> Result<BTreeMap<u64, Vec<String>>, String> {
        let progress = self.progress;
        let outcome = run_sweep(sweep, dir, &self.opts, &|p| progress(what, p))?;
        self.ran += outcome.ran;
        self.skipped += outcome.skipped;
        read_rows(&dir.join(RUNS_CSV), &outcome.manifest.header())
    }
}

/// The stage as a sweep: sets are (candidate, tuning scenario) pairs in that order, each with
/// `seeds.len()` paired seeds from the stage's stream.
fn stage_sweep(
    t: &LoadedTune,
    what: &str,
    stage: u64,
    alive: &[usize],
    seeds: Range<u32>,
) -> Result<LoadedSweep, String> {
    let mut keys = vec!["candidate".to_string(), "scenario".to_string()];
    keys.extend(t.spec.space.keys());
    let mut param_sets = Vec::new();
    let mut sets = Vec::new();
    for &c in alive {
        for (k, s) in t.tuning.iter().enumerate() {
            let mut values = vec![
                ("candidate".to_string(), toml::Value::Integer(c as i64)),
                ("scenario".to_string(), toml::Value::String(s.label.clone())),
            ];
            values.extend(t.candidates[c].values.iter().cloned());
            param_sets.push(ParamSet {
                index: param_sets.len(),
                variant: None,
                variant_set: Vec::new(),
                values,
            });
            sets.push(t.sets[c][k].clone());
        }
    }
    let spec = SweepSpec {
        name: format!("{} {what}", t.spec.name),
        scenario: None,
        seeds: seeds.end - seeds.start,
        seed: stage_seed(t.spec.seed, RUNG_SALT, stage),
        set: t.spec.set.clone(),
        grid: BTreeMap::new(),
        sample: None,
        variants: Vec::new(),
        // Sets here are candidates on different crashes, not one venue's settings.
        paired_comparison: false,
    };
    let plan = Plan {
        keys,
        sets: param_sets,
        seeds: spec.seeds,
        sweep_seed: spec.seed,
    };
    let sweep_hash = sweep_hash(&spec, &plan, &sets)?;
    Ok(LoadedSweep {
        spec,
        plan,
        sets,
        sweep_hash,
        source: format!("{} ({what})", t.source),
    })
}

/// The sweep seed of a stage: its own stream of the tune seed, so each rung's seeds are new
/// (a promoted candidate adds runs, it does not repeat them) and the same for every
/// candidate of the rung (paired).
fn stage_seed(tune_seed: u64, salt: u64, stage: u64) -> u64 {
    run_seed(tune_seed ^ salt, stage as u32)
}

/// Candidate `c`'s runs of a stage, in run-index order (scenario, then seed).
fn candidate_runs(rows: &BTreeMap<u64, Vec<String>>, c: usize) -> Result<Vec<RunMetrics>, String> {
    let want = c.to_string();
    rows.values()
        .filter(|r| r.get(CANDIDATE_COLUMN).is_some_and(|x| *x == want))
        .map(|r| run_metrics(r))
        .collect()
}

/// A metric of a run's row, as a number. The metric columns end every row (after
/// `run,set,seed_index,seed` and the swept columns), so the same reading serves a stage's
/// rows and a held-out comparison's.
fn metric(row: &[String], name: &str) -> Result<f64, String> {
    let columns = crate::sweep::row::METRIC_COLUMNS;
    let i = columns
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| format!("no metric column {name}"))?;
    let cell = &row[row.len() - columns.len() + i];
    cell.parse::<f64>()
        .map_err(|_| format!("{RUNS_CSV}: {name} = {cell:?} is not a number"))
}

fn run_metrics(row: &[String]) -> Result<RunMetrics, String> {
    Ok(RunMetrics {
        bad_debt: metric(row, "bad_debt_usd")? > 0.0,
        margin_per_oi: metric(row, "margin_per_oi")?,
        volume_refused_share: metric(row, "volume_refused_share")?,
    })
}

/// The fewest runs for an expected shortfall at `level`: bulwark-risk's rule for the 99%
/// figures (`MIN_RUNS_FOR_99`: the 1% tail must hold 10 runs) carried to any level above
/// 95%; at 95% and below the report gives the tail at any count, and so does this.
pub fn runs_needed(level: f64) -> usize {
    if level <= 0.95 {
        return 1;
    }
    let tail_runs = MIN_RUNS_FOR_99 as f64 * 0.01;
    // The 1e-9 keeps 10 / 0.01 (which rounds to 1000.0000000000001) at 1,000.
    (tail_runs / (1.0 - level) - 1e-9).ceil() as usize
}

/// The chosen candidate's deficits at the insurance stage (from every rung it ran, and the
/// further seeds `insurance_seeds` asks for), and their expected shortfall.
fn size_insurance(
    t: &LoadedTune,
    search: &SearchOutcome,
    out: &Path,
    runner: &mut Runner,
) -> Result<Insurance, String> {
    let c = search.chosen.candidate;
    let mut deficits = Vec::new();
    for r in 0..search.rungs.len() {
        let manifest = Manifest::read(&out.join(format!("rung-{r}")))?;
        let rows = read_rows(
            &out.join(format!("rung-{r}")).join(RUNS_CSV),
            &manifest.header(),
        )?;
        deficits.extend(candidate_deficits(&rows, c)?);
    }
    let last = t.spec.search.rungs.last().copied().unwrap_or(0);
    if let Some(seeds) = t.spec.objective.insurance_seeds.filter(|n| *n > last) {
        let stage = search.rungs.len() as u64;
        let sweep = stage_sweep(t, "insurance", stage, &[c], 0..seeds - last)?;
        let rows = runner.run("insurance", &sweep, &out.join("insurance"))?;
        deficits.extend(candidate_deficits(&rows, c)?);
    }
    let level = t.spec.objective.insurance_es_level;
    let needed = runs_needed(level);
    let es_usd = if deficits.len() >= needed {
        Some(expected_shortfall(&deficits, level).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok(Insurance {
        level,
        runs: deficits.len(),
        es_usd,
        runs_needed: needed,
    })
}

fn candidate_deficits(rows: &BTreeMap<u64, Vec<String>>, c: usize) -> Result<Vec<f64>, String> {
    let want = c.to_string();
    rows.values()
        .filter(|r| r.get(CANDIDATE_COLUMN).is_some_and(|x| *x == want))
        .map(|r| {
            INSURANCE_STAGE_COLUMNS
                .iter()
                .try_fold(0.0, |sum, col| Ok::<f64, String>(sum + metric(r, col)?))
        })
        .collect()
}

/// The tuned parameters as overrides: the chosen candidate's values and, when the runs
/// allow it, the insurance fund.
fn tuned_overrides(chosen: &Candidate, insurance: &Insurance) -> Vec<Override> {
    let mut out = chosen.overrides();
    if let Some(usd) = insurance_usd(insurance) {
        out.push(Override {
            key: "venue.insurance_seed_usd".into(),
            value: toml::Value::String(usd.to_string()),
        });
    }
    out
}

/// The fund in whole USD, rounded up (a fund short by a fraction of a dollar is short).
fn insurance_usd(insurance: &Insurance) -> Option<u64> {
    insurance.es_usd.map(|es| es.max(0.0).ceil() as u64)
}

fn write_tuned(
    t: &LoadedTune,
    standing: &Standing,
    chosen: &Candidate,
    insurance: &Insurance,
    out: &Path,
) -> Result<PathBuf, String> {
    let o = &t.spec.objective;
    let mut text = format!(
        "# Tuned by `bulwark lab tune` (tune {:?}, seed {}): candidate {} of {}, over {} runs of \
         the tuning scenarios.\n",
        t.spec.name,
        t.spec.seed,
        chosen.index,
        t.candidates.len(),
        standing.runs
    );
    if !standing.feasible() {
        text.push_str(
            "# NOT FEASIBLE: no candidate met the constraints; this is the one that came \
             closest.\n",
        );
    }
    text.push_str(&format!(
        "# P(bad debt): {} of {} runs, Wilson {}% upper end {:.4} (target {}); \
         volume_refused_share {:.6} (cap {}); margin_per_oi {:.6}.\n",
        standing.bad_debt_runs,
        standing.runs,
        o.bad_debt_confidence * 100.0,
        standing.bad_debt_upper,
        o.max_bad_debt_probability,
        standing.volume_refused_share,
        o.max_volume_refused_share,
        standing.margin_per_oi
    ));
    match insurance.es_usd {
        Some(es) => text.push_str(&format!(
            "# Insurance fund: the expected shortfall at {} of the deficits that reached the \
             insurance stage (insurance + ADL + socialized + uncovered) over {} runs: {es:.2} \
             USD.\n",
            insurance.level, insurance.runs
        )),
        None => text.push_str(&format!(
            "# Insurance fund not sized: too few runs for an expected shortfall at {} (have {}, \
             need {}); set objective.insurance_seeds.\n",
            insurance.level, insurance.runs, insurance.runs_needed
        )),
    }
    text.push_str(
        "# Load it from a scenario with params = \"tuned.toml\" (keys are --set keys).\n",
    );
    for o in tuned_overrides(chosen, insurance) {
        text.push_str(&format!("\"{}\" = {}\n", o.key, o.value));
    }
    let path = out.join(TUNED_TOML);
    // Checked as a scenario would read it, so a file that cannot load is never written.
    scenario::params::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn write_search_csv(t: &LoadedTune, search: &SearchOutcome, out: &Path) -> Result<PathBuf, String> {
    let mut header: Vec<String> = [
        "rung",
        "seeds",
        "rank",
        "candidate",
        "promoted",
        "runs",
        "bad_debt_runs",
        "bad_debt_upper",
        "margin_per_oi",
        "volume_refused_share",
        "violation",
        "feasible",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(t.spec.space.keys());
    let mut text = csv_line(&header);
    for (r, rung) in search.rungs.iter().enumerate() {
        for (rank, s) in rung.ranked.iter().enumerate() {
            let mut cells = vec![
                r.to_string(),
                rung.seeds.end.to_string(),
                rank.to_string(),
                s.candidate.to_string(),
                (rank < rung.promoted && r + 1 < search.rungs.len()).to_string(),
                s.runs.to_string(),
                s.bad_debt_runs.to_string(),
                s.bad_debt_upper.to_string(),
                s.margin_per_oi.to_string(),
                s.volume_refused_share.to_string(),
                s.violation.to_string(),
                s.feasible().to_string(),
            ];
            cells.extend(
                t.candidates[s.candidate]
                    .values
                    .iter()
                    .map(|(_, v)| crate::sweep::spec::value_text(v)),
            );
            text.push_str(&csv_line(&cells));
        }
    }
    let path = out.join(SEARCH_CSV);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Tuned against default on every held-out scenario, each a paired comparison of its own
/// (the sweep's report: paired bootstrap intervals, Holm's correction).
fn judge(
    t: &LoadedTune,
    tuned: &[Override],
    out: &Path,
    runner: &mut Runner,
) -> Result<Vec<JudgeRow>, String> {
    let mut rows = Vec::new();
    for h in &t.heldout {
        let what = format!("held-out {}", h.label);
        let spec = SweepSpec {
            name: format!("{} {what}", t.spec.name),
            scenario: Some(std::path::absolute(&h.file).map_err(|e| e.to_string())?),
            seeds: t.spec.judge.seeds,
            seed: stage_seed(t.spec.seed, JUDGE_SALT, 0),
            set: t.spec.set.clone(),
            grid: BTreeMap::new(),
            sample: None,
            variants: vec![
                Variant {
                    name: "default".into(),
                    set: BTreeMap::new(),
                },
                Variant {
                    name: "tuned".into(),
                    set: tuned
                        .iter()
                        .map(|o| (o.key.clone(), o.value.clone()))
                        .collect(),
                },
            ],
            paired_comparison: true,
        };
        let root = std::env::current_dir().map_err(|e| e.to_string())?;
        let sweep = from_spec(spec, &root, &root, format!("{} ({what})", t.source))?;
        let dir = out.join("heldout").join(crate::output::dir_name(&h.label));
        let runs = runner.run(&what, &sweep, &dir)?;
        for (set, variant) in ["default", "tuned"].iter().enumerate() {
            rows.push(judge_row(&runs, set, &h.label, variant)?);
        }
    }
    Ok(rows)
}

fn judge_row(
    runs: &BTreeMap<u64, Vec<String>>,
    set: usize,
    scenario: &str,
    variant: &str,
) -> Result<JudgeRow, String> {
    let want = set.to_string();
    let mine: Vec<&Vec<String>> = runs.values().filter(|r| r[1] == want).collect();
    let col =
        |name: &str| -> Result<Vec<f64>, String> { mine.iter().map(|r| metric(r, name)).collect() };
    let loss = col("loss_total_usd")?;
    let bad = col("bad_debt_usd")?;
    let n = loss.len();
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    let risk = |e: bulwark_risk::RiskError| e.to_string();
    Ok(JudgeRow {
        scenario: scenario.to_string(),
        variant: variant.to_string(),
        runs: n,
        p_bad_debt: wilson(
            bad.iter().filter(|b| **b > 0.0).count() as u64,
            n as u64,
            0.95,
        )
        .map_err(risk)?,
        loss_mean_usd: mean(&loss),
        loss_es95_usd: expected_shortfall(&loss, 0.95).map_err(risk)?,
        margin_per_oi: mean(&col("margin_per_oi")?),
        volume_refused_share: mean(&col("volume_refused_share")?),
    })
}

fn write_heldout_csv(rows: &[JudgeRow], out: &Path) -> Result<PathBuf, String> {
    let header: Vec<String> = [
        "scenario",
        "variant",
        "runs",
        "p_bad_debt",
        "p_bad_debt_lo",
        "p_bad_debt_hi",
        "loss_mean_usd",
        "loss_es95_usd",
        "margin_per_oi",
        "volume_refused_share",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut text = csv_line(&header);
    for r in rows {
        text.push_str(&csv_line(&[
            r.scenario.clone(),
            r.variant.clone(),
            r.runs.to_string(),
            r.p_bad_debt.estimate.to_string(),
            r.p_bad_debt.lower.to_string(),
            r.p_bad_debt.upper.to_string(),
            r.loss_mean_usd.to_string(),
            r.loss_es95_usd.to_string(),
            r.margin_per_oi.to_string(),
            r.volume_refused_share.to_string(),
        ]));
    }
    let path = out.join(HELDOUT_CSV);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_99_percent_shortfall_needs_1000_runs_as_bulwark_risk_says() {
        assert_eq!(runs_needed(0.99), MIN_RUNS_FOR_99);
        assert_eq!(runs_needed(0.975), 400);
        assert_eq!(runs_needed(0.95), 1);
    }
}
