//! Socialized loss: the last stage before bad debt, O(1) per market through the loss index.

use super::index::{self, LONG, SHORT};
use super::*;
use crate::event::{Event, PositionSide};
use bulwark_core::Usd;

impl Engine {
    /// Charge `amount` to the holders of positions of sign `payer_sign` in market `mi` through
    /// the side's loss index: the index rises by `ceil(amount x lots x 1e6 / open interest)`,
    /// so the payers' pending charges (each rounded up) add up to at least `amount`, and
    /// exceed it by less than the number of payers plus `open interest / (lots x 1e6)`.
    /// The socialization clearing balance pays `amount` out at once (it goes negative until
    /// the payers settle); the caller credits the bankrupt pool. Emits one `SocializedLoss`.
    /// Returns what was covered: `amount`, or zero when no holder remains. Accounts with no
    /// open position never pay, and positions opened later snapshot the raised index.
    pub(super) fn socialize_in_market(
        &mut self,
        mi: usize,
        payer_sign: i64,
        amount: Usd,
    ) -> Bounded<Usd> {
        self.invalidate_adl_ranking(self.markets[mi].id);
        let oi = self.markets[mi].open_interest.lots() as i128;
        if !amount.is_positive() || oi <= 0 {
            return Ok(Usd::ZERO);
        }
        let m = self.market_mut(mi);
        let (side, s) = if payer_sign > 0 {
            (PositionSide::Long, LONG)
        } else {
            (PositionSide::Short, SHORT)
        };
        let scaled = ok_or_overflow((amount.micros() as i128).checked_mul(index::denom(m)));
        let step = bounded(index::ceil_div(bounded(scaled)?, oi))?;
        m.loss_index[s] = bounded(ok_or_overflow(m.loss_index[s].checked_add(step)))?;
        m.index_epoch += 1;
        m.loss_clearing_usd = bounded(m.loss_clearing_usd.checked_sub(amount))?;
        let socialized = Event::SocializedLoss {
            market: m.id,
            side,
            amount_usd: amount,
            index_step: step,
            open_interest: m.open_interest,
        };
        self.events.push(socialized);
        let mut steps = [0; 2];
        steps[s] = step;
        self.after_index_step(mi, steps)?;
        Ok(amount)
    }
}
