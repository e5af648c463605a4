//! The `bulwark` command line: replay command logs, run the crash lab, fetch market data.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod data;
mod lab;
mod out;
mod replay;
mod sweep;
mod tune;

#[derive(Parser)]
#[command(
    name = "bulwark",
    version,
    about = "Clearing and risk engine for derivatives venues, with a crash lab"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Apply a JSON-lines command log to a fresh engine; write its events and print a summary
    /// and the final state hash.
    ///
    /// Each line is one command with its timestamp, e.g.
    /// {"ts_ms":0,"cmd":"deposit","account":1,"amount_usd":"1000"}.
    /// The whole log is read and parsed before any command is applied: a line that does not
    /// parse stops the replay with its line number, and nothing at all is applied (not even the
    /// lines before it). A command the engine rejects is reported and the replay goes on (use
    /// --strict to stop at the first rejection; the commands before it stay applied).
    Replay {
        /// The command log (JSON lines).
        file: PathBuf,
        /// Where to write the events (JSON lines); "-" for standard output.
        /// Default: next to the log, as NAME.events.jsonl. An existing file is replaced, even
        /// when the log does not parse (it is then left empty).
        #[arg(long)]
        events: Option<PathBuf>,
        /// Stop at the first rejected command, with a non-zero exit status.
        #[arg(long)]
        strict: bool,
    },
    /// The crash lab: replay crashes against the engine with trading agents.
    #[command(name = "lab", subcommand)]
    Lab(LabCmd),
    /// Market data: download exchange klines for historical scenarios.
    #[command(name = "data", subcommand)]
    Data(DataCmd),
}

#[derive(Subcommand)]
enum LabCmd {
    /// Run a scenario and write summary.json, timeseries.csv, events.csv and report.html.
    ///
    /// Without FILE, runs the default scenario (scenarios/default.toml, or the copy built into
    /// the binary): BTC on 12-13 March 2020, 72 h at 1-second steps. Every parameter can be
    /// overridden with --set, a dotted path into the scenario file, e.g.
    /// --set seed=7 --set market.maintenance=8000 --set agents.traders.count=500
    /// --set venue.native_liquidation=true --set 'chain.halt={start_s=43200,duration_s=3600}'
    /// (quote values with braces or spaces for the shell).
    Run {
        /// The scenario file (TOML); see scenarios/README.md for every field.
        file: Option<PathBuf>,
        /// Override one parameter: KEY=VALUE, KEY a dotted path (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Where to write the results. Default: lab-out/<scenario name>. The folder must be
        /// new, empty or a previous run's: it is replaced whole once every file is written.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Also run the scenario with one parameter set to each of several values and add a
        /// comparison table to the report, e.g. --compare venue.native_liquidation=false,true
        /// (each variant's files go to OUT/compare/KEY=VALUE/). One seed per variant: for
        /// differences with Monte Carlo confidence use `bulwark lab compare`.
        #[arg(long, value_name = "KEY=V1,V2")]
        compare: Option<String>,
        /// Also write the venue's state at the end of the run as a snapshot folder (accounts,
        /// positions, resting orders, funds; see scenarios/README.md, "Snapshots"). To
        /// snapshot at a time T, run with --set duration_s=T; start a later run from it with
        /// --set snapshot.dir=DIR.
        #[arg(long, value_name = "DIR")]
        snapshot_out: Option<PathBuf>,
    },
    /// Run a Monte Carlo sweep: a base scenario, a grid or random sample over any of its
    /// fields, times N seeds, on every core (see scenarios/README.md, "Sweeps").
    ///
    /// Writes OUT/runs.csv (one row per run: the swept values, the seed, every headline
    /// metric and each stage's loss), the same bytes whatever the thread count. Each finished
    /// run is saved at once: run the same command again to resume a stopped sweep.
    Sweep {
        /// The sweep file (TOML), e.g. scenarios/sweep-maintenance.toml.
        file: PathBuf,
        /// Output folder. Default: sweep-out/<sweep name> (a shard's: .../shard-I-of-N).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Worker threads; 0 (the default) uses every core.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Run one deterministic slice of the sweep, I of N (0-based): the runs whose index is
        /// I modulo N. Join the slices with `bulwark lab merge`.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Compare settings with Monte Carlo confidence: the scenario with KEY set to each value,
    /// every variant on the same seeds, and a report of each against the first value (paired
    /// bootstrap intervals, Holm-corrected across variants and metrics).
    ///
    /// e.g. bulwark lab compare --vary market.maintenance=5000,10000 --seeds 200
    ///      bulwark lab compare scenarios/defences.toml --defences --seeds 200 --set duration_s=86400
    ///      bulwark lab compare scenarios/heldout/regime_btc_5m.toml --risk-manager --tuned OUT/tuned.toml
    /// A sweep file with [[variants]] compares any sets of overrides (`lab sweep`).
    Compare {
        /// The scenario file (TOML); default: the default scenario.
        file: Option<PathBuf>,
        /// KEY=V1,V2,...: the field to vary and its values, the first being the baseline.
        #[arg(
            long,
            value_name = "KEY=V1,V2",
            required_unless_present_any = ["defences", "risk_manager"],
            conflicts_with_all = ["defences", "risk_manager"]
        )]
        vary: Option<String>,
        /// Compare the defences instead: all on (the baseline), each one off in turn, and
        /// none, with the scenario's own parameters for each (e.g. scenarios/defences.toml).
        #[arg(long, conflicts_with = "risk_manager")]
        defences: bool,
        /// Compare the risk manager instead: the scenario's static parameters (the baseline),
        /// the tuned static ones (with --tuned), the online controller, and the controller
        /// with the proactive breaker (both on top of the tuned parameters when given). Run
        /// it on the held-out scenarios (scenarios/heldout/).
        #[arg(long)]
        risk_manager: bool,
        /// With --risk-manager: a params file of tuned parameters (`lab tune`'s tuned.toml).
        #[arg(long, value_name = "FILE", requires = "risk_manager")]
        tuned: Option<PathBuf>,
        /// Override one parameter in every variant: KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Paired seeds per variant.
        #[arg(long, default_value_t = 100)]
        seeds: u32,
        /// The comparison's seed, from which every run's seed derives.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder. Default: sweep-out/compare-<KEY>.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Worker threads; 0 (the default) uses every core.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// The historical stress suite: every crash regime in the data folder (each kline CSV,
    /// or a `bulwark data fetch` cache, cut into its worst windows) and the calibrated
    /// March-2020 shock, each over N seeds, with one table of loss quantiles per regime.
    ///
    /// e.g. bulwark lab stress --data ../shared/data --seeds 50
    Stress {
        /// The venue's scenario (TOML); default: the default scenario. Its path is replaced by
        /// each regime's.
        file: Option<PathBuf>,
        /// Crash data: a folder searched for kline CSVs. Default: $BULWARK_DATA_DIR, else
        /// data-cache (where `bulwark data fetch` puts its files).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Override one parameter in every regime: KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Seeds per regime.
        #[arg(long, default_value_t = 20)]
        seeds: u32,
        /// The suite's seed, from which every run's seed derives.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A regime's window, hours.
        #[arg(long, default_value_t = 72)]
        window_h: u32,
        /// Most regimes cut from one series.
        #[arg(long, default_value_t = 3)]
        per_series: usize,
        /// Smallest peak-to-trough fall of a window for it to count as a crash, e.g. 0.1.
        #[arg(long, default_value_t = 0.10)]
        min_drawdown: f64,
        /// Output folder. Default: sweep-out/stress.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Worker threads; 0 (the default) uses every core.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Tune the venue: search margin, fee, cap and breaker parameters (any --set key) that
    /// minimise margin per open interest while P(bad debt) (its Wilson upper end) stays under a
    /// target and refused volume under a cap, over the tuning scenarios; size the insurance
    /// fund from the expected shortfall of the chosen venue's losses; judge tuned against
    /// default parameters on the held-out scenarios only.
    ///
    /// e.g. bulwark lab tune scenarios/tune.toml
    ///
    /// The search is successive halving (rungs of seeds, keep 1 in eta); each rung is a sweep,
    /// so a stopped tune resumes with the same command and the results are the same bytes
    /// whatever the thread count. A tuning scenario whose data fingerprint equals a held-out
    /// one's is refused. Writes OUT/tuned.toml (load it with `params = "tuned.toml"` in a
    /// scenario), OUT/search.csv, OUT/heldout.csv and a paired-comparison report per held-out
    /// scenario (see scenarios/README.md, "Tuning").
    Tune {
        /// The tune file (TOML), e.g. scenarios/tune.toml.
        file: PathBuf,
        /// Output folder. Default: tune-out/<tune name>. Give the same folder to resume.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Worker threads; 0 (the default) uses every core.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Join the folders of a sharded sweep (--shard 0/N .. N-1/N) into one, byte-identical to
    /// a single-machine run. Refuses shards of another sweep or another build.
    Merge {
        /// The shard folders, all N of them.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where to write the merged results.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Rewrite a finished sweep's report.html and sets.csv from its runs.csv (the statistics
    /// of this build over the runs already made; nothing is run again).
    Report {
        /// The sweep's output folder (it holds runs.csv and manifest.json).
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Download daily kline archives (cached; verified against the archive's checksums).
    Fetch {
        /// Exchange symbol, e.g. BTCUSDT (um) or BTCUSD_PERP (cm).
        #[arg(long)]
        symbol: String,
        /// spot, um (USDT-margined futures) or cm (coin-margined futures).
        #[arg(long, default_value = "um")]
        market: String,
        /// Bar interval, e.g. 1m, 5m, 1h, 1d.
        #[arg(long, default_value = "1m")]
        interval: String,
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (UTC), inclusive.
        #[arg(long)]
        to: String,
        /// Cache directory for the daily files. Default: data-cache.
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Also write all days as one simple CSV (open_time_ms,open,high,low,close,volume).
        #[arg(long, value_name = "FILE.csv")]
        out: Option<PathBuf>,
        /// Archive base URL (default: the exchange's public archive).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Skip checksum verification.
        #[arg(long)]
        no_verify: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Cmd::Replay {
            file,
            events,
            strict,
        } => replay::run(&file, events.as_deref(), strict),
        Cmd::Lab(LabCmd::Run {
            file,
            set,
            out,
            quiet,
            compare,
            snapshot_out,
        }) => lab::run(&lab::RunArgs {
            file: file.as_deref(),
            sets: &set,
            out: out.as_deref(),
            quiet,
            compare: compare.as_deref(),
            snapshot_out: snapshot_out.as_deref(),
        }),
        Cmd::Lab(LabCmd::Sweep {
            file,
            out,
            threads,
            shard,
            quiet,
        }) => sweep::run(&sweep::SweepArgs {
            file: &file,
            out: out.as_deref(),
            threads,
            shard: shard.as_deref(),
            quiet,
        }),
        Cmd::Lab(LabCmd::Tune {
            file,
            out,
            threads,
            quiet,
        }) => tune::run(&tune::TuneArgs {
            file: &file,
            out: out.as_deref(),
            threads,
            quiet,
        }),
        Cmd::Lab(LabCmd::Merge { shards, out }) => sweep::merge(&shards, &out),
        Cmd::Lab(LabCmd::Report { dir }) => sweep::report(&dir),
        Cmd::Lab(LabCmd::Stress {
            file,
            data,
            set,
            seeds,
            seed,
            window_h,
            per_series,
            min_drawdown,
            out,
            threads,
            quiet,
        }) => sweep::stress(&sweep::StressArgs {
            file: file.as_deref(),
            sets: &set,
            data: data.as_deref(),
            seeds,
            seed,
            rules: bulwark_lab::sweep::stress::RegimeRules {
                window_h,
                max_per_series: per_series,
                min_drawdown,
            },
            out: out.as_deref(),
            threads,
            quiet,
        }),
        Cmd::Lab(LabCmd::Compare {
            file,
            vary,
            defences,
            risk_manager,
            tuned,
            set,
            seeds,
            seed,
            out,
            threads,
            quiet,
        }) => sweep::compare(&sweep::CompareArgs {
            file: file.as_deref(),
            sets: &set,
            vary: vary.as_deref(),
            defences,
            risk_manager,
            tuned: tuned.as_deref(),
            seeds,
            seed,
            out: out.as_deref(),
            threads,
            quiet,
        }),
        Cmd::Data(DataCmd::Fetch {
            symbol,
            market,
            interval,
            from,
            to,
            cache,
            out,
            base_url,
            no_verify,
        }) => data::fetch(&data::FetchArgs {
            symbol: &symbol,
            market: &market,
            interval: &interval,
            from: &from,
            to: &to,
            cache: cache.as_deref(),
            out: out.as_deref(),
            base_url: base_url.as_deref(),
            no_verify,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
