//! Auto-deleveraging: close a bankrupt position against opposite positions, chosen by the
//! market's policy (ranked by profit x leverage, or pro rata), and charge them the haircut.

use super::*;
use crate::account::{Account, Position};
use crate::book::Side;
use crate::command::MarginMode;
use crate::event::{Event, Scope};
use crate::margin::{self};
use bulwark_core::{allocate, AccountId, MarketId, Price, Qty, Usd, PPM_ONE};

/// A position closed against a counterparty by ADL, before its haircut is known.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdlClose {
    pub counterparty: AccountId,
    pub market: MarketId,
    /// Lots closed, signed as the counterparty's position was.
    pub qty: Qty,
    pub mark: Price,
}

impl Engine {
    /// Close the bankrupt position `qty` in market `mi` against opposite positions at the mark,
    /// choosing them by the market's ADL policy. Exactly |qty| lots are closed, never more.
    pub(super) fn adl_close(
        &mut self,
        bankrupt: AccountId,
        mi: usize,
        qty: Qty,
        closes: &mut Vec<AdlClose>,
    ) {
        let m = &self.markets[mi];
        let (market, mark, policy) = (m.id, m.mark, m.params.adl_policy);
        let plan = self.adl_plan(bankrupt, mi, qty, policy);
        let side = if qty.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        for (cp, cp_qty, close) in plan {
            self.direct_fill(mi, bankrupt, side, cp, close, mark);
            self.release_if_idle(cp, market, true);
            closes.push(AdlClose {
                counterparty: cp,
                market,
                qty: Qty(close.0 * cp_qty.signum()),
                mark,
            });
        }
    }

    /// (counterparty, its position, lots to close) for an ADL of `qty` in market `mi`.
    ///
    /// The ranked policy reads the candidates in the order computed at the first ADL of this
    /// market and side within the command (a scan of every account, done once per command,
    /// not once per bankruptcy), with each candidate's position as it is now.
    pub(super) fn adl_plan(
        &mut self,
        bankrupt: AccountId,
        mi: usize,
        qty: Qty,
        policy: crate::command::AdlPolicy,
    ) -> Vec<(AccountId, Qty, Qty)> {
        let market = self.markets[mi].id;
        let want_sign = -qty.signum();
        let key = (market, want_sign);
        let k = match self.adl_cache.iter().position(|(kk, _)| *kk == key) {
            Some(k) => k,
            None => {
                let ranked = self.adl_candidates(market, want_sign, policy);
                self.adl_cache.push((key, ranked));
                self.adl_cache.len() - 1
            }
        };
        let current = |e: &Engine, id: AccountId| -> Option<Qty> {
            let p = e.acct(id).position(market)?;
            (id != bankrupt && p.qty.signum() == want_sign).then_some(p.qty)
        };
        let need = qty.abs().0;
        let mut plan = Vec::new();
        match policy {
            crate::command::AdlPolicy::Ranked => {
                let mut left = need;
                for &id in &self.adl_cache[k].1 {
                    if left == 0 {
                        break;
                    }
                    let Some(q) = current(self, id) else { continue };
                    let close = q.abs().0.min(left);
                    left -= close;
                    plan.push((id, q, Qty(close)));
                }
                if left > 0 {
                    // Someone took the opposite side since the list was ranked (the vault took
                    // a position over, say): rank again and start over.
                    self.adl_cache[k].1 = self.adl_candidates(market, want_sign, policy);
                    plan.clear();
                    left = need;
                    for &id in &self.adl_cache[k].1 {
                        if left == 0 {
                            break;
                        }
                        let Some(q) = current(self, id) else { continue };
                        let close = q.abs().0.min(left);
                        left -= close;
                        plan.push((id, q, Qty(close)));
                    }
                }
            }
            crate::command::AdlPolicy::ProRata => {
                let mut cands: Vec<(AccountId, Qty)> = self.adl_cache[k]
                    .1
                    .iter()
                    .filter_map(|&id| current(self, id).map(|q| (id, q)))
                    .collect();
                let total: i128 = cands.iter().map(|c| c.1.abs().0 as i128).sum();
                if total == 0 {
                    return plan;
                }
                // Shares rounded down, then the remaining lots one each to the largest
                // positions (ties by id) so the total is exactly what is needed.
                cands.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
                let mut shares: Vec<i64> = cands
                    .iter()
                    .map(|c| (need as i128 * c.1.abs().0 as i128 / total) as i64)
                    .collect();
                let mut left = need - shares.iter().sum::<i64>();
                while left > 0 {
                    let before = left;
                    for (j, c) in cands.iter().enumerate() {
                        if left > 0 && shares[j] < c.1.abs().0 {
                            shares[j] += 1;
                            left -= 1;
                        }
                    }
                    if left == before {
                        break;
                    }
                }
                for (j, (id, q)) in cands.into_iter().enumerate() {
                    if shares[j] > 0 {
                        plan.push((id, q, Qty(shares[j])));
                    }
                }
            }
        }
        plan
    }

    /// Every account (and the vault) with a position of sign `sign` in `market`: ranked by
    /// score for the ranked policy (ties by id), by id for pro rata.
    pub(super) fn adl_candidates(
        &self,
        market: MarketId,
        sign: i64,
        policy: crate::command::AdlPolicy,
    ) -> Vec<AccountId> {
        let ids = (0..self.accounts.len() as u32)
            .map(AccountId)
            .chain(std::iter::once(VAULT));
        let mut cands: Vec<(i128, AccountId)> = Vec::new();
        for id in ids {
            let a = self.acct(id);
            let Some(p) = a
                .position(market)
                .filter(|p| a.active && p.qty.signum() == sign)
            else {
                continue;
            };
            let score = match policy {
                crate::command::AdlPolicy::Ranked => self.adl_score(a, p),
                crate::command::AdlPolicy::ProRata => 0,
            };
            cands.push((score, id));
        }
        cands.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        cands.into_iter().map(|(_, id)| id).collect()
    }

    /// ADL rank: profit fraction x effective leverage = upnl/|cost| x notional/equity, in ppm.
    /// Losing or underwater positions rank below every profitable one.
    pub(super) fn adl_score(&self, a: &Account, p: &Position) -> i128 {
        let m = &self.markets[p.market.0 as usize];
        let Ok(value) = margin::value_usd(p.qty, m.mark, m.params.lots_per_unit) else {
            return i128::MIN;
        };
        let upnl = value.micros() as i128 - p.cost_usd.micros() as i128;
        let scope = scope_of(p.mode, p.market);
        let equity = self
            .pool_health(a, scope, None)
            .map(|h| h.equity_usd.micros())
            .unwrap_or(0) as i128;
        let cost = (p.cost_usd.micros() as i128).abs().max(1);
        if upnl <= 0 || equity <= 0 {
            return upnl.min(0) - 1;
        }
        let notional = (value.micros() as i128).abs();
        upnl.saturating_mul(notional)
            .saturating_mul(PPM_ONE as i128)
            / cost.saturating_mul(equity)
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
    ) {
        let lots: Vec<i64> = closes.iter().map(|c| c.qty.abs().0).collect();
        let haircuts = if total.is_positive() {
            bounded(allocate(total.micros(), &lots))
        } else {
            vec![0; closes.len()]
        };
        for (c, &h) in closes.iter().zip(&haircuts) {
            let haircut = Usd::from_micros(h);
            let cp_scope = self.counterparty_scope(c.counterparty, c.market);
            if haircut.is_positive() {
                self.add_to_pool(c.counterparty, cp_scope, bounded(haircut.checked_neg()));
                let a = self.acct_mut(c.counterparty);
                a.adl_haircut_usd = bounded(a.adl_haircut_usd.checked_add(haircut));
            }
            let mi = c.market.0 as usize;
            let lots_per_unit = self.markets[mi].params.lots_per_unit;
            let per_lot = haircut.micros() as i128 * lots_per_unit as i128 / c.qty.abs().0 as i128;
            let price = c.mark.micros() as i128 - per_lot * c.qty.signum() as i128;
            self.events.push(Event::Deleveraged {
                bankrupt,
                counterparty: c.counterparty,
                market: c.market,
                qty: c.qty,
                price: Price::from_micros(price.clamp(1, i64::MAX as i128) as i64),
                haircut_usd: haircut,
            });
            // A haircut on a counterparty's last position can leave its pool below zero with
            // nothing open: a realized deficit of its own.
            let origin = LossOrigin {
                mi,
                sign: c.qty.signum(),
                weight: 1,
            };
            self.note_realized_deficit(c.counterparty, cp_scope, origin);
            self.reevaluate(c.counterparty);
        }
        if total.is_positive() {
            self.add_to_pool(bankrupt, scope, total);
        }
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
