//! `bulwark lab tune`: the tuner, with a progress bar per stage and the held-out judgement's
//! summary table at the end.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use bulwark_lab::output::dir_name;
use bulwark_lab::sweep::SweepProgress;
use bulwark_lab::tune::{self, JudgeRow, TuneOptions};
use bulwark_report::{fmt_number, fmt_pct, fmt_usd};
use indicatif::{ProgressBar, ProgressStyle};

/// What `bulwark lab tune` was asked to do.
pub struct TuneArgs<'a> {
    pub file: &'a Path,
    pub out: Option<&'a Path>,
    pub threads: usize,
    pub quiet: bool,
}

pub fn run(a: &TuneArgs) -> Result<()> {
    let loaded = tune::load(a.file).map_err(|e| anyhow!("{e}"))?;
    let out = a.out.map_or_else(
        || PathBuf::from("tune-out").join(dir_name(&loaded.spec.name)),
        Path::to_path_buf,
    );
    print_plan(&loaded, &out);
    let opts = TuneOptions {
        threads: a.threads,
        binary_hash: crate::sweep::binary_hash()?,
    };
    let bar = progress_bar(a.quiet);
    let on_progress = |stage: &str, p: SweepProgress| {
        bar.set_prefix(stage.to_string());
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.ran > 0 {
            bar.set_message(format!(
                "{:.2} runs/s",
                p.ran as f64 / p.elapsed_s.max(1e-9)
            ));
        }
    };
    let outcome = tune::run_tune(&loaded, &out, &opts, &on_progress)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("tune {} into {}", loaded.source, out.display()))?;
    bar.finish_and_clear();
    crate::out::stdout(&summary(&loaded, &outcome, &out))?;
    Ok(())
}

fn print_plan(t: &tune::LoadedTune, out: &Path) {
    let per_scenario = t.spec.halving().runs(t.candidates.len());
    let names = |s: &[tune::exec::TuneScenario]| {
        s.iter()
            .map(|x| x.label.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "tune {} ({}): {} candidates, rungs {:?} seeds, eta {}: {} runs per tuning scenario x {} \
         = {}; tuning: {}; held-out (judged only): {} x {} seeds x 2; output {}",
        t.spec.name,
        t.source,
        t.candidates.len(),
        t.spec.search.rungs,
        t.spec.search.eta,
        per_scenario,
        t.tuning.len(),
        per_scenario * t.tuning.len() as u64,
        names(&t.tuning),
        names(&t.heldout),
        t.spec.judge.seeds,
        out.display()
    );
}

fn summary(t: &tune::LoadedTune, o: &tune::TuneOutcome, out: &Path) -> String {
    let s = &o.search.chosen;
    let mut text = format!(
        "{} runs in {:.1} s{}\n",
        o.ran,
        o.wall_time_s,
        if o.skipped > 0 {
            format!(
                "; {} already done in {} were not run again",
                o.skipped,
                out.display()
            )
        } else {
            String::new()
        }
    );
    text.push_str(&format!(
        "chosen     candidate {} ({}){}\n           P(bad debt) {}/{} (Wilson upper {}), \
         margin_per_oi {}, volume_refused_share {}\n",
        o.chosen.index,
        tune::exec::label(&o.chosen),
        if s.feasible() {
            ""
        } else {
            " — NOT FEASIBLE: no candidate met the constraints"
        },
        s.bad_debt_runs,
        s.runs,
        fmt_pct(s.bad_debt_upper),
        fmt_number(s.margin_per_oi, 4),
        fmt_number(s.volume_refused_share, 4),
    ));
    let i = &o.insurance;
    text.push_str(&match i.es_usd {
        Some(es) => format!(
            "insurance  {} (ES {} of the deficits reaching the insurance stage, {} runs)\n",
            fmt_usd(es),
            i.level,
            i.runs
        ),
        None => format!(
            "insurance  not sized: too few runs for ES {} (have {}, need {}); set \
             objective.insurance_seeds in {}\n",
            i.level, i.runs, i.runs_needed, t.source
        ),
    });
    text.push_str(&format!(
        "tuned      {}\nsearch     {}\nheld-out   {} (reports in {})\n",
        o.tuned_toml.display(),
        o.search_csv.display(),
        o.heldout_csv.display(),
        out.join("heldout").display()
    ));
    text.push_str(
        "\nHeld-out judgement (never tuned on), tuned against default on paired seeds:\n",
    );
    text.push_str(&judge_table(&o.judgement));
    text
}

/// The judgement as a table: one row per held-out scenario and variant.
fn judge_table(rows: &[JudgeRow]) -> String {
    let header = [
        "held-out scenario",
        "params",
        "runs",
        "P(bad debt) [95% Wilson]",
        "mean loss",
        "ES95 loss",
        "margin/OI",
        "refused",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let p = &r.p_bad_debt;
            [
                r.scenario.clone(),
                r.variant.clone(),
                r.runs.to_string(),
                format!(
                    "{} [{}, {}]",
                    fmt_pct(p.estimate),
                    fmt_pct(p.lower),
                    fmt_pct(p.upper)
                ),
                fmt_usd(r.loss_mean_usd),
                fmt_usd(r.loss_es95_usd),
                fmt_number(r.margin_per_oi, 4),
                fmt_number(r.volume_refused_share, 4),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: &[String]| -> String {
        let parts: Vec<String> = c
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (x, w))| {
                let pad = w - x.chars().count();
                // Text left, numbers right.
                if i < 2 {
                    format!("{x}{}", " ".repeat(pad))
                } else {
                    format!("{}{x}", " ".repeat(pad))
                }
            })
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut text = line(&header.map(String::from));
    for c in &cells {
        text.push_str(&line(c));
    }
    text
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>14} {elapsed_precise} [{bar:40}] {pos}/{len} runs, {msg}, {eta} left",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar
}
