//! The loss waterfall.
//!
//! A pool enters the waterfall when its liquidation reached zero equity or could not close
//! within the band. Its positions are first closed or taken over; **only a loss that has been
//! realized is charged**, and it is charged exactly once. The stages, each an event carrying
//! what it paid, in this order:
//!
//! a. the pool's own collateral (exhausted: `Bankrupt` with the deficit actually realized);
//! b. the backstop vault takes every position over at the mark, with the pool's (negative)
//!    equity, if its own margin limit allows (`VaultTakeover.loss_usd`, `vault.rs`);
//! otherwise the positions in markets without ADL are closed through the book at any price
//! (no taker fee: the venue books no fee income that the stages below would pay for), then
//! the positions in markets with ADL are closed against opposite positions at the mark
//! (`adl.rs`). If the book cannot take a position, nothing is charged: the pool keeps its
//! positions, stays flagged, and is retried at every price change (`waterfall_pending`); its
//! owner can neither trade it nor withdraw while its equity is negative. Once everything is
//! closed, the realized deficit is split between the markets it came from (see
//! [`LossOrigin`]) and each market's share is paid by
//! c. the insurance fund (`InsurancePayout`), if the market has it on;
//! d. the counterparties ADL closed in that market (`Deleveraged.haircut_usd`);
//! e. the opposite side of that market (`SocializedLoss`, `socialize.rs`);
//!
//! and whatever is left is recorded as bad debt (`UncoveredLoss`). The stage payments add up
//! to the `Bankrupt` deficit to the micro-USD (asserted), and the pool ends at zero equity.
//!
//! A deficit realized outside a liquidation (an owner's own closing trade past bankruptcy, an
//! ADL haircut on a counterparty's last position) is queued when it arises and paid by the
//! same stages c-e before the command ends (`book_realized_deficits`).

use super::adl::AdlClose;
use super::liquidation::Close;
use super::*;
use crate::account::Position;
use crate::book::Side;
use crate::command::MarginMode;
use crate::event::{Event, Scope};
use crate::margin::{self};
use bulwark_core::{allocate, AccountId, Price, Qty, Usd};

/// One market a pool's loss came from: the market (index), the sign of the pool's position
/// there (the opposite side pays a socialized loss) and the market's weight in the loss.
///
/// **Rule for splitting a cross pool's deficit between markets:** in proportion to each open
/// position's lifetime loss (realized PnL + unrealized PnL at the mark - fees - funding, the
/// negative part), measured when the pool enters the waterfall. A market where the pool made
/// money bears nothing: the deficit is charged to the markets whose moves caused it, not to
/// the ones where the pool merely held notional. When no position shows a loss (the deficit
/// came from fees or funding), the split falls back to notional at the mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LossOrigin {
    pub mi: usize,
    pub sign: i64,
    pub weight: i64,
}

impl Engine {
    /// Run the waterfall on a pool whose liquidation could not restore it. `hint` is where the
    /// loss came from as measured before the liquidation closed anything (used when nothing
    /// is left open to measure).
    pub(super) fn waterfall(
        &mut self,
        account: AccountId,
        scope: Scope,
        hint: &[LossOrigin],
    ) -> Bounded {
        let positions = self.pool_positions(account, scope);
        let origins = if positions.is_empty() {
            hint.to_vec()
        } else {
            self.loss_origins(&positions)?
        };
        let refusal = if positions.is_empty() {
            VaultRefusal::StageOff
        } else {
            match self.try_vault_takeover(account, scope, &positions, &origins)? {
                Ok(()) => {
                    self.set_pending((account, scope), false);
                    return Ok(());
                }
                Err(refusal) => refusal,
            }
        };
        if !self.close_outside_adl(account, &positions)? {
            self.defer_bankruptcy(account, scope);
            return Ok(());
        }
        let closes = self.close_by_adl(account, &positions, refusal)?;
        if !self.pool_is_flat(account, scope) {
            self.defer_bankruptcy(account, scope);
            return Ok(());
        }
        self.set_pending((account, scope), false);
        let deficit = self.pool_deficit(account, scope)?;
        if deficit.is_positive() {
            self.pay_deficit(account, scope, deficit, &origins, &closes)?;
        } else {
            // Nothing to pay (the closes left the pool square): the counterparties are still
            // told, with a zero haircut.
            self.settle_adl(account, scope, &closes, Usd::ZERO)?;
        }
        for (mi, _) in &positions {
            let market = self.markets[*mi].id;
            self.release_if_idle(account, market, false)?;
        }
        Ok(())
    }

    /// Where the loss of a pool holding `positions` came from (see [`LossOrigin`]).
    pub(super) fn loss_origins(&self, positions: &[(usize, Position)]) -> Bounded<Vec<LossOrigin>> {
        let mut origins = positions
            .iter()
            .map(|(mi, p)| {
                Ok(LossOrigin {
                    mi: *mi,
                    sign: p.qty.signum(),
                    weight: self.lifetime_loss(*mi, p)?,
                })
            })
            .collect::<Bounded<Vec<LossOrigin>>>()?;
        if origins.iter().all(|o| o.weight == 0) {
            for (o, (mi, p)) in origins.iter_mut().zip(positions) {
                let m = &self.markets[*mi];
                let notional = margin::notional_ceil_usd(p.qty, m.mark, m.params.lots_per_unit);
                o.weight = bounded(notional)?.micros().max(1);
            }
        }
        Ok(origins)
    }

    /// A position's loss over its life, at the mark (zero if it made money): realized and
    /// unrealized PnL, less fees, funding and socialized charges (settled and pending).
    pub(super) fn lifetime_loss(&self, mi: usize, p: &Position) -> Bounded<i64> {
        let m = &self.markets[mi];
        let value = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit);
        let (funding, loss) = bounded(super::index::pending_usd(m, p))?;
        let pnl = bounded(value)?.micros() as i128 - p.cost_usd.micros() as i128
            + p.realized_pnl_usd.micros() as i128
            - p.fees_paid_usd.micros() as i128
            - p.funding_paid_usd.micros() as i128
            - funding.micros() as i128
            - loss.micros() as i128;
        Ok((-pnl).clamp(0, i64::MAX as i128) as i64)
    }

    /// Stage b: the vault takes every position of the pool, if the market that carries most of
    /// the loss has the stage on and the vault's own limits allow. Returns why it did not.
    fn try_vault_takeover(
        &mut self,
        account: AccountId,
        scope: Scope,
        positions: &[(usize, Position)],
        origins: &[LossOrigin],
    ) -> Bounded<Result<(), VaultRefusal>> {
        let primary = primary_market(origins);
        let on = primary.is_some_and(|mi| self.markets[mi].params.waterfall.vault);
        if !on {
            return Ok(Err(VaultRefusal::StageOff));
        }
        if account == VAULT {
            return Ok(Err(VaultRefusal::VaultItself));
        }
        let equity = self.pool_health_of(account, scope)?.equity_usd;
        if let Err(refusal) = self.vault_accepts(positions, equity) {
            return Ok(Err(refusal));
        }
        if equity.is_negative() {
            self.events.push(Event::Bankrupt {
                account,
                scope,
                deficit_usd: bounded(equity.checked_neg())?,
            });
        }
        self.vault_takeover(account, scope, positions, equity)?;
        Ok(Ok(()))
    }

    /// Close the pool's positions in markets without ADL through the book, at any price the
    /// book offers and without a taker fee. Returns whether all of them closed.
    fn close_outside_adl(
        &mut self,
        account: AccountId,
        positions: &[(usize, Position)],
    ) -> Bounded<bool> {
        let mut all = true;
        for (mi, p) in positions {
            if self.markets[*mi].params.waterfall.adl {
                continue;
            }
            let side = closing_side(p.qty);
            let filled =
                self.close_through_book(account, *mi, side, p.qty.abs(), Close::Unbanded)?;
            all &= filled == p.qty.abs();
        }
        Ok(all)
    }

    /// Close the pool's positions in markets with ADL against opposite positions at the mark.
    fn close_by_adl(
        &mut self,
        account: AccountId,
        positions: &[(usize, Position)],
        reason: VaultRefusal,
    ) -> Bounded<Vec<AdlClose>> {
        let mut closes = Vec::new();
        for (mi, p) in positions {
            if self.markets[*mi].params.waterfall.adl {
                let before = closes.len();
                self.adl_close(account, *mi, p.qty, reason, &mut closes)?;
                // Postcondition: the lots closed against counterparties are exactly the
                // bankrupt position, each on the opposite side.
                let lots: i64 = closes[before..].iter().map(|c| c.qty.abs().lots()).sum();
                ensure(
                    lots == p.qty.abs().lots(),
                    "ADL closes the whole bankrupt position",
                )?;
                debug_assert!(closes[before..]
                    .iter()
                    .all(|c| c.qty.signum() == -p.qty.signum()));
            }
        }
        Ok(closes)
    }

    /// The book could not take every position: charge nothing, keep the pool flagged with its
    /// positions, and retry it at every price change until it closes or recovers.
    fn defer_bankruptcy(&mut self, account: AccountId, scope: Scope) {
        self.set_pending((account, scope), true);
        for (mi, p) in self.pool_positions(account, scope) {
            self.events.push(Event::BankruptcyDeferred {
                account,
                scope,
                market: self.markets[mi].id,
                qty_left: p.qty,
            });
        }
    }

    /// Stages c-e and bad debt for a realized `deficit` (> 0) of a pool with no open position.
    /// Each market's share (by `origins`) goes through that market's stages in turn.
    pub(super) fn pay_deficit(
        &mut self,
        account: AccountId,
        scope: Scope,
        deficit: Usd,
        origins: &[LossOrigin],
        closes: &[AdlClose],
    ) -> Bounded {
        debug_assert!(self.pool_is_flat(account, scope));
        debug_assert!(self
            .pool_health(self.acct(account), scope, None)
            .is_ok_and(|h| h.equity_usd.micros() == -deficit.micros()));
        self.events.push(Event::Bankrupt {
            account,
            scope,
            deficit_usd: deficit,
        });
        let mut shares = self.split_by_origin(deficit, origins)?;
        let mut paid = self.pay_from_insurance(account, scope, origins, &mut shares)?;
        for (o, share) in origins.iter().zip(shares.iter_mut()) {
            let market = self.markets[o.mi].id;
            let in_market: Vec<AdlClose> = closes
                .iter()
                .filter(|c| c.market == market)
                .copied()
                .collect();
            if !in_market.is_empty() {
                // The deleveraged counterparties pay what is left of their market's share.
                self.settle_adl(account, scope, &in_market, *share)?;
                paid = bounded(paid.checked_add(*share))?;
                *share = Usd::ZERO;
            }
            if share.is_positive() && self.markets[o.mi].params.waterfall.socialize {
                let covered = self.socialize_in_market(o.mi, -o.sign, *share)?;
                self.add_to_pool(account, scope, covered)?;
                paid = bounded(paid.checked_add(covered))?;
                *share = bounded(share.checked_sub(covered))?;
            }
        }
        let uncovered = self.cover_uncovered(account, scope)?;
        paid = bounded(paid.checked_add(uncovered))?;
        // Postconditions: every unit of the deficit landed in exactly one stage, and the pool
        // is square.
        ensure(
            paid == deficit,
            "the waterfall's stages pay the deficit exactly",
        )?;
        let square = self.pool_health_of(account, scope)?.equity_usd.is_zero();
        ensure(square, "a bankrupt pool ends at zero equity")?;
        self.reevaluate(account)
    }

    /// Each origin market's share of `deficit`, by weight (parts sum to the deficit).
    fn split_by_origin(&self, deficit: Usd, origins: &[LossOrigin]) -> Bounded<Vec<Usd>> {
        if origins.is_empty() {
            return Ok(Vec::new());
        }
        let weights: Vec<i64> = origins.iter().map(|o| o.weight.max(0)).collect();
        let weights = if weights.iter().all(|w| *w == 0) {
            vec![1; origins.len()]
        } else {
            weights
        };
        Ok(bounded(allocate(deficit.micros(), &weights))?
            .into_iter()
            .map(Usd::from_micros)
            .collect())
    }

    /// Stage c: the fund pays the shares of markets with the stage on, in market order, as
    /// far as it goes. One event for the total. Returns what it paid.
    fn pay_from_insurance(
        &mut self,
        account: AccountId,
        scope: Scope,
        origins: &[LossOrigin],
        shares: &mut [Usd],
    ) -> Bounded<Usd> {
        let mut paid = Usd::ZERO;
        for (o, share) in origins.iter().zip(shares.iter_mut()) {
            let left = bounded(self.insurance_usd.checked_sub(paid))?;
            if !self.markets[o.mi].params.waterfall.insurance || !left.is_positive() {
                continue;
            }
            let pay = (*share).min(left);
            paid = bounded(paid.checked_add(pay))?;
            *share = bounded(share.checked_sub(pay))?;
        }
        if paid.is_positive() {
            self.insurance_usd = bounded(self.insurance_usd.checked_sub(paid))?;
            self.add_to_pool(account, scope, paid)?;
            self.events.push(Event::InsurancePayout {
                account,
                amount_usd: paid,
                fund_after_usd: self.insurance_usd,
            });
        }
        Ok(paid)
    }

    /// Queue a deficit realized outside the waterfall: `account`'s pool `scope` has just
    /// closed its position in market `mi` (of sign `sign`); if the pool now holds no open
    /// position and its equity is negative, the loss is realized and must be booked.
    pub(super) fn note_realized_deficit(
        &mut self,
        account: AccountId,
        scope: Scope,
        origin: LossOrigin,
    ) -> Bounded {
        if self.liquidating_pool == Some((account, scope)) {
            return Ok(()); // the liquidation's own waterfall books it
        }
        if self.pool_is_flat(account, scope)
            && self
                .pool_health_of(account, scope)?
                .equity_usd
                .is_negative()
        {
            self.realized_deficits.push((account, scope, origin));
        }
        Ok(())
    }

    /// Book every deficit queued by `note_realized_deficit` during this command: stages c-e
    /// and bad debt, exactly as for a liquidation (there is no position left to take over or
    /// deleverage).
    pub(super) fn book_realized_deficits(&mut self) -> Bounded {
        // Booking never queues another deficit (insurance and socialization charge accounts
        // that hold positions), but loop until empty to be sure.
        while !self.realized_deficits.is_empty() {
            let mut queue = std::mem::take(&mut self.realized_deficits);
            queue.sort_by_key(|(a, s, o)| (*a, *s, o.mi));
            let mut i = 0;
            while i < queue.len() {
                let (account, scope, _) = queue[i];
                let mut origins = Vec::new();
                while i < queue.len() && (queue[i].0, queue[i].1) == (account, scope) {
                    origins.push(queue[i].2);
                    i += 1;
                }
                origins.dedup_by_key(|o| o.mi);
                let deficit = self.pool_deficit(account, scope)?;
                if deficit.is_positive() && self.pool_is_flat(account, scope) {
                    self.set_pending((account, scope), false);
                    self.pay_deficit(account, scope, deficit, &origins, &[])?;
                    for o in &origins {
                        let market = self.markets[o.mi].id;
                        self.release_if_idle(account, market, true)?;
                    }
                }
            }
        }
        // A deferred pool whose positions were closed by other means (as an ADL counterparty,
        // say) is no longer the waterfall's: its deficit, if any, was just booked.
        if !self.waterfall_pending.is_empty() {
            let closed: Vec<(AccountId, Scope)> = self
                .waterfall_pending
                .iter()
                .copied()
                .filter(|&(a, s)| self.pool_is_flat(a, s))
                .collect();
            for key in closed {
                self.set_pending(key, false);
            }
        }
        Ok(())
    }

    /// Pools in the waterfall whose positions could not all be closed yet: retry them (vault,
    /// book, ADL) at every price change, without waiting for a keeper. At most `budget`.
    pub(super) fn retry_deferred_bankruptcies(&mut self, budget: usize) -> Bounded {
        let pending: Vec<(AccountId, Scope)> = self
            .waterfall_pending
            .iter()
            .copied()
            .take(budget)
            .collect();
        for (account, scope) in pending {
            let h = self.pool_health_of(account, scope)?;
            if self.pool_is_flat(account, scope) || !h.below_maintenance() {
                // Closed by other means, or recovered: the pool is its owner's again.
                self.set_pending((account, scope), false);
                continue;
            }
            // The vault's own retry is `reduce_vault`, which runs after every price change.
            if account != VAULT {
                self.liquidate_pool(account, scope, None, h)?;
            }
        }
        Ok(())
    }

    /// How far below zero the pool's equity is (zero if it is not).
    pub(super) fn pool_deficit(&self, account: AccountId, scope: Scope) -> Bounded<Usd> {
        let e = self.pool_health_of(account, scope)?.equity_usd;
        Ok(bounded(e.checked_neg())?.max(Usd::ZERO))
    }

    /// Record what no stage covered as bad debt and bring the pool back to zero. Returns it.
    pub(super) fn cover_uncovered(&mut self, account: AccountId, scope: Scope) -> Bounded<Usd> {
        let d = self.pool_deficit(account, scope)?;
        if !d.is_positive() {
            return Ok(Usd::ZERO);
        }
        self.add_to_pool(account, scope, d)?;
        self.bad_debt_usd = bounded(self.bad_debt_usd.checked_add(d))?;
        self.events.push(Event::UncoveredLoss {
            account,
            amount_usd: d,
        });
        Ok(d)
    }

    /// Add `delta` (may be negative) to a pool's collateral.
    pub(super) fn add_to_pool(&mut self, account: AccountId, scope: Scope, delta: Usd) -> Bounded {
        let a = self.acct_mut(account);
        match scope {
            Scope::Cross => a.collateral_usd = bounded(a.collateral_usd.checked_add(delta))?,
            Scope::Isolated(m) => {
                // An isolated pool keeps its entry while it holds collateral or a loss.
                let Ok(i) = a.position_index(m) else {
                    return ensure(false, "an isolated pool has its position entry");
                };
                let p = &mut a.positions[i];
                p.isolated_usd = bounded(p.isolated_usd.checked_add(delta))?;
            }
        }
        Ok(())
    }

    /// A trade between two accounts outside the book (vault takeover, ADL), at `price`, with no
    /// fees: `a` trades on `a_side`, `b` on the other side. Realized PnL lands in each pool.
    pub(super) fn direct_fill(
        &mut self,
        mi: usize,
        a: AccountId,
        a_side: Side,
        b: AccountId,
        qty: Qty,
        price: Price,
    ) -> Bounded {
        self.settle_for_fill(mi, [(a, a_side), (b, a_side.opposite())], qty)?;
        let market = self.markets[mi].id;
        let notional = bounded(margin::fill_notional_usd(
            qty,
            price,
            self.markets[mi].params.lots_per_unit,
        ))?;
        let mut oi_delta = 0i64;
        for (acc, side) in [(a, a_side), (b, a_side.opposite())] {
            let account = self.acct_mut(acc);
            let i = match account.position_index(market) {
                Ok(i) => i,
                Err(i) => {
                    account
                        .positions
                        .insert(i, Position::new(market, MarginMode::Cross));
                    i
                }
            };
            let p = &mut account.positions[i];
            let old = p.qty;
            let realized = bounded(p.apply_fill(side, qty, notional))?;
            oi_delta += p.qty.lots().max(0) - old.lots().max(0);
            match p.mode {
                MarginMode::Cross => {
                    account.collateral_usd = bounded(account.collateral_usd.checked_add(realized))?
                }
                MarginMode::Isolated => {
                    p.isolated_usd = bounded(p.isolated_usd.checked_add(realized))?
                }
            }
        }
        let m = self.market_mut(mi);
        m.open_interest = Qty::from_lots(m.open_interest.lots() + oi_delta);
        Ok(())
    }
}

/// The market carrying the largest share of the loss (ties: the lower index).
fn primary_market(origins: &[LossOrigin]) -> Option<usize> {
    origins
        .iter()
        .max_by_key(|o| (o.weight, std::cmp::Reverse(o.mi)))
        .map(|o| o.mi)
}

/// The side of an order that closes a position of this sign.
pub(super) fn closing_side(qty: Qty) -> Side {
    if qty.is_positive() {
        Side::Sell
    } else {
        Side::Buy
    }
}
