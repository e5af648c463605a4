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
use crate::account::{Account, Position, Wide};
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
    if qty.lots() > 0 {
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
    bulwark_core::div_i128(a, d, bulwark_core::Round::Ceil)
}

/// The exact pending (funding, loss) of a position, in index units (`x lots_per_unit x 1e6`
/// micro-USD): what the invariant checker adds up.
#[inline]
pub(crate) fn pending_exact(m: &Market, p: &Position) -> ArithResult<(i128, i128)> {
    if p.qty.is_zero() {
        return Ok((0, 0));
    }
    let s = side_of(p.qty);
    let q = p.qty.lots().unsigned_abs() as i128;
    let df = ok_or_overflow(m.funding_index[s].checked_sub(p.funding_snap.get()))?;
    let dl = ok_or_overflow(m.loss_index[s].checked_sub(p.loss_snap.get()))?;
    Ok((
        ok_or_overflow(q.checked_mul(df))?,
        ok_or_overflow(q.checked_mul(dl))?,
    ))
}

/// The pending (funding, loss) of a position as settlement will charge them: each rounded up
/// (a charge is a little larger, a credit a little smaller). Positive: the position owes.
#[inline]
pub(crate) fn pending_usd(m: &Market, p: &Position) -> ArithResult<(Usd, Usd)> {
    if p.qty.is_zero() || is_current(m, p) {
        // The common case between funding intervals: nothing moved since the last settlement,
        // and no wide arithmetic is needed to say so.
        return Ok((Usd::ZERO, Usd::ZERO));
    }
    let s = side_of(p.qty);
    let q = p.qty.lots().unsigned_abs() as i128;
    let df = ok_or_overflow(m.funding_index[s].checked_sub(p.funding_snap.get()))?;
    let dl = ok_or_overflow(m.loss_index[s].checked_sub(p.loss_snap.get()))?;
    let d = denom(m);
    Ok((charge_usd(q, df, d)?, charge_usd(q, dl, d)?))
}

/// `ceil(q x delta / d)` micro-USD: what `q` lots owe for an index step of `delta` (what
/// `pending_exact` gives, rounded as settlement rounds). Exact as the wide product is, but a
/// side whose index did not move (the common case: a socialized loss moves one index, a
/// funding interval the other) costs a comparison, and a step that fits `i64` a product that
/// cannot overflow.
#[inline]
fn charge_usd(q: i128, delta: i128, d: i128) -> ArithResult<Usd> {
    if delta == 0 {
        return Ok(Usd::ZERO);
    }
    let owed = match i64::try_from(delta) {
        // |q| <= 2^63 and |delta| <= 2^63: the product is at most 2^126, inside i128.
        Ok(small) => q * small as i128,
        Err(_) => ok_or_overflow(q.checked_mul(delta))?,
    };
    ok_or_overflow(i64::try_from(ceil_div(owed, d)?).ok()).map(Usd::from_micros)
}

/// Whether a (non-flat) position's snapshots equal its side's current indexes.
#[inline(always)]
pub(crate) fn is_current(m: &Market, p: &Position) -> bool {
    if p.snap_epoch == m.index_epoch {
        return true; // no index step since the snapshots were taken
    }
    let s = side_of(p.qty);
    m.funding_index[s] == p.funding_snap.get() && m.loss_index[s] == p.loss_snap.get()
}

/// Reset a position's snapshots to the current indexes of its side (zero while flat).
#[inline]
pub(crate) fn snap(m: &Market, p: &mut Position) {
    if p.qty.is_zero() {
        p.funding_snap = Wide::default();
        p.loss_snap = Wide::default();
    } else {
        let s = side_of(p.qty);
        p.funding_snap = Wide::new(m.funding_index[s]);
        p.loss_snap = Wide::new(m.loss_index[s]);
    }
    p.snap_epoch = m.index_epoch;
}

/// Settle a position's pending amounts into its pool (`cross` for a cross position, its own
/// isolated collateral otherwise), add the funding to its settled total and reset its
/// snapshots. Returns (funding, loss) charged; the caller books them into the market's
/// clearing balances and the loss into the account's settled total.
#[inline]
pub(crate) fn settle(m: &Market, p: &mut Position, cross: &mut Usd) -> ArithResult<(Usd, Usd)> {
    if p.qty.is_zero() || is_current(m, p) {
        // Nothing pending and the snapshots already current (a flat position's are zero).
        return Ok((Usd::ZERO, Usd::ZERO));
    }
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
    pub(super) fn settle_for_fill(
        &mut self,
        mi: usize,
        parties: [(AccountId, Side); 2],
        qty: Qty,
    ) -> Bounded {
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
            let (f, l) = bounded(settle(m, p, &mut a.collateral_usd))?;
            let mut after = *p;
            after.qty = Qty::from_lots(p.qty.lots() + side.sign() * qty.lots());
            snap(m, &mut after);
            (p.funding_snap, p.loss_snap) = (after.funding_snap, after.loss_snap);
            p.snap_epoch = after.snap_epoch;
            a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(l))?;
            m.funding_clearing_usd = bounded(m.funding_clearing_usd.checked_add(f))?;
            m.loss_clearing_usd = bounded(m.loss_clearing_usd.checked_add(l))?;
        }
        Ok(())
    }

    /// Book what a settlement charged into a market's clearing balances.
    pub(super) fn book_settlement(
        &mut self,
        mi: usize,
        account: AccountId,
        f: Usd,
        l: Usd,
    ) -> Bounded {
        if f.is_zero() && l.is_zero() {
            return Ok(());
        }
        let m = self.market_mut(mi);
        m.funding_clearing_usd = bounded(m.funding_clearing_usd.checked_add(f))?;
        m.loss_clearing_usd = bounded(m.loss_clearing_usd.checked_add(l))?;
        if !l.is_zero() {
            let a = self.acct_mut(account);
            a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(l))?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    //! The index arithmetic by hand. Market: 3 lots per unit (so shares do not divide
    //! evenly), price 100 USD, no fees, no size premium; index units per micro-USD of one lot:
    //! D = 3 x 1e6.
    use super::*;
    use crate::command::{Command, MarketParams, OrderKind, PlaceOrder, SelfTrade};
    use bulwark_core::{Ppm, Price};

    /// A charge by hand: nothing for an index that did not move, a charge rounded up and a
    /// credit rounded toward zero (the floor of a negative), and a step too wide for `i64`
    /// through the checked product, which reports an overflow rather than wrapping.
    #[test]
    fn a_charge_rounds_against_the_position_at_any_width() {
        let d = 3_000_000; // 3 lots per unit
        let usd = |v: i64| Ok(Usd::from_micros(v));
        assert_eq!(charge_usd(7, 0, d), usd(0));
        // 7 lots x 1,000,001 / 3e6 = 2.333...: a charge of 3, a credit of -2.
        assert_eq!(charge_usd(7, 1_000_001, d), usd(3));
        assert_eq!(charge_usd(7, -1_000_001, d), usd(-2));
        // A step past i64: 2 lots x (2^63 x 3) / 3e6 = 2^64 / 1e6.
        let wide = (1i128 << 63) * 3;
        assert_eq!(
            charge_usd(2, wide, d),
            usd(((1i128 << 64) / 1_000_000 + 1) as i64)
        );
        assert!(charge_usd(1 << 62, i128::MAX / 2, d).is_err());
        // Wide or not, the charge is `pending_exact`'s rounded up.
        for (q, delta) in [(5, 999_999_999_999i128), (3, -(1i128 << 66) - 7)] {
            let want = ceil_div(q * delta, d).map(|v| Usd::from_micros(i64::try_from(v).unwrap())); // ok: a test
            assert_eq!(charge_usd(q, delta, d), want);
        }
    }

    const A: AccountId = AccountId(1);
    const B: AccountId = AccountId(2);
    const C: AccountId = AccountId(3);
    const E: AccountId = AccountId(5);
    const F: AccountId = AccountId(6);
    const G: AccountId = AccountId(7);
    const M: MarketId = MarketId(0);

    fn ok(e: &mut Engine, c: Command) {
        let now = e.last_ms();
        e.apply(&c, now).unwrap_or_else(|r| panic!("{c:?}: {r}")); // ok: unit test
    }

    fn trade(e: &mut Engine, seller: AccountId, buyer: AccountId, lots: i64) {
        let o = |account, side, kind| {
            Command::PlaceOrder(PlaceOrder {
                account,
                market: M,
                side,
                kind,
                price: Some(Price::from_micros(100_000_000)),
                qty: Qty::from_lots(lots),
                reduce_only: false,
                self_trade: SelfTrade::CancelTaker,
                margin: MarginMode::Cross,
            })
        };
        ok(e, o(seller, Side::Sell, OrderKind::Limit));
        ok(e, o(buyer, Side::Buy, OrderKind::Ioc));
    }

    /// A long 3 lots against B, C and D short 1 lot each; E deposited but flat.
    fn venue() -> Engine {
        let mut e = Engine::default();
        let mut p = MarketParams::btc_like("ODD-PERP", Price::from_micros(100_000_000));
        p.lots_per_unit = 3;
        p.tick_size = Price::from_micros(1);
        p.size_premium = Ppm::from_raw(0);
        p.maker_fee = Ppm::from_raw(0);
        p.taker_fee = Ppm::from_raw(0);
        p.max_price = Price::from_micros(1_000_000_000);
        ok(
            &mut e,
            Command::CreateMarket {
                params: Box::new(p),
            },
        );
        for a in 1..=7 {
            let amount_usd = Usd::from_micros(1_000_000_000);
            let account = AccountId(a);
            ok(
                &mut e,
                Command::Deposit {
                    account,
                    amount_usd,
                },
            );
        }
        for short in [B, C, AccountId(4)] {
            trade(&mut e, short, A, 1);
        }
        e
    }

    fn pending(e: &Engine, a: AccountId) -> Pending {
        e.pending(a, M).unwrap() // ok: unit test
    }

    /// Settle funding at `rate` ppm (the mark, 100 USD, is the price: no oracle).
    fn funding_at(e: &mut Engine, rate: i64) {
        let m = &mut e.markets[0];
        m.premium_sum_ppm = rate;
        m.premium_samples = 1;
        let now = e.last_ms();
        e.settle_funding(0, now).unwrap(); // ok: unit test
        e.check_invariants().unwrap(); // ok: unit test
    }

    #[test]
    fn socialization_rounds_up_and_flat_accounts_never_pay() {
        let mut e = venue();
        // 10 micro-USD over the shorts (open interest 3 lots): step ceil(10 x D / 3) = 1e7.
        let covered = e.socialize_in_market(0, -1, Usd::from_micros(10)).unwrap(); // ok: unit test
        assert_eq!(covered, Usd::from_micros(10));
        e.add_to_pool(A, crate::event::Scope::Cross, covered)
            .unwrap(); // ok: unit test
        assert_eq!(e.markets[0].loss_index, [0, 10_000_000]);
        assert_eq!(e.loss_clearing_usd(), Usd::from_micros(-10));
        e.check_invariants().unwrap(); // ok: unit test

        // Each short owes ceil(1 x 1e7 / 3e6) = ceil(3.33) = 4 micro-USD: 12 in all, at least
        // the 10, and the excess (2) is below the number of payers (3).
        for a in [B, C, AccountId(4)] {
            assert_eq!(pending(&e, a).loss_usd, Usd::from_micros(4));
            let total = e.socialized_loss_total(a).unwrap(); // ok: a test
            assert_eq!(total, Usd::from_micros(4));
        }
        // The long side and the flat account pay nothing.
        assert_eq!(e.socialized_loss_total(A).unwrap(), Usd::ZERO); // ok: unit test
        assert_eq!(e.socialized_loss_total(E).unwrap(), Usd::ZERO); // ok: unit test
                                                                    // A position opened after the socialization snapshots the raised index: E sells 1
                                                                    // lot to F (a new short, a new long), and neither owes any of it.
        trade(&mut e, E, F, 1);
        assert_eq!(e.socialized_loss_total(E).unwrap(), Usd::ZERO); // ok: unit test
        assert_eq!(e.socialized_loss_total(F).unwrap(), Usd::ZERO); // ok: unit test
                                                                    // B trades (buys back its lot from G): it settles 4 first, the clearing balance
                                                                    // rises to -10 + 4 = -6, and B's settled total is 4.
        trade(&mut e, G, B, 1);
        let b = e.account(B).unwrap(); // ok: unit test
        assert_eq!(b.socialized_loss_usd, Usd::from_micros(4));
        assert_eq!(b.collateral_usd, Usd::from_micros(1_000_000_000 - 4));
        assert_eq!(e.loss_clearing_usd(), Usd::from_micros(-6));
        e.check_invariants().unwrap(); // ok: unit test
    }

    #[test]
    fn payers_pay_at_least_the_amount_by_hand() {
        // Shorts of 1, 2, 5 and 7 lots (open interest 15) owe 1,000,003 micro-USD: step
        // ceil(1,000,003 x 3e6 / 15) = 200,000,600,000; shares ceil(q x step / 3e6) =
        // 66,667 + 133,334 + 333,335 + 466,669 = 1,000,005: 2 over, fewer than 4 payers.
        let mut m = venue().markets[0].clone();
        m.loss_index[SHORT] = 200_000_600_000;
        m.index_epoch += 1;
        let shares: Vec<i64> = [1, 2, 5, 7]
            .iter()
            .map(|&q| {
                let mut p = Position::new(M, MarginMode::Cross);
                p.qty = Qty::from_lots(-q);
                pending_usd(&m, &p).unwrap().1.micros() // ok: unit test
            })
            .collect();
        assert_eq!(shares, [66_667, 133_334, 333_335, 466_669]);
        let amount = 1_000_003;
        let scaled = amount as i128 * denom(&m);
        assert_eq!(ceil_div(scaled, 15).unwrap(), m.loss_index[SHORT]); // ok: unit test
        let total: i64 = shares.iter().sum();
        assert!(total >= amount && total - amount < shares.len() as i64);
    }

    #[test]
    fn funding_settlement_rounds_against_the_account() {
        let mut e = venue();
        // Rate 7 ppm at 100 USD: the longs' index +7e8, the shorts' -7e8. A (long 3 lots) owes
        // ceil(3 x 7e8 / 3e6) = 700 micro-USD; each short is owed 7e8 / 3e6 = 233.3 and
        // receives the floor, 233: 699 out, 1 micro-USD of residue.
        funding_at(&mut e, 7);
        assert_eq!(e.markets[0].funding_index, [700_000_000, -700_000_000]);
        assert_eq!(pending(&e, A).funding_usd, Usd::from_micros(700));
        assert_eq!(pending(&e, B).funding_usd, Usd::from_micros(-233));
        // A second interval accumulates before anyone settles: 1,400 and -466 (the short's
        // rounding is applied once to the sum: floor(466.7)).
        funding_at(&mut e, 7);
        assert_eq!(pending(&e, A).funding_usd, Usd::from_micros(1_400));
        assert_eq!(pending(&e, B).funding_usd, Usd::from_micros(-466));
        // Everyone settles (each adds 1 lot): the clearing balance keeps the residue,
        // 1,400 - 3 x 466 = 2 micro-USD.
        for (seller, buyer) in [(E, A), (B, G), (C, G), (AccountId(4), G)] {
            trade(&mut e, seller, buyer, 1);
        }
        assert_eq!(e.funding_clearing_usd(), Usd::from_micros(2));
        assert_eq!(e.funding_total(A, M).unwrap(), Usd::from_micros(1_400)); // ok: unit test
        assert_eq!(e.funding_total(B, M).unwrap(), Usd::from_micros(-466)); // ok: unit test
    }

    #[test]
    fn funding_with_a_side_flip_mid_interval() {
        let mut e = venue();
        // Interval 1: A is long 3 lots and owes 700 micro-USD (see above).
        funding_at(&mut e, 7);
        // A sells 6 lots to G: it settles the 700 first, then is short 3 lots with the shorts'
        // index as its snapshot.
        trade(&mut e, A, G, 6);
        let p = *e.account(A).unwrap().position(M).unwrap(); // ok: unit test
        assert_eq!(p.qty, Qty::from_lots(-3));
        assert_eq!(p.funding_paid_usd, Usd::from_micros(700));
        assert_eq!(p.funding_snap.get(), e.markets[0].funding_index[SHORT]);
        assert_eq!(pending(&e, A).funding_usd, Usd::ZERO);
        // Interval 2 at the same rate: A, short 3 lots, receives 700 (exact); in all it paid 0.
        // G, long 6 lots since the flip, owes ceil(6 x 7e8 / 3e6) = 1,400 and nothing of the
        // first interval.
        funding_at(&mut e, 7);
        assert_eq!(pending(&e, A).funding_usd, Usd::from_micros(-700));
        assert_eq!(e.funding_total(A, M).unwrap(), Usd::ZERO); // ok: unit test
        assert_eq!(e.funding_total(G, M).unwrap(), Usd::from_micros(1_400)); // ok: unit test
    }

    #[test]
    fn an_index_step_flags_only_the_pools_whose_triggers_it_crosses() {
        let mut e = venue();
        // H: 1 USD for a long of 3 lots (100 USD; maintenance 0.5 USD, initial 1 USD).
        let h = AccountId(8);
        let one = Usd::from_micros(1_000_000);
        ok(
            &mut e,
            Command::Deposit {
                account: h,
                amount_usd: one,
            },
        );
        trade(&mut e, E, h, 3);
        let rechecked = e.index_step_rechecks();
        // Rate 6,000 ppm: H owes ceil(3 x 6e11 / 3e6) = 0.6 USD, equity 0.4 < 0.5: flagged
        // without any mark move. A (long 3 lots on 1,000 USD) and the shorts are far from
        // their triggers and are not rechecked: exactly one pool is.
        funding_at(&mut e, 6_000);
        assert_eq!(pending(&e, h).funding_usd, Usd::from_micros(600_000));
        let flag = e.flags().get(&(h, crate::event::Scope::Cross)).copied();
        assert!(flag.is_some_and(|f| f.below_maintenance && !f.negative_equity));
        assert_eq!(e.index_step_rechecks() - rechecked, 1);
        assert_eq!(e.flags().len(), 1);
    }
}
