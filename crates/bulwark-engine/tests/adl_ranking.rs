//! ADL is ranked at each bankruptcy: who pays for a bankruptcy must not depend on how
//! liquidations are batched into commands.
//!
//! The market is the one of `tests/liquidation.rs`: 1 lot = 1 unit, price 1,000, maintenance
//! 5%, initial 2x (10%), no trading fees, a huge impact notional so that the mark is the mean of
//! the oracle and the trade EMA (1,000 after the opening trades). The vault stage is off and
//! the insurance fund is empty, so every deficit goes to the ADL counterparties.

mod common;

use bulwark_engine::*;
use common::{px, usd, Venue};

/// The shared test market with the vault stage off.
fn params() -> MarketParams {
    let mut p = common::params();
    p.waterfall.vault = false;
    p
}

/// (bankrupt, counterparty, qty, price, haircut) of every `Deleveraged` event, in order.
type Adl = (u32, u32, Qty, Price, Usd);

fn deleveraged(events: &[Event]) -> Vec<Adl> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged {
                bankrupt,
                counterparty,
                qty,
                price,
                haircut_usd,
                ..
            } => Some((bankrupt.0, counterparty.0, *qty, *price, *haircut_usd)),
            _ => None,
        })
        .collect()
}

const T1: u32 = 1;
const T2: u32 = 2;
const X: u32 = 10;
const Y: u32 = 11;
const Z: u32 = 12;
const U: u32 = 13;

/// Shorts X, Y, Z of 10 each, entered at 1,000, with 2,000, 3,000 and 10,000 of collateral;
/// longs T1 and T2 of 5 each with 900 and 950, and U long 20 with plenty.
fn two_thin_longs(max_liquidations_per_step: u32) -> Venue {
    let mut v = Venue::new(params());
    for (a, c) in [
        (X, "2000"),
        (Y, "3000"),
        (Z, "10000"),
        (T1, "900"),
        (T2, "950"),
        (U, "100000"),
    ] {
        v.deposit(a, c);
    }
    for s in [X, Y, Z] {
        v.limit(s, Side::Sell, "1000", 10);
    }
    v.limit(T1, Side::Buy, "1000", 5);
    v.limit(T2, Side::Buy, "1000", 5);
    v.limit(U, Side::Buy, "1000", 20);
    v.venue(VenueParam::MaxLiquidationsPerStep(
        max_liquidations_per_step,
    ));
    v.venue(VenueParam::NativeLiquidation(true));
    v
}

/// Oracle 600 -> mark 800 (mean of the oracle and the EMA of 1,000). The book is empty, so both
/// thin longs go straight to the waterfall:
/// T1: 900 + 4,000 - 5,000 = -100 (shortfall 200 + 100 = 300), liquidated first;
/// T2: 950 + 4,000 - 5,000 = -50 (shortfall 250).
///
/// Scores (upnl / |cost| x notional / equity, in ppm) at mark 800, each short up 2,000 on a
/// cost of 10,000 with a notional of 8,000:
/// X: 0.2 x 8,000 / 4,000 = 400,000; Y: 0.2 x 8,000 / 5,000 = 320,000;
/// Z: 0.2 x 8,000 / 12,000 = 133,333. T1's 5 lots close against X at the mark (X realizes
/// 1,000) and X pays T1's whole deficit of 100: X closes at 800 + 100 / 5 = 820.
/// X is then short 5 with a cost of 5,000, upnl 1,000, collateral 2,000 + 1,000 - 100 = 2,900,
/// equity 3,900: 0.2 x 4,000 / 3,900 = 205,128 < Y's 320,000. So T2's 5 lots close against Y,
/// which pays T2's deficit of 50: it closes at 800 + 50 / 5 = 810.
fn expected() -> Vec<Adl> {
    vec![
        (T1, X, Qty::from_lots(-5), px("820"), usd("100")),
        (T2, Y, Qty::from_lots(-5), px("810"), usd("50")),
    ]
}

#[test]
fn adl_reranks_after_a_haircut_within_one_command() {
    let mut v = two_thin_longs(256);
    let ev = v.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("800"));
    assert_eq!(deleveraged(&ev), expected());
    let qty = |v: &Venue, a: u32| {
        v.e.account(AccountId(a))
            .unwrap()
            .position(MarketId(0))
            .map_or(Qty::from_lots(0), |p| p.qty)
    };
    assert_eq!(
        [qty(&v, X), qty(&v, Y), qty(&v, Z)],
        [Qty::from_lots(-5), Qty::from_lots(-5), Qty::from_lots(-10)]
    );
    let adl_paid = |v: &Venue, a: u32| v.e.account(AccountId(a)).unwrap().adl_haircut_usd;
    assert_eq!(
        [adl_paid(&v, X), adl_paid(&v, Y), adl_paid(&v, Z)],
        [usd("100"), usd("50"), Usd::ZERO]
    );
}

#[test]
fn the_same_counterparties_pay_however_liquidations_are_batched() {
    // One liquidation per command: T1 with the oracle print, T2 at the next tick (the mark stays
    // at 800: the oracle is fresh and ADL fills do not feed the trade EMA).
    let mut v = two_thin_longs(1);
    let mut ev = v.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(deleveraged(&ev), expected()[..1]);
    ev.extend(v.ok(Command::Tick));
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("800"));
    assert_eq!(deleveraged(&ev), expected());
    // Both in one command: the same victims, the same amounts.
    let mut batched = two_thin_longs(256);
    let ev = batched.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(deleveraged(&ev), expected());
}

/// Equal scores go to the lowest ids. The ranking scores exactly only the candidates whose
/// bound reaches the best exact score so far; a bound equal to a score may hide an equal score
/// with a lower id, so every tied candidate must be scored before the first is taken.
///
/// Seven shorts of 2 lots entered at 1,000 with 3,000 each (equal scores), ids 20 and 30 to 35
/// (20 entered last); one long of 7 lots at 1,000 with 750, and U long the other 7 with plenty.
/// Oracle 600 -> mark 800: the thin long's
/// equity is 750 - 1,400 = -650 and its 7 lots close against 20, 30, 31 (2 each) and 32 (1).
#[test]
fn tied_scores_go_to_the_lowest_ids_whichever_are_scored_first() {
    let mut v = Venue::new(params());
    let shorts = [30, 31, 32, 33, 34, 35, 20];
    for s in shorts {
        v.deposit(s, "3000");
    }
    v.deposit(T1, "750");
    v.deposit(U, "100000");
    for s in shorts {
        v.limit(s, Side::Sell, "1000", 2);
    }
    v.limit(T1, Side::Buy, "1000", 7);
    v.limit(U, Side::Buy, "1000", 7);
    v.venue(VenueParam::NativeLiquidation(true));
    let ev = v.ok(Command::OraclePrice {
        market: MarketId(0),
        price: px("600"),
    });
    assert_eq!(v.e.market(MarketId(0)).unwrap().mark, px("800"));
    let closed: Vec<(u32, u32, Qty)> = deleveraged(&ev)
        .into_iter()
        .map(|(bankrupt, counterparty, qty, _, _)| (bankrupt, counterparty, qty))
        .collect();
    assert_eq!(
        closed,
        vec![
            (T1, 20, Qty::from_lots(-2)),
            (T1, 30, Qty::from_lots(-2)),
            (T1, 31, Qty::from_lots(-2)),
            (T1, 32, Qty::from_lots(-1)),
        ]
    );
}

// =============================================================================================
// Property: the counterparties of every bankruptcy are the top of a from-scratch ranking.
// =============================================================================================

use bulwark_engine::margin;
use proptest::prelude::*;

/// A random venue on one market, cross margin only, with an empty book: everyone who is
/// liquidated goes straight to the waterfall, so every bankruptcy is an ADL and the events tell
/// the whole story of a command.
#[derive(Clone, Debug)]
struct OneMarket {
    /// Collateral of the ordinary accounts, whole USD.
    collateral: Vec<i64>,
    /// (maker, taker, maker sells, price, qty) between ordinary accounts.
    trades: Vec<(usize, usize, bool, i64, i64)>,
    /// Thin accounts on the losing side: (lots, collateral in whole USD at 1,000 per lot).
    thin: Vec<(i64, i64)>,
    /// The crash: down (thin accounts long) or up (thin accounts short), and by how much.
    down: bool,
    move_usd: i64,
    insurance_usd: i64,
    max_liquidations_per_step: u32,
}

fn one_market() -> impl Strategy<Value = OneMarket> {
    (
        proptest::collection::vec(300i64..20_000, 6..14),
        proptest::collection::vec(
            (
                0usize..14,
                0usize..14,
                any::<bool>(),
                950i64..1050,
                1i64..10,
            ),
            5..30,
        ),
        proptest::collection::vec((1i64..6, 102i64..125), 2..6),
        any::<bool>(),
        150i64..350,
        prop_oneof![Just(0i64), 1i64..500],
        prop_oneof![Just(1u32), Just(2), Just(3), Just(256)],
    )
        .prop_map(
            |(
                collateral,
                trades,
                thin,
                down,
                move_usd,
                insurance_usd,
                max_liquidations_per_step,
            )| {
                OneMarket {
                    collateral,
                    trades,
                    thin,
                    down,
                    move_usd,
                    insurance_usd,
                    max_liquidations_per_step,
                }
            },
        )
}

const WELL_FUNDED: u32 = 5;
const ORDINARY: u32 = 10;
const THIN: u32 = 100;

fn trade(v: &mut Venue, maker: u32, taker: u32, maker_sells: bool, price: i64, qty: i64) {
    let (maker_side, taker_side) = if maker_sells {
        (Side::Sell, Side::Buy)
    } else {
        (Side::Buy, Side::Sell)
    };
    let price = px(&price.to_string());
    let order = |account: u32, side, kind| {
        Command::PlaceOrder(PlaceOrder {
            account: AccountId(account),
            market: MarketId(0),
            side,
            kind,
            price: Some(price),
            qty: Qty::from_lots(qty),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
    };
    // Either side may be refused for margin; a refusal changes nothing.
    v.t += 1;
    v.attempt(&order(maker, maker_side, OrderKind::Limit));
    v.t += 1;
    v.attempt(&order(taker, taker_side, OrderKind::Ioc));
    v.t += 1;
    v.attempt(&Command::CancelAll {
        account: AccountId(maker),
        market: None,
    });
}

fn build(s: &OneMarket) -> Venue {
    let mut v = Venue::new(params());
    for (k, c) in s.collateral.iter().enumerate() {
        v.deposit(ORDINARY + k as u32, &c.to_string());
    }
    let n = s.collateral.len();
    for &(maker, taker, maker_sells, price, qty) in &s.trades {
        let (maker, taker) = (maker % n, taker % n);
        if maker != taker {
            trade(
                &mut v,
                ORDINARY + maker as u32,
                ORDINARY + taker as u32,
                maker_sells,
                price,
                qty,
            );
        }
    }
    // The thin accounts open at 1,000, at 8x to 9.8x, against a well-funded account.
    v.deposit(WELL_FUNDED, "1000000");
    for (k, &(lots, per_lot)) in s.thin.iter().enumerate() {
        let thin = THIN + k as u32;
        v.deposit(thin, &(lots * per_lot).to_string());
        trade(&mut v, WELL_FUNDED, thin, s.down, 1000, lots);
        assert_eq!(
            v.e.account(AccountId(thin))
                .unwrap()
                .position(MarketId(0))
                .map(|p| p.qty),
            Some(Qty::from_lots(if s.down { lots } else { -lots })),
            "the thin account opened"
        );
    }
    if s.insurance_usd > 0 {
        v.t += 1;
        v.attempt(&Command::InsuranceDeposit {
            account: AccountId(ORDINARY),
            amount_usd: usd(&s.insurance_usd.to_string()),
        });
    }
    v.venue(VenueParam::MaxLiquidationsPerStep(
        s.max_liquidations_per_step,
    ));
    v.venue(VenueParam::NativeLiquidation(true));
    v
}

/// The documented score, recomputed here from an account of the reference ledger: profit share
/// x effective leverage, upnl / |cost| x notional / equity, in ppm; a losing or underwater
/// position ranks below every profitable one.
fn reference_score(collateral: Usd, p: &Position, mark: Price) -> i128 {
    let value = margin::value_usd(p.qty, mark, 1).unwrap().micros() as i128;
    let cost = p.cost_usd.micros() as i128;
    let upnl = value - cost;
    let equity = collateral.micros() as i128 + upnl;
    if upnl <= 0 || equity <= 0 {
        return upnl.min(0) - 1;
    }
    upnl * value.abs() * 1_000_000 / (cost.abs().max(1) * equity)
}

/// One command's `Deleveraged` events replayed on a ledger of the accounts as they were before
/// it: at each bankruptcy, the counterparties and lots must be the top of a from-scratch ranking
/// of the ledger as it stands then; the ledger then books the closes at the mark and the
/// haircuts. Returns the bankrupt accounts, in order.
fn replay_adl(
    before: &[Account],
    mark: Price,
    events: &[Event],
) -> Result<Vec<u32>, TestCaseError> {
    let mut ledger: Vec<(Usd, Position)> = before
        .iter()
        .map(|a| {
            let p = a
                .position(MarketId(0))
                .copied()
                .unwrap_or_else(|| Position::new(MarketId(0), MarginMode::Cross));
            (a.collateral_usd, p)
        })
        .collect();
    let adl: Vec<(u32, u32, Qty, Usd)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged {
                bankrupt,
                counterparty,
                qty,
                haircut_usd,
                ..
            } => Some((bankrupt.0, counterparty.0, *qty, *haircut_usd)),
            _ => None,
        })
        .collect();
    let mut bankrupts = Vec::new();
    for group in adl.chunk_by(|a, b| a.0 == b.0) {
        let b = group[0].0;
        bankrupts.push(b);
        let need = ledger[b as usize].1.qty;
        prop_assert!(!need.is_zero(), "bankrupt {} has a position", b);
        // From scratch: every other holder on the opposite side, best score first, ties by id.
        let mut ranked: Vec<(i128, u32)> = ledger
            .iter()
            .enumerate()
            .filter(|(id, (_, p))| {
                *id as u32 != b && p.qty.lots().signum() == -need.lots().signum()
            })
            .map(|(id, (c, p))| (reference_score(*c, p, mark), id as u32))
            .collect();
        ranked.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut left = need.lots().abs();
        let mut expected = Vec::new();
        for (_, id) in ranked {
            if left == 0 {
                break;
            }
            let q = ledger[id as usize].1.qty;
            let close = q.lots().abs().min(left);
            left -= close;
            expected.push((id, Qty::from_lots(close * q.lots().signum())));
        }
        let chosen: Vec<(u32, Qty)> = group.iter().map(|a| (a.1, a.2)).collect();
        prop_assert_eq!(&chosen, &expected, "ADL of {} at mark {:?}", b, mark);
        // Book it: each close at the mark (the counterparty realizes its PnL), then the haircut.
        let close_side = if need.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        for &(_, cp, qty, haircut) in group {
            let notional = margin::fill_notional_usd(qty.abs(), mark, 1).unwrap();
            let (c, p) = &mut ledger[cp as usize];
            let realized = p
                .apply_fill(close_side.opposite(), qty.abs(), notional)
                .unwrap();
            *c = c
                .checked_add(realized)
                .unwrap()
                .checked_sub(haircut)
                .unwrap();
            let (_, bp) = &mut ledger[b as usize];
            bp.apply_fill(close_side, qty.abs(), notional).unwrap();
        }
        prop_assert!(ledger[b as usize].1.qty.is_zero(), "bankrupt {} closed", b);
    }
    Ok(bankrupts)
}

fn check_command(v: &mut Venue, c: Command) -> Result<Vec<u32>, TestCaseError> {
    let before: Vec<Account> = v.e.accounts().to_vec();
    let events = v.ok(c);
    let mark = v.e.market(MarketId(0)).unwrap().mark;
    replay_adl(&before, mark, &events)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Several bankruptcies in one command (and in the commands that drain the queue): every
    /// ADL choice equals a from-scratch ranking of the accounts as they stand at that
    /// bankruptcy, whatever the per-step cap.
    #[test]
    fn every_adl_choice_equals_a_from_scratch_ranking(s in one_market()) {
        let mut v = build(&s);
        let oracle = if s.down { 1000 - 2 * s.move_usd } else { 1000 + 2 * s.move_usd };
        let crash = Command::OraclePrice { market: MarketId(0), price: px(&oracle.to_string()) };
        let mut bankrupts = check_command(&mut v, crash)?;
        let first_command = bankrupts.len();
        for _ in 0..64 {
            if v.e.liquidation_queue().is_empty() {
                break;
            }
            bankrupts.extend(check_command(&mut v, Command::Tick)?);
        }
        prop_assert!(v.e.liquidation_queue().is_empty());
        // Every thin account (8x or more, against a move of 15% or more of the mark) was
        // bankrupt and deleveraged; without a cap they all were in the crash command.
        for k in 0..s.thin.len() as u32 {
            prop_assert!(bankrupts.contains(&(THIN + k)), "thin {} deleveraged: {:?}", k, bankrupts);
        }
        if s.max_liquidations_per_step == 256 {
            prop_assert!(first_command >= s.thin.len(), "{:?}", bankrupts);
        }
    }
}

// =============================================================================================
// Property: the incremental ranking stays exact through everything else that changes accounts
// within a command. The oracle here is the engine's own pair assertion (debug and test builds
// compare every ADL plan with a from-scratch ranking and stop on a difference), driven across
// two markets, cross pools spanning both, isolated pools, liquidation fills against resting
// bids (which move the maker's and the liquidated account's scores), keeper penalties, the
// insurance fund, socialization and both ADL policies.
// =============================================================================================

#[derive(Clone, Debug)]
struct TwoMarkets {
    collateral: Vec<i64>,
    /// (market, maker, taker, maker sells, price, qty, isolated)
    trades: Vec<(u16, usize, usize, bool, i64, i64, bool)>,
    /// Thin cross longs in market 0: (lots, collateral per lot), and lots they also hold in
    /// market 1 (a cross pool spanning both markets), possibly none.
    thin: Vec<(i64, i64, i64)>,
    move_usd: i64,
    /// Bids resting below the crash mark in market 0: (distance below it, qty).
    bids: Vec<(i64, i64)>,
    ranked: [bool; 2],
    socialize: bool,
    insurance_usd: i64,
    max_liquidations_per_step: u32,
    /// After the crash, until the queue is empty: 0 tick, 1 keeper liquidation, 2 a move in
    /// market 1.
    follow: Vec<(u8, i64)>,
}

fn two_markets() -> impl Strategy<Value = TwoMarkets> {
    (
        (
            proptest::collection::vec(300i64..20_000, 6..14),
            proptest::collection::vec(
                (
                    0u16..2,
                    0usize..14,
                    0usize..14,
                    any::<bool>(),
                    950i64..1050,
                    1i64..10,
                    proptest::bool::weighted(0.3),
                ),
                5..40,
            ),
            proptest::collection::vec(
                (1i64..6, 102i64..125, prop_oneof![Just(0i64), 1i64..4]),
                2..6,
            ),
            150i64..350,
        ),
        (
            proptest::collection::vec((0i64..15, 1i64..4), 0..5),
            any::<[bool; 2]>(),
            any::<bool>(),
            prop_oneof![Just(0i64), 1i64..500],
            prop_oneof![Just(1u32), Just(2), Just(3), Just(256)],
            proptest::collection::vec((0u8..3, -60i64..60), 8..16),
        ),
    )
        .prop_map(
            |(
                (collateral, trades, thin, move_usd),
                (bids, ranked, socialize, insurance_usd, max_liquidations_per_step, follow),
            )| {
                TwoMarkets {
                    collateral,
                    trades,
                    thin,
                    move_usd,
                    bids,
                    ranked,
                    socialize,
                    insurance_usd,
                    max_liquidations_per_step,
                    follow,
                }
            },
        )
}

const MM: u32 = 6;
const KEEPER: u32 = 7;

/// A limit or IOC order at `price` for `qty` lots; (market, isolated) say where it goes.
fn place(
    v: &mut Venue,
    account: u32,
    (market, isolated): (u16, bool),
    side: Side,
    kind: OrderKind,
    price: i64,
    qty: i64,
) {
    let margin = if isolated {
        MarginMode::Isolated
    } else {
        MarginMode::Cross
    };
    let o = PlaceOrder {
        account: AccountId(account),
        market: MarketId(market),
        side,
        kind,
        price: Some(px(&price.to_string())),
        qty: Qty::from_lots(qty),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin,
    };
    v.t += 1;
    // Refused for margin now and then; a refusal changes nothing.
    v.attempt(&Command::PlaceOrder(o));
}

fn fund_isolated(v: &mut Venue, account: u32, market: u16, amount: i64) {
    v.t += 1;
    v.attempt(&Command::AdjustIsolatedMargin {
        account: AccountId(account),
        market: MarketId(market),
        delta_usd: usd(&amount.to_string()),
    });
}

fn two_market_trade(v: &mut Venue, t: (u16, u32, u32, bool, i64, i64, bool)) {
    let (market, maker, taker, maker_sells, price, qty, isolated) = t;
    if isolated {
        for a in [maker, taker] {
            fund_isolated(v, a, market, price * qty / 5);
        }
    }
    let (ms, ts) = if maker_sells {
        (Side::Sell, Side::Buy)
    } else {
        (Side::Buy, Side::Sell)
    };
    place(
        v,
        maker,
        (market, isolated),
        ms,
        OrderKind::Limit,
        price,
        qty,
    );
    place(v, taker, (market, isolated), ts, OrderKind::Ioc, price, qty);
    v.t += 1;
    v.attempt(&Command::CancelAll {
        account: AccountId(maker),
        market: None,
    });
}

fn build_two(s: &TwoMarkets) -> Venue {
    let mut v = Venue::new(params());
    let mut p1 = params();
    p1.symbol = "OTHER-PERP".into();
    v.ok(Command::CreateMarket {
        params: Box::new(p1),
    });
    for m in 0..2u16 {
        let mut p = params();
        p.waterfall.socialize = s.socialize;
        v.ok(Command::SetParam {
            market: MarketId(m),
            param: Param::Waterfall(p.waterfall),
        });
        let policy = if s.ranked[m as usize] {
            AdlPolicy::Ranked
        } else {
            AdlPolicy::ProRata
        };
        v.ok(Command::SetParam {
            market: MarketId(m),
            param: Param::AdlPolicy(policy),
        });
    }
    for (k, c) in s.collateral.iter().enumerate() {
        v.deposit(ORDINARY + k as u32, &c.to_string());
    }
    for a in [WELL_FUNDED, MM] {
        v.deposit(a, "1000000");
    }
    v.deposit(KEEPER, "10");
    let n = s.collateral.len();
    for &(m, maker, taker, sells, price, qty, iso) in &s.trades {
        let (maker, taker) = (maker % n, taker % n);
        if maker != taker {
            two_market_trade(
                &mut v,
                (
                    m,
                    ORDINARY + maker as u32,
                    ORDINARY + taker as u32,
                    sells,
                    price,
                    qty,
                    iso,
                ),
            );
        }
    }
    for (k, &(lots, per_lot, other)) in s.thin.iter().enumerate() {
        let thin = THIN + k as u32;
        v.deposit(thin, &(lots * per_lot + other * 150).to_string());
        two_market_trade(&mut v, (0, WELL_FUNDED, thin, true, 1000, lots, false));
        if other > 0 {
            two_market_trade(
                &mut v,
                (1, WELL_FUNDED, thin, k % 2 == 0, 1000, other, false),
            );
        }
    }
    // Bids just below where the crash will put the mark, within the liquidation band.
    let mark_after = 1000 - s.move_usd;
    for &(below, qty) in &s.bids {
        let price = mark_after - below;
        place(
            &mut v,
            MM,
            (0, false),
            Side::Buy,
            OrderKind::Limit,
            price,
            qty,
        );
    }
    if s.insurance_usd > 0 {
        v.t += 1;
        v.attempt(&Command::InsuranceDeposit {
            account: AccountId(WELL_FUNDED),
            amount_usd: usd(&s.insurance_usd.to_string()),
        });
    }
    v.venue(VenueParam::MaxLiquidationsPerStep(
        s.max_liquidations_per_step,
    ));
    v.venue(VenueParam::NativeLiquidation(true));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_incremental_ranking_survives_everything_else_a_command_does(s in two_markets()) {
        // The engine's pair assertion (incremental ranking against a fresh one) runs in debug
        // builds; the assertions below run in every build.
        let mut v = build_two(&s);
        let crash = Command::OraclePrice {
            market: MarketId(0),
            price: px(&(1000 - 2 * s.move_usd).to_string()),
        };
        let mut events = v.ok(crash);
        for &(kind, amount) in &s.follow {
            let Some(head) = v.e.liquidation_queue().first().copied() else { break };
            let c = match kind {
                0 => Command::Tick,
                1 => Command::Liquidate { keeper: AccountId(KEEPER), account: head.account, scope: head.scope },
                _ => Command::OraclePrice { market: MarketId(1), price: px(&(1000 + amount).to_string()) },
            };
            v.t += 1;
            if let Ok(ev) = v.e.apply(&c, TimestampMs(v.t)) {
                events.extend_from_slice(ev);
            }
        }
        // The thin accounts that hold market 0 only are bankrupt at the crash and deleveraged
        // (within the commands above, if the cap and the follow-ups reached them).
        let deleveraged: std::collections::BTreeSet<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::Deleveraged { bankrupt, .. } => Some(bankrupt.0),
                _ => None,
            })
            .collect();
        if s.max_liquidations_per_step == 256 {
            for (k, t) in s.thin.iter().enumerate() {
                if t.2 == 0 {
                    prop_assert!(deleveraged.contains(&(THIN + k as u32)), "{:?}", deleveraged);
                }
            }
        }
    }
}

// =============================================================================================
// Property: what-if paths on one copy rank as on a fresh copy each (the kept candidates).
// =============================================================================================

/// A forward simulation's use of the engine: many paths, each a what-if session on the same
/// copy, taken back after. The ADL candidates' inputs are kept between commands and across
/// the sessions' rollbacks (`engine/adl/base.rs`); each path must produce exactly the events
/// it produces on a fresh copy of the venue that never ran a path. (Debug builds also check
/// every kept base against the accounts at each use.)
fn paths() -> impl Strategy<Value = Vec<Vec<(bool, i64)>>> {
    // Each step: a `Tick` (true) or an oracle price at 1,000 - x.
    proptest::collection::vec(
        proptest::collection::vec((any::<bool>(), -50i64..400), 1..8),
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn paths_on_one_copy_deleverage_as_on_fresh_copies(s in one_market(), paths in paths()) {
        let v = build(&s);
        let venue = v.e.clone();
        let before = state_hash(&venue);
        let mut copy = venue.clone();
        for path in &paths {
            let mut fresh = venue.clone();
            copy.begin_what_if();
            let mut t = v.t;
            for &(tick, x) in path {
                t += 1;
                let c = if tick {
                    Command::Tick
                } else {
                    Command::OraclePrice { market: MarketId(0), price: px(&(1000 - x).to_string()) }
                };
                let on_copy = copy.apply(&c, TimestampMs(t)).map(|e| e.to_vec());
                let on_fresh = fresh.apply(&c, TimestampMs(t)).map(|e| e.to_vec());
                prop_assert_eq!(on_copy, on_fresh, "{:?} at {}", c, t);
            }
            copy.end_what_if();
            prop_assert_eq!(state_hash(&copy), before);
        }
    }
}
