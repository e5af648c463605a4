//! The backstop vault's policy (`VaultPolicy`): a bounded unwind of what it took over, exposure
//! limits, and ADL events that say why the vault did not take a position. Amounts by hand.

mod common;

use bulwark_engine::*;
use common::{params, px, usd, Venue};

const MM: u32 = 0; // market maker
const T: u32 = 1; // the trader who goes bankrupt
const K: u32 = 2; // the keeper
const LP: u32 = 3; // vault liquidity provider

/// T long 10 at 1,000 with 1,000 of collateral; the vault holds `vault_usd` of LP money.
fn venue(vault_usd: &str, policy: VaultPolicy) -> Venue {
    let mut v = Venue::new(params());
    v.venue(VenueParam::VaultPolicy(policy));
    v.deposit(MM, "1000000");
    v.deposit(T, "1000");
    v.deposit(K, "10");
    v.deposit(LP, "100000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd(vault_usd),
    });
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T, Side::Buy, "1000", 10);
    v
}

fn liquidate(v: &mut Venue) -> Vec<Event> {
    v.ok(Command::Liquidate {
        keeper: AccountId(K),
        account: AccountId(T),
        scope: Scope::Cross,
    })
}

/// The policy these tests compute by hand: a quarter of the depth within 0.5% of the mark,
/// once a minute, faster past an hour (not the defaults, which the lab chose).
fn slow() -> VaultPolicy {
    VaultPolicy {
        unwind_depth_share: Ppm::from_raw(250_000),
        unwind_band: Ppm::from_raw(5_000),
        unwind_interval_ms: 60_000,
        max_hold_ms: 3_600_000,
        max_market_exposure: Ppm::from_raw(1_250_000),
        max_total_exposure: Ppm::from_raw(2_000_000),
    }
}

fn unwinds(ev: &[Event]) -> Vec<Event> {
    ev.iter()
        .filter(|e| matches!(e, Event::VaultUnwound { .. }))
        .cloned()
        .collect()
}

/// Oracle 820 -> mark 910 with no bids: the vault takes T's 10 units at the mark 910 with T's
/// 100 of equity (the case of `tests/liquidation.rs`).
fn taken_over(policy: VaultPolicy) -> Venue {
    let mut v = venue("50000", policy);
    v.oracle("820");
    assert_eq!(v.mark(), px("910"));
    let ev = liquidate(&mut v);
    assert!(ev.iter().any(|e| matches!(e, Event::VaultTakeover { .. })));
    assert_eq!(v.e.vault_state().positions, 1);
    v
}

fn vault_qty(v: &Venue) -> Qty {
    v.e.vault()
        .account
        .position(MarketId(0))
        .map_or(Qty::ZERO, |p| p.qty)
}

#[test]
fn the_vault_unwinds_a_share_of_the_depth_in_its_band_at_most_once_per_interval() {
    let mut v = taken_over(slow());
    let t_takeover = v.t;
    // The mark must keep the trade EMA's pull for the minute this test spans.
    v.ok(Command::SetParam {
        market: MarketId(0),
        param: Param::OracleStaleMs(600_000),
    });
    // Bids: 8 at 908 (inside the 0.5% band: 910 - 4.55 = 905.45) and 100 at 900 (outside).
    v.limit(MM, Side::Buy, "908", 8);
    v.limit(MM, Side::Buy, "900", 100);
    let ev = v.oracle("820");
    let mark = v.mark();
    assert!(
        mark >= px("906"),
        "the band must still hold the 908 bid: mark {mark:?}"
    );
    // 25% of the 8 lots in the band: 2 lots sold at 908 against a cost of 910 a unit.
    assert_eq!(
        unwinds(&ev),
        [Event::VaultUnwound {
            market: MarketId(0),
            qty: Qty::from_lots(2),
            realized_pnl_usd: usd("-4"),
            fees_usd: Usd::ZERO,
            held_ms: v.t - t_takeover,
            depth_share: Ppm::from_raw(250_000),
            qty_left: Qty::from_lots(8),
        }]
    );
    assert_eq!(vault_qty(&v), Qty::from_lots(8));
    // Within the interval (60 s) nothing more, whatever the depth.
    v.t += 30_000;
    assert!(unwinds(&v.oracle("820")).is_empty());
    // After it, 25% of the 6 lots left at 908: 1.5, rounded down to 1.
    v.t += 30_000;
    let ev = unwinds(&v.oracle("820"));
    assert!(matches!(
        ev.as_slice(),
        [Event::VaultUnwound { qty, qty_left, .. }] if *qty == Qty::from_lots(1) && *qty_left == Qty::from_lots(7)
    ));
}

#[test]
fn past_the_longest_holding_time_the_unwind_share_rises() {
    let mut v = taken_over(slow());
    let t_takeover = v.t;
    v.limit(MM, Side::Buy, "908", 8);
    // Held for two hours: one hour past `max_hold_ms`, so the share is 25% + 25% x 1 = 50%:
    // 4 of the 8 lots in the band.
    v.t = t_takeover + 2 * 3_600_000 - 1;
    let ev = unwinds(&v.oracle("820"));
    assert!(matches!(
        ev.as_slice(),
        [Event::VaultUnwound { qty, depth_share, held_ms, .. }]
            if *qty == Qty::from_lots(4)
            && *depth_share == Ppm::from_raw(500_000)
            && *held_ms == 2 * 3_600_000
    ));
    // Held for five hours: 25% x (1 + 4) = 125%, capped at the whole band: all 4 left at 908.
    v.t = t_takeover + 5 * 3_600_000 - 1;
    let ev = unwinds(&v.oracle("820"));
    assert!(matches!(
        ev.as_slice(),
        [Event::VaultUnwound { qty, depth_share, .. }]
            if *qty == Qty::from_lots(4) && *depth_share == Ppm::from_raw(1_000_000)
    ));
}

#[test]
fn a_flat_vault_forgets_its_inventory_clock() {
    let mut v = taken_over(VaultPolicy {
        unwind_depth_share: Ppm::from_raw(1_000_000),
        ..slow()
    });
    v.limit(MM, Side::Buy, "909", 10);
    let ev = unwinds(&v.oracle("820"));
    assert!(matches!(
        ev.as_slice(),
        [Event::VaultUnwound { qty_left, .. }] if qty_left.is_zero()
    ));
    assert!(v.e.vault().inventory.is_empty());
    assert_eq!(vault_qty(&v), Qty::ZERO);
}

#[test]
fn the_rate_limit_never_holds_back_the_reduction_inside_the_margin_limit() {
    // A vault of 1,500 at 3x its maintenance, exposure limits out of the way.
    let mut w = venue("1500", {
        VaultPolicy {
            max_market_exposure: Ppm::from_raw(1_000_000_000),
            max_total_exposure: Ppm::from_raw(1_000_000_000),
            ..slow()
        }
    });
    w.venue(VenueParam::VaultMarginMultiplier(Ppm::from_raw(3_000_000)));
    w.oracle("820");
    liquidate(&mut w);
    assert_eq!(vault_qty(&w), Qty::from_lots(10));
    // One unwind (1 lot at 909: 25% of 4 lots in the band) starts the interval.
    w.limit(MM, Side::Buy, "909", 4);
    let ev = unwinds(&w.oracle("820"));
    assert_eq!(ev.len(), 1, "{ev:?}");
    // Now 9 lots at a cost of 8,190 and 1,599 of collateral: equity 9 m - 6,591 against a
    // limit of 3 x 5% x 9 m = 1.35 m, broken below m = 861.6. A bid at 850 and the oracle
    // at 700 pull the mark down within the minute: the vault must reduce at once.
    w.limit(MM, Side::Buy, "850", 100);
    let mut reduced = false;
    for _ in 0..5 {
        w.t += 1_000;
        let ev = w.oracle("700");
        assert!(unwinds(&ev).is_empty(), "the interval binds the unwind");
        if ev.iter().any(|e| matches!(e, Event::VaultReduced { .. })) {
            assert!(w.mark() < px("861.6"));
            reduced = true;
            break;
        }
    }
    assert!(reduced, "the vault did not reduce within the interval");
}

#[test]
fn the_vault_refuses_a_takeover_past_its_exposure_limit_and_adl_says_why() {
    // A vault of 1,500 at 3x its maintenance: 10 units at 910 need 3 x 455 = 1,365 <= 1,600
    // of equity, so the margin limit accepts; but 9,100 of notional is 5.69x its equity of
    // 1,600, over the 1.25x market limit (2,000).
    let mut v = venue("1500", slow());
    v.venue(VenueParam::VaultMarginMultiplier(Ppm::from_raw(3_000_000)));
    v.oracle("820");
    let ev = liquidate(&mut v);
    assert!(!ev.iter().any(|e| matches!(e, Event::VaultTakeover { .. })));
    let reasons: Vec<VaultRefusal> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [VaultRefusal::MarketExposure]);
    // With a 6x market limit but a 5x total limit, the total limit refuses.
    let mut w = venue(
        "1500",
        VaultPolicy {
            max_market_exposure: Ppm::from_raw(6_000_000),
            max_total_exposure: Ppm::from_raw(5_000_000),
            ..slow()
        },
    );
    w.venue(VenueParam::VaultMarginMultiplier(Ppm::from_raw(3_000_000)));
    w.oracle("820");
    let ev = liquidate(&mut w);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Deleveraged {
            reason: VaultRefusal::TotalExposure,
            ..
        }
    )));
    // With both at 6x (9,600 >= 9,100) the vault takes it.
    let mut x = venue(
        "1500",
        VaultPolicy {
            max_market_exposure: Ppm::from_raw(6_000_000),
            max_total_exposure: Ppm::from_raw(6_000_000),
            ..slow()
        },
    );
    x.venue(VenueParam::VaultMarginMultiplier(Ppm::from_raw(3_000_000)));
    x.oracle("820");
    let ev = liquidate(&mut x);
    assert!(ev.iter().any(|e| matches!(e, Event::VaultTakeover { .. })));
}

#[test]
fn a_policy_out_of_range_is_refused_by_name_and_changes_nothing() {
    let mut v = Venue::new(params());
    let cases = [
        (
            VaultPolicy {
                unwind_depth_share: Ppm::from_raw(1_000_001),
                ..VaultPolicy::default()
            },
            "vault_policy.unwind_depth_share",
        ),
        (
            VaultPolicy {
                unwind_band: Ppm::from_raw(0),
                ..VaultPolicy::default()
            },
            "vault_policy.unwind_band",
        ),
        (
            VaultPolicy {
                max_hold_ms: u64::MAX,
                ..VaultPolicy::default()
            },
            "vault_policy.max_hold_ms",
        ),
        (
            VaultPolicy {
                unwind_interval_ms: u64::MAX,
                ..VaultPolicy::default()
            },
            "vault_policy.unwind_interval_ms",
        ),
        (
            VaultPolicy {
                max_market_exposure: Ppm::from_raw(0),
                ..VaultPolicy::default()
            },
            "vault_policy.max_market_exposure",
        ),
        (
            VaultPolicy {
                max_total_exposure: Ppm::from_raw(-1),
                ..VaultPolicy::default()
            },
            "vault_policy.max_total_exposure",
        ),
    ];
    for (policy, field) in cases {
        let before = state_hash(&v.e);
        let r = v.try_cmd(Command::SetVenueParam {
            param: VenueParam::VaultPolicy(policy),
        });
        match r {
            Err(Reject::InvalidParam { name, .. }) => assert_eq!(name, field),
            other => panic!("{field}: {other:?}"),
        }
        assert_eq!(state_hash(&v.e), before);
    }
    assert_eq!(v.e.venue_params().vault_policy, VaultPolicy::default());
}
