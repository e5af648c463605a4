//! Liquidation at scale: a million accounts with positions in one market, a 10% move, 1% of
//! the accounts liquidatable.
//!
//! Run: `cargo bench -p bulwark-engine --bench liquidation`.
//!
//! Workload: 500,000 pairs of accounts; in each pair one account sells 0.1 BTC to the other at
//! 10,000 USD (so 500,000 longs and 500,000 shorts, 1,000 USD of notional each). Maintenance is
//! 3% (initial 6%). Most accounts hold 400 USD (2.5x); 10,000 longs (1% of all accounts) hold
//! 115 USD (8.7x). A market maker rests 40,000 BTC of bids from 8,990 down, 10 USD apart. The
//! mark is the mean of the oracle and the trade EMA (the impact mid is switched off by a huge
//! impact notional), so an oracle of 8,000 moves the mark from 10,000 to 9,000: -10%. At 9,000
//! the 115-USD longs have equity 15 < 27 of maintenance and are liquidated partially through
//! the book; everyone else stays healthy.
//!
//! - `detect`: the oracle update with protocol-native liquidation off: the time to find and
//!   flag the 10,000 pools (the recheck index visits only pools whose trigger the move crossed).
//! - `liquidate`: the same update with native liquidation on and no per-step cap: detection
//!   plus 10,000 partial liquidations through the book; divide by 10,000 for one.
//!
//! Each iteration runs on a fresh clone of the prepared engine (the clone is not timed).

use bulwark_engine::{
    AccountId, Command, Engine, EngineConfig, Event, MarketId, MarketParams, OrderKind, Ppm, Qty,
    Side, TimestampMs, VenueParam,
};
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};

const PAIRS: u32 = 500_000;
const HIGH_LEVERAGE_LONGS: u32 = 10_000;
const MM: AccountId = AccountId(0);

fn prepared() -> Engine {
    let config = EngineConfig {
        max_open_orders_per_account: 1_024,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(config);
    let t = TimestampMs(1);
    let ok = |e: &mut Engine, c: Command| {
        e.apply(&c, t).unwrap_or_else(|r| panic!("{c:?}: {r}"));
    };
    ok(
        &mut e,
        Command::SetVenueParam {
            param: VenueParam::NativeLiquidation(false),
        },
    );
    ok(
        &mut e,
        Command::SetVenueParam {
            param: VenueParam::MaxLiquidationsPerStep(100_000),
        },
    );
    let mut p = MarketParams::btc_like("BTC-PERP", px(10_000));
    p.maintenance = Ppm::from_raw(30_000);
    p.size_premium = Ppm::from_raw(0);
    p.maker_fee = Ppm::from_raw(0);
    p.taker_fee = Ppm::from_raw(0);
    p.impact_notional_usd = usd(1_000_000_000_000);
    p.max_position_qty = Qty::from_lots(100_000_000);
    p.max_price = px(100_000);
    ok(
        &mut e,
        Command::CreateMarket {
            params: Box::new(p),
        },
    );
    ok(
        &mut e,
        Command::Deposit {
            account: MM,
            amount_usd: usd(100_000_000),
        },
    );
    for k in 0..PAIRS {
        let seller = AccountId(1 + 2 * k);
        let buyer = AccountId(2 + 2 * k);
        let buyer_usd = if k < HIGH_LEVERAGE_LONGS { 115 } else { 400 };
        ok(
            &mut e,
            Command::Deposit {
                account: seller,
                amount_usd: usd(400),
            },
        );
        ok(
            &mut e,
            Command::Deposit {
                account: buyer,
                amount_usd: usd(buyer_usd),
            },
        );
        ok(
            &mut e,
            order(seller, Side::Sell, OrderKind::Limit, 10_000, 100),
        );
        ok(&mut e, order(buyer, Side::Buy, OrderKind::Ioc, 10_000, 100));
    }
    for level in 0..400 {
        ok(
            &mut e,
            order(MM, Side::Buy, OrderKind::Limit, 8_990 - 10 * level, 100_000),
        );
    }
    e
}

fn bench(c: &mut Criterion) {
    let base = prepared();
    let t = TimestampMs(2);
    let crash = Command::OraclePrice {
        market: MarketId(0),
        price: px(8_000),
    };
    // Check the workload once: 10,000 pools flagged, then liquidated.
    let mut probe = base.clone();
    let flagged = probe
        .apply(&crash, t)
        .unwrap()
        .iter()
        .filter(|ev| matches!(ev, Event::BelowMaintenance { .. }))
        .count();
    assert_eq!(flagged, HIGH_LEVERAGE_LONGS as usize);
    assert_eq!(probe.market(MarketId(0)).unwrap().mark, px(9_000));
    let mut probe = base.clone();
    probe
        .apply(
            &Command::SetVenueParam {
                param: VenueParam::NativeLiquidation(true),
            },
            t,
        )
        .unwrap();
    let events = probe.apply(&crash, t).unwrap().to_vec();
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    let liquidated = count(|e| matches!(e, Event::LiquidationStarted { .. }));
    eprintln!(
        "liquidations {liquidated}, penalties {}, in waterfall {}, bankrupt {}, adl {}",
        count(|e| matches!(e, Event::LiquidationPenalty { .. })),
        count(|e| matches!(
            e,
            Event::LiquidationEnded {
                in_waterfall: true,
                ..
            }
        )),
        count(|e| matches!(e, Event::Bankrupt { .. })),
        count(|e| matches!(e, Event::Deleveraged { .. })),
    );
    assert_eq!(liquidated, HIGH_LEVERAGE_LONGS as usize);
    assert!(probe.liquidation_queue().is_empty());

    let mut g = c.benchmark_group("liquidation_1m_accounts");
    g.sample_size(10);
    bench_on_clone(&mut g, "detect", &base, &crash, t);
    let mut native = base.clone();
    native
        .apply(
            &Command::SetVenueParam {
                param: VenueParam::NativeLiquidation(true),
            },
            t,
        )
        .unwrap();
    bench_on_clone(&mut g, "liquidate_10k", &native, &crash, t);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
