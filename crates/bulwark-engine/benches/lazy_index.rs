//! Funding and socialized loss over a million open accounts: one command each.
//!
//! Run: `cargo bench -p bulwark-engine --bench lazy_index`.
//!
//! Workload: 500,000 pairs of accounts in one market; in each pair one account sells 0.1 BTC
//! to the other at 10,000 USD (500,000 longs, 500,000 shorts, 1,000 USD of notional each).
//! Maintenance 3%, initial 6%, no fees, no size premium; the mark is the mean of the oracle
//! and the trade EMA (the impact mid is switched off by a huge impact notional). Shorts hold
//! 400 USD (2.5x); the first 20,000 longs hold 60 USD ("victims": bankrupt after a 10% fall),
//! the next 10,000 hold 115 USD (8.7x), the rest 400 USD. Native liquidation is off.
//!
//! - `funding/few`: one `Tick` at a funding boundary (one-second intervals) with a 1 ppm rate:
//!   no pool's trigger is crossed. Runs on one engine, ticks in a row across samples (a fresh
//!   clone every 10,000 ticks, not timed). `funding/tick_only` is the same `Tick` off the boundary (no
//!   settlement): the difference is the settlement.
//! - `funding/many`: one `Tick` at a boundary with the mark (9,500) 5.6% over the oracle
//!   (9,000) and the clamp at 10%: the step (500 USD per BTC) crosses the triggers of the
//!   30,000 high-leverage longs (victims and 8.7x). A fresh clone per iteration (not timed).
//! - `socialize/few`: after a 10% fall, one keeper `Liquidate` of a victim: ADL, vault and
//!   insurance off, so its long is sold into a market maker's bids and its deficit (about 41
//!   USD) is socialized over the 500,000 shorts. `socialize/uncovered` is the same command with
//!   socialization off (the deficit becomes bad debt): the difference is the socialization.
//! - `margin_step_1m_positions/step`: one `Tick` at which dynamic margin applies a step
//!   (maintenance 3% -> 3.1%) to the market's million positions: every pool re-evaluated and
//!   its trigger prices re-registered in the recheck index. A fresh clone per iteration.
//! - `socialize/many`: a whale long of 20,000 BTC bankrupt by about 23 M USD, socialized over
//!   the shorts, among them 10,000 shorts opened after the fall at 16x whose triggers the step
//!   crosses. `socialize/many_uncovered` is its baseline. A fresh clone per iteration.

use bulwark_engine::{
    AccountId, Command, DynamicMargin, Engine, EngineConfig, MarketId, MarketParams, OrderKind,
    Param, Ppm, Price, Qty, Scope, Side, TimestampMs, VenueParam, Waterfall,
};
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

const PAIRS: u32 = 500_000;
const VICTIMS: u32 = 20_000;
const HIGH_LEVERAGE: u32 = 10_000;
const NEAR_SHORTS: u32 = 10_000;
const MM: AccountId = AccountId(0);
const WHALE: AccountId = AccountId(2_000_000);
const M: MarketId = MarketId(0);

fn ok(e: &mut Engine, c: Command, t: u64) {
    e.apply(&c, TimestampMs(t))
        .unwrap_or_else(|r| panic!("{c:?}: {r}"));
}

fn victim(k: u32) -> AccountId {
    AccountId(2 + 2 * k)
}

/// The million accounts, before any fall. `bids`: the market maker's bid levels.
fn prepared(bids: i64) -> Engine {
    let config = EngineConfig {
        max_open_orders_per_account: 1_024,
        max_accounts: 1 << 24,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(config);
    let native_off = Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(false),
    };
    ok(&mut e, native_off, 1);
    let mut p = MarketParams::btc_like("BTC-PERP", px(10_000));
    p.maintenance = Ppm::from_raw(30_000);
    p.size_premium = Ppm::from_raw(0);
    p.maker_fee = Ppm::from_raw(0);
    p.taker_fee = Ppm::from_raw(0);
    p.impact_notional_usd = usd(1_000_000_000_000);
    p.max_position_qty = Qty::from_lots(100_000_000);
    p.max_order_qty = Qty::from_lots(100_000_000);
    p.max_price = px(100_000);
    p.funding_interval_ms = 1_000;
    // Inputs never go stale within the benchmark (the longest staleness the engine takes).
    p.oracle_stale_ms = bulwark_engine::limits::MAX_DURATION_MS;
    p.waterfall = Waterfall {
        vault: false,
        insurance: false,
        adl: false,
        socialize: true,
    };
    ok(
        &mut e,
        Command::CreateMarket {
            params: Box::new(p),
        },
        1,
    );
    ok(
        &mut e,
        Command::Deposit {
            account: MM,
            amount_usd: usd(1_000_000_000),
        },
        1,
    );
    for k in 0..PAIRS {
        let seller = AccountId(1 + 2 * k);
        let buyer = AccountId(2 + 2 * k);
        let buyer_usd = if k < VICTIMS {
            60
        } else if k < VICTIMS + HIGH_LEVERAGE {
            115
        } else {
            400
        };
        let dep = |account, v| Command::Deposit {
            account,
            amount_usd: usd(v),
        };
        ok(&mut e, dep(seller, 400), 1);
        ok(&mut e, dep(buyer, buyer_usd), 1);
        ok(
            &mut e,
            order(seller, Side::Sell, OrderKind::Limit, 10_000, 100),
            1,
        );
        ok(
            &mut e,
            order(buyer, Side::Buy, OrderKind::Ioc, 10_000, 100),
            1,
        );
    }
    for level in 0..bids {
        ok(
            &mut e,
            order(MM, Side::Buy, OrderKind::Limit, 8_990 - 10 * level, 100_000),
            1,
        );
    }
    e
}

fn oracle(e: &mut Engine, price: Price, t: u64) {
    ok(e, Command::OraclePrice { market: M, price }, t);
}

fn set_socialize(e: &mut Engine, on: bool) {
    let wf = Waterfall {
        vault: false,
        insurance: false,
        adl: false,
        socialize: on,
    };
    ok(
        e,
        Command::SetParam {
            market: M,
            param: Param::Waterfall(wf),
        },
        3,
    );
}

/// Commands in a row on one engine that lives across criterion's samples (so a sample does
/// not start on cold caches), re-cloned from `base` (not timed) every `every` commands;
/// `cmd(k)` is the k-th command since the last clone.
struct InARow<'a> {
    base: &'a Engine,
    engine: Engine,
    k: u64,
    every: u64,
}

impl<'a> InARow<'a> {
    fn new(base: &'a Engine, every: u64) -> InARow<'a> {
        InARow {
            base,
            engine: base.clone(),
            k: 0,
            every,
        }
    }

    fn run(&mut self, iters: u64, cmd: impl Fn(u64) -> (Command, u64)) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            if self.k == self.every {
                self.engine = self.base.clone();
                self.k = 0;
            }
            let (c, t) = cmd(self.k);
            let start = Instant::now();
            let r = self.engine.apply(&c, TimestampMs(t)).map(|ev| ev.len());
            total += start.elapsed();
            r.unwrap_or_else(|r| panic!("{c:?}: {r}"));
            self.k += 1;
        }
        total
    }
}

fn bench_funding(c: &mut Criterion) {
    let base = prepared(0);
    // Mark = mean(oracle 9,999.98, EMA 10,000) = 9,999.99: a premium of 1 ppm.
    let mut few = base.clone();
    oracle(&mut few, Price::from_micros(9_999_980_000), 2);
    let mut many = base.clone();
    // Mark = mean(9,000, 10,000) = 9,500: 5.5% over the oracle, clamped at 10%.
    ok(
        &mut many,
        Command::SetParam {
            market: M,
            param: Param::FundingClamp(Ppm::from_raw(100_000)),
        },
        2,
    );
    oracle(&mut many, px(9_000), 2);
    // Ticks from t = 3,000 ms: boundaries every 1,000 ms. The crossings first: pools rechecked
    // because a step moved their triggers across the mark.
    let mut probe = few.clone();
    for k in 0..10_000 {
        ok(&mut probe, Command::Tick, 3_000 + 1_000 * k);
    }
    eprintln!(
        "funding/few: {} pools rechecked over 10,000 settlements",
        probe.index_step_rechecks()
    );
    let mut probe = many.clone();
    ok(&mut probe, Command::Tick, 3_000);
    eprintln!(
        "funding/many: {} pools rechecked by one settlement, {} flagged",
        probe.index_step_rechecks(),
        probe.flags().len()
    );
    let mut g = c.benchmark_group("funding_1m_accounts");
    g.sample_size(10);
    let mut row = InARow::new(&few, 10_000);
    g.bench_function("few", |b| {
        b.iter_custom(|iters| row.run(iters, |k| (Command::Tick, 3_000 + 1_000 * k)))
    });
    // Settle at the boundaries of 3,000 and 3,001 ms first; the next is at 4,001.
    let mut first = few.clone();
    ok(&mut first, Command::Tick, 3_000);
    ok(&mut first, Command::Tick, 3_001);
    let mut row = InARow::new(&first, 100_000);
    g.bench_function("tick_only", |b| {
        b.iter_custom(|iters| row.run(iters, |k| (Command::Tick, 3_002 + k / 100_000)))
    });
    bench_on_clone(&mut g, "many", &many, &Command::Tick, TimestampMs(3_000));
    g.finish();
}

/// After a 10% fall: the victims are bankrupt, waiting for a keeper.
fn crashed(mut e: Engine) -> Engine {
    oracle(&mut e, px(8_000), 2);
    assert_eq!(e.market(M).unwrap().mark, px(9_000));
    let h = e.health(victim(0), Scope::Cross).unwrap();
    assert!(h.equity_usd.is_negative());
    e
}

/// A whale long 20,000 BTC bought before the fall, and 10,000 shorts opened after it at 16x.
fn whale() -> Engine {
    let mut e = prepared(400);
    ok(
        &mut e,
        Command::Deposit {
            account: WHALE,
            amount_usd: usd(17_000_000),
        },
        1,
    );
    ok(
        &mut e,
        order(MM, Side::Sell, OrderKind::Limit, 10_000, 20_000_000),
        1,
    );
    ok(
        &mut e,
        order(WHALE, Side::Buy, OrderKind::Ioc, 10_000, 20_000_000),
        1,
    );
    let mut e = crashed(e);
    ok(
        &mut e,
        order(MM, Side::Buy, OrderKind::Limit, 9_000, 1_000_000),
        2,
    );
    for k in 0..NEAR_SHORTS {
        let a = AccountId(1_000_000 + k);
        let dep = Command::Deposit {
            account: a,
            amount_usd: usd(55),
        };
        ok(&mut e, dep, 2);
        ok(&mut e, order(a, Side::Sell, OrderKind::Ioc, 9_000, 100), 2);
    }
    e
}

fn bench_socialize(c: &mut Criterion) {
    let few = crashed(prepared(400));
    let mut few_uncovered = few.clone();
    set_socialize(&mut few_uncovered, false);
    let liquidate = |account| Command::Liquidate {
        keeper: MM,
        account,
        scope: Scope::Cross,
    };
    let mut probe = few.clone();
    for k in 0..VICTIMS {
        ok(&mut probe, liquidate(victim(k)), 3);
    }
    eprintln!(
        "socialize/few: {} pools rechecked over {VICTIMS} socializations",
        probe.index_step_rechecks()
    );
    let many = whale();
    let mut probe = many.clone();
    ok(&mut probe, liquidate(WHALE), 3);
    eprintln!(
        "socialize/many: {} pools rechecked by one socialization",
        probe.index_step_rechecks()
    );
    let mut g = c.benchmark_group("socialize_1m_accounts");
    g.sample_size(10);
    for (name, base) in [("few", &few), ("uncovered", &few_uncovered)] {
        let mut row = InARow::new(base, VICTIMS as u64);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| row.run(iters, |k| (liquidate(victim(k as u32)), 3)))
        });
    }
    let mut many_uncovered = many.clone();
    set_socialize(&mut many_uncovered, false);
    for (name, base) in [("many", &many), ("many_uncovered", &many_uncovered)] {
        bench_on_clone(&mut g, name, base, &liquidate(WHALE), TimestampMs(3));
    }
    g.finish();
}

/// Dynamic margin's step over the million positions: maintenance 3% -> 3.1% (the schedule
/// announced by a volatility report, the step due at the tick), every pool re-evaluated and
/// its triggers re-registered; the victims (bankrupt after a 10% fall) are not reached by so
/// small a step. A fresh clone per iteration (not timed).
fn bench_margin_step(c: &mut Criterion) {
    let mut e = prepared(0);
    let dm = DynamicMargin {
        enabled: true,
        floor: Ppm::from_raw(30_000),
        z: Ppm::from_raw(3_000_000),
        horizon_s: 3_600,
        max_change_per_hour: Ppm::from_raw(12_000),
        step_ms: 300_000,
        notice_ms: 0,
        override_maintenance: None,
    };
    ok(
        &mut e,
        Command::SetParam {
            market: M,
            param: Param::DynamicMargin(dm),
        },
        2,
    );
    // sigma 2% an hour: target 6%; a step of 1.2 points an hour x 5 min = 0.1 point.
    ok(
        &mut e,
        Command::Volatility {
            market: M,
            short: Ppm::from_raw(20_000),
            long: Ppm::from_raw(20_000),
        },
        2,
    );
    let mut probe = e.clone();
    ok(&mut probe, Command::Tick, 3);
    let m = probe.market(M).unwrap();
    assert_eq!(m.params.maintenance, Ppm::from_raw(31_000));
    eprintln!(
        "margin_step: maintenance {} -> {} ppm over {} positions, {} flagged",
        30_000,
        m.params.maintenance.raw(),
        2 * PAIRS,
        probe.flags().len()
    );
    let mut g = c.benchmark_group("margin_step_1m_positions");
    g.sample_size(10);
    bench_on_clone(&mut g, "step", &e, &Command::Tick, TimestampMs(3));
    g.finish();
}

criterion_group!(benches, bench_funding, bench_socialize, bench_margin_step);
criterion_main!(benches);
