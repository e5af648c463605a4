//! Every defence of a market on (the stable price too), for the benchmarks that measure what the defences cost the
//! hot path (`benches/engine.rs`, `examples/engine_paths.rs`).

use bulwark_engine::{
    Command, MarketId, MarketParams, OiCap, Ppm, Price, PriceBand, Qty, TimestampMs,
};

/// Every defence on, with bounds the workload never reaches: the oracle guard (three sources
/// at the mid), a 50% price band, halt and divergence breakers at 50%, dynamic margin with a
/// schedule running, the adaptive fee in force (short volatility twice the long), and an
/// open-interest cap far above the book.
pub fn defended(params: &mut MarketParams) {
    let d = &mut params.defences;
    d.oracle_guard.enabled = true;
    d.oracle_guard.min_sources = 2;
    d.stable_price.enabled = true;
    d.price_band = PriceBand {
        enabled: true,
        band: Ppm::from_raw(500_000),
    };
    d.halt.enabled = true;
    d.halt.max_move = Ppm::from_raw(500_000);
    d.divergence.enabled = true;
    d.divergence.max_divergence = Ppm::from_raw(500_000);
    d.dynamic_margin.enabled = true;
    d.dynamic_margin.floor = params.maintenance;
    d.adaptive_fee.enabled = true;
    d.oi_cap = OiCap {
        enabled: true,
        max_open_interest: Qty::from_lots(1_000_000_000),
        max_account_share: Ppm::ONE,
        ..OiCap::default()
    };
}

/// The commands that bring the defences of a defended market into force.
pub fn defence_inputs(mid: Price, now: TimestampMs) -> Vec<Command> {
    let mut cmds: Vec<Command> = (0..3)
        .map(|source| Command::OracleSource {
            market: MarketId(0),
            source,
            price: mid,
            confidence: Price::ZERO,
            published_ms: now.0,
        })
        .collect();
    cmds.push(Command::Volatility {
        market: MarketId(0),
        short: Ppm::from_raw(20_000),
        long: Ppm::from_raw(10_000),
    });
    cmds.push(Command::Tick);
    cmds
}
