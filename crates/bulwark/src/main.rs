//! The `bulwark` command line: replay command logs, run the crash lab, fetch market data.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod replay;

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
    /// A line that does not parse stops the replay with its line number; nothing after it is
    /// applied. A command the engine rejects is reported and the replay goes on (use --strict
    /// to stop at the first rejection).
    Replay {
        /// The command log (JSON lines).
        file: PathBuf,
        /// Where to write the events (JSON lines); "-" for standard output.
        /// Default: next to the log, as NAME.events.jsonl.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Stop at the first rejected command, with a non-zero exit status.
        #[arg(long)]
        strict: bool,
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
