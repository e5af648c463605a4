//! Lazy settlement: funding and socialized loss through per-market, per-side cumulative indexes.
//!
//! Each market keeps, for longs and for shorts, a cumulative funding index and a cumulative
//! socialized-loss index, in micro-USD x ppm per whole base unit (`i128`). A funding interval
//! adds exactly `price_micros x rate_ppm` to the longs' funding index and subtracts it from the
//! shorts' (a positive rate: longs pay, shorts receive); a socialized loss of `amount` raises
//! the paying side's loss index by `ceil(amount x lots_per_unit x 1e6 / open_interest_lots)`.
//! Both are O(1) per market: nobody is touched.
//!
//! Each position stores snapshots of its side's two indexes. What it owes is
//! `ceil(|qty| x (index - snapshot) / (lots_per_unit x 1e6))` for each index: a charge rounds
//! up, so a receiver (negative amount) receives the floor. Before a position's quantity
//! changes (a fill, an ADL close, a vault takeover, a liquidation close) the pending amounts
//! are settled into its pool and the snapshots are reset to the current indexes of its new
//! side. Equity (`pool_health`) counts the pending amounts rounded exactly as settlement rounds
//! them, so settling never changes a pool's health.
//!
//! Conservation: each market keeps a funding clearing balance and a socialization clearing
//! balance. Settlement moves money between a pool and the clearing balances; a socialization
//! pays the bankrupt pool at once out of the socialization clearing balance (which goes
//! negative until the payers settle). Sum of settled balances + clearing balances equals
//! deposits minus withdrawals exactly, and `clearing x lots x 1e6 + sum of exact pending
//! amounts >= 0` (the difference is the rounding residue accumulated in the venue's favour).

use super::*;
use crate::account::{Account, Position};
use crate::book::Side;
use crate::command::MarginMode;
use crate::market::Market;
use crate::reject::Reject;
use bulwark_core::{ok_or_overflow, AccountId, ArithResult, MarketId, Qty, Usd, PPM_ONE};

/// Index of the longs' side in the per-side arrays.
pub(crate) const LONG: usize = 0;
/// Index of the shorts' side.
pub(crate) const SHORT: usize = 1;

/// The side a non-zero position is on.
#[inline]
pub(crate) fn side_of(qty: Qty) -> usize {
    if qty.0 > 0 {
        LONG
    } else {
        SHORT
    }
}

/// Index units per micro-USD of one lot: `lots_per_unit x 1e6`.
#[inline]
pub(crate) fn denom(m: &Market) -> i128 {
    m.params.lots_per_unit as i128 * PPM_ONE as i128
}

/// `ceil(a / d)` for `d > 0`.
#[inline]
pub(crate) fn ceil_div(a: i128, d: i128) -> ArithResult<i128> {
    let q = ok_or_overflow(a.checked_neg())?.div_euclid(d);
    ok_or_overflow(q.checked_neg())
}

/// The exact pending (funding, loss) of a position, in index units (`x lots_per_unit x 1e6`
/// micro-USD): what the invariant checker adds up.
#[inline]
pub(crate) fn pending_exact(m: &Market, p: &Position) -> ArithResult<(i128, i128)> {
    if p.qty.is_zero() {
        return Ok((0, 0));
    }
    let s = side_of(p.qty);
    let q = p.qty.0.unsigned_abs() as i128;
    let df = ok_or_overflow(m.funding_index[s].checked_sub(p.funding_snap))?;
    let dl = ok_or_overflow(m.loss_index[s].checked_sub(p.loss_snap))?;
    Ok((
        ok_or_overflow(q.checked_mul(df))?,
        ok_or_overflow(q.checked_mul(dl))?,
    ))
}

/// The pending (funding, loss) of a position as settlement will charge them: each rounded up
/// (a charge is a little larger, a credit a little smaller). Positive: the position owes.
#[inline]
pub(crate) fn pending_usd(m: &Market, p: &Position) -> ArithResult<(Usd, Usd)> {
    if p.qty.is_zero() {
        return Ok((Usd::ZERO, Usd::ZERO));
    }
    let (f, l) = pending_exact(m, p)?;
    let d = denom(m);
    let to_usd = |v: i128| ok_or_overflow(i64::try_from(v).ok()).map(Usd::from_micros);
    Ok((to_usd(ceil_div(f, d)?)?, to_usd(ceil_div(l, d)?)?))
}

/// Reset a position's snapshots to the current indexes of its side (zero while flat).
#[inline]
pub(crate) fn snap(m: &Market, p: &mut Position) {
    if p.qty.is_zero() {
        p.funding_snap = 0;
        p.loss_snap = 0;
    } else {
        let s = side_of(p.qty);
        p.funding_snap = m.funding_index[s];
        p.loss_snap = m.loss_index[s];
    }
}

/// Settle a position's pending amounts into its pool (`cross` for a cross position, its own
/// isolated collateral otherwise), add the funding to its settled total and reset its
/// snapshots. Returns (funding, loss) charged; the caller books them into the market's
/// clearing balances and the loss into the account's settled total.
pub(crate) fn settle(m: &Market, p: &mut Position, cross: &mut Usd) -> ArithResult<(Usd, Usd)> {
    let (f, l) = pending_usd(m, p)?;
    if !(f.is_zero() && l.is_zero()) {
        let total = f.checked_add(l)?;
        match p.mode {
            MarginMode::Cross => *cross = cross.checked_sub(total)?,
            MarginMode::Isolated => p.isolated_usd = p.isolated_usd.checked_sub(total)?,
        }
        p.funding_paid_usd = p.funding_paid_usd.checked_add(f)?;
    }
    snap(m, p);
    Ok((f, l))
}

/// Settled and pending amounts of one account, without settling anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Funding still to settle (positive: owed; negative: to receive).
    pub funding_usd: Usd,
    /// Socialized loss still to settle (never negative).
    pub loss_usd: Usd,
}

impl Engine {
    /// Settle the positions of both parties of a trade outside the book (`direct_fill`) before
    /// it: `parties` are (account, side it trades on), `qty` the lots. Creates a missing cross
    /// position entry, and leaves the snapshots at the indexes of the side each position will
    /// be on after the trade.
    pub(super) fn settle_for_fill(&mut self, mi: usize, parties: [(AccountId, Side); 2], qty: Qty) {
        for (acc, side) in parties {
            let market = self.markets[mi].id;
            let (m, a) = self.market_and_account(mi, acc);
            let i = match a.position_index(market) {
                Ok(i) => i,
                Err(i) => {
                    a.positions
                        .insert(i, Position::new(market, MarginMode::Cross));
                    i
                }
            };
            let p = &mut a.positions[i];
            let (f, l) = bounded(settle(m, p, &mut a.collateral_usd));
            let mut after = *p;
            after.qty = Qty(p.qty.0 + side.sign() * qty.0);
            snap(m, &mut after);
            (p.funding_snap, p.loss_snap) = (after.funding_snap, after.loss_snap);
            a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(l));
            m.funding_clearing_usd = bounded(m.funding_clearing_usd.checked_add(f));
            m.loss_clearing_usd = bounded(m.loss_clearing_usd.checked_add(l));
        }
    }

    /// Book what a settlement charged into a market's clearing balances.
    pub(super) fn book_settlement(&mut self, mi: usize, account: AccountId, f: Usd, l: Usd) {
        let m = &mut self.markets[mi];
        m.funding_clearing_usd = bounded(m.funding_clearing_usd.checked_add(f));
        m.loss_clearing_usd = bounded(m.loss_clearing_usd.checked_add(l));
        if !l.is_zero() {
            let a = self.acct_mut(account);
            a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(l));
        }
    }

    fn market_and_account(&mut self, mi: usize, acc: AccountId) -> (&mut Market, &mut Account) {
        let m = &mut self.markets[mi];
        let a = if acc == VAULT {
            &mut self.vault.account
        } else {
            &mut self.accounts[acc.0 as usize]
        };
        (m, a)
    }

    /// A user account or the vault.
    fn holder(&self, id: AccountId) -> Result<&Account, Reject> {
        if id == VAULT {
            Ok(&self.vault.account)
        } else {
            self.active_account(id)
        }
    }

    /// What an account's position in `market` has still to settle (zero without a position).
    /// A query: nothing is settled.
    pub fn pending(&self, account: AccountId, market: MarketId) -> Result<Pending, Reject> {
        let mi = self.market_index(market)?;
        let a = self.holder(account)?;
        let Some(p) = a.position(market) else {
            return Ok(Pending::default());
        };
        let (funding_usd, loss_usd) = pending_usd(&self.markets[mi], p)?;
        Ok(Pending {
            funding_usd,
            loss_usd,
        })
    }

    /// Funding an account's position in `market` has paid (negative: received), settled plus
    /// pending. A query: nothing is settled.
    pub fn funding_total(&self, account: AccountId, market: MarketId) -> Result<Usd, Reject> {
        let settled = self
            .holder(account)?
            .position(market)
            .map_or(Usd::ZERO, |p| p.funding_paid_usd);
        Ok(settled.checked_add(self.pending(account, market)?.funding_usd)?)
    }

    /// An account's share of socialized losses, settled plus pending over its positions.
    /// A query: nothing is settled.
    pub fn socialized_loss_total(&self, account: AccountId) -> Result<Usd, Reject> {
        let a = self.holder(account)?;
        let mut total = a.socialized_loss_usd;
        for p in &a.positions {
            let (_, l) = pending_usd(&self.markets[p.market.0 as usize], p)?;
            total = total.checked_add(l)?;
        }
        Ok(total)
    }

    /// Sum over markets of the funding clearing balances.
    pub fn funding_clearing_usd(&self) -> Usd {
        let sum: i64 = self
            .markets
            .iter()
            .map(|m| m.funding_clearing_usd.micros())
            .sum();
        Usd::from_micros(sum)
    }

    /// Sum over markets of the socialization clearing balances.
    pub fn loss_clearing_usd(&self) -> Usd {
        let sum: i64 = self
            .markets
            .iter()
            .map(|m| m.loss_clearing_usd.micros())
            .sum();
        Usd::from_micros(sum)
    }

    /// Pools rechecked because an index step moved their triggers across the mark (or because
    /// they are rechecked on every change of their markets), counted since the engine was
    /// created. Not state: neither hashed nor checked.
    pub fn index_step_rechecks(&self) -> u64 {
        self.index_rechecks
    }
}
