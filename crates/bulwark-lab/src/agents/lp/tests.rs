//! LPs on a hand-built venue, driven through the lab's venue plumbing ([`VenueLink`]).
//!
//! The market keeps the arithmetic easy to follow (the engine's by-hand tests use the same):
//! 1 lot = 1 unit, price 1,000, maintenance 5%, initial 10%, no fees; no bids, so the vault
//! takes over what a keeper liquidates, and the impact notional is huge, so the mark is the
//! mean of the oracle and the trade EMA (1,000 after the one trade).

use super::*;
use crate::agents::{Action, Ctx, MarkHistory};
use crate::scenario::{LogNormal, LpParams};
use crate::sim::venue_link::VenueLink;
use crate::venue::{PublicVault, Venue};
use bulwark_engine::{
    Command, MarginMode, MarketId, MarketParams, OrderKind, PlaceOrder, Ppm, Price, Qty, Reject,
    Scope, SelfTrade, Side, VenueParam,
};
use rand::SeedableRng;

const M: MarketId = MarketId(0);
const MM: AccountId = AccountId(10);
const T: AccountId = AccountId(11);
const T2: AccountId = AccountId(12);
const K: AccountId = AccountId(13);
const A: AccountId = AccountId(20);
const B: AccountId = AccountId(21);
const DELAY_MS: u64 = 60_000;
/// One unit = 1e6 shares (the vault's first deposit mints a share per micro-USD).
const UNIT: u64 = 1_000_000;

fn usd(v: i64) -> Usd {
    Usd::from_micros(v * 1_000_000)
}

fn px(v: i64) -> Price {
    Price::from_micros(v * 1_000_000)
}

fn params() -> MarketParams {
    let mut p = MarketParams::btc_like("TEST-PERP", px(1_000));
    p.lots_per_unit = 1;
    p.maintenance = Ppm::from_raw(50_000);
    p.initial_multiplier = Ppm::from_raw(2_000_000);
    p.size_premium = Ppm::from_raw(0);
    p.maker_fee = Ppm::from_raw(0);
    p.taker_fee = Ppm::from_raw(0);
    p.insurance_fee_share = Ppm::from_raw(0);
    p.liquidation_penalty = Ppm::from_raw(10_000);
    p.liquidation_band = Ppm::from_raw(20_000);
    p.impact_notional_usd = usd(1_000_000_000);
    p.max_position_qty = Qty::from_lots(1_000_000);
    p.max_price = px(100_000);
    // The test spans minutes between prints; the oracle must stay fresh throughout.
    p.oracle_stale_ms = 3_600_000;
    p
}

fn ok(v: &mut VenueLink, t: u64, cmd: Command) {
    v.apply(&cmd, t)
        .unwrap_or_else(|r| panic!("{} rejected at {t}: {r}", cmd.name()));
}

fn limit(account: AccountId, side: Side, price: i64, lots: i64) -> Command {
    Command::PlaceOrder(PlaceOrder {
        account,
        market: M,
        side,
        kind: OrderKind::Limit,
        price: Some(px(price)),
        qty: Qty::from_lots(lots),
        reduce_only: false,
        self_trade: SelfTrade::CancelTaker,
        margin: MarginMode::Cross,
    })
}

fn oracle(v: &mut VenueLink, t: u64, price: i64) {
    ok(
        v,
        t,
        Command::OraclePrice {
            market: M,
            price: px(price),
        },
    );
}

fn liquidate(v: &mut VenueLink, t: u64, account: AccountId) {
    ok(
        v,
        t,
        Command::Liquidate {
            keeper: K,
            account,
            scope: Scope::Cross,
        },
    );
}

/// An LP with `rule` and `capital`, the rest of the default parameters (retry after 10 s).
fn lp(account: AccountId, capital: i64, rule: LpRule) -> Lp {
    let p = LpParams {
        retry_s: 10,
        ..LpParams::default()
    };
    let mut l = Lp::new(account, &p, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    l.capital = usd(capital);
    l.rule = rule;
    l
}

/// The venue of the module docs: LPs A (20,000) and B (30,000) in the vault; T long 10 at
/// 1,000 on 1,000 of collateral; T2 long 1 at 1,000 on 100.
fn venue(a: &Lp, b: &Lp) -> VenueLink {
    let mut v = VenueLink::new(M, 1);
    let t = 0;
    for param in [
        VenueParam::NativeLiquidation(false),
        VenueParam::VaultWithdrawalDelayMs(DELAY_MS),
    ] {
        ok(&mut v, t, Command::SetVenueParam { param });
    }
    ok(
        &mut v,
        t,
        Command::CreateMarket {
            params: Box::new(params()),
        },
    );
    for (account, amount) in [(MM, 1_000_000), (T, 1_000), (T2, 100), (K, 10)] {
        let amount_usd = usd(amount);
        ok(
            &mut v,
            t,
            Command::Deposit {
                account,
                amount_usd,
            },
        );
    }
    for l in [a, b] {
        ok(&mut v, t, l.initial_deposit());
        ok(&mut v, t, l.vault_deposit());
    }
    oracle(&mut v, t, 1_000);
    ok(&mut v, t, limit(MM, Side::Sell, 1_000, 11));
    ok(&mut v, t, limit(T, Side::Buy, 1_000, 10));
    ok(&mut v, t, limit(T2, Side::Buy, 1_000, 1));
    v
}

/// Wakes `l` at `t`; sends its commands through the plumbing (a refusal is returned, as the
/// run loop counts it); its wake-up request.
fn wake(v: &mut VenueLink, t: u64, l: &mut Lp) -> (Option<u64>, Vec<Result<(), Reject>>) {
    let marks = MarkHistory::new(0, 1_000);
    let mut out = Vec::new();
    let mut ctx = Ctx {
        now_ms: t,
        venue: Venue::new(&v.engine, M),
        outside_price: 1_000.0,
        mark_history: &marks,
        going_gas_gwei: 0.0,
        eth_usd: 150.0,
        out: &mut out,
    };
    l.on_wake(&mut ctx);
    let (mut wake_at, mut results) = (None, Vec::new());
    for action in out {
        match action {
            Action::Send(cmd) => results.push(v.apply(&cmd, t)),
            Action::WakeAt(at) => wake_at = Some(at),
            _ => {}
        }
    }
    (wake_at, results)
}

fn vault_equity(v: &VenueLink) -> Usd {
    v.engine.vault_state().health.equity_usd
}

fn shares(v: &VenueLink, account: AccountId) -> u64 {
    Venue::new(&v.engine, M).own_vault_shares(account)
}

#[test]
fn an_lp_run_pays_leavers_the_share_price_at_payout_and_stayers_lose_as_much_per_share() {
    // A leaves on any fall (0.1%); B follows once a quarter of the shares are leaving.
    let (mut a, mut b) = (
        lp(A, 20_000, LpRule::Drawdown(0.001)),
        lp(B, 30_000, LpRule::Follow(0.25)),
    );
    let mut v = venue(&a, &b);
    assert_eq!(
        (shares(&v, A), shares(&v, B)),
        (20_000 * UNIT, 30_000 * UNIT)
    );
    // Both look at par: nobody leaves.
    assert_eq!(wake(&mut v, 1_000, &mut a).1, vec![]);
    assert_eq!(wake(&mut v, 1_000, &mut b).1, vec![]);

    // Oracle 820: mark (820 + 1,000) / 2 = 910. T's equity 1,000 - 10 x 90 = 100; with no
    // bids the vault takes T's 10 units at 910 with those 100: equity 50,100.
    oracle(&mut v, 2_000, 820);
    liquidate(&mut v, 2_000, T);
    assert_eq!(vault_equity(&v), usd(50_100));
    // Oracle 700: mark 850. The vault's 10 units lose 600: equity 49,500, share price 0.99.
    // T2's equity 100 - 150 = -50: a loss nobody has booked yet.
    oracle(&mut v, 3_000, 700);
    assert_eq!(vault_equity(&v), usd(49_500));
    assert_eq!(v.engine.vault_state().share_price_ppm, 990_000);

    // A sees 0.99 against its peak 1.0: it asks for all its shares, then sleeps till due.
    let (wake_a, sent) = wake(&mut v, 4_000, &mut a);
    assert_eq!(sent, vec![Ok(())]);
    assert_eq!(
        a.state,
        LpState::Leaving {
            shares: 20_000 * UNIT
        }
    );
    assert_eq!(wake_a, Some(4_000 + a.poll_ms()));
    assert_eq!(wake(&mut v, 5_000, &mut a).0, Some(4_000 + DELAY_MS));
    // B sees 20,000 of 50,000 units leaving (40% >= 25%) and follows.
    assert_eq!(wake(&mut v, 5_000, &mut b).1, vec![Ok(())]);
    assert_eq!(wake(&mut v, 6_000, &mut b).0, Some(5_000 + DELAY_MS));

    // Due, A claims; T2's loss is unbooked, so the engine refuses and A retries 10 s later.
    let (again, sent) = wake(&mut v, 4_000 + DELAY_MS, &mut a);
    assert_eq!(sent, vec![Err(Reject::UnbookedLoss { pools: 1 })]);
    assert_eq!(again, Some(14_000 + DELAY_MS));
    assert_eq!(shares(&v, A), 20_000 * UNIT);

    // The keeper reaches T2: the vault takes its 1 unit at 850 with equity -50 (a loss of 50
    // booked): equity 49,450. A's retry is paid 20,000 / 50,000 x 49,450 = 19,780: the share
    // price at payout, 0.989, not the 0.99 when it asked.
    liquidate(&mut v, 10_000 + DELAY_MS, T2);
    assert_eq!(vault_equity(&v), usd(49_450));
    assert_eq!(wake(&mut v, 14_000 + DELAY_MS, &mut a).1, vec![Ok(())]);
    let a_paid = v.engine.account(A).unwrap().collateral_usd;
    assert_eq!(a_paid, usd(19_780));
    assert_eq!(a.claims_sent, 2);
    wake(&mut v, 24_000 + DELAY_MS, &mut a);
    assert_eq!(a.state, LpState::Left);

    // B stays (for now): 30,000 units of a 29,670 vault, share price 0.989. Loss per unit:
    // A (20,000 - 19,780) / 20,000 = 0.011; B 1 - 0.989 = 0.011. Equal.
    assert_eq!(vault_equity(&v), usd(29_670));
    assert_eq!(v.engine.vault_state().share_price_ppm, 989_000);
    let a_loss_per_unit = (20_000.0 - a_paid.to_f64_lossy()) / 20_000.0;
    let b_value = v.engine.vault_state().share_price_ppm as f64 / 1e6 * 30_000.0;
    let b_loss_per_unit = (30_000.0 - b_value) / 30_000.0;
    assert!((a_loss_per_unit - 0.011).abs() < 1e-12, "{a_loss_per_unit}");
    assert!((b_loss_per_unit - a_loss_per_unit).abs() < 1e-12);

    // B's claim would take all 29,670 while the vault's 11 units at 850 need 935 of initial
    // margin: free collateral 28,735 is short, the engine refuses, and B keeps retrying.
    let (again, sent) = wake(&mut v, 14_000 + DELAY_MS, &mut b);
    assert_eq!(
        sent,
        vec![Err(Reject::InsufficientCollateral {
            available: usd(28_735),
            requested: usd(29_670),
        })]
    );
    assert_eq!(again, Some(24_000 + DELAY_MS));
    assert_eq!(wake(&mut v, 24_000 + DELAY_MS, &mut b).1.len(), 1);
    assert_eq!(b.claims_sent, 2);
    assert_eq!(
        b.state,
        LpState::Leaving {
            shares: 30_000 * UNIT
        }
    );
    assert!(v.engine.check_invariants().is_ok());
}

fn seen(share_price: f64, total_shares: u64, pending: u64) -> PublicVault {
    PublicVault {
        share_price,
        total_shares,
        pending_withdrawal_shares: pending,
        withdrawal_delay_ms: DELAY_MS,
    }
}

#[test]
fn the_drawdown_rule_measures_the_fall_from_the_highest_price_seen() {
    let mut l = lp(A, 1, LpRule::Drawdown(0.05));
    assert!(!l.decide(&seen(1.0, 100, 0)));
    assert!(!l.decide(&seen(1.2, 100, 0)), "a gain raises the peak");
    // 1.2 x 0.95 = 1.14: just above is not far enough, just below is.
    assert!(!l.decide(&seen(1.1401, 100, 0)));
    assert!(l.decide(&seen(1.1399, 100, 0)));
    // From par, the line is at 0.95; the first look sets the peak.
    let mut fresh = lp(A, 1, LpRule::Drawdown(0.05));
    assert!(!fresh.decide(&seen(1.0, 100, 0)));
    assert!(!fresh.decide(&seen(0.9501, 100, 0)));
    assert!(fresh.decide(&seen(0.9499, 100, 0)));
}

#[test]
fn followers_count_requests_pending_and_shares_already_redeemed() {
    let mut l = lp(A, 1, LpRule::Follow(0.25));
    assert!(!l.decide(&seen(1.0, 1_000, 249)));
    // 100 redeemed since its first look (1,000 -> 900) + 150 pending = 250 of 1,000.
    assert!(l.decide(&seen(0.5, 900, 150)));
    let mut holder = lp(A, 1, LpRule::Hold);
    assert!(!holder.decide(&seen(0.01, 1_000, 1_000)));
    assert!(!holder.watches());
}

#[test]
fn lps_draw_their_rules_and_split_the_total_capital_exactly() {
    let mut agents = crate::scenario::AgentsSection::default();
    (agents.traders.count, agents.market_makers.count) = (0, 0);
    (agents.arbitrageurs.count, agents.keepers.count) = (0, 0);
    agents.lps = LpParams {
        count: 1_000,
        total_capital_usd: 2_000_000.0,
        threshold_share: 0.5,
        follow_share: 0.2,
        drawdown_frac: LogNormal {
            median: 0.1,
            sigma: 0.5,
        },
        ..LpParams::default()
    };
    let members = crate::agents::population::draw(&agents, 7);
    let lps: Vec<&Lp> = members
        .iter()
        .filter_map(|m| match &m.agent {
            crate::agents::population::Agent::Lp(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(lps.len(), 1_000);
    let total: i64 = lps.iter().map(|l| l.capital.micros()).sum();
    assert_eq!(total, usd(2_000_000).micros());
    assert!(lps.iter().all(|l| l.capital.is_positive()));
    let drawdown = lps
        .iter()
        .filter(|l| matches!(l.rule, LpRule::Drawdown(_)))
        .count();
    let follow = lps
        .iter()
        .filter(|l| matches!(l.rule, LpRule::Follow(_)))
        .count();
    // Binomial shares: within four standard deviations (about 63 and 51 of 1,000).
    assert!((437..=563).contains(&drawdown), "{drawdown}");
    assert!((149..=251).contains(&follow), "{follow}");
    // Thresholds are drawn per LP around the median 10%, clipped to [0.001, 1].
    let mut d: Vec<f64> = lps
        .iter()
        .filter_map(|l| match l.rule {
            LpRule::Drawdown(x) => Some(x),
            _ => None,
        })
        .collect();
    d.sort_by(f64::total_cmp);
    let median = d[d.len() / 2];
    assert!((0.08..0.12).contains(&median), "{median}");
    assert!(d.iter().all(|x| (MIN_DRAWDOWN_FRAC..=1.0).contains(x)));
    assert!(d.first() < d.last(), "thresholds differ between LPs");
}
