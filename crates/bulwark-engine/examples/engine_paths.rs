//! The engine operations of `benches/engine.rs` (resting place, cancel, 5-level sweep, health
//! of a cross account with 10 positions) on the same warm book, for instruction counts under
//! callgrind: on a shared machine these are load-independent where criterion's times are not.
//! Each timed operation of the benchmark is one non-inlined function here, so callgrind can
//! count it alone:
//!
//! ```sh
//! cargo build --release -p bulwark-engine --example engine_paths
//! for op in place cancel sweep health; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect="engine_paths::timed_$op" target/release/examples/engine_paths 20
//! done
//! ```
//!
//! A second argument `defended` runs the same with every defence of the market on (as the
//! benchmark's `bulwark_engine_defended`): `target/release/examples/engine_paths 20 defended`.
//!
//! With 20 batches: 2,000 resting places, 2,000 cancels, 320 sweeps (40 batches of the 8
//! takers) and 2,000 health reads. The harness work (the untimed cancels and replenishing)
//! is outside the counted functions, as it is outside criterion's timed region. At d7d4cb1,
//! before `Qty`'s field was private, build it with `Qty(s.qty)` for `Qty::from_lots(s.qty)`.

use bulwark_engine::{
    AccountId, Command, Engine, EngineConfig, Event, MarginMode, MarketId, MarketParams, OrderId,
    OrderKind, PlaceOrder, Price, Qty, Scope, SelfTrade, Side, TimestampMs, Usd,
};
use std::hint::black_box;

#[path = "../benches/common/defended.rs"]
mod defended;

const TICK_MICROS: i64 = 100_000;
const MID_TICKS: i64 = 100_000;
const LEVELS_PER_SIDE: i64 = 375;
const BATCH: u64 = 100;
const SWEEP_LEVELS: i64 = 5;
const SWEEPS_PER_SIDE: i64 = 4;
const MAKERS: u32 = 4;
const TAKER: AccountId = AccountId(0);
const NOW: TimestampMs = TimestampMs(1);

/// One order of the workload: side, price in ticks, lots (as in `benches/engine.rs`).
#[derive(Clone, Copy, Debug)]
struct Seed {
    side: Side,
    ticks: i64,
    qty: i64,
}

impl Seed {
    fn price(&self) -> Price {
        Price::from_micros(self.ticks * TICK_MICROS)
    }
}

/// The benchmark's xorshift64* generator, with its seeds, so the orders are the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn level_ticks(side: Side, depth: i64) -> i64 {
    match side {
        Side::Buy => MID_TICKS - depth,
        Side::Sell => MID_TICKS + depth,
    }
}

/// The 1,000 warm orders in insertion order.
fn warm_seeds() -> Vec<Seed> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut v = Vec::with_capacity(1_000);
    for depth in 1..=LEVELS_PER_SIDE {
        for side in [Side::Buy, Side::Sell] {
            let qty = 1 + rng.below(20) as i64;
            v.push(Seed {
                side,
                ticks: level_ticks(side, depth),
                qty,
            });
        }
    }
    for depth in (1..=LEVELS_PER_SIDE).step_by(3) {
        for side in [Side::Buy, Side::Sell] {
            let qty = 1 + rng.below(20) as i64;
            v.push(Seed {
                side,
                ticks: level_ticks(side, depth),
                qty,
            });
        }
    }
    v
}

/// `BATCH` non-crossing orders at existing levels, alternating sides, random depths.
fn fresh_seeds(rng: &mut Rng) -> Vec<Seed> {
    (0..BATCH)
        .map(|i| {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            Seed {
                side,
                ticks: level_ticks(side, 1 + rng.below(LEVELS_PER_SIDE as u64) as i64),
                qty: 1 + rng.below(20) as i64,
            }
        })
        .collect()
}

/// One sweep: the taker side, its limit and quantity, and the seeds it consumes.
struct Sweep {
    side: Side,
    limit_ticks: i64,
    qty: i64,
    consumed: Vec<Seed>,
}

/// The 8 sweeps of one batch (buy, sell, buy, ...), computed from the warm book.
fn sweeps(warm: &[Seed]) -> Vec<Sweep> {
    let mut out = Vec::new();
    for round in 0..SWEEPS_PER_SIDE {
        for taker in [Side::Buy, Side::Sell] {
            let maker = taker.opposite();
            let depths = round * SWEEP_LEVELS + 1..=round * SWEEP_LEVELS + SWEEP_LEVELS;
            let consumed: Vec<Seed> = warm
                .iter()
                .filter(|s| s.side == maker && depths.contains(&(s.ticks - MID_TICKS).abs()))
                .copied()
                .collect();
            out.push(Sweep {
                side: taker,
                limit_ticks: level_ticks(maker, *depths.end()),
                qty: consumed.iter().map(|s| s.qty).sum(),
                consumed,
            });
        }
    }
    out
}

fn limit(account: AccountId, s: &Seed, kind: OrderKind) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: MarketId(0),
        side: s.side,
        kind,
        price: Some(s.price()),
        qty: Qty::from_lots(s.qty),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

fn config() -> EngineConfig {
    EngineConfig {
        max_open_orders_per_account: 1_024,
        ..EngineConfig::default()
    }
}

fn rested_id(events: &[Event]) -> Option<OrderId> {
    events.iter().find_map(|e| match e {
        Event::OrderRested { order, .. } => Some(*order),
        _ => None,
    })
}

/// The benchmark's warm engine: four makers own the 1,000 resting orders.
struct Venue {
    engine: Engine,
    live: Vec<(AccountId, OrderId)>,
    next_maker: u32,
}

impl Venue {
    fn warm() -> Venue {
        let mut engine = Engine::new(config());
        let mut params =
            MarketParams::btc_like("BTC-PERP", Price::from_micros(MID_TICKS * TICK_MICROS));
        let defences_on = std::env::args().nth(2).as_deref() == Some("defended");
        if defences_on {
            defended::defended(&mut params);
        }
        ok(
            &mut engine,
            &Command::CreateMarket {
                params: Box::new(params),
            },
        );
        if defences_on {
            let mid = Price::from_micros(MID_TICKS * TICK_MICROS);
            for cmd in defended::defence_inputs(mid, NOW) {
                ok(&mut engine, &cmd);
            }
        }
        for a in 0..=MAKERS {
            let amount_usd = Usd::from_micros(1_000_000_000 * 1_000_000);
            let account = AccountId(a);
            ok(
                &mut engine,
                &Command::Deposit {
                    account,
                    amount_usd,
                },
            );
        }
        let mut v = Venue {
            engine,
            live: Vec::with_capacity(2_000),
            next_maker: 0,
        };
        for s in warm_seeds() {
            v.rest(&s);
        }
        v
    }

    fn maker(&mut self) -> AccountId {
        self.next_maker = (self.next_maker + 1) % MAKERS;
        AccountId(1 + self.next_maker)
    }

    fn rest(&mut self, s: &Seed) {
        let account = self.maker();
        let ev = ok(&mut self.engine, &limit(account, s, OrderKind::Limit));
        let id = rested_id(ev).unwrap_or_else(|| panic!("{s:?} did not rest"));
        self.live.push((account, id));
    }
}

fn ok<'a>(e: &'a mut Engine, c: &Command) -> &'a [Event] {
    e.apply(c, NOW).unwrap_or_else(|r| panic!("{c:?}: {r}"))
}

#[inline(never)]
fn timed_place(e: &mut Engine, cmds: &[Command], ids: &mut Vec<Option<OrderId>>) {
    for cmd in cmds {
        let ev = ok(e, black_box(cmd));
        ids.push(rested_id(ev));
    }
}

#[inline(never)]
fn timed_cancel(e: &mut Engine, cmds: &[Command]) {
    for cmd in cmds {
        black_box(ok(e, black_box(cmd)).len());
    }
}

/// Returns the events (so the compiler cannot fold it into `timed_cancel`).
#[inline(never)]
fn timed_sweep(e: &mut Engine, takers: &[Command]) -> usize {
    let mut events = 0;
    for cmd in takers {
        events += black_box(ok(e, black_box(cmd)).len());
    }
    events
}

#[inline(never)]
fn timed_health(e: &Engine, n: usize) {
    for _ in 0..n {
        black_box(e.health(black_box(TAKER), black_box(Scope::Cross)).ok());
    }
}

fn place(batches: usize) {
    let mut v = Venue::warm();
    let mut rng = Rng(1);
    let mut ids = Vec::with_capacity(BATCH as usize);
    for _ in 0..batches {
        let (accounts, cmds): (Vec<AccountId>, Vec<Command>) = fresh_seeds(&mut rng)
            .iter()
            .map(|s| {
                let a = v.maker();
                (a, limit(a, s, OrderKind::Limit))
            })
            .unzip();
        ids.clear();
        timed_place(&mut v.engine, &cmds, &mut ids);
        for (account, id) in accounts.into_iter().zip(ids.drain(..)) {
            let order = id.expect("a non-crossing limit order rests");
            let market = MarketId(0);
            ok(
                &mut v.engine,
                &Command::Cancel {
                    account,
                    market,
                    order,
                },
            );
        }
    }
}

fn cancel(batches: usize) {
    let mut v = Venue::warm();
    let mut rng = Rng(2);
    for _ in 0..batches {
        for s in fresh_seeds(&mut rng) {
            v.rest(&s);
        }
        let cmds: Vec<Command> = (0..BATCH)
            .map(|_| {
                let i = rng.below(v.live.len() as u64) as usize;
                let (account, order) = v.live.swap_remove(i);
                Command::Cancel {
                    account,
                    market: MarketId(0),
                    order,
                }
            })
            .collect();
        timed_cancel(&mut v.engine, &cmds);
    }
}

fn sweep(batches: usize) {
    let plan = sweeps(&warm_seeds());
    let mut v = Venue::warm();
    let takers: Vec<Command> = plan
        .iter()
        .map(|sw| {
            let s = Seed {
                side: sw.side,
                ticks: sw.limit_ticks,
                qty: sw.qty,
            };
            limit(TAKER, &s, OrderKind::Ioc)
        })
        .collect();
    for _ in 0..2 * batches {
        black_box(timed_sweep(&mut v.engine, &takers));
        for sw in &plan {
            for s in &sw.consumed {
                v.rest(s);
            }
        }
    }
}

/// The trader holds one position in each of 10 markets, bought from a counterparty.
fn health(batches: usize) {
    let mut e = Engine::new(config());
    let (trader, counterparty) = (TAKER, AccountId(1));
    for account in [trader, counterparty] {
        let amount_usd = Usd::from_micros(10_000_000 * 1_000_000);
        ok(
            &mut e,
            &Command::Deposit {
                account,
                amount_usd,
            },
        );
    }
    for m in 0..10u16 {
        let px = 1_000 * (m as i64 + 1);
        let params =
            MarketParams::btc_like(&format!("M{m}-PERP"), Price::from_micros(px * 1_000_000));
        ok(
            &mut e,
            &Command::CreateMarket {
                params: Box::new(params),
            },
        );
        let seed = Seed {
            side: Side::Sell,
            ticks: px * 1_000_000 / TICK_MICROS,
            qty: 100 + m as i64,
        };
        let buy = Seed {
            side: Side::Buy,
            ..seed
        };
        for mut cmd in [
            limit(counterparty, &seed, OrderKind::Limit),
            limit(trader, &buy, OrderKind::Ioc),
        ] {
            if let Command::PlaceOrder(o) = &mut cmd {
                o.market = MarketId(m);
            }
            ok(&mut e, &cmd);
        }
    }
    timed_health(&e, batches * BATCH as usize);
}

fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    place(batches);
    cancel(batches);
    sweep(batches);
    health(batches);
    println!("{batches} batches");
}
