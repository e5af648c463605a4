//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::env;
use std::path::PathBuf;

use bulwark_lab::data::Bar;
use bulwark_lab::path::PricePath;

/// The shared real-data directory: `BULWARK_DATA_DIR` if set, else `shared/data` beside the
/// repository. `None` (after saying so) when it is absent, except under `CI=true`, where the
/// data must be there and its absence fails the test.
pub fn data_dir() -> Option<PathBuf> {
    let dir = env::var_os("BULWARK_DATA_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
        PathBuf::from,
    );
    if dir.is_dir() {
        return Some(dir);
    }
    if env::var("CI").as_deref() == Ok("true") {
        panic!(
            "shared data directory {} not found; CI must provide it (set BULWARK_DATA_DIR or \
             lay shared/ beside the repository)",
            dir.display()
        );
    }
    println!(
        "skipping: shared data directory {} not found; set BULWARK_DATA_DIR to run this test",
        dir.display()
    );
    None
}

/// Checks each bar's segment of `path` (the samples inside the bar): prices within
/// [low, high]; first sample is the open, last the close; with 4 or more samples the high and
/// low are both reached exactly.
pub fn check_segments(path: &PricePath, bars: &[Bar], bar_ms: u64) -> Result<(), String> {
    for (i, bar) in bars.iter().enumerate() {
        let offset = bar.open_time_ms - path.start_ms;
        let first = offset.div_ceil(path.step_ms) as usize;
        let end = ((offset + bar_ms).div_ceil(path.step_ms) as usize).min(path.len());
        let seg = &path.prices[first.min(end)..end];
        check_segment(seg, bar).map_err(|e| format!("bar {i} at {} ms: {e}", bar.open_time_ms))?;
    }
    Ok(())
}

fn check_segment(seg: &[f64], bar: &Bar) -> Result<(), String> {
    if let Some(p) = seg.iter().find(|p| !(bar.low..=bar.high).contains(*p)) {
        return Err(format!("price {p} outside [{}, {}]", bar.low, bar.high));
    }
    if seg.first().is_some_and(|&p| p != bar.open) {
        return Err(format!("starts at {} instead of open {}", seg[0], bar.open));
    }
    if seg.len() >= 2 && seg[seg.len() - 1] != bar.close {
        return Err(format!(
            "ends at {} instead of close {}",
            seg[seg.len() - 1],
            bar.close
        ));
    }
    if seg.len() >= 4 && !(seg.contains(&bar.high) && seg.contains(&bar.low)) {
        return Err(format!("{} samples miss the high or the low", seg.len()));
    }
    Ok(())
}
