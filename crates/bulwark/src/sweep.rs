//! `bulwark lab sweep` and `bulwark lab merge`: Monte Carlo sweeps on every core, and shards
//! of one sweep (run on a batch scheduler) joined back into one result.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use bulwark_lab::output::dir_name;
use bulwark_lab::sweep::{self, Shard, SweepOptions, SweepProgress};
use indicatif::{ProgressBar, ProgressStyle};

/// What `bulwark lab sweep` was asked to do.
pub struct SweepArgs<'a> {
    pub file: &'a Path,
    pub out: Option<&'a Path>,
    pub threads: usize,
    pub shard: Option<&'a str>,
    pub quiet: bool,
}

/// What `bulwark lab compare` was asked to do.
pub struct CompareArgs<'a> {
    pub file: Option<&'a Path>,
    pub sets: &'a [String],
    /// KEY=V1,V2,...; `None` with `defences`.
    pub vary: Option<&'a str>,
    /// All defences on, each off in turn, none.
    pub defences: bool,
    /// Static, tuned static, controller, controller with the proactive breaker.
    pub risk_manager: bool,
    /// The tuned parameters file, for `risk_manager`.
    pub tuned: Option<&'a Path>,
    pub seeds: u32,
    pub seed: u64,
    pub out: Option<&'a Path>,
    pub threads: usize,
    pub quiet: bool,
}

/// `bulwark lab compare`: a sweep whose variants are KEY set to each value, on the same seeds;
/// the report's paired comparison measures each against the first value.
pub fn compare(a: &CompareArgs) -> Result<()> {
    use bulwark_lab::scenario::Override;
    use bulwark_lab::sweep::spec::{SweepSpec, Variant};
    let parse = |kv: &str| kv.parse::<Override>().map_err(|e| anyhow!("{e}"));
    let (name, variants, how) = match a.vary {
        _ if a.defences => {
            let variants = defence_variants()
                .into_iter()
                .map(|(name, sets)| -> Result<Variant> {
                    let mut set = std::collections::BTreeMap::new();
                    for kv in sets {
                        let o = parse(&kv)?;
                        set.insert(o.key, o.value);
                    }
                    Ok(Variant { name, set })
                })
                .collect::<Result<Vec<_>>>()?;
            (
                "compare defences".to_string(),
                variants,
                "--defences".to_string(),
            )
        }
        _ if a.risk_manager => {
            let root = std::env::current_dir().context("cannot read the current directory")?;
            let tuned = a.tuned.map(|t| root.join(t));
            if let Some(t) = &tuned {
                if !t.is_file() {
                    return Err(anyhow!(
                        "--tuned {}: no such file (give the tuned.toml that `bulwark lab tune` wrote)",
                        t.display()
                    ));
                }
            }
            let variants = risk_manager_variants(tuned.as_deref())
                .into_iter()
                .map(|(name, sets)| -> Result<Variant> {
                    let mut set = std::collections::BTreeMap::new();
                    for (k, v) in sets {
                        set.insert(k, v);
                    }
                    Ok(Variant { name, set })
                })
                .collect::<Result<Vec<_>>>()?;
            (
                "compare risk manager".to_string(),
                variants,
                "--risk-manager".to_string(),
            )
        }
        Some(vary) => {
            let (key, variants) = vary_variants(vary)?;
            (format!("compare {key}"), variants, format!("--vary {vary}"))
        }
        None => {
            return Err(anyhow!(
                "give --vary KEY=V1,V2,..., --defences or --risk-manager"
            ))
        }
    };
    let mut fixed = std::collections::BTreeMap::new();
    for kv in a.sets {
        let o = parse(kv)?;
        fixed.insert(o.key, o.value);
    }
    let root = std::env::current_dir().context("cannot read the current directory")?;
    let scenario = a.file.map(|f| root.join(f));
    let spec = SweepSpec {
        name: name.clone(),
        scenario,
        seeds: a.seeds,
        seed: a.seed,
        set: fixed,
        grid: Default::default(),
        sample: None,
        variants,
        paired_comparison: true,
    };
    let loaded = sweep::exec::from_spec(spec, &root, &root, how).map_err(|e| anyhow!("{e}"))?;
    let out = a
        .out
        .map_or_else(|| default_out(&name, None), Path::to_path_buf);
    run_loaded(&loaded, &out, a.threads, None, a.quiet)?;
    if a.risk_manager {
        print_backtests(&out.join(bulwark_lab::sweep::store::RUNS_CSV))?;
    }
    Ok(())
}

/// The controller's VaR backtest pooled over each controlled variant's runs.
fn print_backtests(runs_csv: &Path) -> Result<()> {
    let pooled = bulwark_lab::controller::pooled_backtests(runs_csv).map_err(|e| anyhow!("{e}"))?;
    println!(
        "controller VaR 95% backtest, pooled over the runs (Kupiec at 95%; 'randomized': hours \
         whose randomized transform is at or above 0.95, exactly 5% under a correct forecast \
         even with an atom at zero loss):"
    );
    for (name, b) in pooled {
        let interval = match (b.accepted_low, b.accepted_high) {
            (Some(lo), Some(hi)) => format!("[{:.1}%, {:.1}%]", lo * 100.0, hi * 100.0),
            _ => "none".to_string(),
        };
        let verdict = |within: Option<bool>| match within {
            Some(true) => "within",
            Some(false) => "outside",
            None => "too few hours",
        };
        println!(
            "  {name:<32} {} hours, accepted {interval}; VaR exceeded {} ({:.1}%): {}; \
             randomized {} ({:.1}%): {}; transforms by tenth: {}",
            b.hours,
            b.exceedances,
            b.rate * 100.0,
            verdict(b.within),
            b.pit_exceedances,
            b.pit_rate * 100.0,
            verdict(b.pit_within),
            bulwark_lab::controller::deciles_cell(&b.pit_deciles),
        );
    }
    Ok(())
}

/// The defences `--defences` switches, by their scenario key.
const DEFENCES: [(&str, &str); 8] = [
    ("oracle_guard", "oracle guard"),
    ("price_band", "price band"),
    ("halt", "halt breaker"),
    ("divergence", "divergence breaker"),
    ("proactive", "proactive breaker"),
    ("dynamic_margin", "dynamic margin"),
    ("adaptive_fee", "adaptive fee"),
    ("oi_cap", "open-interest cap"),
];

/// All on (the baseline), each off in turn, none: (name, overrides).
fn defence_variants() -> Vec<(String, Vec<String>)> {
    let all = |on: bool| -> Vec<String> {
        DEFENCES
            .iter()
            .map(|(k, _)| format!("market.defences.{k}.enabled={on}"))
            .collect()
    };
    let mut out = vec![("all on".to_string(), all(true))];
    for (i, (_, name)) in DEFENCES.iter().enumerate() {
        let mut sets = all(true);
        sets[i] = sets[i].replace("=true", "=false");
        out.push((format!("no {name}"), sets));
    }
    out.push(("none".to_string(), all(false)));
    out
}

/// `--risk-manager`: the scenario as it is (the baseline), the tuned parameters (a `params`
/// file), the online controller and the controller with the proactive breaker, the last two on
/// top of the tuned parameters when given: (name, overrides).
fn risk_manager_variants(tuned: Option<&Path>) -> Vec<(String, Vec<(String, toml::Value)>)> {
    let params = tuned.map(|t| {
        (
            "params".to_string(),
            toml::Value::String(t.display().to_string()),
        )
    });
    let on = |key: &str| (key.to_string(), toml::Value::Boolean(true));
    let with_tuned = |mut sets: Vec<(String, toml::Value)>| {
        sets.extend(params.clone());
        sets
    };
    let mut out = vec![("static".to_string(), Vec::new())];
    if params.is_some() {
        out.push(("tuned static".to_string(), with_tuned(Vec::new())));
    }
    out.push((
        "controller".to_string(),
        with_tuned(vec![on("controller.enabled")]),
    ));
    out.push((
        "controller + proactive breaker".to_string(),
        with_tuned(vec![
            on("controller.enabled"),
            on("market.defences.proactive.enabled"),
        ]),
    ));
    out
}

/// `--vary KEY=V1,V2,...`: the key and one variant per value.
fn vary_variants(vary: &str) -> Result<(String, Vec<bulwark_lab::sweep::spec::Variant>)> {
    use bulwark_lab::scenario::Override;
    use bulwark_lab::sweep::spec::Variant;
    let usage = "expected KEY=V1,V2,... (e.g. market.maintenance=5000,10000); the first value \
                 is the baseline";
    let (key, values) = vary
        .split_once('=')
        .ok_or_else(|| anyhow!("--vary {vary}: {usage}"))?;
    let values: Vec<&str> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if key.trim().is_empty() || values.len() < 2 {
        return Err(anyhow!("--vary {vary}: give at least two values; {usage}"));
    }
    let parse = |kv: &str| kv.parse::<Override>().map_err(|e| anyhow!("{e}"));
    let mut variants = Vec::new();
    for v in &values {
        let name = format!("{}={v}", key.trim());
        if variants.iter().any(|x: &Variant| x.name == name) {
            return Err(anyhow!("--vary {vary}: the value {v} is given twice"));
        }
        let o = parse(&name)?;
        variants.push(Variant {
            name,
            set: [(o.key, o.value)].into_iter().collect(),
        });
    }
    Ok((key.trim().to_string(), variants))
}

/// What `bulwark lab stress` was asked to do.
pub struct StressArgs<'a> {
    pub file: Option<&'a Path>,
    pub sets: &'a [String],
    pub data: Option<&'a Path>,
    pub seeds: u32,
    pub seed: u64,
    pub rules: bulwark_lab::sweep::stress::RegimeRules,
    pub out: Option<&'a Path>,
    pub threads: usize,
    pub quiet: bool,
}

/// Where the stress suite looks for crash data: --data, else $BULWARK_DATA_DIR, else the
/// `bulwark data fetch` cache (data-cache).
fn stress_data_dir(given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        std::env::var_os("BULWARK_DATA_DIR")
            .map_or_else(|| PathBuf::from("data-cache"), PathBuf::from)
    })
}

/// `bulwark lab stress`: every historical regime in the data folder and the calibrated
/// March-2020 shock, each over N seeds, with one table of loss quantiles per regime.
pub fn stress(a: &StressArgs) -> Result<()> {
    use bulwark_lab::scenario::Override;
    use bulwark_lab::sweep::spec::{SweepSpec, Variant};
    use bulwark_lab::sweep::stress::find_regimes;
    let root = std::env::current_dir().context("cannot read the current directory")?;
    let out = a
        .out
        .map_or_else(|| default_out("stress", None), Path::to_path_buf);
    let data = stress_data_dir(a.data);
    let mut variants = vec![Variant {
        name: "March 2020 (calibrated shock)".into(),
        set: [(
            "path.kind".to_string(),
            toml::Value::String("calibrated_shock".into()),
        )]
        .into_iter()
        .collect(),
    }];
    if data.is_dir() {
        let found =
            find_regimes(&data, &out.join("regimes"), &a.rules).map_err(|e| anyhow!("{e}"))?;
        for (file, why) in &found.skipped {
            eprintln!("stress: skipped {}: {why}", file.display());
        }
        for r in &found.regimes {
            let csv = std::fs::canonicalize(&r.csv).unwrap_or_else(|_| r.csv.clone());
            let mut hist = toml::Table::new();
            hist.insert("csv".into(), toml::Value::String(csv.display().to_string()));
            // Real data has bad prints; drop them (each is listed) rather than stop the suite.
            hist.insert("outlier_bars".into(), toml::Value::String("drop".into()));
            variants.push(Variant {
                name: r.name.clone(),
                set: [
                    (
                        "path.kind".to_string(),
                        toml::Value::String("historical".into()),
                    ),
                    ("path.historical".to_string(), toml::Value::Table(hist)),
                ]
                .into_iter()
                .collect(),
            });
        }
        eprintln!(
            "stress: {} historical regime(s) from {} (windows of {} h falling {:.0}% or more, at \
             most {} per series)",
            found.regimes.len(),
            data.display(),
            a.rules.window_h,
            a.rules.min_drawdown * 100.0,
            a.rules.max_per_series
        );
    } else {
        eprintln!(
            "stress: no data folder {} (give --data DIR, set BULWARK_DATA_DIR, or fetch crash \
             days with `bulwark data fetch`); only the calibrated March-2020 shock runs",
            data.display()
        );
    }
    let mut fixed = std::collections::BTreeMap::new();
    for kv in a.sets {
        let o = kv.parse::<Override>().map_err(|e| anyhow!("{e}"))?;
        fixed.insert(o.key, o.value);
    }
    let spec = SweepSpec {
        name: "stress".into(),
        scenario: a.file.map(|f| root.join(f)),
        seeds: a.seeds,
        seed: a.seed,
        set: fixed,
        grid: Default::default(),
        sample: None,
        variants,
        paired_comparison: false,
    };
    let loaded = sweep::exec::from_spec(spec, &root, &root, "stress suite".into())
        .map_err(|e| anyhow!("{e}"))?;
    run_loaded(&loaded, &out, a.threads, None, a.quiet)?;
    let table = sweep::report::loss_quantile_table(&out).map_err(|e| anyhow!("{e}"))?;
    let rows: Vec<bulwark_report::HeadlineRow> = table
        .rows
        .iter()
        .map(|r| {
            bulwark_report::HeadlineRow::new(r[0].clone(), r[2].clone()).with_detail(format!(
                "p90 {}, p95 {}, p99 {}, worst {}; bad debt p50 {}, p95 {}; P(bad debt) {} ({} runs)",
                r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[1]
            ))
        })
        .collect();
    crate::out::stdout(&format!(
        "Loss (p50) per regime:\n{}",
        bulwark_report::render_console_table(&rows)
    ))?;
    Ok(())
}

/// blake3 of this program's own file: shards run by different builds must not be merged.
pub fn binary_hash() -> Result<String> {
    let exe = std::env::current_exe().context("cannot locate the running program")?;
    let bytes = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

pub fn run(a: &SweepArgs) -> Result<()> {
    let shard = a
        .shard
        .map(|s| s.parse::<Shard>().map_err(|e| anyhow!("{e}")))
        .transpose()?;
    let root = std::env::current_dir().context("cannot read the current directory")?;
    let loaded = sweep::load(a.file, &root).map_err(|e| anyhow!("{e}"))?;
    let out = a
        .out
        .map_or_else(|| default_out(&loaded.spec.name, shard), Path::to_path_buf);
    run_loaded(&loaded, &out, a.threads, shard, a.quiet)
}

fn run_loaded(
    loaded: &sweep::LoadedSweep,
    out: &Path,
    threads: usize,
    shard: Option<Shard>,
    quiet: bool,
) -> Result<()> {
    let out = out.to_path_buf();
    let total = loaded.plan.total_runs();
    eprintln!(
        "sweep {} ({}): {} parameter set(s) x {} seed(s) = {total} runs{}, output {}",
        loaded.spec.name,
        loaded.source,
        loaded.plan.sets.len(),
        loaded.plan.seeds,
        shard.map_or(String::new(), |s| format!(
            ", shard {}/{}",
            s.index, s.count
        )),
        out.display()
    );
    let opts = SweepOptions {
        threads,
        shard,
        binary_hash: binary_hash()?,
    };
    let bar = progress_bar(quiet);
    let on_progress = |p: SweepProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.ran > 0 {
            let rate = p.ran as f64 / p.elapsed_s.max(1e-9);
            bar.set_message(format!("{:.2} runs/s", rate));
        }
    };
    let outcome =
        sweep::run_sweep(loaded, &out, &opts, &on_progress).map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
    let rate = outcome.ran as f64 / outcome.wall_time_s.max(1e-9);
    let mut text = format!(
        "{} runs in {:.1} s ({:.2} runs/s, {:.1} runs/min){}\n",
        outcome.ran,
        outcome.wall_time_s,
        rate,
        rate * 60.0,
        if outcome.skipped > 0 {
            format!(
                "; {} already done in {} were not run again",
                outcome.skipped,
                out.display()
            )
        } else {
            String::new()
        }
    );
    match &outcome.runs_csv {
        Some(csv) => text.push_str(&format!("runs       {}\n", csv.display())),
        None => text.push_str("not finished: run the same command again to resume\n"),
    }
    if let Some(report) = &outcome.report {
        text.push_str(&format!("report     {}\n", report.display()));
    } else if outcome.runs_csv.is_some() {
        text.push_str("report     written by `bulwark lab merge` once every shard is done\n");
    }
    crate::out::stdout(&text)?;
    Ok(())
}

fn default_out(name: &str, shard: Option<Shard>) -> PathBuf {
    let dir = PathBuf::from("sweep-out").join(dir_name(name));
    match shard {
        Some(s) => dir.join(format!("shard-{}-of-{}", s.index, s.count)),
        None => dir,
    }
}

/// `bulwark lab merge`: shard folders into one.
/// `bulwark lab report DIR`: the sweep's report and per-set statistics again, from its runs.
pub fn report(dir: &Path) -> Result<()> {
    let (report, sets) =
        sweep::report::write_report(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    crate::out::stdout(&format!(
        "report     {}\nsets       {}\n",
        report.display(),
        sets.display()
    ))?;
    Ok(())
}

pub fn merge(shards: &[PathBuf], out: &Path) -> Result<()> {
    let (manifest, csv) = sweep::merge(shards, out).map_err(|e| anyhow!("{e}"))?;
    crate::out::stdout(&format!(
        "merged {} shards of sweep {} ({} runs)\nruns       {}\nreport     {}\n",
        shards.len(),
        manifest.sweep,
        manifest.runs_total,
        csv.display(),
        out.join(bulwark_lab::sweep::report::REPORT_HTML).display()
    ))?;
    Ok(())
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} runs, {msg}, {eta} left",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}
