//! Ranked ADL against a million opposite positions.
//!
//! Run: `cargo bench -p bulwark-engine --bench adl`.
//!
//! Workload: 1,000,000 short accounts of 0.1 BTC each (1,000 USD at 10,000), entered at 10,000
//! against one large long (which cancels its rest), with collateral spread from 200 to 1,199 USD
//! so that their scores differ; one more short of 64 BTC sold to 64 thin longs of 1 BTC each
//! (700 + k USD). Maintenance 3%; the vault stage is off and the insurance fund is empty. The
//! mark is the mean of the oracle and the trade EMA (no impact mid), so an oracle of 8,000 moves
//! it from 10,000 to 9,000: the thin longs are bankrupt (equity -300 + k), the book holds no
//! bid, and each goes straight to ADL against the 1,000,001 shorts (the best ten shorts cover
//! one bankruptcy).
//!
//! - `detect`: the oracle update with native liquidation off (the baseline: mark, recheck
//!   index, flags).
//! - `one_bankruptcy`: the same update, native liquidation capped at one pool per command:
//!   detection plus the command's first ADL, that is one scan of every account and the ranking
//!   (minus `detect`: the cost of the scan).
//! - `two_bankruptcies`, `64_bankruptcies`: capped at two pools, and not capped: every later
//!   bankruptcy in the same command re-scores the accounts the earlier ones changed (its ten
//!   counterparties and the bankrupt) and takes the new top. (64 - one) / 63 is the cost of
//!   one more bankruptcy on the re-score path, liquidation included.
//!
//! - `base_made`, `base_kept`: one pool per command. The crash (thin long 0 deleveraged by
//!   the side's first, plain scan) already applied; then a `Tick` (the mark stays at 9,000)
//!   deleverages thin long 1, whose scan makes the side's base of candidates
//!   (`engine/adl/base.rs`): `base_made`. With that `Tick` applied too, the next `Tick`'s scan
//!   (thin long 2) reads the kept base and re-reads only the accounts changed since:
//!   `base_kept`. Against `one_bankruptcy`: what making a base costs, and what keeping it
//!   saves.
//!
//! Each iteration runs on a fresh clone of the prepared engine (the clone is not timed).

use bulwark_engine::{
    AccountId, Command, Engine, EngineConfig, Event, MarketId, MarketParams, OrderKind, Ppm, Qty,
    Side, TimestampMs, VenueParam,
};
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};

const SHORTS: u32 = 1_000_000;
const LONG: AccountId = AccountId(0);
const SELLER: AccountId = AccountId(1);
/// Thin longs: account 2 + k holds 1 BTC on 700 + k USD.
const THIN: u32 = 64;
const FIRST_SHORT: u32 = 2 + THIN;

fn thin(k: u32) -> AccountId {
    AccountId(2 + k)
}

/// An order at the starting price, 10,000.
fn at_start(account: AccountId, side: Side, kind: OrderKind, qty: i64) -> Command {
    common::order(account, side, kind, 10_000, qty)
}

fn prepared() -> Engine {
    let mut e = Engine::new(EngineConfig::default());
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
    let mut p = MarketParams::btc_like("BTC-PERP", px(10_000));
    p.maintenance = Ppm::from_raw(30_000);
    p.size_premium = Ppm::from_raw(0);
    p.maker_fee = Ppm::from_raw(0);
    p.taker_fee = Ppm::from_raw(0);
    p.impact_notional_usd = usd(1_000_000_000_000);
    p.max_position_qty = Qty::from_lots(200_000_000);
    p.max_order_qty = Qty::from_lots(200_000_000);
    p.max_price = px(100_000);
    p.waterfall.vault = false;
    ok(
        &mut e,
        Command::CreateMarket {
            params: Box::new(p),
        },
    );
    ok(
        &mut e,
        Command::Deposit {
            account: LONG,
            amount_usd: usd(200_000_000),
        },
    );
    ok(
        &mut e,
        at_start(LONG, Side::Buy, OrderKind::Limit, 100 * SHORTS as i64),
    );
    for k in 0..SHORTS {
        let short = AccountId(FIRST_SHORT + k);
        let collateral = 200 + (k as i64 * 7_919) % 1_000;
        ok(
            &mut e,
            Command::Deposit {
                account: short,
                amount_usd: usd(collateral),
            },
        );
        ok(&mut e, at_start(short, Side::Sell, OrderKind::Ioc, 100));
    }
    ok(
        &mut e,
        Command::CancelAll {
            account: LONG,
            market: None,
        },
    );
    ok(
        &mut e,
        Command::Deposit {
            account: SELLER,
            amount_usd: usd(1_000_000),
        },
    );
    ok(
        &mut e,
        at_start(SELLER, Side::Sell, OrderKind::Limit, 1_000 * THIN as i64),
    );
    for k in 0..THIN {
        ok(
            &mut e,
            Command::Deposit {
                account: thin(k),
                amount_usd: usd(700 + k as i64),
            },
        );
        ok(&mut e, at_start(thin(k), Side::Buy, OrderKind::Ioc, 1_000));
    }
    e
}

fn with(base: &Engine, native: bool, per_step: u32) -> Engine {
    let mut e = base.clone();
    let t = TimestampMs(1);
    for param in [
        VenueParam::MaxLiquidationsPerStep(per_step),
        VenueParam::NativeLiquidation(native),
    ] {
        e.apply(&Command::SetVenueParam { param }, t).unwrap();
    }
    e
}

/// The bankrupt accounts deleveraged by one command, in order, and the number of closes.
fn adl_of(events: &[Event]) -> (Vec<AccountId>, usize) {
    let mut bankrupts = Vec::new();
    let mut closes = 0;
    for ev in events {
        if let Event::Deleveraged { bankrupt, .. } = ev {
            closes += 1;
            if bankrupts.last() != Some(bankrupt) {
                bankrupts.push(*bankrupt);
            }
        }
    }
    (bankrupts, closes)
}

fn bench(c: &mut Criterion) {
    let base = prepared();
    let t = TimestampMs(2);
    let crash = Command::OraclePrice {
        market: MarketId(0),
        price: px(8_000),
    };
    let mut after_crash = with(&base, true, 1);
    after_crash.apply(&crash, t).unwrap();
    let tick = Command::Tick;
    let mut after_tick = after_crash.clone();
    after_tick.apply(&tick, TimestampMs(3)).unwrap();
    let cases = [
        ("detect", with(&base, false, 1), &crash, t, vec![]),
        (
            "one_bankruptcy",
            with(&base, true, 1),
            &crash,
            t,
            vec![thin(0)],
        ),
        (
            "two_bankruptcies",
            with(&base, true, 2),
            &crash,
            t,
            vec![thin(0), thin(1)],
        ),
        (
            "64_bankruptcies",
            with(&base, true, 256),
            &crash,
            t,
            (0..THIN).map(thin).collect(),
        ),
        (
            "base_made",
            after_crash,
            &tick,
            TimestampMs(3),
            vec![thin(1)],
        ),
        (
            "base_kept",
            after_tick,
            &tick,
            TimestampMs(4),
            vec![thin(2)],
        ),
    ];
    // Check the workload once: the mark, and who is deleveraged.
    for (name, e, cmd, at, want) in &cases {
        let mut probe = e.clone();
        let events = probe.apply(cmd, *at).unwrap().to_vec();
        assert_eq!(probe.market(MarketId(0)).unwrap().mark, px(9_000));
        let (bankrupts, closes) = adl_of(&events);
        eprintln!("{name}: deleveraged {bankrupts:?} in {closes} closes");
        assert_eq!(&bankrupts, want);
    }
    let mut g = c.benchmark_group("adl_1m_candidates");
    g.sample_size(10);
    for (name, e, cmd, at, _) in &cases {
        bench_on_clone(&mut g, name, e, cmd, *at);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
