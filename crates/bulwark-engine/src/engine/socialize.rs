//! Socialized loss: the last stage before bad debt.

use super::*;
use crate::event::{Event, Scope};
use bulwark_core::{AccountId, Qty, Usd};

impl Engine {
    /// Stage e: share `deficit` across the opposite side of the bankrupt pool's markets (in
    /// proportion to the pool's notional in each), pro rata to position size, rounded up; the
    /// rounding excess goes to the insurance fund. Returns what was covered. Accounts with no
    /// open position never pay.
    pub(super) fn socialize(
        &mut self,
        bankrupt: AccountId,
        scope: Scope,
        sides: &[(usize, i64, Usd)],
        deficit: Usd,
    ) -> Usd {
        let total_notional: i128 = sides.iter().map(|s| s.2.micros() as i128).sum::<i128>();
        let mut covered = Usd::ZERO;
        let mut allocated = 0i128;
        for (k, &(mi, sign, notional)) in sides.iter().enumerate() {
            let part = if k + 1 == sides.len() || total_notional == 0 {
                deficit.micros() as i128 - allocated
            } else {
                deficit.micros() as i128 * notional.micros() as i128 / total_notional
            };
            allocated += part;
            let part = Usd::from_micros(part as i64);
            if !part.is_positive() {
                continue;
            }
            let market = self.markets[mi].id;
            self.invalidate_adl_ranking(market);
            let payers: Vec<(AccountId, Qty, Scope)> = (0..self.accounts.len() as u32)
                .map(AccountId)
                .chain(std::iter::once(VAULT))
                .filter(|id| *id != bankrupt)
                .filter_map(|id| {
                    let a = self.acct(id);
                    let p = a
                        .position(market)
                        .filter(|p| a.active && p.qty.signum() == -sign)?;
                    Some((id, p.qty.abs(), scope_of(p.mode, market)))
                })
                .collect();
            let lots: i128 = payers.iter().map(|p| p.1 .0 as i128).sum();
            if lots == 0 {
                continue;
            }
            let mut collected = Usd::ZERO;
            for (id, q, pool) in &payers {
                let share = (part.micros() as i128 * q.0 as i128 + lots - 1) / lots;
                let share = Usd::from_micros(share as i64);
                self.add_to_pool(*id, *pool, bounded(share.checked_neg()));
                let a = self.acct_mut(*id);
                a.socialized_loss_usd = bounded(a.socialized_loss_usd.checked_add(share));
                collected = bounded(collected.checked_add(share));
                self.events.push(Event::SocializedLoss {
                    account: *id,
                    market,
                    amount_usd: share,
                });
            }
            self.add_to_pool(bankrupt, scope, part);
            let excess = bounded(collected.checked_sub(part));
            self.insurance_usd = bounded(self.insurance_usd.checked_add(excess));
            covered = bounded(covered.checked_add(part));
            for (id, _, _) in payers {
                self.reevaluate(id);
            }
        }
        covered
    }
}
