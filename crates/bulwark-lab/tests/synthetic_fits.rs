//! The synthetic generators' presets are their fits to the shared real data: each test
//! refits one file and checks the preset's numbers (rounded to three significant digits)
//! against the fit. The fits and the files are listed in scenarios/README.md.

mod common;

use std::path::PathBuf;

use bulwark_lab::data::{bar_interval, load_bars};
use bulwark_lab::path::fitting::{log_returns_without_gaps, mean_var};
use bulwark_lab::path::{garch, merton, regime, Diffusion, Garch, MertonJumps, RegimeSwitching};
use bulwark_lab::path::{DAY_MS, MS_PER_YEAR};

const COINBASE_DAILY: &str = "coinbase_btcusd_1d_2017-01-01_2025-09-25.csv";
const BINANCE_5M: &str = "binance_um_btcusdt_markprice_5m_2025-10-09_2025-10-13.csv";

/// The log returns of consecutive bars of a shared file and the bar length, or `None` (after
/// saying so) when the data directory is absent outside CI.
fn returns_of(name: &str) -> Option<(Vec<f64>, u64)> {
    let file: PathBuf = common::data_dir()?.join(name);
    let bars = load_bars(&file).unwrap_or_else(|e| panic!("{e}"));
    let bar_ms = bar_interval(&bars).unwrap();
    Some((log_returns_without_gaps(&bars, bar_ms), bar_ms))
}

/// `fitted` and `stated` agree to the preset's three significant digits.
fn assert_close(name: &str, fitted: f64, stated: f64) {
    assert!(
        (fitted - stated).abs() <= 5e-3 * fitted.abs().max(1e-12),
        "{name}: fitted {fitted}, preset {stated}"
    );
}

#[test]
fn gbm_preset_is_the_daily_volatility_of_coinbase_btc() {
    let Some((returns, bar_ms)) = returns_of(COINBASE_DAILY) else {
        return;
    };
    assert_eq!(bar_ms, DAY_MS);
    let (mean, var) = mean_var(&returns);
    let vol = (var * MS_PER_YEAR / bar_ms as f64).sqrt();
    println!(
        "{} daily returns, mean {mean}, annual vol {vol}",
        returns.len()
    );
    assert_close("annual_vol", vol, Diffusion::btc_daily_fit().annual_vol);
}

#[test]
fn merton_preset_is_the_fit_to_coinbase_daily() {
    let Some((returns, bar_ms)) = returns_of(COINBASE_DAILY) else {
        return;
    };
    let f = merton::fit::fit_returns(&returns, bar_ms).unwrap();
    println!("{f:#?}");
    let p = MertonJumps::btc_daily_fit();
    assert_close("annual_vol", f.params.annual_vol, p.annual_vol);
    assert_close("jumps_per_day", f.params.jumps_per_day, p.jumps_per_day);
    assert_close("jump_mean_log", f.params.jump_mean_log, p.jump_mean_log);
    assert_close("jump_sd_log", f.params.jump_sd_log, p.jump_sd_log);
    // Jumps explain the daily tails far beyond chance: the likelihood-ratio statistic is
    // hundreds against a chi-squared with 3 degrees of freedom (16.3 at 0.1%).
    assert!(
        2.0 * (f.log_likelihood - f.normal_log_likelihood) > 100.0,
        "{f:?}"
    );
}

#[test]
fn garch_daily_preset_is_the_fit_to_coinbase_daily() {
    let Some((returns, bar_ms)) = returns_of(COINBASE_DAILY) else {
        return;
    };
    let free = garch::fit::fit_returns(&returns, bar_ms / 1000).unwrap();
    println!("free: {free:#?}");
    let f = garch::fit::fit_returns_variance_targeted(&returns, bar_ms / 1000).unwrap();
    println!("{f:#?}\nlong-run annual vol {}", f.params.annual_vol());
    check_garch(&f.params, &Garch::btc_daily_fit());
    assert!(f.params.persistence() < 1.0);
}

#[test]
fn garch_5m_preset_is_the_fit_to_the_october_2025_marks() {
    let Some((returns, bar_ms)) = returns_of(BINANCE_5M) else {
        return;
    };
    let f = garch::fit::fit_returns(&returns, bar_ms / 1000).unwrap();
    println!("{f:#?}\nlong-run annual vol {}", f.params.annual_vol());
    check_garch(&f.params, &Garch::btc_5m_oct_2025_fit());
}

fn check_garch(fitted: &Garch, preset: &Garch) {
    assert_close("omega", fitted.omega, preset.omega);
    assert_close("alpha", fitted.alpha, preset.alpha);
    assert_close("beta", fitted.beta, preset.beta);
    assert_close("dof", fitted.dof, preset.dof);
    assert_eq!(fitted.bar_s, preset.bar_s);
    assert_close("long-run vol", fitted.annual_vol(), preset.annual_vol());
}

#[test]
fn regime_daily_preset_is_the_fit_to_coinbase_daily() {
    let Some((returns, bar_ms)) = returns_of(COINBASE_DAILY) else {
        return;
    };
    let f = regime::fit::fit_returns(&returns, bar_ms).unwrap();
    println!(
        "{f:#?}\nmean calm {} days, mean crisis {} days",
        f.params.mean_calm_s / 86_400.0,
        f.params.mean_crisis_s / 86_400.0
    );
    check_regime(&f.params, &RegimeSwitching::btc_daily_fit());
}

#[test]
fn regime_5m_preset_is_the_fit_to_the_october_2025_marks() {
    let Some((returns, bar_ms)) = returns_of(BINANCE_5M) else {
        return;
    };
    let f = regime::fit::fit_returns(&returns, bar_ms).unwrap();
    println!(
        "{f:#?}\nmean calm {} h, mean crisis {} h",
        f.params.mean_calm_s / 3_600.0,
        f.params.mean_crisis_s / 3_600.0
    );
    check_regime(&f.params, &RegimeSwitching::btc_5m_oct_2025_fit());
}

fn check_regime(fitted: &RegimeSwitching, preset: &RegimeSwitching) {
    assert_close(
        "calm.annual_vol",
        fitted.calm.annual_vol,
        preset.calm.annual_vol,
    );
    assert_close(
        "crisis.annual_vol",
        fitted.crisis.annual_vol,
        preset.crisis.annual_vol,
    );
    assert_close("mean_calm_s", fitted.mean_calm_s, preset.mean_calm_s);
    assert_close("mean_crisis_s", fitted.mean_crisis_s, preset.mean_crisis_s);
}

#[test]
fn presets_start_where_their_data_does() {
    use bulwark_lab::path::preset;
    let Some(dir) = common::data_dir() else {
        return;
    };
    let bars = |name: &str| load_bars(&dir.join(name)).unwrap();
    // The daily fits start the day after the Coinbase file ends, at its last close.
    let coinbase = bars(COINBASE_DAILY);
    let last = coinbase.last().unwrap();
    for name in [
        "gbm_btc_daily_fit",
        "merton_btc_daily_fit",
        "garch_btc_daily_fit",
        "regime_crypto",
    ] {
        let p = preset(name).unwrap().path;
        assert_eq!(
            (p.start_ms, p.start_price),
            (last.open_time_ms + DAY_MS, last.close),
            "{name}"
        );
    }
    // The five-minute fits start at the file's first mark, rounded to the cent.
    let first = bars(BINANCE_5M)[0];
    for name in ["garch_btc_5m_oct_2025", "regime_btc_5m_oct_2025"] {
        let p = preset(name).unwrap().path;
        assert_eq!(p.start_ms, first.open_time_ms, "{name}");
        assert!((p.start_price - first.open).abs() < 0.005, "{name}");
    }
    // october_2025 starts at the crash day's first one-minute mark.
    let minute = bars("binance_cm_btcusd_perp_markprice_1m_2025-10-09_2025-10-11.csv");
    let day = minute
        .iter()
        .find(|b| b.open_time_ms == 1_760_054_400_000)
        .unwrap();
    let p = preset("october_2025").unwrap().path;
    assert_eq!((p.start_ms, p.start_price), (day.open_time_ms, day.open));
}
