//! The loss waterfall.
//!
//! Each stage is an event with the amount it paid, in this order:
//! a. the pool's own collateral (`Bankrupt` when it is exhausted);
//! b. the backstop vault takes the positions over at the bankruptcy price, if its own margin
//!    limit allows (`VaultTakeover`, `vault.rs`);
//! otherwise the positions are closed against opposite positions at the mark by auto-
//! deleveraging (`adl.rs`; or, with ADL off, through the book at any price), and the deficit is
//! paid by
//! c. the insurance fund (`InsurancePayout`);
//! d. the deleveraged counterparties (`Deleveraged` with its haircut);
//! e. the opposite side of the market (`SocializedLoss`, `socialize.rs`);
//!
//! and whatever is left is recorded as bad debt (`UncoveredLoss`).

use super::liquidation::Close;
use super::*;
use crate::account::Position;
use crate::book::Side;
use crate::command::MarginMode;
use crate::event::{Event, Scope};
use crate::margin::{self};
use bulwark_core::{AccountId, Price, Qty, Usd};

impl Engine {
    pub(super) fn waterfall(&mut self, account: AccountId, scope: Scope) {
        let positions = self.pool_positions(account, scope);
        let equity = self.pool_health_of(account, scope).equity_usd;
        if equity.is_negative() {
            self.events.push(Event::Bankrupt {
                account,
                scope,
                deficit_usd: bounded(equity.checked_neg()),
            });
        }
        // The market with the largest position decides which stages are on.
        let primary = positions
            .iter()
            .max_by_key(|(mi, p)| {
                let m = &self.markets[*mi];
                (
                    bounded(margin::notional_ceil_usd(
                        p.qty,
                        m.mark,
                        m.params.lots_per_unit,
                    )),
                    std::cmp::Reverse(*mi),
                )
            })
            .map(|(mi, _)| *mi)
            .or_else(|| {
                self.acct(account)
                    .positions
                    .first()
                    .map(|p| p.market.0 as usize)
            })
            .unwrap_or(0);
        let Some(wf) = self.markets.get(primary).map(|m| m.params.waterfall) else {
            self.cover_uncovered(account, scope);
            return;
        };
        if wf.vault
            && !positions.is_empty()
            && account != VAULT
            && self.vault_accepts(&positions, equity)
        {
            self.vault_takeover(account, scope, &positions, equity);
            return;
        }
        // Who was on the other side, for socialization: (market, sign of the bankrupt position).
        let sides: Vec<(usize, i64, Usd)> = positions
            .iter()
            .map(|(mi, p)| {
                let m = &self.markets[*mi];
                (
                    *mi,
                    p.qty.signum(),
                    bounded(margin::notional_ceil_usd(
                        p.qty,
                        m.mark,
                        m.params.lots_per_unit,
                    )),
                )
            })
            .collect();
        let mut closes = Vec::new();
        for (mi, p) in &positions {
            if self.markets[*mi].params.waterfall.adl {
                self.adl_close(account, *mi, p.qty, &mut closes);
            } else {
                let side = if p.qty.is_positive() {
                    Side::Sell
                } else {
                    Side::Buy
                };
                self.close_through_book(account, *mi, side, p.qty.abs(), Close::Unbanded);
            }
        }
        let mut deficit = self.pool_deficit(account, scope);
        if deficit.is_positive() && wf.insurance && self.insurance_usd.is_positive() {
            let pay = deficit.min(self.insurance_usd);
            self.insurance_usd = bounded(self.insurance_usd.checked_sub(pay));
            self.add_to_pool(account, scope, pay);
            deficit = bounded(deficit.checked_sub(pay));
            self.events.push(Event::InsurancePayout {
                account,
                amount_usd: pay,
                fund_after_usd: self.insurance_usd,
            });
        }
        // The deleveraged counterparties cover the share of the deficit that belongs to the
        // markets where ADL ran (by the pool's notional in each), not losses made elsewhere.
        let adl_flags: Vec<bool> = self
            .markets
            .iter()
            .map(|m| m.params.waterfall.adl)
            .collect();
        let adl_on = |mi: usize| adl_flags[mi];
        let total_notional: i128 = sides.iter().map(|s| s.2.micros() as i128).sum();
        let adl_notional: i128 = sides
            .iter()
            .filter(|s| adl_on(s.0))
            .map(|s| s.2.micros() as i128)
            .sum();
        let haircut_total = if closes.is_empty() || total_notional == 0 {
            Usd::ZERO
        } else if adl_notional == total_notional {
            deficit
        } else {
            Usd::from_micros((deficit.micros() as i128 * adl_notional / total_notional) as i64)
        };
        self.settle_adl(account, scope, &closes, haircut_total);
        deficit = bounded(deficit.checked_sub(haircut_total));
        if deficit.is_positive() && wf.socialize {
            // What is left belongs to the markets without ADL, when there are any.
            let rest: Vec<(usize, i64, Usd)> =
                sides.iter().copied().filter(|s| !adl_on(s.0)).collect();
            let sides = if closes.is_empty() || rest.is_empty() {
                &sides
            } else {
                &rest
            };
            let covered = self.socialize(account, scope, sides, deficit);
            deficit = bounded(deficit.checked_sub(covered));
        }
        if deficit.is_positive() {
            self.cover_uncovered(account, scope);
        }
        for (mi, _) in &positions {
            let market = self.markets[*mi].id;
            self.release_if_idle(account, market, false);
        }
    }

    /// How far below zero the pool's equity is (zero if it is not).
    pub(super) fn pool_deficit(&self, account: AccountId, scope: Scope) -> Usd {
        let e = self.pool_health_of(account, scope).equity_usd;
        bounded(e.checked_neg()).max(Usd::ZERO)
    }

    /// Record what no stage covered as bad debt and bring the pool back to zero.
    pub(super) fn cover_uncovered(&mut self, account: AccountId, scope: Scope) {
        let d = self.pool_deficit(account, scope);
        if !d.is_positive() {
            return;
        }
        self.add_to_pool(account, scope, d);
        self.bad_debt_usd = bounded(self.bad_debt_usd.checked_add(d));
        self.events.push(Event::UncoveredLoss {
            account,
            amount_usd: d,
        });
    }

    /// Add `delta` (may be negative) to a pool's collateral.
    pub(super) fn add_to_pool(&mut self, account: AccountId, scope: Scope, delta: Usd) {
        let a = self.acct_mut(account);
        match scope {
            Scope::Cross => a.collateral_usd = bounded(a.collateral_usd.checked_add(delta)),
            Scope::Isolated(m) => {
                let i = a
                    .position_index(m)
                    .expect("an isolated pool has its position entry");
                let p = &mut a.positions[i];
                p.isolated_usd = bounded(p.isolated_usd.checked_add(delta));
            }
        }
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
    ) {
        self.settle_for_fill(mi, [(a, a_side), (b, a_side.opposite())], qty);
        let market = self.markets[mi].id;
        let notional = bounded(margin::fill_notional_usd(
            qty,
            price,
            self.markets[mi].params.lots_per_unit,
        ));
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
            let realized = bounded(p.apply_fill(side, qty, notional));
            oi_delta += p.qty.0.max(0) - old.0.max(0);
            match p.mode {
                MarginMode::Cross => {
                    account.collateral_usd = bounded(account.collateral_usd.checked_add(realized))
                }
                MarginMode::Isolated => {
                    p.isolated_usd = bounded(p.isolated_usd.checked_add(realized))
                }
            }
        }
        let m = &mut self.markets[mi];
        m.open_interest = Qty(m.open_interest.0 + oi_delta);
    }
}
