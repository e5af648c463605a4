//! Loads every kline file in the shared real-data directory and builds paths from each.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use bulwark_lab::data::{
    clip_bad_prints, load_bars, load_gas_prices, Bar, DEFAULT_MAX_WICK_FRAC, SIMPLE_HEADER,
};
use bulwark_lab::path::{infer_bar_ms, path_from_bars, PricePath};

/// Files whose first line is the simple bar header or a headerless Binance kline row. Other
/// files in the directory (order-book depth, gas prices) have other formats.
fn kline_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("data dir is readable")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv") && is_kline_file(p))
        .collect();
    files.sort();
    files
}

fn is_kline_file(path: &Path) -> bool {
    let mut first = String::new();
    let file = fs::File::open(path).expect("data file opens");
    BufReader::new(file)
        .read_line(&mut first)
        .expect("first line reads");
    let first = first.trim();
    first == SIMPLE_HEADER.join(",") || first.starts_with(|c: char| c.is_ascii_digit())
}

fn load_clean(path: &Path) -> Vec<Bar> {
    let bars = load_bars(path).unwrap_or_else(|e| panic!("{e}"));
    clip_bad_prints(&bars, DEFAULT_MAX_WICK_FRAC).0
}

fn data_file(name: &str) -> Option<PathBuf> {
    common::data_dir().map(|d| d.join(name))
}

#[test]
fn every_kline_file_loads_and_makes_a_path() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let files = kline_files(&dir);
    assert!(
        files.len() >= 3,
        "expected the 3 kline files of PROVENANCE.md, found {files:?}"
    );
    for file in &files {
        let bars = load_clean(file);
        let bar_ms = infer_bar_ms(&bars).unwrap();
        // 12 samples a bar (every bar's high and low must appear), then a step that does not
        // divide the bar.
        for step_ms in [bar_ms / 12, bar_ms / 7 + 1] {
            let path = path_from_bars(&bars, step_ms, 1).unwrap();
            assert_path_matches_bars(&path, &bars, bar_ms, file);
        }
        println!("{}: {} bars of {bar_ms} ms", file.display(), bars.len());
    }
}

fn assert_path_matches_bars(path: &PricePath, bars: &[Bar], bar_ms: u64, file: &Path) {
    common::check_segments(path, bars, bar_ms)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let lowest = bars.iter().map(|b| b.low).fold(f64::INFINITY, f64::min);
    let highest = bars.iter().map(|b| b.high).fold(0.0, f64::max);
    assert_eq!(path.min_price().unwrap().1, lowest, "{}", file.display());
    assert_eq!(path.max_price().unwrap().1, highest, "{}", file.display());
}

#[test]
fn binance_um_5m_crash_low_matches_provenance() {
    let Some(file) = data_file("binance_um_btcusdt_markprice_5m_2025-10-09_2025-10-13.csv") else {
        return;
    };
    let bars = load_bars(&file).unwrap();
    assert_eq!(bars.len(), 1_152);
    assert!(clip_bad_prints(&bars, DEFAULT_MAX_WICK_FRAC).1.is_empty());
    let low = bars.iter().min_by(|a, b| a.low.total_cmp(&b.low)).unwrap();
    // PROVENANCE.md: 101,877.69 (rounded) at 2025-10-10 21:20 UTC.
    assert_eq!(
        (low.low, low.open_time_ms),
        (101_877.689_817_43, 1_760_131_200_000)
    );
    let path = path_from_bars(&bars, 10_000, 3).unwrap();
    assert_eq!(path.min_price().unwrap().1, low.low);
}

#[test]
fn binance_cm_1m_crash_low_matches_provenance() {
    let Some(file) = data_file("binance_cm_btcusd_perp_markprice_1m_2025-10-09_2025-10-11.csv")
    else {
        return;
    };
    let bars = load_bars(&file).unwrap();
    assert_eq!(bars.len(), 2_880);
    let low = bars.iter().min_by(|a, b| a.low.total_cmp(&b.low)).unwrap();
    // PROVENANCE.md: 102,497.49 (rounded) at 2025-10-10 21:20 UTC.
    assert_eq!(
        (low.low, low.open_time_ms),
        (102_497.485_134_03, 1_760_131_200_000)
    );
}

#[test]
fn coinbase_daily_has_one_bad_print_and_the_march_2020_crash() {
    let Some(file) = data_file("coinbase_btcusd_1d_2017-01-01_2025-09-25.csv") else {
        return;
    };
    let bars = load_bars(&file).unwrap();
    assert_eq!(bars.len(), 3_189);
    let (clean, repairs) = clip_bad_prints(&bars, DEFAULT_MAX_WICK_FRAC);
    assert_eq!(repairs.len(), 1, "{repairs:?}");
    // 2017-04-15: low 0.06 clipped to the body's low, the open 1,173.13.
    assert_eq!(repairs[0].open_time_ms, 1_492_214_400_000);
    assert_eq!((repairs[0].was, repairs[0].now), (0.06, 1173.13));
    let day = |ms: u64| clean.iter().find(|b| b.open_time_ms == ms).unwrap();
    let march_12 = day(1_583_971_200_000);
    assert_eq!(
        (march_12.open, march_12.low, march_12.close),
        (7938.05, 4644.0, 4857.1)
    );
    assert_eq!(day(1_584_057_600_000).low, 3858.0);
}

#[test]
fn gas_prices_load_with_march_2020_congestion() {
    let Some(file) = data_file("etherscan_eth_avg_gasprice_daily_2015-07-30_2022-01.csv") else {
        return;
    };
    let days = load_gas_prices(&file).unwrap();
    assert_eq!(days.len(), 2_348);
    let gwei_on = |ms: u64| {
        days.iter()
            .find(|d| d.day_start_ms == ms)
            .unwrap()
            .avg_gwei()
    };
    // PROVENANCE.md: 12.9 gwei on 2020-03-11, 77.9 on 03-12, 84.8 on 03-13, 298.8 on 2021-05-19.
    for (ms, gwei) in [
        (1_583_884_800_000, 12.9),
        (1_583_971_200_000, 77.9),
        (1_584_057_600_000, 84.8),
        (1_621_382_400_000, 298.8),
    ] {
        assert!(
            (gwei_on(ms) - gwei).abs() < 0.05,
            "{ms}: {} gwei",
            gwei_on(ms)
        );
    }
}
