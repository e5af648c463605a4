//! ADL is ranked at each bankruptcy: who pays for a bankruptcy must not depend on how
//! liquidations are batched into commands.
//!
//! The market is the one of `tests/liquidation.rs`: 1 lot = 1 unit, price 1,000, maintenance
//! 5%, initial 2x (10%), no trading fees, a huge impact notional so that the mark is the mean of
//! the oracle and the trade EMA (1,000 after the opening trades). The vault stage is off and
//! the insurance fund is empty, so every deficit goes to the ADL counterparties.

use bulwark_engine::*;

fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}
fn px(s: &str) -> Price {
    s.parse().unwrap()
}

fn params() -> MarketParams {
    let mut p = MarketParams::btc_like("TEST-PERP", px("1000"));
    p.lots_per_unit = 1;
    p.maintenance = Ppm(50_000);
    p.initial_multiplier = Ppm(2_000_000);
    p.size_premium = Ppm(0);
    p.maker_fee = Ppm(0);
    p.taker_fee = Ppm(0);
    p.insurance_fee_share = Ppm(0);
    p.liquidation_end_multiplier = Ppm(1_500_000);
    p.liquidation_penalty = Ppm(10_000);
    p.keeper_reward_share = Ppm(200_000);
    p.liquidation_band = Ppm(20_000);
    p.impact_notional_usd = usd("1000000000");
    p.max_position_qty = Qty(1_000_000);
    p.max_price = px("100000");
    p.waterfall.vault = false;
    p
}

struct Venue {
    e: Engine,
    t: u64,
}

impl Venue {
    fn new(p: MarketParams) -> Venue {
        let mut v = Venue {
            e: Engine::default(),
            t: 0,
        };
        v.ok(Command::SetVenueParam {
            param: VenueParam::NativeLiquidation(false),
        });
        v.ok(Command::CreateMarket { params: p });
        v
    }
    fn ok(&mut self, c: Command) -> Vec<Event> {
        self.t += 1;
        match self.e.apply(&c, TimestampMs(self.t)) {
            Ok(ev) => ev.to_vec(),
            Err(r) => panic!("{c:?} rejected: {r}"),
        }
    }
    fn deposit(&mut self, a: u32, amount: &str) {
        self.ok(Command::Deposit {
            account: AccountId(a),
            amount_usd: usd(amount),
        });
    }
    fn limit(&mut self, a: u32, side: Side, price: &str, qty: i64) -> Vec<Event> {
        self.ok(Command::PlaceOrder(PlaceOrder {
            account: AccountId(a),
            market: MarketId(0),
            side,
            kind: OrderKind::Limit,
            price: Some(px(price)),
            qty: Qty(qty),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        }))
    }
    fn venue(&mut self, param: VenueParam) {
        self.ok(Command::SetVenueParam { param });
    }
}

/// (bankrupt, counterparty, qty, price, haircut) of every `Deleveraged` event, in order.
type Adl = (u32, u32, Qty, Price, Usd);

fn deleveraged(events: &[Event]) -> Vec<Adl> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged {
                bankrupt,
                counterparty,
                qty,
                price,
                haircut_usd,
                ..
            } => Some((bankrupt.0, counterparty.0, *qty, *price, *haircut_usd)),
            _ => None,
        })
        .collect()
}

const T1: u32 = 1;
const T2: u32 = 2;
const X: u32 = 10;
const Y: u32 = 11;
const Z: u32 = 12;
const U: u32 = 13;

/// Shorts X, Y, Z of 10 each, entered at 1,000, with 2,000, 3,000 and 10,000 of collateral;
/// longs T1 and T2 of 5 each with 900 and 950, and U long 20 with plenty.
fn two_thin_longs(max_liquidations_per_step: u32) -> Venue {
    let mut v = Venue::new(params());
    for (a, c) in [
        (X, "2000"),
        (Y, "3000"),
        (Z, "10000"),
        (T1, "900"),
        (T2, "950"),
        (U, "100000"),
    ] {
        v.deposit(a, c);
    }
    for s in [X, Y, Z] {
        v.limit(s, Side::Sell, "1000", 10);
    }
    v.limit(T1, Side::Buy, "1000", 5);
    v.limit(T2, Side::Buy, "1000", 5);
    v.limit(U, Side::Buy, "1000", 20);
    v.venue(VenueParam::MaxLiquidationsPerStep(
        max_liquidations_per_step,
    ));
    v.venue(VenueParam::NativeLiquidation(true));
    v
}

/// Oracle 600 -> mark 800 (mean of the oracle and the EMA of 1,000). The book is empty, so both
/// thin longs go straight to the waterfall:
/// T1: 900 + 4,000 - 5,000 = -100 (shortfall 200 + 100 = 300), liquidated first;
/// T2: 950 + 4,000 - 5,000 = -50 (shortfall 250).
///
/// Scores (upnl / |cost| x notional / equity, in ppm) at mark 800, each short up 2,000 on a
/// cost of 10,000 with a notional of 8,000:
/// X: 0.2 x 8,000 / 4,000 = 400,000; Y: 0.2 x 8,000 / 5,000 = 320,000;
/// Z: 0.2 x 8,000 / 12,000 = 133,333. T1's 5 lots close against X at the mark (X realizes
/// 1,000) and X pays T1's whole deficit of 100: X closes at 800 + 100 / 5 = 820.
/// X is then short 5 with a cost of 5,000, upnl 1,000, collateral 2,000 + 1,000 - 100 = 2,900,
/// equity 3,900: 0.2 x 4,000 / 3,900 = 205,128 < Y's 320,000. So T2's 5 lots close against Y,
/// which pays T2's deficit of 50: it closes at 800 + 50 / 5 = 810.
fn expected() -> Vec<Adl> {
    vec![
        (T1, X, Qty(-5), px("820"), usd("100")),
        (T2, Y, Qty(-5), px("810"), usd("50")),
    ]
}

#[test]
fn adl_reranks_after_a_haircut_within_one_command() {
    let mut v = two_thin_longs(256);
    let ev = v.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("800"));
    assert_eq!(deleveraged(&ev), expected());
    let qty = |v: &Venue, a: u32| {
        v.e.account(AccountId(a))
            .unwrap()
            .position(MarketId(0))
            .map_or(Qty(0), |p| p.qty)
    };
    assert_eq!(
        [qty(&v, X), qty(&v, Y), qty(&v, Z)],
        [Qty(-5), Qty(-5), Qty(-10)]
    );
    let adl_paid = |v: &Venue, a: u32| v.e.account(AccountId(a)).unwrap().adl_haircut_usd;
    assert_eq!(
        [adl_paid(&v, X), adl_paid(&v, Y), adl_paid(&v, Z)],
        [usd("100"), usd("50"), Usd::ZERO]
    );
}

#[test]
fn the_same_counterparties_pay_however_liquidations_are_batched() {
    // One liquidation per command: T1 with the oracle print, T2 at the next tick (the mark stays
    // at 800: the oracle is fresh and ADL fills do not feed the trade EMA).
    let mut v = two_thin_longs(1);
    let mut ev = v.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(deleveraged(&ev), expected()[..1]);
    ev.extend(v.ok(Command::Tick));
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("800"));
    assert_eq!(deleveraged(&ev), expected());
    // Both in one command: the same victims, the same amounts.
    let mut batched = two_thin_longs(256);
    let ev = batched.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(deleveraged(&ev), expected());
}
