//! Hand-computed cases for matching, fees, PnL, margin, funding and isolated margin.
//! Every number in an assertion is worked out in the comment above it.

use bulwark_engine::*;

mod common;
use common::quote;

fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}
fn px(s: &str) -> Price {
    s.parse().unwrap()
}

/// One BTC market: 0.1 USD ticks, 0.001 BTC lots, 0.5% maintenance, 2x initial, no size
/// premium, 2 bp maker, 5 bp taker, hourly funding.
fn venue() -> Engine {
    let mut e = Engine::default();
    let mut p = MarketParams::btc_like("BTC-PERP", px("50000"));
    p.size_premium = Ppm::from_raw(0);
    e.apply(
        &Command::CreateMarket {
            params: Box::new(p),
        },
        TimestampMs(0),
    )
    .unwrap();
    for (acct, amount) in [(0, "1000000"), (1, "10000"), (2, "10000")] {
        deposit(&mut e, acct, amount);
    }
    e
}

fn deposit(e: &mut Engine, account: u32, amount: &str) {
    let cmd = Command::Deposit {
        account: AccountId(account),
        amount_usd: usd(amount),
    };
    let now = e.last_ms();
    e.apply(&cmd, now).unwrap();
}

fn order(account: u32, side: Side, kind: OrderKind, price: Option<&str>, qty: i64) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account: AccountId(account),
        market: MarketId(0),
        side,
        kind,
        price: price.map(px),
        qty: Qty::from_lots(qty),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

fn collateral(e: &Engine, account: u32) -> Usd {
    e.account(AccountId(account)).unwrap().collateral_usd
}

fn position(e: &Engine, account: u32) -> Position {
    *e.account(AccountId(account))
        .unwrap()
        .position(MarketId(0))
        .unwrap()
}

type FillRow = (Price, Qty, Usd, Usd, Usd);

fn fills(events: &[Event]) -> Vec<FillRow> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::Fill {
                price,
                qty,
                notional_usd,
                maker_fee_usd,
                taker_fee_usd,
                ..
            } => Some((*price, *qty, *notional_usd, *maker_fee_usd, *taker_fee_usd)),
            _ => None,
        })
        .collect()
}

/// (rate, price, index step, open interest) of a market's funding settlement.
fn funding_of(events: &[Event], m: MarketId) -> (Ppm, Price, i128, Qty) {
    events
        .iter()
        .find_map(|ev| match ev {
            Event::FundingSettled {
                market,
                rate,
                price,
                index_step,
                open_interest,
            } if *market == m => Some((*rate, *price, *index_step, *open_interest)),
            _ => None,
        })
        .expect("a funding settlement")
}

/// Account 0 quotes 5 BTC each side at 49,990 / 50,010.
fn quoted_venue() -> Engine {
    let mut e = venue();
    e.apply(
        &order(0, Side::Sell, OrderKind::Limit, Some("50010"), 5000),
        TimestampMs(1),
    )
    .unwrap();
    e.apply(
        &order(0, Side::Buy, OrderKind::Limit, Some("49990"), 5000),
        TimestampMs(1),
    )
    .unwrap();
    e
}

/// The quoted venue after account 1 buys 1 BTC, then sells 0.4.
/// Inputs (oracle, trade EMA) stay fresh for an hour and a second.
fn stale_after_an_hour(market: MarketId) -> Command {
    Command::SetParam {
        market,
        param: bulwark_engine::Param::OracleStaleMs(3_601_000),
    }
}

fn traded_venue() -> Engine {
    let mut e = quoted_venue();
    e.apply(
        &order(1, Side::Buy, OrderKind::Limit, Some("50010"), 1000),
        TimestampMs(2),
    )
    .unwrap();
    e.apply(
        &order(1, Side::Sell, OrderKind::Ioc, Some("49990"), 400),
        TimestampMs(3),
    )
    .unwrap();
    e
}

#[test]
fn matching_fees_and_realized_pnl() {
    let mut e = quoted_venue();

    // 1 BTC at 50,010: notional 50,010; taker 5 bp = 25.005; maker 2 bp = 10.002.
    let buy = order(1, Side::Buy, OrderKind::Limit, Some("50010"), 1000);
    let ev = e.apply(&buy, TimestampMs(2)).unwrap();
    assert_eq!(
        fills(ev),
        vec![(
            px("50010"),
            Qty::from_lots(1000),
            usd("50010"),
            usd("10.002"),
            usd("25.005")
        )]
    );
    assert_eq!(collateral(&e, 1), usd("9974.995"));
    assert_eq!(collateral(&e, 0), usd("999989.998"));
    assert_eq!(
        (position(&e, 1).qty, position(&e, 1).cost_usd),
        (Qty::from_lots(1000), usd("50010"))
    );
    assert_eq!(
        (position(&e, 0).qty, position(&e, 0).cost_usd),
        (Qty::from_lots(-1000), usd("-50010"))
    );

    // Sell 0.4 BTC into the 49,990 bid: notional 19,996. Account 1 closes 400 of 1,000 lots
    // whose cost is 20,004: realized -8, fee 9.998 -> 9,974.995 - 8 - 9.998 = 9,956.997.
    // Account 0 closes 400 of its short (cost -20,004) for 19,996: realized +8, maker fee
    // 3.9992 -> 999,989.998 + 8 - 3.9992 = 999,993.9988.
    let sell = order(1, Side::Sell, OrderKind::Ioc, Some("49990"), 400);
    let ev = e.apply(&sell, TimestampMs(3)).unwrap();
    let realized: Vec<(Usd, Usd)> = ev
        .iter()
        .filter_map(|ev| match ev {
            Event::Fill {
                maker_realized_pnl_usd,
                taker_realized_pnl_usd,
                ..
            } => Some((*maker_realized_pnl_usd, *taker_realized_pnl_usd)),
            _ => None,
        })
        .collect();
    assert_eq!(realized, vec![(usd("8"), usd("-8"))]);
    assert_eq!(collateral(&e, 1), usd("9956.997"));
    assert_eq!(collateral(&e, 0), usd("999993.9988"));
    assert_eq!(position(&e, 1).cost_usd, usd("30006"));
    assert_eq!(position(&e, 0).cost_usd, usd("-30006"));
    // Fees: 10.002 + 25.005 + 3.9992 + 9.998 = 49.0042, half of each fill's fees to the
    // insurance fund: 17.5035 + 6.9986 = 24.5021 each.
    assert_eq!(e.fee_pool_usd(), usd("24.5021"));
    assert_eq!(e.insurance_usd(), usd("24.5021"));
    assert_eq!(
        e.market(MarketId(0)).unwrap().open_interest,
        Qty::from_lots(600)
    );
    // The book: 4,000 lots left at 50,010 and 4,600 at 49,990.
    let book = &e.market(MarketId(0)).unwrap().book;
    assert_eq!(
        book.levels(Side::Sell).collect::<Vec<_>>(),
        vec![(px("50010"), Qty::from_lots(4000), 1)]
    );
    assert_eq!(
        book.levels(Side::Buy).collect::<Vec<_>>(),
        vec![(px("49990"), Qty::from_lots(4600), 1)]
    );
}

#[test]
fn health_by_hand() {
    let e = traded_venue();
    // Mark is still the initial 50,000 (no tick or oracle yet). Account 1: long 600 lots
    // (0.6 BTC) costing 30,006: value 30,000, upnl -6 -> equity 9,956.997 - 6 = 9,950.997.
    // Maintenance 0.5% of 30,000 = 150; initial 2x = 300.
    let h = e.health(AccountId(1), Scope::Cross).unwrap();
    let want = Health {
        equity_usd: usd("9950.997"),
        initial_usd: usd("300"),
        maintenance_usd: usd("150"),
    };
    assert_eq!(h, want);
    // Account 0: short 600 (cost -30,006) -> upnl +6; resting 4,000 sells and 4,600 buys:
    // worst case max(|-600 + 4600|, |-600 - 4000|) = 4,600 lots = 230,000 USD -> initial 2,300.
    let h = e.health(AccountId(0), Scope::Cross).unwrap();
    assert_eq!(h.equity_usd, usd("999999.9988"));
    assert_eq!(h.maintenance_usd, usd("150"));
    assert_eq!(h.initial_usd, usd("2300"));
}

#[test]
fn insufficient_margin_is_rejected_and_changes_nothing() {
    let mut e = traded_venue();
    let before = state_hash(&e);
    // 30 BTC at 50,010 for account 2 (10,000 USD): initial on 1,500,000 of notional at the
    // mark = 15,000. The plan fills 4 BTC at 50,010 (10 above the mark: 40 lost at once, taker
    // fee 5 bp of 200,040 = 100.02) and rests 26 BTC at 50,010 (260 above the mark, maker fee
    // 2 bp of 1,300,260 = 260.052). Required 15,660.072 > 10,000.
    let big = order(2, Side::Buy, OrderKind::Limit, Some("50010"), 30_000);
    let r = e.apply(&big, TimestampMs(4));
    let want = Reject::InsufficientMargin {
        equity: usd("10000"),
        required: usd("15660.072"),
    };
    assert_eq!(r.unwrap_err(), want);
    assert_eq!(state_hash(&e), before);
    // A time in the past is refused too, and also changes nothing.
    let r = e.apply(&Command::Tick, TimestampMs(2));
    assert!(matches!(r, Err(Reject::TimeWentBackwards { .. })));
    assert_eq!(state_hash(&e), before);
}

#[test]
fn last_events_are_what_apply_returned_and_none_after_a_rejection() {
    let mut e = quoted_venue();
    let taker = order(2, Side::Buy, OrderKind::Ioc, Some("50010"), 100);
    let returned = e.apply(&taker, TimestampMs(4)).unwrap().to_vec();
    assert!(!fills(&returned).is_empty(), "the IOC trades");
    assert_eq!(e.last_events(), returned.as_slice());
    let r = e.apply(&Command::Tick, TimestampMs(2));
    assert!(matches!(r, Err(Reject::TimeWentBackwards { .. })));
    assert!(e.last_events().is_empty());
}

#[test]
fn funding_by_hand() {
    let mut e = traded_venue();
    // The trades are an hour old when the oracle prints: keep the trade EMA fresh that long
    // (a trade EMA older than `oracle_stale_ms` no longer moves the mark).
    e.apply(&stale_after_an_hour(MarketId(0)), TimestampMs(3))
        .unwrap();
    // Trades at 50,010 then 49,990: EMA 50,010 + 0.1 x (-20) = 50,008. Impact mid of
    // 49,990 / 50,010 = 50,000. Oracle 49,900. Mark = median(49,900, 50,000, 50,008) = 50,000.
    let oracle = Command::OraclePrice {
        market: MarketId(0),
        price: px("49900"),
    };
    e.apply(&oracle, TimestampMs(3_599_000)).unwrap();
    assert_eq!(e.market(MarketId(0)).unwrap().mark, px("50000"));
    // Premium (50,000 - 49,900) / 49,900 = 2,004 ppm (floor). At the hourly settlement the
    // longs' funding index rises by 49,900 USD x 2,004 ppm = 49,900,000,000 x 2,004 =
    // 99,999,600,000,000 (micro-USD x ppm per BTC); the shorts' falls as much. Open interest:
    // 0.6 BTC = 600 lots.
    let h1 = e.health(AccountId(1), Scope::Cross).unwrap();
    let ev = e
        .apply(&Command::Tick, TimestampMs(3_600_000))
        .unwrap()
        .to_vec();
    let want = (
        Ppm::from_raw(2_004),
        px("49900"),
        99_999_600_000_000,
        Qty::from_lots(600),
    );
    assert_eq!(funding_of(&ev, MarketId(0)), want);
    // Nobody was touched: collateral is as before. The long owes ceil(600 x 99,999,600,000,000 /
    // (1,000 x 1e6)) = 59,999,760 micro-USD = 59.99976 USD, the short receives as much; the
    // queries and the long's equity count it already.
    assert_eq!(collateral(&e, 1), usd("9956.997"));
    assert_eq!(collateral(&e, 0), usd("999993.9988"));
    let m = MarketId(0);
    assert_eq!(e.funding_total(AccountId(1), m).unwrap(), usd("59.99976"));
    assert_eq!(e.funding_total(AccountId(0), m).unwrap(), usd("-59.99976"));
    assert_eq!(position(&e, 1).funding_paid_usd, Usd::ZERO);
    let h1_after = e.health(AccountId(1), Scope::Cross).unwrap();
    assert_eq!(
        h1.equity_usd.checked_sub(h1_after.equity_usd).unwrap(),
        usd("59.99976")
    );
    // The long's next order settles it (here one that only rests): 9,956.997 - 59.99976 =
    // 9,896.99724, and its health does not change. The funding clearing balance holds what
    // was paid until the short settles.
    let rest = order(1, Side::Buy, OrderKind::Limit, Some("40000"), 1);
    e.apply(&rest, TimestampMs(3_600_001)).unwrap();
    assert_eq!(collateral(&e, 1), usd("9896.99724"));
    assert_eq!(position(&e, 1).funding_paid_usd, usd("59.99976"));
    let h1_settled = e.health(AccountId(1), Scope::Cross).unwrap();
    assert_eq!(
        (h1_settled.equity_usd, h1_settled.maintenance_usd),
        (h1_after.equity_usd, h1_after.maintenance_usd)
    );
    assert_eq!(e.funding_clearing_usd(), usd("59.99976"));
    let rest = order(0, Side::Sell, OrderKind::Limit, Some("60000"), 1);
    e.apply(&rest, TimestampMs(3_600_002)).unwrap();
    assert_eq!(collateral(&e, 0), usd("1000053.99856"));
    assert_eq!(e.funding_clearing_usd(), Usd::ZERO);
}

#[test]
fn funding_rounding_residue_is_booked() {
    let mut e = venue();
    let mut p = MarketParams::btc_like("ODD-PERP", px("3"));
    p.lots_per_unit = 7;
    p.max_price = px("1000");
    p.tick_size = px("0.000001");
    p.size_premium = Ppm::from_raw(0);
    e.apply(
        &Command::CreateMarket {
            params: Box::new(p),
        },
        TimestampMs(0),
    )
    .unwrap();
    let m = MarketId(1);
    let place = |acct: u32, side, qty| {
        Command::PlaceOrder(PlaceOrder {
            account: AccountId(acct),
            market: m,
            side,
            kind: OrderKind::Limit,
            price: Some(px("3")),
            qty: Qty::from_lots(qty),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
    };
    // Two shorts of 1 lot each against one long of 2 lots, all at 3 USD.
    e.apply(&place(1, Side::Sell, 1), TimestampMs(1)).unwrap();
    e.apply(&place(2, Side::Sell, 1), TimestampMs(1)).unwrap();
    e.apply(&place(0, Side::Buy, 2), TimestampMs(1)).unwrap();
    e.apply(&stale_after_an_hour(m), TimestampMs(1)).unwrap();
    // Mark = trade EMA 3 and oracle 2.99999 -> mean 2.999995 (rounded down: 2.999995).
    // Premium = (2.999995 - 2.99999) / 2.99999 = 1.67 ppm -> 1 ppm (floor).
    let oracle = Command::OraclePrice {
        market: m,
        price: px("2.99999"),
    };
    e.apply(&oracle, TimestampMs(3_599_000)).unwrap();
    assert_eq!(e.market(m).unwrap().mark, px("2.999995"));
    let ev = e
        .apply(&Command::Tick, TimestampMs(3_600_000))
        .unwrap()
        .to_vec();
    let (rate, price, step, oi) = funding_of(&ev, m);
    assert_eq!(
        (rate, price, oi),
        (Ppm::from_raw(1), px("2.99999"), Qty::from_lots(2))
    );
    // The longs' index rises by 2,999,990 x 1 ppm = 2,999,990; the shorts' falls as much.
    assert_eq!(step, 2_999_990);
    // Long 2 lots of 1/7 unit: owes ceil(2 x 2,999,990 / 7e6) = ceil(0.857) = 1 micro-USD. Each
    // short (1 lot) is owed 2,999,990 / 7e6 = 0.43 micro: ceil(-0.43) = 0, it receives the
    // floor, nothing.
    let pending = |e: &Engine, a: u32| e.pending(AccountId(a), m).unwrap().funding_usd;
    assert_eq!(
        (pending(&e, 0), pending(&e, 1), pending(&e, 2)),
        (Usd::from_micros(1), Usd::ZERO, Usd::ZERO)
    );
    // Each account's next order settles it; the residue (1 micro-USD) stays in the funding
    // clearing balance.
    for (acct, side, price) in [
        (0, Side::Buy, "2"),
        (1, Side::Sell, "4"),
        (2, Side::Sell, "4"),
    ] {
        let c = Command::PlaceOrder(PlaceOrder {
            account: AccountId(acct),
            market: m,
            side,
            kind: OrderKind::Limit,
            price: Some(px(price)),
            qty: Qty::from_lots(1),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        });
        e.apply(&c, TimestampMs(3_600_001)).unwrap();
    }
    assert_eq!(e.funding_clearing_usd(), Usd::from_micros(1));
    assert_eq!(pending(&e, 0), Usd::ZERO);
}

#[test]
fn isolated_loss_stays_isolated_and_is_recorded() {
    let mut e = venue();
    // Keeper-driven liquidation only, so the flags can be seen before anyone acts.
    let off = Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(false),
    };
    e.apply(&off, TimestampMs(0)).unwrap();
    deposit(&mut e, 3, "1000");
    let adjust = Command::AdjustIsolatedMargin {
        account: AccountId(3),
        market: MarketId(0),
        delta_usd: usd("200"),
    };
    e.apply(&adjust, TimestampMs(1)).unwrap();
    assert_eq!(collateral(&e, 3), usd("800"));
    e.apply(
        &order(0, Side::Sell, OrderKind::Limit, Some("50000"), 100),
        TimestampMs(1),
    )
    .unwrap();
    let mut buy = order(3, Side::Buy, OrderKind::Limit, Some("50000"), 100);
    if let Command::PlaceOrder(o) = &mut buy {
        o.margin = MarginMode::Isolated;
    }
    e.apply(&buy, TimestampMs(2)).unwrap();
    // 0.1 BTC at 50,000 = 5,000 notional; taker fee 2.5 from the isolated pool: 197.5.
    assert_eq!(position(&e, 3).isolated_usd, usd("197.5"));
    // Oracle 40,000; trade EMA 50,000; no book -> mark = mean = 45,000. The isolated pool:
    // 197.5 + 4,500 - 5,000 = -302.5: below maintenance (0.5% of 4,500 = 22.5) and negative.
    let oracle = Command::OraclePrice {
        market: MarketId(0),
        price: px("40000"),
    };
    let ev = e.apply(&oracle, TimestampMs(3)).unwrap().to_vec();
    let scope = Scope::Isolated(MarketId(0));
    let negative = Event::NegativeEquity {
        account: AccountId(3),
        scope,
        equity_usd: usd("-302.5"),
    };
    assert!(ev.contains(&negative));
    assert!(ev.contains(&Event::BelowMaintenance {
        account: AccountId(3),
        scope,
        equity_usd: usd("-302.5"),
        maintenance_usd: usd("22.5"),
    }));
    // The cross pool is untouched and healthy.
    assert_eq!(
        e.health(AccountId(3), Scope::Cross).unwrap().equity_usd,
        usd("800")
    );
    assert!(!e.flags().contains_key(&(AccountId(3), Scope::Cross)));
    let flag = Flag {
        below_maintenance: true,
        negative_equity: true,
    };
    assert_eq!(e.flags()[&(AccountId(3), scope)], flag);
}

#[test]
fn self_trade_prevention_modes() {
    let mut e = venue();
    e.apply(
        &order(0, Side::Sell, OrderKind::Limit, Some("50010"), 10),
        TimestampMs(1),
    )
    .unwrap();
    let maker_id = e.account(AccountId(0)).unwrap().orders[0].1;
    // Cancel-taker: no fill, the taker's rest is cancelled, the maker stays.
    let own = order(0, Side::Buy, OrderKind::Limit, Some("50010"), 5);
    let ev = e.apply(&own, TimestampMs(2)).unwrap().to_vec();
    assert!(fills(&ev).is_empty());
    let self_cancel = |x: &Event| {
        matches!(
            x,
            Event::OrderCancelled {
                reason: CancelReason::SelfTrade,
                qty,
                ..
            } if qty.lots() == 5
        )
    };
    assert!(ev.iter().any(self_cancel));
    assert!(e.market(MarketId(0)).unwrap().book.get(maker_id).is_some());
    // Cancel-maker: the resting order goes, and the taker rests at its price.
    let mut c = order(0, Side::Buy, OrderKind::Limit, Some("50010"), 5);
    if let Command::PlaceOrder(o) = &mut c {
        o.self_trade = SelfTrade::CancelMaker;
    }
    let ev = e.apply(&c, TimestampMs(3)).unwrap().to_vec();
    assert!(ev.iter().any(|x| matches!(x, Event::OrderCancelled { order, reason: CancelReason::SelfTrade, .. } if *order == maker_id)));
    assert!(ev
        .iter()
        .any(|x| matches!(x, Event::OrderRested { qty, .. } if qty.lots() == 5)));
    assert_eq!(
        e.market(MarketId(0)).unwrap().book.best_bid(),
        Some(px("50010"))
    );
}

#[test]
fn post_only_fok_and_reduce_only() {
    let mut e = venue();
    e.apply(
        &order(0, Side::Sell, OrderKind::Limit, Some("50010"), 10),
        TimestampMs(1),
    )
    .unwrap();
    let r = e.apply(
        &order(1, Side::Buy, OrderKind::PostOnly, Some("50010"), 1),
        TimestampMs(2),
    );
    assert_eq!(
        r.unwrap_err(),
        Reject::PostOnlyWouldCross { price: px("50010") }
    );
    let r = e.apply(
        &order(1, Side::Buy, OrderKind::Fok, Some("50010"), 11),
        TimestampMs(2),
    );
    assert_eq!(
        r.unwrap_err(),
        Reject::FokNotFillable {
            requested: Qty::from_lots(11),
            available: Qty::from_lots(10)
        }
    );
    // Reduce-only with no position is refused; after buying 4, a reduce-only sell of 10 is
    // clipped to 4.
    let mut ro = order(1, Side::Sell, OrderKind::Limit, Some("60000"), 10);
    if let Command::PlaceOrder(o) = &mut ro {
        o.reduce_only = true;
    }
    assert_eq!(
        e.apply(&ro, TimestampMs(3)).unwrap_err(),
        Reject::ReduceOnlyWouldIncrease
    );
    e.apply(
        &order(1, Side::Buy, OrderKind::Fok, Some("50010"), 4),
        TimestampMs(4),
    )
    .unwrap();
    let ev = e.apply(&ro, TimestampMs(5)).unwrap().to_vec();
    assert!(ev
        .iter()
        .any(|x| matches!(x, Event::OrderRested { qty, .. } if qty.lots() == 4)));
}

#[test]
fn market_order_stops_at_the_band() {
    let mut e = venue();
    // Band 5% around the 50,000 mark: a market buy fills up to 52,500 and no farther.
    e.apply(
        &order(0, Side::Sell, OrderKind::Limit, Some("52500"), 3),
        TimestampMs(1),
    )
    .unwrap();
    e.apply(
        &order(0, Side::Sell, OrderKind::Limit, Some("52500.1"), 3),
        TimestampMs(1),
    )
    .unwrap();
    let ev = e
        .apply(
            &order(1, Side::Buy, OrderKind::Market, None, 5),
            TimestampMs(2),
        )
        .unwrap();
    let got: Vec<(Price, Qty)> = fills(ev).iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(got, vec![(px("52500"), Qty::from_lots(3))]);
    let unfilled = |x: &Event| {
        matches!(
            x,
            Event::OrderCancelled {
                reason: CancelReason::Unfilled,
                qty,
                ..
            } if qty.lots() == 2
        )
    };
    assert!(ev.iter().any(unfilled));
}

#[test]
fn withdrawal_is_limited_by_initial_margin() {
    let mut e = traded_venue();
    // Account 1: equity 9,950.997, initial 300 -> free 9,650.997 (and collateral 9,956.997).
    let too_much = Command::Withdraw {
        account: AccountId(1),
        amount_usd: usd("9651"),
    };
    let want = Reject::InsufficientCollateral {
        available: usd("9650.997"),
        requested: usd("9651"),
    };
    assert_eq!(e.apply(&too_much, TimestampMs(5)).unwrap_err(), want);
    let ok = Command::Withdraw {
        account: AccountId(1),
        amount_usd: usd("9650.997"),
    };
    e.apply(&ok, TimestampMs(5)).unwrap();
    assert_eq!(collateral(&e, 1), usd("306"));
}

#[test]
fn cancel_all_frees_everything_and_checks_ownership() {
    let mut e = venue();
    for p in ["49000", "49100", "49200"] {
        e.apply(
            &order(1, Side::Buy, OrderKind::Limit, Some(p), 10),
            TimestampMs(1),
        )
        .unwrap();
    }
    let id = e.account(AccountId(1)).unwrap().orders[0].1;
    let foreign = Command::Cancel {
        account: AccountId(2),
        market: MarketId(0),
        order: id,
    };
    assert_eq!(
        e.apply(&foreign, TimestampMs(2)).unwrap_err(),
        Reject::NotOrderOwner { order: id }
    );
    let all = Command::CancelAll {
        account: AccountId(1),
        market: None,
    };
    assert_eq!(e.apply(&all, TimestampMs(2)).unwrap().len(), 3);
    assert!(e.account(AccountId(1)).unwrap().positions.is_empty());
    assert!(e.market(MarketId(0)).unwrap().book.is_empty());
    let again = Command::Cancel {
        account: AccountId(1),
        market: MarketId(0),
        order: id,
    };
    assert_eq!(
        e.apply(&again, TimestampMs(3)).unwrap_err(),
        Reject::UnknownOrder(id)
    );
}

#[test]
fn commands_survive_json_and_give_the_same_hash() {
    let log: Vec<(u64, Command)> = vec![
        (
            0,
            Command::CreateMarket {
                params: Box::new(MarketParams::default()),
            },
        ),
        (
            0,
            Command::Deposit {
                account: AccountId(0),
                amount_usd: usd("100000"),
            },
        ),
        (
            0,
            Command::Deposit {
                account: AccountId(1),
                amount_usd: usd("100000"),
            },
        ),
        (1, order(0, Side::Sell, OrderKind::Limit, Some("50010"), 50)),
        (2, order(1, Side::Buy, OrderKind::Market, None, 20)),
        (
            3,
            Command::OraclePrice {
                market: MarketId(0),
                price: px("49000"),
            },
        ),
        (3_600_000, Command::Tick),
        (
            3_600_001,
            Command::CancelAll {
                account: AccountId(0),
                market: Some(MarketId(0)),
            },
        ),
    ];
    let run = |cmds: &[(u64, Command)]| {
        let mut e = Engine::default();
        let mut events = Vec::new();
        for (t, c) in cmds {
            events.extend(e.apply(c, TimestampMs(*t)).unwrap().iter().cloned());
        }
        (state_hash_hex(&e), events)
    };
    let first = run(&log);
    assert_eq!(
        run(&log),
        first,
        "the same log twice gives the same state and events"
    );
    let through_json: Vec<(u64, Command)> = log
        .iter()
        .map(|(t, c)| {
            (
                *t,
                serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        run(&through_json),
        first,
        "a JSON round trip changes nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Requote: a cancel and a ladder in one command
// ---------------------------------------------------------------------------------------------

fn requote(account: u32, orders: Vec<QuoteOrder>) -> Command {
    Command::Requote(Requote {
        account: AccountId(account),
        market: MarketId(0),
        orders,
    })
}

/// Apply `cmd`'s commands one after another at `now` (refusals allowed): their events, and
/// each one's refusal.
fn one_by_one(e: &mut Engine, cmd: &Command, now: u64) -> (Vec<Event>, Vec<Option<Reject>>) {
    let Command::Requote(r) = cmd else {
        panic!("not a requote")
    };
    let (mut events, mut refused) = (Vec::new(), Vec::new());
    for c in r.commands() {
        match e.apply(&c, TimestampMs(now)) {
            Ok(ev) => {
                events.extend_from_slice(ev);
                refused.push(None);
            }
            Err(r) => refused.push(Some(r)),
        }
    }
    (events, refused)
}

/// Account 1 (10,000 USD, no position) rests 0.1 BTC at 49,900 and 0.1 BTC at 50,100, then
/// requotes: the cancel takes both out; of the ladder, 1 BTC at 49,950 and 1 BTC at 50,050
/// rest, 20 BTC more at 49,900 is refused for margin, and 0.5 BTC at 50,100 rests after it.
#[test]
fn requote_cancels_then_places_each_order_on_its_own() {
    let mut e = venue();
    for (side, price) in [(Side::Buy, "49900"), (Side::Sell, "50100")] {
        e.apply(
            &order(1, side, OrderKind::Limit, Some(price), 100),
            TimestampMs(1),
        )
        .unwrap();
    }
    let applied = e.commands_applied();
    let cmd = requote(
        1,
        vec![
            quote(Side::Buy, "49950", 1000),
            quote(Side::Sell, "50050", 1000),
            quote(Side::Buy, "49900", 20_000),
            quote(Side::Sell, "50100", 500),
        ],
    );
    let mut alone = e.clone();
    let events = e.apply(&cmd, TimestampMs(2)).unwrap().to_vec();

    // Parts: the cancel (two `OrderCancelled`), two orders rested (`OrderAccepted` and
    // `OrderRested` each), the refused one (no event), the last one rested: events end at 2,
    // 4, 6, 6 and 8.
    let parts = e.last_parts().to_vec();
    let ends: Vec<usize> = parts.iter().map(|p| p.events_end).collect();
    assert_eq!(ends, [2, 4, 6, 6, 8]);
    assert_eq!(events.len(), 8);
    let cancelled: Vec<Qty> = events[..2]
        .iter()
        .map(|ev| match ev {
            Event::OrderCancelled {
                qty,
                reason: CancelReason::User,
                ..
            } => *qty,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(cancelled, [Qty::from_lots(100), Qty::from_lots(100)]);
    // The third order: with it, the worst case is 1 + 20 = 21 BTC bought (the sells, 1 BTC,
    // are the smaller side), 1,050,000 USD at the mark of 50,000; initial margin 2 x 0.5% of
    // it = 10,500 USD; plus its maker fee should it rest, 2 bp of 20 x 49,900 = 998,000 USD:
    // 199.6 USD. Required 10,699.6 USD, above the 10,000 USD of equity.
    assert_eq!(
        parts[3].refused,
        Some(Reject::InsufficientMargin {
            equity: usd("10000"),
            required: usd("10699.6"),
        })
    );
    assert!(parts
        .iter()
        .enumerate()
        .all(|(i, p)| (i == 3) == p.refused.is_some()));
    // Resting now: 1 BTC bought at 49,950; 1 BTC + 0.5 BTC sold at 50,050 and 50,100. No fill:
    // the collateral is untouched. Four parts applied count as four commands.
    let p = position(&e, 1);
    assert_eq!(
        (p.qty, p.open_buy, p.open_sell),
        (Qty::ZERO, Qty::from_lots(1000), Qty::from_lots(1500))
    );
    assert_eq!(collateral(&e, 1), usd("10000"));
    assert_eq!(e.account(AccountId(1)).unwrap().orders.len(), 3);
    assert_eq!(e.commands_applied(), applied + 4);

    // Exactly what the commands do one after another: the same events, the same refusal, the
    // same state (the command count included).
    let (events_alone, refused_alone) = one_by_one(&mut alone, &cmd, 2);
    assert_eq!(events, events_alone);
    let refused: Vec<Option<Reject>> = parts.into_iter().map(|p| p.refused).collect();
    assert_eq!(refused, refused_alone);
    assert_eq!(state_hash(&e), state_hash(&alone));
}

/// What a requote refuses whole (nothing changes) and what it refuses order by order (as
/// `PlaceOrder` would); an empty ladder is a cancel alone.
#[test]
fn requote_validation() {
    let mut e = venue();
    e.apply(
        &order(1, Side::Buy, OrderKind::Limit, Some("49900"), 100),
        TimestampMs(1),
    )
    .unwrap();
    let hash = state_hash(&e);
    // More orders than one requote may carry.
    let n = limits::MAX_REQUOTE_ORDERS + 1;
    let too_many = requote(1, vec![quote(Side::Buy, "49000", 1); n]);
    assert_eq!(
        e.apply(&too_many, TimestampMs(2)).unwrap_err(),
        Reject::TooManyQuoteOrders {
            orders: n,
            limit: limits::MAX_REQUOTE_ORDERS
        }
    );
    // An unknown market or account: refused as the cancel (and each order) would be.
    let mut elsewhere = Requote {
        account: AccountId(1),
        market: MarketId(7),
        orders: vec![quote(Side::Buy, "49000", 1)],
    };
    assert_eq!(
        e.apply(&Command::Requote(elsewhere.clone()), TimestampMs(2))
            .unwrap_err(),
        Reject::UnknownMarket(MarketId(7))
    );
    elsewhere.market = MarketId(0);
    elsewhere.account = AccountId(9);
    assert_eq!(
        e.apply(&Command::Requote(elsewhere), TimestampMs(2))
            .unwrap_err(),
        Reject::UnknownAccount(AccountId(9))
    );
    assert_eq!(state_hash(&e), hash, "a refused requote changed the state");
    assert!(e.last_parts().is_empty());

    // Bad orders are refused one by one, each as `PlaceOrder` refuses it: off the tick grid,
    // no quantity, no price; the cancel and the good order stand.
    let off_tick = quote(Side::Buy, "49000.05", 1);
    let mut no_qty = quote(Side::Buy, "49000", 1);
    no_qty.qty = Qty::ZERO;
    let mut no_price = quote(Side::Sell, "51000", 1);
    no_price.price = None;
    let good = quote(Side::Sell, "51000", 2);
    let mut alone = e.clone();
    let cmd = requote(1, vec![off_tick, no_qty, no_price, good]);
    e.apply(&cmd, TimestampMs(3)).unwrap();
    let refused: Vec<Option<Reject>> = e.last_parts().iter().map(|p| p.refused.clone()).collect();
    assert_eq!(
        refused,
        [
            None,
            Some(Reject::PriceNotOnTick {
                price: px("49000.05"),
                tick: px("0.1")
            }),
            Some(Reject::QtyNotPositive(Qty::ZERO)),
            Some(Reject::PriceMissing("limit")),
            None,
        ]
    );
    let (_, refused_alone) = one_by_one(&mut alone, &cmd, 3);
    assert_eq!(refused, refused_alone);
    assert_eq!(state_hash(&e), state_hash(&alone));

    // An empty ladder: the cancel alone, one command.
    let applied = e.commands_applied();
    let ev = e
        .apply(&requote(1, vec![]), TimestampMs(4))
        .unwrap()
        .to_vec();
    assert!(matches!(ev[..], [Event::OrderCancelled { .. }]));
    assert_eq!(e.last_parts().len(), 1);
    assert_eq!(e.commands_applied(), applied + 1);
    assert!(e.account(AccountId(1)).unwrap().orders.is_empty());
}

/// A requote goes through a command log like any command: written as JSON, read back and
/// replayed, it gives the live engine's events and state hash.
#[test]
fn requote_replays_from_its_json_to_the_live_state() {
    let mut live = venue();
    let log = vec![
        (
            1,
            order(2, Side::Sell, OrderKind::Limit, Some("50020"), 300),
        ),
        (1, order(1, Side::Buy, OrderKind::Limit, Some("49900"), 100)),
        // The second order crosses account 2's ask and fills; the third is refused.
        (
            2,
            requote(
                1,
                vec![
                    quote(Side::Buy, "49950", 200),
                    quote(Side::Buy, "50020", 50),
                    quote(Side::Buy, "49000", 1_000_000),
                    quote(Side::Sell, "50100", 100),
                ],
            ),
        ),
        (3, requote(1, vec![quote(Side::Sell, "50200", 10)])),
    ];
    let mut events = Vec::new();
    for (t, c) in &log {
        events.push(live.apply(c, TimestampMs(*t)).unwrap().to_vec());
    }
    assert!(events[2].iter().any(|ev| matches!(ev, Event::Fill { .. })));
    let text: Vec<String> = log
        .iter()
        .map(|(_, c)| serde_json::to_string(c).unwrap())
        .collect();
    assert!(text[3].starts_with(r#"{"cmd":"requote","account":1,"market":0,"orders":[{"#));
    let mut replay = venue();
    for ((t, _), (line, want)) in log.iter().zip(text.iter().zip(&events)) {
        let c: Command = serde_json::from_str(line).unwrap();
        assert_eq!(&replay.apply(&c, TimestampMs(*t)).unwrap().to_vec(), want);
    }
    assert_eq!(state_hash(&replay), state_hash(&live));
}
