//! Order book and engine benchmarks, with the `lobster` crate as the peer.
//!
//! Run: `cargo bench -p bulwark-engine --bench engine` (add
//! `-- --warm-up-time 1 --measurement-time 3` for a quicker run).
//!
//! Workload (identical for every implementation): a warm book of 1,000 resting orders over 750
//! price levels, 375 per side on consecutive ticks around a mid of 10,000 USD (tick 0.1 USD);
//! every level holds one order and every third level from the touch holds a second one;
//! quantities are 1..=20 lots. Three implementations run it:
//!
//! - `bulwark_book`: the bare `Book` (no accounts, no margin). A "place" is a real limit
//!   order, `sweep` (which returns at once when nothing crosses) then `insert_new`, so that it
//!   does the same work as lobster's `Limit`;
//! - `bulwark_engine`: `Engine::apply` with full pre-trade margin checks, position and fee
//!   bookkeeping, health flags and events (release build: no invariant checks). Four maker
//!   accounts own the resting orders; the engine's per-account order limit is raised to 1,024
//!   so that the temporary orders of the place benchmark fit;
//! - `bulwark_engine_defended`: the same with every defence of the market on (oracle guard,
//!   price band, halt and divergence breakers, dynamic margin with a schedule running, the
//!   adaptive fee in force, an open-interest cap): what the defences cost the hot path;
//! - `lobster`: `lobster::OrderBook::execute` (no margin).
//!
//! Method: every benchmark uses `iter_custom`, timing only the operation under test, in
//! batches so that the clock is read twice per batch, not per operation; the work that keeps
//! the book warm runs outside the timed region:
//!
//! - `place`: time 100 non-crossing limit orders at existing levels (spread over both sides
//!   and all depths), then, untimed, cancel them; the book goes 1,000 -> 1,100 -> 1,000;
//! - `cancel`: untimed, place 100 fresh orders at existing levels; then time the cancel of 100
//!   orders picked at random from all resting ones (warm and fresh alike), so cancels hit every
//!   depth and queue position;
//! - `sweep5`: time 8 takers, alternately buy and sell, each with the exact quantity of the
//!   best 5 levels on its opposite side and the 5th level's price as its limit (the 4 sweeps
//!   per side take levels 1-5, 6-10, 11-15 and 16-20); then, untimed, restore the 40 swept
//!   levels. The engine's taker is an IOC order; lobster's a `Limit` that fills completely.
//!   Lobster never frees the arena entries of filled orders, so, untimed, the harness cancels
//!   the filled ids to keep its arena from growing without bound;
//! - `margin`: `Engine::health(account, Scope::Cross)` for an account with one position in
//!   each of 10 markets;
//! - `requote10` (engine only): a market maker with 10 orders resting near the touch (5 a
//!   side, one tick apart, outside the warm book's first 2 levels) requotes: the cancel of
//!   all 10 and a new ladder of 10 one tick away (the ladders alternate), as one
//!   `Command::Requote` (`requote`) and as the 11 commands it stands for (`commands`).
//!
//! Each benchmark reports the time of one operation (`iters` operations per sample).

use bulwark_engine::book::{BookFill, NewOrder};
use bulwark_engine::{
    AccountId, Book, Command, Engine, EngineConfig, MarginMode, MarketId, MarketParams, OrderId,
    OrderKind, PlaceOrder, Price, Qty, QuoteOrder, Requote, Scope, SelfTrade, Side, TimestampMs,
    Usd,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

const TICK_MICROS: i64 = 100_000;
const MID_TICKS: i64 = 100_000;
const LEVELS_PER_SIDE: i64 = 375;
const BATCH: u64 = 100;
const SWEEP_LEVELS: i64 = 5;
const SWEEPS_PER_SIDE: i64 = 4;
const MAKERS: u32 = 4;
const TAKER: AccountId = AccountId(0);
const NOW: TimestampMs = TimestampMs(1);

/// One order of the workload: side, price in ticks, lots.
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

/// A tiny deterministic generator (xorshift64*), so the benchmark needs no extra crate.
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
            v.push(Seed {
                side,
                ticks: level_ticks(side, depth),
                qty: 1 + rng.below(20) as i64,
            });
        }
    }
    for depth in (1..=LEVELS_PER_SIDE).step_by(3) {
        for side in [Side::Buy, Side::Sell] {
            v.push(Seed {
                side,
                ticks: level_ticks(side, depth),
                qty: 1 + rng.below(20) as i64,
            });
        }
    }
    assert_eq!(v.len(), 1_000);
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

// ----- bare book -----------------------------------------------------------------------------

struct BareBook {
    book: Book,
    seq: u64,
    fills: Vec<BookFill>,
    /// Resting ids (order irrelevant), for random cancels.
    live: Vec<OrderId>,
}

impl BareBook {
    fn warm() -> BareBook {
        let mut b = BareBook {
            book: Book::new(),
            seq: 1,
            fills: Vec::with_capacity(64),
            live: Vec::with_capacity(2_000),
        };
        for s in warm_seeds() {
            let id = b.place(&s).expect("warm orders rest");
            b.live.push(id);
        }
        b
    }

    /// A limit order: match what crosses, rest the rest.
    #[inline]
    fn place(&mut self, s: &Seed) -> Option<OrderId> {
        self.fills.clear();
        let left = self
            .book
            .sweep(s.side, s.price(), Qty::from_lots(s.qty), &mut self.fills);
        self.seq += 1;
        left.is_positive().then(|| {
            self.book.insert_new(
                self.seq,
                NewOrder {
                    account: AccountId(1),
                    side: s.side,
                    price: s.price(),
                    qty: left,
                    reduce_only: false,
                },
            )
        })
    }
}

// ----- engine --------------------------------------------------------------------------------

struct EngineBook {
    engine: Engine,
    /// Resting (account, id), for random cancels.
    live: Vec<(AccountId, OrderId)>,
    next_maker: u32,
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

fn engine_config() -> EngineConfig {
    EngineConfig {
        max_open_orders_per_account: 1_024,
        ..EngineConfig::default()
    }
}

fn rested_id(events: &[bulwark_engine::Event]) -> Option<OrderId> {
    events.iter().find_map(|e| match e {
        bulwark_engine::Event::OrderRested { order, .. } => Some(*order),
        _ => None,
    })
}

/// The engine benchmarks run twice: defences off, and every defence on (none tripping).
const ENGINE_VARIANTS: [(&str, bool); 2] =
    [("bulwark_engine", false), ("bulwark_engine_defended", true)];

#[path = "common/defended.rs"]
mod defended;
use defended::{defence_inputs, defended};

impl EngineBook {
    fn warm_with(defences_on: bool) -> EngineBook {
        let mut engine = Engine::new(engine_config());
        let mut params =
            MarketParams::btc_like("BTC-PERP", Price::from_micros(MID_TICKS * TICK_MICROS));
        if defences_on {
            defended(&mut params);
        }
        engine
            .apply(
                &Command::CreateMarket {
                    params: Box::new(params),
                },
                NOW,
            )
            .unwrap();
        if defences_on {
            for cmd in defence_inputs(Price::from_micros(MID_TICKS * TICK_MICROS), NOW) {
                engine.apply(&cmd, NOW).unwrap();
            }
            let m = &engine.markets()[0];
            assert!(m.defence.margin_schedule.is_some() && m.defence.taker_fee_in_force.is_some());
        }
        for a in 0..=MAKERS {
            engine
                .apply(
                    &Command::Deposit {
                        account: AccountId(a),
                        amount_usd: Usd::from_micros(1_000_000_000 * 1_000_000),
                    },
                    NOW,
                )
                .unwrap();
        }
        let mut b = EngineBook {
            engine,
            live: Vec::with_capacity(2_000),
            next_maker: 0,
        };
        for s in warm_seeds() {
            b.rest(&s);
        }
        b
    }

    fn maker(&mut self) -> AccountId {
        self.next_maker = (self.next_maker + 1) % MAKERS;
        AccountId(1 + self.next_maker)
    }

    /// Rest one order from the next maker (untimed helper).
    fn rest(&mut self, s: &Seed) -> OrderId {
        let account = self.maker();
        let ev = self
            .engine
            .apply(&limit(account, s, OrderKind::Limit), NOW)
            .expect("maker order accepted");
        let id = rested_id(ev).expect("maker order rests");
        self.live.push((account, id));
        id
    }
}

// ----- benchmarks ----------------------------------------------------------------------------

fn bench_place(c: &mut Criterion) {
    let mut g = c.benchmark_group("place");
    g.bench_function("bulwark_book", |b| {
        let mut bb = BareBook::warm();
        let mut rng = Rng(1);
        let mut ids = Vec::with_capacity(BATCH as usize);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(BATCH) {
                let seeds = fresh_seeds(&mut rng);
                ids.clear();
                let t = Instant::now();
                for s in &seeds {
                    ids.push(bb.place(black_box(s)));
                }
                total += t.elapsed();
                for id in ids.drain(..).flatten() {
                    bb.book.remove(id).expect("placed order rests");
                }
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(BATCH) * BATCH) as f64)
        });
        assert_eq!(bb.book.len(), 1_000);
    });
    for (name, defended) in ENGINE_VARIANTS {
        g.bench_function(name, |b| {
            let mut eb = EngineBook::warm_with(defended);
            let mut rng = Rng(1);
            let mut ids = Vec::with_capacity(BATCH as usize);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters.div_ceil(BATCH) {
                    let cmds: Vec<(AccountId, Command)> = fresh_seeds(&mut rng)
                        .iter()
                        .map(|s| {
                            let a = eb.maker();
                            (a, limit(a, s, OrderKind::Limit))
                        })
                        .collect();
                    ids.clear();
                    let t = Instant::now();
                    for (a, cmd) in &cmds {
                        let ev = eb.engine.apply(black_box(cmd), NOW).expect("accepted");
                        ids.push((*a, rested_id(ev)));
                    }
                    total += t.elapsed();
                    for (account, id) in ids.drain(..) {
                        let order = id.expect("rests");
                        eb.engine
                            .apply(
                                &Command::Cancel {
                                    account,
                                    market: MarketId(0),
                                    order,
                                },
                                NOW,
                            )
                            .expect("cancel accepted");
                    }
                }
                total.mul_f64(iters as f64 / (iters.div_ceil(BATCH) * BATCH) as f64)
            });
            assert_eq!(eb.engine.markets()[0].book.len(), 1_000);
        });
    }
    g.bench_function("lobster", |b| {
        let (mut ob, _) = lobster_warm();
        let mut next_id: u128 = 1_000_000;
        let mut rng = Rng(1);
        let mut ids = Vec::with_capacity(BATCH as usize);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(BATCH) {
                let seeds = fresh_seeds(&mut rng);
                ids.clear();
                let t = Instant::now();
                for s in &seeds {
                    next_id += 1;
                    let ev = ob.execute(black_box(lobster_limit(next_id, s)));
                    ids.push(next_id);
                    black_box(ev);
                }
                total += t.elapsed();
                for id in ids.drain(..) {
                    ob.execute(lobster::OrderType::Cancel { id });
                }
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(BATCH) * BATCH) as f64)
        });
    });
    g.finish();
}

fn bench_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel");
    g.bench_function("bulwark_book", |b| {
        let mut bb = BareBook::warm();
        let mut rng = Rng(2);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(BATCH) {
                for s in fresh_seeds(&mut rng) {
                    let id = bb.place(&s).expect("rests");
                    bb.live.push(id);
                }
                let victims: Vec<OrderId> = (0..BATCH)
                    .map(|_| {
                        let i = rng.below(bb.live.len() as u64) as usize;
                        bb.live.swap_remove(i)
                    })
                    .collect();
                let t = Instant::now();
                for id in &victims {
                    black_box(bb.book.remove(black_box(*id)));
                }
                total += t.elapsed();
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(BATCH) * BATCH) as f64)
        });
        assert_eq!(bb.book.len(), 1_000);
    });
    for (name, defended) in ENGINE_VARIANTS {
        g.bench_function(name, |b| {
            let mut eb = EngineBook::warm_with(defended);
            let mut rng = Rng(2);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters.div_ceil(BATCH) {
                    for s in fresh_seeds(&mut rng) {
                        eb.rest(&s);
                    }
                    let cmds: Vec<Command> = (0..BATCH)
                        .map(|_| {
                            let i = rng.below(eb.live.len() as u64) as usize;
                            let (account, order) = eb.live.swap_remove(i);
                            Command::Cancel {
                                account,
                                market: MarketId(0),
                                order,
                            }
                        })
                        .collect();
                    let t = Instant::now();
                    for cmd in &cmds {
                        let ev = eb.engine.apply(black_box(cmd), NOW).expect("accepted");
                        black_box(ev.len());
                    }
                    total += t.elapsed();
                }
                total.mul_f64(iters as f64 / (iters.div_ceil(BATCH) * BATCH) as f64)
            });
            assert_eq!(eb.engine.markets()[0].book.len(), 1_000);
        });
    }
    g.bench_function("lobster", |b| {
        let (mut ob, mut live) = lobster_warm();
        let mut next_id: u128 = 1_000_000;
        let mut rng = Rng(2);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(BATCH) {
                for s in fresh_seeds(&mut rng) {
                    next_id += 1;
                    ob.execute(lobster_limit(next_id, &s));
                    live.push(next_id);
                }
                let victims: Vec<u128> = (0..BATCH)
                    .map(|_| {
                        let i = rng.below(live.len() as u64) as usize;
                        live.swap_remove(i)
                    })
                    .collect();
                let t = Instant::now();
                for &id in &victims {
                    black_box(ob.execute(lobster::OrderType::Cancel { id: black_box(id) }));
                }
                total += t.elapsed();
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(BATCH) * BATCH) as f64)
        });
    });
    g.finish();
}

fn bench_sweep(c: &mut Criterion) {
    let warm = warm_seeds();
    let plan = sweeps(&warm);
    let per_batch = plan.len() as u64;
    let mut g = c.benchmark_group("sweep5");
    g.bench_function("bulwark_book", |b| {
        let mut bb = BareBook::warm();
        let mut fills = Vec::with_capacity(64);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(per_batch) {
                let t = Instant::now();
                for sw in &plan {
                    fills.clear();
                    let left = bb.book.sweep(
                        sw.side,
                        Price::from_micros(sw.limit_ticks * TICK_MICROS),
                        Qty::from_lots(sw.qty),
                        &mut fills,
                    );
                    black_box((left, fills.len()));
                }
                total += t.elapsed();
                for sw in &plan {
                    for s in &sw.consumed {
                        bb.place(s).expect("replenished order rests");
                    }
                }
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(per_batch) * per_batch) as f64)
        });
        assert_eq!(bb.book.len(), 1_000);
    });
    for (name, defended) in ENGINE_VARIANTS {
        g.bench_function(name, |b| {
            let mut eb = EngineBook::warm_with(defended);
            let takers: Vec<Command> = plan
                .iter()
                .map(|sw| {
                    limit(
                        TAKER,
                        &Seed {
                            side: sw.side,
                            ticks: sw.limit_ticks,
                            qty: sw.qty,
                        },
                        OrderKind::Ioc,
                    )
                })
                .collect();
            let expected_fills: Vec<usize> = plan.iter().map(|sw| sw.consumed.len()).collect();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters.div_ceil(per_batch) {
                    let t = Instant::now();
                    for (cmd, &n) in takers.iter().zip(&expected_fills) {
                        let ev = eb.engine.apply(black_box(cmd), NOW).expect("accepted");
                        // OrderAccepted + one Fill per maker order (+ possible flag events).
                        debug_assert!(ev.len() > n);
                        black_box(ev.len());
                    }
                    total += t.elapsed();
                    for sw in &plan {
                        for s in &sw.consumed {
                            eb.rest(s);
                        }
                    }
                }
                total.mul_f64(iters as f64 / (iters.div_ceil(per_batch) * per_batch) as f64)
            });
            assert_eq!(eb.engine.markets()[0].book.len(), 1_000);
        });
    }
    g.bench_function("lobster", |b| {
        let (mut ob, _) = lobster_warm();
        let mut next_id: u128 = 1_000_000;
        let mut filled: Vec<u128> = Vec::with_capacity(128);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(per_batch) {
                filled.clear();
                let t = Instant::now();
                for sw in &plan {
                    next_id += 1;
                    let ev = ob.execute(black_box(lobster::OrderType::Limit {
                        id: next_id,
                        side: lobster_side(sw.side),
                        qty: sw.qty as u64,
                        price: sw.limit_ticks as u64,
                    }));
                    if let lobster::OrderEvent::Filled { fills, .. } = &ev {
                        filled.extend(fills.iter().map(|f| f.order_2));
                    }
                    black_box(ev);
                }
                total += t.elapsed();
                // Lobster keeps filled orders in its arena; free them, then replenish.
                for &id in &filled {
                    ob.execute(lobster::OrderType::Cancel { id });
                }
                for sw in &plan {
                    for s in &sw.consumed {
                        next_id += 1;
                        ob.execute(lobster_limit(next_id, s));
                    }
                }
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(per_batch) * per_batch) as f64)
        });
        assert_eq!(
            filled.len(),
            plan.iter().map(|s| s.consumed.len()).sum::<usize>()
        );
    });
    g.finish();
}

fn bench_margin(c: &mut Criterion) {
    let mut engine = Engine::new(engine_config());
    let (trader, counterparty) = (AccountId(0), AccountId(1));
    for a in [trader, counterparty] {
        engine
            .apply(
                &Command::Deposit {
                    account: a,
                    amount_usd: Usd::from_micros(10_000_000 * 1_000_000),
                },
                NOW,
            )
            .unwrap();
    }
    for m in 0..10u16 {
        let px = 1_000 * (m as i64 + 1);
        let params =
            MarketParams::btc_like(&format!("M{m}-PERP"), Price::from_micros(px * 1_000_000));
        engine
            .apply(
                &Command::CreateMarket {
                    params: Box::new(params),
                },
                NOW,
            )
            .unwrap();
        let seed = Seed {
            side: Side::Sell,
            ticks: px * 1_000_000 / TICK_MICROS,
            qty: 100 + m as i64,
        };
        let mut maker = limit(counterparty, &seed, OrderKind::Limit);
        let mut taker = limit(
            trader,
            &Seed {
                side: Side::Buy,
                ..seed
            },
            OrderKind::Ioc,
        );
        for cmd in [&mut maker, &mut taker] {
            if let Command::PlaceOrder(o) = cmd {
                o.market = MarketId(m);
            }
        }
        engine.apply(&maker, NOW).unwrap();
        engine.apply(&taker, NOW).unwrap();
    }
    let positions = engine.account(trader).unwrap().positions.len();
    assert_eq!(positions, 10);
    let mut g = c.benchmark_group("margin");
    g.bench_function("bulwark_engine_health_10_positions", |b| {
        b.iter(|| engine.health(black_box(trader), black_box(Scope::Cross)))
    });
    g.finish();
}

// ----- lobster helpers -----------------------------------------------------------------------

/// The requoting maker's ladder `n` (0 or 1): 5 bids and 5 asks one tick apart, starting
/// `3 + n` ticks from the mid, so that consecutive ladders differ in every price.
fn requote_ladder(n: i64) -> Requote {
    let orders = (0..5)
        .flat_map(|k| [Side::Buy, Side::Sell].map(|side| (side, level_ticks(side, 3 + n + k))))
        .map(|(side, ticks)| QuoteOrder {
            side,
            kind: OrderKind::Limit,
            price: Some(Price::from_micros(ticks * TICK_MICROS)),
            qty: Qty::from_lots(10),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
        .collect();
    Requote {
        account: AccountId(MAKERS + 1),
        market: MarketId(0),
        orders,
    }
}

fn bench_requote(c: &mut Criterion) {
    let mut g = c.benchmark_group("requote10");
    for (name, whole) in [("requote", true), ("commands", false)] {
        g.bench_function(name, |b| {
            let mut eb = EngineBook::warm_with(false);
            let maker = Command::Deposit {
                account: AccountId(MAKERS + 1),
                amount_usd: Usd::from_micros(1_000_000_000 * 1_000_000),
            };
            eb.engine.apply(&maker, NOW).unwrap();
            let ladders = [requote_ladder(0), requote_ladder(1)].map(|r| {
                let commands: Vec<Command> = r.commands().collect();
                (Command::Requote(r), commands)
            });
            let mut n = 0;
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    n ^= 1;
                    let (requote, commands) = &ladders[n];
                    if whole {
                        black_box(eb.engine.apply(black_box(requote), NOW).expect("accepted"));
                    } else {
                        for cmd in commands {
                            black_box(eb.engine.apply(black_box(cmd), NOW).expect("accepted"));
                        }
                    }
                }
                t.elapsed()
            });
            let resting = eb
                .engine
                .account(AccountId(MAKERS + 1))
                .unwrap()
                .orders
                .len();
            assert_eq!(resting, 10);
        });
    }
    g.finish();
}

fn lobster_side(s: Side) -> lobster::Side {
    match s {
        Side::Buy => lobster::Side::Bid,
        Side::Sell => lobster::Side::Ask,
    }
}

fn lobster_limit(id: u128, s: &Seed) -> lobster::OrderType {
    lobster::OrderType::Limit {
        id,
        side: lobster_side(s.side),
        qty: s.qty as u64,
        price: s.ticks as u64,
    }
}

fn lobster_warm() -> (lobster::OrderBook, Vec<u128>) {
    let mut ob = lobster::OrderBook::default();
    let mut ids = Vec::with_capacity(2_000);
    for (i, s) in warm_seeds().iter().enumerate() {
        let id = i as u128 + 1;
        let ev = ob.execute(lobster_limit(id, s));
        assert!(matches!(ev, lobster::OrderEvent::Placed { .. }));
        ids.push(id);
    }
    (ob, ids)
}

criterion_group!(
    benches,
    bench_place,
    bench_cancel,
    bench_sweep,
    bench_margin,
    bench_requote
);
criterion_main!(benches);
