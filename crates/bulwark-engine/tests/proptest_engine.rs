//! Property tests of the engine against slow references (see `reference/mod.rs`):
//!
//! a. `Book` against a linear-scan reference book, over random insert / remove / fill /
//!    reduce / sweep sequences;
//! b. `Engine::health` against an independent `i128` margin calculator, for every account and
//!    pool after every command of random command sequences;
//! c. random command sequences through `Engine::apply`: invariants after every command,
//!    rejected commands change nothing, the event stream describes every book change, and a
//!    replay (direct and through a JSON round trip) reproduces every event and state hash.

mod reference;

use bulwark_core::MICROS_PER_UNIT;
use bulwark_engine::book::{BookFill, NewOrder};
use bulwark_engine::{
    state_hash, AccountId, Book, Command, Engine, EngineConfig, Event, MarginMode, MarketId,
    MarketParams, OrderId, OrderKind, Param, PlaceOrder, Ppm, Price, Qty, Scope, SelfTrade, Side,
    TimestampMs, Usd,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reference::{ref_health, RefBook, RefHealth};

fn usd(whole: i64) -> Usd {
    Usd::from_micros(whole * MICROS_PER_UNIT)
}

fn side_of(buy: bool) -> Side {
    if buy {
        Side::Buy
    } else {
        Side::Sell
    }
}

// =============================================================================================
// a. Book vs reference book
// =============================================================================================

#[derive(Clone, Debug)]
enum BookOp {
    /// A limit order: sweeps what crosses, rests the rest.
    Place {
        buy: bool,
        ticks: i64,
        qty: i64,
        account: u32,
        reduce_only: bool,
    },
    /// A pure taker: sweeps, never rests.
    Sweep { buy: bool, ticks: i64, qty: i64 },
    /// Remove an id seen before (resting, filled, removed or stale).
    Remove { pick: usize },
    /// Remove an id that was never issued.
    RemoveBogus { seq_ahead: u64, slot: u32 },
    /// Fill part or all of a resting order directly.
    Fill { pick: usize, amount: i64 },
    /// Shrink a resting order in place.
    Reduce { pick: usize, amount: i64 },
    /// Reserve a slot and give it back unused (an IOC that did not rest).
    ReserveRelease,
}

fn book_op() -> impl Strategy<Value = BookOp> {
    prop_oneof![
        6 => (any::<bool>(), 90i64..=110, 1i64..=20, 0u32..4, proptest::bool::weighted(0.1)).prop_map(
            |(buy, ticks, qty, account, reduce_only)| BookOp::Place { buy, ticks, qty, account, reduce_only }
        ),
        1 => (any::<bool>(), 85i64..=115, 1i64..=80).prop_map(|(buy, ticks, qty)| BookOp::Sweep { buy, ticks, qty }),
        3 => any::<usize>().prop_map(|pick| BookOp::Remove { pick }),
        1 => (0u64..1000, 0u32..64).prop_map(|(seq_ahead, slot)| BookOp::RemoveBogus { seq_ahead, slot }),
        2 => (any::<usize>(), 1i64..=25).prop_map(|(pick, amount)| BookOp::Fill { pick, amount }),
        1 => (any::<usize>(), 1i64..=25).prop_map(|(pick, amount)| BookOp::Reduce { pick, amount }),
        1 => Just(BookOp::ReserveRelease),
    ]
}

fn tick_price(ticks: i64) -> Price {
    Price::from_micros(ticks * MICROS_PER_UNIT)
}

type OrderView = (OrderId, AccountId, Side, Price, Qty, bool);

fn compare_books(book: &Book, r: &RefBook, known: &[OrderId]) -> Result<(), TestCaseError> {
    book.check().map_err(TestCaseError::fail)?;
    prop_assert_eq!(book.len(), r.len());
    prop_assert_eq!(book.is_empty(), r.len() == 0);
    prop_assert_eq!(book.best_bid(), r.best(Side::Buy));
    prop_assert_eq!(book.best_ask(), r.best(Side::Sell));
    for side in [Side::Buy, Side::Sell] {
        prop_assert_eq!(book.best(side), r.best(side));
        let levels: Vec<_> = book.levels(side).collect();
        prop_assert_eq!(levels, r.levels(side), "levels of {:?}", side);
        let got: Vec<OrderView> = book
            .orders_in_priority(side)
            .map(|o| (o.id, o.account, o.side, o.price, o.remaining, o.reduce_only))
            .collect();
        let want: Vec<OrderView> = r
            .in_priority(side)
            .iter()
            .map(|o| (o.id, o.account, o.side, o.price, o.remaining, o.reduce_only))
            .collect();
        prop_assert_eq!(got, want, "orders in priority of {:?}", side);
    }
    for &id in known {
        let got = book.get(id).map(|o| (o.id, o.price, o.remaining));
        let want = r.get(id).map(|o| (o.id, o.price, o.remaining));
        prop_assert_eq!(got, want, "get({:?})", id);
    }
    // The crossing iterator agrees with the reference at a few limits.
    for (side, ticks) in [
        (Side::Buy, 100),
        (Side::Sell, 100),
        (Side::Buy, 120),
        (Side::Sell, 80),
    ] {
        let got: Vec<OrderId> = book
            .crossing(side, tick_price(ticks))
            .map(|o| o.id)
            .collect();
        let want: Vec<OrderId> = r
            .crossing(side, tick_price(ticks))
            .iter()
            .map(|o| o.id)
            .collect();
        prop_assert_eq!(got, want, "crossing({:?}, {})", side, ticks);
    }
    Ok(())
}

fn sweep_both(
    book: &mut Book,
    r: &mut RefBook,
    side: Side,
    limit: Price,
    qty: Qty,
) -> Result<Qty, TestCaseError> {
    let mut out: Vec<BookFill> = Vec::new();
    let left = book.sweep(side, limit, qty, &mut out);
    let (want, want_left) = r.sweep(side, limit, qty);
    let got: Vec<_> = out
        .iter()
        .map(|f| (f.maker, f.maker_account, f.price, f.qty))
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|f| (f.maker, f.maker_account, f.price, f.qty))
        .collect();
    prop_assert_eq!(got, want, "fills of a {:?} sweep to {}", side, limit);
    prop_assert_eq!(left, want_left);
    Ok(left)
}

fn run_book_ops(ops: &[BookOp]) -> Result<(), TestCaseError> {
    let mut book = Book::new();
    let mut r = RefBook::new();
    let mut known: Vec<OrderId> = Vec::new();
    let mut seq = 1u64;
    for op in ops {
        match *op {
            BookOp::Place {
                buy,
                ticks,
                qty,
                account,
                reduce_only,
            } => {
                let side = side_of(buy);
                let price = tick_price(ticks);
                let left = sweep_both(&mut book, &mut r, side, price, Qty(qty))?;
                if left.is_positive() {
                    let o = NewOrder {
                        account: AccountId(account),
                        side,
                        price,
                        qty: left,
                        reduce_only,
                    };
                    let id = book.insert_new(seq, o);
                    prop_assert_eq!(id.0 >> bulwark_engine::book::SLOT_BITS, seq);
                    r.insert(id, o.account, side, price, left, reduce_only);
                    known.push(id);
                }
                seq += 1;
            }
            BookOp::Sweep { buy, ticks, qty } => {
                sweep_both(&mut book, &mut r, side_of(buy), tick_price(ticks), Qty(qty))?;
            }
            BookOp::Remove { pick } => {
                if !known.is_empty() {
                    let id = known[pick % known.len()];
                    let got = book
                        .remove(id)
                        .map(|o| (o.id, o.account, o.side, o.price, o.remaining));
                    let want = r
                        .remove(id)
                        .map(|o| (o.id, o.account, o.side, o.price, o.remaining));
                    prop_assert_eq!(got, want, "remove({:?})", id);
                }
            }
            BookOp::RemoveBogus { seq_ahead, slot } => {
                let id = OrderId(
                    ((seq + 1 + seq_ahead) << bulwark_engine::book::SLOT_BITS) | slot as u64,
                );
                prop_assert!(book.remove(id).is_none());
                prop_assert!(r.remove(id).is_none());
            }
            BookOp::Fill { pick, amount } => {
                let live: Vec<_> = known
                    .iter()
                    .copied()
                    .filter(|&id| r.get(id).is_some())
                    .collect();
                if !live.is_empty() {
                    let id = live[pick % live.len()];
                    let rem = r.get(id).unwrap().remaining.0;
                    let q = Qty(1 + (amount - 1) % rem);
                    prop_assert_eq!(book.fill(id, q), r.fill(id, q), "fill({:?}, {})", id, q);
                }
            }
            BookOp::Reduce { pick, amount } => {
                let live: Vec<_> = known
                    .iter()
                    .copied()
                    .filter(|&id| r.get(id).is_some_and(|o| o.remaining.0 >= 2))
                    .collect();
                if !live.is_empty() {
                    let id = live[pick % live.len()];
                    let rem = r.get(id).unwrap().remaining.0;
                    let new_remaining = Qty(1 + (amount - 1) % (rem - 1));
                    book.reduce(id, new_remaining);
                    r.reduce(id, new_remaining);
                }
            }
            BookOp::ReserveRelease => {
                let id = book.reserve(seq);
                seq += 1;
                prop_assert!(book.get(id).is_none());
                book.release(id);
                known.push(id);
            }
        }
        compare_books(&book, &r, &known)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    /// a. `Book` agrees with the reference book after every operation.
    #[test]
    fn book_matches_reference(ops in proptest::collection::vec(book_op(), 1..250)) {
        run_book_ops(&ops)?;
    }
}

#[test]
fn book_reference_by_hand() {
    // Two bids at 100 (time priority) and one at 99; a sell sweep to 99 for 25 lots takes
    // 10 + 10 at 100, then 5 of the 99 bid.
    let mut book = Book::new();
    let mut r = RefBook::new();
    let mut ids = Vec::new();
    for (seq, (ticks, qty)) in [(100, 10), (99, 10), (100, 10)].into_iter().enumerate() {
        let o = NewOrder {
            account: AccountId(seq as u32),
            side: Side::Buy,
            price: tick_price(ticks),
            qty: Qty(qty),
            reduce_only: false,
        };
        let id = book.insert_new(seq as u64 + 1, o);
        r.insert(id, o.account, o.side, o.price, o.qty, false);
        ids.push(id);
    }
    let left = sweep_both(&mut book, &mut r, Side::Sell, tick_price(99), Qty(25)).unwrap();
    assert_eq!(left, Qty(0));
    assert_eq!(
        book.levels(Side::Buy).collect::<Vec<_>>(),
        vec![(tick_price(99), Qty(5), 1)]
    );
    assert_eq!(book.get(ids[1]).unwrap().remaining, Qty(5));
    compare_books(&book, &r, &ids).unwrap();
}

// =============================================================================================
// b/c. Engine command sequences
// =============================================================================================

/// Accounts the generator names: 0..=4 get a deposit in the setup; 5 and 6 start unknown and
/// become active only if a random deposit reaches them.
const ACCOUNTS: u32 = 7;
const SETUP_ACCOUNTS: u32 = 5;
/// The account that trades market 1 isolated (and has the smallest deposit).
const ISOLATED_TRADER: u32 = 4;
/// Market 2 does not exist.
const MARKETS: u16 = 2;

fn market_params() -> [MarketParams; 2] {
    let mut btc = MarketParams::btc_like("BTC-PERP", Price::from_micros(50_000 * MICROS_PER_UNIT));
    btc.tick_size = Price::from_micros(MICROS_PER_UNIT); // 1 USD
    btc.lots_per_unit = 1_000; // a lot is 0.001 BTC, about 50 USD
    btc.impact_notional_usd = usd(2_000);
    btc.funding_interval_ms = 60_000;
    btc.oracle_stale_ms = 30_000;
    btc.max_order_qty = Qty(5_000);
    btc.max_position_qty = Qty(20_000);
    let mut eth = MarketParams::btc_like("ETH-PERP", Price::from_micros(3_000 * MICROS_PER_UNIT));
    eth.tick_size = Price::from_micros(100_000); // 0.1 USD
    eth.lots_per_unit = 100; // a lot is 0.01 ETH, about 30 USD
    eth.maker_fee = Ppm(-100); // a rebate
    eth.taker_fee = Ppm(400);
    eth.impact_notional_usd = usd(1_000);
    eth.funding_interval_ms = 45_000;
    eth.oracle_stale_ms = 20_000;
    eth.max_order_qty = Qty(5_000);
    eth.max_position_qty = Qty(50_000);
    [btc, eth]
}

#[derive(Clone, Debug)]
struct PlaceSpec {
    acct: u32,
    market: u16,
    buy: bool,
    kind: OrderKind,
    offset_ticks: i64,
    /// 0: off tick, 1: zero, 2: above the maximum, 3: missing, otherwise valid.
    price_mode: u8,
    qty: i64,
    reduce_only: bool,
    self_trade: SelfTrade,
    isolated: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Deposit {
        acct: u32,
        micros: i64,
    },
    Withdraw {
        acct: u32,
        /// Fraction of the account's collateral, ppm (above 1e6: more than it has).
        frac_ppm: i64,
    },
    Place(PlaceSpec),
    Cancel {
        acct: u32,
        /// 0: own order, 1: anyone's order, 2: an id seen before, 3: never issued,
        /// 4: own order named in the wrong market.
        mode: u8,
        pick: usize,
    },
    CancelAll {
        acct: u32,
        market: Option<u16>,
    },
    AdjustIsolated {
        acct: u32,
        market: u16,
        micros: i64,
    },
    Oracle {
        market: u16,
        move_ppm: i64,
        /// Random micro-USD added, so prices leave the tick grid.
        jitter: i64,
        invalid: bool,
    },
    Tick {
        dt_ms: u64,
    },
    SetParam {
        market: u16,
        which: u8,
        raw: i64,
    },
    /// A command stamped earlier than the last one: always rejected.
    Backwards,
}

#[derive(Clone, Debug)]
struct Step {
    op: Op,
    /// Milliseconds that pass before the command.
    dt_ms: u64,
}

fn acct() -> impl Strategy<Value = u32> {
    prop_oneof![25 => 0u32..SETUP_ACCOUNTS, 1 => SETUP_ACCOUNTS..ACCOUNTS]
}

fn market_id() -> impl Strategy<Value = u16> {
    prop_oneof![40 => 0u16..MARKETS, 1 => Just(MARKETS)]
}

fn order_kind() -> impl Strategy<Value = OrderKind> {
    prop_oneof![
        6 => Just(OrderKind::Limit),
        3 => Just(OrderKind::Market),
        3 => Just(OrderKind::Ioc),
        1 => Just(OrderKind::Fok),
        2 => Just(OrderKind::PostOnly),
    ]
}

fn self_trade() -> impl Strategy<Value = SelfTrade> {
    prop_oneof![
        3 => Just(SelfTrade::CancelTaker),
        1 => Just(SelfTrade::CancelMaker),
        1 => Just(SelfTrade::CancelBoth),
    ]
}

fn place_spec() -> impl Strategy<Value = PlaceSpec> {
    (
        (acct(), market_id(), any::<bool>(), order_kind()),
        prop_oneof![6 => -8i64..=8, 3 => -60i64..=60, 1 => -2_000i64..=2_000],
        prop_oneof![60 => 4u8..=255, 1 => 0u8..=3],
        prop_oneof![24 => 1i64..=40, 8 => 40i64..=1_500, 1 => -1i64..=0, 1 => 5_000i64..=6_000],
        proptest::bool::weighted(0.15),
        self_trade(),
        0u8..100,
    )
        .prop_map(
            |(
                (acct, market, buy, kind),
                offset_ticks,
                price_mode,
                qty,
                reduce_only,
                self_trade,
                iso_roll,
            )| {
                // Account 4 trades market 1 mostly isolated (and market 0 cross); the others cross.
                let isolated = if acct == ISOLATED_TRADER && market == 1 {
                    iso_roll < 97
                } else {
                    iso_roll < 3
                };
                PlaceSpec {
                    acct,
                    market,
                    buy,
                    kind,
                    offset_ticks,
                    price_mode,
                    qty,
                    reduce_only,
                    self_trade,
                    isolated,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (acct(), prop_oneof![8 => 100i64..=20_000, 1 => -5i64..=0])
            .prop_map(|(acct, whole)| Op::Deposit { acct, micros: whole * MICROS_PER_UNIT + whole.rem_euclid(7) }),
        1 => (acct(), 0i64..=1_300_000).prop_map(|(acct, frac_ppm)| Op::Withdraw { acct, frac_ppm }),
        20 => place_spec().prop_map(Op::Place),
        4 => (acct(), prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8), 1 => Just(4u8)], any::<usize>())
            .prop_map(|(acct, mode, pick)| Op::Cancel { acct, mode, pick }),
        1 => (acct(), proptest::option::of(market_id())).prop_map(|(acct, market)| Op::CancelAll { acct, market }),
        3 => (prop_oneof![3 => Just(ISOLATED_TRADER), 1 => acct()], prop_oneof![3 => Just(1u16), 1 => market_id()], prop_oneof![3 => 1i64..=3_000, 2 => -3_000i64..=-1, 1 => Just(0i64)])
            .prop_map(|(acct, market, whole)| Op::AdjustIsolated { acct, market, micros: whole * MICROS_PER_UNIT }),
        4 => (
            market_id(),
            prop_oneof![6 => -5_000i64..=5_000, 1 => -300_000i64..=300_000, 1 => Just(300_000i64), 1 => Just(-300_000i64)],
            0i64..1_000_000,
            proptest::bool::weighted(0.05),
        )
            .prop_map(|(market, move_ppm, jitter, invalid)| Op::Oracle { market, move_ppm, jitter, invalid }),
        3 => prop_oneof![3 => 0u64..=5_000, 2 => 5_000u64..=90_000].prop_map(|dt_ms| Op::Tick { dt_ms }),
        1 => (market_id(), 0u8..15, any::<i64>()).prop_map(|(market, which, raw)| Op::SetParam { market, which, raw }),
        1 => prop_oneof![3 => Just(Op::Tick { dt_ms: 0 }), 1 => Just(Op::Backwards)],
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (op(), prop_oneof![3 => Just(0u64), 2 => 1u64..=2_000])
        .prop_map(|(op, dt_ms)| Step { op, dt_ms })
}

fn steps(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), len)
}

/// Turn a random parameter value into one of the parameters, mostly in range.
fn param_of(which: u8, raw: i64, p: &MarketParams) -> Param {
    let r = raw.unsigned_abs();
    let pick = |lo: i64, hi: i64| lo + (r % ((hi - lo + 1) as u64)) as i64;
    match which {
        0 => Param::Maintenance(Ppm(pick(0, 60_000))),
        1 => Param::InitialMultiplier(Ppm(pick(900_000, 5_000_000))),
        2 => Param::SizePremium(Ppm(pick(0, 120_000))),
        3 => Param::MakerFee(Ppm(pick(-600, 800))),
        4 => Param::TakerFee(Ppm(pick(0, 1_000))),
        5 => Param::FundingClamp(Ppm(pick(0, 20_000))),
        6 => Param::FundingIntervalMs(pick(0, 200_000) as u64),
        7 => Param::TradeEmaAlpha(Ppm(pick(0, 1_000_000))),
        8 => Param::ImpactNotionalUsd(Usd::from_micros(pick(0, 5_000) * MICROS_PER_UNIT)),
        9 => Param::OracleStaleMs(pick(1_000, 120_000) as u64),
        10 => Param::MarketOrderBand(Ppm(pick(0, 300_000))),
        11 => Param::MaxOrderQty(Qty(pick(0, 6_000))),
        12 => Param::MaxPositionQty(Qty(pick(0, 60_000))),
        13 => {
            let init = p.initial_price.micros();
            let tick = p.tick_size.micros();
            let v = pick(init / 2, init * 10);
            Param::MaxPrice(Price::from_micros(v - v % tick))
        }
        _ => Param::MakerFee(Ppm(-p.taker_fee.raw() - 1)),
    }
}

/// Counts of what a sequence did, for the sanity test.
#[derive(Clone, Debug, Default)]
struct Stats {
    commands: usize,
    rejects: usize,
    places: usize,
    places_accepted: usize,
    fills: usize,
    rests: usize,
    cancels: usize,
    funding: usize,
    marks: usize,
    below_maintenance: usize,
    negative_equity: usize,
    isolated_adjusts: usize,
    /// Cancels that would empty a funded isolated position (engine bug 2's trigger).
    isolated_release_cancels: usize,
    /// Commands after which some pool was flagged below maintenance.
    flagged_steps: usize,
    rejects_by_reason: std::collections::BTreeMap<String, usize>,
}

/// What the harness checks besides the invariants.
#[derive(Clone, Copy)]
struct Checks {
    reference_health: bool,
    mirror_books: bool,
    replay: bool,
}

struct Harness {
    engine: Engine,
    now: u64,
    /// Every accepted command with its time, events and the state hash after it.
    log: Vec<(Command, TimestampMs, Vec<Event>, [u8; 32])>,
    /// Every order id ever accepted, with its market.
    seen: Vec<(MarketId, OrderId)>,
    mirror: Vec<RefBook>,
    stats: Stats,
    checks: Checks,
}

impl Harness {
    fn new(checks: Checks) -> Result<Harness, TestCaseError> {
        let mut h = Harness {
            engine: Engine::new(EngineConfig::default()),
            now: 1_000,
            log: Vec::new(),
            seen: Vec::new(),
            mirror: vec![RefBook::new(), RefBook::new()],
            stats: Stats::default(),
            checks,
        };
        for params in market_params() {
            h.apply_ok(Command::CreateMarket { params })?;
        }
        for a in 0..SETUP_ACCOUNTS {
            h.apply_ok(Command::Deposit {
                account: AccountId(a),
                // 2,000 to 10,000 USD: the small accounts run at real leverage.
                amount_usd: usd(2_000 * (SETUP_ACCOUNTS - a) as i64),
            })?;
        }
        for (m, px) in [(0u16, 50_000), (1, 3_000)] {
            h.apply_ok(Command::OraclePrice {
                market: MarketId(m),
                price: Price::from_micros(px * MICROS_PER_UNIT),
            })?;
        }
        Ok(h)
    }

    fn apply_ok(&mut self, cmd: Command) -> Result<(), TestCaseError> {
        let accepted = self.apply(cmd.clone(), TimestampMs(self.now))?;
        prop_assert!(accepted, "setup command rejected: {:?}", cmd);
        Ok(())
    }

    fn params(&self, market: u16) -> MarketParams {
        match self.engine.market(MarketId(market)) {
            Some(m) => m.params.clone(),
            None => market_params()[0].clone(),
        }
    }

    fn mark(&self, market: u16) -> i64 {
        self.engine
            .market(MarketId(market))
            .map_or(50_000 * MICROS_PER_UNIT, |m| m.mark.micros())
    }

    /// Turn a generated step into a concrete command, reading the engine's current state.
    fn command_of(&self, op: &Op) -> Command {
        match op {
            Op::Deposit { acct, micros } => Command::Deposit {
                account: AccountId(*acct),
                amount_usd: Usd::from_micros(*micros),
            },
            Op::Withdraw { acct, frac_ppm } => {
                let coll = self
                    .engine
                    .account(AccountId(*acct))
                    .map_or(0, |a| a.collateral_usd.micros());
                Command::Withdraw {
                    account: AccountId(*acct),
                    amount_usd: Usd::from_micros(
                        (coll as i128 * *frac_ppm as i128 / 1_000_000) as i64,
                    ),
                }
            }
            Op::Place(s) => {
                let p = self.params(s.market);
                let tick = p.tick_size.micros();
                let mark = self.mark(s.market);
                let valid = (mark - mark % tick + s.offset_ticks * tick).max(tick);
                let price = match s.price_mode {
                    0 => Some(Price::from_micros(valid + 1)),
                    1 => Some(Price::ZERO),
                    2 => Some(Price::from_micros(p.max_price.micros() + tick)),
                    3 => None,
                    _ if s.kind == OrderKind::Market => None,
                    _ => Some(Price::from_micros(valid)),
                };
                Command::PlaceOrder(PlaceOrder {
                    account: AccountId(s.acct),
                    market: MarketId(s.market),
                    side: side_of(s.buy),
                    kind: s.kind,
                    price,
                    qty: Qty(s.qty),
                    reduce_only: s.reduce_only,
                    self_trade: s.self_trade,
                    margin: if s.isolated {
                        MarginMode::Isolated
                    } else {
                        MarginMode::Cross
                    },
                })
            }
            Op::Cancel { acct, mode, pick } => {
                let account = AccountId(*acct);
                let own: Vec<(MarketId, OrderId)> = self
                    .engine
                    .account(account)
                    .map(|a| {
                        let mut v = a.orders.clone();
                        v.sort_unstable();
                        v
                    })
                    .unwrap_or_default();
                let all: Vec<(MarketId, OrderId)> = self
                    .engine
                    .markets()
                    .iter()
                    .flat_map(|m| {
                        [Side::Buy, Side::Sell].into_iter().flat_map(move |s| {
                            m.book.orders_in_priority(s).map(move |o| (m.id, o.id))
                        })
                    })
                    .collect();
                let bogus = (
                    MarketId((*pick % 2) as u16),
                    OrderId(((*pick as u64) % 1_000_000) << 30 | 7),
                );
                let choose = |v: &[(MarketId, OrderId)]| {
                    v.get(pick % v.len().max(1)).copied().unwrap_or(bogus)
                };
                let (market, order) = match mode {
                    0 => choose(&own),
                    1 => choose(&all),
                    2 => choose(&self.seen),
                    3 => bogus,
                    _ => {
                        let (m, id) = choose(&own);
                        (MarketId((m.0 + 1) % (MARKETS + 1)), id)
                    }
                };
                Command::Cancel {
                    account,
                    market,
                    order,
                }
            }
            Op::CancelAll { acct, market } => Command::CancelAll {
                account: AccountId(*acct),
                market: market.map(MarketId),
            },
            Op::AdjustIsolated {
                acct,
                market,
                micros,
            } => Command::AdjustIsolatedMargin {
                account: AccountId(*acct),
                market: MarketId(*market),
                delta_usd: Usd::from_micros(*micros),
            },
            Op::Oracle {
                market,
                move_ppm,
                jitter,
                invalid,
            } => {
                let base = self
                    .engine
                    .market(MarketId(*market))
                    .and_then(|m| m.oracle.map(|o| o.price))
                    .map_or(self.mark(*market), |p| p.micros());
                let price = if *invalid {
                    if jitter % 2 == 0 {
                        0
                    } else {
                        self.params(*market).max_price.micros() + 1
                    }
                } else {
                    (base as i128 * (1_000_000 + *move_ppm) as i128 / 1_000_000) as i64 + jitter
                };
                Command::OraclePrice {
                    market: MarketId(*market),
                    price: Price::from_micros(price.max(if *invalid { 0 } else { 1 })),
                }
            }
            Op::Tick { .. } | Op::Backwards => Command::Tick,
            Op::SetParam { market, which, raw } => Command::SetParam {
                market: MarketId(*market),
                param: param_of(*which, *raw, &self.params(*market)),
            },
        }
    }

    /// Whether a cancel would empty a funded isolated position (engine bug 2's trigger).
    fn cancel_would_release_isolated(&self, cmd: &Command) -> bool {
        let (account, market) = match cmd {
            Command::Cancel {
                account, market, ..
            } => (*account, Some(*market)),
            Command::CancelAll { account, market } => (*account, *market),
            _ => return false,
        };
        let Some(a) = self.engine.account(account) else {
            return false;
        };
        a.positions.iter().any(|p| {
            market.is_none_or(|m| m == p.market)
                && p.mode == MarginMode::Isolated
                && p.qty.is_zero()
                && p.isolated_usd.is_positive()
                && !(p.open_buy.is_zero() && p.open_sell.is_zero())
        })
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        for s in steps {
            self.now += s.dt_ms;
            if let Op::Tick { dt_ms } = s.op {
                self.now += dt_ms;
            }
            let cmd = self.command_of(&s.op);
            let releases = self.cancel_would_release_isolated(&cmd);
            self.stats.isolated_release_cancels += releases as usize;
            if matches!(s.op, Op::Backwards) {
                let last = self.engine.last_ms().0;
                if last > 0 {
                    let accepted = self.apply(cmd, TimestampMs(last - 1))?;
                    prop_assert!(
                        !accepted,
                        "a command stamped before the last one was accepted"
                    );
                }
                continue;
            }
            self.apply(cmd, TimestampMs(self.now))?;
        }
        if self.checks.replay {
            self.check_replay()?;
        }
        Ok(())
    }

    /// Apply one command and check everything; returns whether it was accepted.
    fn apply(&mut self, cmd: Command, now: TimestampMs) -> Result<bool, TestCaseError> {
        let before = state_hash(&self.engine);
        self.stats.commands += 1;
        if matches!(cmd, Command::PlaceOrder(_)) {
            self.stats.places += 1;
        }
        let result = self.engine.apply(&cmd, now).map(|ev| ev.to_vec());
        let after = state_hash(&self.engine);
        self.engine
            .check_invariants()
            .map_err(|e| TestCaseError::fail(format!("invariant after {cmd:?}: {e}")))?;
        let accepted = match result {
            Err(reject) => {
                self.stats.rejects += 1;
                let reason = format!("{reject:?}");
                let reason = reason
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                *self.stats.rejects_by_reason.entry(reason).or_default() += 1;
                prop_assert_eq!(
                    before,
                    after,
                    "rejected ({}) command changed the state: {:?}",
                    reject,
                    cmd
                );
                false
            }
            Ok(events) => {
                prop_assert_ne!(before, after, "accepted command left the hash unchanged");
                self.account_for(&cmd, &events)?;
                if self.checks.mirror_books {
                    self.mirror_events(&cmd, &events)?;
                }
                self.log.push((cmd, now, events, after));
                true
            }
        };
        if self.checks.reference_health {
            self.check_health()?;
        }
        if self.engine.flags().values().any(|f| f.below_maintenance) {
            self.stats.flagged_steps += 1;
        }
        Ok(accepted)
    }

    /// Tally events and check what every accepted order did with its quantity.
    fn account_for(&mut self, cmd: &Command, events: &[Event]) -> Result<(), TestCaseError> {
        let mut taker: Option<(OrderId, OrderKind, Side, Price, Qty)> = None;
        let (mut filled, mut rested, mut dropped) = (0i64, 0i64, 0i64);
        let mut last_price: Option<Price> = None;
        for ev in events {
            match ev {
                Event::OrderAccepted {
                    order,
                    market,
                    kind,
                    side,
                    price,
                    qty,
                    ..
                } => {
                    self.stats.places_accepted += 1;
                    self.seen.push((*market, *order));
                    taker = Some((*order, *kind, *side, *price, *qty));
                }
                Event::Fill {
                    taker_order,
                    taker_side,
                    price,
                    qty,
                    ..
                } => {
                    self.stats.fills += 1;
                    let (id, _, side, limit, _) =
                        taker.expect("a fill follows its order's acceptance");
                    prop_assert_eq!(*taker_order, id);
                    prop_assert_eq!(*taker_side, side);
                    prop_assert!(qty.is_positive());
                    prop_assert!(
                        side.crosses(limit, *price),
                        "fill at {} beyond the limit {}",
                        price,
                        limit
                    );
                    // Best price first.
                    if let Some(lp) = last_price {
                        prop_assert!(
                            side.crosses(*price, lp),
                            "fill at {} after a worse fill at {}",
                            price,
                            lp
                        );
                    }
                    last_price = Some(*price);
                    filled += qty.0;
                }
                Event::OrderRested { order, qty, .. } => {
                    self.stats.rests += 1;
                    prop_assert_eq!(Some(*order), taker.map(|t| t.0));
                    rested += qty.0;
                }
                Event::OrderCancelled { order, qty, .. } => {
                    self.stats.cancels += 1;
                    if Some(*order) == taker.map(|t| t.0) {
                        dropped += qty.0;
                    }
                }
                Event::FundingSettled { .. } => self.stats.funding += 1,
                Event::MarkPrice { .. } => self.stats.marks += 1,
                Event::BelowMaintenance { .. } => self.stats.below_maintenance += 1,
                Event::NegativeEquity { .. } => self.stats.negative_equity += 1,
                Event::IsolatedMarginAdjusted { .. } => self.stats.isolated_adjusts += 1,
                _ => {}
            }
        }
        if let Command::PlaceOrder(o) = cmd {
            let (_, kind, side, _, qty) =
                taker.ok_or_else(|| TestCaseError::fail("accepted order without OrderAccepted"))?;
            prop_assert_eq!(kind, o.kind);
            prop_assert_eq!(side, o.side);
            prop_assert!(qty <= o.qty && qty.is_positive());
            prop_assert_eq!(
                filled + rested + dropped,
                qty.0,
                "order quantity unaccounted for: {:?}",
                events
            );
            match o.kind {
                OrderKind::Fok => prop_assert_eq!(filled, qty.0),
                OrderKind::PostOnly => prop_assert_eq!(filled, 0),
                OrderKind::Market | OrderKind::Ioc => prop_assert_eq!(rested, 0),
                OrderKind::Limit => {}
            }
        }
        Ok(())
    }

    /// Replay the events into reference books and compare them with the engine's books.
    /// Each fill must take the order with priority on the reference book at that moment.
    fn mirror_events(&mut self, cmd: &Command, events: &[Event]) -> Result<(), TestCaseError> {
        let mut taker: Option<(OrderId, AccountId, Side)> = None;
        for ev in events {
            match ev {
                Event::OrderAccepted {
                    order,
                    account,
                    side,
                    ..
                } => taker = Some((*order, *account, *side)),
                Event::Fill {
                    market,
                    maker_order,
                    maker,
                    taker_side,
                    price,
                    qty,
                    ..
                } => {
                    let book = &mut self.mirror[market.0 as usize];
                    let top = book
                        .top(taker_side.opposite())
                        .copied()
                        .ok_or_else(|| TestCaseError::fail("fill against an empty side"))?;
                    prop_assert_eq!(
                        (top.id, top.account, top.price),
                        (*maker_order, *maker, *price),
                        "fill did not take the order with priority; events {:?}",
                        events
                    );
                    book.fill(*maker_order, *qty);
                }
                Event::OrderRested {
                    order,
                    market,
                    price,
                    qty,
                } => {
                    let (id, account, side) = taker.expect("rests after acceptance");
                    prop_assert_eq!(id, *order);
                    let reduce_only = matches!(cmd, Command::PlaceOrder(o) if o.reduce_only);
                    self.mirror[market.0 as usize].insert(
                        *order,
                        account,
                        side,
                        *price,
                        *qty,
                        reduce_only,
                    );
                }
                Event::OrderCancelled {
                    order, market, qty, ..
                } => {
                    let book = &mut self.mirror[market.0 as usize];
                    match book.remove(*order) {
                        Some(o) => prop_assert_eq!(o.remaining, *qty),
                        None => prop_assert_eq!(
                            Some(*order),
                            taker.map(|t| t.0),
                            "cancel of an order that was not resting"
                        ),
                    }
                }
                _ => {}
            }
        }
        for (mi, book) in self
            .mirror
            .iter()
            .enumerate()
            .take(self.engine.markets().len())
        {
            let eb = &self.engine.markets()[mi].book;
            for side in [Side::Buy, Side::Sell] {
                let got: Vec<OrderView> = eb
                    .orders_in_priority(side)
                    .map(|o| (o.id, o.account, o.side, o.price, o.remaining, o.reduce_only))
                    .collect();
                let want: Vec<OrderView> = book
                    .in_priority(side)
                    .iter()
                    .map(|o| (o.id, o.account, o.side, o.price, o.remaining, o.reduce_only))
                    .collect();
                prop_assert_eq!(
                    got,
                    want,
                    "market {} {:?} book differs from its events after {:?}",
                    mi,
                    side,
                    cmd
                );
                let levels: Vec<_> = eb.levels(side).collect();
                prop_assert_eq!(levels, book.levels(side));
            }
        }
        Ok(())
    }

    /// b. `Engine::health` against the reference for every account and pool.
    fn check_health(&self) -> Result<(), TestCaseError> {
        for a in 0..=ACCOUNTS {
            let account = AccountId(a);
            let scopes = std::iter::once(Scope::Cross)
                .chain((0..=MARKETS).map(|m| Scope::Isolated(MarketId(m))));
            for scope in scopes {
                let want = ref_health(&self.engine, account, scope);
                let got = self.engine.health(account, scope);
                match (got, want) {
                    (Ok(h), Some(r)) => {
                        let h = RefHealth {
                            equity: h.equity_usd.micros() as i128,
                            initial: h.initial_usd.micros() as i128,
                            maintenance: h.maintenance_usd.micros() as i128,
                        };
                        prop_assert_eq!(h, r, "health of {:?} {:?}", account, scope);
                    }
                    (Err(_), None) => {}
                    (got, want) => {
                        return Err(TestCaseError::fail(format!(
                            "health of {account:?} {scope:?}: engine {got:?}, reference {want:?}"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// Replay the accepted commands into fresh engines, directly and through JSON: every
    /// event and every state hash must come out the same.
    fn check_replay(&self) -> Result<(), TestCaseError> {
        let mut direct = Engine::new(EngineConfig::default());
        let mut json = Engine::new(EngineConfig::default());
        for (i, (cmd, now, events, hash)) in self.log.iter().enumerate() {
            let got = direct.apply(cmd, *now).map_err(|r| {
                TestCaseError::fail(format!("replay of #{i} {cmd:?} rejected: {r}"))
            })?;
            prop_assert_eq!(got, &events[..], "replay of #{} produced other events", i);
            prop_assert_eq!(
                state_hash(&direct),
                *hash,
                "replay of #{} gave another hash",
                i
            );

            let text =
                serde_json::to_string(cmd).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: Command = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&back, cmd, "JSON round trip changed {}", text);
            let got = json
                .apply(&back, *now)
                .map_err(|r| TestCaseError::fail(format!("JSON replay of #{i} rejected: {r}")))?;
            prop_assert_eq!(got, &events[..]);
            prop_assert_eq!(state_hash(&json), *hash);
        }
        Ok(())
    }
}

fn run_steps(steps: &[Step], checks: Checks) -> Result<Stats, TestCaseError> {
    let mut h = Harness::new(checks)?;
    h.run(steps)?;
    Ok(h.stats)
}

const ALL_CHECKS: Checks = Checks {
    reference_health: false,
    mirror_books: true,
    replay: true,
};

proptest! {
    #![proptest_config(Config { cases: 256, max_shrink_iters: 2_000, failure_persistence: None, ..Config::default() })]

    /// c. Random command sequences keep every invariant, rejected commands change nothing,
    /// the events describe every book change, and replays (direct and JSON) agree exactly.
    #[test]
    fn engine_sequences_are_sound_and_replayable(steps in steps(50..300)) {
        run_steps(&steps, ALL_CHECKS)?;
    }
}

proptest! {
    #![proptest_config(Config { cases: 128, max_shrink_iters: 2_000, failure_persistence: None, ..Config::default() })]

    /// b. `Engine::health` equals the reference margin calculator for every account and pool
    /// after every command.
    #[test]
    fn health_matches_reference(steps in steps(50..200)) {
        run_steps(&steps, Checks { reference_health: true, mirror_books: false, replay: false })?;
    }
}

/// A fixed-seed sequence must exercise the engine: fills, resting orders and rejects all
/// occur, and a good share of orders are accepted.
#[test]
fn fixed_seed_sequence_fills_rests_and_rejects() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let steps = steps(300..301).new_tree(&mut runner).unwrap().current();
    let stats = run_steps(
        &steps,
        Checks {
            reference_health: true,
            mirror_books: true,
            replay: true,
        },
    )
    .unwrap();
    println!("{stats:#?}");
    assert!(stats.fills > 0, "no fills: {stats:?}");
    assert!(stats.rests > 0, "nothing rested: {stats:?}");
    assert!(stats.rejects > 0, "nothing rejected: {stats:?}");
    assert!(stats.funding > 0, "no funding settled: {stats:?}");
    assert!(stats.marks > 0, "the mark never moved: {stats:?}");
    assert!(
        stats.places_accepted * 3 >= stats.places,
        "under a third of the orders were accepted: {stats:?}"
    );
}
