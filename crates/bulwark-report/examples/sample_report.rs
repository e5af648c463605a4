//! Writes the synthetic sample report so the page can be looked at:
//!
//! ```sh
//! cargo run -p bulwark-report --example sample_report -- /tmp/report-sample [hours] [step_s]
//! ```
//!
//! Defaults: 72 hours at 1-second steps (259,200 samples per column).

use std::path::PathBuf;
use std::time::Instant;

use bulwark_report::{render_console_table, sample::sample_report, write_report};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/report-sample".to_owned()),
    );
    let hours: f64 = args.next().map_or(Ok(72.0), |a| a.parse())?;
    let step_s: f64 = args.next().map_or(Ok(1.0), |a| a.parse())?;

    let report = sample_report(hours * 3_600.0, step_s);
    let started = Instant::now();
    let path = write_report(&dir, &report)?;
    let size_bytes = std::fs::metadata(&path)?.len();
    print!("{}", render_console_table(&report.headline));
    println!(
        "wrote {} ({} bytes, {} samples per column) in {:.2} s",
        path.display(),
        size_bytes,
        report.series.t_s.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
