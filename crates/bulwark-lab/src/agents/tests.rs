//! Each agent's behaviour on a hand-built venue: a market at 10,000 USD, a few resting orders,
//! and the actions the agent returns when woken.

use super::arbitrageur::Arbitrageur;
use super::keeper::Keeper;
use super::market_maker::MarketMaker;
use super::trader::Trader;
use super::*;
use crate::scenario::{ArbitrageurParams, KeeperParams, MarketMakerParams, TraderParams};
use bulwark_engine::{
    Command, Engine, MarginMode, MarketId, MarketParams, OrderKind, PlaceOrder, Price, Qty,
    SelfTrade, Side, TimestampMs, Usd,
};

const MAKER: AccountId = AccountId(1);
const VICTIM: AccountId = AccountId(2);
const M: MarketId = MarketId(0);

fn px(usd: f64) -> Price {
    Price::from_f64(usd, bulwark_core::Round::Floor).unwrap()
}

fn apply(e: &mut Engine, t: u64, cmd: Command) {
    e.apply(&cmd, TimestampMs(t))
        .unwrap_or_else(|r| panic!("{} rejected: {r}", cmd.name()));
}

fn order(
    account: AccountId,
    side: Side,
    kind: OrderKind,
    price: Option<f64>,
    lots: i64,
) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: M,
        side,
        kind,
        price: price.map(px),
        qty: Qty::from_lots(lots),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

/// A market at 10,000 with a maker quoting 9,990 / 10,010 (5 BTC each side), and an oracle.
fn venue() -> Engine {
    let mut e = Engine::default();
    let params = MarketParams::btc_like("BTC-PERP", px(10_000.0));
    apply(
        &mut e,
        0,
        Command::CreateMarket {
            params: Box::new(params),
        },
    );
    // Keeper-driven liquidation: the engine leaves flagged accounts to keepers.
    let param = bulwark_engine::VenueParam::NativeLiquidation(false);
    apply(&mut e, 0, Command::SetVenueParam { param });
    apply(
        &mut e,
        0,
        Command::Deposit {
            account: MAKER,
            amount_usd: Usd::from_micros(10_000_000 * 1_000_000),
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
        order(MAKER, Side::Buy, OrderKind::Limit, Some(9_990.0), 5_000),
    );
    apply(
        &mut e,
        0,
        order(MAKER, Side::Sell, OrderKind::Limit, Some(10_010.0), 5_000),
    );
    e
}

fn wake<F: FnOnce(&mut Ctx)>(e: &Engine, now_ms: u64, outside: f64, f: F) -> Vec<Action> {
    let history = MarkHistory::default();
    let mut out = Vec::new();
    let mut ctx = Ctx {
        now_ms,
        venue: Venue::new(e, M),
        outside_price: outside,
        mark_history: &history,
        going_gas_gwei: 20.0,
        eth_usd: 150.0,
        out: &mut out,
    };
    f(&mut ctx);
    out
}

fn placed(actions: &[Action]) -> Vec<PlaceOrder> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Command::PlaceOrder(o)) => Some(vec![o.clone()]),
            Action::Send(Command::Requote(r)) => Some(
                r.orders
                    .iter()
                    .map(|q| q.place(r.account, r.market))
                    .collect(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

fn rng() -> ChaCha8Rng {
    agent_rng(1, 0)
}

#[test]
fn agent_streams_differ_by_agent_and_repeat_by_seed() {
    let draw = |seed, id| agent_rng(seed, id).gen::<u64>();
    assert_eq!(draw(1, 5), draw(1, 5));
    assert_ne!(draw(1, 5), draw(1, 6));
    assert_ne!(draw(1, 5), draw(2, 5));
}

/// Half the quoted spread of a ladder, bp of the outside price.
fn half_spread_bp(orders: &[PlaceOrder], outside: f64) -> f64 {
    let best_bid = orders
        .iter()
        .filter(|o| o.side == Side::Buy)
        .map(|o| o.price.unwrap())
        .max()
        .unwrap();
    let best_ask = orders
        .iter()
        .filter(|o| o.side == Side::Sell)
        .map(|o| o.price.unwrap())
        .min()
        .unwrap();
    (best_ask.to_f64_lossy() - best_bid.to_f64_lossy()) / 2.0 / outside * 1e4
}

#[test]
fn market_maker_quotes_a_ladder_around_the_outside_price_wider_when_volatile() {
    let e = venue();
    let p = MarketMakerParams::default();
    let mut calm = MarketMaker::new(MAKER, &p);
    let calm_actions = wake(&e, 1_000, 10_000.0, |ctx| calm.on_wake(ctx, &mut rng()));
    let calm_orders = placed(&calm_actions);
    assert_eq!(calm_orders.len(), 2 * p.levels as usize, "{calm_actions:?}");
    assert!(
        matches!(calm_actions[1], Action::Send(Command::Requote(_))),
        "one requote: the cancel, then the ladder"
    );
    for o in &calm_orders {
        let price = o.price.unwrap().to_f64_lossy();
        match o.side {
            Side::Buy => assert!(price < 10_000.0),
            Side::Sell => assert!(price > 10_000.0),
        }
    }
    // A maker that has just seen 1% moves every second estimates a much higher volatility.
    let mut hot = MarketMaker::new(MAKER, &p);
    for (i, price) in [10_000.0, 10_100.0, 10_000.0, 10_100.0, 10_000.0]
        .iter()
        .enumerate()
    {
        hot.observe(i as u64 * 1_000, *price);
    }
    assert!(hot.vol_annual() > 2.0 * calm.vol_annual());
    let mut hot_params = p.clone();
    hot_params.pull_vol_annual = 1e9; // keep it quoting
    hot.params = hot_params;
    let hot_orders = placed(&wake(&e, 5_000, 10_000.0, |ctx| {
        hot.on_wake(ctx, &mut rng())
    }));
    let (calm_bp, hot_bp) = (
        half_spread_bp(&calm_orders, 10_000.0),
        half_spread_bp(&hot_orders, 10_000.0),
    );
    assert!(
        hot_bp > calm_bp + 5.0,
        "calm {calm_bp} bp, volatile {hot_bp} bp"
    );
    let depth = |os: &[PlaceOrder]| os.iter().map(|o| o.qty.lots()).sum::<i64>();
    assert!(
        depth(&hot_orders) < depth(&calm_orders),
        "depth thins with volatility"
    );
}

#[test]
fn market_maker_pulls_quotes_past_its_volatility_threshold_and_returns_later() {
    let e = venue();
    let p = MarketMakerParams {
        pull_vol_annual: 1.0,
        pull_duration_s: 60,
        ..MarketMakerParams::default()
    };
    let mut mm = MarketMaker::new(MAKER, &p);
    for (i, price) in [10_000.0, 10_200.0, 10_000.0, 10_200.0].iter().enumerate() {
        mm.observe(i as u64 * 1_000, *price);
    }
    let actions = wake(&e, 4_000, 10_000.0, |ctx| mm.on_wake(ctx, &mut rng()));
    assert!(actions.contains(&Action::Note("mm_pull")), "{actions:?}");
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Send(Command::CancelAll { .. }))));
    assert!(placed(&actions).is_empty());
    assert!(!mm.is_quoting());
    // Still pulled before the time-out, even once calm.
    mm.params.pull_vol_annual = 1e9;
    let actions = wake(&e, 30_000, 10_000.0, |ctx| mm.on_wake(ctx, &mut rng()));
    assert!(placed(&actions).is_empty());
    let actions = wake(&e, 65_000, 10_000.0, |ctx| mm.on_wake(ctx, &mut rng()));
    assert!(actions.contains(&Action::Note("mm_return")) && !placed(&actions).is_empty());
    assert_eq!(mm.pulls, 1);
}

#[test]
fn market_maker_skews_against_inventory() {
    let mut e = venue();
    // The maker buys 2 BTC from a seller: it is now long.
    apply(
        &mut e,
        1,
        Command::Deposit {
            account: VICTIM,
            amount_usd: Usd::from_micros(100_000 * 1_000_000),
        },
    );
    apply(
        &mut e,
        1,
        order(VICTIM, Side::Sell, OrderKind::Ioc, Some(9_990.0), 2_000),
    );
    let p = MarketMakerParams {
        max_inventory_usd: 40_000.0,
        ..MarketMakerParams::default()
    };
    let flat_account = AccountId(9);
    let amount_usd = Usd::from_micros(10_000_000 * 1_000_000);
    apply(
        &mut e,
        1,
        Command::Deposit {
            account: flat_account,
            amount_usd,
        },
    );
    let mut flat = MarketMaker::new(flat_account, &p);
    let mut long = MarketMaker::new(MAKER, &p);
    let mid = |os: &[PlaceOrder]| {
        let b = os
            .iter()
            .filter(|o| o.side == Side::Buy)
            .map(|o| o.price.unwrap())
            .max()
            .unwrap();
        let a = os
            .iter()
            .filter(|o| o.side == Side::Sell)
            .map(|o| o.price.unwrap())
            .min()
            .unwrap();
        (a.to_f64_lossy() + b.to_f64_lossy()) / 2.0
    };
    let flat_mid = mid(&placed(&wake(&e, 2, 10_000.0, |ctx| {
        flat.on_wake(ctx, &mut rng())
    })));
    let long_mid = mid(&placed(&wake(&e, 2, 10_000.0, |ctx| {
        long.on_wake(ctx, &mut rng())
    })));
    assert!(
        long_mid < flat_mid,
        "a long maker leans its quotes down: {long_mid} vs {flat_mid}"
    );
}

#[test]
fn arbitrageur_buys_a_venue_trading_below_outside_minus_cost() {
    let e = venue(); // best ask 10,010
    let p = ArbitrageurParams::default(); // 10 bp cost
    let mut arb = Arbitrageur::new(AccountId(3), &p);
    let actions = wake(&e, 1_000, 10_100.0, |ctx| arb.on_wake(ctx));
    let orders = placed(&actions);
    assert_eq!(orders.len(), 1, "{actions:?}");
    let o = &orders[0];
    assert_eq!((o.side, o.kind), (Side::Buy, OrderKind::Ioc));
    let limit = o.price.unwrap().to_f64_lossy();
    assert!(
        limit <= 10_100.0 * (1.0 - 10.0 / 1e4) && limit > 10_010.0,
        "limit {limit}"
    );
    // That order never reached this hand-built venue: the arbitrageur waits for it rather
    // than send it again, then gives up on it.
    let actions = wake(&e, 2_000, 10_100.0, |ctx| arb.on_wake(ctx));
    assert!(placed(&actions).is_empty());
    let later = 2_000 + super::trader::RETRY_AFTER_MS;
    // Inside the cost band: nothing to do.
    let actions = wake(&e, later, 10_015.0, |ctx| arb.on_wake(ctx));
    assert!(placed(&actions).is_empty());
    // Venue above outside plus cost: it sells.
    let orders = placed(&wake(&e, later + 1_000, 9_900.0, |ctx| arb.on_wake(ctx)));
    assert_eq!(orders[0].side, Side::Sell);
}

/// A victim long 0.9 BTC on 1,000 USD, then the oracle drops so the mark falls below its
/// maintenance level (book emptied so the mark follows the oracle and the last trade).
fn venue_with_victim_below_maintenance() -> Engine {
    let mut e = venue();
    apply(
        &mut e,
        1,
        Command::Deposit {
            account: VICTIM,
            amount_usd: Usd::from_micros(1_000 * 1_000_000),
        },
    );
    apply(
        &mut e,
        1,
        order(VICTIM, Side::Buy, OrderKind::Ioc, Some(10_010.0), 900),
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
        3,
        Command::OraclePrice {
            market: M,
            price: px(7_000.0),
        },
    );
    apply(&mut e, 4, Command::Tick);
    e
}

#[test]
fn keeper_sends_liquidate_for_a_flagged_account() {
    let e = venue_with_victim_below_maintenance();
    assert!(
        e.flags().keys().any(|(a, _)| *a == VICTIM),
        "the victim is flagged"
    );
    let mut r = rng();
    let mut keeper = Keeper::new(0, AccountId(4), &KeeperParams::default(), &mut r);
    let latency = keeper.reaction_ms(&mut r);
    assert!(latency > 0, "a keeper reacts after a delay");
    let actions = wake(&e, 5, 8_000.0, |ctx| keeper.on_wake(ctx));
    let tx = actions
        .iter()
        .find_map(|a| match a {
            Action::Liquidate(tx) => Some(tx.clone()),
            _ => None,
        })
        .expect("a liquidation");
    assert_eq!(
        (tx.account, tx.keeper, tx.scope),
        (VICTIM, AccountId(4), Scope::Cross)
    );
    assert!(
        tx.bid_gwei >= 20.0,
        "at least the going price: {}",
        tx.bid_gwei
    );
    // While that transaction is in flight the keeper does not send it again.
    let again = wake(&e, 6, 8_000.0, |ctx| keeper.on_wake(ctx));
    assert!(!again.iter().any(|a| matches!(a, Action::Liquidate(_))));
    assert!(
        again.iter().any(|a| matches!(a, Action::WakeAt(_))),
        "polls while flagged"
    );
}

#[test]
fn keeper_is_priced_out_when_the_reward_cannot_pay_the_going_gas() {
    let e = venue_with_victim_below_maintenance();
    let mut keeper = Keeper::new(0, AccountId(4), &KeeperParams::default(), &mut rng());
    let history = MarkHistory::default();
    let mut out = Vec::new();
    let mut ctx = Ctx {
        now_ms: 5,
        venue: Venue::new(&e, M),
        outside_price: 8_000.0,
        mark_history: &history,
        // A million gwei: 60,000 USD of gas for one liquidation.
        going_gas_gwei: 1e6,
        eth_usd: 150.0,
        out: &mut out,
    };
    keeper.on_wake(&mut ctx);
    assert!(!out.iter().any(|a| matches!(a, Action::Liquidate(_))));
    assert_eq!((keeper.sent, keeper.priced_out), (0, 1));
    assert!(
        out.iter().any(|a| matches!(a, Action::WakeAt(_))),
        "looks again at its next poll"
    );
}

#[test]
fn trader_tops_up_near_liquidation_after_its_delay() {
    let mut e = venue();
    apply(
        &mut e,
        1,
        Command::Deposit {
            account: VICTIM,
            amount_usd: Usd::from_micros(1_000 * 1_000_000),
        },
    );
    apply(
        &mut e,
        1,
        order(VICTIM, Side::Buy, OrderKind::Ioc, Some(10_010.0), 900),
    );
    apply(
        &mut e,
        2,
        Command::CancelAll {
            account: MAKER,
            market: None,
        },
    );
    // With the book empty the mark is the mean of the oracle and the last trade (10,010):
    // oracle 7,910 puts it at 8,960, where equity (about 1,000 - 0.9 x 1,050 - fees = 50) is
    // above maintenance (0.5% of 0.9 x 8,960 = 40) but below 1.5x maintenance.
    apply(
        &mut e,
        3,
        Command::OraclePrice {
            market: M,
            price: px(7_910.0),
        },
    );
    apply(&mut e, 4, Command::Tick);
    let h = e.health(VICTIM, Scope::Cross).unwrap();
    assert!(
        h.equity_usd.to_f64_lossy() < 1.5 * h.maintenance_usd.to_f64_lossy(),
        "{h:?}"
    );
    assert!(!h.below_maintenance(), "{h:?}");
    let p = TraderParams {
        topup_share: 1.0,
        stop_loss_share: 0.0,
        ..TraderParams::default()
    };
    let mut trader = Trader::new(VICTIM, &p, &mut rng());
    trader.hold_until_ms = u64::MAX / 2;
    let actions = wake(&e, 10, 9_000.0, |ctx| trader.on_wake(ctx, &mut rng()));
    let due = trader.topup_due_ms.expect("a top-up is decided");
    assert!(due > 10, "after a reaction delay");
    assert!(actions.contains(&Action::WakeAt(due)));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Send(Command::Deposit { .. }))),
        "not yet"
    );
    let later = wake(&e, due, 9_000.0, |ctx| trader.on_wake(ctx, &mut rng()));
    assert!(
        later.iter().any(
            |a| matches!(a, Action::Send(Command::Deposit { account, .. }) if *account == VICTIM)
        ),
        "{later:?}"
    );
    assert_eq!(trader.topups_done, 1);
}

#[test]
fn trader_enters_with_the_trend_or_against_it() {
    let e = venue();
    let p = TraderParams {
        trend_share: 1.0,
        ..TraderParams::default()
    };
    // The mark rose from 9,000 an hour ago to 10,000 now.
    let history = MarkHistory {
        start_ms: 0,
        step_ms: 1_000,
        marks: vec![9_000.0; 3_601],
    };
    let side_of = |trader: &mut Trader| {
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now_ms: 3_600_000,
            venue: Venue::new(&e, M),
            outside_price: 10_000.0,
            mark_history: &history,
            going_gas_gwei: 20.0,
            eth_usd: 150.0,
            out: &mut out,
        };
        trader.next_entry_ms = 0;
        trader.on_wake(&mut ctx, &mut rng());
        placed(&out)[0].side
    };
    let mut trend = Trader::new(AccountId(1), &p, &mut rng());
    assert_eq!(side_of(&mut trend), Side::Buy);
    let mut reverter = Trader::new(
        AccountId(1),
        &TraderParams {
            trend_share: 0.0,
            ..p
        },
        &mut rng(),
    );
    assert_eq!(side_of(&mut reverter), Side::Sell);
}
