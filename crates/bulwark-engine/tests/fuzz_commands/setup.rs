//! The fuzz target's starting state, shared with `no_panic.rs` so that every input the fuzz
//! finds replays exactly.

use bulwark_core::MICROS_PER_UNIT;
use bulwark_engine::limits;
use bulwark_engine::*;

/// Accounts 0..=5 get deposits in the setup; 6..=9 start unknown; 16 and above are beyond
/// `max_accounts`.
pub const MAX_ACCOUNTS: u32 = 16;

fn usd(whole: i64) -> Usd {
    Usd::from_micros(whole * MICROS_PER_UNIT)
}

/// Market 0: BTC-like at 50,000 with 1 USD ticks and a 30 s stale oracle. Market 1: every
/// parameter at an extreme its validation still accepts (1e9 USD maximum price, one-micro
/// ticks, 1e9 lots per unit, 100% maintenance, 100x initial, 10% fees, 1 ms funding, a
/// zero-staleness oracle, every waterfall stage off).
fn markets() -> [MarketParams; 2] {
    let mut btc = MarketParams::btc_like("BTC-PERP", Price::from_micros(50_000 * MICROS_PER_UNIT));
    btc.tick_size = Price::from_micros(MICROS_PER_UNIT);
    // Deeper than the setup's book: the mark is the oracle and the trade EMA, so an oracle
    // print alone moves it.
    btc.impact_notional_usd = usd(1_000_000_000);
    btc.funding_interval_ms = 60_000;
    btc.oracle_stale_ms = 30_000;
    btc.max_order_qty = Qty::from_lots(10_000);
    btc.max_position_qty = Qty::from_lots(20_000);
    let mut x = MarketParams::btc_like("EXTREME", Price::from_micros(MICROS_PER_UNIT));
    x.tick_size = Price::from_micros(1);
    x.lots_per_unit = 1_000_000_000;
    x.max_price = Price::from_micros(limits::MAX_PRICE_MICROS);
    x.max_position_qty = Qty::from_lots(100_000_000_000);
    x.max_order_qty = Qty::from_lots(200_000_000_000);
    x.maintenance = Ppm::from_raw(1_000_000);
    x.initial_multiplier = Ppm::from_raw(100_000_000);
    x.size_premium = Ppm::from_raw(1_000_000);
    x.taker_fee = Ppm::from_raw(100_000);
    x.maker_fee = Ppm::from_raw(-100_000);
    x.funding_interval_ms = 1;
    x.funding_clamp = Ppm::from_raw(1_000_000);
    x.trade_ema_alpha = Ppm::from_raw(1_000_000);
    x.impact_notional_usd = Usd::from_micros(1);
    x.oracle_stale_ms = 0;
    x.market_order_band = Ppm::from_raw(999_999);
    x.liquidation_end_multiplier = Ppm::from_raw(1_000_000);
    x.liquidation_penalty = Ppm::from_raw(100_000);
    x.keeper_reward_share = Ppm::from_raw(1_000_000);
    x.liquidation_band = Ppm::from_raw(500_000);
    x.insurance_fee_share = Ppm::from_raw(1_000_000);
    x.waterfall = Waterfall {
        vault: false,
        insurance: false,
        adl: false,
        socialize: false,
    };
    [btc, x]
}

/// Two markets, six funded accounts, a ladder of resting orders on market 0 and leveraged
/// positions, so that oracle moves liquidate.
pub fn setup() -> Engine {
    let mut e = Engine::new(EngineConfig {
        max_accounts: MAX_ACCOUNTS,
        ..EngineConfig::default()
    });
    let t = TimestampMs(0);
    for params in markets() {
        e.apply(
            &Command::CreateMarket {
                params: Box::new(params),
            },
            t,
        )
        .unwrap();
    }
    for (a, amount) in [
        (0, 10_000_000),
        (1, 20_000),
        (2, 20_000),
        (3, 5_000),
        (4, 1_000),
        (5, 100_000),
    ] {
        let cmd = Command::Deposit {
            account: AccountId(a),
            amount_usd: usd(amount),
        };
        e.apply(&cmd, t).unwrap();
    }
    let order = |account: u32, side: Side, price: i64, qty: i64| {
        Command::PlaceOrder(PlaceOrder {
            account: AccountId(account),
            market: MarketId(0),
            side,
            kind: OrderKind::Limit,
            price: Some(Price::from_micros(price * MICROS_PER_UNIT)),
            qty: Qty::from_lots(qty),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
    };
    // A ladder from the market maker (2,000 lots = 2 BTC a level, 100 USD apart), then
    // positions at 15x-20x taken against it.
    for k in 1..=10 {
        e.apply(&order(0, Side::Buy, 50_000 - 100 * k, 2_000), t)
            .unwrap();
        e.apply(&order(0, Side::Sell, 50_000 + 100 * k, 2_000), t)
            .unwrap();
    }
    for (a, side, qty) in [
        (1, Side::Buy, 8_000),
        (2, Side::Sell, 8_000),
        (3, Side::Buy, 2_000),
        (4, Side::Sell, 300),
    ] {
        let price = if side == Side::Buy { 50_500 } else { 49_500 };
        e.apply(&order(a, side, price, qty), t).unwrap();
    }
    e
}
