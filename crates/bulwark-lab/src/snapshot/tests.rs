use super::*;
use bulwark_engine::{state_hash_hex, Engine, MarketParams, TimestampMs};
use std::path::PathBuf;

fn info() -> Vec<MarketInfo> {
    ["BTC-PERP", "ETH-PERP"]
        .iter()
        .zip([50_000, 2_000])
        .map(|(s, p)| {
            let m = MarketParams::btc_like(s, Price::from_micros(p * 1_000_000));
            MarketInfo {
                symbol: m.symbol,
                lots_per_unit: m.lots_per_unit,
                tick_size: m.tick_size,
                initial_price: m.initial_price,
            }
        })
        .collect()
}

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (f, text) in files {
        std::fs::write(d.path().join(f), text).unwrap();
    }
    d
}

const VENUE: &str = r#"{"insurance_fund_usd": "25000", "vault_usd": "100000"}"#;
const ACCOUNTS: &str = "account_id,collateral_usd\nalice,10000\nbob,5000.5\ncarol,20000\n";
const POSITIONS: &str = "account_id,market,qty_units,entry_price,mode,isolated_margin_usd
alice,BTC-PERP,0.5,48000.25,cross,0
bob,BTC-PERP,-0.2,51000,isolated,2000
carol,BTC-PERP,-0.3,50500,cross,0
carol,ETH-PERP,-2,1990,cross,0
alice,ETH-PERP,2,2010.5,isolated,500
";
const ORDERS: &str = "account_id,market,side,price,qty_units
carol,BTC-PERP,buy,49000,0.1
carol,BTC-PERP,sell,51000.5,0.1
";

fn good() -> tempfile::TempDir {
    folder(&[
        ("venue.json", VENUE),
        ("accounts.csv", ACCOUNTS),
        ("positions.csv", POSITIONS),
        ("orders.csv", ORDERS),
    ])
}

/// A fresh engine with the two markets and the snapshot booked (accounts from 2, the
/// treasury 0 and the vault's LP 1), priced at the initial prices, orders resting.
fn boot(s: &Snapshot) -> Engine {
    let mut e = Engine::default();
    let mut t = 0;
    let mut apply = |e: &mut Engine, c: &Command| {
        t += 1;
        e.apply(c, TimestampMs(t))
            .unwrap_or_else(|r| panic!("{c:?}: {r}"));
    };
    for m in info() {
        let params = MarketParams::btc_like(&m.symbol, m.initial_price);
        apply(
            &mut e,
            &Command::CreateMarket {
                params: Box::new(params),
            },
        );
    }
    for c in s.genesis_commands(2, AccountId(0), AccountId(1)) {
        apply(&mut e, &c);
    }
    for (i, m) in info().iter().enumerate() {
        let price = m.initial_price;
        let market = MarketId(i as u16);
        apply(&mut e, &Command::OraclePrice { market, price });
    }
    for (_, c) in s.order_commands(2) {
        apply(&mut e, &c);
    }
    e.check_invariants().unwrap();
    e
}

fn files(d: &Path) -> Vec<String> {
    ["accounts.csv", "positions.csv", "orders.csv", "venue.json"]
        .iter()
        .map(|f| std::fs::read_to_string(d.join(f)).unwrap())
        .collect()
}

#[test]
fn a_snapshot_loads_and_books_every_row() {
    let d = good();
    let s = Snapshot::load(d.path(), &info()).unwrap();
    assert_eq!(s.accounts.len(), 3);
    assert_eq!(s.positions[1].qty, Qty::from_lots(-200));
    assert_eq!(
        s.positions[0].entry_price,
        Price::from_micros(48_000_250_000)
    );
    let e = boot(&s);
    // bob (account 3) deposited 5,000.5 + 2,000 and moved 2,000 into the isolated position.
    let bob = e.account(AccountId(3)).unwrap();
    assert_eq!(bob.collateral_usd, "5000.5".parse().unwrap());
    assert_eq!(bob.positions[0].isolated_usd, "2000".parse().unwrap());
    // alice long 0.5 at 48,000.25 costs 24,000.125.
    let alice = e.account(AccountId(2)).unwrap();
    assert_eq!(alice.positions[0].cost_usd, "24000.125".parse().unwrap());
    assert_eq!(e.insurance_usd(), "25000".parse().unwrap());
    assert_eq!(e.vault().account.collateral_usd, "100000".parse().unwrap());
    assert_eq!(e.markets()[0].open_interest, Qty::from_lots(500));
    assert_eq!(e.markets()[0].book.orders_in_priority(Side::Buy).count(), 1);
}

#[test]
fn a_snapshot_round_trip_keeps_the_state_hash() {
    let d = good();
    let s = Snapshot::load(d.path(), &info()).unwrap();
    let e = boot(&s);
    let names: Vec<String> = s.accounts.iter().map(|a| a.name.clone()).collect();
    let name = |id: AccountId| names[id.0 as usize - 2].clone();
    let out: PathBuf = d.path().join("written");
    write_snapshot(&e, &out, &name).unwrap();
    let again = Snapshot::load(&out, &info()).unwrap();
    let e2 = boot(&again);
    assert_eq!(state_hash_hex(&e), state_hash_hex(&e2));
    // Written from the reloaded state, the files are the same bytes.
    let out2 = d.path().join("written2");
    write_snapshot(&e2, &out2, &name).unwrap();
    assert_eq!(files(&out), files(&out2));
    // Entries on the micro grid come back as they were.
    assert!(files(&out)[1].contains("alice,BTC-PERP,0.5,48000.25,cross,0\n"));
    assert!(files(&out)[1].contains("bob,BTC-PERP,-0.2,51000,isolated,2000\n"));
}

#[test]
fn an_entry_off_the_grid_settles_on_a_fixed_point() {
    // 3 lots at a cost that is no whole micro-USD per lot: the written entry books a cost one
    // micro-USD away at most, then stays.
    let positions = "account_id,market,qty_units,entry_price,mode,isolated_margin_usd
alice,BTC-PERP,0.003,50000.000333,cross,0
bob,BTC-PERP,-0.003,49999.999999,cross,0
";
    let d = folder(&[
        ("venue.json", "{}"),
        ("accounts.csv", ACCOUNTS),
        ("positions.csv", positions),
    ]);
    let e = boot(&Snapshot::load(d.path(), &info()).unwrap());
    let name = |id: AccountId| format!("a{}", id.0);
    write_snapshot(&e, &d.path().join("w1"), &name).unwrap();
    let e2 = boot(&Snapshot::load(&d.path().join("w1"), &info()).unwrap());
    write_snapshot(&e2, &d.path().join("w2"), &name).unwrap();
    assert_eq!(files(&d.path().join("w1")), files(&d.path().join("w2")));
    let cost = |e: &Engine, a: u32| e.account(AccountId(a)).unwrap().positions[0].cost_usd;
    for a in [2, 3] {
        let d = cost(&e2, a).micros() - cost(&e, a).micros();
        assert!((0..=1).contains(&d.abs()), "{a}: {d}");
    }
}

#[test]
fn every_bad_row_is_named() {
    let accounts =
        "account_id,collateral_usd\nalice,10000\nalice,1\nbo b,1\ncarol,-5\ndan,1e3\nerin,1\n";
    let positions = "account_id,market,qty_units,entry_price,mode,isolated_margin_usd
alice,BTC-PERP,0.0005,50000,cross,0
zed,BTC-PERP,1,50000,cross,0
alice,DOGE-PERP,1,1,cross,0
alice,ETH-PERP,1,0,cross,0
alice,ETH-PERP,1,1,sideways,0
erin,BTC-PERP,1,1,cross,5
";
    let orders = "account_id,market,side,price,qty_units\nalice,BTC-PERP,buy,50000.05,1\n";
    let d = folder(&[
        (
            "venue.json",
            r#"{"insurance_fund_usd": "-1", "vault_usd": 5.5}"#,
        ),
        ("accounts.csv", accounts),
        ("positions.csv", positions),
        ("orders.csv", orders),
    ]);
    let e = Snapshot::load(d.path(), &info()).unwrap_err();
    let got: Vec<String> = e.0.iter().map(|r| r.to_string()).collect();
    expect_test::expect![[r#"
        [
            "venue.json, json: amount 5.5 is a JSON float; write it as a string (\"5.5\") so it stays exact at line 1 column 45",
            "accounts.csv line 3, account_id: `alice` again (first on line 2)",
            "accounts.csv line 4, account_id: `bo b` is not an account id (1 to 64 letters, digits, '-', '_' or '.')",
            "accounts.csv line 5, collateral_usd: -5 must be >= 0",
            "accounts.csv line 6, collateral_usd: `1e3`: invalid character 'e' in amount (expected digits, one '.', optional '-') (write a decimal such as 1250.5)",
            "positions.csv line 2, qty_units: 0.0005 is not a whole number of lots (1000 lots a unit)",
            "positions.csv line 3, account_id: `zed` is not in accounts.csv",
            "positions.csv line 4, market: unknown market `DOGE-PERP` (the run's: BTC-PERP, ETH-PERP)",
            "positions.csv line 5, entry_price: 0 must be > 0",
            "positions.csv line 6, market: a second position of `alice` in ETH-PERP (first on line 5)",
            "positions.csv line 7, isolated_margin_usd: 5 on a cross position: write 0",
            "orders.csv line 2, price: 50000.05 is not on the tick grid (0.1)",
        ]
    "#]]
    .assert_debug_eq(&got);
}

#[test]
fn an_unbalanced_market_needs_an_external_account() {
    let positions = "account_id,market,qty_units,entry_price,mode,isolated_margin_usd
alice,BTC-PERP,0.5,48000,cross,0
bob,BTC-PERP,-0.2,51000,cross,0
";
    let files = |venue: &'static str| {
        folder(&[
            ("venue.json", venue),
            ("accounts.csv", ACCOUNTS),
            ("positions.csv", positions),
        ])
    };
    let e = Snapshot::load(files("{}").path(), &info()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad snapshot:\n  positions.csv, qty_units: market BTC-PERP: long and short differ by \
         300 lots; name an `external_account` in venue.json to take the net"
    );
    // Named, the external account takes the net short 0.3 at the initial price, funded 1x.
    let d = files(r#"{"external_account": "street"}"#);
    let s = Snapshot::load(d.path(), &info()).unwrap();
    let street = s.accounts.last().unwrap();
    assert_eq!(street.name, "street");
    assert_eq!(street.collateral_usd, "15000".parse().unwrap());
    let p = s.positions.last().unwrap();
    assert_eq!((p.account, p.qty), (3, Qty::from_lots(-300)));
    let e = boot(&s);
    assert_eq!(e.markets()[0].open_interest, Qty::from_lots(500));
    // Listed in accounts.csv, it keeps its stated collateral.
    let d = files(r#"{"external_account": "carol"}"#);
    let s = Snapshot::load(d.path(), &info()).unwrap();
    assert_eq!(s.accounts.len(), 3);
    assert_eq!(s.positions.last().unwrap().account, 2);
}
