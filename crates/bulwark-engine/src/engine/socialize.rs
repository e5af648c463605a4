//! Socialized loss: the last stage before bad debt.

use super::*;
use crate::event::{Event, Scope};
use bulwark_core::{allocate, AccountId, Qty, Usd};

impl Engine {
    /// Stage e: charge `amount` to the holders of sign `payer_sign` in market `mi`, pro rata
    /// to position size, split exactly (`allocate`). Returns what was charged: `amount`, or
    /// zero when nobody holds that side. The caller credits the bankrupt pool. Accounts with
    /// no open position never pay.
    pub(super) fn socialize_in_market(&mut self, mi: usize, payer_sign: i64, amount: Usd) -> Usd {
        let market = self.markets[mi].id;
        self.invalidate_adl_ranking(market);
        let payers: Vec<(AccountId, Qty, Scope)> = (0..self.accounts.len() as u32)
            .map(AccountId)
            .chain(std::iter::once(VAULT))
            .filter_map(|id| {
                let a = self.acct(id);
                let p = a
                    .position(market)
                    .filter(|p| a.active && p.qty.signum() == payer_sign)?;
                Some((id, p.qty.abs(), scope_of(p.mode, market)))
            })
            .collect();
        if payers.is_empty() || !amount.is_positive() {
            return Usd::ZERO;
        }
        let lots: Vec<i64> = payers.iter().map(|p| p.1 .0).collect();
        let shares = bounded(allocate(amount.micros(), &lots));
        for ((id, _, pool), share) in payers.iter().zip(shares) {
            let share = Usd::from_micros(share);
            if !share.is_positive() {
                continue;
            }
            self.add_to_pool(*id, *pool, bounded(share.checked_neg()));
            let a = self.acct_mut(*id);
            a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(share));
            self.events.push(Event::SocializedLoss {
                account: *id,
                market,
                amount_usd: share,
            });
        }
        for (id, _, _) in payers {
            self.reevaluate(id);
        }
        amount
    }
}
