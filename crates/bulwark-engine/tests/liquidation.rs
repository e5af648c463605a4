//! Hand-computed liquidation and waterfall cases. Every number is worked out in a comment.
//!
//! The market is `common::params()` (1 lot = 1 unit, price 1,000, maintenance 5%, initial 2x,
//! no trading fees; the mark is the mean of the oracle and the trade EMA, 1,000 after the
//! opening trades).

mod common;

use bulwark_engine::VAULT;
use bulwark_engine::*;
use common::{params, px, usd, Venue};

const T: u32 = 1; // the trader who gets liquidated
const K: u32 = 2; // the keeper
const MM: u32 = 0; // market maker
const LP: u32 = 3; // vault liquidity provider

impl Venue {
    /// The keeper K liquidates the account's cross pool.
    fn liquidate(&mut self, account: u32) -> Vec<Event> {
        self.ok(Command::Liquidate {
            keeper: AccountId(K),
            account: AccountId(account),
            scope: Scope::Cross,
        })
    }
}

/// The stage events of a command, in order, as short names.
fn stages(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::LiquidationStarted { .. } => Some("started"),
            Event::LiquidationPenalty { .. } => Some("penalty"),
            Event::Bankrupt { .. } => Some("bankrupt"),
            Event::VaultTakeover { .. } => Some("vault"),
            Event::InsurancePayout { .. } => Some("insurance"),
            Event::Deleveraged { .. } => Some("adl"),
            Event::SocializedLoss { .. } => Some("socialized"),
            Event::UncoveredLoss { .. } => Some("uncovered"),
            Event::LiquidationEnded { .. } => Some("ended"),
            _ => None,
        })
        .collect()
}

/// The vault bound by its margin limit alone: no exposure limits worth the name, no unwinding
/// (the tests of those are in `tests/vault_policy.rs`).
fn margin_limit_only(v: &mut Venue) {
    v.ok(Command::SetVenueParam {
        param: VenueParam::VaultPolicy(VaultPolicy {
            unwind_depth_share: Ppm::from_raw(0),
            max_market_exposure: Ppm::from_raw(1_000_000_000),
            max_total_exposure: Ppm::from_raw(1_000_000_000),
            ..VaultPolicy::default()
        }),
    });
}

/// T buys 10 at 1,000 with 1,000 of collateral (exactly the 10% initial margin).
fn opened(p: MarketParams) -> Venue {
    let mut v = Venue::new(p);
    v.deposit(MM, "1000000");
    v.deposit(T, "1000");
    v.deposit(K, "10");
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T, Side::Buy, "1000", 10);
    assert_eq!(v.qty(T), Qty::from_lots(10));
    v
}

#[test]
fn partial_liquidation_through_the_book_stops_at_the_end_requirement() {
    let mut v = opened(params());
    v.limit(MM, Side::Buy, "930", 100);
    // Oracle 880, EMA 1,000 -> mark 940. T: equity 1,000 + 9,400 - 10,000 = 400 < 470 (5%).
    v.oracle("880");
    assert_eq!(v.mark(), px("940"));
    let ev = v.liquidate(T);
    assert_eq!(stages(&ev), ["started", "penalty", "ended"]);
    // End requirement 1.5 x 470 = 705, deficit 305. Closing x frees 7.5% of x (1.5 x 5%) and
    // costs the 1% penalty: x = 305 / 6.5% = 4,692.31 USD = 5 units at 940. The book would fill
    // them at 930, 1.0639% below the mark, so the cost is 2.0639% and x = 305 / 5.4361% =
    // 5,610.64 USD = 6 units. Sold at 930: realized 5,580 - 6,000 = -420 -> collateral 580;
    // equity 580 - 240 = 340 against maintenance 188. Penalty 1% of 5,580 = 55.8 (within the
    // 152 above maintenance): 11.16 to the keeper, 44.64 to the fund.
    // Now equity 524.2 - 240 = 284.2 >= end 282 (1.5 x 188): done, 4 units left.
    assert_eq!(v.qty(T), Qty::from_lots(4));
    assert_eq!(v.collateral(T), usd("524.2"));
    assert_eq!(v.collateral(K), usd("21.16"));
    assert_eq!(v.e.insurance_usd(), usd("44.64"));
    let h = v.e.health(AccountId(T), Scope::Cross).unwrap();
    assert_eq!(
        (h.equity_usd, h.maintenance_usd),
        (usd("284.2"), usd("188"))
    );
    assert!(ev.contains(&Event::LiquidationEnded {
        account: AccountId(T),
        scope: Scope::Cross,
        equity_usd: usd("284.2"),
        maintenance_usd: usd("188"),
        in_waterfall: false,
    }));
    // Liquidation fills are marked as such.
    let liq_fills = ev
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Fill {
                    liquidation: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(liq_fills, 1);
    // Hysteresis: the account is healthy again and a second liquidation is refused.
    let again = Command::Liquidate {
        keeper: AccountId(K),
        account: AccountId(T),
        scope: Scope::Cross,
    };
    let r = v.e.apply(&again, TimestampMs(v.t + 1));
    assert_eq!(
        r.unwrap_err(),
        Reject::NotLiquidatable {
            equity: usd("284.2"),
            maintenance: usd("188")
        }
    );
}

#[test]
fn the_vault_takes_over_when_the_band_cannot_absorb() {
    let mut v = opened(params());
    v.deposit(LP, "100000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("50000"),
    });
    // No bids at all. Oracle 820 -> mark 910: equity 1,000 - 900 = 100 < 455.
    v.oracle("820");
    assert_eq!(v.mark(), px("910"));
    let ev = v.liquidate(T);
    assert_eq!(stages(&ev), ["started", "vault", "ended"]);
    // The vault takes 10 units at the bankruptcy price 910 - 100/10 = 900, with T's 100 of
    // equity; its equity is 50,100 on 50,000 USD of shares: share price 1.002.
    assert!(ev.contains(&Event::VaultTakeover {
        account: AccountId(T),
        market: MarketId(0),
        qty: Qty::from_lots(10),
        bankruptcy_price: px("900"),
        equity_usd: usd("100"),
        loss_usd: Usd::ZERO,
    }));
    assert_eq!(v.qty(T), Qty::from_lots(0));
    assert_eq!(v.collateral(T), Usd::ZERO);
    let vs = v.e.vault_state();
    assert_eq!(vs.health.equity_usd, usd("50100"));
    assert_eq!(vs.share_price_ppm, 1_002_000);
    assert_eq!(
        v.e.market(MarketId(0)).unwrap().open_interest,
        Qty::from_lots(10)
    );
}

#[test]
fn the_insurance_fund_pays_then_adl_haircuts_the_rest() {
    let mut p = params();
    p.waterfall.vault = false;
    let mut v = opened(p);
    v.ok(Command::InsuranceDeposit {
        account: AccountId(MM),
        amount_usd: usd("600"),
    });
    // Oracle 600 -> mark 800: equity 1,000 - 2,000 = -1,000. Bankrupt: straight to the waterfall.
    v.oracle("600");
    let ev = v.liquidate(T);
    assert_eq!(
        stages(&ev),
        ["started", "bankrupt", "insurance", "adl", "ended"]
    );
    assert!(ev.contains(&Event::Bankrupt {
        account: AccountId(T),
        scope: Scope::Cross,
        deficit_usd: usd("1000")
    }));
    // The fund pays all it has, 600; the market maker, closed at 800 against T, pays the other
    // 400 as a haircut: it effectively closes at 800 + 400/10 = 840 instead of the mark.
    assert!(ev.contains(&Event::InsurancePayout {
        account: AccountId(T),
        amount_usd: usd("600"),
        fund_after_usd: Usd::ZERO,
    }));
    assert!(ev.contains(&Event::Deleveraged {
        bankrupt: AccountId(T),
        counterparty: AccountId(MM),
        market: MarketId(0),
        qty: Qty::from_lots(-10),
        price: px("840"),
        haircut_usd: usd("400"),
        reason: VaultRefusal::StageOff,
    }));
    assert_eq!(v.e.insurance_usd(), Usd::ZERO);
    assert_eq!(v.collateral(T), Usd::ZERO);
    assert_eq!(v.qty(MM), Qty::from_lots(0));
    // MM: 1,000,000 - 600 (to the fund) + 2,000 (short profit) - 400 (haircut).
    assert_eq!(v.collateral(MM), usd("1001000"));
    assert_eq!(
        v.e.account(AccountId(MM)).unwrap().adl_haircut_usd,
        usd("400")
    );
    assert_eq!(
        v.e.market(MarketId(0)).unwrap().open_interest,
        Qty::from_lots(0)
    );
}

/// Three shorts A, B, C of 10 each, entered at 1,000; T and U long 15 each.
fn three_shorts(p: MarketParams) -> Venue {
    let mut v = Venue::new(p);
    let (a, b, c, u) = (10, 11, 12, 13);
    v.deposit(K, "10");
    v.deposit(a, "2000");
    v.deposit(b, "5000");
    v.deposit(c, "3000");
    v.deposit(u, "100000");
    v.deposit(T, "1500");
    for s in [a, b, c] {
        v.limit(s, Side::Sell, "1000", 10);
    }
    v.limit(T, Side::Buy, "1000", 15); // fills A 10, B 5 (time priority)
    v.limit(u, Side::Buy, "1000", 15); // fills B 5, C 10
    assert_eq!([v.qty(a), v.qty(b), v.qty(c)], [Qty::from_lots(-10); 3]);
    v
}

#[test]
fn adl_ranks_by_profit_times_leverage() {
    let mut p = params();
    p.waterfall.vault = false;
    let mut v = three_shorts(p);
    // Oracle 600 -> mark 800. T: 1,500 + 12,000 - 15,000 = -1,500.
    // Each short: upnl +2,000 on a cost of 10,000 (20%), notional 8,000. Equity: A 4,000
    // (leverage 2.0, score 0.40), B 7,000 (1.14, 0.23), C 5,000 (1.6, 0.32): order A, C, B.
    v.oracle("600");
    let ev = v.liquidate(T);
    let adl: Vec<(u32, Qty, Usd)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged {
                counterparty,
                qty,
                haircut_usd,
                ..
            } => Some((counterparty.0, *qty, *haircut_usd)),
            _ => None,
        })
        .collect();
    // 15 units: all 10 of A, then 5 of C; B untouched. The deficit of 1,500 is split by lots:
    // A 1,000 and C 500 (both close at 900 instead of 800).
    assert_eq!(
        adl,
        vec![
            (10, Qty::from_lots(-10), usd("1000")),
            (12, Qty::from_lots(-5), usd("500"))
        ]
    );
    assert_eq!(
        [v.qty(10), v.qty(11), v.qty(12)],
        [Qty::from_lots(0), Qty::from_lots(-10), Qty::from_lots(-5)]
    );
    assert_eq!(v.qty(T), Qty::from_lots(0));
}

#[test]
fn pro_rata_adl_spreads_over_the_whole_opposite_side() {
    let mut p = params();
    p.waterfall.vault = false;
    p.adl_policy = AdlPolicy::ProRata;
    let mut v = three_shorts(p);
    v.oracle("600");
    v.liquidate(T);
    // 15 lots over three shorts of 10: 5 each.
    assert_eq!([v.qty(10), v.qty(11), v.qty(12)], [Qty::from_lots(-5); 3]);
    // Each pays 1,500 x 5/15 = 500.
    for s in [10, 11, 12] {
        assert_eq!(
            v.e.account(AccountId(s)).unwrap().adl_haircut_usd,
            usd("500")
        );
    }
}

#[test]
fn socialized_loss_falls_on_open_positions_only() {
    let mut p = params();
    p.waterfall = Waterfall {
        vault: false,
        insurance: true,
        adl: false,
        socialize: true,
    };
    let mut v = three_shorts(p);
    let m = 14;
    v.deposit(m, "100000");
    let bystander = 15;
    v.deposit(bystander, "5000");
    // A bid that absorbs T's 15 units at 800 once the band no longer applies.
    v.limit(m, Side::Buy, "800", 15);
    v.oracle("600");
    let ev = v.liquidate(T);
    assert_eq!(stages(&ev), ["started", "bankrupt", "socialized", "ended"]);
    // With ADL off, T's position is sold into the book without a band: 15 at 800, realized
    // 12,000 - 15,000 = -3,000 -> collateral -1,500. The fund is empty; the three shorts (the
    // opposite side, 30 lots) owe it pro rata through their loss index: one event, step
    // ceil(1,500e6 x 1 x 1e6 / 30) = 5e13, and each short of 10 lots owes
    // ceil(10 x 5e13 / 1e6) = 500 USD, pending until it is next touched.
    assert!(ev.contains(&Event::SocializedLoss {
        market: MarketId(0),
        side: PositionSide::Short,
        amount_usd: usd("1500"),
        index_step: 50_000_000_000_000,
        open_interest: Qty::from_lots(30),
    }));
    for s in [10, 11, 12] {
        let total = v.e.socialized_loss_total(AccountId(s)).unwrap();
        assert_eq!(total, usd("500"), "account {s}");
        let a = v.e.account(AccountId(s)).unwrap();
        assert_eq!(
            a.socialized_loss_usd,
            Usd::ZERO,
            "settled only when touched"
        );
    }
    // Longs and accounts with no position pay nothing.
    assert_eq!(
        v.e.socialized_loss_total(AccountId(bystander)).unwrap(),
        Usd::ZERO
    );
    assert_eq!(v.e.socialized_loss_total(AccountId(13)).unwrap(), Usd::ZERO);
    assert_eq!(v.collateral(bystander), usd("5000"));
    assert_eq!(v.collateral(T), Usd::ZERO);
    assert_eq!(v.e.bad_debt_usd(), Usd::ZERO);
}

#[test]
fn with_every_stage_off_the_loss_is_recorded_as_bad_debt() {
    let mut p = params();
    p.waterfall = Waterfall {
        vault: false,
        insurance: false,
        adl: false,
        socialize: false,
    };
    let mut v = three_shorts(p);
    v.deposit(14, "100000");
    v.limit(14, Side::Buy, "800", 15);
    v.oracle("600");
    let ev = v.liquidate(T);
    assert_eq!(stages(&ev), ["started", "bankrupt", "uncovered", "ended"]);
    assert_eq!(v.e.bad_debt_usd(), usd("1500"));
    assert!(v.e.check_invariants().is_ok());
}

#[test]
fn native_liquidation_sweeps_after_a_price_move() {
    let mut v = opened(params());
    v.limit(MM, Side::Buy, "930", 100);
    v.ok(Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(true),
    });
    // The same move as the partial case, but nobody calls: the engine liquidates at once,
    // and the whole penalty (55.8) goes to the insurance fund.
    let ev = v.oracle("880");
    assert_eq!(stages(&ev), ["started", "penalty", "ended"]);
    assert_eq!(v.qty(T), Qty::from_lots(4));
    assert_eq!(v.e.insurance_usd(), usd("55.8"));
    assert_eq!(v.collateral(K), usd("10"));
    assert!(v.e.liquidation_queue().is_empty());
}

#[test]
fn vault_shares_withdrawal_delay_and_claim() {
    let mut v = opened(params());
    v.deposit(LP, "100000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("50000"),
    });
    let shares = v.e.vault().shares[&AccountId(LP)];
    assert_eq!(shares, 50_000_000_000);
    v.ok(Command::VaultRequestWithdrawal {
        account: AccountId(LP),
        shares: shares / 2,
    });
    let early = Command::VaultClaimWithdrawal {
        account: AccountId(LP),
    };
    let r = v.e.apply(&early, TimestampMs(v.t + 1));
    assert!(matches!(r, Err(Reject::WithdrawalNotYetClaimable { .. })));
    // A day later the claim pays half of the vault's 50,000.
    v.t += 24 * 3_600_000;
    let ev = v.ok(early);
    assert!(ev.contains(&Event::VaultWithdrawn {
        account: AccountId(LP),
        shares: shares / 2,
        amount_usd: usd("25000"),
    }));
    assert_eq!(v.collateral(LP), usd("75000"));
}

#[test]
fn the_vault_reduces_itself_through_the_book_when_near_its_limit() {
    let mut v = opened(params());
    let limit = Ppm::from_raw(3_000_000);
    v.ok(Command::SetVenueParam {
        param: VenueParam::VaultMarginMultiplier(limit),
    });
    margin_limit_only(&mut v);
    v.deposit(LP, "2000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("1500"),
    });
    // As before, the vault takes T's 10 units at 910 with T's 100 of equity: collateral 1,600
    // against 3 x 455 = 1,365 of its own limit.
    v.oracle("820");
    assert_eq!(stages(&v.liquidate(T)), ["started", "vault", "ended"]);
    v.limit(MM, Side::Buy, "870", 100);
    // Oracle 760 -> mark 880: vault equity 1,600 + 8,800 - 9,100 = 1,300 < 3 x 440 = 1,320.
    // It sells just enough at 870 (1.136% below the mark) to get back within its limit:
    // x = 20 / (15% - 1.136%) = 144 USD -> 1 unit. Equity 1,290 >= 3 x 396 = 1,188.
    let ev = v.oracle("760");
    assert!(ev.contains(&Event::VaultReduced {
        market: MarketId(0),
        qty: Qty::from_lots(1)
    }));
    assert!(!ev
        .iter()
        .any(|e| matches!(e, Event::LiquidationPenalty { .. })));
    let vault = v.e.vault_state();
    assert_eq!(vault.health.equity_usd, usd("1290"));
    assert_eq!(vault.health.maintenance_usd, usd("396"));
}

#[test]
fn the_native_sweep_is_bounded_and_carries_the_rest_over() {
    let mut v = Venue::new(params());
    let t2 = 4;
    v.deposit(MM, "1000000");
    v.deposit(T, "1000");
    v.deposit(t2, "900");
    v.limit(MM, Side::Sell, "1000", 19);
    v.limit(T, Side::Buy, "1000", 10);
    v.limit(t2, Side::Buy, "1000", 9);
    v.limit(MM, Side::Buy, "930", 100);
    v.ok(Command::SetVenueParam {
        param: VenueParam::MaxLiquidationsPerStep(1),
    });
    v.ok(Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(true),
    });
    // Mark 940. Shortfalls: T 470 - 400 = 70; T2 423 - 360 = 63. One liquidation per step, the
    // largest shortfall first: T now, T2 at the next command.
    let ev = v.oracle("880");
    let started: Vec<u32> = ev
        .iter()
        .filter_map(|e| match e {
            Event::LiquidationStarted { account, .. } => Some(account.0),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![T]);
    let queue = v.e.liquidation_queue();
    assert_eq!(queue.len(), 1);
    assert_eq!(v.e.liquidation_queue_len(), 1);
    assert_eq!(
        (queue[0].account, queue[0].shortfall_usd),
        (AccountId(t2), usd("63"))
    );
    let ev = v.ok(Command::Tick);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::LiquidationStarted { account, .. } if account.0 == t2)));
    assert!(v.e.liquidation_queue().is_empty());
    assert_eq!(v.e.liquidation_queue_len(), 0);
}

#[test]
fn funding_includes_the_vault_position() {
    let mut v = opened(params());
    v.deposit(LP, "100000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("50000"),
    });
    v.oracle("820");
    v.liquidate(T);
    // The trade EMA of 1,000 must still count an hour later: inputs stay fresh that long.
    v.ok(Command::SetParam {
        market: MarketId(0),
        param: bulwark_engine::Param::OracleStaleMs(3_601_000),
    });
    // The vault is long 10; MM is short 10. Just before the hourly settlement a fresh oracle of
    // 880 makes the mark mean(880, 1000) = 940; the premium
    // (940 - 880) / 880 = 68,181 ppm, clamped to 7,500. The vault, long, pays 10 x 880 x
    // 0.75% = 66 USD; the short receives 66.
    v.t = 3_599_499;
    v.oracle("880");
    v.t = 3_600_099;
    let ev = v.ok(Command::Tick);
    // The longs' index rises by 880e6 x 7,500 = 6.6e12 per unit (1 lot per unit here): the
    // vault owes ceil(10 x 6.6e12 / 1e6) = 66 USD, pending until its position next changes.
    let settled = ev.iter().find_map(|e| match e {
        Event::FundingSettled {
            rate,
            index_step,
            open_interest,
            ..
        } => Some((*rate, *index_step, *open_interest)),
        _ => None,
    });
    assert_eq!(
        settled,
        Some((Ppm::from_raw(7_500), 6_600_000_000_000, Qty::from_lots(10)))
    );
    assert_eq!(v.e.funding_total(VAULT, MarketId(0)).unwrap(), usd("66"));
    assert_eq!(
        v.e.funding_total(AccountId(MM), MarketId(0)).unwrap(),
        usd("-66")
    );
}

#[test]
fn a_vault_below_its_maintenance_goes_down_the_waterfall_itself() {
    let mut v = opened(params());
    let limit = Ppm::from_raw(3_000_000);
    v.ok(Command::SetVenueParam {
        param: VenueParam::VaultMarginMultiplier(limit),
    });
    margin_limit_only(&mut v);
    v.deposit(LP, "2000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("1500"),
    });
    v.oracle("820");
    assert_eq!(stages(&v.liquidate(T)), ["started", "vault", "ended"]);
    // The vault: 1,600 of collateral, long 10 at 910. Oracle 400 -> mark 700: equity 1,600 +
    // 7,000 - 9,100 = -500, and no bid to reduce into. The vault is itself liquidated: its
    // LPs' equity is gone, and the 500 it is short is an ADL haircut on the short (MM), who
    // closes at 700 + 500/10 = 750.
    let ev = v.oracle("400");
    assert_eq!(stages(&ev), ["started", "bankrupt", "adl", "ended"]);
    assert!(ev.contains(&Event::Deleveraged {
        bankrupt: AccountId(u32::MAX),
        counterparty: AccountId(MM),
        market: MarketId(0),
        qty: Qty::from_lots(-10),
        price: px("750"),
        haircut_usd: usd("500"),
        reason: VaultRefusal::VaultItself,
    }));
    let vault = v.e.vault_state();
    assert_eq!(vault.health.equity_usd, Usd::ZERO);
    assert_eq!(vault.positions, 0);
    assert_eq!(vault.share_price_ppm, 0);
}

// ----- issue 9: every deficit paid exactly once ----------------------------------------------

/// The sum of what every waterfall stage paid in these events, and the deficits announced.
fn stage_payments(events: &[Event]) -> (Usd, Usd) {
    let mut paid = 0i64;
    let mut announced = 0i64;
    for e in events {
        paid += match e {
            Event::VaultTakeover { loss_usd, .. } => loss_usd.micros(),
            Event::InsurancePayout { amount_usd, .. } => amount_usd.micros(),
            Event::Deleveraged { haircut_usd, .. } => haircut_usd.micros(),
            Event::SocializedLoss { amount_usd, .. } => amount_usd.micros(),
            Event::UncoveredLoss { amount_usd, .. } => amount_usd.micros(),
            _ => 0,
        };
        if let Event::Bankrupt { deficit_usd, .. } = e {
            announced += deficit_usd.micros();
        }
    }
    (Usd::from_micros(paid), Usd::from_micros(announced))
}

fn no_adl_no_vault() -> MarketParams {
    let mut p = params();
    p.waterfall = Waterfall {
        vault: false,
        insurance: true,
        adl: false,
        socialize: true,
    };
    p
}

/// T long 10 at 1,000 with 1,000 of collateral, MM short 10 and 600 in the insurance fund;
/// then the oracle falls to 600 with no bid anywhere: mark 800, T's equity 1,000 - 2,000 =
/// -1,000, and T's position cannot be closed.
fn bankrupt_with_no_bid() -> Venue {
    let mut v = opened(no_adl_no_vault());
    v.ok(Command::InsuranceDeposit {
        account: AccountId(MM),
        amount_usd: usd("600"),
    });
    v.oracle("600");
    assert_eq!(v.mark(), px("800"));
    v
}

#[test]
fn a_position_that_cannot_be_closed_is_charged_to_nobody() {
    let mut v = bankrupt_with_no_bid();
    let ev = v.liquidate(T);
    // Nothing was closed, so no stage paid anything: the loss at the mark is not yet realized.
    assert_eq!(stage_payments(&ev), (Usd::ZERO, Usd::ZERO));
    assert_eq!(v.qty(T), Qty::from_lots(10));
    assert_eq!(v.collateral(T), usd("1000"));
    assert_eq!(v.e.insurance_usd(), usd("600"));
    let flag = v.e.flags()[&(AccountId(T), Scope::Cross)];
    assert!(flag.negative_equity && flag.below_maintenance);
    // The owner can neither trade the pool nor withdraw from it.
    let sell = v.order(0, T, Side::Sell, OrderKind::Ioc, "1", 10);
    assert!(matches!(
        v.try_cmd(sell),
        Err(Reject::PoolInBankruptcy { .. })
    ));
    let buy = v.order(0, T, Side::Buy, OrderKind::Limit, "700", 1);
    assert!(matches!(
        v.try_cmd(buy),
        Err(Reject::PoolInBankruptcy { .. })
    ));
    let w = Command::Withdraw {
        account: AccountId(T),
        amount_usd: usd("1"),
    };
    assert!(v.try_cmd(w).is_err());
    // LPs cannot price vault shares off a loss not yet booked.
    v.deposit(LP, "1000");
    let vd = Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("100"),
    };
    assert!(matches!(v.try_cmd(vd), Err(Reject::UnbookedLoss { .. })));
    // A bid arrives: 10 at 700. The next step retries the close without a keeper: sold at 700,
    // realized 7,000 - 10,000 = -3,000 -> collateral -2,000, the deficit actually realized.
    // The fund pays its 600, the opposite side (MM, short 10) the other 1,400.
    let bidder = 20;
    v.deposit(bidder, "100000");
    v.limit(bidder, Side::Buy, "700", 10);
    let ev = v.ok(Command::Tick);
    assert_eq!(v.qty(T), Qty::from_lots(0));
    assert_eq!(stage_payments(&ev), (usd("2000"), usd("2000")));
    assert!(ev.contains(&Event::InsurancePayout {
        account: AccountId(T),
        amount_usd: usd("600"),
        fund_after_usd: Usd::ZERO,
    }));
    assert_eq!(
        v.e.socialized_loss_total(AccountId(MM)).unwrap(),
        usd("1400")
    );
    assert_eq!(v.collateral(T), Usd::ZERO);
    assert!(!v.e.flags().contains_key(&(AccountId(T), Scope::Cross)));
}

#[test]
fn after_a_rebound_the_bankrupt_account_withdraws_only_its_own_money() {
    let mut v = bankrupt_with_no_bid();
    v.liquidate(T);
    // The price comes back: oracle 1,000, mark 1,000. T is healthy again with its own 1,000.
    v.oracle("1000");
    assert_eq!(v.mark(), px("1000"));
    assert!(!v.e.flags().contains_key(&(AccountId(T), Scope::Cross)));
    let bidder = 20;
    v.deposit(bidder, "100000");
    v.limit(bidder, Side::Buy, "1000", 10);
    let sell = v.order(0, T, Side::Sell, OrderKind::Ioc, "1000", 10);
    v.ok(sell);
    assert_eq!(v.qty(T), Qty::from_lots(0));
    // Nobody paid for T: the fund is whole, MM was charged nothing, and T can take out
    // exactly what it put in, not a micro-USD more.
    assert_eq!(v.e.insurance_usd(), usd("600"));
    assert_eq!(v.e.socialized_loss_total(AccountId(MM)).unwrap(), Usd::ZERO);
    let too_much = Command::Withdraw {
        account: AccountId(T),
        amount_usd: usd("1000.000001"),
    };
    assert!(v.try_cmd(too_much).is_err());
    v.ok(Command::Withdraw {
        account: AccountId(T),
        amount_usd: usd("1000"),
    });
}

#[test]
fn a_deficit_realized_by_the_owner_goes_down_the_waterfall() {
    let mut p = no_adl_no_vault();
    p.waterfall.insurance = false;
    let mut v = opened(p);
    // A thin bid far below: T (healthy at mark 1,000) dumps its 10 into it. Closing needs no
    // margin, so the order is allowed; it realizes 8,500 - 10,000 = -1,500 -> collateral -500
    // and leaves no position. The 500 is socialized on the opposite side of T's long: MM.
    let bidder = 20;
    v.deposit(bidder, "100000");
    v.limit(bidder, Side::Buy, "850", 10);
    let sell = v.order(0, T, Side::Sell, OrderKind::Ioc, "850", 10);
    let ev = v.ok(sell);
    assert_eq!(stage_payments(&ev), (usd("500"), usd("500")));
    assert_eq!(v.collateral(T), Usd::ZERO);
    assert_eq!(
        v.e.socialized_loss_total(AccountId(MM)).unwrap(),
        usd("500")
    );
    assert_eq!(v.e.bad_debt_usd(), Usd::ZERO);
}

#[test]
fn stage_payments_add_up_to_the_deficit_realized_and_a_bankrupt_close_pays_no_fee() {
    let mut p = no_adl_no_vault();
    p.taker_fee = Ppm::from_raw(500);
    let mut v = bankrupt_with_no_bid();
    v.ok(Command::SetParam {
        market: MarketId(0),
        param: Param::TakerFee(Ppm::from_raw(500)),
    });
    let bidder = 20;
    v.deposit(bidder, "100000");
    v.limit(bidder, Side::Buy, "700", 10);
    let fees_before = v.e.fee_pool_usd();
    let ev = v.liquidate(T);
    // Closed at 700: the realized deficit is 2,000 (not the 1,000 at the mark), with no taker
    // fee on top: the venue books no fee income that the fund and MM would pay for.
    assert_eq!(stage_payments(&ev), (usd("2000"), usd("2000")));
    let taker_fee: Usd = ev
        .iter()
        .filter_map(|e| match e {
            Event::Fill { taker_fee_usd, .. } => Some(*taker_fee_usd),
            _ => None,
        })
        .fold(Usd::ZERO, |a, b| a.checked_add(b).unwrap());
    assert_eq!(taker_fee, Usd::ZERO);
    assert_eq!(v.e.fee_pool_usd(), fees_before);
    let _ = p;
}

#[test]
fn a_cross_deficit_is_charged_to_the_market_the_loss_came_from() {
    let mut p = no_adl_no_vault();
    p.waterfall.insurance = false;
    let mut v = Venue::new(p.clone());
    p.symbol = "B-PERP".into();
    v.ok(Command::CreateMarket {
        params: Box::new(p),
    });
    let (ma, mb) = (30, 31);
    v.deposit(ma, "1000000");
    v.deposit(mb, "1000000");
    v.deposit(T, "15000");
    v.deposit(K, "10");
    // T: long 50 in A and long 100 in B, both at 1,000 (initial 10% of 150,000 = 15,000).
    v.limit_in(0, ma, Side::Sell, "1000", 50);
    v.limit_in(0, T, Side::Buy, "1000", 50);
    v.limit_in(1, mb, Side::Sell, "1000", 100);
    v.limit_in(1, T, Side::Buy, "1000", 100);
    // A crashes: oracle 200 -> mark 600. T loses 50 x 400 = 20,000 in A and nothing in B:
    // equity 15,000 - 20,000 = -5,000. B's notional (100,000) dwarfs A's (30,000), but the
    // loss came from A.
    v.oracle_in(0, "200");
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("600"));
    let bidder = 20;
    v.deposit(bidder, "1000000");
    v.limit_in(0, bidder, Side::Buy, "600", 50);
    v.limit_in(1, bidder, Side::Buy, "1000", 100);
    let ev = v.liquidate(T);
    assert_eq!(stage_payments(&ev), (usd("5000"), usd("5000")));
    // All 5,000 is socialized on A's shorts; B's shorts pay nothing.
    assert_eq!(
        v.e.socialized_loss_total(AccountId(ma)).unwrap(),
        usd("5000")
    );
    assert_eq!(v.e.socialized_loss_total(AccountId(mb)).unwrap(), Usd::ZERO);
}
