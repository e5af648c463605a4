//! Funding settlement.

use super::*;
use crate::command::MarginMode;
use crate::event::Event;
use bulwark_core::{mul_mul_div, Round, TimestampMs, Usd, PPM_ONE};

impl Engine {
    /// Settle funding for one market: every position pays (or receives) value x rate, rounded
    /// up, so payers pay at least what receivers get; the difference is booked to the funding
    /// residue pool. Zero-sum up to that explicit residue.
    pub(super) fn settle_funding(&mut self, mi: usize, now: TimestampMs) {
        self.invalidate_adl_ranking(self.markets[mi].id);
        let m = &mut self.markets[mi];
        let rate = m.funding_rate();
        m.premium_sum_ppm = 0;
        m.premium_samples = 0;
        let market = m.id;
        let price = m.funding_price(now);
        let lots = m.params.lots_per_unit;
        let (mut paid, mut received) = (Usd::ZERO, Usd::ZERO);
        if rate.raw() != 0 {
            let denom = bounded(bulwark_core::ok_or_overflow(lots.checked_mul(PPM_ONE)));
            // Every position pays or receives, the vault's included.
            let holders = self
                .accounts
                .iter_mut()
                .chain(std::iter::once(&mut self.vault.account));
            for a in holders.filter(|a| a.active) {
                let Ok(i) = a.position_index(market) else {
                    continue;
                };
                let p = &mut a.positions[i];
                if p.qty.is_zero() {
                    continue;
                }
                let due = Usd::from_micros(bounded(mul_mul_div(
                    p.qty.0,
                    price.micros(),
                    rate.raw(),
                    denom,
                    Round::Ceil,
                )));
                if due.is_positive() {
                    paid = bounded(paid.checked_add(due));
                } else {
                    received = bounded(received.checked_sub(due));
                }
                p.funding_paid_usd = bounded(p.funding_paid_usd.checked_add(due));
                match p.mode {
                    MarginMode::Cross => {
                        a.collateral_usd = bounded(a.collateral_usd.checked_sub(due))
                    }
                    MarginMode::Isolated => {
                        p.isolated_usd = bounded(p.isolated_usd.checked_sub(due))
                    }
                }
            }
        }
        let residue = bounded(paid.checked_sub(received));
        assert!(
            !residue.is_negative(),
            "funding paid out more than it collected"
        );
        self.funding_residue_usd = bounded(self.funding_residue_usd.checked_add(residue));
        self.events.push(Event::FundingSettled {
            market,
            rate,
            paid_usd: paid,
            received_usd: received,
            residue_usd: residue,
        });
        self.reevaluate_market(market);
    }
}
