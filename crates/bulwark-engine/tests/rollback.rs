//! The undo journal, mechanism by mechanism: in each hand-built case below, every arithmetic
//! step of the command's commit phase is made to fail in turn (the `testing` feature's fault
//! injection), each on a copy of the venue. Each fault must be rejected as an engine bug
//! (`Reject::Internal`, naming the command), leave the state exactly as it was (the state
//! hash, and every field including those the hash leaves out: `Engine::state_diff`), keep
//! every invariant, and leave an engine that then applies the same command exactly as one
//! that never saw the fault.
//!
//! The market is `common::params()` (1 lot = 1 unit, price 1,000, maintenance 5%, no fees; the
//! mark is the mean of the oracle and the trade EMA).

mod common;

use bulwark_engine::*;
use common::{params, px, usd, Venue};

const T: u32 = 1; // the trader who gets liquidated
const K: u32 = 2; // the keeper
const MM: u32 = 0; // market maker
const LP: u32 = 3; // vault liquidity provider

/// Fault every commit-phase arithmetic step of `cmd` in turn (on copies of the venue), check
/// each rollback, then apply `cmd` for real; returns its events. The command must make at least
/// `min_steps` steps (so each case faults what it means to).
fn fault_every_step(v: &mut Venue, cmd: Command, min_steps: u64) -> Vec<Event> {
    let now = TimestampMs(v.t + 1);
    let mut dry = v.e.clone();
    dry.fail_commit_arithmetic_at(u64::MAX);
    let expected = dry.apply(&cmd, now).map(|ev| ev.to_vec());
    let steps = dry.commit_arithmetic_steps();
    assert!(
        steps >= min_steps,
        "{} made {steps} arithmetic steps, fewer than {min_steps}",
        cmd.name()
    );
    for at in 1..=steps {
        let mut e = v.e.clone();
        e.fail_commit_arithmetic_at(at);
        match e.apply(&cmd, now) {
            Err(Reject::Internal { command, .. }) => assert_eq!(command, cmd.name()),
            other => panic!("a fault at step {at} of {steps}: {other:?}"),
        }
        assert_eq!(
            e.commit_arithmetic_steps(),
            at,
            "it failed at the step asked"
        );
        assert_eq!(
            state_hash(&e),
            state_hash(&v.e),
            "step {at}: the hash changed"
        );
        assert_eq!(e.state_diff(&v.e), None, "step {at}: the state changed");
        e.check_invariants().unwrap();
        // The rolled-back engine goes on exactly like one that never saw the fault.
        let again = e.apply(&cmd, now).map(|ev| ev.to_vec());
        assert_eq!(again, expected, "step {at}: the retry did otherwise");
        assert_eq!(
            e.state_diff(&dry),
            None,
            "step {at}: the retry ended elsewhere"
        );
    }
    v.t += 1;
    let ev = v.e.apply(&cmd, now).map(|ev| ev.to_vec());
    assert_eq!(ev, expected);
    ev.unwrap()
}

/// A command whose commit makes no arithmetic step cannot fail once planned: nothing to
/// roll back. Apply it; returns its events.
fn no_commit_arithmetic(v: &mut Venue, cmd: Command) -> Vec<Event> {
    let mut dry = v.e.clone();
    dry.fail_commit_arithmetic_at(u64::MAX);
    let expected = dry.apply(&cmd, TimestampMs(v.t + 1)).map(|ev| ev.to_vec());
    assert_eq!(dry.commit_arithmetic_steps(), 0, "{}", cmd.name());
    let ev = v.ok(cmd);
    assert_eq!(Ok(ev.clone()), expected);
    ev
}

/// Whether any event matches.
fn has(events: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(f)
}

/// T buys 10 at 1,000 with 1,000 of collateral (exactly the 10% initial margin).
fn opened(p: MarketParams) -> Venue {
    let mut v = Venue::new(p);
    v.deposit(MM, "1000000");
    v.deposit(T, "1000");
    v.deposit(K, "10");
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T, Side::Buy, "1000", 10);
    v
}

fn liquidate(account: u32) -> Command {
    Command::Liquidate {
        keeper: AccountId(K),
        account: AccountId(account),
        scope: Scope::Cross,
    }
}

#[test]
fn the_message_says_engine_bug_and_state_unchanged() {
    let mut v = opened(params());
    let cmd = v.order(0, MM, Side::Buy, OrderKind::Limit, "990", 5);
    v.e.fail_commit_arithmetic_at(1);
    let r = v.e.apply(&cmd, TimestampMs(v.t + 1)).unwrap_err();
    assert_eq!(
        r.to_string(),
        "place_order rejected by an engine bug: an internal arithmetic bound broke while it \
         was being committed; it was rolled back and the state is unchanged (please report it)"
    );
    // The developer's view keeps where it failed.
    assert!(format!("{r:?}").contains(".rs"), "{r:?}");
}

#[test]
fn orders_resting_filling_and_cancelled() {
    let mut v = opened(params());
    v.deposit(4, "50000");
    // A ladder of asks from two makers, then a taker sweeping three levels. An order that can
    // only rest on a position its account holds makes one step (its resting total:
    // `commit_resting`); account 4's first order makes its position entry (a planned order).
    for (a, price, steps) in [
        (MM, "1001", 1),
        (4, "1001", 2),
        (MM, "1002", 1),
        (4, "1003", 1),
    ] {
        let cmd = v.order(0, a, Side::Sell, OrderKind::Limit, price, 3);
        let ev = fault_every_step(&mut v, cmd, steps);
        assert!(has(&ev, |e| matches!(e, Event::OrderRested { .. })));
    }
    let sweep = v.order(0, T, Side::Sell, OrderKind::Ioc, "1", 1); // T reduces a little first
    fault_every_step(&mut v, sweep, 1);
    v.deposit(5, "100000");
    let sweep = v.order(0, 5, Side::Buy, OrderKind::Ioc, "1003", 10);
    let ev = fault_every_step(&mut v, sweep, 15);
    assert!(has(&ev, |e| matches!(e, Event::Fill { .. })));
    // Cancelling is pure bookkeeping: no arithmetic to fail.
    let cancel_all = Command::CancelAll {
        account: AccountId(4),
        market: None,
    };
    let ev = no_commit_arithmetic(&mut v, cancel_all);
    assert!(has(&ev, |e| matches!(e, Event::OrderCancelled { .. })));
}

#[test]
fn a_partial_liquidation_with_its_penalty() {
    let mut v = opened(params());
    v.limit(MM, Side::Buy, "930", 100);
    v.oracle("880");
    let ev = fault_every_step(&mut v, liquidate(T), 50);
    assert!(has(&ev, |e| matches!(e, Event::LiquidationPenalty { .. })));
    assert_eq!(v.qty(T), Qty::from_lots(4));
}

#[test]
fn a_vault_takeover() {
    let mut v = opened(params());
    v.deposit(LP, "100000");
    let deposit = Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("50000"),
    };
    fault_every_step(&mut v, deposit, 1);
    v.oracle("820");
    let ev = fault_every_step(&mut v, liquidate(T), 40);
    assert!(has(&ev, |e| matches!(e, Event::VaultTakeover { .. })));
    // Funding on the vault's position, then an LP's claim. The trade EMA of an hour before
    // must still count toward the mark (a premium to settle): inputs stay fresh that long.
    v.ok(Command::SetParam {
        market: MarketId(0),
        param: Param::OracleStaleMs(3_601_000),
    });
    v.t = 3_599_499;
    v.oracle("880");
    v.t = 3_600_098;
    let ev = fault_every_step(&mut v, Command::Tick, 10);
    assert!(has(&ev, |e| matches!(e, Event::FundingSettled { .. })));
    v.ok(Command::SetVenueParam {
        param: VenueParam::VaultWithdrawalDelayMs(0),
    });
    v.ok(Command::VaultRequestWithdrawal {
        account: AccountId(LP),
        shares: 1_000_000,
    });
    let claim = Command::VaultClaimWithdrawal {
        account: AccountId(LP),
    };
    let ev = fault_every_step(&mut v, claim, 1);
    assert!(has(&ev, |e| matches!(e, Event::VaultWithdrawn { .. })));
}

/// Three shorts A, B, C of 10 each, entered at 1,000; T and U long 15 each.
#[test]
fn a_vault_unwind_and_its_inventory_clock() {
    let mut v = opened(params());
    v.deposit(LP, "100000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("50000"),
    });
    v.oracle("820");
    // The takeover starts the vault's inventory clock (a journaled table of its own).
    let ev = fault_every_step(&mut v, liquidate(T), 40);
    assert!(has(&ev, |e| matches!(e, Event::VaultTakeover { .. })));
    assert_eq!(v.e.vault().inventory.len(), 1);
    // A bid inside the unwind band: the next price change unwinds into it.
    v.limit(MM, Side::Buy, "909", 10);
    let oracle = Command::OraclePrice {
        market: MarketId(0),
        price: px("820"),
    };
    let ev = fault_every_step(&mut v, oracle, 10);
    assert!(has(&ev, |e| matches!(e, Event::VaultUnwound { .. })));
}

fn three_shorts(p: MarketParams) -> Venue {
    let mut v = Venue::new(p);
    v.deposit(K, "10");
    for (a, amount) in [(10, "2000"), (11, "5000"), (12, "3000"), (13, "100000")] {
        v.deposit(a, amount);
    }
    v.deposit(T, "1500");
    for s in [10, 11, 12] {
        v.limit(s, Side::Sell, "1000", 10);
    }
    v.limit(T, Side::Buy, "1000", 15);
    v.limit(13, Side::Buy, "1000", 15);
    v
}

#[test]
fn insurance_then_ranked_adl() {
    let mut p = params();
    p.waterfall.vault = false;
    let mut v = three_shorts(p);
    v.ok(Command::InsuranceDeposit {
        account: AccountId(13),
        amount_usd: usd("300"),
    });
    v.oracle("600");
    let ev = fault_every_step(&mut v, liquidate(T), 60);
    assert!(has(&ev, |e| matches!(e, Event::InsurancePayout { .. })));
    assert!(has(&ev, |e| matches!(e, Event::Deleveraged { .. })));
}

#[test]
fn pro_rata_adl() {
    let mut p = params();
    p.waterfall.vault = false;
    p.adl_policy = AdlPolicy::ProRata;
    let mut v = three_shorts(p);
    v.oracle("600");
    let ev = fault_every_step(&mut v, liquidate(T), 80);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Deleveraged { .. }))
            .count(),
        3
    );
}

#[test]
fn socialization_and_bad_debt() {
    for socialize in [true, false] {
        let mut p = params();
        p.waterfall = Waterfall {
            vault: false,
            insurance: false,
            adl: false,
            socialize,
        };
        let mut v = three_shorts(p);
        v.deposit(14, "100000");
        v.limit(14, Side::Buy, "800", 15);
        v.oracle("600");
        let ev = fault_every_step(&mut v, liquidate(T), 30);
        if socialize {
            assert!(has(&ev, |e| matches!(e, Event::SocializedLoss { .. })));
            // A short settles its share when next touched: fault that too.
            let close = v.order(0, 10, Side::Buy, OrderKind::Limit, "1000", 1);
            fault_every_step(&mut v, close, 5);
        } else {
            assert!(has(&ev, |e| matches!(e, Event::UncoveredLoss { .. })));
        }
    }
}

#[test]
fn a_deferred_bankruptcy_and_a_deficit_realized_by_its_owner() {
    let mut p = params();
    p.waterfall = Waterfall {
        vault: false,
        insurance: true,
        adl: false,
        socialize: true,
    };
    // No bid anywhere: the bankrupt position cannot be closed and waits, deferred.
    let mut v = opened(p.clone());
    v.oracle("600");
    let ev = fault_every_step(&mut v, liquidate(T), 15);
    assert!(has(&ev, |e| matches!(e, Event::BankruptcyDeferred { .. })));
    // A bid arrives; the next price change closes it into the bid and books the loss.
    v.limit(MM, Side::Buy, "700", 10);
    let oracle = Command::OraclePrice {
        market: MarketId(0),
        price: common::px("610"),
    };
    let ev = fault_every_step(&mut v, oracle, 35);
    assert!(has(&ev, |e| matches!(e, Event::Bankrupt { .. })));
    // An owner closing past bankruptcy realizes a deficit booked before the command ends.
    p.waterfall.insurance = false;
    let mut v = opened(p);
    v.deposit(20, "100000");
    v.limit(20, Side::Buy, "850", 10);
    let sell = v.order(0, T, Side::Sell, OrderKind::Ioc, "850", 10);
    let ev = fault_every_step(&mut v, sell, 30);
    assert!(has(&ev, |e| matches!(e, Event::SocializedLoss { .. })));
}

#[test]
fn native_sweeps_parameters_and_new_accounts() {
    let mut v = opened(params());
    v.limit(MM, Side::Buy, "930", 100);
    v.ok(Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(true),
    });
    let oracle = Command::OraclePrice {
        market: MarketId(0),
        price: common::px("880"),
    };
    let ev = fault_every_step(&mut v, oracle, 50);
    assert!(has(&ev, |e| matches!(e, Event::LiquidationStarted { .. })));
    // A parameter change rechecks every account of the market.
    let maintenance = Command::SetParam {
        market: MarketId(0),
        param: Param::Maintenance(Ppm::from_raw(60_000)),
    };
    fault_every_step(&mut v, maintenance, 5);
    // A deposit that creates an account: a rollback removes the new row.
    let new_account = Command::Deposit {
        account: AccountId(40),
        amount_usd: usd("100"),
    };
    fault_every_step(&mut v, new_account, 1);
    let isolated = Command::AdjustIsolatedMargin {
        account: AccountId(40),
        market: MarketId(0),
        delta_usd: usd("50"),
    };
    fault_every_step(&mut v, isolated, 1);
    // Creating a market makes no arithmetic step once validated.
    let mut p = params();
    p.symbol = "SECOND".into();
    no_commit_arithmetic(
        &mut v,
        Command::CreateMarket {
            params: Box::new(p),
        },
    );
    let withdraw = Command::Withdraw {
        account: AccountId(40),
        amount_usd: usd("10"),
    };
    fault_every_step(&mut v, withdraw, 1);
}

#[test]
fn genesis_positions_and_their_end() {
    let mut v = Venue::new(params());
    v.deposit(T, "1000");
    v.deposit(MM, "1000");
    v.deposit(K, "10");
    let book = |account: u32, qty: i64, margin: MarginMode, isolated_usd: &str| {
        Command::GenesisPosition(GenesisPosition {
            account: AccountId(account),
            market: MarketId(0),
            qty: Qty::from_lots(qty),
            entry_price: px("990.5"),
            margin,
            isolated_usd: usd(isolated_usd),
        })
    };
    // A long that opens genesis (the open interest and the genesis balance change), an
    // isolated short taking margin from cross, and a short that leaves a pool with negative
    // equity (flagged as it is booked).
    let ev = fault_every_step(&mut v, book(T, 10, MarginMode::Cross, "0"), 1);
    assert!(has(&ev, |e| matches!(e, Event::GenesisPosition { .. })));
    fault_every_step(&mut v, book(MM, -4, MarginMode::Isolated, "300"), 1);
    let ev = fault_every_step(&mut v, book(K, -6, MarginMode::Cross, "0"), 1);
    assert!(has(&ev, |e| matches!(e, Event::BelowMaintenance { .. })));
    // Ending genesis is a check and a flag: no arithmetic to fail.
    let ev = no_commit_arithmetic(&mut v, Command::EndGenesis);
    assert!(has(&ev, |e| matches!(e, Event::GenesisEnded { .. })));
}

/// The order path's small records (issue 9's cost): a sweep across a maker with many resting
/// orders takes them out one by one (each order's record covers the book, the maker's long
/// list, where its last entry moved, and nothing of the account beyond), fills one in part, and
/// flattens a second maker whose idle position entry is then removed.
#[test]
fn a_sweep_across_a_maker_with_many_orders() {
    let mut v = opened(params());
    let (flat, taker) = (4, 5);
    v.deposit(flat, "100000");
    v.deposit(taker, "100000");
    // `flat` buys 3 and offers them back at the touch: the sweep leaves it with nothing.
    v.limit(MM, Side::Sell, "1000", 3);
    v.limit(flat, Side::Buy, "1000", 3);
    v.limit(flat, Side::Sell, "1001", 3);
    // MM: 40 asks of one lot, and bids far below, all in one list.
    for k in 0..40 {
        v.limit(MM, Side::Sell, &(1001 + k).to_string(), 1);
        v.limit(MM, Side::Buy, &(900 - k).to_string(), 1);
    }
    v.limit(MM, Side::Sell, "1013", 4);
    let listed = |v: &common::Venue, a: u32| v.e.account(AccountId(a)).unwrap().orders.len();
    assert_eq!(listed(&v, MM), 81);
    let sweep = v.order(0, taker, Side::Buy, OrderKind::Ioc, "1013", 17);
    let ev = fault_every_step(&mut v, sweep, 45);
    let fills = ev
        .iter()
        .filter(|e| matches!(e, Event::Fill { .. }))
        .count();
    assert_eq!(
        fills, 15,
        "flat's 3, MM's 13 one-lot asks at 1001-1013, 1 of its 4 at 1013"
    );
    assert_eq!(listed(&v, MM), 81 - 13);
    assert_eq!(listed(&v, flat), 0);
    assert!(v.e.account(AccountId(flat)).unwrap().positions.is_empty());
    v.e.check_invariants().unwrap();
}

/// A requote's parts are transactions of their own: a fault anywhere in one rolls back that
/// part alone, which is then refused as an engine bug, and the requote goes on. Account 4 has
/// only resting orders: the cancel takes them out and releases its position entry; the first
/// order makes a new entry (a planned order), the next rest in the slots the cancel freed, one
/// crosses MM's ask and fills, one is refused for margin, and the last rests after it. For
/// every arithmetic step faulted in turn (on copies), the requote must end exactly where its
/// commands end, one after another, without the faulted part's command: the same state (every
/// field), the same events, every invariant kept.
#[test]
fn a_requote_rolls_back_the_faulted_part_alone() {
    let mut v = opened(params());
    let maker = 4;
    v.deposit(maker, "10000");
    v.limit(maker, Side::Sell, "1005", 2);
    v.limit(maker, Side::Buy, "990", 2);
    v.limit(MM, Side::Sell, "1001", 3);
    let q = common::quote;
    let requote = Requote {
        account: AccountId(maker),
        market: MarketId(0),
        orders: vec![
            q(Side::Buy, "995", 2),
            q(Side::Sell, "1006", 2),
            q(Side::Buy, "1001", 1),
            q(Side::Buy, "990", 100_000),
            q(Side::Sell, "1007", 1),
        ],
    };
    let cmd = Command::Requote(requote.clone());
    let commands: Vec<Command> = requote.commands().collect();
    let now = TimestampMs(v.t + 1);
    let mut dry = v.e.clone();
    dry.fail_commit_arithmetic_at(u64::MAX);
    let unfaulted = dry.apply(&cmd, now).unwrap().to_vec();
    let steps = dry.commit_arithmetic_steps();
    assert!(steps >= 10, "{steps} steps");
    let mut faulted_parts = std::collections::BTreeSet::new();
    for at in 1..=steps {
        let mut e = v.e.clone();
        e.fail_commit_arithmetic_at(at);
        let events = e.apply(&cmd, now).unwrap().to_vec();
        let parts = e.last_parts();
        let internal: Vec<usize> = (0..parts.len())
            .filter(|&i| matches!(parts[i].refused, Some(Reject::Internal { .. })))
            .collect();
        let [k] = internal[..] else {
            panic!("a fault at step {at} of {steps}: parts {parts:?}");
        };
        faulted_parts.insert(k);
        let Some(Reject::Internal { command, .. }) = &parts[k].refused else {
            unreachable!()
        };
        assert_eq!(*command, commands[k].name());
        // The commands alone, the faulted part's left out.
        let mut alone = v.e.clone();
        let mut events_alone = Vec::new();
        for (i, c) in commands.iter().enumerate().filter(|(i, _)| *i != k) {
            if let Ok(ev) = alone.apply(c, now) {
                events_alone.extend_from_slice(ev);
            } else {
                assert_eq!(i, 4, "only the order too large for its margin is refused");
            }
        }
        assert_eq!(events, events_alone, "step {at}: other events");
        assert_eq!(e.state_diff(&alone), None, "step {at}: another state");
        assert_eq!(state_hash(&e), state_hash(&alone), "step {at}");
        e.check_invariants().unwrap();
    }
    // Faults reached the planned order, the resting ones and the fill.
    assert!(faulted_parts.len() >= 4, "{faulted_parts:?}");
    v.t += 1;
    let ev = v.e.apply(&cmd, now).unwrap().to_vec();
    assert_eq!(ev, unfaulted);
    let count = |f: fn(&Event) -> bool| ev.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::OrderCancelled { .. })), 2);
    assert_eq!(count(|e| matches!(e, Event::Fill { .. })), 1);
    assert_eq!(count(|e| matches!(e, Event::OrderRested { .. })), 3);
    let refused: Vec<bool> =
        v.e.last_parts()
            .iter()
            .map(|p| p.refused.is_some())
            .collect();
    assert_eq!(refused, [false, false, false, false, true, false]);
    assert_eq!(v.qty(maker), Qty::from_lots(1));
}

/// A cancel within a command that can fail: the liquidation of a cross pool first cancels
/// every resting order of the account, in both markets (each cancel one record: the book,
/// the list and the position's resting total), releases the entry of the market where it only
/// had orders, then closes through the book.
#[test]
fn a_liquidation_cancels_many_resting_orders_first() {
    let mut v = opened(params());
    let mut p = params();
    p.symbol = "SECOND".into();
    v.ok(Command::CreateMarket {
        params: Box::new(p),
    });
    v.deposit(T, "400");
    v.limit(MM, Side::Buy, "930", 100);
    // T: sells of its long in market 0, bids in market 1 where it holds nothing.
    for k in 0..8 {
        v.limit(T, Side::Sell, &(1100 + k).to_string(), 1);
    }
    for k in 0..3 {
        v.limit_in(1, T, Side::Buy, &(900 - k).to_string(), 1);
    }
    let account = |v: &common::Venue| v.e.account(AccountId(T)).unwrap().clone();
    assert_eq!(account(&v).orders.len(), 11);
    assert_eq!(account(&v).positions.len(), 2);
    v.oracle("780");
    let ev = fault_every_step(&mut v, liquidate(T), 50);
    let cancels = ev
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::OrderCancelled {
                    reason: CancelReason::Liquidation,
                    ..
                }
            )
        })
        .count();
    assert_eq!(cancels, 11);
    assert!(has(&ev, |e| matches!(e, Event::LiquidationPenalty { .. })));
    assert!(account(&v).orders.is_empty());
    assert!(
        account(&v).position(MarketId(1)).is_none(),
        "the idle entry is gone"
    );
}

/// A cancel recorded after its account's copy, then the entry it names removed: one sweep
/// liquidates two pools of T. First its isolated pool in market 1, closed whole (its penalty
/// copies T into the journal; its entry is released, unrecorded: the copy covers it). Then its
/// cross pool, which cancels T's bid in market 2, where it holds nothing (the cancel takes the
/// lot off that entry's resting total, now at index 1), and drops that idle entry, the last one
/// (unrecorded again). Undone newest first, the cancel's record indexed a list one entry short:
/// the rollback panicked ("the len is 1 but the index is 1"). The copy puts the whole list
/// back, so a cancel made after it no longer records an index.
#[test]
fn a_sweep_cancels_and_drops_an_entry_of_an_account_copied_earlier() {
    let mut v = Venue::new(params());
    for symbol in ["SECOND", "THIRD"] {
        let mut p = params();
        p.symbol = symbol.into();
        v.ok(Command::CreateMarket {
            params: Box::new(p),
        });
    }
    v.deposit(MM, "1000000");
    v.deposit(T, "2100");
    // T: long 10 cross in market 0 (1,100 left in the cross pool), long 10 isolated in market
    // 1 (1,000 moved there), a cross bid in market 2, where it holds nothing.
    v.ok(Command::AdjustIsolatedMargin {
        account: AccountId(T),
        market: MarketId(1),
        delta_usd: usd("1000"),
    });
    for m in [0, 1] {
        v.limit_in(m, MM, Side::Sell, "1000", 10);
    }
    v.limit(T, Side::Buy, "1000", 10);
    let mut iso = v.order(1, T, Side::Buy, OrderKind::Limit, "1000", 10);
    if let Command::PlaceOrder(o) = &mut iso {
        o.margin = MarginMode::Isolated;
    }
    v.ok(iso);
    v.limit_in(2, T, Side::Buy, "500", 1);
    // Depth inside the liquidation band (2% of the mark) for both closes.
    v.limit_in(0, MM, Side::Buy, "920", 100);
    v.limit_in(1, MM, Side::Buy, "910", 100);
    let t = |v: &Venue| v.e.account(AccountId(T)).unwrap().clone();
    assert_eq!(t(&v).positions.len(), 3);
    assert_eq!(t(&v).orders.len(), 1);
    // Both pools fall below maintenance while nobody liquidates (mark = mean of oracle and
    // trade EMA): the isolated one the deeper (mark 920: equity 200, maintenance 460), the
    // cross one less (mark 930: equity 400, maintenance 465).
    v.oracle_in(0, "860");
    v.oracle_in(1, "840");
    let below = |v: &Venue, scope| {
        let flag = v.e.flags().get(&(AccountId(T), scope));
        flag.is_some_and(|f| f.below_maintenance)
    };
    assert!(below(&v, Scope::Isolated(MarketId(1))) && below(&v, Scope::Cross));
    v.venue(VenueParam::NativeLiquidation(true));
    let ev = fault_every_step(&mut v, Command::Tick, 20);
    let started: Vec<Scope> = ev
        .iter()
        .filter_map(|e| match e {
            Event::LiquidationStarted { account, scope, .. } if *account == AccountId(T) => {
                Some(*scope)
            }
            _ => None,
        })
        .collect();
    assert_eq!(started, [Scope::Isolated(MarketId(1)), Scope::Cross]);
    assert!(has(&ev, |e| matches!(
        e,
        Event::OrderCancelled {
            reason: CancelReason::Liquidation,
            ..
        }
    )));
    assert!(t(&v).orders.is_empty());
    assert_eq!(
        t(&v).positions.iter().map(|p| p.market).collect::<Vec<_>>(),
        [MarketId(0)],
        "the closed isolated entry and the idle one are gone"
    );
}
