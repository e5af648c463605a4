//! The historical stress suite: every crash regime in a data folder, plus the calibrated
//! March-2020 shock, each replayed over N seeds against the same venue, as one sweep whose
//! parameter sets are the regimes.
//!
//! A regime is a window of a price series: each kline CSV in the folder (searched
//! recursively) is a series, and the daily files of one `bulwark data fetch` cache folder
//! (`{market}/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{date}.csv`) are joined into one. From
//! each series the worst windows of `window_h` hours (the largest peak-to-trough fall inside
//! the window, windows not overlapping) are taken while their fall is at least
//! `min_drawdown`; a series shorter than the window is one window. Files that are not price
//! bars (order-book depth, gas) are skipped and named. Each window is written as a CSV under
//! the output's `regimes/`, so a regime can be replayed on its own with `lab run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::{
    bar_interval, body_outliers, clip_bad_prints, drop_outliers, load_bars, Bar,
    DEFAULT_MAX_WICK_FRAC, DEFAULT_OUTLIER_FRAC,
};

/// How regimes are picked.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeRules {
    /// Length of a regime's window, hours.
    pub window_h: u32,
    /// Most windows taken from one series.
    pub max_per_series: usize,
    /// Smallest peak-to-trough fall inside a window for it to count as a crash, in (0, 1).
    pub min_drawdown: f64,
}

impl Default for RegimeRules {
    fn default() -> RegimeRules {
        RegimeRules {
            window_h: 72,
            max_per_series: 3,
            min_drawdown: 0.10,
        }
    }
}

/// One historical regime: where it came from and the CSV the replay reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Regime {
    /// e.g. "coinbase_btcusd_1d 2020-03-10 (72 h, -52%)".
    pub name: String,
    /// The series it was cut from.
    pub source: PathBuf,
    pub csv: PathBuf,
    pub start_ms: u64,
    pub bars: usize,
    pub drawdown: f64,
}

/// What the search found: the regimes, and the files it passed over with why.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub regimes: Vec<Regime>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Finds the regimes under `data_dir` and writes each window into `regimes_dir`.
pub fn find_regimes(
    data_dir: &Path,
    regimes_dir: &Path,
    rules: &RegimeRules,
) -> Result<Found, String> {
    if !(rules.min_drawdown > 0.0 && rules.min_drawdown < 1.0) {
        return Err(format!(
            "min drawdown {} must be in (0, 1), e.g. 0.1 for a 10% fall",
            rules.min_drawdown
        ));
    }
    if rules.window_h == 0 || rules.max_per_series == 0 {
        return Err("the window and the windows per series must be at least 1".into());
    }
    let mut files = Vec::new();
    collect_csvs(data_dir, &mut files)?;
    files.sort();
    let mut found = Found::default();
    let mut series: BTreeMap<String, (PathBuf, Vec<Bar>)> = BTreeMap::new();
    for file in files {
        match load_bars(&file) {
            Ok(bars) if bars.len() >= 2 => {
                let (key, name) = series_key(&file);
                let entry = series
                    .entry(key)
                    .or_insert_with(|| (PathBuf::from(name), Vec::new()));
                entry.1.extend(bars);
            }
            Ok(_) => found.skipped.push((file, "fewer than two bars".into())),
            Err(e) => found.skipped.push((file, format!("not price bars ({e})"))),
        }
    }
    std::fs::create_dir_all(regimes_dir).map_err(|e| format!("{}: {e}", regimes_dir.display()))?;
    for (_, (name, mut bars)) in series {
        bars.sort_by_key(|b| b.open_time_ms);
        bars.dedup_by_key(|b| b.open_time_ms);
        let Ok(bar_ms) = bar_interval(&bars) else {
            found.skipped.push((name, "irregular bar spacing".into()));
            continue;
        };
        let stem = series_name(&name.to_string_lossy());
        // Bad prints (a 1e-7 low, a 1e9 body) would look like the worst crash of all: the
        // windows are chosen on the bars the replay will see, cleaned the default way.
        let outliers = body_outliers(&bars, DEFAULT_OUTLIER_FRAC);
        let bars = drop_outliers(&bars, &outliers);
        let (bars, _) = clip_bad_prints(&bars, DEFAULT_MAX_WICK_FRAC);
        let windows = worst_windows(&bars, bar_ms, rules);
        if windows.is_empty() {
            found.skipped.push((
                name.clone(),
                format!(
                    "no {} h window falls {:.0}% or more",
                    rules.window_h,
                    rules.min_drawdown * 100.0
                ),
            ));
        }
        for (from, to, drawdown) in windows {
            let window = &bars[from..to];
            let start = window[0].open_time_ms;
            let date = crate::fetch::CivilDate::from_days_since_epoch((start / 86_400_000) as i64)
                .map_or_else(|| start.to_string(), |d| d.to_string());
            let csv = regimes_dir.join(format!("{}_{date}.csv", crate::output::dir_name(&stem)));
            write_bars(&csv, window)?;
            found.regimes.push(Regime {
                name: format!(
                    "{stem} {date} ({} h, -{:.0}%)",
                    (window.len() as u64 * bar_ms).div_ceil(3_600_000),
                    drawdown * 100.0
                ),
                source: name.clone(),
                csv,
                start_ms: start,
                bars: window.len(),
                drawdown,
            });
        }
    }
    Ok(found)
}

fn collect_csvs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            collect_csvs(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The series a file belongs to: a fetch cache day (`SYMBOL-interval-YYYY-MM-DD.csv`) joins
/// the other days of its folder; any other file is a series of its own.
fn series_key(file: &Path) -> (String, String) {
    let stem = file
        .file_stem()
        .map_or(String::new(), |s| s.to_string_lossy().to_string());
    let is_day = stem.len() > 11 && {
        let (head, date) = stem.split_at(stem.len() - 11);
        date.starts_with('-')
            && date[1..].chars().filter(|c| *c == '-').count() == 2
            && !head.is_empty()
    };
    if is_day {
        let head = &stem[..stem.len() - 11];
        let dir = file
            .parent()
            .map_or(String::new(), |d| d.display().to_string());
        (format!("{dir}/{head}"), head.to_string())
    } else {
        (file.display().to_string(), stem)
    }
}

/// A series' name without the date range its file name ends with:
/// `coinbase_btcusd_1d_2017-01-01_2025-09-25` -> `coinbase_btcusd_1d` (the window's own date
/// follows it in a regime's name).
fn series_name(stem: &str) -> String {
    let parts: Vec<&str> = stem.split('_').collect();
    let keep = parts
        .iter()
        .rposition(|p| !is_date(p))
        .map_or(parts.len(), |i| i + 1);
    parts[..keep].join("_")
}

/// `2017-01-01` or `2022-01`: a year, then month (and day), by dashes.
fn is_date(token: &str) -> bool {
    let mut parts = token.split('-');
    let year = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&rest.len())
        && rest
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit()))
}

/// The worst windows of a series by peak-to-trough fall, not overlapping, at most
/// `max_per_series`, each falling at least `min_drawdown`: (first bar, end bar, fall).
pub fn worst_windows(bars: &[Bar], bar_ms: u64, rules: &RegimeRules) -> Vec<(usize, usize, f64)> {
    let len = ((u64::from(rules.window_h) * 3_600_000) / bar_ms.max(1)).max(2) as usize;
    let len = len.min(bars.len());
    let mut candidates: Vec<(usize, f64)> = (0..=bars.len() - len)
        .map(|i| (i, drawdown(&bars[i..i + len])))
        .collect();
    // Worst first; ties to the earlier window so the choice does not depend on sort details.
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<(usize, usize, f64)> = Vec::new();
    for (i, dd) in candidates {
        if chosen.len() == rules.max_per_series || dd < rules.min_drawdown {
            break;
        }
        if chosen.iter().all(|&(a, b, _)| i + len <= a || i >= b) {
            chosen.push((i, i + len, dd));
        }
    }
    chosen.sort_by_key(|c| c.0);
    chosen
}

/// The largest fall from a running high to a later low, as a share of that high.
fn drawdown(bars: &[Bar]) -> f64 {
    let mut peak = f64::NEG_INFINITY;
    let mut worst = 0.0f64;
    for b in bars {
        peak = peak.max(b.high);
        if peak > 0.0 {
            worst = worst.max(1.0 - b.low / peak);
        }
    }
    worst
}

fn write_bars(path: &Path, bars: &[Bar]) -> Result<(), String> {
    let mut text = String::from("open_time_ms,open,high,low,close,volume\n");
    for b in bars {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            b.open_time_ms, b.open, b.high, b.low, b.close, b.volume
        ));
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(i: u64, high: f64, low: f64) -> Bar {
        Bar {
            open_time_ms: i * 3_600_000,
            open: high,
            high,
            low,
            close: low,
            volume: 0.0,
        }
    }

    #[test]
    fn the_worst_windows_are_taken_without_overlap_and_above_the_threshold() {
        // 20 hourly bars: a 50% fall at hours 3-4 and a 20% fall at hours 14-15, calm else.
        let mut bars: Vec<Bar> = (0..20).map(|i| bar(i, 100.0, 99.0)).collect();
        bars[4] = bar(4, 100.0, 50.0);
        bars[15] = bar(15, 100.0, 80.0);
        let rules = RegimeRules {
            window_h: 4,
            max_per_series: 3,
            min_drawdown: 0.1,
        };
        let w = worst_windows(&bars, 3_600_000, &rules);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            (w[0].0, w[0].1),
            (1, 5),
            "the earliest of the tied worst windows"
        );
        assert!((w[0].2 - 0.5).abs() < 1e-12 && (w[1].2 - 0.2).abs() < 1e-12);
        assert!(w[1].0 >= w[0].1, "no overlap");
        let strict = RegimeRules {
            min_drawdown: 0.3,
            ..rules
        };
        assert_eq!(worst_windows(&bars, 3_600_000, &strict).len(), 1);
    }

    #[test]
    fn fetch_cache_days_join_one_series_and_other_files_stand_alone() {
        let (a, _) = series_key(Path::new("c/um/BTCUSDT/1m/BTCUSDT-1m-2025-10-10.csv"));
        let (b, name) = series_key(Path::new("c/um/BTCUSDT/1m/BTCUSDT-1m-2025-10-11.csv"));
        assert_eq!(a, b);
        assert_eq!(name, "BTCUSDT-1m");
        let (c, name) = series_key(Path::new("d/coinbase_btcusd_1d_2017-01-01_2025-09-25.csv"));
        assert_ne!(c, a);
        assert_eq!(name, "coinbase_btcusd_1d_2017-01-01_2025-09-25");
        assert_eq!(series_name(&name), "coinbase_btcusd_1d");
        assert_eq!(
            series_name("etherscan_gas_2015-07-30_2022-01"),
            "etherscan_gas"
        );
        assert_eq!(series_name("BTCUSDT-1m"), "BTCUSDT-1m");
    }
}
