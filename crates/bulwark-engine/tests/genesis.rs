//! Genesis positions, by hand: positions booked from a snapshot at their entry, the genesis
//! balance that keeps conservation exact, and the gate that keeps live commands out until the
//! market balances. The market is `common::params()` at 100 (1 lot = 1 unit, maintenance 5%,
//! initial 10%, no fees); every command is followed by the full invariant check (test build).

mod common;

use bulwark_engine::*;
use common::{params, px, usd, Venue};

const A: u32 = 0;
const B: u32 = 1;
const C: u32 = 2;

fn genesis(account: u32, qty: i64, entry: &str) -> Command {
    Command::GenesisPosition(GenesisPosition {
        account: AccountId(account),
        market: MarketId(0),
        qty: Qty::from_lots(qty),
        entry_price: px(entry),
        margin: MarginMode::Cross,
        isolated_usd: Usd::ZERO,
    })
}

fn isolated(account: u32, qty: i64, entry: &str, margin: &str) -> Command {
    Command::GenesisPosition(GenesisPosition {
        margin: MarginMode::Isolated,
        isolated_usd: usd(margin),
        ..match genesis(account, qty, entry) {
            Command::GenesisPosition(g) => g,
            _ => unreachable!(),
        }
    })
}

fn venue() -> Venue {
    let mut p = params();
    p.initial_price = px("100");
    let mut v = Venue::new(p);
    v.deposit(A, "500");
    v.deposit(B, "500");
    v.deposit(C, "100000");
    v
}

fn equity(v: &Venue, a: u32) -> Usd {
    v.e.health(AccountId(a), Scope::Cross).unwrap().equity_usd
}

#[test]
fn a_long_booked_at_100_is_up_100_at_110() {
    let mut v = venue();
    // A long 10 at 100 (cost 1,000), B short 10 at 105 (cost -1,050): no cash moves.
    let ev = v.ok(genesis(A, 10, "100"));
    assert!(ev.contains(&Event::GenesisPosition {
        account: AccountId(A),
        market: MarketId(0),
        qty: Qty::from_lots(10),
        entry_price: px("100"),
        cost_usd: usd("1000"),
        mode: MarginMode::Cross,
        isolated_usd: Usd::ZERO,
    }));
    v.ok(genesis(B, -10, "105"));
    assert_eq!(v.collateral(A), usd("500"));
    assert_eq!(v.collateral(B), usd("500"));
    let ev = v.ok(Command::EndGenesis);
    // The genesis balance is the sum of the cost bases: 1,000 - 1,050.
    assert_eq!(
        ev,
        vec![Event::GenesisEnded {
            genesis_cost_usd: usd("-50")
        }]
    );
    assert_eq!(
        v.e.market(MarketId(0)).unwrap().open_interest,
        Qty::from_lots(10)
    );
    // At the initial mark (100): A is flat on its entry, B is up 50.
    assert_eq!(equity(&v, A), usd("500"));
    assert_eq!(equity(&v, B), usd("550"));
    v.oracle("110");
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("110"));
    assert_eq!(equity(&v, A), usd("600"), "+100 unrealized on 10 units");
    assert_eq!(equity(&v, B), usd("450"), "-50 unrealized on 10 units");
    // Closing through the book realizes exactly that: A sells 10 to C at 110, C sells 10 to
    // B at 110. Conservation (checked after every command) holds throughout.
    v.limit(C, Side::Buy, "110", 10);
    v.limit(A, Side::Sell, "110", 10);
    assert_eq!(v.collateral(A), usd("600"));
    assert_eq!(v.qty(A), Qty::ZERO);
    v.limit(C, Side::Sell, "110", 10);
    v.limit(B, Side::Buy, "110", 10);
    assert_eq!(v.collateral(B), usd("450"));
    v.e.check_invariants().unwrap();
}

#[test]
fn live_commands_wait_for_a_balanced_end() {
    let mut v = venue();
    v.ok(genesis(A, 10, "100"));
    v.ok(genesis(B, -4, "100"));
    let before = state_hash(&v.e);
    for cmd in [
        Command::OraclePrice {
            market: MarketId(0),
            price: px("100"),
        },
        Command::Tick,
        v.order(0, C, Side::Buy, OrderKind::Limit, "99", 1),
    ] {
        assert_eq!(v.try_cmd(cmd), Err(Reject::GenesisOpen));
    }
    let r = v.try_cmd(Command::EndGenesis).unwrap_err();
    assert_eq!(
        r.to_string(),
        "market MarketId(0) does not balance: 10 lots long, 4 lots short (difference 6); \
         a named account must take the net"
    );
    assert_eq!(state_hash(&v.e), before, "rejections changed nothing");
    // Set-up commands still pass during genesis.
    v.deposit(C, "1");
    // C, the external account, takes the net.
    v.ok(genesis(C, -6, "100"));
    v.ok(Command::EndGenesis);
    assert_eq!(v.try_cmd(Command::EndGenesis), Err(Reject::NoGenesis));
    v.oracle("100");
    // The market is priced now: no more genesis in it.
    assert_eq!(
        v.try_cmd(genesis(A, 1, "100")),
        Err(Reject::GenesisClosed {
            market: MarketId(0)
        })
    );
}

#[test]
fn bad_genesis_positions_are_refused() {
    let mut v = venue();
    let before = state_hash(&v.e);
    let cases = [
        (genesis(9, 1, "100"), Reject::UnknownAccount(AccountId(9))),
        (genesis(A, 0, "100"), Reject::QtyNotPositive(Qty::ZERO)),
        (genesis(A, 1, "0"), Reject::PriceNotPositive(px("0"))),
        (
            genesis(A, 1, "100001"),
            Reject::PriceOutOfRange {
                price: px("100001"),
                max: px("100000"),
            },
        ),
        (
            genesis(A, 1_000_001, "1"),
            Reject::PositionLimit {
                qty: Qty::from_lots(1_000_001),
                limit: Qty::from_lots(1_000_000),
            },
        ),
        (
            isolated(A, 1, "100", "501"),
            Reject::InsufficientCollateral {
                available: usd("500"),
                requested: usd("501"),
            },
        ),
        (
            Command::GenesisPosition(GenesisPosition {
                isolated_usd: usd("1"),
                ..match genesis(A, 1, "100") {
                    Command::GenesisPosition(g) => g,
                    _ => unreachable!(),
                }
            }),
            Reject::CrossWithIsolated(usd("1")),
        ),
        (Command::EndGenesis, Reject::NoGenesis),
    ];
    for (cmd, want) in cases {
        assert_eq!(v.try_cmd(cmd.clone()), Err(want), "{cmd:?}");
    }
    v.ok(genesis(A, 1, "100"));
    assert_eq!(
        v.try_cmd(genesis(A, -1, "100")),
        Err(Reject::GenesisPositionExists {
            market: MarketId(0)
        })
    );
    assert_ne!(state_hash(&v.e), before);
}

#[test]
fn an_isolated_genesis_position_takes_its_margin_from_cross() {
    let mut v = venue();
    v.ok(isolated(A, 10, "100", "200"));
    v.ok(genesis(B, -10, "100"));
    v.ok(Command::EndGenesis);
    assert_eq!(v.collateral(A), usd("300"));
    let iso =
        v.e.health(AccountId(A), Scope::Isolated(MarketId(0)))
            .unwrap();
    assert_eq!(iso.equity_usd, usd("200"));
    // At 84 the isolated pool is below maintenance (equity 40 < 5% of 840) and flagged; the
    // cross pool is untouched.
    v.oracle("84");
    let flag =
        v.e.flags()
            .get(&(AccountId(A), Scope::Isolated(MarketId(0))))
            .copied();
    assert_eq!(flag.map(|f| f.below_maintenance), Some(true));
    assert_eq!(equity(&v, A), usd("300"));
}

#[test]
fn an_underwater_snapshot_account_is_flagged_at_genesis() {
    let mut v = venue();
    // B short 10 at 40 with 500 of collateral at a mark of 100: equity 500 - 600 < 0.
    v.ok(genesis(A, 10, "40"));
    let ev = v.ok(genesis(B, -10, "40"));
    assert!(ev.iter().any(|e| matches!(e, Event::NegativeEquity { .. })));
    v.ok(Command::EndGenesis);
    v.e.check_invariants().unwrap();
}

#[test]
fn genesis_commands_read_as_json() {
    let g: Command = serde_json::from_str(
        r#"{"cmd":"genesis_position","account":3,"market":0,"qty":-5,"entry_price":"101.5","margin":"isolated","isolated_usd":"20"}"#,
    )
    .unwrap();
    assert_eq!(g, {
        let mut c = isolated(3, -5, "101.5", "20");
        if let Command::GenesisPosition(p) = &mut c {
            p.account = AccountId(3);
        }
        c
    });
    let end: Command = serde_json::from_str(r#"{"cmd":"end_genesis"}"#).unwrap();
    assert_eq!(end, Command::EndGenesis);
    assert!(serde_json::from_str::<Command>(r#"{"cmd":"end_genesis","x":1}"#).is_err());
}
