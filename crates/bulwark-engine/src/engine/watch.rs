//! The recheck index: which pools must be re-examined when a mark moves, or when an index step
//! (funding, socialized loss) changes the equity of every holder on one side of a market.
//!
//! Recomputing every account's health on every mark change is O(accounts) per tick, which a
//! venue with a million accounts cannot afford. Instead each pool with a single position
//! registers two trigger prices in its market: `down` (recheck when the mark falls to or below
//! it) and `up` (when it rises to or above it). Between them the pool's flags (below
//! maintenance, negative equity) cannot change, so a move touches only the pools whose
//! triggers it crossed: a query from one end of a set ordered by price (a `TriggerSet`, a heap:
//! `down` triggers are only ever asked for from the highest, `up` triggers from the lowest).
//!
//! Triggers are the prices where equity reaches zero or the maintenance requirement,
//! computed so that they err early, never late:
//! - the size premium makes the maintenance fraction grow with notional, so a threshold is
//!   computed with the largest fraction the price range toward it can reach when the flag
//!   would set, and with the base fraction when it would clear;
//! - each trigger is moved 1 bp toward the mark to absorb micro-USD rounding;
//! - triggers never lie beyond half or double the mark, so a pool is rechecked at least then.
//!
//! **Index steps.** A funding or socialized-loss step changes the equity of every holder on
//! one side of a market by the same amount per whole base unit, `c = step / 1e6` micro-USD
//! (positive: a charge), without touching them. That moves every threshold of that side by a
//! price amount that depends only on `c` and on how fast equity minus the requirement changes
//! with the price: the zero-equity threshold by exactly `c` (up for a long, down for a short),
//! a long's maintenance threshold by `c / (1 - f)` with a flat fraction and at most
//! `c / (1 - 1.5 f) <= 10 c` with the size premium (single-position registrations keep
//! `f < 0.6`), a short's maintenance threshold by at most `c` (at least 0). So the watch sets
//! are split by side and keyed in an index-adjusted coordinate: the key is the trigger minus
//! the side's cumulative shift at registration (`shift_down[side]`, `shift_up[side]`), and a
//! step adds to each side's shift the bound that keeps its kind of trigger early: the largest
//! possible move for `down` triggers, the smallest for `up` triggers. One step thus moves all
//! of a side's triggers at once, and a range query finds those it moved across the mark: only
//! those pools are rechecked (`index_step_rechecks` counts them).
//!
//! Cross pools with positions in several markets depend on several marks; they are rechecked
//! on every move and every index step of any of their markets (`watch_always`). The invariant
//! checker recomputes all flags from scratch after every command in debug builds, so a late
//! trigger would be caught.

use super::index::{self, side_of, LONG};
use super::journal::WatchSet;
use super::{bounded, in_scope, Bounded, Engine, VAULT};
use crate::account::{Position, WatchReg};
use crate::event::Scope;
use crate::margin::{self, Health};
use crate::reject::Reject;
use bulwark_core::{
    div_i128, div_i64, ok_or_overflow, AccountId, ArithResult, MarketId, Price, Round, PPM_ONE,
};

/// Largest possible ratio (ppm) of a long's maintenance-threshold move to the zero-equity
/// threshold's move under the size premium: 1 / (1 - 1.5 x 0.6).
const LONG_PREMIUM_FACTOR_PPM: i128 = 10_000_000;
/// Index units (micro-USD x ppm) times ppm per micro-USD of price.
const PRICE_SCALE: i128 = PPM_ONE as i128 * PPM_ONE as i128;

impl Engine {
    /// Recheck the pools whose triggers a mark move from `old` to `new` crossed.
    pub(super) fn recheck_after_move(&mut self, mi: usize, old: Price, new: Price) -> Bounded {
        let m = &self.markets[mi];
        let mut hits = std::mem::take(&mut self.recheck_hits);
        hits.clear();
        let new = new.micros() as i128;
        for side in 0..2 {
            if new < old.micros() as i128 {
                hits.extend(down_from(m, side, new));
            } else {
                hits.extend(up_to(m, side, new));
            }
        }
        hits.extend(m.watch_always.iter().copied());
        hits.sort_unstable();
        hits.dedup();
        self.recheck_all(hits)
    }

    /// Re-evaluate each pool of `hits` (sorted, each once), and keep the list's allocation
    /// for the next recheck.
    fn recheck_all(&mut self, hits: Vec<(AccountId, Scope)>) -> Bounded {
        for &(account, scope) in &hits {
            self.reevaluate_scope(account, scope)?;
        }
        self.recheck_hits = hits;
        Ok(())
    }

    /// An index step changed the equity of every holder on each side of market `mi` by
    /// `steps[side]` index units per whole base unit (positive: a charge). Shift that side's
    /// triggers by the bounds of how far its thresholds moved and recheck the pools whose
    /// triggers now lie at or beyond the mark, and the multi-position pools of the market.
    pub(super) fn after_index_step(&mut self, mi: usize, steps: [i128; 2]) -> Bounded {
        let long_factor = self.long_shift_factor_ppm(mi);
        let mut hits = std::mem::take(&mut self.recheck_hits);
        hits.clear();
        let m = self.market_mut(mi);
        let mark = m.mark.micros() as i128;
        for (side, &c) in steps.iter().enumerate() {
            if c == 0 {
                continue;
            }
            // The thresholds' price moves lie between `lo` and `hi` (x 1e-12 micro-USD): a
            // long's move the same way as the charge, by 1 to `long_factor` x c; a short's the
            // other way, by 0 to 1 x c.
            let mul = |k: i128| bounded(ok_or_overflow(c.checked_mul(k)));
            let (a, b) = if side == LONG {
                (mul(PPM_ONE as i128)?, mul(long_factor)?)
            } else {
                (0, mul(-(PPM_ONE as i128))?)
            };
            let hi = bounded(index::ceil_div(a.max(b), PRICE_SCALE))?;
            let lo = (a.min(b)).div_euclid(PRICE_SCALE);
            m.shift_down[side] = bounded(ok_or_overflow(m.shift_down[side].checked_add(hi)))?;
            m.shift_up[side] = bounded(ok_or_overflow(m.shift_up[side].checked_add(lo)))?;
            // `down` triggers that moved up may now be at or above the mark, `up` triggers
            // that moved down at or below it.
            if hi > 0 {
                hits.extend(down_from(m, side, mark));
            }
            if lo < 0 {
                hits.extend(up_to(m, side, mark));
            }
        }
        hits.extend(m.watch_always.iter().copied());
        hits.sort_unstable();
        hits.dedup();
        self.index_rechecks += hits.len() as u64;
        self.recheck_all(hits)
    }

    /// The largest ratio (ppm) of a long's maintenance-threshold move to its zero-equity
    /// threshold's move: 1 / (1 - f) with a flat fraction (below 0.6, or every long pool is
    /// rechecked on every move anyway), 10 with the size premium.
    fn long_shift_factor_ppm(&self, mi: usize) -> i128 {
        let p = &self.markets[mi].params;
        if p.size_premium.raw() != 0 {
            return LONG_PREMIUM_FACTOR_PPM;
        }
        let f = p.maintenance.raw().min(599_999) as i128;
        let one = PPM_ONE as i128;
        (one * one).div_euclid(one - f) + 1
    }

    /// Replace the pool's registration with one computed from its current state.
    pub(super) fn rewatch(&mut self, account: AccountId, scope: Scope, h: &Health) -> Bounded {
        if account == VAULT {
            return Ok(());
        }
        let reg = self.compute_watch(account, scope, h)?;
        if *self.registration(account, scope) == reg {
            return Ok(());
        }
        let old = self.registration(account, scope).clone();
        match (&old, &reg) {
            (
                WatchReg::Single {
                    market,
                    side,
                    down,
                    up,
                },
                WatchReg::Single {
                    market: new_market,
                    side: new_side,
                    down: new_down,
                    up: new_up,
                },
            ) if (market, side) == (new_market, new_side) => {
                // The same sets: move each key, a short way through a heap, where a removal
                // and an insertion would each sift a node all the way (`TriggerSet::replace`).
                let mi = market.0 as usize;
                let (down_set, up_set) = (WatchSet::Down(*side as u8), WatchSet::Up(*side as u8));
                let key = |price: i128| (price, account, scope);
                // A trigger that stays (the flag that did not flip) is not touched.
                if down != new_down {
                    self.move_watch(mi, down_set, key(*down), key(*new_down));
                }
                if up != new_up {
                    self.move_watch(mi, up_set, key(*up), key(*new_up));
                }
            }
            _ => {
                self.unregister(account, scope, &old);
                self.register(account, scope, &reg);
            }
        }
        self.replace_registration(account, scope, reg);
        Ok(())
    }

    /// Remove an isolated pool's triggers before its position entry goes away.
    pub(super) fn unwatch_isolated(&mut self, account: AccountId, p: &Position) {
        let scope = Scope::Isolated(p.market);
        let old = self.registration(account, scope).clone();
        self.unregister(account, scope, &old);
        self.replace_registration(account, scope, WatchReg::None);
    }

    fn compute_watch(&self, account: AccountId, scope: Scope, h: &Health) -> Bounded<WatchReg> {
        let a = self.acct(account);
        let mut open = a
            .positions
            .iter()
            .filter(|p| !p.qty.is_zero() && in_scope(p, scope));
        let Some(first) = open.next() else {
            return Ok(WatchReg::None);
        };
        if open.next().is_some() {
            let markets = a
                .positions
                .iter()
                .filter(|p| !p.qty.is_zero() && in_scope(p, scope))
                .map(|p| p.market)
                .collect();
            return Ok(WatchReg::Multi(markets));
        }
        if first.qty.is_positive() && self.steep_size_premium(first) {
            // With the size premium, maintenance grows as notional^1.5: once the fraction
            // reaches 2/3, a long's health falls as the price rises, the thresholds are no
            // longer one-sided, and only a recheck on every move is safe.
            return Ok(WatchReg::Multi(vec![first.market]));
        }
        let pool = match scope {
            Scope::Cross => a.collateral_usd,
            Scope::Isolated(_) => first.isolated_usd,
        };
        let m = &self.markets[first.market.0 as usize];
        let mut pool = pool.micros() as i128;
        if !index::is_current(m, first) {
            let (funding, loss) = bounded(index::pending_usd(m, first))?;
            pool -= funding.micros() as i128 + loss.micros() as i128;
        }
        let (down, up) = bounded(self.triggers(first, pool, h))?;
        let side = side_of(first.qty);
        Ok(WatchReg::Single {
            market: first.market,
            side,
            down: down as i128 - m.shift_down[side],
            up: up as i128 - m.shift_up[side],
        })
    }

    /// Whether the maintenance fraction could reach 3/5 (a margin below the 2/3 where a long's
    /// health stops rising with the price) within double the mark.
    fn steep_size_premium(&self, p: &Position) -> bool {
        let m = &self.markets[p.market.0 as usize];
        if m.params.size_premium.raw() == 0 {
            return m.params.maintenance.raw() >= 600_000;
        }
        let at = Price::from_micros(m.mark.micros().saturating_mul(2));
        let Ok(notional) = margin::notional_ceil_usd(p.qty, at, m.params.lots_per_unit) else {
            return true;
        };
        margin::maintenance_fraction(&m.params, notional).raw() >= 600_000
    }

    /// (down, up) trigger prices in micro-USD for a pool holding only `p`, whose collateral net
    /// of pending funding and socialized loss is `pool` micro-USD and whose health is `h`.
    /// Checked arithmetic throughout, made one commit-phase step by the caller (nothing changes
    /// in between).
    fn triggers(&self, p: &Position, pool: i128, h: &Health) -> ArithResult<(i64, i64)> {
        let m = &self.markets[p.market.0 as usize];
        let mark = m.mark.micros() as i128;
        let lots = m.params.lots_per_unit as i128;
        let q = p.qty.lots() as i128;
        let long = q > 0;
        let below = h.below_maintenance();
        // Equity(P) = a + q * P / lots.
        let a = pool - p.cost_usd.micros() as i128;
        // Which way each flag would flip: a long's health falls with the price, a short's rises.
        let maintenance_down = long != below;
        let zero_down = long != h.is_negative();
        let f = if below {
            // Clearing the flag: the smallest fraction puts the threshold nearest the mark.
            m.params.maintenance.raw() as i128
        } else {
            // Setting it: the largest fraction over the range toward the threshold. A long's
            // notional shrinks as the price falls, so that is today's; a short's grows, so
            // bound it at double the mark (triggers never lie beyond double anyway).
            let at = if long {
                m.mark
            } else {
                Price::from_micros((mark * 2).min(i64::MAX as i128) as i64)
            };
            let notional = margin::notional_ceil_usd(p.qty, at, m.params.lots_per_unit)?;
            margin::maintenance_fraction(&m.params, notional).raw() as i128
        };
        let one = PPM_ONE as i128;
        let mut down = div_i64(m.mark.micros(), 2, Round::Floor)? as i128;
        let mut up = mark * 2;
        // A bound on the wrong side of the mark says only that the flip is near: recheck on
        // any move that way.
        let mut add = |t: i128, toward_down: bool| {
            if toward_down {
                down = down.max(t.min(mark));
            } else {
                up = up.min(t.max(mark));
            }
        };
        // Each threshold rounds toward the mark (a down trigger up, an up trigger down), so it
        // errs early.
        let toward_mark = |down: bool| if down { Round::Ceil } else { Round::Floor };
        // Equity zero: a + q P / lots = 0  =>  P = -a * lots / q.
        add(div_i128(-a * lots, q, toward_mark(zero_down))?, zero_down);
        // Maintenance: a + q P / lots - |q| P f / lots = 0  =>  P = -a lots / (q - |q| f).
        let denom = q * one - q.abs() * f;
        if denom != 0 {
            let t = div_i128(-a * lots * one, denom, toward_mark(maintenance_down));
            add(t?, maintenance_down);
        }
        // Move each trigger 1 bp (and one micro) further toward the mark, against the
        // micro-USD rounding of the health arithmetic itself. Both lie between half and double
        // the mark, so `i64` holds them (the wide division stays for any other value).
        let bp = |v: i128| -> ArithResult<i128> {
            Ok(match i64::try_from(v) {
                Ok(v) => div_i64(v, 10_000, Round::Floor)? as i128,
                Err(_) => div_i128(v, 10_000, Round::Floor)?,
            })
        };
        let down = down + bp(down)? + 1;
        let up = up - bp(up)? - 1;
        Ok((
            down.min(i64::MAX as i128) as i64,
            up.clamp(1, i64::MAX as i128) as i64,
        ))
    }

    fn register(&mut self, account: AccountId, scope: Scope, reg: &WatchReg) {
        self.set_registered(account, scope, reg, true);
    }

    fn unregister(&mut self, account: AccountId, scope: Scope, reg: &WatchReg) {
        self.set_registered(account, scope, reg, false);
    }

    /// Enter (or remove) a registration's keys in its markets' recheck sets.
    fn set_registered(&mut self, account: AccountId, scope: Scope, reg: &WatchReg, on: bool) {
        match reg {
            WatchReg::None => {}
            WatchReg::Single {
                market,
                side,
                down,
                up,
            } => {
                let mi = market.0 as usize;
                self.set_watch(mi, WatchSet::Down(*side as u8), (*down, account, scope), on);
                self.set_watch(mi, WatchSet::Up(*side as u8), (*up, account, scope), on);
            }
            WatchReg::Multi(markets) => {
                for market in markets {
                    self.set_always(market.0 as usize, (account, scope), on);
                }
            }
        }
    }
}

/// Pools of `side` whose `down` trigger is at or above `price`.
fn down_from(
    m: &crate::market::Market,
    side: usize,
    price: i128,
) -> impl Iterator<Item = (AccountId, Scope)> + '_ {
    // Most moves cross no trigger: the set's root says so in one comparison.
    m.watch_down[side]
        .reached(price - m.shift_down[side])
        .map(|(_, a, s)| (a, s))
}

/// Pools of `side` whose `up` trigger is at or below `price`.
fn up_to(
    m: &crate::market::Market,
    side: usize,
    price: i128,
) -> impl Iterator<Item = (AccountId, Scope)> + '_ {
    m.watch_up[side]
        .reached(price - m.shift_up[side])
        .map(|(_, a, s)| (a, s))
}

/// What a further move of one market's mark would put below maintenance: the pools and the
/// notional (at the moved mark) of their positions in the market (`Engine::liquidation_at_risk`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtRisk {
    /// The mark the move reaches.
    pub price: Price,
    /// Pools that are not below maintenance now and would be at `price`.
    pub pools: u64,
    /// Their positions' notional in the market at `price`, rounded up.
    pub notional_usd: bulwark_core::Usd,
}

impl Engine {
    /// The pools a move of `market`'s mark by `move_ppm` (negative: down) would take below
    /// maintenance, from the recheck index: the single-position pools whose trigger the move
    /// crosses (triggers err early, so each candidate is confirmed at the moved mark) and
    /// every multi-position pool of the market, evaluated there. Other marks are unchanged.
    /// The liquidation volume a further move would set off, against the depth the book has
    /// within the same move: a proactive breaker's input (step 8).
    pub fn liquidation_at_risk(&self, market: MarketId, move_ppm: i64) -> Result<AtRisk, Reject> {
        let mi = self.market_index(market)?;
        let m = &self.markets[mi];
        if move_ppm <= -(PPM_ONE) || move_ppm.unsigned_abs() > 10 * PPM_ONE as u64 {
            return Err(Reject::InvalidParam {
                name: "move_ppm",
                reason: "must be in (-100%, +1000%]".into(),
            });
        }
        let mark = m.mark.micros() as i128;
        let moved = mark + mark * move_ppm as i128 / PPM_ONE as i128;
        let price = Price::from_micros(moved.clamp(1, m.params.max_price.micros() as i128) as i64);
        let to = price.micros() as i128;
        let mut candidates: Vec<(AccountId, Scope)> = Vec::new();
        for side in 0..2 {
            if to < mark {
                candidates.extend(down_from(m, side, to));
            } else if to > mark {
                candidates.extend(up_to(m, side, to));
            }
        }
        candidates.extend(m.watch_always.iter().copied());
        candidates.sort_unstable();
        candidates.dedup();
        let mut out = AtRisk {
            price,
            ..AtRisk::default()
        };
        for (account, scope) in candidates {
            let already = self
                .flags
                .get(&(account, scope))
                .is_some_and(|f| f.below_maintenance);
            let a = self.acct(account);
            let Ok(h) = self.pool_health_inner(a, scope, None, Some((market, price)), false) else {
                continue;
            };
            if already || !h.below_maintenance() {
                continue;
            }
            let Some(p) = a.position(market).filter(|p| in_scope(p, scope)) else {
                continue;
            };
            let notional = margin::notional_ceil_usd(p.qty, price, m.params.lots_per_unit)?;
            out.pools += 1;
            out.notional_usd = out.notional_usd.checked_add(notional)?;
        }
        Ok(out)
    }
}

impl Engine {
    /// The range of marks of `market` within which no pool's flags can change: above every
    /// `down` trigger and below every `up` trigger of the market's single-position pools,
    /// `(low, high)` exclusive (a mark at or beyond either end may change some pool's flags).
    /// `None` when the market has multi-position pools, which depend on every move. A forward
    /// simulation whose marks stay inside it can skip the engine: nothing would be liquidated
    /// (the triggers err early, so the band is, if anything, too narrow). A query.
    pub fn quiet_band(&self, market: MarketId) -> Result<Option<(Price, Price)>, Reject> {
        let m = &self.markets[self.market_index(market)?];
        if !m.watch_always.is_empty() {
            return Ok(None);
        }
        let mut low: i128 = 0;
        let mut high: i128 = m.params.max_price.micros() as i128 + 1;
        for side in 0..2 {
            if let Some(key) = m.watch_down[side].end_price() {
                low = low.max(key + m.shift_down[side]);
            }
            if let Some(key) = m.watch_up[side].end_price() {
                high = high.min(key + m.shift_up[side]);
            }
        }
        let clamp = |v: i128| Price::from_micros(v.clamp(0, i64::MAX as i128) as i64);
        Ok(Some((clamp(low), clamp(high))))
    }
}
