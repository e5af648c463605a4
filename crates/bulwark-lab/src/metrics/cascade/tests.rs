//! The cascade verdict on a hand-built venue: a native liquidation's verdict, read from its
//! events, equals the engine's own counterfactual health asked just before the command.

use super::*;
use crate::metrics::Metrics;
use bulwark_engine::{
    Command, MarginMode, MarketParams, OrderKind, PlaceOrder, SelfTrade, TimestampMs, VenueParam,
};

const M: MarketId = MarketId(0);
const MAKER: AccountId = AccountId(1);
const TRADER: AccountId = AccountId(2);
const LP: AccountId = AccountId(3);

fn px(usd: f64) -> Price {
    Price::from_f64(usd, Round::Floor).unwrap()
}

fn usd_whole(v: i64) -> Usd {
    Usd::from_micros(v * 1_000_000)
}

fn apply(e: &mut Engine, t: u64, cmd: Command) -> Vec<Event> {
    e.apply(&cmd, TimestampMs(t))
        .unwrap_or_else(|r| panic!("{} rejected: {r}", cmd.name()))
        .to_vec()
}

fn order(account: AccountId, side: Side, kind: OrderKind, price: f64, lots: i64) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: M,
        side,
        kind,
        price: Some(px(price)),
        qty: Qty::from_lots(lots),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

/// A BTC market at 10,000 with native liquidation and a seeded vault; a trader 15x long
/// 30 BTC bought at 10,010 (300 k notional: past the size premium, where maintenance is no
/// longer a fixed fraction); then the maker moves its quotes to `low` / `low + 10`. The mark
/// still stands near 10,000: the next oracle print at `low` moves it.
fn venue_before_the_drop(low: f64) -> Engine {
    let mut e = Engine::default();
    apply(
        &mut e,
        0,
        Command::CreateMarket {
            params: Box::new(MarketParams::btc_like("BTC-PERP", px(10_000.0))),
        },
    );
    let param = VenueParam::NativeLiquidation(true);
    apply(&mut e, 0, Command::SetVenueParam { param });
    for (account, amount) in [(MAKER, 100_000_000), (TRADER, 20_000), (LP, 10_000_000)] {
        apply(
            &mut e,
            0,
            Command::Deposit {
                account,
                amount_usd: usd_whole(amount),
            },
        );
    }
    apply(
        &mut e,
        0,
        Command::VaultDeposit {
            account: LP,
            amount_usd: usd_whole(10_000_000),
        },
    );
    apply(
        &mut e,
        0,
        Command::OraclePrice {
            market: M,
            price: px(10_000.0),
        },
    );
    apply(
        &mut e,
        0,
        order(MAKER, Side::Sell, OrderKind::Limit, 10_010.0, 40_000),
    );
    apply(
        &mut e,
        0,
        order(MAKER, Side::Buy, OrderKind::Limit, 9_990.0, 40_000),
    );
    apply(
        &mut e,
        1,
        order(TRADER, Side::Buy, OrderKind::Ioc, 10_010.0, 30_000),
    );
    apply(
        &mut e,
        2,
        Command::CancelAll {
            account: MAKER,
            market: None,
        },
    );
    apply(
        &mut e,
        2,
        order(MAKER, Side::Buy, OrderKind::Limit, low, 50_000),
    );
    apply(
        &mut e,
        2,
        order(MAKER, Side::Sell, OrderKind::Limit, low + 10.0, 50_000),
    );
    e
}

/// (the verdict the metrics read from the events, the engine's counterfactual before the
/// command, the trader's position after it) for an oracle print at `low` with the outside
/// market at `outside`.
fn verdicts(low: f64, outside: f64) -> (bool, bool, i64) {
    let mut e = venue_before_the_drop(low);
    let expected = e
        .health_with_mark(TRADER, Scope::Cross, M, px(outside))
        .map(|h| !h.below_maintenance())
        .unwrap();
    let events = apply(
        &mut e,
        3,
        Command::OraclePrice {
            market: M,
            price: px(low),
        },
    );
    let mut metrics = Metrics::new(0, &[(M, 1_000)]);
    metrics.on_events(3, &events, &e, &[outside]);
    let record = metrics
        .liquidations
        .records
        .iter()
        .find(|r| r.account == TRADER)
        .expect("the print liquidates the trader");
    assert!(record.native);
    let left = e
        .account(TRADER)
        .and_then(|a| a.position(M))
        .map_or(0, |p| p.qty.lots());
    (record.endogenous, expected, left)
}

#[test]
fn a_native_verdict_is_the_engine_s_counterfactual_health() {
    // Closed through the book: the fills after the start are undone to find the position.
    let (calm_market, engine, left) = verdicts(9_380.0, 10_000.0);
    assert_eq!(calm_market, engine);
    assert!(
        calm_market,
        "the outside market never fell: the venue's price killed it"
    );
    assert!(left < 30_000, "the liquidation closed something: {left}");
    let (falling_market, engine, _) = verdicts(9_380.0, 9_380.0);
    assert_eq!(falling_market, engine);
    assert!(!falling_market, "the market fell as far as the mark");
}

#[test]
fn a_verdict_survives_the_vault_taking_the_whole_position_over() {
    // Equity below zero at 9,000: bankrupt, and the vault takes over what is left.
    let (calm_market, engine, left) = verdicts(9_000.0, 10_000.0);
    assert_eq!(left, 0, "nothing left with the trader");
    assert_eq!(calm_market, engine);
    assert!(calm_market);
    let (falling_market, engine, _) = verdicts(9_000.0, 9_000.0);
    assert_eq!((falling_market, engine), (false, false));
}

#[test]
fn the_position_at_the_start_undoes_what_the_command_did_after() {
    let (a, b) = (AccountId(7), AccountId(8));
    let takeover = Event::VaultTakeover {
        account: a,
        market: M,
        qty: Qty::from_lots(-40),
        bankruptcy_price: px(100.0),
        equity_usd: Usd::ZERO,
        loss_usd: Usd::ZERO,
    };
    let adl = Event::Deleveraged {
        bankrupt: b,
        counterparty: a,
        market: M,
        qty: Qty::from_lots(-25),
        price: px(100.0),
        haircut_usd: Usd::ZERO,
        reason: bulwark_engine::VaultRefusal::MarginLimit,
    };
    let started = Event::LiquidationStarted {
        account: a,
        scope: Scope::Cross,
        keeper: None,
        equity_usd: Usd::ZERO,
        maintenance_usd: Usd::ZERO,
    };
    let events = [adl.clone(), started, takeover, adl];
    // Before the start: only the later takeover (-40 given away) and the later ADL
    // (-25 closed against `a`, a short) are undone; the earlier ADL is not.
    assert_eq!(
        qty_at_start(&events, 1, a, M, Qty::ZERO),
        Qty::from_lots(-40 - 25)
    );
    // The bankrupt side of the same ADL held the opposite.
    assert_eq!(
        qty_at_start(&events, 1, b, M, Qty::ZERO),
        Qty::from_lots(25)
    );
}

#[test]
fn longest_chain_counts_liquidations_within_the_window() {
    assert_eq!(longest_chain(&[], 60_000), (0, 0, 0));
    let times = [0, 30_000, 90_000, 200_000, 210_000, 215_000, 400_000];
    assert_eq!(longest_chain(&times, 60_000), (3, 0, 90_000));
    assert_eq!(longest_chain(&times, 10_000), (3, 200_000, 215_000));
}
