//! Shared by the hand-computed liquidation tests (`liquidation.rs`, `adl_ranking.rs`): the
//! simple test market and a venue that applies commands one millisecond apart.
//!
//! The market keeps the arithmetic easy to follow: 1 lot = 1 unit, price 1,000, maintenance
//! 5%, initial 2x (10%), liquidation ends at 1.5x maintenance, penalty 1% (20% of it to the
//! keeper), band 2%, no trading fees. The impact notional is huge, so the impact mid never
//! exists and the mark is the mean of the oracle and the trade EMA.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use bulwark_engine::*;

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
