//! A fixed engine workload for whole-process measurements (instruction counts under
//! `valgrind --tool=callgrind`, or wall time), used to price the release profile's overflow
//! checks:
//!
//! ```sh
//! cargo build --release -p bulwark-engine --example workload
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/workload 20000
//! CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=false cargo build --release -p bulwark-engine --example workload
//! ```
//!
//! Each round: 20 makers quote 10 levels a side, a taker sweeps 5 levels each way, the makers
//! cancel what is left, the oracle moves, and every maker's health is read.

use bulwark_engine::{
    AccountId, Command, Engine, MarginMode, MarketId, MarketParams, OrderKind, PlaceOrder, Price,
    Qty, Scope, SelfTrade, Side, TimestampMs, Usd,
};

const MAKERS: u32 = 20;
const TAKER: AccountId = AccountId(0);

fn px(ticks: i64) -> Price {
    Price::from_micros(ticks * 100_000)
}

fn order(account: AccountId, side: Side, kind: OrderKind, ticks: i64, qty: i64) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: MarketId(0),
        side,
        kind,
        price: Some(px(ticks)),
        qty: Qty::from_lots(qty),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

fn main() {
    let rounds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut e = Engine::default();
    let mut now = 1u64;
    let mut apply = |e: &mut Engine, c: &Command| {
        now += 1;
        e.apply(c, TimestampMs(now)).map(|ev| ev.len()).unwrap_or(0)
    };
    apply(
        &mut e,
        &Command::CreateMarket {
            params: Box::new(MarketParams::btc_like("BTC-PERP", px(500_000))),
        },
    );
    for a in 0..=MAKERS {
        let amount = Usd::from_micros(10_000_000 * 1_000_000);
        apply(
            &mut e,
            &Command::Deposit {
                account: AccountId(a),
                amount_usd: amount,
            },
        );
    }
    let mut events = 0usize;
    let mut checksum = 0i64;
    for r in 0..rounds {
        let mid = 500_000 + (r % 200) as i64 - 100;
        for m in 1..=MAKERS {
            for lvl in 0..10 {
                events += apply(
                    &mut e,
                    &order(AccountId(m), Side::Buy, OrderKind::Limit, mid - 1 - lvl, 3),
                );
                events += apply(
                    &mut e,
                    &order(AccountId(m), Side::Sell, OrderKind::Limit, mid + 1 + lvl, 3),
                );
            }
        }
        events += apply(
            &mut e,
            &order(TAKER, Side::Buy, OrderKind::Ioc, mid + 5, 300),
        );
        events += apply(
            &mut e,
            &order(TAKER, Side::Sell, OrderKind::Ioc, mid - 5, 300),
        );
        for m in 1..=MAKERS {
            events += apply(
                &mut e,
                &Command::CancelAll {
                    account: AccountId(m),
                    market: None,
                },
            );
        }
        events += apply(
            &mut e,
            &Command::OraclePrice {
                market: MarketId(0),
                price: px(mid),
            },
        );
        for m in 1..=MAKERS {
            if let Ok(h) = e.health(AccountId(m), Scope::Cross) {
                checksum = checksum.wrapping_add(h.equity_usd.micros());
            }
        }
    }
    println!(
        "rounds {rounds} events {events} checksum {checksum} hash {}",
        bulwark_engine::state_hash_hex(&e)
    );
}
