//! No input panics the engine: every numeric input has a stated bound checked at the edge of
//! `Engine::apply` (`engine::limits`), a value beyond it is a typed rejection that changes
//! nothing, and the arithmetic below the bounds cannot overflow. Each test here failed (a
//! panic, or an untyped rejection naming a source file) before the bounds existed; inputs the
//! fuzz target (`fuzz_commands.rs`) finds are added here too.

use bulwark_core::ArithError;
use bulwark_engine::limits;
use bulwark_engine::*;

fn px(s: &str) -> Price {
    s.parse().unwrap()
}
fn usd(s: &str) -> Usd {
    s.parse().unwrap()
}

fn deposit(account: u32, amount: Usd) -> Command {
    Command::Deposit {
        account: AccountId(account),
        amount_usd: amount,
    }
}

fn limit(account: u32, side: Side, price: Price, qty: i64) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account: AccountId(account),
        market: MarketId(0),
        side,
        kind: OrderKind::Limit,
        price: Some(price),
        qty: Qty::from_lots(qty),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

/// Apply a command that must be rejected; the state hash must not move.
fn rejected(e: &mut Engine, cmd: &Command, now: u64) -> Reject {
    let before = state_hash(e);
    let r = e
        .apply(cmd, TimestampMs(now))
        .map(|evs| evs.to_vec())
        .expect_err("must be rejected");
    assert_eq!(state_hash(e), before, "{cmd:?} rejected but changed state");
    let msg = r.to_string();
    assert!(!msg.contains(".rs"), "a source location in {msg:?}");
    r
}

fn ok(e: &mut Engine, cmd: &Command, now: u64) -> Vec<Event> {
    e.apply(cmd, TimestampMs(now))
        .unwrap_or_else(|r| panic!("{cmd:?}: {r}"))
        .to_vec()
}

fn market_at_zero() -> Engine {
    let mut e = Engine::default();
    ok(
        &mut e,
        &Command::CreateMarket {
            params: Box::new(MarketParams::default()),
        },
        0,
    );
    e
}

#[test]
fn a_timestamp_near_the_top_of_u64_is_a_typed_rejection() {
    let mut e = market_at_zero();
    // Before: `next_funding_ms += behind * interval` overflowed and panicked.
    for now in [u64::MAX - 1, u64::MAX, limits::MAX_TIMESTAMP_MS + 1] {
        let r = rejected(&mut e, &Command::Tick, now);
        assert_eq!(
            r,
            Reject::TimestampOutOfRange {
                now: TimestampMs(now),
                max: TimestampMs(253_402_300_799_999),
            }
        );
        assert!(r.to_string().contains("year 9999"), "{r}");
    }
    // At the bound itself time still works: one funding settlement for all the missed
    // intervals, and the next deadline is the first multiple of the hourly interval after it:
    // 253,402,300,799,999 / 3,600,000 = 70,389,527.99..., so 70,389,528 x 3,600,000.
    let evs = ok(&mut e, &Command::Tick, limits::MAX_TIMESTAMP_MS);
    let settled = evs
        .iter()
        .filter(|ev| matches!(ev, Event::FundingSettled { .. }))
        .count();
    assert_eq!(settled, 1);
    assert_eq!(
        e.market(MarketId(0)).unwrap().next_funding_ms,
        253_402_300_800_000
    );
}

#[test]
fn time_sums_at_the_latest_timestamp_fit() {
    let t = limits::MAX_TIMESTAMP_MS;
    let mut e = Engine::default();
    // A market created at the last millisecond: its first deadline is an hour later.
    ok(
        &mut e,
        &Command::CreateMarket {
            params: Box::new(MarketParams::default()),
        },
        t,
    );
    assert_eq!(
        e.market(MarketId(0)).unwrap().next_funding_ms,
        t + 3_600_000
    );
    ok(&mut e, &Command::Tick, t);
    // The longest vault withdrawal delay from the last millisecond.
    ok(
        &mut e,
        &Command::SetVenueParam {
            param: VenueParam::VaultWithdrawalDelayMs(limits::MAX_DURATION_MS),
        },
        t,
    );
    ok(&mut e, &deposit(1, usd("1000")), t);
    ok(
        &mut e,
        &Command::VaultDeposit {
            account: AccountId(1),
            amount_usd: usd("10"),
        },
        t,
    );
    let evs = ok(
        &mut e,
        &Command::VaultRequestWithdrawal {
            account: AccountId(1),
            shares: 10_000_000,
        },
        t,
    );
    assert!(evs.contains(&Event::VaultWithdrawalRequested {
        account: AccountId(1),
        shares: 10_000_000,
        claimable_at_ms: t + 31_536_000_000,
    }));
    // A longer delay is refused at the edge.
    let r = rejected(
        &mut e,
        &Command::SetVenueParam {
            param: VenueParam::VaultWithdrawalDelayMs(limits::MAX_DURATION_MS + 1),
        },
        t,
    );
    assert!(
        matches!(
            r,
            Reject::InvalidParam {
                name: "vault_withdrawal_delay_ms",
                ..
            }
        ),
        "{r}"
    );
}

#[test]
fn a_tiny_oracle_under_a_huge_mark_clamps_the_premium() {
    // Every parameter valid: max price 1e9 USD, a position limit of 100 lots of 0.001 (at most
    // 0.1 x 1e9 = 1e8 USD of notional), a mark starting at 50,000,000 USD.
    let mut p = MarketParams::btc_like("HUGE", px("50000000"));
    p.max_price = px("1000000000");
    p.max_position_qty = Qty::from_lots(100);
    p.max_order_qty = Qty::from_lots(100);
    let mut e = Engine::default();
    ok(
        &mut e,
        &Command::CreateMarket {
            params: Box::new(p),
        },
        0,
    );
    for a in 0..2 {
        ok(&mut e, &deposit(a, usd("1000000")), 0);
    }
    // One trade of 1 lot at 50,000,000: the trade EMA is 50,000,000.
    ok(&mut e, &limit(0, Side::Sell, px("50000000"), 1), 0);
    ok(&mut e, &limit(1, Side::Buy, px("50000000"), 1), 0);
    // An oracle print of one micro-USD: mark = mean of (0.000001, 50,000,000)
    // = 1 + (50e12 - 1) / 2 micro-USD = 25,000,000 USD.
    ok(
        &mut e,
        &Command::OraclePrice {
            market: MarketId(0),
            price: Price::from_micros(1),
        },
        1,
    );
    assert_eq!(e.market(MarketId(0)).unwrap().mark, px("25000000"));
    // Before: the premium (25e12 - 1) x 1e6 / 1 = 2.5e19 ppm overflowed i64 and the tick
    // panicked. Now it is clamped to 1e9 ppm.
    ok(&mut e, &Command::Tick, 2);
    let m = e.market(MarketId(0)).unwrap();
    assert_eq!((m.premium_sum_ppm, m.premium_samples), (1_000_000_000, 1));
    // At the hour the oracle and the trade EMA are both stale (60 s) and the book is empty: no
    // input is left, so the mark stays at 25,000,000 (a stale input does not pull it), and the
    // rate is the mean premium clamped to 0.75%: the long pays
    // 1 lot x 25,000,000 x 0.0075 / 1000 = 187.5 USD, the short receives it.
    // The index steps by price x rate = 25,000,000,000,000 micro-USD x 7,500 ppm per unit.
    let evs = ok(&mut e, &Command::Tick, 3_600_000);
    assert_eq!(e.market(MarketId(0)).unwrap().mark, px("25000000"));
    assert!(evs.contains(&Event::FundingSettled {
        market: MarketId(0),
        rate: Ppm::from_raw(7_500),
        price: px("25000000"),
        index_step: 25_000_000_000_000i128 * 7_500,
        open_interest: Qty::from_lots(1),
    }));
    assert_eq!(
        e.funding_total(AccountId(1), MarketId(0)).unwrap(),
        usd("187.5")
    );
    assert_eq!(
        e.funding_total(AccountId(0), MarketId(0)).unwrap(),
        usd("-187.5")
    );
}

#[test]
fn amounts_beyond_the_collateral_bound_are_typed_rejections() {
    let mut e = market_at_zero();
    let max = Usd::from_micros(limits::MAX_AMOUNT_MICROS);
    // The whole collateral bound, 1e12 USD, in one deposit is fine.
    ok(&mut e, &deposit(0, usd("1000000000000")), 0);
    let huge = Usd::from_micros(i64::MAX);
    // Before: "arithmetic: arithmetic overflow at crates/bulwark-engine/src/engine/collateral.rs:25".
    let r = rejected(&mut e, &deposit(1, huge), 0);
    assert_eq!(r, Reject::AmountTooLarge { amount: huge, max });
    assert!(r.to_string().contains("1000000000000 USD"), "{r}");
    // One micro-USD more than the bound allows in total is the collateral bound.
    let r = rejected(&mut e, &deposit(1, Usd::from_micros(1)), 0);
    assert_eq!(r, Reject::CollateralBound);
    let too_much = Usd::from_micros(limits::MAX_AMOUNT_MICROS + 1);
    let account = AccountId(0);
    for cmd in [
        Command::Withdraw {
            account,
            amount_usd: too_much,
        },
        Command::VaultDeposit {
            account,
            amount_usd: huge,
        },
        Command::InsuranceDeposit {
            account,
            amount_usd: too_much,
        },
        Command::AdjustIsolatedMargin {
            account,
            market: MarketId(0),
            delta_usd: huge,
        },
    ] {
        let r = rejected(&mut e, &cmd, 0);
        assert!(matches!(r, Reject::AmountTooLarge { .. }), "{cmd:?}: {r}");
    }
    // Before: i64::MIN could not be negated ("arithmetic overflow at ...").
    let r = rejected(
        &mut e,
        &Command::AdjustIsolatedMargin {
            account,
            market: MarketId(0),
            delta_usd: Usd::from_micros(i64::MIN),
        },
        0,
    );
    assert_eq!(
        r,
        Reject::AmountTooLarge {
            amount: Usd::from_micros(i64::MAX),
            max
        }
    );
    let r = rejected(
        &mut e,
        &Command::VaultRequestWithdrawal {
            account,
            shares: u64::MAX,
        },
        0,
    );
    assert_eq!(
        r,
        Reject::SharesOutOfRange {
            requested: u64::MAX,
            max: 4_000_000_000_000_000_000,
        }
    );
}

#[test]
fn a_price_of_zero_or_below_is_not_positive() {
    let mut e = market_at_zero();
    ok(&mut e, &deposit(0, usd("1000")), 0);
    for micros in [0, -1, i64::MIN] {
        let price = Price::from_micros(micros);
        // Before: "price 0 is above the market's maximum 10000000".
        let r = rejected(
            &mut e,
            &Command::OraclePrice {
                market: MarketId(0),
                price,
            },
            0,
        );
        assert_eq!(r, Reject::PriceNotPositive(price));
        assert!(r.to_string().starts_with("price must be positive"), "{r}");
        let r = rejected(&mut e, &limit(0, Side::Buy, price, 1), 0);
        assert_eq!(r, Reject::PriceNotPositive(price));
    }
}

#[test]
fn tick_refuses_unknown_fields_like_every_command() {
    let tick: Command = serde_json::from_str(r#"{"cmd":"tick"}"#).unwrap();
    assert_eq!(tick, Command::Tick);
    assert_eq!(
        serde_json::to_string(&Command::Tick).unwrap(),
        r#"{"cmd":"tick"}"#
    );
    let err = serde_json::from_str::<Command>(r#"{"cmd":"tick","foo":1}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `foo`"), "{err}");
    // The same as any other command.
    let err =
        serde_json::from_str::<Command>(r#"{"cmd":"vault_claim_withdrawal","account":1,"foo":1}"#)
            .unwrap_err();
    assert!(err.to_string().contains("unknown field `foo`"), "{err}");
}

#[test]
fn an_internal_arithmetic_bound_names_the_command_not_a_source_file() {
    // The lifetime total of deposits is an i64 counter: nine deposits of the whole bound,
    // each withdrawn again, reach 9e18 micro-USD; the tenth would pass i64::MAX (9.22e18).
    let mut e = Engine::default();
    let all = Usd::from_micros(limits::MAX_AMOUNT_MICROS);
    for _ in 0..9 {
        ok(&mut e, &deposit(0, all), 0);
        ok(
            &mut e,
            &Command::Withdraw {
                account: AccountId(0),
                amount_usd: all,
            },
            0,
        );
    }
    let r = rejected(&mut e, &deposit(0, all), 0);
    let Reject::Arithmetic { command, error } = &r else {
        panic!("{r:?}");
    };
    assert_eq!(*command, "deposit");
    assert_eq!(
        r.to_string(),
        "deposit rejected: it would breach an internal arithmetic bound of the engine (not a \
         limit of your input); nothing changed"
    );
    // The developers keep the location, in Debug.
    assert!(format!("{error:?}").contains("collateral.rs"), "{error:?}");
    let here = Reject::from(ArithError::overflow());
    assert!(format!("{here:?}").contains("no_panic.rs"));
}

#[test]
fn a_parameter_change_cannot_lift_the_bound_over_positions_already_open() {
    // Default market: 0.001 lots, max position 10,000,000 lots, max price 10,000,000 USD:
    // 10,000 x 1e7 = 1e11 USD, exactly the bound.
    let mut e = market_at_zero();
    for a in 0..2 {
        ok(&mut e, &deposit(a, usd("100000000")), 0);
    }
    // 1,000,000 lots (1,000 BTC) long against short at 50,000.
    ok(&mut e, &limit(0, Side::Sell, px("50000"), 1_000_000), 0);
    ok(&mut e, &limit(1, Side::Buy, px("50000"), 1_000_000), 0);
    let set = |param| Command::SetParam {
        market: MarketId(0),
        param,
    };
    // Lowering the limits is fine...
    ok(&mut e, &set(Param::MaxOrderQty(Qty::from_lots(1))), 0);
    ok(&mut e, &set(Param::MaxPositionQty(Qty::from_lots(1))), 0);
    // ...but raising the price to 1e9 USD would put the open 1,000 BTC at 1e12 USD of
    // notional, ten times the bound, though 1 lot x 1e9 passes on its own.
    let r = rejected(&mut e, &set(Param::MaxPrice(px("1000000000"))), 0);
    assert!(
        matches!(
            r,
            Reject::InvalidParam {
                name: "max_position_qty",
                ..
            }
        ),
        "{r}"
    );
    // 1,000 BTC x 1e8 USD = 1e11 USD: exactly the bound, accepted.
    ok(&mut e, &set(Param::MaxPrice(px("100000000"))), 0);
}

#[test]
fn other_parameters_have_upper_bounds() {
    let mut e = market_at_zero();
    let set = |param| Command::SetParam {
        market: MarketId(0),
        param,
    };
    for (param, name) in [
        (Param::OracleStaleMs(u64::MAX), "oracle_stale_ms"),
        (
            Param::OracleStaleMs(limits::MAX_DURATION_MS + 1),
            "oracle_stale_ms",
        ),
        (
            Param::ImpactNotionalUsd(Usd::from_micros(i64::MAX)),
            "impact_notional_usd",
        ),
        (Param::FundingIntervalMs(u64::MAX), "funding_interval_ms"),
        (
            Param::MaxOrderQty(Qty::from_lots(i64::MAX)),
            "max_order_qty",
        ),
        (
            Param::MaxPositionQty(Qty::from_lots(i64::MAX)),
            "max_position_qty",
        ),
        (Param::MaxPrice(Price::from_micros(i64::MAX)), "max_price"),
    ] {
        let r = rejected(&mut e, &set(param.clone()), 0);
        assert!(
            matches!(r, Reject::InvalidParam { name: n, .. } if n == name),
            "{param:?}: {r}"
        );
    }
    // At the bounds: accepted.
    ok(
        &mut e,
        &set(Param::OracleStaleMs(limits::MAX_DURATION_MS)),
        0,
    );
    ok(
        &mut e,
        &set(Param::ImpactNotionalUsd(Usd::from_micros(
            limits::MAX_IMPACT_NOTIONAL_MICROS,
        ))),
        0,
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs the fuzz target (`fuzz_commands.rs`) found, each replayed exactly.
// ---------------------------------------------------------------------------------------------

/// The fuzz target's setup, for replaying what it found.
#[path = "fuzz_commands/setup.rs"]
mod setup;

/// Replay a found input (command log lines with `ts_ms`) on the fuzz setup: nothing panics,
/// every invariant holds after every line; returns each line's outcome.
fn replay_found(lines: &[&str]) -> Vec<Result<Vec<Event>, Reject>> {
    let mut e = setup::setup();
    lines
        .iter()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let ts = v.as_object_mut().unwrap().remove("ts_ms").unwrap();
            let cmd: Command = serde_json::from_value(v).unwrap();
            let before = state_hash(&e);
            let r = e
                .apply(&cmd, TimestampMs(ts.as_u64().unwrap()))
                .map(|evs| evs.to_vec());
            if r.is_err() {
                assert_eq!(state_hash(&e), before, "{l}");
            }
            e.check_invariants().unwrap();
            r
        })
        .collect()
}

#[test]
fn found_1_initial_requirement_of_a_huge_resting_order_at_a_100x_multiplier() {
    // Market 1: 1e9 lots per unit, 100% maintenance (size premium), 100x initial. A resting
    // buy of 1e11 lots (100 units) at 10,000 USD, then an oracle print at the maximum 1e9
    // USD: the worst case is 100 units x 1e9 = 1e11 USD of notional, 100% maintenance, and
    // 100x that (1e19 micro-USD) overflowed `i64` in the invariant check's health of the
    // account. The initial requirement is now capped at the notional, 1e11 USD.
    let r = replay_found(&[
        r#"{"ts_ms":0,"account":0,"cmd":"place_order","kind":"limit","margin":"cross","market":1,"price":"10000","qty":100000000000,"reduce_only":false,"self_trade":"cancel_taker","side":"buy"}"#,
        r#"{"ts_ms":0,"cmd":"oracle_price","market":1,"price":"1000000000"}"#,
    ]);
    assert!(r.iter().all(Result::is_ok), "{r:?}");
}
