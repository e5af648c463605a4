//! Shared by the hand-computed liquidation tests (`liquidation.rs`, `adl_ranking.rs`): the
//! simple test market and a venue that applies commands one millisecond apart.
//!
//! The market keeps the arithmetic easy to follow: 1 lot = 1 unit, price 1,000, maintenance
//! 5%, initial 2x (10%), liquidation ends at 1.5x maintenance, penalty 1% (20% of it to the
//! keeper), band 2%, no trading fees. The impact notional is huge, so the impact mid never
//! exists and the mark is the mean of the oracle and the trade EMA.
//!
//! Shared by the property tests (`proptest_engine.rs`, `what_if.rs`): the random command
//! generator (`Op`, `Step` and their strategies), its two-market venue (`setup_commands`) and
//! the translation of a generated step into commands against an engine's state (`View`).

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use bulwark_core::MICROS_PER_UNIT;
use bulwark_engine::*;
use proptest::prelude::*;

pub fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}

pub fn px(s: &str) -> Price {
    s.parse().unwrap()
}

/// The test market described in the module docs.
pub fn params() -> MarketParams {
    let mut p = MarketParams::btc_like("TEST-PERP", px("1000"));
    p.lots_per_unit = 1;
    p.maintenance = Ppm::from_raw(50_000);
    p.initial_multiplier = Ppm::from_raw(2_000_000);
    p.size_premium = Ppm::from_raw(0);
    p.maker_fee = Ppm::from_raw(0);
    p.taker_fee = Ppm::from_raw(0);
    p.insurance_fee_share = Ppm::from_raw(0);
    p.liquidation_end_multiplier = Ppm::from_raw(1_500_000);
    p.liquidation_penalty = Ppm::from_raw(10_000);
    p.keeper_reward_share = Ppm::from_raw(200_000);
    p.liquidation_band = Ppm::from_raw(20_000);
    p.impact_notional_usd = usd("1000000000");
    p.max_position_qty = Qty::from_lots(1_000_000);
    p.max_price = px("100000");
    p
}

/// An engine with native liquidation off and one market, driven one millisecond per command.
pub struct Venue {
    pub e: Engine,
    pub t: u64,
}

impl Venue {
    pub fn new(p: MarketParams) -> Venue {
        let mut v = Venue {
            e: Engine::default(),
            t: 0,
        };
        v.venue(VenueParam::NativeLiquidation(false));
        v.ok(Command::CreateMarket {
            params: Box::new(p),
        });
        v
    }
    /// Apply a command that must be accepted; its events.
    pub fn ok(&mut self, c: Command) -> Vec<Event> {
        self.t += 1;
        match self.e.apply(&c, TimestampMs(self.t)) {
            Ok(ev) => ev.to_vec(),
            Err(r) => panic!("{c:?} rejected: {r}"),
        }
    }
    /// Apply a command that may be rejected.
    pub fn try_cmd(&mut self, c: Command) -> Result<Vec<Event>, Reject> {
        self.t += 1;
        self.e.apply(&c, TimestampMs(self.t)).map(|ev| ev.to_vec())
    }
    /// Apply, at the current time, a command that may be refused (random setups): a refusal
    /// must change nothing.
    pub fn attempt(&mut self, c: &Command) {
        let before = state_hash(&self.e);
        if self.e.apply(c, TimestampMs(self.t)).is_err() {
            assert_eq!(
                state_hash(&self.e),
                before,
                "a refused {c:?} changed the state"
            );
        }
    }
    pub fn venue(&mut self, param: VenueParam) {
        self.ok(Command::SetVenueParam { param });
    }
    pub fn deposit(&mut self, a: u32, amount: &str) {
        self.ok(Command::Deposit {
            account: AccountId(a),
            amount_usd: usd(amount),
        });
    }
    /// A cross limit order in market 0.
    pub fn limit(&mut self, a: u32, side: Side, price: &str, qty: i64) -> Vec<Event> {
        self.limit_in(0, a, side, price, qty)
    }
    pub fn limit_in(&mut self, m: u16, a: u32, side: Side, price: &str, qty: i64) -> Vec<Event> {
        let c = self.order(m, a, side, OrderKind::Limit, price, qty);
        self.ok(c)
    }
    /// A cross order command (not applied).
    pub fn order(
        &self,
        m: u16,
        a: u32,
        side: Side,
        kind: OrderKind,
        price: &str,
        qty: i64,
    ) -> Command {
        Command::PlaceOrder(PlaceOrder {
            account: AccountId(a),
            market: MarketId(m),
            side,
            kind,
            price: Some(px(price)),
            qty: Qty::from_lots(qty),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
    }
    pub fn oracle(&mut self, price: &str) -> Vec<Event> {
        self.oracle_in(0, price)
    }
    pub fn oracle_in(&mut self, m: u16, price: &str) -> Vec<Event> {
        self.ok(Command::OraclePrice {
            market: MarketId(m),
            price: px(price),
        })
    }
    pub fn collateral(&self, a: u32) -> Usd {
        self.e.account(AccountId(a)).unwrap().collateral_usd
    }
    /// The account's position in market 0.
    pub fn qty(&self, a: u32) -> Qty {
        self.e
            .account(AccountId(a))
            .unwrap()
            .position(MarketId(0))
            .map_or(Qty::ZERO, |p| p.qty)
    }
    pub fn mark(&self) -> Price {
        self.e.market(MarketId(0)).unwrap().mark
    }
}

/// One order of a requote: a plain cross limit order of `lots` at `price`.
pub fn quote(side: Side, price: &str, lots: i64) -> QuoteOrder {
    QuoteOrder {
        side,
        kind: OrderKind::Limit,
        price: Some(px(price)),
        qty: Qty::from_lots(lots),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    }
}

// =============================================================================================
// The random command generator of the property tests
// =============================================================================================

/// Whole US dollars.
pub fn whole_usd(whole: i64) -> Usd {
    Usd::from_micros(whole * MICROS_PER_UNIT)
}

pub fn side_of(buy: bool) -> Side {
    if buy {
        Side::Buy
    } else {
        Side::Sell
    }
}

/// Accounts the generator names: 0..=4 get a deposit in the setup; 5 and 6 start unknown and
/// become active only if a random deposit reaches them.
pub const ACCOUNTS: u32 = 7;
pub const SETUP_ACCOUNTS: u32 = 5;
/// The account that trades market 1 isolated (and has the smallest deposit).
pub const ISOLATED_TRADER: u32 = 4;
/// Market 2 does not exist.
pub const MARKETS: u16 = 2;

pub fn market_params() -> [MarketParams; 2] {
    let mut btc = MarketParams::btc_like("BTC-PERP", Price::from_micros(50_000 * MICROS_PER_UNIT));
    btc.tick_size = Price::from_micros(MICROS_PER_UNIT); // 1 USD
    btc.lots_per_unit = 1_000; // a lot is 0.001 BTC, about 50 USD
    btc.impact_notional_usd = whole_usd(2_000);
    btc.funding_interval_ms = 60_000;
    btc.oracle_stale_ms = 30_000;
    btc.max_order_qty = Qty::from_lots(5_000);
    btc.max_position_qty = Qty::from_lots(20_000);
    let mut eth = MarketParams::btc_like("ETH-PERP", Price::from_micros(3_000 * MICROS_PER_UNIT));
    eth.tick_size = Price::from_micros(100_000); // 0.1 USD
    eth.lots_per_unit = 100; // a lot is 0.01 ETH, about 30 USD
    eth.maker_fee = Ppm::from_raw(-100); // a rebate
    eth.taker_fee = Ppm::from_raw(400);
    eth.impact_notional_usd = whole_usd(1_000);
    eth.funding_interval_ms = 45_000;
    eth.oracle_stale_ms = 20_000;
    eth.max_order_qty = Qty::from_lots(5_000);
    eth.max_position_qty = Qty::from_lots(50_000);
    [btc, eth]
}

#[derive(Clone, Debug)]
pub struct PlaceSpec {
    pub acct: u32,
    pub market: u16,
    pub buy: bool,
    pub kind: OrderKind,
    pub offset_ticks: i64,
    /// 0: off tick, 1: zero, 2: above the maximum, 3: missing, otherwise valid.
    pub price_mode: u8,
    pub qty: i64,
    pub reduce_only: bool,
    pub self_trade: SelfTrade,
    pub isolated: bool,
}

#[derive(Clone, Debug)]
pub enum Op {
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
    /// An oracle move of `move_ppm` relative to the last oracle price, turned around when the
    /// price has left [lo_ppm, hi_ppm] of the market's initial price in that direction (so
    /// long sequences of violent jumps do not wander off to zero or the maximum).
    Move {
        market: u16,
        move_ppm: i64,
        jitter: i64,
        lo_ppm: i64,
        hi_ppm: i64,
    },
    /// A keeper calls a liquidation: a pool from the queue when `from_queue` and the queue is
    /// not empty, otherwise `acct`'s pool picked by `scope` (0-1 cross, 2 isolated in market 1,
    /// 3 isolated in market `pick % 3`).
    Liquidate {
        keeper: u32,
        from_queue: bool,
        pick: usize,
        acct: u32,
        scope: u8,
    },
    /// Move a fraction (ppm; above 1e6: more than is free) of the free cross collateral into
    /// the vault.
    VaultDeposit {
        acct: u32,
        frac_ppm: i64,
    },
    /// Ask to redeem a fraction (ppm) of the shares held.
    VaultRequest {
        acct: u32,
        frac_ppm: i64,
    },
    VaultClaim {
        acct: u32,
    },
    InsuranceDeposit {
        acct: u32,
        micros: i64,
    },
    /// A market order for `lev` times the pool's equity: how accounts get the leverage that
    /// oracle moves turn into flags and bankruptcies.
    Lever {
        acct: u32,
        market: u16,
        buy: bool,
        lev: i64,
        isolated: bool,
    },
    /// Account 0 (deep pockets) quotes `qty` lots `offset_ticks` from the mark: book depth for
    /// leveraged opens and for liquidations to close into.
    Quote {
        market: u16,
        buy: bool,
        offset_ticks: i64,
        qty: i64,
    },
    /// 0: native liquidation on/off, 1: most liquidations per step (0 is invalid), 2: vault
    /// withdrawal delay, 3: vault margin multiplier (below 1x is invalid).
    Venue {
        which: u8,
        raw: u64,
    },
    /// One oracle source's report (`Command::OracleSource`): `move_ppm` (and `jitter` micro-USD)
    /// from the reference price (source 0's last report, else the mark); small for an honest
    /// feed, large for a manipulated one.
    Source {
        market: u16,
        /// 0..=8: source 8 is out of range (always rejected).
        source: u8,
        move_ppm: i64,
        jitter: i64,
        /// The confidence half-width, ppm of the price (0: none; wide ones fail the guard).
        conf_ppm: i64,
        /// 0: published now, 1: `age_ms` ago (stale past `oracle_stale_ms`), 2: frozen (the
        /// source's last publication time again, or `age_ms` ago if it never reported),
        /// 3: `1 + age_ms` in the future (always rejected).
        when: u8,
        age_ms: u64,
    },
    /// Sources 0..n (n in 1..=8) report honest prices near the reference at once, published now:
    /// the multi-feed update that lets a degraded market recover.
    Sources {
        market: u16,
        n: u8,
        jitter: i64,
    },
    /// The driver's volatility (`Command::Volatility`), ppm; out of [0, 1e6] is rejected.
    Volatility {
        market: u16,
        short: i64,
        long: i64,
    },
    /// Switch defence `which` (0 oracle guard, 1 price band, 2 halt breaker, 3 divergence
    /// breaker, 4 dynamic margin, 5 adaptive fee, 6 open-interest cap, 7 stable price,
    /// 8 proactive breaker) on or off, with
    /// parameters drawn from `raw`; `invalid`: one field out of range (always rejected).
    Defence {
        market: u16,
        which: u8,
        on: bool,
        invalid: bool,
        raw: u64,
    },
    /// `Param::MaintenanceOverride` (rejected when dynamic margin is off, or out of range).
    Override {
        market: u16,
        value: Option<i64>,
    },
    /// The impact notional, whole USD: a small one gives the market an impact mid (which the
    /// divergence breaker compares with the oracle), 1e9 takes it away again.
    Impact {
        market: u16,
        whole: i64,
    },
    /// A requote (`Command::Requote`) by `acct` in `market`: its ladder's orders as
    /// `PlaceSpec`s (their own account and market ignored). Applied as its commands one after
    /// another, and checked against the requote applied whole (see `Harness::run_requote`).
    Requote {
        acct: u32,
        market: u16,
        orders: Vec<PlaceSpec>,
    },
}

#[derive(Clone, Debug)]
pub struct Step {
    pub op: Op,
    /// Milliseconds that pass before the command.
    pub dt_ms: u64,
}

pub fn acct() -> impl Strategy<Value = u32> {
    prop_oneof![25 => 0u32..SETUP_ACCOUNTS, 1 => SETUP_ACCOUNTS..ACCOUNTS]
}

pub fn market_id() -> impl Strategy<Value = u16> {
    prop_oneof![40 => 0u16..MARKETS, 1 => Just(MARKETS)]
}

pub fn order_kind() -> impl Strategy<Value = OrderKind> {
    prop_oneof![
        6 => Just(OrderKind::Limit),
        3 => Just(OrderKind::Market),
        3 => Just(OrderKind::Ioc),
        1 => Just(OrderKind::Fok),
        2 => Just(OrderKind::PostOnly),
    ]
}

pub fn self_trade() -> impl Strategy<Value = SelfTrade> {
    prop_oneof![
        3 => Just(SelfTrade::CancelTaker),
        1 => Just(SelfTrade::CancelMaker),
        1 => Just(SelfTrade::CancelBoth),
    ]
}

pub fn place_spec() -> impl Strategy<Value = PlaceSpec> {
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

/// A requote: a ladder of up to a dozen orders, good and bad (`place_spec`'s).
pub fn requote_op() -> impl Strategy<Value = Op> {
    (
        acct(),
        market_id(),
        proptest::collection::vec(place_spec(), 0..12),
    )
        .prop_map(|(acct, market, orders)| Op::Requote {
            acct,
            market,
            orders,
        })
}

/// Which mix of commands a sequence draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Mostly trading, with the liquidation machinery now and then.
    General,
    /// Violent oracle jumps (20-60%), keepers, the vault, the insurance fund, venue parameters
    /// and waterfall toggles, besides the trading.
    Liquidation,
    /// The liquidation mix with the defences switched on and off at random, oracle sources
    /// (honest, manipulated, uncertain, stale, frozen) and volatility reports a third of the
    /// time.
    Defences,
}

/// Oracle sources a market may have (`defence::MAX_ORACLE_SOURCES`).
pub const SOURCES: u8 = bulwark_engine::defence::MAX_ORACLE_SOURCES as u8;

/// The defences' ops (the other profiles draw them now and then, `Profile::Defences` often).
pub fn defence_op() -> impl Strategy<Value = Op> {
    let far = prop_oneof![-600_000i64..=-30_000, 30_000i64..=900_000];
    prop_oneof![
        10 => (
            (market_id(), prop_oneof![40 => 0u8..SOURCES, 1 => Just(SOURCES)]),
            prop_oneof![8 => -4_000i64..=4_000, 1 => far],
            0i64..1_000_000,
            prop_oneof![12 => Just(0i64), 4 => 1i64..=6_000, 1 => 15_000i64..=300_000],
            prop_oneof![24 => Just(0u8), 4 => Just(1u8), 4 => Just(2u8), 1 => Just(3u8)],
            prop_oneof![2 => 0u64..=20_000, 1 => 20_000u64..=200_000],
        )
            .prop_map(|((market, source), move_ppm, jitter, conf_ppm, when, age_ms)| Op::Source {
                market, source, move_ppm, jitter, conf_ppm, when, age_ms,
            }),
        3 => (market_id(), 1u8..=SOURCES, 0i64..1_000_000)
            .prop_map(|(market, n, jitter)| Op::Sources { market, n, jitter }),
        3 => (
            market_id(),
            prop_oneof![10 => 0i64..=40_000, 2 => 40_000i64..=150_000, 1 => -3i64..=-1, 1 => 1_000_001i64..=1_100_000],
            prop_oneof![10 => 2_000i64..=20_000, 1 => Just(0i64), 1 => -3i64..=-1, 1 => 1_000_001i64..=1_100_000],
        )
            .prop_map(|(market, short, long)| Op::Volatility { market, short, long }),
        8 => (market_id(), 0u8..9, proptest::bool::weighted(0.65), proptest::bool::weighted(0.1), any::<u64>())
            .prop_map(|(market, which, on, invalid, raw)| Op::Defence { market, which, on, invalid, raw }),
        2 => (
            market_id(),
            prop_oneof![
                3 => Just(None),
                4 => (3_000i64..=40_000).prop_map(Some),
                1 => prop_oneof![Just(0i64), Just(-1), Just(1_000_001)].prop_map(Some),
            ],
        )
            .prop_map(|(market, value)| Op::Override { market, value }),
        2 => (market_id(), prop_oneof![Just(1_000_000_000i64), 200i64..=5_000])
            .prop_map(|(market, whole)| Op::Impact { market, whole }),
    ]
}

pub fn op(profile: Profile) -> BoxedStrategy<Op> {
    let liq = profile != Profile::General;
    // Weight of an arm in the general and in the liquidation profile.
    let w = |general: u32, liquidation: u32| if liq { liquidation } else { general };
    let base = prop_oneof![
        w(2, 3) => (acct(), prop_oneof![8 => 100i64..=20_000, 1 => -5i64..=0])
            .prop_map(|(acct, whole)| Op::Deposit { acct, micros: whole * MICROS_PER_UNIT + whole.rem_euclid(7) }),
        w(1, 1) => (acct(), 0i64..=1_300_000).prop_map(|(acct, frac_ppm)| Op::Withdraw { acct, frac_ppm }),
        w(20, 16) => place_spec().prop_map(Op::Place),
        w(4, 3) => (acct(), prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8), 1 => Just(4u8)], any::<usize>())
            .prop_map(|(acct, mode, pick)| Op::Cancel { acct, mode, pick }),
        w(1, 1) => (acct(), proptest::option::of(market_id())).prop_map(|(acct, market)| Op::CancelAll { acct, market }),
        w(3, 2) => (prop_oneof![3 => Just(ISOLATED_TRADER), 1 => acct()], prop_oneof![3 => Just(1u16), 1 => market_id()], prop_oneof![3 => 1i64..=3_000, 2 => -3_000i64..=-1, 1 => Just(0i64)])
            .prop_map(|(acct, market, whole)| Op::AdjustIsolated { acct, market, micros: whole * MICROS_PER_UNIT }),
        w(4, 3) => (
            market_id(),
            prop_oneof![6 => -5_000i64..=5_000, 1 => -300_000i64..=300_000, 1 => Just(300_000i64), 1 => Just(-300_000i64)],
            0i64..1_000_000,
            proptest::bool::weighted(0.05),
        )
            .prop_map(|(market, move_ppm, jitter, invalid)| Op::Oracle { market, move_ppm, jitter, invalid }),
        w(3, 3) => prop_oneof![3 => 0u64..=5_000, 2 => 5_000u64..=90_000].prop_map(|dt_ms| Op::Tick { dt_ms }),
        w(1, 1) => (market_id(), 0u8..15, any::<i64>()).prop_map(|(market, which, raw)| Op::SetParam { market, which, raw }),
        w(1, 1) => prop_oneof![3 => Just(Op::Tick { dt_ms: 0 }), 1 => Just(Op::Backwards)],
        // The liquidation machinery.
        w(1, 5) => (market_id(), 200_000i64..=600_000, any::<bool>(), 0i64..1_000_000).prop_map(
            |(market, size, up, jitter)| Op::Move {
                market,
                move_ppm: if up { size } else { -size },
                jitter,
                lo_ppm: 333_333,
                hi_ppm: 3_000_000,
            }
        ),
        // Small nudges (0.2-1.5%) that push leveraged pools just below maintenance, where a
        // book with depth near the mark can absorb a partial liquidation.
        w(1, 4) => (market_id(), 2_000i64..=15_000, any::<bool>(), 0i64..1_000_000).prop_map(
            |(market, size, up, jitter)| Op::Move {
                market,
                move_ppm: if up { size } else { -size },
                jitter,
                lo_ppm: 333_333,
                hi_ppm: 3_000_000,
            }
        ),
        w(1, 6) => (acct(), proptest::bool::weighted(0.8), any::<usize>(), acct(), 0u8..4).prop_map(
            |(keeper, from_queue, pick, acct, scope)| Op::Liquidate { keeper, from_queue, pick, acct, scope }
        ),
        w(1, 2) => (acct(), prop_oneof![6 => 1i64..=1_000_000, 1 => 1_000_001i64..=2_000_000])
            .prop_map(|(acct, frac_ppm)| Op::VaultDeposit { acct, frac_ppm }),
        w(1, 1) => (acct(), 0i64..=1_100_000).prop_map(|(acct, frac_ppm)| Op::VaultRequest { acct, frac_ppm }),
        w(1, 2) => acct().prop_map(|acct| Op::VaultClaim { acct }),
        w(1, 1) => (acct(), prop_oneof![8 => 1i64..=2_000, 1 => -1i64..=0])
            .prop_map(|(acct, whole)| Op::InsuranceDeposit { acct, micros: whole * MICROS_PER_UNIT }),
        w(1, 2) => (0u8..4, any::<u64>()).prop_map(|(which, raw)| Op::Venue { which, raw }),
        w(1, 3) => (market_id(), 15u8..=16, any::<i64>()).prop_map(|(market, which, raw)| Op::SetParam { market, which, raw }),
        w(1, 5) => (acct(), 0u16..MARKETS, any::<bool>(), prop_oneof![1 => 1i64..=5, 2 => 5i64..=40, 1 => 40i64..=90])
            .prop_map(|(acct, market, buy, lev)| Op::Lever { acct, market, buy, lev, isolated: acct == ISOLATED_TRADER && market == 1 }),
        // Quotes, now and then deep ones far from the mark: the book that a deferred
        // bankruptcy (ADL off, no bid) finally closes into.
        w(1, 5) => (0u16..MARKETS, any::<bool>(), prop_oneof![3 => 0i64..=3, 2 => 4i64..=40, 1 => 400i64..=4_000], prop_oneof![1 => 10i64..=200, 1 => 200i64..=3_000])
            .prop_map(|(market, buy, offset_ticks, qty)| Op::Quote { market, buy, offset_ticks, qty }),
    ];
    // The defences' ops: now and then in the general mix (about 4%), a third of the defence
    // mix, never in the liquidation one (its fixed-seed runs must reach rare stages such as
    // socialization, which halts, caps and degraded markets make rarer still).
    match profile {
        Profile::General => prop_oneof![51 => base, 2 => defence_op(), 4 => requote_op()].boxed(),
        Profile::Liquidation => base.boxed(),
        Profile::Defences => prop_oneof![70 => base, 36 => defence_op()].boxed(),
    }
}

pub fn step(profile: Profile) -> impl Strategy<Value = Step> {
    (op(profile), prop_oneof![3 => Just(0u64), 2 => 1u64..=2_000])
        .prop_map(|(op, dt_ms)| Step { op, dt_ms })
}

/// Turn a random parameter value into one of the parameters, mostly in range.
pub fn param_of(which: u8, raw: i64, p: &MarketParams) -> Param {
    let r = raw.unsigned_abs();
    let pick = |lo: i64, hi: i64| lo + (r % ((hi - lo + 1) as u64)) as i64;
    match which {
        0 => Param::Maintenance(Ppm::from_raw(pick(0, 60_000))),
        1 => Param::InitialMultiplier(Ppm::from_raw(pick(900_000, 5_000_000))),
        2 => Param::SizePremium(Ppm::from_raw(pick(0, 120_000))),
        3 => Param::MakerFee(Ppm::from_raw(pick(-600, 800))),
        4 => Param::TakerFee(Ppm::from_raw(pick(0, 1_000))),
        5 => Param::FundingClamp(Ppm::from_raw(pick(0, 20_000))),
        6 => Param::FundingIntervalMs(pick(0, 200_000) as u64),
        7 => Param::TradeEmaAlpha(Ppm::from_raw(pick(0, 1_000_000))),
        8 => Param::ImpactNotionalUsd(Usd::from_micros(pick(0, 5_000) * MICROS_PER_UNIT)),
        9 => Param::OracleStaleMs(pick(1_000, 120_000) as u64),
        10 => Param::MarketOrderBand(Ppm::from_raw(pick(0, 300_000))),
        11 => Param::MaxOrderQty(Qty::from_lots(pick(0, 6_000))),
        12 => Param::MaxPositionQty(Qty::from_lots(pick(0, 60_000))),
        13 => {
            let init = p.initial_price.micros();
            let tick = p.tick_size.micros();
            let v = pick(init / 2, init * 10);
            Param::MaxPrice(Price::from_micros(v - v % tick))
        }
        // Each stage on with probability 1/3 (socialize 2/3), so the late stages get their turn.
        15 => Param::Waterfall(Waterfall {
            vault: r.is_multiple_of(3),
            insurance: (r / 3).is_multiple_of(3),
            adl: (r / 9).is_multiple_of(3),
            socialize: !(r / 27).is_multiple_of(3),
        }),
        16 => Param::AdlPolicy(if r.is_multiple_of(2) {
            AdlPolicy::Ranked
        } else {
            AdlPolicy::ProRata
        }),
        _ => Param::MakerFee(Ppm::from_raw(-p.taker_fee.raw() - 1)),
    }
}

/// Draws one field after another from a random `u64` (a splitmix64 stream).
pub struct Draw(u64);

impl Draw {
    /// A value in `lo..=hi`.
    fn pick(&mut self, lo: i64, hi: i64) -> i64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + (z % (hi - lo + 1) as u64) as i64
    }

    fn ppm(&mut self, lo: i64, hi: i64) -> Ppm {
        Ppm::from_raw(self.pick(lo, hi))
    }

    fn chance(&mut self, per_mille: i64) -> bool {
        self.pick(0, 999) < per_mille
    }
}

/// Longest duration a defence accepts (one day); one more is invalid.
pub const DAY_MS: u64 = bulwark_engine::defence::MAX_DEFENCE_MS;

/// Defence `which` (see `Op::Defence`) switched on or off with parameters drawn from `raw`,
/// in ranges where the mechanisms act within a sequence; `invalid`: one field out of its
/// range. The open-interest cap is drawn around the market's open interest.
pub fn defence_param_of(
    which: u8,
    on: bool,
    invalid: bool,
    raw: u64,
    m: Option<&bulwark_engine::Market>,
) -> Param {
    let mut d = Draw(raw);
    let bad = d.pick(0, 5);
    let mode = |d: &mut Draw| {
        if d.chance(500) {
            HaltMode::Full
        } else {
            HaltMode::ReduceOnly
        }
    };
    match which {
        0 => {
            let min = d.pick(1, 3) as u8;
            let mut g = OracleGuard {
                enabled: on,
                max_confidence: d.ppm(2_000, 50_000),
                max_deviation: d.ppm(5_000, 100_000),
                min_sources: min,
                recover_sources: min + d.pick(0, 2) as u8,
                recover_ms: d.pick(0, 30_000) as u64,
                degraded_liquidation_band: d.ppm(0, 100_000),
            };
            if invalid {
                match bad {
                    0 => g.max_confidence = Ppm::ZERO,
                    1 => g.max_deviation = Ppm::from_raw(1_000_001),
                    2 => g.min_sources = if d.chance(500) { 0 } else { SOURCES + 1 },
                    3 => g.recover_sources = min - 1,
                    4 => g.recover_ms = DAY_MS + 1,
                    _ => g.degraded_liquidation_band = Ppm::from_raw(500_001),
                }
            }
            Param::OracleGuard(g)
        }
        1 => {
            let mut b = PriceBand {
                enabled: on,
                band: d.ppm(1_000, 30_000),
            };
            if invalid {
                b.band = Ppm::from_raw(if bad < 3 { 0 } else { 1_000_000 });
            }
            Param::PriceBand(b)
        }
        2 => {
            let mut h = HaltBreaker {
                enabled: on,
                max_move: d.ppm(10_000, 150_000),
                window_ms: d.pick(5_000, 300_000) as u64,
                cooldown_ms: d.pick(1_000, 120_000) as u64,
                mode: mode(&mut d),
                liquidations: d.chance(500),
            };
            if invalid {
                match bad {
                    0 => h.max_move = Ppm::ZERO,
                    1 => h.max_move = Ppm::ONE,
                    2 | 3 => h.window_ms = if d.chance(500) { 0 } else { DAY_MS + 1 },
                    _ => h.cooldown_ms = if d.chance(500) { 0 } else { DAY_MS + 1 },
                }
            }
            Param::Halt(h)
        }
        3 => {
            let mut v = DivergenceBreaker {
                enabled: on,
                max_divergence: d.ppm(5_000, 60_000),
                cooldown_ms: d.pick(1_000, 120_000) as u64,
                mode: mode(&mut d),
                liquidations: d.chance(500),
            };
            if invalid {
                match bad {
                    0 | 1 => v.max_divergence = Ppm::ZERO,
                    2 => v.max_divergence = Ppm::from_raw(1_000_001),
                    _ => v.cooldown_ms = if d.chance(500) { 0 } else { DAY_MS + 1 },
                }
            }
            Param::Divergence(v)
        }
        4 => {
            let mut dm = DynamicMargin {
                enabled: on,
                floor: d.ppm(2_000, 15_000),
                z: d.ppm(1_000_000, 4_000_000),
                horizon_s: d.pick(60, 3_600) as u64,
                max_change_per_hour: d.ppm(5_000, 200_000),
                step_ms: d.pick(1_000, 60_000) as u64,
                notice_ms: d.pick(0, 30_000) as u64,
                override_maintenance: d.chance(250).then(|| d.ppm(3_000, 30_000)),
            };
            if invalid {
                match bad {
                    0 => dm.floor = Ppm::ZERO,
                    1 => dm.z = Ppm::from_raw(20_000_001),
                    2 => dm.horizon_s = if d.chance(500) { 0 } else { 86_401 },
                    3 => dm.step_ms = 0,
                    4 => dm.notice_ms = DAY_MS + 1,
                    _ => dm.override_maintenance = Some(Ppm::ZERO),
                }
            }
            Param::DynamicMargin(dm)
        }
        5 => {
            let mut f = AdaptiveFee {
                enabled: on,
                slope: d.ppm(0, 5_000_000),
                max_taker_fee: d.ppm(0, 5_000),
                surcharge_insurance_share: d.ppm(0, 1_000_000),
            };
            if invalid {
                match bad {
                    0 => f.slope = Ppm::from_raw(-1),
                    1 => f.slope = Ppm::from_raw(100_000_001),
                    2 | 3 => f.max_taker_fee = Ppm::from_raw(100_001),
                    _ => f.surcharge_insurance_share = Ppm::from_raw(1_000_001),
                }
            }
            Param::AdaptiveFee(f)
        }
        7 => {
            // Fast growth limits too, so the stable price both lags and catches up within a
            // sequence.
            let mut s = StablePrice {
                enabled: on,
                growth_per_hour: d.ppm(10_000, 50_000_000),
            };
            if invalid {
                s.growth_per_hour = Ppm::from_raw(if bad < 3 { 0 } else { 100_000_001 });
            }
            Param::StablePrice(s)
        }
        8 => {
            // Small moves and ratios so that it trips within a sequence's few accounts.
            let mut p = ProactiveBreaker {
                enabled: on,
                move_ppm: d.ppm(5_000, 150_000),
                z: if d.chance(500) {
                    d.ppm(1_000_000, 4_000_000)
                } else {
                    Ppm::ZERO
                },
                horizon_s: d.pick(60, 3_600) as u64,
                max_ratio: d.ppm(100_000, 3_000_000),
                min_at_risk_usd: Usd::from_micros(d.pick(0, 50_000) * 1_000_000),
                check_ms: d.pick(1, 30_000) as u64,
                cooldown_ms: d.pick(1_000, 120_000) as u64,
                mode: mode(&mut d),
                liquidations: d.chance(500),
            };
            if invalid {
                match bad {
                    0 => p.move_ppm = Ppm::ZERO,
                    1 => p.move_ppm = Ppm::from_raw(500_001),
                    2 => p.max_ratio = Ppm::ZERO,
                    3 => p.min_at_risk_usd = Usd::from_micros(-1),
                    4 => p.z = Ppm::from_raw(-1),
                    _ => p.check_ms = if d.chance(500) { 0 } else { DAY_MS + 1 },
                }
            }
            Param::Proactive(p)
        }
        _ => {
            let oi = m.map_or(0, |m| m.open_interest.lots());
            // From a little under the open interest to twice it; the account share is the
            // whole cap a third of the time (else the account cap, checked first, decides).
            let cap = (oi as i128 * d.pick(700_000, 2_000_000) as i128 / 1_000_000) as i64
                + d.pick(1, 200);
            let share = if d.chance(333) {
                Ppm::ONE
            } else {
                d.ppm(50_000, 1_000_000)
            };
            let mut c = OiCap {
                enabled: on,
                max_open_interest: Qty::from_lots(cap),
                max_account_share: share,
                scale_from: d.ppm(0, 900_000),
                scale_max: d.ppm(1_000_000, 5_000_000),
            };
            if invalid {
                match bad {
                    0 => c.max_open_interest = Qty::from_lots(-d.pick(0, 1)),
                    1 => c.max_account_share = Ppm::ZERO,
                    2 => c.scale_from = Ppm::ONE,
                    3 => c.scale_max = Ppm::from_raw(999_999),
                    _ => c.scale_max = Ppm::from_raw(10_000_001),
                }
            }
            Param::OiCap(c)
        }
    }
}

/// The commands that set up the generator's venue, all at one time: the two markets of
/// `market_params`, accounts 0..SETUP_ACCOUNTS funded (2,000 to 10,000 USD), an oracle price
/// for each market. With `liquidation`, also: the mark follows the oracle (no impact mid), a
/// vault withdrawal delay of 3 s, account 0 with deep pockets funding the vault, and an
/// insurance fund.
pub fn setup_commands(liquidation: bool) -> Vec<Command> {
    let mut out = Vec::new();
    for params in market_params() {
        out.push(Command::CreateMarket {
            params: Box::new(params),
        });
    }
    for a in 0..SETUP_ACCOUNTS {
        out.push(Command::Deposit {
            account: AccountId(a),
            // 2,000 to 10,000 USD: the small accounts run at real leverage.
            amount_usd: whole_usd(2_000 * (SETUP_ACCOUNTS - a) as i64),
        });
    }
    for (m, px) in [(0u16, 50_000), (1, 3_000)] {
        out.push(Command::OraclePrice {
            market: MarketId(m),
            price: Price::from_micros(px * MICROS_PER_UNIT),
        });
    }
    if liquidation {
        for m in 0..MARKETS {
            // No impact mid: the mark is the mean of the oracle and the trade EMA, so an
            // oracle jump moves it by half (a book full of stale orders would pin it).
            out.push(Command::SetParam {
                market: MarketId(m),
                param: Param::ImpactNotionalUsd(whole_usd(1_000_000_000)),
            });
        }
        out.push(Command::SetVenueParam {
            param: VenueParam::VaultWithdrawalDelayMs(3_000),
        });
        // Account 0 has deep pockets: it quotes (`Op::Quote`) and funds the vault.
        out.push(Command::Deposit {
            account: AccountId(0),
            amount_usd: whole_usd(2_000_000),
        });
        out.push(Command::VaultDeposit {
            account: AccountId(0),
            amount_usd: whole_usd(40_000),
        });
        out.push(Command::InsuranceDeposit {
            account: AccountId(1),
            amount_usd: whole_usd(500),
        });
    }
    out
}

/// What a generated step reads to become commands: the engine, the time of the command and
/// every order id accepted so far (for cancels of old ids).
pub struct View<'a> {
    pub engine: &'a Engine,
    pub now: u64,
    pub seen: &'a [(MarketId, OrderId)],
}

impl View<'_> {
    pub fn params(&self, market: u16) -> MarketParams {
        match self.engine.market(MarketId(market)) {
            Some(m) => m.params.clone(),
            None => market_params()[0].clone(),
        }
    }

    pub fn mark(&self, market: u16) -> i64 {
        self.engine
            .market(MarketId(market))
            .map_or(50_000 * MICROS_PER_UNIT, |m| m.mark.micros())
    }

    /// Turn a generated step into a concrete command, reading the engine's current state.
    pub fn command_of(&self, op: &Op) -> Command {
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
                    qty: Qty::from_lots(s.qty),
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
                    2 => choose(self.seen),
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
                    .and_then(|m| m.last_oracle().map(|o| o.price))
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
            Op::Move {
                market,
                move_ppm,
                jitter,
                lo_ppm,
                hi_ppm,
            } => {
                let base = self
                    .engine
                    .market(MarketId(*market))
                    .and_then(|m| m.last_oracle().map(|o| o.price))
                    .map_or(self.mark(*market), |p| p.micros()) as i128;
                let initial = market_params()[(*market % MARKETS) as usize]
                    .initial_price
                    .micros() as i128;
                let mut mv = *move_ppm as i128;
                if (mv < 0 && base * 1_000_000 < initial * *lo_ppm as i128)
                    || (mv > 0 && base * 1_000_000 > initial * *hi_ppm as i128)
                {
                    mv = -mv;
                }
                let price = base * (1_000_000 + mv) / 1_000_000 + *jitter as i128;
                Command::OraclePrice {
                    market: MarketId(*market),
                    price: Price::from_micros(price.max(1) as i64),
                }
            }
            Op::Liquidate {
                keeper,
                from_queue,
                pick,
                acct,
                scope,
            } => {
                let queue = self.engine.liquidation_queue();
                let (account, scope) = match queue.get(pick % queue.len().max(1)) {
                    Some(e) if *from_queue => (e.account, e.scope),
                    _ => {
                        let scope = match scope {
                            0 | 1 => Scope::Cross,
                            2 => Scope::Isolated(MarketId(1)),
                            _ => Scope::Isolated(MarketId((*pick % 3) as u16)),
                        };
                        (AccountId(*acct), scope)
                    }
                };
                // A keeper from the queue never names itself (random picks may).
                let keeper = if *from_queue && *keeper == account.0 {
                    (keeper + 1) % SETUP_ACCOUNTS
                } else {
                    *keeper
                };
                Command::Liquidate {
                    keeper: AccountId(keeper),
                    account,
                    scope,
                }
            }
            Op::Lever {
                acct,
                market,
                buy,
                lev,
                isolated,
            } => {
                let scope = if *isolated {
                    Scope::Isolated(MarketId(*market))
                } else {
                    Scope::Cross
                };
                // Margin still free in the pool (for an isolated pool not funded yet: the cross
                // pool's), levered up: at ~95x this spends nearly all of it.
                let free = |scope: Scope| {
                    self.engine.health(AccountId(*acct), scope).map_or(0, |h| {
                        (h.equity_usd.micros() - h.initial_usd.micros()).max(0)
                    }) as i128
                };
                let room = free(scope).max(if *isolated { 0 } else { free(Scope::Cross) });
                let p = self.params(*market);
                let lot_value = (self.mark(*market) as i128 / p.lots_per_unit as i128).max(1);
                let qty =
                    (room * *lev as i128 / lot_value).clamp(1, p.max_order_qty.lots() as i128);
                // An IOC at the price account 0 quotes (`quote_for`): a market order's limit is
                // the band edge, and the risk check would count the whole band as adverse.
                let tick = p.tick_size.micros();
                let mark = self.mark(*market);
                let price = if *buy {
                    mark - mark % tick + tick
                } else {
                    (mark - mark % tick).max(tick)
                };
                Command::PlaceOrder(PlaceOrder {
                    account: AccountId(*acct),
                    market: MarketId(*market),
                    side: side_of(*buy),
                    kind: OrderKind::Ioc,
                    price: Some(Price::from_micros(price)),
                    qty: Qty::from_lots(qty as i64),
                    reduce_only: false,
                    self_trade: SelfTrade::CancelTaker,
                    margin: if *isolated {
                        MarginMode::Isolated
                    } else {
                        MarginMode::Cross
                    },
                })
            }
            Op::Quote {
                market,
                buy,
                offset_ticks,
                qty,
            } => {
                let tick = self.params(*market).tick_size.micros();
                let mark = self.mark(*market);
                let at = mark - mark % tick;
                let price = if *buy {
                    at - offset_ticks * tick
                } else {
                    at + (1 + offset_ticks) * tick
                };
                Command::PlaceOrder(PlaceOrder {
                    account: AccountId(0),
                    market: MarketId(*market),
                    side: side_of(*buy),
                    kind: OrderKind::Limit,
                    price: Some(Price::from_micros(price.max(tick))),
                    qty: Qty::from_lots(*qty),
                    reduce_only: false,
                    self_trade: SelfTrade::CancelTaker,
                    margin: MarginMode::Cross,
                })
            }
            Op::VaultDeposit { acct, frac_ppm } => {
                let free = self
                    .engine
                    .account(AccountId(*acct))
                    .zip(self.engine.health(AccountId(*acct), Scope::Cross).ok())
                    .map_or(0, |(a, h)| {
                        a.collateral_usd
                            .micros()
                            .min(h.equity_usd.micros() - h.initial_usd.micros())
                            .max(0)
                    });
                Command::VaultDeposit {
                    account: AccountId(*acct),
                    amount_usd: Usd::from_micros(
                        (free as i128 * *frac_ppm as i128 / 1_000_000) as i64,
                    ),
                }
            }
            Op::VaultRequest { acct, frac_ppm } => {
                let held = self
                    .engine
                    .vault()
                    .shares
                    .get(&AccountId(*acct))
                    .copied()
                    .unwrap_or(0);
                Command::VaultRequestWithdrawal {
                    account: AccountId(*acct),
                    shares: (held as u128 * *frac_ppm as u128 / 1_000_000) as u64,
                }
            }
            Op::VaultClaim { acct } => Command::VaultClaimWithdrawal {
                account: AccountId(*acct),
            },
            Op::InsuranceDeposit { acct, micros } => Command::InsuranceDeposit {
                account: AccountId(*acct),
                amount_usd: Usd::from_micros(*micros),
            },
            Op::Venue { which, raw } => Command::SetVenueParam {
                param: match which {
                    0 => VenueParam::NativeLiquidation(raw % 2 == 1),
                    1 => VenueParam::MaxLiquidationsPerStep((raw % 4) as u32),
                    2 => VenueParam::VaultWithdrawalDelayMs(raw % 20_000),
                    _ => VenueParam::VaultMarginMultiplier(Ppm::from_raw((raw % 6_000_000) as i64)),
                },
            },
            Op::Tick { .. } | Op::Backwards => Command::Tick,
            Op::SetParam { market, which, raw } => Command::SetParam {
                market: MarketId(*market),
                param: param_of(*which, *raw, &self.params(*market)),
            },
            Op::Source {
                market,
                source,
                move_ppm,
                jitter,
                conf_ppm,
                when,
                age_ms,
            } => {
                let now = self.now;
                let last = self
                    .engine
                    .market(MarketId(*market))
                    .and_then(|m| m.defence.sources.get(*source as usize).copied().flatten());
                let (price, published) = match (when, last) {
                    // A frozen feed: its last report again, word for word.
                    (2, Some(r)) => (r.price.micros(), r.published.0),
                    _ => {
                        let reference = self.reference_price(*market) as i128;
                        let price = reference * (1_000_000 + *move_ppm as i128) / 1_000_000
                            + *jitter as i128;
                        let published = match when {
                            0 => now,
                            1 | 2 => now.saturating_sub(*age_ms),
                            _ => now + 1 + age_ms,
                        };
                        (price.clamp(1, i64::MAX as i128) as i64, published)
                    }
                };
                Command::OracleSource {
                    market: MarketId(*market),
                    source: *source,
                    price: Price::from_micros(price),
                    confidence: Price::from_micros(
                        (price as i128 * *conf_ppm as i128 / 1_000_000) as i64,
                    ),
                    published_ms: published,
                }
            }
            // The burst is `commands_of`'s; alone, its first report.
            Op::Sources { .. } => self.commands_of(op).swap_remove(0),
            Op::Volatility {
                market,
                short,
                long,
            } => Command::Volatility {
                market: MarketId(*market),
                short: Ppm::from_raw(*short),
                long: Ppm::from_raw(*long),
            },
            Op::Defence {
                market,
                which,
                on,
                invalid,
                raw,
            } => Command::SetParam {
                market: MarketId(*market),
                param: defence_param_of(
                    *which,
                    *on,
                    *invalid,
                    *raw,
                    self.engine.market(MarketId(*market)),
                ),
            },
            Op::Override { market, value } => Command::SetParam {
                market: MarketId(*market),
                param: Param::MaintenanceOverride(value.map(Ppm::from_raw)),
            },
            Op::Impact { market, whole } => Command::SetParam {
                market: MarketId(*market),
                param: Param::ImpactNotionalUsd(whole_usd(*whole)),
            },
            Op::Requote { .. } => Command::Requote(self.requote_of(op)),
        }
    }

    /// The requote of an `Op::Requote`, its prices drawn from the marks now.
    pub fn requote_of(&self, op: &Op) -> Requote {
        let Op::Requote {
            acct,
            market,
            orders,
        } = op
        else {
            panic!("not a requote: {op:?}");
        };
        let orders = orders
            .iter()
            .map(|spec| {
                let spec = PlaceSpec {
                    acct: *acct,
                    market: *market,
                    ..spec.clone()
                };
                let Command::PlaceOrder(o) = self.command_of(&Op::Place(spec)) else {
                    panic!("a place spec makes an order");
                };
                QuoteOrder {
                    side: o.side,
                    kind: o.kind,
                    price: o.price,
                    qty: o.qty,
                    reduce_only: o.reduce_only,
                    self_trade: o.self_trade,
                    margin: o.margin,
                }
            })
            .collect();
        Requote {
            account: AccountId(*acct),
            market: MarketId(*market),
            orders,
        }
    }

    /// The commands of one step: one, except for a burst of oracle sources and a requote
    /// (the commands it stands for).
    pub fn commands_of(&self, op: &Op) -> Vec<Command> {
        if let Op::Requote { .. } = op {
            return self.requote_of(op).commands().collect();
        }
        let Op::Sources { market, n, jitter } = op else {
            return vec![self.command_of(op)];
        };
        let reference = self.reference_price(*market);
        (0..*n)
            .map(|s| {
                // Within +/- 0.1% of the reference (spread by source), and a little jitter.
                let spread = (s as i64 - 4) * 250;
                let price = reference as i128 * (1_000_000 + spread as i128) / 1_000_000
                    + (*jitter % 1_000_000) as i128;
                Command::OracleSource {
                    market: MarketId(*market),
                    source: s,
                    price: Price::from_micros(price.max(1) as i64),
                    confidence: Price::ZERO,
                    published_ms: self.now,
                }
            })
            .collect()
    }

    /// The price honest oracle sources report near: source 0's last report (the one
    /// `OraclePrice` and the jumps move), else the mark.
    pub fn reference_price(&self, market: u16) -> i64 {
        self.engine
            .market(MarketId(market))
            .and_then(|m| m.defence.sources[0])
            .map_or(self.mark(market), |r| r.price.micros())
    }

    /// For the setups where account 0 has deep pockets: a market or IOC order of another account
    /// (`Op::Lever` and random ones) is preceded by account 0's limit order on the other side,
    /// at the mark, for the same quantity (cancelling its own stale orders it would cross).
    pub fn quote_for(&self, cmd: &Command) -> Option<Command> {
        let Command::PlaceOrder(o) = cmd else {
            return None;
        };
        let taker = matches!(o.kind, OrderKind::Market | OrderKind::Ioc);
        if !taker || o.account == AccountId(0) || o.market.0 >= MARKETS {
            return None;
        }
        let tick = self.params(o.market.0).tick_size.micros();
        let mark = self.mark(o.market.0);
        let price = match o.side {
            Side::Buy => mark - mark % tick + tick,
            Side::Sell => mark - mark % tick,
        };
        Some(Command::PlaceOrder(PlaceOrder {
            account: AccountId(0),
            market: o.market,
            side: o.side.opposite(),
            kind: OrderKind::Limit,
            price: Some(Price::from_micros(price.max(tick))),
            qty: o.qty,
            reduce_only: false,
            self_trade: SelfTrade::CancelMaker,
            margin: MarginMode::Cross,
        }))
    }
}
