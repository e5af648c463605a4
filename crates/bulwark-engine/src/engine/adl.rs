//! Auto-deleveraging: close a bankrupt position against opposite positions, chosen by the
//! market's policy (ranked by profit x leverage, or pro rata), and charge them the haircut.
//!
//! **Ranked at each bankruptcy.** The ranked policy takes the opposite positions with the
//! highest score (`adl_score`: profit share x effective leverage) as the scores stand at that
//! bankruptcy, so who pays does not depend on how liquidations are batched into commands. A
//! score depends on the marks and on its own account (position, cost, pool collateral), and the
//! marks do not move within a command. So the command's first ADL in a (market, side) scans
//! every account once and heaps the candidates (O(n)); after that, only the accounts changed
//! since are re-scored. The scan scores exactly only what it must: the exact score divides
//! wide integers, and an ADL takes a few of the best of a thousand candidates, so the scan
//! heaps most of them by a floating-point upper bound on their score and scores one exactly
//! only when its bound reaches the best exact score found (`adl_pop_best`); the plan is the
//! exact ranking's all the same (the bound is proven, ties are scored before either is taken,
//! and the debug check below compares every plan). Every change to an account goes through
//! `Engine::acct_mut`, which logs the account in [`AdlCache::touched`] while a ranking exists
//! (fills, ADL closes and haircuts, vault takeovers, penalties to keepers, released isolated
//! margin); before each plan the ranking re-scores the part of the log it has not seen. A
//! re-scored account gets a new generation, which retires its old heap entry lazily. Changes
//! that do not go through `acct_mut` (funding settlement, socialization, whose lazy indexes
//! will not touch accounts at all) call `invalidate_adl_ranking`. In debug and test builds
//! every plan is checked against a from-scratch ranking (`adl_check_plan`).
//!
//! Pro rata does not rank: the same structure keeps the set of current holders (score 0), so
//! each ADL costs O(holders), not a scan of every account.

use super::*;
use crate::account::{Account, Position};
use crate::book::Side;
use crate::command::{AdlPolicy, MarginMode};
use crate::event::{Event, Scope};
use crate::margin::{self};
use bulwark_core::{allocate, div_i128, AccountId, MarketId, Price, Qty, Round, Usd, PPM_ONE};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

mod base;

/// A position closed against a counterparty by ADL, before its haircut is known.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdlClose {
    pub counterparty: AccountId,
    pub market: MarketId,
    /// Lots closed, signed as the counterparty's position was.
    pub qty: Qty,
    pub mark: Price,
    /// Why the vault did not take the bankrupt position over.
    pub reason: VaultRefusal,
}

/// The ADL rankings of the command being applied: scratch, not state (emptied by every
/// `apply`, neither hashed nor checked); and the candidates' inputs kept between commands
/// ([`base`]), with the log of the accounts changed since. A clone of the engine keeps the
/// bases, not the rankings (see the `Clone` impl).
#[derive(Debug, Default)]
pub(super) struct AdlCache {
    rankings: Vec<AdlRanking>,
    /// Accounts changed since the command's first ranking, in order, repeats allowed.
    touched: Vec<AccountId>,
    /// Every market's mark when the rankings were made.
    marks: Vec<Price>,
    /// One per (market, side) ranked lately (`base::AdlBase`).
    bases: Vec<base::AdlBase>,
    /// Accounts changed while a base exists or a what-if session is open, in order, repeats
    /// allowed; each base has read it up to its `seen`.
    log: Vec<AccountId>,
    /// Whether changes go to `log`: a base exists, or a session is open.
    logging: bool,
    /// In a what-if session: where the log stood when it began, or `None` once a base was
    /// dropped in it (then its rollback drops every base).
    session_from: Option<usize>,
    /// A what-if session is open (`begin_session` .. `after_roll_back`).
    in_session: bool,
    /// The log's cap (at least `MIN_LOG_CAP`): reading it again past that would cost more
    /// than the scans it saves.
    log_cap: usize,
    /// The (market, side)s scanned without a base: the next scan of one makes its base. A
    /// venue that deleverages once pays one plain scan; one that goes on (a crash, a forward
    /// simulation's paths) keeps the candidates from its second scan on.
    scanned: Vec<(MarketId, i64)>,
}

/// A copy of the engine keeps the bases (they describe the copied accounts), not the
/// command's rankings, and is in no what-if session (the journal's copy is empty too).
impl Clone for AdlCache {
    fn clone(&self) -> Self {
        AdlCache {
            bases: self.bases.clone(),
            log: self.log.clone(),
            logging: !self.bases.is_empty(),
            log_cap: self.log_cap,
            scanned: self.scanned.clone(),
            ..AdlCache::default()
        }
    }
}

/// The longest the log may grow, whatever the number of accounts, before every base goes.
const MIN_LOG_CAP: usize = 1 << 16;

impl AdlCache {
    /// Forget every ranking; one branch when there is none (twice per command). A log grown
    /// past its cap (a long session with no ADL, say) drops every base and itself.
    #[inline]
    pub(super) fn clear(&mut self) {
        // `marks` is set whenever a ranking is made, and `touched` grows only while one exists.
        if !self.marks.is_empty() {
            self.rankings.clear();
            self.touched.clear();
            self.marks.clear();
        }
        if self.log.len() > self.log_cap.max(MIN_LOG_CAP) {
            self.drop_bases();
        }
    }

    /// Log a change to `id`'s account; free (one branch each) while no ranking, base or
    /// session exists.
    #[inline]
    pub(super) fn touch(&mut self, id: AccountId) {
        if !self.rankings.is_empty() && self.touched.last() != Some(&id) {
            self.touched.push(id);
        }
        if self.logging && self.log.last() != Some(&id) {
            self.log.push(id);
        }
    }

    /// Keep `base`; every base goes when the log has grown past `cap` entries (reading it
    /// again would cost more than the scans it saves).
    fn keep_base(&mut self, base: base::AdlBase, cap: usize) {
        self.bases.push(base);
        self.logging = true;
        self.log_cap = cap;
        if self.log.len() > cap.max(MIN_LOG_CAP) {
            self.drop_bases();
        }
    }

    /// Every base goes (something changed scores without touching accounts, or the log grew
    /// too long), and the next scan of each side is a plain one again. A session it happens
    /// in can no longer keep bases past its rollback.
    pub(super) fn drop_bases(&mut self) {
        self.bases.clear();
        self.scanned.clear();
        self.log.clear();
        self.logging = self.in_session;
        if self.in_session {
            self.session_from = None;
        }
    }

    /// A what-if session begins: the log runs through it, so that its rollback can tell which
    /// accounts it put back. A log every base has read is emptied first.
    pub(super) fn begin_session(&mut self) {
        if self.bases.iter().all(|b| b.seen == self.log.len()) {
            self.log.clear();
            for b in &mut self.bases {
                b.seen = 0;
            }
        }
        self.in_session = true;
        self.session_from = Some(self.log.len());
        self.logging = true;
    }

    /// After a rollback (`markets_len`: the markets left). The rankings go. A session's
    /// rollback put back the accounts it changed, which the log holds from the session's
    /// start: each base reads them again. Any other rollback, or a session that dropped
    /// bases, drops every base.
    pub(super) fn after_roll_back(&mut self, was_session: bool, markets_len: usize) {
        self.clear();
        match self.session_from.filter(|_| was_session && self.in_session) {
            Some(from) => {
                self.bases.retain(|b| (b.market.0 as usize) < markets_len);
                for b in &mut self.bases {
                    b.seen = b.seen.min(from);
                }
            }
            None => self.bases.clear(),
        }
        if self.bases.is_empty() {
            self.log.clear();
        }
        self.in_session = false;
        self.session_from = None;
        self.logging = !self.bases.is_empty();
    }
}

/// The candidates on one side of one market.
#[derive(Clone, Debug)]
struct AdlRanking {
    market: MarketId,
    sign: i64,
    policy: AdlPolicy,
    /// Best first; may hold retired entries (an older generation), skipped when met.
    heap: BinaryHeap<RankEntry>,
    /// Candidates of the scan not yet scored exactly, keyed by an upper bound on their score
    /// (`entry_bound`), best first: one moves into `heap`, scored, whenever its
    /// bound reaches the best exact score there. An entry whose account was re-scored since
    /// (it has a generation) is retired. Empty for pro rata.
    pending: BinaryHeap<RankEntry>,
    /// The generation of each account re-scored since the scan (absent: 0).
    generation: BTreeMap<AccountId, u32>,
    /// How much of `AdlCache::touched` this ranking has re-scored.
    seen: usize,
}

impl AdlRanking {
    fn is_current(&self, e: &RankEntry) -> bool {
        e.generation == self.generation.get(&e.id.0).copied().unwrap_or(0)
    }
}

/// Ordered best first in a max-heap: the highest score, then the lowest id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RankEntry {
    score: i128,
    id: Reverse<AccountId>,
    generation: u32,
}

/// Split `need` lots over `cands` in proportion to their positions, exactly (`allocate`:
/// largest remainder, ties to the larger position, then the lower id), so the total is `need`
/// (or every lot there is) and nobody is closed for more than it holds.
fn pro_rata_plan(
    mut cands: Vec<(AccountId, Qty)>,
    need: i64,
) -> ArithResult<Vec<(AccountId, Qty, Qty)>> {
    let total: i128 = cands.iter().map(|c| c.1.abs().lots() as i128).sum();
    if total == 0 {
        return Ok(Vec::new());
    }
    cands.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    let need = need.min(total.min(i64::MAX as i128) as i64);
    let sizes: Vec<i64> = cands.iter().map(|c| c.1.abs().lots()).collect();
    let shares = allocate(need, &sizes)?;
    Ok(cands
        .into_iter()
        .zip(shares)
        .filter(|(_, share)| *share > 0)
        .map(|((id, q), share)| (id, q, Qty::from_lots(share)))
        .collect())
}

/// The ADL score of a position worth `value` at the mark, with cost basis `cost` and pool
/// equity `equity` (micro-USD): profit fraction x effective leverage, in ppm.
fn score_of(value: Usd, cost: Usd, equity: i128) -> ArithResult<i128> {
    let upnl = value.micros() as i128 - cost.micros() as i128;
    let cost = (cost.micros() as i128).abs().max(1);
    if upnl <= 0 || equity <= 0 {
        return Ok(upnl.min(0) - 1);
    }
    let notional = (value.micros() as i128).abs();
    let score = upnl
        .saturating_mul(notional)
        .saturating_mul(PPM_ONE as i128);
    div_i128(score, cost.saturating_mul(equity), Round::Floor)
}

/// **Floating point here never reaches a balance, a price or a choice.** It only orders the
/// scan's candidates by a proven upper bound, to decide whose exact (integer) score to compute
/// first; every plan is made of exact scores, and equals the all-integer ranking's.
///
/// An upper bound on `score_of(value, cost, e)` for every equity `e` within `err` of
/// `equity` (micro-USD), or `None` where none close enough can be given (see
/// `Engine::adl_score_bound`). Exact where the score does not depend on `e`: a losing
/// position's, and a profitable one's whose equity is surely negative.
fn score_bound(value: Usd, cost: Usd, equity: f64, err: f64) -> Option<i128> {
    let upnl = value.micros().checked_sub(cost.micros())?;
    if upnl <= 0 {
        return Some(upnl as i128 - 1);
    }
    if equity + err < 0.0 {
        return Some(-1);
    }
    let least = equity - err;
    if least.is_nan() || least <= 0.0 {
        return None; // the sign of the equity is not certain
    }
    let cost = cost.micros().unsigned_abs().max(1) as f64;
    let numerator = upnl as f64 * value.micros().unsigned_abs() as f64 * PPM_ONE as f64;
    if numerator.is_nan() || numerator >= 1e36 {
        return None; // near where the exact product saturates
    }
    let bound = numerator / (cost * least) * (1.0 + 1e-12) + 2.0;
    // Through `i64` where it fits (scores in ppm nearly always do): the wide conversion is a
    // library call.
    if bound < 9.0e18 {
        Some(bound as i64 as i128)
    } else {
        bound.is_finite().then_some(bound as i128)
    }
}

/// A scan's (exact, pending) heaps from its exactly scored and its bounded candidates; pro
/// rata heaps them all as exact (score 0).
fn into_heaps(
    policy: AdlPolicy,
    exact: Vec<RankEntry>,
    bounds: Vec<RankEntry>,
) -> (BinaryHeap<RankEntry>, BinaryHeap<RankEntry>) {
    match policy {
        AdlPolicy::ProRata => (BinaryHeap::from(bounds), BinaryHeap::new()),
        AdlPolicy::Ranked => (BinaryHeap::from(exact), BinaryHeap::from(bounds)),
    }
}

/// `Engine::adl_score_bound` from a base entry at market `m`'s mark: the position's exact
/// value there, the rest of its pool's equity as the entry keeps it.
#[inline]
fn entry_bound(e: &base::BaseEntry, m: &Market) -> Option<i128> {
    let value = margin::value_usd(e.qty, m.mark, m.params.lots_per_unit).ok()?;
    let upnl = value.micros().checked_sub(e.cost.micros())?;
    if upnl <= 0 {
        return Some(upnl as i128 - 1);
    }
    let (equity, err) = e.rest?.with_value(value.micros() as f64)?;
    score_bound(value, e.cost, equity, err)
}

/// A pool's equity at the marks (see `Engine::adl_pool_equity`).
fn pool_equity(markets: &[Market], a: &Account, scope: Scope) -> ArithResult<i128> {
    let mut equity = match scope {
        Scope::Cross => a.collateral_usd.micros() as i128,
        Scope::Isolated(_) => 0,
    };
    for p in a.positions.iter().filter(|p| in_scope(p, scope)) {
        equity += p.isolated_usd.micros() as i128; // zero for a cross position
        if !p.qty.is_zero() {
            let m = &markets[p.market.0 as usize];
            let value = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit)?;
            // Pending funding and socialized loss count, as in `pool_health`.
            let (funding, loss) = super::index::pending_usd(m, p)?;
            equity += value.micros() as i128
                - p.cost_usd.micros() as i128
                - funding.micros() as i128
                - loss.micros() as i128;
        }
    }
    Ok(equity)
}

/// A pool's equity at the marks in floating point (for `score_bound`'s ordering only, never
/// booked), and a bound on its absolute error, micro-USD;
/// `None` where an index difference overflows (see `Engine::adl_score_bound`). Mirrors
/// [`pool_equity`] term by term, in floating point throughout: a value is `floor(q x P / lots)`
/// there (off by at most 1 here), a pending amount is rounded up there (off by at most 1
/// each, funding and loss, here); every term also carries a few ulps of rounding, which the
/// magnitude's 1e-14 covers many times over.
#[inline]
fn pool_equity_estimate(markets: &[Market], a: &Account, scope: Scope) -> Option<(f64, f64)> {
    base::pool_equity_terms(markets, a, scope, None)?.with_value(0.0)
}

/// `v as f64`, by the one-instruction conversion when `v` fits an `i64` (index differences
/// nearly always do; the wide conversion is a library call).
#[inline]
fn wide_to_f64(v: i128) -> f64 {
    match i64::try_from(v) {
        Ok(v) => v as f64,
        Err(_) => wide_to_f64_cold(v),
    }
}

#[cold]
#[inline(never)]
fn wide_to_f64_cold(v: i128) -> f64 {
    v as f64
}

impl Engine {
    /// Close the bankrupt position `qty` in market `mi` against opposite positions at the mark,
    /// choosing them by the market's ADL policy. Exactly |qty| lots are closed, never more.
    pub(super) fn adl_close(
        &mut self,
        bankrupt: AccountId,
        mi: usize,
        qty: Qty,
        reason: VaultRefusal,
        closes: &mut Vec<AdlClose>,
    ) -> Bounded {
        let m = &self.markets[mi];
        let (market, mark, policy) = (m.id, m.mark, m.params.adl_policy);
        let plan = self.adl_plan(bankrupt, mi, qty, policy)?;
        let side = if qty.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        for (cp, cp_qty, close) in plan {
            self.direct_fill(mi, bankrupt, side, cp, close, mark)?;
            self.release_if_idle(cp, market, true)?;
            closes.push(AdlClose {
                counterparty: cp,
                market,
                qty: Qty::from_lots(close.lots() * cp_qty.signum()),
                mark,
                reason,
            });
        }
        Ok(())
    }

    /// (counterparty, its position, lots to close) for an ADL of `qty` in market `mi`.
    ///
    /// Ranked: the highest scores as they stand now (see [`AdlCache`]), ties by id. Pro rata:
    /// every opposite position in proportion to its size. Either way exactly |qty| lots.
    pub(super) fn adl_plan(
        &mut self,
        bankrupt: AccountId,
        mi: usize,
        qty: Qty,
        policy: AdlPolicy,
    ) -> Bounded<Vec<(AccountId, Qty, Qty)>> {
        let market = self.markets[mi].id;
        let want_sign = -qty.signum();
        let need = qty.abs().lots();
        let k = self.adl_ranking(market, want_sign, policy)?;
        let plan = match policy {
            AdlPolicy::Ranked => self.adl_take_top(k, bankrupt, need)?,
            AdlPolicy::ProRata => {
                let r = &self.adl_cache.rankings[k];
                let cands: Vec<(AccountId, Qty)> = r
                    .heap
                    .iter()
                    .filter(|e| r.is_current(e) && e.id.0 != bankrupt)
                    .map(|e| (e.id.0, self.adl_qty(e.id.0, market)))
                    .collect();
                bounded(pro_rata_plan(cands, need))?
            }
        };
        debug_assert_eq!(
            plan.iter().map(|c| c.2.lots()).sum::<i64>(),
            need,
            "ADL closes exactly the bankrupt position (zero-sum open interest)"
        );
        #[cfg(any(debug_assertions, feature = "invariants"))]
        if self.invariant_check_interval == 1 {
            self.adl_check_plan(bankrupt, market, want_sign, policy, need, &plan);
        }
        Ok(plan)
    }

    /// The ranked plan: pop the best current entries until `need` lots are found, then put
    /// them back (they stay valid until their accounts change).
    fn adl_take_top(
        &mut self,
        k: usize,
        bankrupt: AccountId,
        need: i64,
    ) -> Bounded<Vec<(AccountId, Qty, Qty)>> {
        let market = self.adl_cache.rankings[k].market;
        let mut popped = Vec::new();
        let mut plan = Vec::new();
        let mut left = need;
        while left > 0 {
            let Some(e) = self.adl_pop_best(k)? else {
                break;
            };
            popped.push(e);
            if e.id.0 == bankrupt {
                continue;
            }
            let q = self.adl_qty(e.id.0, market);
            let close = q.abs().lots().min(left);
            left -= close;
            plan.push((e.id.0, q, Qty::from_lots(close)));
        }
        self.adl_cache.rankings[k].heap.extend(popped);
        Ok(plan)
    }

    /// The current position of a ranked candidate (an entry is current only while its
    /// account holds a position on the ranked side).
    fn adl_qty(&self, id: AccountId, market: MarketId) -> Qty {
        let q = self.acct(id).position(market).map_or(Qty::ZERO, |p| p.qty);
        debug_assert!(!q.is_zero(), "a current ADL entry has a position");
        q
    }

    /// The index of the ranking of (`market`, `sign`), up to date: made by one scan at the
    /// command's first ADL there, then brought up to date by re-scoring the accounts changed
    /// since it was last used.
    fn adl_ranking(&mut self, market: MarketId, sign: i64, policy: AdlPolicy) -> Bounded<usize> {
        let marks_moved = !self.markets.iter().map(|m| m.mark).eq(self
            .adl_cache
            .marks
            .iter()
            .copied());
        if marks_moved {
            // Every score depends on the marks. They do not move within a command today (only
            // `Tick` and `OraclePrice` move them, before any liquidation); should that change,
            // the rankings are made again rather than read stale.
            self.adl_cache.clear();
            self.adl_cache.marks = self.markets.iter().map(|m| m.mark).collect();
        }
        let found = self
            .adl_cache
            .rankings
            .iter()
            .position(|r| (r.market, r.sign, r.policy) == (market, sign, policy));
        if let Some(k) = found {
            self.adl_rescore(k)?;
            return Ok(k);
        }
        let (heap, pending) = self.adl_scan(market, sign, policy)?;
        let seen = self.adl_cache.touched.len();
        self.adl_cache.rankings.push(AdlRanking {
            market,
            sign,
            policy,
            heap,
            pending,
            generation: BTreeMap::new(),
            seen,
        });
        Ok(self.adl_cache.rankings.len() - 1)
    }

    /// The ranking's one scan: every candidate of the side, from the side's base (the
    /// candidates' inputs kept between commands, `base.rs`), which is brought up to date
    /// first. Pro rata heaps them all (score 0). Ranked scores exactly only the candidates
    /// whose score a cheap bound cannot settle and heaps the rest by their bound
    /// ([`AdlRanking::pending`]): an ADL takes a few of the best of a thousand, so most are
    /// never scored exactly (the exact score's wide divisions were most of the scan's cost).
    /// Both heaps are made in O(n).
    #[allow(clippy::type_complexity)]
    fn adl_scan(
        &mut self,
        market: MarketId,
        sign: i64,
        policy: AdlPolicy,
    ) -> Bounded<(BinaryHeap<RankEntry>, BinaryHeap<RankEntry>)> {
        let mi = market.0 as usize;
        let kept = self
            .adl_cache
            .bases
            .iter()
            .any(|b| (b.market, b.sign) == (market, sign));
        if !kept && !self.adl_cache.scanned.contains(&(market, sign)) {
            self.adl_cache.scanned.push((market, sign));
            return self.adl_scan_accounts(market, sign, policy);
        }
        let base = self.adl_base_take(mi, sign);
        #[cfg(any(debug_assertions, feature = "invariants"))]
        if self.invariant_check_interval == 1 {
            self.adl_check_base(&base);
        }
        let heaps = self.adl_heaps(&base, mi, policy);
        self.adl_base_put(base);
        heaps
    }

    /// The plain scan, for a side's first ADL: every account (and the vault) with a position
    /// of sign `sign` in `market`, bounded from the account itself.
    #[allow(clippy::type_complexity)]
    fn adl_scan_accounts(
        &self,
        market: MarketId,
        sign: i64,
        policy: AdlPolicy,
    ) -> Bounded<(BinaryHeap<RankEntry>, BinaryHeap<RankEntry>)> {
        let mut exact: Vec<RankEntry> = Vec::new();
        // Sized for every account at once: growing by doubling would copy the entries again.
        let mut bounds: Vec<RankEntry> = Vec::with_capacity(self.accounts.len() + 1);
        let accounts = self.accounts.iter().enumerate();
        let accounts = accounts
            .map(|(i, a)| (AccountId(i as u32), a))
            .chain(std::iter::once((VAULT, self.acct(VAULT))));
        for (id, a) in accounts {
            if !a.active {
                continue;
            }
            let entry = |score| RankEntry {
                score,
                id: Reverse(id),
                generation: 0,
            };
            let Some(p) = a.position(market).filter(|p| p.qty.signum() == sign) else {
                continue;
            };
            match policy {
                AdlPolicy::ProRata => bounds.push(entry(0)),
                AdlPolicy::Ranked => match self.adl_score_bound(a, p) {
                    Some(bound) => bounds.push(entry(bound)),
                    None => exact.push(entry(self.adl_score(a, p)?)),
                },
            }
        }
        Ok(into_heaps(policy, exact, bounds))
    }

    /// The ranking's heaps from a current base of market `mi`'s side (see `adl_scan`).
    #[allow(clippy::type_complexity)]
    fn adl_heaps(
        &self,
        base: &base::AdlBase,
        mi: usize,
        policy: AdlPolicy,
    ) -> Bounded<(BinaryHeap<RankEntry>, BinaryHeap<RankEntry>)> {
        let m = &self.markets[mi];
        let mut exact: Vec<RankEntry> = Vec::new();
        let mut bounds: Vec<RankEntry> = Vec::with_capacity(base.entries.len());
        for e in &base.entries {
            let entry = |score| RankEntry {
                score,
                id: Reverse(e.id),
                generation: 0,
            };
            match policy {
                AdlPolicy::ProRata => bounds.push(entry(0)),
                AdlPolicy::Ranked => match entry_bound(e, m) {
                    Some(bound) => bounds.push(entry(bound)),
                    None => {
                        let a = self.acct(e.id);
                        match a.position(m.id).filter(|p| p.qty == e.qty) {
                            Some(p) => exact.push(entry(self.adl_score(a, p)?)),
                            None => ensure(false, "a current ADL base entry has its position")?,
                        }
                    }
                },
            }
        }
        Ok(into_heaps(policy, exact, bounds))
    }

    /// The best current entry of ranking `k`, scored exactly, taken off its heap: first every
    /// pending candidate whose bound reaches the best exact score is scored and heaped (a
    /// bound equal to it may hide an equal score with a lower id, which ranks first).
    fn adl_pop_best(&mut self, k: usize) -> Bounded<Option<RankEntry>> {
        loop {
            let r = &mut self.adl_cache.rankings[k];
            while let Some(top) = r.heap.peek() {
                if r.is_current(top) {
                    break;
                }
                r.heap.pop(); // superseded by a re-score: dropped for good
            }
            while let Some(p) = r.pending.peek() {
                if r.generation.contains_key(&p.id.0) {
                    r.pending.pop(); // re-scored since the scan: its exact entry is in `heap`
                } else {
                    break;
                }
            }
            let beaten = match (r.heap.peek(), r.pending.peek()) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(top), Some(p)) => p.score >= top.score,
            };
            if !beaten {
                return Ok(r.heap.pop());
            }
            let Some(p) = r.pending.pop() else {
                continue;
            };
            let (market, sign, policy) = (r.market, r.sign, r.policy);
            let id = p.id.0;
            if let Some(score) = self.adl_entry_score(id, market, sign, policy)? {
                debug_assert!(
                    score <= p.score,
                    "{id:?}: score {score} over its bound {}",
                    p.score
                );
                self.adl_cache.rankings[k].heap.push(RankEntry {
                    score,
                    id: p.id,
                    generation: 0,
                });
            }
        }
    }

    /// Re-score the accounts changed since ranking `k` was last brought up to date: each gets a
    /// new generation (which retires its old entry) and, if it still holds a position on the
    /// ranked side, a new entry with its score as it stands now.
    fn adl_rescore(&mut self, k: usize) -> Bounded {
        let r = &self.adl_cache.rankings[k];
        let end = self.adl_cache.touched.len();
        if r.seen == end {
            return Ok(());
        }
        let (market, sign, policy) = (r.market, r.sign, r.policy);
        let mut ids = self.adl_cache.touched[r.seen..end].to_vec();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let score = self.adl_entry_score(id, market, sign, policy)?;
            let r = &mut self.adl_cache.rankings[k];
            let generation = r.generation.entry(id).or_insert(0);
            *generation += 1;
            if let Some(score) = score {
                r.heap.push(RankEntry {
                    score,
                    id: Reverse(id),
                    generation: *generation,
                });
            }
        }
        self.adl_cache.rankings[k].seen = end;
        Ok(())
    }

    /// Drop the ADL rankings made in this command: something changed the equity of accounts
    /// without going through `acct_mut` (a funding settlement, a socialized loss). A cross pool
    /// links markets, so a change in `market` moves scores in every market where its holders
    /// have cross positions: every ranking goes, and the next ADL scans again.
    pub(super) fn invalidate_adl_ranking(&mut self, market: MarketId) {
        let _ = market;
        self.adl_cache.clear();
        self.adl_cache.drop_bases();
    }

    /// The ranking key of one account on one side of a market, if it is a candidate: its score
    /// for the ranked policy, 0 for pro rata (membership only).
    fn adl_entry_score(
        &self,
        id: AccountId,
        market: MarketId,
        sign: i64,
        policy: AdlPolicy,
    ) -> Bounded<Option<i128>> {
        let a = self.acct(id);
        let Some(p) = a
            .position(market)
            .filter(|p| a.active && p.qty.signum() == sign)
        else {
            return Ok(None);
        };
        Ok(Some(match policy {
            AdlPolicy::Ranked => self.adl_score(a, p)?,
            AdlPolicy::ProRata => 0,
        }))
    }

    /// The pair assertion of the incremental ranking: the plan equals the one a from-scratch
    /// ranking (a scan of every account, sorted) gives at this bankruptcy.
    #[cfg(any(debug_assertions, feature = "invariants"))]
    fn adl_check_plan(
        &self,
        bankrupt: AccountId,
        market: MarketId,
        sign: i64,
        policy: AdlPolicy,
        need: i64,
        plan: &[(AccountId, Qty, Qty)],
    ) {
        // A check of the plan: it calls no `bounded` (a fault injected into it would be a
        // failure of the check, not of the engine), and skips what it cannot compute.
        let mut all: Vec<(i128, AccountId)> = (0..self.accounts.len() as u32)
            .map(AccountId)
            .chain(std::iter::once(VAULT))
            .filter(|id| *id != bankrupt)
            .filter_map(|id| {
                let a = self.acct(id);
                let p = a
                    .position(market)
                    .filter(|p| a.active && p.qty.signum() == sign)?;
                let score = match policy {
                    AdlPolicy::Ranked => self.adl_score_unchecked(a, p)?,
                    AdlPolicy::ProRata => 0,
                };
                Some((score, id))
            })
            .collect();
        for &(_, id) in &all {
            let a = self.acct(id);
            // Candidates are taken from current holders of the market just above.
            let p = a.position(market).expect("a candidate has a position"); // ok: see above
            let scope = scope_of(p.mode, market);
            if let (Ok(h), Some(e)) = (
                self.pool_health(a, scope, None),
                self.adl_pool_equity_unchecked(a, scope),
            ) {
                assert_eq!(e, h.equity_usd.micros() as i128, "{id:?} {scope:?}");
                // The scan's estimates hold for every candidate, not only those it scored.
                if let Some((estimate, err)) = pool_equity_estimate(&self.markets, a, scope) {
                    assert!(
                        (estimate - e as f64).abs() <= err,
                        "{id:?} {scope:?}: equity {e}, estimate {estimate} +- {err}"
                    );
                }
            }
            if let (Some(bound), Some(score)) =
                (self.adl_score_bound(a, p), self.adl_score_unchecked(a, p))
            {
                assert!(
                    bound >= score,
                    "{id:?}: score {score} over its bound {bound}"
                );
            }
        }
        let expected = match policy {
            AdlPolicy::Ranked => {
                all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut left = need;
                let mut plan = Vec::new();
                for (_, id) in all {
                    if left == 0 {
                        break;
                    }
                    let q = self.adl_qty(id, market);
                    let close = q.abs().lots().min(left);
                    left -= close;
                    plan.push((id, q, Qty::from_lots(close)));
                }
                plan
            }
            AdlPolicy::ProRata => {
                let cands = all
                    .into_iter()
                    .map(|(_, id)| (id, self.adl_qty(id, market)))
                    .collect();
                match pro_rata_plan(cands, need) {
                    Ok(plan) => plan,
                    Err(_) => return, // nothing to compare with
                }
            }
        };
        assert_eq!(
            plan, expected,
            "ADL in {market:?} for {bankrupt:?}: the incremental ranking chose differently from a \
             from-scratch ranking"
        );
    }

    /// ADL rank: profit fraction x effective leverage = upnl/|cost| x notional/equity, in ppm.
    /// Losing or underwater positions rank below every profitable one.
    pub(super) fn adl_score(&self, a: &Account, p: &Position) -> Bounded<i128> {
        let m = &self.markets[p.market.0 as usize];
        let Ok(value) = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit) else {
            return Ok(i128::MIN);
        };
        let equity = self.adl_pool_equity(a, scope_of(p.mode, p.market))?;
        bounded(score_of(value, p.cost_usd, equity))
    }

    /// An upper bound on `adl_score(a, p)` from floating point, or `None` where it cannot give
    /// a close one (then the scan scores exactly). Exact where the score is: a losing
    /// position's (its profit less one, whatever its equity) and an underwater profitable
    /// one's (-1).
    ///
    /// The score is `floor(profit x notional x 1e6 / (cost x equity))`. Profit, notional and
    /// cost are exact integers; only the pool's equity is estimated, with an absolute error
    /// below `err` (its terms' magnitudes x 1e-14, plus 2 micro-USD per rounded-up pending
    /// amount). The bound divides by `equity - err`, the least the equity can be, and widens
    /// the quotient by 1e-12 for the floating point's own few ulps of rounding (about 1e-15).
    fn adl_score_bound(&self, a: &Account, p: &Position) -> Option<i128> {
        let m = &self.markets[p.market.0 as usize];
        let value = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit).ok()?;
        // In `i64` (the exact score's `i128` would need the wide conversion to float).
        let upnl = value.micros().checked_sub(p.cost_usd.micros())?;
        if upnl <= 0 {
            return Some(upnl as i128 - 1);
        }
        let (equity, err) = pool_equity_estimate(&self.markets, a, scope_of(p.mode, p.market))?;
        score_bound(value, p.cost_usd, equity, err)
    }

    /// `adl_score` for the debug check, which must not count as engine arithmetic: `None`
    /// where it would fail.
    #[cfg(any(debug_assertions, feature = "invariants"))]
    fn adl_score_unchecked(&self, a: &Account, p: &Position) -> Option<i128> {
        let m = &self.markets[p.market.0 as usize];
        let Ok(value) = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit) else {
            return Some(i128::MIN);
        };
        let equity = self.adl_pool_equity_unchecked(a, scope_of(p.mode, p.market))?;
        score_of(value, p.cost_usd, equity).ok()
    }

    /// A pool's equity at the marks, as `pool_health` gives it, without the requirements it
    /// also computes: the full scan calls this once per candidate.
    fn adl_pool_equity(&self, a: &Account, scope: Scope) -> Bounded<i128> {
        bounded(pool_equity(&self.markets, a, scope))
    }

    #[cfg(any(debug_assertions, feature = "invariants"))]
    fn adl_pool_equity_unchecked(&self, a: &Account, scope: Scope) -> Option<i128> {
        pool_equity(&self.markets, a, scope).ok()
    }

    /// Stage d: the deleveraged counterparties pay `total` (their market's share of the
    /// deficit left after the insurance fund) in proportion to the lots closed against them,
    /// split exactly (`allocate`: the haircuts add up to `total`, no rounding excess). Emits
    /// one `Deleveraged` per close; credits the bankrupt pool with `total`.
    pub(super) fn settle_adl(
        &mut self,
        bankrupt: AccountId,
        scope: Scope,
        closes: &[AdlClose],
        total: Usd,
    ) -> Bounded {
        let lots: Vec<i64> = closes.iter().map(|c| c.qty.abs().lots()).collect();
        let haircuts = if total.is_positive() {
            bounded(allocate(total.micros(), &lots))?
        } else {
            vec![0; closes.len()]
        };
        for (c, &h) in closes.iter().zip(&haircuts) {
            let haircut = Usd::from_micros(h);
            let cp_scope = self.counterparty_scope(c.counterparty, c.market);
            if haircut.is_positive() {
                self.add_to_pool(c.counterparty, cp_scope, bounded(haircut.checked_neg())?)?;
                let a = self.acct_mut(c.counterparty);
                a.adl_haircut_usd = bounded(a.adl_haircut_usd.checked_add(haircut))?;
            }
            let mi = c.market.0 as usize;
            let lots_per_unit = self.markets[mi].params.lots_per_unit;
            let per_lot = bounded(div_i128(
                haircut.micros() as i128 * lots_per_unit as i128,
                c.qty.abs().lots() as i128,
                Round::Floor,
            ))?;
            let price = c.mark.micros() as i128 - per_lot * c.qty.signum() as i128;
            self.events.push(Event::Deleveraged {
                bankrupt,
                counterparty: c.counterparty,
                market: c.market,
                qty: c.qty,
                price: Price::from_micros(price.clamp(1, i64::MAX as i128) as i64),
                haircut_usd: haircut,
                reason: c.reason,
            });
            // A haircut on a counterparty's last position can leave its pool below zero with
            // nothing open: a realized deficit of its own.
            let origin = LossOrigin {
                mi,
                sign: c.qty.signum(),
                weight: 1,
            };
            self.note_realized_deficit(c.counterparty, cp_scope, origin)?;
            self.reevaluate(c.counterparty)?;
        }
        if total.is_positive() {
            self.add_to_pool(bankrupt, scope, total)?;
        }
        Ok(())
    }

    /// The pool a counterparty's position in `market` belongs to. After an ADL close its entry
    /// may be gone (fully closed cross position): then the cross pool.
    pub(super) fn counterparty_scope(&self, account: AccountId, market: MarketId) -> Scope {
        match self.acct(account).position(market) {
            Some(p) if p.mode == MarginMode::Isolated => Scope::Isolated(market),
            _ => Scope::Cross,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(micros: i64) -> Usd {
        Usd::from_micros(micros)
    }

    /// By hand: a short worth -8,000 USD at the mark, entered at -10,000, on an equity of
    /// 4,000: 0.2 x 8,000 / 4,000 = 0.4, 400,000 ppm exactly; the bound is that plus its slack.
    /// A long what-if session with no ADL logs every account it changes; past the cap the log
    /// goes at the next command boundary, and the session can no longer keep bases past its
    /// rollback (a base made later in it reads the accounts afresh).
    #[test]
    fn the_log_of_a_long_session_is_capped() {
        let mut c = AdlCache::default();
        c.begin_session();
        for i in 0..=MIN_LOG_CAP as u32 {
            c.touch(AccountId(i));
        }
        assert_eq!(c.log.len(), MIN_LOG_CAP + 1);
        c.clear();
        assert!(c.log.is_empty());
        assert_eq!(c.session_from, None);
        assert!(c.logging, "the session still logs");
        c.after_roll_back(true, 1);
        assert!(!c.logging && c.bases.is_empty() && c.log.is_empty());
        // A copy is in no session, and logs nothing without a base.
        c.begin_session();
        c.touch(AccountId(1));
        let copy = c.clone();
        assert!(!copy.logging && !copy.in_session && copy.session_from.is_none());
    }

    #[test]
    fn the_bound_of_a_worked_score() {
        let (value, cost) = (usd(-8_000_000_000), usd(-10_000_000_000));
        let exact = score_of(value, cost, 4_000_000_000).unwrap(); // ok: unit test
        assert_eq!(exact, 400_000);
        let bound = score_bound(value, cost, 4_000_000_000.0, 1.0).unwrap(); // ok: unit test
        assert!((400_000..=400_003).contains(&bound), "{bound}");
        // Losing, or surely underwater: exact, whatever the estimate.
        assert_eq!(score_bound(usd(-9), usd(-5), f64::NAN, 0.0), Some(-5));
        assert_eq!(score_bound(value, cost, -10.0, 2.0), Some(-1));
        assert_eq!(score_of(value, cost, -8).unwrap(), -1); // ok: unit test
                                                            // An equity whose sign the estimate cannot settle: no bound.
        assert_eq!(score_bound(value, cost, 1.0, 2.0), None);
    }

    /// A venue of up to three markets with odd lot sizes, each side's funding and loss indexes
    /// moved away from the positions' snapshots, and an account holding cross and isolated
    /// positions in them.
    fn market(mi: u16, lots_per_unit: i64, mark: i64, index: [i128; 4]) -> Market {
        let p = crate::command::MarketParams::btc_like("X-PERP", Price::from_micros(mark));
        let mut m = Market::new(MarketId(mi), p, bulwark_core::TimestampMs(0));
        m.params.lots_per_unit = lots_per_unit;
        m.mark = Price::from_micros(mark);
        m.funding_index = [index[0], index[1]];
        m.loss_index = [index[2], index[3]];
        m.index_epoch = 1;
        m
    }

    proptest! {
        /// The scan's equity estimate is within its stated error of the exact equity (values
        /// rounded down, pending amounts rounded up, in wide integers), for every pool of an
        /// account: cross over several markets, and isolated.
        #[test]
        fn the_equity_estimate_is_within_its_error(
            lots_per_unit in prop_oneof![Just(1i64), Just(3), Just(1_000), Just(100_000_000)],
            marks in proptest::collection::vec(1i64..100_000_000_000_000, 3),
            indexes in proptest::collection::vec(-1_000_000_000_000_000_000i128..1_000_000_000_000_000_000, 12),
            collateral in -1_000_000_000_000_000i64..1_000_000_000_000_000,
            positions in proptest::collection::vec(
                (
                    0u16..3,
                    -1_000_000_000i64..1_000_000_000,
                    -1_000_000_000_000_000i64..1_000_000_000_000_000,
                    any::<bool>(),
                    0i64..1_000_000_000_000,
                    -1_000_000_000_000_000_000i128..1_000_000_000_000_000_000,
                    -1_000_000_000_000_000_000i128..1_000_000_000_000_000_000,
                    any::<bool>(),
                ),
                1..4,
            ),
        ) {
            let markets: Vec<Market> = (0..3)
                .map(|k| {
                    let i = &indexes[4 * k..4 * k + 4];
                    market(k as u16, lots_per_unit, marks[k], [i[0], i[1], i[2], i[3]])
                })
                .collect();
            let mut a = Account {
                active: true,
                collateral_usd: Usd::from_micros(collateral),
                ..Account::default()
            };
            for (mi, qty, cost, isolated, margin, funding, loss, current) in positions {
                if a.positions.iter().any(|p| p.market.0 == mi) {
                    continue;
                }
                let mode = if isolated { MarginMode::Isolated } else { MarginMode::Cross };
                let mut p = Position::new(MarketId(mi), mode);
                p.qty = Qty::from_lots(qty);
                p.cost_usd = Usd::from_micros(cost);
                p.isolated_usd = Usd::from_micros(if isolated { margin } else { 0 });
                p.funding_snap = crate::account::Wide::new(funding);
                p.loss_snap = crate::account::Wide::new(loss);
                p.snap_epoch = if current { 1 } else { 0 };
                a.positions.push(p);
            }
            a.positions.sort_by_key(|p| p.market);
            let scopes = std::iter::once(Scope::Cross)
                .chain(a.positions.iter().map(|p| Scope::Isolated(p.market)));
            for scope in scopes {
                let (Ok(exact), Some((estimate, err))) = (
                    pool_equity(&markets, &a, scope),
                    pool_equity_estimate(&markets, &a, scope),
                ) else {
                    continue; // out of range either way: the scan scores such a pool exactly
                };
                prop_assert!(
                    (estimate - exact as f64).abs() <= err,
                    "{:?}: exact {}, estimate {} +- {}", scope, exact, estimate, err
                );
            }
        }
    }

    proptest! {
        /// Whatever the true equity within the estimate's error, the bound is at least the
        /// exact score: values and costs up to 10^8 USD, equities from a few micro-USD (where
        /// the error decides) to 10^9 USD, errors from nothing to 10^6 micro-USD.
        #[test]
        fn the_bound_is_never_below_the_exact_score(
            value in -100_000_000_000_000i64..100_000_000_000_000,
            cost in -100_000_000_000_000i64..100_000_000_000_000,
            equity in prop_oneof![
                -100i64..100,
                -10_000_000i64..10_000_000,
                -1_000_000_000_000_000i64..1_000_000_000_000_000,
            ],
            err in prop_oneof![0.0f64..4.0, 0.0f64..1e6],
            off in -1.0f64..=1.0,
        ) {
            let (value, cost) = (usd(value), usd(cost));
            let exact = score_of(value, cost, equity as i128).unwrap(); // ok: unit test
            let estimate = equity as f64 + off * err;
            if let Some(bound) = score_bound(value, cost, estimate, err) {
                prop_assert!(bound >= exact, "bound {} < score {}", bound, exact);
                if exact >= 0 {
                    // And close: within its slack (1e-12 and 2) plus the error's share.
                    let slack = exact as f64 * (1e-12 + 2.0 * err / (estimate - err)) + 3.0;
                    prop_assert!((bound - exact) as f64 <= slack, "{} {}", bound, exact);
                }
            }
        }
    }
}
