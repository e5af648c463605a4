//! The invariants, recomputed from scratch. `Engine::apply` runs this after every command in
//! debug and test builds; tests and the lab can call it in release too.
//!
//! 1. Conservation: sum over accounts of (cross collateral + isolated collateral - cost basis)
//!    plus fee pool plus every market's funding and socialization clearing balances plus the
//!    insurance fund minus recorded bad debt = deposits - withdrawals, to the micro-USD. (The
//!    cost-basis term is the not-yet-realized side of every trade; realizing PnL moves money
//!    between it and collateral, so the sum is exact whatever the marks are. Pending funding and
//!    socialized loss are not in any balance yet: they move between a pool and a clearing
//!    balance at settlement.) And each clearing balance covers what is still owed through its
//!    index: `clearing x lots_per_unit x 1e6 + sum over positions of exact pending >= 0`.
//!    Positions booked at genesis add the genesis balance (their total cost basis) to the left.
//! 2. Zero-sum positions: per market, long lots = short lots = the market's open interest
//!    (while genesis is open, long lots = open interest only).
//! 3. The book is uncrossed and consistent, and every resting order is on its account's list
//!    and in its position's resting totals.
//! 4. No hidden insolvency: every pool below maintenance or with negative equity is flagged,
//!    and every flag is true. Negative equity persists only on a pool that still has open
//!    positions (a loss not yet realized, owned by the liquidation process); a realized deficit
//!    (no position left) is always booked by the waterfall before the command ends. Every pool
//!    the waterfall deferred still has open positions.

use crate::account::Account;
use crate::book::Side;
use crate::command::MarginMode;
use crate::engine::{Engine, Flag, VAULT};
use crate::event::Scope;
use bulwark_core::{AccountId, MarketId, OrderId};
use std::collections::BTreeMap;

pub(crate) fn check(engine: &Engine) -> Result<(), String> {
    let e = engine.parts();
    check_conservation(engine)?;
    for m in e.markets {
        m.book
            .check()
            .map_err(|b| format!("market {:?}: {b}", m.id))?;
        let (mut long, mut short) = (0i128, 0i128);
        for a in e.accounts.iter().chain(std::iter::once(&e.vault.account)) {
            if let Some(p) = a.position(m.id) {
                if p.qty.lots() > 0 {
                    long += p.qty.lots() as i128;
                } else {
                    short -= p.qty.lots() as i128;
                }
            }
        }
        // While genesis is open the shorts may not have been booked yet: open interest counts
        // the longs, and `EndGenesis` refuses to close until the sides balance.
        let unbalanced = long != short && !e.genesis_open;
        if unbalanced || long != m.open_interest.lots() as i128 {
            return Err(format!(
                "market {:?}: long {long} lots, short {short}, open interest {}",
                m.id, m.open_interest
            ));
        }
    }
    for m in e.markets {
        check_defences(m).map_err(|b| format!("market {:?}: {b}", m.id))?;
    }
    check_orders(engine)?;
    check_accounts_shape(e.accounts, engine.config().max_positions_per_account)?;
    check_vault(engine)?;
    check_deferred(engine)?;
    check_flags(engine)
}

/// A defence's state exists only while the defence is on (switching one off clears it), and
/// what it holds is in its own range.
fn check_defences(m: &crate::market::Market) -> Result<(), String> {
    let d = &m.params.defences;
    let s = &m.defence;
    if let Some(fee) = s.taker_fee_in_force {
        let (base, cap) = (m.params.taker_fee, d.adaptive_fee.max_taker_fee);
        if !d.adaptive_fee.enabled || fee < base || fee > base.max(cap) {
            return Err(format!(
                "adaptive taker fee {fee:?} outside [{base:?}, {cap:?}] or with the fee off"
            ));
        }
    }
    if s.stable.is_some() != d.stable_price.enabled {
        return Err("a stable price with the stable price off, or none with it on".into());
    }
    if s.margin_schedule.is_some() && !d.dynamic_margin.enabled {
        return Err("a margin schedule with dynamic margin off".into());
    }
    if s.degraded_since.is_some() && !d.oracle_guard.enabled {
        return Err("degraded with the oracle guard off".into());
    }
    if s.proactive_checked.is_some() && !d.proactive.enabled {
        return Err("a proactive check time with the proactive breaker off".into());
    }
    if s.recovering_since.is_some() && s.degraded_since.is_none() {
        return Err("recovering without being degraded".into());
    }
    if let Some(h) = s.halt {
        let on = match h.reason {
            crate::defence::HaltReason::PriceMove { .. } => d.halt.enabled,
            crate::defence::HaltReason::Divergence { .. } => d.divergence.enabled,
            crate::defence::HaltReason::Cascade { .. } => d.proactive.enabled,
        };
        if !on || h.until < h.started {
            return Err(format!(
                "halt {h:?} with its breaker off or ending before it starts"
            ));
        }
    }
    Ok(())
}

fn check_conservation(engine: &Engine) -> Result<(), String> {
    let e = engine.parts();
    // The genesis balance: positions booked at genesis carry a cost basis no cash in the
    // ledger paid, so it is added back (zero for a venue without genesis).
    let mut held: i128 = e.fee_pool_usd.micros() as i128 + e.insurance_usd.micros() as i128
        - e.bad_debt_usd.micros() as i128
        + e.genesis_cost_usd.micros() as i128;
    for a in e.accounts.iter().chain(std::iter::once(&e.vault.account)) {
        held += a.collateral_usd.micros() as i128;
        for p in &a.positions {
            held += p.isolated_usd.micros() as i128 - p.cost_usd.micros() as i128;
        }
    }
    for m in e.markets {
        held += m.funding_clearing_usd.micros() as i128 + m.loss_clearing_usd.micros() as i128;
    }
    let net = e.deposited_usd.micros() as i128 - e.withdrawn_usd.micros() as i128;
    if held != net {
        return Err(format!(
            "conservation: accounts, vault and pools (less recorded bad debt) hold {held} micro-USD, deposits net of withdrawals are {net} (difference {})",
            held - net
        ));
    }
    check_clearing(engine)
}

/// Each market's clearing balances cover what its positions still owe through the indexes:
/// `clearing x lots x 1e6 + sum of exact pending >= 0` (the excess is rounding residue). A
/// negative figure would mean settlement could pay out more than it collects.
fn check_clearing(engine: &Engine) -> Result<(), String> {
    let e = engine.parts();
    for (mi, m) in e.markets.iter().enumerate() {
        let d = index_denom(m);
        let mut funding = m.funding_clearing_usd.micros() as i128 * d;
        let mut loss = m.loss_clearing_usd.micros() as i128 * d;
        for a in e.accounts.iter().chain(std::iter::once(&e.vault.account)) {
            if let Some(p) = a.position(m.id) {
                let (f, l) = crate::engine::pending_exact(m, p)
                    .map_err(|x| format!("market {mi}: pending of a position: {x}"))?;
                funding += f;
                loss += l;
            }
        }
        if funding < 0 || loss < 0 {
            return Err(format!(
                "market {mi}: clearing balances do not cover what is owed (funding {funding}, socialized loss {loss}, in micro-USD x lots x 1e6)"
            ));
        }
    }
    Ok(())
}

fn index_denom(m: &crate::market::Market) -> i128 {
    m.params.lots_per_unit as i128 * bulwark_core::PPM_ONE as i128
}

fn check_orders(engine: &Engine) -> Result<(), String> {
    let e = engine.parts();
    // Resting totals per (account, market, side), rebuilt from the books.
    let mut open: BTreeMap<(AccountId, MarketId), (i64, i64)> = BTreeMap::new();
    let mut listed: BTreeMap<AccountId, Vec<(MarketId, OrderId)>> = BTreeMap::new();
    for m in e.markets {
        for side in [Side::Buy, Side::Sell] {
            for o in m.book.orders_in_priority(side) {
                let a = e.accounts.get(o.account.0 as usize).filter(|a| a.active);
                if a.is_none() {
                    return Err(format!("order {:?} belongs to a missing account", o.id));
                }
                let listed_at = a.and_then(|a| a.orders.get(o.acct_slot as usize));
                if listed_at != Some(&(m.id, o.id)) {
                    return Err(format!(
                        "order {:?} does not know its place in its account's list",
                        o.id
                    ));
                }
                let t = open.entry((o.account, m.id)).or_default();
                match side {
                    Side::Buy => t.0 += o.remaining.lots(),
                    Side::Sell => t.1 += o.remaining.lots(),
                }
                listed.entry(o.account).or_default().push((m.id, o.id));
            }
        }
    }
    for (i, a) in e.accounts.iter().enumerate() {
        let id = AccountId(i as u32);
        let mut want = listed.remove(&id).unwrap_or_default();
        let mut have = a.orders.clone();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            return Err(format!(
                "account {id:?}: order list disagrees with the books"
            ));
        }
        if a.orders.len() as u32 > engine.config().max_open_orders_per_account {
            return Err(format!("account {id:?}: over the open order limit"));
        }
        for p in &a.positions {
            let (b, s) = open.get(&(id, p.market)).copied().unwrap_or_default();
            if (p.open_buy.lots(), p.open_sell.lots()) != (b, s) {
                return Err(format!(
                    "account {id:?} market {:?}: resting totals {}/{} but books hold {b}/{s}",
                    p.market, p.open_buy, p.open_sell
                ));
            }
        }
        for (&(acc, m), _) in open.range((id, MarketId(0))..=(id, MarketId(u16::MAX))) {
            if a.position(m).is_none() {
                return Err(format!(
                    "account {acc:?} has orders in {m:?} but no position entry"
                ));
            }
        }
    }
    Ok(())
}

fn check_accounts_shape(accounts: &[Account], max_positions: usize) -> Result<(), String> {
    for (i, a) in accounts.iter().enumerate() {
        if !a.active && (a != &Account::default()) {
            return Err(format!("inactive account {i} holds state"));
        }
        if a.positions.len() > max_positions {
            return Err(format!("account {i} holds {} positions", a.positions.len()));
        }
        if a.positions.windows(2).any(|w| w[0].market >= w[1].market) {
            return Err(format!("account {i}: positions not sorted by market"));
        }
        for p in &a.positions {
            if p.is_idle() && p.mode == MarginMode::Cross {
                return Err(format!(
                    "account {i}: idle cross position left in {:?}",
                    p.market
                ));
            }
            if p.mode == MarginMode::Cross && !p.isolated_usd.is_zero() {
                return Err(format!(
                    "account {i}: cross position with isolated collateral"
                ));
            }
            if p.qty.lots() * p.cost_usd.signum() < 0 {
                return Err(format!(
                    "account {i}: cost basis sign disagrees with the position"
                ));
            }
        }
    }
    Ok(())
}

fn check_flags(engine: &Engine) -> Result<(), String> {
    let e = engine.parts();
    let mut expected: BTreeMap<(AccountId, Scope), Flag> = BTreeMap::new();
    for (i, a) in e.accounts.iter().enumerate().filter(|(_, a)| a.active) {
        let id = AccountId(i as u32);
        for scope in Engine::scopes(a) {
            let h = engine
                .pool_health(a, scope, None)
                .map_err(|x| format!("health of {id:?}: {x}"))?;
            // The flags, triggers and liquidations run on the health without the initial
            // requirement: the same equity and maintenance.
            let m = engine
                .pool_maintenance_health(a, scope)
                .map_err(|x| format!("maintenance health of {id:?}: {x}"))?;
            if (m.equity_usd, m.maintenance_usd) != (h.equity_usd, h.maintenance_usd) {
                return Err(format!(
                    "{id:?} {scope:?}: the maintenance health {m:?} differs from the health {h:?}"
                ));
            }
            let f = Flag {
                below_maintenance: h.below_maintenance(),
                negative_equity: h.is_negative(),
            };
            if h.is_negative() && !has_open_position(a, scope) {
                return Err(format!(
                    "{id:?} {scope:?}: equity {} with no open position: a realized deficit the waterfall did not book",
                    h.equity_usd
                ));
            }
            if f != Flag::default() {
                expected.insert((id, scope), f);
            }
        }
    }
    let negative = e.flags.values().filter(|f| f.negative_equity).count();
    if negative != e.negative_pools {
        return Err(format!(
            "{negative} flags say negative equity, the engine counts {}",
            e.negative_pools
        ));
    }
    if &expected != e.flags {
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| e.flags.get(k) != Some(v))
            .take(3)
            .collect();
        let stale: Vec<_> = e
            .flags
            .iter()
            .filter(|(k, v)| expected.get(k) != Some(v))
            .take(3)
            .collect();
        let detail: Vec<String> = missing
            .iter()
            .map(|(k, _)| **k)
            .chain(stale.iter().map(|(k, _)| **k))
            .map(|(acc, scope)| {
                let a = engine.acct(acc);
                let reg = match scope {
                    Scope::Cross => format!("{:?}", a.cross_watch),
                    Scope::Isolated(m) => format!(
                        "{:?}",
                        a.iso_watch.iter().find(|(mm, _)| *mm == m).map(|(_, r)| r)
                    ),
                };
                let h = engine.pool_health(a, scope, None).ok();
                let marks: Vec<i64> = e.markets.iter().map(|m| m.mark.micros()).collect();
                format!(
                    "{acc:?} {scope:?}: watch {reg}, health {h:?}, marks {marks:?}, positions {:?}",
                    a.positions
                )
            })
            .collect();
        return Err(format!(
            "health flags out of date: unrecorded {missing:?}, stale {stale:?}; {detail:?}"
        ));
    }
    Ok(())
}

fn has_open_position(a: &Account, scope: Scope) -> bool {
    a.positions
        .iter()
        .any(|p| !p.qty.is_zero() && crate::engine::in_scope(p, scope))
}

fn check_deferred(engine: &Engine) -> Result<(), String> {
    for &(account, scope) in engine.parts().waterfall_pending {
        if !has_open_position(engine.acct(account), scope) {
            return Err(format!(
                "{account:?} {scope:?} is deferred in the waterfall with no open position"
            ));
        }
    }
    Ok(())
}

fn check_vault(engine: &Engine) -> Result<(), String> {
    let e = engine.parts();
    let v = e.vault;
    if !v.account.orders.is_empty() {
        return Err("the vault rests orders".into());
    }
    let shares: u128 = v.shares.values().map(|s| *s as u128).sum();
    if shares != v.total_shares as u128 {
        return Err(format!(
            "vault shares: LPs hold {shares}, total says {}",
            v.total_shares
        ));
    }
    for (lp, r) in &v.requests {
        if r.shares > v.shares.get(lp).copied().unwrap_or(0) && r.shares == 0 {
            return Err(format!("vault request of {lp:?} is empty"));
        }
    }
    let h = engine
        .pool_health(&v.account, Scope::Cross, None)
        .map_err(|x| x.to_string())?;
    let deferred = e.waterfall_pending.contains(&(VAULT, Scope::Cross));
    if h.equity_usd.is_negative() && !deferred {
        return Err(format!(
            "the vault's equity {} is negative outside the waterfall",
            h.equity_usd
        ));
    }
    if e.insurance_usd.is_negative() || e.bad_debt_usd.is_negative() {
        return Err("insurance fund or recorded bad debt is negative".into());
    }
    Ok(())
}
