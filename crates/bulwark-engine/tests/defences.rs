//! The defences, by hand: the oracle guard and its degraded mode, a halt in the middle of a
//! cascade, the price band, the divergence breaker, dynamic margin's schedule, the adaptive
//! taker fee and the open-interest caps. Every figure is computed in the comments.
//!
//! The market is `common::params()`: 1 lot = 1 unit, price 1,000, maintenance 5%, initial 10%,
//! no fees, no impact mid (the impact notional is huge), so the mark is the mean of the
//! oracle and the trade EMA while both are fresh (60 s).

mod common;

use bulwark_engine::*;
use common::{params, px, usd, Venue};

const MM: u32 = 0;
const T: u32 = 1;
const T2: u32 = 2;
const K: u32 = 3;

fn at(v: &mut Venue, t: u64, c: Command) -> Result<Vec<Event>, Reject> {
    v.t = t - 1;
    v.try_cmd(c)
}

fn source(market: u16, source: u8, price: &str, conf: &str, published_ms: u64) -> Command {
    Command::OracleSource {
        market: MarketId(market),
        source,
        price: px(price),
        confidence: px(conf),
        published_ms,
    }
}

fn param(p: Param) -> Command {
    Command::SetParam {
        market: MarketId(0),
        param: p,
    }
}

fn market(v: &Venue) -> &Market {
    v.e.market(MarketId(0)).unwrap()
}

/// MM short 10 against T long 10 at 1,000 (T: 1,500 of collateral).
fn traded(p: MarketParams) -> Venue {
    let mut v = Venue::new(p);
    v.deposit(MM, "100000");
    v.deposit(T, "1500");
    v.deposit(T2, "1200");
    v.deposit(K, "10");
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T, Side::Buy, "1000", 10);
    v
}

#[test]
fn a_frozen_and_a_manipulated_source_are_rejected_the_market_degrades_and_recovers() {
    let mut p = params();
    p.defences.oracle_guard = OracleGuard {
        enabled: true,
        max_confidence: Ppm::from_raw(10_000),
        max_deviation: Ppm::from_raw(20_000),
        min_sources: 3,
        recover_sources: 3,
        recover_ms: 60_000,
        degraded_liquidation_band: Ppm::from_raw(20_000),
    };
    let mut v = traded(p);
    for s in 0..4 {
        v.ok(source(0, s, "1000", "0", v.t + 1));
    }
    v.ok(Command::Tick);
    assert!(!market(&v).is_degraded());
    assert_eq!(market(&v).fresh_oracle(TimestampMs(v.t)), Some(px("1000")));
    // At 70 s: sources 0 and 1 say 990; source 2 is pushed to 1,300; source 3 froze at its
    // first report (published at about 0 s: 70 s old, past the 60 s staleness). Fresh and
    // confident: 990, 990, 1,300 -> median 990; 1,300 is 31% from it (> 2%). Two valid < 3.
    // The guard judges at each tick.
    at(&mut v, 70_000, source(0, 0, "990", "0", 70_000)).unwrap();
    at(&mut v, 70_001, source(0, 1, "990", "0", 70_000)).unwrap();
    at(&mut v, 70_002, source(0, 2, "1300", "0", 70_000)).unwrap();
    // Between ticks the oracle is already the median of the valid sources (990 and 990).
    assert_eq!(
        market(&v).fresh_oracle(TimestampMs(70_002)),
        Some(px("990"))
    );
    let ev = at(&mut v, 70_005, Command::Tick).unwrap();
    let degraded = ev.iter().find_map(|e| match e {
        Event::OracleDegraded { valid, status, .. } => Some((*valid, *status)),
        _ => None,
    });
    use SourceStatus::*;
    assert_eq!(
        degraded,
        Some((
            2,
            [Valid, Valid, Deviates, Stale, Missing, Missing, Missing, Missing]
        ))
    );
    let m = market(&v);
    assert!(m.is_degraded());
    assert_eq!(
        m.fresh_oracle(TimestampMs(70_005)),
        None,
        "no oracle in degraded mode"
    );
    // The internal mark: no oracle, no impact mid, a trade EMA 70 s old (stale): no input
    // at all, so the mark stays where it was when the oracle was last used (990).
    assert_eq!(m.mark, px("990"));
    // Liquidation band 2% + 2%.
    assert_eq!(m.liquidation_band(), Ppm::from_raw(40_000));
    // Risk-increasing orders are refused; an order that reduces T's long passes.
    let open = v.order(0, T2, Side::Buy, OrderKind::Limit, "990", 1);
    assert_eq!(
        at(&mut v, 70_010, open).unwrap_err(),
        Reject::MarketDegraded {
            market: MarketId(0)
        }
    );
    let reduce = v.order(0, T, Side::Sell, OrderKind::Limit, "1010", 1);
    at(&mut v, 70_011, reduce).unwrap();
    // Funding is paused: no premium sample while degraded.
    let samples = market(&v).premium_samples;
    at(&mut v, 70_020, Command::Tick).unwrap();
    assert_eq!(market(&v).premium_samples, samples);
    // Recovery: from 80 s all four report 995 again; degraded mode ends 60 s later.
    let all = |v: &mut Venue, t: u64| -> Vec<Event> {
        for s in 0..4 {
            at(v, t + s as u64, source(0, s, "995", "0", t)).unwrap();
        }
        at(v, t + 4, Command::Tick).unwrap()
    };
    all(&mut v, 80_000);
    assert!(market(&v).is_degraded(), "recovering, not recovered");
    all(&mut v, 120_000);
    assert!(market(&v).is_degraded());
    let ev = all(&mut v, 140_000);
    let recovered = ev.iter().find_map(|e| match e {
        Event::OracleRecovered {
            valid, degraded_ms, ..
        } => Some((*valid, *degraded_ms)),
        _ => None,
    });
    // Recovering from the tick at 80,004, recovered at the tick at 140,004: degraded since
    // the tick at 70,005.
    assert_eq!(recovered, Some((4, 69_999)));
    assert!(!market(&v).is_degraded());
    assert_eq!(market(&v).liquidation_band(), Ppm::from_raw(20_000));
    let open = v.order(0, T2, Side::Buy, OrderKind::Limit, "990", 1);
    at(&mut v, 140_010, open).unwrap();
}

#[test]
fn a_source_in_the_future_or_out_of_range_is_refused_and_changes_nothing() {
    let mut v = Venue::new(params());
    let before = state_hash(&v.e);
    assert!(matches!(
        at(&mut v, 10, source(0, 0, "1000", "0", 11)),
        Err(Reject::PublishedInFuture { .. })
    ));
    assert!(matches!(
        at(&mut v, 11, source(0, 8, "1000", "0", 11)),
        Err(Reject::UnknownOracleSource { source_id: 8, .. })
    ));
    assert!(matches!(
        at(&mut v, 12, source(0, 0, "1000", "-1", 11)),
        Err(Reject::InvalidParam {
            name: "confidence",
            ..
        })
    ));
    assert_eq!(state_hash(&v.e), before);
}

/// The cascade of `halt_in_the_middle_of_a_cascade_*`: oracle prints move the mark (the mean
/// of the oracle and the trade EMA of 1,000) 1,000 -> 950 -> 910 -> 890.
fn cascade(liquidations: bool) -> (Venue, Vec<Event>, Vec<Event>) {
    let mut p = params();
    p.defences.halt = HaltBreaker {
        enabled: true,
        max_move: Ppm::from_raw(100_000),
        window_ms: 300_000,
        cooldown_ms: 300_000,
        mode: HaltMode::ReduceOnly,
        liquidations,
    };
    let mut v = traded(p);
    v.venue(VenueParam::NativeLiquidation(true));
    // T2 long 10 at 1,000 too (MM short 20).
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10);
    v.oracle("1000");
    // 950: 5% under the window's high of 1,000. T: 1,500 - 500 = 1,000 > 5% x 9,500.
    v.oracle("900");
    assert_eq!(v.mark(), px("950"));
    // 910: 9%. T2: 1,200 - 900 = 300 < 455: liquidated natively; T: 600 > 455.
    let ev910 = v.oracle("820");
    assert_eq!(v.mark(), px("910"));
    // 890: 11% > 10%: the breaker trips before the sweep. T: 400 < 445.
    let ev890 = v.oracle("780");
    assert_eq!(v.mark(), px("890"));
    (v, ev910, ev890)
}

fn started(ev: &[Event]) -> Vec<u32> {
    ev.iter()
        .filter_map(|e| match e {
            Event::LiquidationStarted { account, .. } => Some(account.0),
            _ => None,
        })
        .collect()
}

#[test]
fn halt_in_the_middle_of_a_cascade_holds_liquidations_until_the_cool_down_ends() {
    let (mut v, ev910, ev890) = cascade(false);
    assert_eq!(started(&ev910), vec![T2]);
    let halt = ev890.iter().find_map(|e| match e {
        Event::HaltStarted { reason, until, .. } => Some((*reason, *until)),
        _ => None,
    });
    let t_halt = v.t;
    assert_eq!(
        halt,
        Some((
            HaltReason::PriceMove {
                move_ppm: 110_000,
                from: px("1000"),
                to: px("890"),
            },
            TimestampMs(t_halt + 300_000)
        ))
    );
    assert!(
        started(&ev890).is_empty(),
        "T is below maintenance but the halt holds it"
    );
    assert!(v
        .e
        .health(AccountId(T), Scope::Cross)
        .unwrap()
        .below_maintenance());
    // A keeper is refused too; so is a risk-increasing order; a reducing one passes.
    let r = v.try_cmd(Command::Liquidate {
        keeper: AccountId(K),
        account: AccountId(T),
        scope: Scope::Cross,
    });
    assert!(matches!(r, Err(Reject::MarketHalted { .. })), "{r:?}");
    let open = v.order(0, K, Side::Buy, OrderKind::Limit, "890", 1);
    assert!(matches!(v.try_cmd(open), Err(Reject::MarketHalted { .. })));
    v.ok(v.order(0, MM, Side::Buy, OrderKind::Limit, "800", 1));
    // An oracle print within the cool-down changes nothing.
    let print = Command::OraclePrice {
        market: MarketId(0),
        price: px("780"),
    };
    assert!(started(&at(&mut v, t_halt + 299_999, print.clone()).unwrap()).is_empty());
    // At its end: the halt ends, the window starts afresh, and the sweep liquidates T (the mark
    // is now the oracle alone, 780: the trade EMA is stale).
    let ev = at(&mut v, t_halt + 300_000, print).unwrap();
    assert!(ev.iter().any(|e| matches!(e, Event::HaltEnded { .. })));
    assert_eq!(v.mark(), px("780"));
    assert_eq!(started(&ev), vec![T]);
    assert!(market(&v).halt().is_none());
}

#[test]
fn a_halt_that_lets_liquidations_run_liquidates_at_once() {
    let (v, _, ev890) = cascade(true);
    assert!(ev890.iter().any(|e| matches!(
        e,
        Event::HaltStarted {
            liquidations: true,
            ..
        }
    )));
    assert_eq!(started(&ev890), vec![T]);
    assert!(market(&v).halt().is_some());
}

#[test]
fn a_full_halt_refuses_every_order_but_not_cancels() {
    let mut p = params();
    p.defences.halt = HaltBreaker {
        enabled: true,
        max_move: Ppm::from_raw(50_000),
        mode: HaltMode::Full,
        ..HaltBreaker::default()
    };
    let mut v = traded(p);
    v.oracle("1000");
    let ev = v.limit(MM, Side::Buy, "900", 1);
    let order = ev
        .iter()
        .find_map(|e| match e {
            Event::OrderAccepted { order, .. } => Some(*order),
            _ => None,
        })
        .unwrap();
    // 1,000 -> mean(880, 1,000) = 940: a 6% move.
    v.oracle("880");
    assert!(market(&v).halt().is_some());
    let reduce = v.order(0, T, Side::Sell, OrderKind::Limit, "940", 1);
    assert!(matches!(
        v.try_cmd(reduce),
        Err(Reject::MarketHalted { .. })
    ));
    v.ok(Command::Cancel {
        account: AccountId(MM),
        market: MarketId(0),
        order,
    });
    // Switching the breaker off ends the halt at once.
    let off = HaltBreaker {
        enabled: false,
        ..market(&v).params.defences.halt
    };
    let ev = v.ok(param(Param::Halt(off)));
    assert!(ev.iter().any(|e| matches!(e, Event::HaltEnded { .. })));
    assert!(market(&v).halt().is_none());
}

#[test]
fn the_price_band_refuses_orders_beyond_it() {
    let mut p = params();
    p.tick_size = px("0.1");
    p.defences.price_band = PriceBand {
        enabled: true,
        band: Ppm::from_raw(50_000),
    };
    let mut v = traded(p);
    // Mark 1,000 (the trade EMA alone): the band is [950, 1,050].
    assert_eq!(v.mark(), px("1000"));
    let far = v.order(0, T2, Side::Buy, OrderKind::Limit, "1050.1", 1);
    assert_eq!(
        v.try_cmd(far).unwrap_err(),
        Reject::OutsidePriceBand {
            price: px("1050.1"),
            low: px("950"),
            high: px("1050"),
        }
    );
    let low = v.order(0, T2, Side::Buy, OrderKind::Limit, "949.9", 1);
    assert!(matches!(
        v.try_cmd(low),
        Err(Reject::OutsidePriceBand { .. })
    ));
    v.ok(v.order(0, T2, Side::Buy, OrderKind::Limit, "950", 1));
    v.ok(v.order(0, T2, Side::Buy, OrderKind::Limit, "1050", 1));
}

#[test]
fn the_divergence_breaker_halts_when_book_and_oracle_part() {
    let mut p = params();
    p.impact_notional_usd = usd("100");
    p.defences.divergence = DivergenceBreaker {
        enabled: true,
        max_divergence: Ppm::from_raw(50_000),
        cooldown_ms: 120_000,
        mode: HaltMode::ReduceOnly,
        liquidations: true,
    };
    let mut v = Venue::new(p);
    v.deposit(MM, "100000");
    v.limit(MM, Side::Buy, "1200", 1);
    v.limit(MM, Side::Sell, "1210", 1);
    // Impact mid 1,205 against an oracle of 1,000: 20.5% apart.
    let ev = v.oracle("1000");
    let reason = ev.iter().find_map(|e| match e {
        Event::HaltStarted { reason, until, .. } => Some((*reason, *until)),
        _ => None,
    });
    assert_eq!(
        reason,
        Some((
            HaltReason::Divergence {
                divergence_ppm: 205_000,
                oracle: px("1000"),
                book: px("1205"),
            },
            TimestampMs(v.t + 120_000)
        ))
    );
}

#[test]
fn dynamic_margin_announces_then_steps_under_its_rate_limit() {
    let mut p = params();
    p.defences.dynamic_margin = DynamicMargin {
        enabled: true,
        floor: Ppm::from_raw(50_000),
        z: Ppm::from_raw(3_000_000),
        horizon_s: 3_600,
        max_change_per_hour: Ppm::from_raw(12_000),
        step_ms: 300_000,
        notice_ms: 300_000,
        override_maintenance: None,
    };
    let mut v = traded(p);
    // The rule owns maintenance now.
    assert!(matches!(
        v.try_cmd(param(Param::Maintenance(Ppm::from_raw(60_000)))),
        Err(Reject::InvalidParam {
            name: "maintenance",
            ..
        })
    ));
    // sigma 2% an hour, horizon 1 h, z 3: target 6%. Steps of 1.2% x 5 min / 1 h = 0.1%.
    let t0 = 1_000_000;
    let ev = at(
        &mut v,
        t0,
        Command::Volatility {
            market: MarketId(0),
            short: Ppm::from_raw(20_000),
            long: Ppm::from_raw(10_000),
        },
    )
    .unwrap();
    let sched = ev.iter().find_map(|e| match e {
        Event::MarginScheduled {
            in_force,
            target,
            step,
            next_step,
            reaches_target,
            ..
        } => Some((*in_force, *target, *step, *next_step, *reaches_target)),
        _ => None,
    });
    assert_eq!(
        sched,
        Some((
            Ppm::from_raw(50_000),
            Ppm::from_raw(60_000),
            Ppm::from_raw(1_000),
            TimestampMs(t0 + 300_000),
            TimestampMs(t0 + 300_000 + 9 * 300_000),
        ))
    );
    // Nothing applies before the notice is over.
    at(&mut v, t0 + 299_999, Command::Tick).unwrap();
    assert_eq!(market(&v).params.maintenance, Ppm::from_raw(50_000));
    let ev = at(&mut v, t0 + 300_000, Command::Tick).unwrap();
    assert!(ev.contains(&Event::MaintenanceChanged {
        market: MarketId(0),
        old: Ppm::from_raw(50_000),
        new: Ppm::from_raw(51_000),
        target: Ppm::from_raw(60_000),
    }));
    // T's requirement follows: 5.1% of its 10 x 1,000.
    let h = v.e.health(AccountId(T), Scope::Cross).unwrap();
    assert_eq!(h.maintenance_usd, usd("510"));
    // A risk manager's override raises the target; the running schedule keeps its clock.
    let ev = v.ok(param(Param::MaintenanceOverride(Some(Ppm::from_raw(
        80_000,
    )))));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::MarginScheduled { target, next_step, .. }
            if *target == Ppm::from_raw(80_000) && *next_step == TimestampMs(t0 + 600_000)
    )));
    // No second step within step_ms.
    at(&mut v, t0 + 599_999, Command::Tick).unwrap();
    assert_eq!(market(&v).params.maintenance, Ppm::from_raw(51_000));
    at(&mut v, t0 + 600_000, Command::Tick).unwrap();
    assert_eq!(market(&v).params.maintenance, Ppm::from_raw(52_000));
}

#[test]
fn the_adaptive_fee_rises_with_the_volatility_ratio_and_its_surcharge_goes_to_insurance() {
    let mut p = params();
    p.taker_fee = Ppm::from_raw(500);
    p.defences.adaptive_fee = AdaptiveFee {
        enabled: true,
        slope: Ppm::from_raw(1_000_000),
        max_taker_fee: Ppm::from_raw(1_500),
        surcharge_insurance_share: Ppm::from_raw(1_000_000),
    };
    let mut v = traded(p);
    // Ratio 2 (short 2%, long 1%): excess 1, multiplier 2x: 10 bp.
    let ev = v.ok(Command::Volatility {
        market: MarketId(0),
        short: Ppm::from_raw(20_000),
        long: Ppm::from_raw(10_000),
    });
    assert!(ev.contains(&Event::TakerFeeChanged {
        market: MarketId(0),
        old: Ppm::from_raw(500),
        new: Ppm::from_raw(1_000),
    }));
    let s = v.e.fee_schedule(MarketId(0)).unwrap();
    assert_eq!(
        (s.base_taker_fee, s.taker_fee),
        (Ppm::from_raw(500), Ppm::from_raw(1_000))
    );
    assert_eq!(s.surcharge_insurance_share, Ppm::ONE);
    // A taker buys 2 at 1,000: fee 10 bp of 2,000 = 2 USD, of which 1 over the base (5 bp):
    // all of that to insurance, the base part to the fee pool (insurance share 0).
    let fund = v.e.insurance_usd();
    let pool = v.e.fee_pool_usd();
    v.limit(MM, Side::Sell, "1000", 2);
    v.ok(v.order(0, T2, Side::Buy, OrderKind::Ioc, "1000", 2));
    assert_eq!(v.e.insurance_usd(), fund.checked_add(usd("1")).unwrap());
    assert_eq!(v.e.fee_pool_usd(), pool.checked_add(usd("1")).unwrap());
    // Ratio 10: 10x would be 50 bp; capped at 15 bp.
    v.ok(Command::Volatility {
        market: MarketId(0),
        short: Ppm::from_raw(100_000),
        long: Ppm::from_raw(10_000),
    });
    assert_eq!(market(&v).taker_fee(), Ppm::from_raw(1_500));
    // Off: the base again.
    let off = AdaptiveFee {
        enabled: false,
        ..market(&v).params.defences.adaptive_fee
    };
    v.ok(param(Param::AdaptiveFee(off)));
    assert_eq!(market(&v).taker_fee(), Ppm::from_raw(500));
}

#[test]
fn open_interest_caps_and_the_size_scaled_initial_margin() {
    let mut p = params();
    p.defences.oi_cap = OiCap {
        enabled: true,
        max_open_interest: Qty::from_lots(100),
        max_account_share: Ppm::ONE,
        scale_from: Ppm::from_raw(500_000),
        scale_max: Ppm::from_raw(3_000_000),
    };
    let mut v = Venue::new(p);
    v.deposit(MM, "100000");
    v.deposit(T, "100000");
    v.deposit(T2, "4199");
    v.limit(MM, Side::Sell, "1000", 100);
    v.limit(T, Side::Buy, "1000", 60);
    assert_eq!(market(&v).open_interest, Qty::from_lots(60));
    // 60 + 50 would pass the cap of 100.
    let big = v.order(0, T2, Side::Buy, OrderKind::Ioc, "1000", 50);
    assert_eq!(
        v.try_cmd(big).unwrap_err(),
        Reject::OpenInterestCap {
            oi: Qty::from_lots(110),
            cap: Qty::from_lots(100)
        }
    );
    // 30 fits; at 60% of the cap the initial margin is 1 + 2 x (0.6 - 0.5) / 0.5 = 1.4x:
    // 10% x 30 x 1,000 x 1.4 = 4,200 > 4,199.
    let ok = v.order(0, T2, Side::Buy, OrderKind::Ioc, "1000", 30);
    assert_eq!(
        v.try_cmd(ok.clone()).unwrap_err(),
        Reject::InsufficientMargin {
            equity: usd("4199"),
            required: usd("4200"),
        }
    );
    v.deposit(T2, "1");
    v.ok(ok);
    assert_eq!(market(&v).open_interest, Qty::from_lots(90));
    // The account cap: half the market cap.
    let half = OiCap {
        max_account_share: Ppm::from_raw(500_000),
        ..market(&v).params.defences.oi_cap
    };
    v.ok(param(Param::OiCap(half)));
    let more = v.order(0, T2, Side::Buy, OrderKind::Limit, "990", 21);
    assert_eq!(
        v.try_cmd(more).unwrap_err(),
        Reject::AccountOpenInterestCap {
            qty: Qty::from_lots(51),
            cap: Qty::from_lots(50),
            share_ppm: 500_000
        }
    );
}

#[test]
fn defence_parameters_are_validated_and_a_bad_one_changes_nothing() {
    let mut v = Venue::new(params());
    let before = state_hash(&v.e);
    let bad = OracleGuard {
        enabled: true,
        min_sources: 0,
        ..OracleGuard::default()
    };
    let r = v.try_cmd(param(Param::OracleGuard(bad))).unwrap_err();
    assert!(matches!(
        r,
        Reject::InvalidParam {
            name: "oracle_guard.min_sources",
            ..
        }
    ));
    let r = v
        .try_cmd(param(Param::MaintenanceOverride(Some(Ppm::from_raw(
            60_000,
        )))))
        .unwrap_err();
    assert!(matches!(
        r,
        Reject::InvalidParam {
            name: "maintenance_override",
            ..
        }
    ));
    let r = v
        .try_cmd(Command::Volatility {
            market: MarketId(0),
            short: Ppm::from_raw(-1),
            long: Ppm::ZERO,
        })
        .unwrap_err();
    assert!(matches!(r, Reject::InvalidParam { name: "short", .. }));
    assert_eq!(state_hash(&v.e), before);
}

#[test]
fn the_stable_price_holds_back_the_initial_checks_after_a_jump() {
    let mut p = params();
    p.defences.stable_price = StablePrice {
        enabled: true,
        growth_per_hour: Ppm::from_raw(60_000), // 6% an hour
    };
    let mut v = traded(p);
    // The oracle jumps to 1,200: mark = mean(1,200, EMA 1,000) = 1,100. The stable price
    // started at 1,000 when the market was created (t = 2 ms) and may move 6% of itself an
    // hour: 1,000 USD x 0.06 / 3,600,000 ms = 16.67 micro-USD a millisecond.
    v.oracle("1200");
    let t_oracle = v.t;
    assert_eq!(v.mark(), px("1100"));
    let room =
        |stable: i64, ms: u64| (stable as i128 * 60_000 * ms as i128 / 3_600_000_000_000) as i64;
    let stable = 1_000_000_000 + room(1_000_000_000, v.t - 2);
    assert!(
        stable < 1_000_001_000,
        "a few milliseconds: a few hundred micro-USD"
    );
    assert_eq!(
        market(&v).defence.stable.map(|s| s.0),
        Some(Price::from_micros(stable))
    );
    // Maintenance and equity stay on the mark: T's long gained 1,000.
    let h = v.e.health(AccountId(T), Scope::Cross).unwrap();
    assert_eq!(h.equity_usd, usd("2500"));
    // T buys 10 more at 1,100. At the mark it could: initial 10% of 20 x 1,100 = 2,200 <=
    // 2,500. The initial check values its long at the stable price, the lower: equity
    // 1,500 + 10 x (stable - 1,000), initial 10% of 20 x stable, about 2,000.
    v.limit(MM, Side::Sell, "1100", 10);
    let more = v.order(0, T, Side::Buy, OrderKind::Ioc, "1100", 10);
    let Err(Reject::InsufficientMargin { equity, required }) = v.try_cmd(more.clone()) else {
        panic!("the initial check must refuse it");
    };
    let gain = 10 * (stable - 1_000_000_000);
    assert_eq!(equity, Usd::from_micros(1_500_000_000 + gain));
    assert!(
        required > usd("2000") && required < usd("2001"),
        "{required}"
    );
    // So is a withdrawal the mark would allow (free at the mark: 2,500 - 1,100 = 1,400).
    let r = v.try_cmd(Command::Withdraw {
        account: AccountId(T),
        amount_usd: usd("1000"),
    });
    assert!(
        matches!(r, Err(Reject::InsufficientCollateral { .. })),
        "{r:?}"
    );
    // An hour later (oracle and EMA stale, the mark stays 1,100) the stable price has moved
    // 6% of itself, to 1,060: equity 2,100 against 10% of 20 x 1,060 = 2,120, still refused;
    // with the stable price off the order passes.
    // (It last moved at the oracle print: orders and withdrawals do not move it.)
    let t = t_oracle + 3_600_000;
    at(&mut v, t, Command::Tick).unwrap();
    let stable2 = stable + room(stable, t - t_oracle);
    assert_eq!(stable2 / 1_000_000, 1_060, "6% an hour: {stable2}");
    assert_eq!(
        market(&v).defence.stable.map(|s| s.0),
        Some(Price::from_micros(stable2))
    );
    assert!(matches!(
        v.try_cmd(more.clone()),
        Err(Reject::InsufficientMargin { .. })
    ));
    let off = StablePrice {
        enabled: false,
        ..market(&v).params.defences.stable_price
    };
    v.ok(param(Param::StablePrice(off)));
    assert_eq!(market(&v).defence.stable, None);
    v.ok(more);
}

/// Found by the defence proptests: the cap was checked against the growth of the taker's
/// worst case, not what its fills open. Long 10 selling 30 opens a short of 20.
#[test]
fn the_open_interest_cap_counts_what_an_order_opens_through_a_flip() {
    let mut p = params();
    p.defences.oi_cap = OiCap {
        enabled: true,
        max_open_interest: Qty::from_lots(30),
        max_account_share: Ppm::ONE,
        ..OiCap::default()
    };
    let mut v = traded(p); // MM short 10, T long 10: open interest 10
    v.deposit(K, "1000000");
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10); // open interest 20
    for a in [K, MM] {
        v.limit(a, Side::Buy, "990", 10);
    }
    // T sells 30: closes its 10, opens 20 short against opening bids: 20 + 20 > 30.
    let flip = v.order(0, T, Side::Sell, OrderKind::Ioc, "990", 30);
    assert_eq!(
        v.try_cmd(flip).unwrap_err(),
        Reject::OpenInterestCap {
            oi: Qty::from_lots(40),
            cap: Qty::from_lots(30)
        }
    );
    // Selling 20 opens 10: 30, at the cap, passes.
    v.ok(v.order(0, T, Side::Sell, OrderKind::Ioc, "990", 20));
    assert!(market(&v).open_interest <= Qty::from_lots(30));
}

/// Found by the defence proptests: a halt gated orders until the next tick or price input,
/// whatever its cool-down said.
#[test]
fn a_halt_stops_gating_when_its_cool_down_is_over() {
    let mut p = params();
    p.defences.halt = HaltBreaker {
        enabled: true,
        max_move: Ppm::from_raw(50_000),
        window_ms: 60_000,
        cooldown_ms: 1_000,
        mode: HaltMode::Full,
        liquidations: false,
    };
    let mut v = traded(p);
    v.oracle("1000");
    v.oracle("800"); // mark 900: 10% down
    let until = market(&v).halt().expect("halted").until;
    let order = v.order(0, T2, Side::Buy, OrderKind::Limit, "890", 1);
    assert!(matches!(
        at(&mut v, until.0 - 1, order.clone()),
        Err(Reject::MarketHalted { .. })
    ));
    // No tick or price since: the halt is still recorded, but no longer in force.
    at(&mut v, until.0 + 600_000, order).unwrap();
}

/// Found by the defence proptests: a late report replaced a newer one of the same source.
#[test]
fn a_late_source_report_is_refused() {
    let mut v = Venue::new(params());
    at(&mut v, 100, source(0, 1, "1000", "0", 100)).unwrap();
    let before = state_hash(&v.e);
    assert_eq!(
        at(&mut v, 101, source(0, 1, "990", "0", 50)).unwrap_err(),
        Reject::SourceReportOutOfOrder {
            source_id: 1,
            published: TimestampMs(50),
            last: TimestampMs(100)
        }
    );
    assert_eq!(state_hash(&v.e), before);
}

/// The liquidation a further move would set off, from the recheck index (issue 13's
/// proactive breaker reads it). T long 10 with 1,500 falls below maintenance under 894.74
/// (1,500 + 10 (p - 1,000) < 5% x 10 p); T2 long 10 with 1,200 under 926.32.
#[test]
fn liquidation_at_risk_by_hand() {
    let mut v = traded(params());
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10);
    assert_eq!(v.mark(), px("1000"));
    let at = |v: &Venue, ppm: i64| v.e.liquidation_at_risk(MarketId(0), ppm).unwrap();
    let r = at(&v, -50_000);
    assert_eq!(
        (r.price, r.pools, r.notional_usd),
        (px("950"), 0, Usd::ZERO)
    );
    let r = at(&v, -80_000);
    assert_eq!(
        (r.price, r.pools, r.notional_usd),
        (px("920"), 1, usd("9200"))
    );
    let r = at(&v, -110_000);
    assert_eq!(
        (r.price, r.pools, r.notional_usd),
        (px("890"), 2, usd("17800"))
    );
    // MM's short of 20 with 100,000 is safe even at double the price.
    assert_eq!(at(&v, 1_000_000).pools, 0);
    assert!(matches!(
        v.e.liquidation_at_risk(MarketId(0), -1_000_000),
        Err(Reject::InvalidParam {
            name: "move_ppm",
            ..
        })
    ));
    // A query: nothing changed.
    let before = state_hash(&v.e);
    at(&v, -110_000);
    assert_eq!(state_hash(&v.e), before);
}

/// The proactive breaker by hand. T long 10 (1,500 of collateral) goes below maintenance
/// under 894.74 and T2 long 10 (1,200) under 926.32 (`liquidation_at_risk_by_hand`). The
/// breaker assumes a further 8% move: from a mark of 1,000 to 920, which would take T2 (9,200
/// of notional at 920) below maintenance. MM bids 20 at 990 (19,800 of depth within the move):
/// 9,200 < 1 x 19,800, no trip. MM pulls its bids and leaves 5 at 960 (4,800 within the move;
/// 5 at 900 lie beyond it): 9,200 > 4,800, the breaker trips with nobody below maintenance yet.
#[test]
fn the_proactive_breaker_trips_on_a_thin_book_before_any_liquidation() {
    let mut p = params();
    p.oracle_stale_ms = 3_600_000;
    p.defences.proactive = ProactiveBreaker {
        enabled: true,
        move_ppm: Ppm::from_raw(80_000),
        z: Ppm::ZERO,
        horizon_s: 900,
        max_ratio: Ppm::from_raw(1_000_000),
        min_at_risk_usd: usd("1000"),
        check_ms: 10_000,
        cooldown_ms: 60_000,
        mode: HaltMode::ReduceOnly,
        liquidations: true,
    };
    let mut v = traded(p);
    v.venue(VenueParam::NativeLiquidation(true));
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10);
    v.oracle("1000");
    v.limit(MM, Side::Buy, "990", 20);
    let risk = v.e.cascade_risk(MarketId(0), -80_000).unwrap();
    assert_eq!(
        (risk.pools, risk.at_risk_usd, risk.depth_usd),
        (1, usd("9200"), usd("19800"))
    );
    let halts = |ev: &[Event]| {
        ev.iter()
            .filter_map(|e| match e {
                Event::HaltStarted { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(halts(&at(&mut v, 1_000_000, Command::Tick).unwrap()).is_empty());
    // MM pulls its bids: 5 at 960 and 5 at 900 are left.
    at(
        &mut v,
        1_001_000,
        Command::CancelAll {
            account: AccountId(MM),
            market: None,
        },
    )
    .unwrap();
    v.limit(MM, Side::Buy, "960", 5);
    v.limit(MM, Side::Buy, "900", 5);
    // Checked at 1,000,000 ms: the next check is due at 1,010,000, not before.
    assert!(halts(&at(&mut v, 1_009_999, Command::Tick).unwrap()).is_empty());
    let ev = at(&mut v, 1_010_000, Command::Tick).unwrap();
    assert_eq!(
        halts(&ev),
        vec![HaltReason::Cascade {
            move_ppm: -80_000,
            pools: 1,
            at_risk_usd: usd("9200"),
            depth_usd: usd("4800"),
        }]
    );
    assert!(
        started(&ev).is_empty(),
        "the trip comes before any liquidation"
    );
    for a in [T, T2] {
        assert!(!v
            .e
            .health(AccountId(a), Scope::Cross)
            .unwrap()
            .below_maintenance());
    }
    // Reduce-only: T2 may sell, nobody may add.
    let open = v.order(0, K, Side::Buy, OrderKind::Limit, "950", 1);
    assert!(matches!(v.try_cmd(open), Err(Reject::MarketHalted { .. })));
    v.ok(v.order(0, T2, Side::Sell, OrderKind::Limit, "1005", 1));
    // The cool-down ends at 1,070,000; the next check is `check_ms` later (makers may
    // requote); the book is as thin then, so it trips again.
    let ev = at(&mut v, 1_070_000, Command::Tick).unwrap();
    assert!(ev.iter().any(|e| matches!(e, Event::HaltEnded { .. })));
    assert!(halts(&ev).is_empty());
    assert!(halts(&at(&mut v, 1_079_999, Command::Tick).unwrap()).is_empty());
    assert_eq!(
        halts(&at(&mut v, 1_080_000, Command::Tick).unwrap()).len(),
        1
    );
    // Switching the breaker off ends the halt and clears its state.
    let mut off = market(&v).params.defences.proactive;
    off.enabled = false;
    v.ok(param(Param::Proactive(off)));
    assert!(market(&v).halt().is_none());
    assert!(halts(&at(&mut v, 1_200_000, Command::Tick).unwrap()).is_empty());
}

/// A deep book does not trip the breaker however much is at risk, a shallow one does not
/// below `min_at_risk_usd`, and a bad parameter is refused and changes nothing.
#[test]
fn the_proactive_breaker_holds_on_a_deep_book_and_validates_its_parameters() {
    let mut p = params();
    p.oracle_stale_ms = 3_600_000;
    p.defences.proactive = ProactiveBreaker {
        enabled: true,
        move_ppm: Ppm::from_raw(80_000),
        max_ratio: Ppm::from_raw(1_000_000),
        min_at_risk_usd: usd("10000"),
        check_ms: 1_000,
        ..ProactiveBreaker::default()
    };
    let mut v = traded(p);
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10);
    v.oracle("1000");
    // No bid at all, 9,200 at risk at -8% but under the 10,000 floor; at +8% nothing.
    for t in [100_000, 200_000, 300_000] {
        let ev = at(&mut v, t, Command::Tick).unwrap();
        assert!(!ev.iter().any(|e| matches!(e, Event::HaltStarted { .. })));
    }
    let before = state_hash(&v.e);
    for bad in [
        ProactiveBreaker {
            move_ppm: Ppm::ZERO,
            ..ProactiveBreaker::default()
        },
        ProactiveBreaker {
            move_ppm: Ppm::from_raw(500_001),
            ..ProactiveBreaker::default()
        },
        ProactiveBreaker {
            max_ratio: Ppm::ZERO,
            ..ProactiveBreaker::default()
        },
        ProactiveBreaker {
            min_at_risk_usd: usd("-1"),
            ..ProactiveBreaker::default()
        },
        ProactiveBreaker {
            check_ms: 0,
            ..ProactiveBreaker::default()
        },
    ] {
        let r = v.try_cmd(param(Param::Proactive(bad)));
        assert!(
            matches!(r, Err(Reject::InvalidParam { name, .. }) if name.starts_with("proactive.")),
            "{r:?}"
        );
    }
    assert_eq!(state_hash(&v.e), before);
}

/// With `z` set, the move follows the driver's short volatility: 3 standard deviations of a
/// 1% one-hour volatility over 15 minutes is 3 x 1% x 0.5 = 1.5% (1,000 -> 985: nobody at
/// risk, no trip); at 6% it is 9% (-> 910, T2 at risk with 9,100 against no bids: a trip).
#[test]
fn a_volatility_scaled_proactive_breaker_assumes_z_sigmas_over_its_horizon() {
    let mut p = params();
    p.oracle_stale_ms = 3_600_000;
    p.defences.proactive = ProactiveBreaker {
        enabled: true,
        z: Ppm::from_raw(3_000_000),
        horizon_s: 900,
        min_at_risk_usd: usd("1000"),
        max_ratio: Ppm::from_raw(1_000_000),
        check_ms: 1_000,
        ..ProactiveBreaker::default()
    };
    let pm = p.defences.proactive;
    let vol = |short: i64| {
        Some(defence::VolatilityReading {
            short: Ppm::from_raw(short),
            long: Ppm::from_raw(short),
            at: TimestampMs(0),
        })
    };
    assert_eq!(defence::proactive_move_ppm(&pm, vol(10_000)), 15_000);
    assert_eq!(defence::proactive_move_ppm(&pm, vol(60_000)), 90_000);
    assert_eq!(
        defence::proactive_move_ppm(&pm, None),
        30_000,
        "no reading: the fixed move"
    );
    assert_eq!(defence::proactive_move_ppm(&pm, vol(0)), 1_000, "the floor");
    let mut v = traded(p);
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10);
    v.oracle("1000");
    let volatility = |short: i64| Command::Volatility {
        market: MarketId(0),
        short: Ppm::from_raw(short),
        long: Ppm::from_raw(short),
    };
    at(&mut v, 10_000, volatility(10_000)).unwrap();
    let ev = at(&mut v, 20_000, Command::Tick).unwrap();
    assert!(!ev.iter().any(|e| matches!(e, Event::HaltStarted { .. })));
    at(&mut v, 30_000, volatility(60_000)).unwrap();
    let ev = at(&mut v, 40_000, Command::Tick).unwrap();
    let reason = ev.iter().find_map(|e| match e {
        Event::HaltStarted { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(
        reason,
        Some(HaltReason::Cascade {
            move_ppm: -90_000,
            pools: 1,
            at_risk_usd: usd("9100"),
            depth_usd: Usd::ZERO,
        })
    );
}

/// The quiet band of `liquidation_at_risk_by_hand`'s venue: T2 goes below maintenance under
/// 926.32 and its trigger errs 1 bp early (926.41); no `up` trigger lies beyond double the
/// mark. Between them no pool's flags can change.
#[test]
fn the_quiet_band_lies_between_the_nearest_triggers() {
    let mut v = traded(params());
    v.limit(MM, Side::Sell, "1000", 10);
    v.limit(T2, Side::Buy, "1000", 10);
    let (low, high) = v.e.quiet_band(MarketId(0)).unwrap().unwrap();
    assert!(low > px("926.32") && low < px("926.6"), "{low:?}");
    assert!(high > px("1000") && high <= px("2000"), "{high:?}");
    // Just above the low end nothing goes below maintenance; 1% under it T2 does.
    // One dollar above the low end, as a move from the mark of 1,000 (in ppm).
    let above = (low.micros() + 1_000_000 - 1_000_000_000) / 1_000;
    let r = v.e.liquidation_at_risk(MarketId(0), above).unwrap();
    assert_eq!(r.pools, 0, "{r:?}");
    let r = v.e.liquidation_at_risk(MarketId(0), -84_000).unwrap();
    assert_eq!(r.pools, 1, "{r:?}");
}
