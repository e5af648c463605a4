//! Funding settlement: one step of the market's funding indexes per interval, O(1) per market.
//! The amounts move when each position next settles (see `index.rs`).

use super::index::{LONG, SHORT};
use super::*;
use crate::event::Event;
use bulwark_core::TimestampMs;

impl Engine {
    /// Settle funding for one market: the clamped mean premium is the rate; longs' funding
    /// index rises by `price x rate` (micro-USD x ppm per whole base unit) and shorts' falls by
    /// as much, so a positive rate charges longs and credits shorts. Nobody is touched: each
    /// position settles `ceil(|qty| x step / (lots x 1e6))` when it is next touched, and
    /// health counts it at once. The triggers the step moves across the mark are rechecked.
    pub(super) fn settle_funding(&mut self, mi: usize, now: TimestampMs) -> Bounded {
        self.invalidate_adl_ranking(self.markets[mi].id);
        let m = self.market_mut(mi);
        let rate = m.funding_rate();
        m.premium_sum_ppm = 0;
        m.premium_samples = 0;
        let price = m.funding_price(now);
        let step = price.micros() as i128 * rate.raw() as i128;
        m.funding_index[LONG] = bounded(ok_or_overflow(m.funding_index[LONG].checked_add(step)))?;
        m.funding_index[SHORT] = bounded(ok_or_overflow(m.funding_index[SHORT].checked_sub(step)))?;
        m.index_epoch += 1;
        let settled = Event::FundingSettled {
            market: m.id,
            rate,
            price,
            index_step: step,
            open_interest: m.open_interest,
        };
        self.events.push(settled);
        if step != 0 {
            self.after_index_step(mi, [step, -step])?;
        }
        Ok(())
    }
}
