//! Calibration of the lab's agents and chain against the shared real data.

mod common;

use std::path::PathBuf;

fn data_file(name: &str) -> Option<PathBuf> {
    common::data_dir().map(|d| d.join(name))
}

#[test]
fn book_depth_thins_with_volatility_on_the_cascade_day() {
    let Some(file) = data_file("binance_um_btcusdt_bookdepth_2025-10-10.csv") else {
        return;
    };
    let c = bulwark_lab::calibrate::depth_vs_vol(&file, 20).unwrap();
    println!("{c:?}");
    assert!(c.snapshots > 2_000, "{c:?}");
    // Depth within 1% fell to about an eighth of its median in the cascade.
    assert!(c.min_ratio > 0.05 && c.min_ratio < 0.2, "{c:?}");
    assert!(c.ols_elasticity > 0.1 && c.ols_elasticity < 1.0, "{c:?}");
    assert!(c.tail_elasticity > 0.5 && c.tail_elasticity < 0.9, "{c:?}");
    let default = bulwark_lab::scenario::MarketMakerParams::default().depth_vol_elasticity;
    assert!(
        (default - c.tail_elasticity).abs() < 0.1,
        "default {default} vs data {c:?}"
    );
}

#[test]
fn gas_calibration_matches_the_default_chain() {
    let Some(file) = data_file("etherscan_eth_avg_gasprice_daily_2015-07-30_2022-01.csv") else {
        return;
    };
    let shock = bulwark_lab::path::CalibratedShock::march_2020();
    let end_ms = shock.start_ms + shock.total_s() * 1000;
    let (calm, stress) =
        bulwark_lab::chain::calibrate_from_gas_csv(&file, shock.start_ms, end_ms).unwrap();
    assert!((calm - 12.9).abs() < 0.5, "calm {calm}");
    assert!((78.0..=86.0).contains(&stress), "stress {stress}");
    let chain = bulwark_lab::scenario::ChainParams::default();
    assert!((chain.calm_gwei - calm).abs() < 0.5 && (chain.stress_gwei - stress).abs() < 5.0);
}
