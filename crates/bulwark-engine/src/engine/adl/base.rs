//! The ADL candidates' inputs, kept between commands (`AdlCache::bases`).
//!
//! A ranking lives for one command, because the marks move between commands and every score
//! depends on them. Its scan reads every account: its position in the market, then every term
//! of its pool's equity. A side's first scan does just that (`adl_scan_accounts`); from its
//! second on, the side keeps a base. A forward simulation's paths make thousands of such scans, one per
//! command with a bankruptcy, and between two of them only the accounts the commands changed
//! are different. So each (market, side) keeps, per candidate, what its score's bound needs
//! at *any* mark of that market: the position (lots, cost) and the rest of its pool's equity
//! in floating point (every term but the position's own value, whose exact integer is added at
//! the mark). A scan then reads this compact list instead of the accounts, and the accounts
//! changed since (`AdlCache::log`, every `acct_mut` and recorded account change) are read
//! again first.
//!
//! **When a base is current.** Its entries hold the other markets' marks (a cross pool's
//! equity has their values in it): a base made at other marks than the present ones is made
//! again. A funding or socialized-loss step moves pending amounts without touching accounts:
//! every base goes (`invalidate_adl_ranking`). A what-if session's rollback puts back
//! accounts without `acct_mut`: a base survives it only when the log ran through the whole
//! session (from `begin_what_if`) and no base was dropped in it; the session's part of the log
//! is then read again (those accounts are back to their state before it). Otherwise every base
//! goes. In test builds every scan from a base checks it against the accounts
//! (`adl_check_base`).
//!
//! Floating point here, as in `score_bound`, only orders candidates; plans are made of exact
//! integer scores.

use super::{in_scope, scope_of, wide_to_f64, Engine, Market, PPM_ONE, VAULT};
use crate::account::Account;
use crate::event::Scope;
use bulwark_core::{AccountId, MarketId, Price, Qty, Usd};

/// A pool's equity in floating point as terms added up: the estimate, the sum of its terms'
/// magnitudes (for the error) and its count of rounded terms (`pool_equity_estimate`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct EquityTerms {
    pub equity: f64,
    pub magnitude: f64,
    pub rounding: f64,
}

impl EquityTerms {
    /// The estimate with one more exact term, `value` micro-USD, and its absolute error
    /// bound: the magnitudes x 1e-14 (a few ulps per term, many times over) plus 2 micro-USD
    /// per rounded term.
    #[inline]
    pub fn with_value(self, value: f64) -> Option<(f64, f64)> {
        let equity = self.equity + value;
        let err = (self.magnitude + value.abs()) * 1e-14 + 2.0 * self.rounding;
        (equity.is_finite() && err.is_finite()).then_some((equity, err))
    }
}

/// The terms of a pool's equity at the marks, in floating point, leaving out the value of the
/// position in `skip_value_of` (its cost and pending amounts stay in, and its rounding), or
/// `None` where an index difference overflows. Mirrors `pool_equity` term by term: a value is
/// `floor(q x P / lots)` there (off by at most 1 here), a pending amount is rounded up there
/// (off by at most 1 each, funding and loss, here).
#[inline]
pub(super) fn pool_equity_terms(
    markets: &[Market],
    a: &Account,
    scope: Scope,
    skip_value_of: Option<MarketId>,
) -> Option<EquityTerms> {
    let mut equity = match scope {
        Scope::Cross => a.collateral_usd.micros() as f64,
        Scope::Isolated(_) => 0.0,
    };
    let mut magnitude = equity.abs();
    let mut rounding = 1.0;
    for p in a.positions.iter().filter(|p| in_scope(p, scope)) {
        let collateral = p.isolated_usd.micros() as f64; // zero for a cross position
        equity += collateral;
        magnitude += collateral.abs();
        if p.qty.is_zero() {
            continue;
        }
        let m = &markets[p.market.0 as usize];
        let lots = p.qty.lots() as f64;
        let value = if skip_value_of == Some(p.market) {
            0.0
        } else {
            lots * m.mark.micros() as f64 / m.params.lots_per_unit as f64
        };
        let cost = p.cost_usd.micros() as f64;
        rounding += 1.0;
        let pending = if super::super::index::is_current(m, p) {
            0.0
        } else {
            let s = super::super::index::side_of(p.qty);
            let df = m.funding_index[s].checked_sub(p.funding_snap.get())?;
            let dl = m.loss_index[s].checked_sub(p.loss_snap.get())?;
            rounding += 2.0;
            lots.abs() * (wide_to_f64(df) + wide_to_f64(dl))
                / (m.params.lots_per_unit as f64 * PPM_ONE as f64)
        };
        equity += value - cost - pending;
        magnitude += value.abs() + cost.abs() + pending.abs();
    }
    Some(EquityTerms {
        equity,
        magnitude,
        rounding,
    })
}

/// One candidate of a base: what bounds its score at any mark of the base's market.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct BaseEntry {
    pub id: AccountId,
    pub qty: Qty,
    pub cost: Usd,
    /// The pool's equity but the position's value (`None`: not estimable, scored exactly).
    pub rest: Option<EquityTerms>,
}

/// The candidates of one side of one market (see the module documentation).
#[derive(Clone, Debug)]
pub(super) struct AdlBase {
    pub market: MarketId,
    pub sign: i64,
    /// Every market's mark when the base was last brought up to date; its own market's may
    /// have moved since (the entries do not depend on it).
    marks: Vec<Price>,
    /// Dense: a candidate that leaves is swapped out.
    pub entries: Vec<BaseEntry>,
    /// Each account's entry index + 1 (0: none), by account index; the vault's apart.
    slots: Vec<u32>,
    vault_slot: u32,
    /// How much of `AdlCache::log` the base has read.
    pub seen: usize,
}

impl AdlBase {
    /// Whether the base's entries hold at `markets`' marks: the other markets' marks are the
    /// ones it was made at.
    pub fn holds_at(&self, markets: &[Market]) -> bool {
        self.marks.len() == markets.len()
            && markets
                .iter()
                .zip(&self.marks)
                .all(|(m, &mark)| m.id == self.market || m.mark == mark)
    }

    fn slot_mut(&mut self, id: AccountId) -> &mut u32 {
        if id == VAULT {
            return &mut self.vault_slot;
        }
        let i = id.0 as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, 0);
        }
        &mut self.slots[i]
    }

    /// Set `id`'s entry to `entry` (`None`: it is no candidate now).
    fn put(&mut self, id: AccountId, entry: Option<BaseEntry>) {
        let at = *self.slot_mut(id) as usize;
        match (at, entry) {
            (0, None) => {}
            (0, Some(e)) => {
                self.entries.push(e);
                *self.slot_mut(id) = self.entries.len() as u32;
            }
            (k, Some(e)) => self.entries[k - 1] = e,
            (k, None) => {
                self.entries.swap_remove(k - 1);
                *self.slot_mut(id) = 0;
                if let Some(moved) = self.entries.get(k - 1).map(|e| e.id) {
                    *self.slot_mut(moved) = k as u32;
                }
            }
        }
    }
}

impl Engine {
    /// The base of (`market` at index `mi`, `sign`), current, taken out of the cache (put it
    /// back with [`Engine::adl_base_put`]): the kept one with the accounts changed since read
    /// again, or a new one from a scan of every account.
    pub(super) fn adl_base_take(&mut self, mi: usize, sign: i64) -> AdlBase {
        let market = self.markets[mi].id;
        let c = &mut self.adl_cache;
        let kept = c
            .bases
            .iter()
            .position(|b| b.market == market && b.sign == sign)
            .map(|i| c.bases.swap_remove(i))
            .filter(|b| b.holds_at(&self.markets));
        let mut base = match kept {
            Some(base) => base,
            None => return self.adl_base_scan(market, sign),
        };
        let log = &self.adl_cache.log;
        let mut ids = log[base.seen.min(log.len())..].to_vec();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            base.put(id, self.adl_base_entry(id, market, sign));
        }
        base.seen = self.adl_cache.log.len();
        base
    }

    /// Keep `base` for the next command's scans.
    pub(super) fn adl_base_put(&mut self, base: AdlBase) {
        let cap = 4 * (self.accounts.len() + 1);
        self.adl_cache.keep_base(base, cap);
    }

    /// A base from a scan of every account (the vault included).
    fn adl_base_scan(&self, market: MarketId, sign: i64) -> AdlBase {
        let mut base = AdlBase {
            market,
            sign,
            marks: self.markets.iter().map(|m| m.mark).collect(),
            entries: Vec::new(),
            slots: vec![0; self.accounts.len()],
            vault_slot: 0,
            seen: self.adl_cache.log.len(),
        };
        let ids = (0..self.accounts.len() as u32).map(AccountId);
        for id in ids.chain(std::iter::once(VAULT)) {
            if let Some(e) = self.adl_base_entry(id, market, sign) {
                base.put(id, Some(e));
            }
        }
        base
    }

    /// `id`'s entry in the base of (`market`, `sign`), if it is a candidate: an active
    /// account (or the vault) with a position of sign `sign` there. An account a rollback
    /// took away is none.
    pub(super) fn adl_base_entry(
        &self,
        id: AccountId,
        market: MarketId,
        sign: i64,
    ) -> Option<BaseEntry> {
        if id != VAULT && id.0 as usize >= self.accounts.len() {
            return None;
        }
        let a = self.acct(id);
        let p = a
            .position(market)
            .filter(|p| a.active && p.qty.signum() == sign)?;
        Some(BaseEntry {
            id,
            qty: p.qty,
            cost: p.cost_usd,
            rest: pool_equity_terms(&self.markets, a, scope_of(p.mode, market), Some(market)),
        })
    }

    /// The base's pair assertion: its entries are exactly the candidates a scan of the
    /// accounts finds now, each as a fresh entry.
    #[cfg(any(debug_assertions, feature = "invariants"))]
    pub(super) fn adl_check_base(&self, base: &AdlBase) {
        let ids = (0..self.accounts.len() as u32).map(AccountId);
        let fresh: Vec<BaseEntry> = ids
            .chain(std::iter::once(VAULT))
            .filter_map(|id| self.adl_base_entry(id, base.market, base.sign))
            .collect();
        let mut kept = base.entries.clone();
        kept.sort_by_key(|e| e.id);
        let mut fresh_sorted = fresh;
        fresh_sorted.sort_by_key(|e| e.id);
        assert_eq!(
            kept, fresh_sorted,
            "the ADL base of {:?} side {} is not the accounts' (a change to an account missed the log)",
            base.market, base.sign
        );
    }
}
