//! Helpers shared by the benchmarks that build a million-account venue (`liquidation.rs`,
//! `adl.rs`, `lazy_index.rs`).

// Each benchmark uses its own subset.
#![allow(dead_code)]

use bulwark_engine::{
    AccountId, Command, Engine, MarginMode, MarketId, OrderKind, PlaceOrder, Price, Qty, SelfTrade,
    Side, TimestampMs, Usd,
};
use criterion::{measurement::WallTime, BatchSize, BenchmarkGroup};

/// Whole dollars.
pub fn usd(v: i64) -> Usd {
    Usd::from_micros(v * 1_000_000)
}

/// A price in whole dollars.
pub fn px(v: i64) -> Price {
    Price::from_micros(v * 1_000_000)
}

/// A cross order in market 0 at `price` whole dollars.
pub fn order(account: AccountId, side: Side, kind: OrderKind, price: i64, qty: i64) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: MarketId(0),
        side,
        kind,
        price: Some(px(price)),
        qty: Qty::from_lots(qty),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

/// Time `cmd` at `t` applied to a fresh clone of `engine` (the clone is not timed).
pub fn bench_on_clone(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    engine: &Engine,
    cmd: &Command,
    t: TimestampMs,
) {
    g.bench_function(name, |b| {
        b.iter_batched(
            || engine.clone(),
            |mut e| {
                let n = e.apply(cmd, t).unwrap().len();
                (e, n)
            },
            BatchSize::PerIteration,
        )
    });
}
