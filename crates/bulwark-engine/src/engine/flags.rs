//! Health flags: which pools are below maintenance or have negative equity, kept up to date
//! incrementally (with the recheck index in `watch.rs`) and emitted as events.

use super::*;
use crate::command::MarginMode;
use crate::event::{Event, Scope};
use crate::margin::Health;
use bulwark_core::{AccountId, MarketId};
use std::collections::btree_map::Entry;

impl Engine {
    /// Re-check every pool of one account and emit the transitions of its flags.
    pub(super) fn reevaluate(&mut self, account: AccountId) -> Bounded {
        if account == VAULT {
            // The vault is not liquidated like an account; `reduce_vault` keeps it in bounds.
            return Ok(());
        }
        let i = account.0 as usize;
        self.reevaluate_scope(account, Scope::Cross)?;
        for k in 0..self.accounts[i].positions.len() {
            let p = &self.accounts[i].positions[k];
            if p.mode == MarginMode::Isolated {
                let scope = Scope::Isolated(p.market);
                self.reevaluate_scope(account, scope)?;
            }
        }
        Ok(())
    }

    pub(super) fn reevaluate_scope(&mut self, account: AccountId, scope: Scope) -> Bounded {
        if account == VAULT {
            return Ok(());
        }
        let h = self.pool_health_of(account, scope)?;
        self.update_flag(account, scope, &h);
        self.rewatch(account, scope, &h)
    }

    pub(super) fn update_flag(&mut self, account: AccountId, scope: Scope, h: &Health) {
        let now = Flag {
            below_maintenance: h.below_maintenance(),
            negative_equity: h.is_negative(),
        };
        let key = (account, scope);
        // One search of the map: the entry is read and changed in place (a pool's flags are
        // re-evaluated at every trigger it crosses, and most of those flip one).
        let before = match self.flags.entry(key) {
            Entry::Occupied(mut e) => {
                let before = *e.get();
                if now == before {
                    return;
                }
                if now == Flag::default() {
                    e.remove();
                } else {
                    *e.get_mut() = now;
                }
                before
            }
            Entry::Vacant(e) => {
                if now == Flag::default() {
                    return;
                }
                e.insert(now);
                Flag::default()
            }
        };
        self.record_flag(key, before);
        if now.below_maintenance && !before.below_maintenance {
            self.events.push(Event::BelowMaintenance {
                account,
                scope,
                equity_usd: h.equity_usd,
                maintenance_usd: h.maintenance_usd,
            });
        }
        if now.negative_equity && !before.negative_equity {
            self.events.push(Event::NegativeEquity {
                account,
                scope,
                equity_usd: h.equity_usd,
            });
        }
        if !now.below_maintenance && before.below_maintenance {
            self.events.push(Event::BackAboveMaintenance {
                account,
                scope,
                equity_usd: h.equity_usd,
            });
        }
        match (before.negative_equity, now.negative_equity) {
            (false, true) => self.negative_pools += 1,
            (true, false) => self.negative_pools -= 1,
            _ => {}
        }
    }

    /// Re-check every account with a position entry in `market`.
    pub(super) fn reevaluate_market(&mut self, market: MarketId) -> Bounded {
        for i in 0..self.accounts.len() {
            let a = &self.accounts[i];
            if a.active && a.position_index(market).is_ok() {
                self.reevaluate(AccountId(i as u32))?;
            }
        }
        Ok(())
    }
}
