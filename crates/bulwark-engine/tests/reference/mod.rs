//! Slow, obviously correct references for the property tests in `proptest_engine.rs`.
//!
//! Nothing here calls into the engine's own arithmetic or book code: the order book is a flat
//! `Vec` scanned linearly, and the margin calculator recomputes every requirement in `i128`
//! straight from the formulas documented in `margin.rs` and `Engine::pool_health`.

use bulwark_engine::{AccountId, Engine, MarginMode, OrderId, Price, Qty, Scope, Side};

// ----- reference order book ----------------------------------------------------------------

/// One resting order of the reference book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefOrder {
    pub id: OrderId,
    pub account: AccountId,
    pub side: Side,
    pub price: Price,
    pub remaining: Qty,
    pub reduce_only: bool,
    /// Arrival number: time priority within a price.
    pub arrival: u64,
}

/// A fill as the reference book reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefFill {
    pub maker: OrderId,
    pub maker_account: AccountId,
    pub price: Price,
    pub qty: Qty,
}

/// A price-time priority book kept as an unsorted `Vec`: every query is a linear scan.
#[derive(Clone, Debug, Default)]
pub struct RefBook {
    orders: Vec<RefOrder>,
    arrivals: u64,
}

/// `a` has priority over `b` (both on `side`): better price, then earlier arrival.
fn before(side: Side, a: &RefOrder, b: &RefOrder) -> bool {
    if a.price != b.price {
        return match side {
            Side::Buy => a.price > b.price,
            Side::Sell => a.price < b.price,
        };
    }
    a.arrival < b.arrival
}

impl RefBook {
    pub fn new() -> RefBook {
        RefBook::default()
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn insert(
        &mut self,
        id: OrderId,
        account: AccountId,
        side: Side,
        price: Price,
        qty: Qty,
        reduce_only: bool,
    ) {
        assert!(
            qty.lots() > 0,
            "reference: resting quantity must be positive"
        );
        assert!(self.get(id).is_none(), "reference: duplicate id {id:?}");
        self.arrivals += 1;
        self.orders.push(RefOrder {
            id,
            account,
            side,
            price,
            remaining: qty,
            reduce_only,
            arrival: self.arrivals,
        });
    }

    pub fn get(&self, id: OrderId) -> Option<&RefOrder> {
        self.orders.iter().find(|o| o.id == id)
    }

    pub fn remove(&mut self, id: OrderId) -> Option<RefOrder> {
        let i = self.orders.iter().position(|o| o.id == id)?;
        Some(self.orders.remove(i))
    }

    /// Reduce a resting order by `qty`; removes it when nothing is left. Returns what is left.
    pub fn fill(&mut self, id: OrderId, qty: Qty) -> Qty {
        let i = self
            .orders
            .iter()
            .position(|o| o.id == id)
            .expect("reference: fill of a resting order");
        assert!(qty.lots() > 0 && qty.lots() <= self.orders[i].remaining.lots());
        self.orders[i].remaining = Qty::from_lots(self.orders[i].remaining.lots() - qty.lots());
        let left = self.orders[i].remaining;
        if left.lots() == 0 {
            self.orders.remove(i);
        }
        left
    }

    /// Shrink a resting order in place; it keeps its arrival (time priority).
    pub fn reduce(&mut self, id: OrderId, new_remaining: Qty) {
        let o = self
            .orders
            .iter_mut()
            .find(|o| o.id == id)
            .expect("reference: reduce of a resting order");
        assert!(new_remaining.lots() > 0 && new_remaining.lots() < o.remaining.lots());
        o.remaining = new_remaining;
    }

    /// The order with priority on `side`, by a full scan.
    pub fn top(&self, side: Side) -> Option<&RefOrder> {
        let mut best: Option<&RefOrder> = None;
        for o in self.orders.iter().filter(|o| o.side == side) {
            if best.is_none_or(|b| before(side, o, b)) {
                best = Some(o);
            }
        }
        best
    }

    pub fn best(&self, side: Side) -> Option<Price> {
        self.top(side).map(|o| o.price)
    }

    /// Every order of one side in priority order (a selection sort by repeated scans).
    pub fn in_priority(&self, side: Side) -> Vec<RefOrder> {
        let mut left: Vec<RefOrder> = self
            .orders
            .iter()
            .filter(|o| o.side == side)
            .copied()
            .collect();
        let mut out = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let mut k = 0;
            for j in 1..left.len() {
                if before(side, &left[j], &left[k]) {
                    k = j;
                }
            }
            out.push(left.remove(k));
        }
        out
    }

    /// (price, total quantity, order count) per level, best first.
    pub fn levels(&self, side: Side) -> Vec<(Price, Qty, u32)> {
        let mut out: Vec<(Price, Qty, u32)> = Vec::new();
        for o in self.in_priority(side) {
            match out.last_mut() {
                Some(l) if l.0 == o.price => {
                    l.1 = Qty::from_lots(l.1.lots() + o.remaining.lots());
                    l.2 += 1;
                }
                _ => out.push((o.price, o.remaining, 1)),
            }
        }
        out
    }

    /// Orders a taker on `taker_side` with `limit` would meet, best first.
    pub fn crossing(&self, taker_side: Side, limit: Price) -> Vec<RefOrder> {
        self.in_priority(taker_side.opposite())
            .into_iter()
            .filter(|o| match taker_side {
                Side::Buy => o.price <= limit,
                Side::Sell => o.price >= limit,
            })
            .collect()
    }

    /// Match a taker against the book: repeatedly take the order with priority while it
    /// crosses. Returns the fills and the unfilled quantity.
    pub fn sweep(&mut self, side: Side, limit: Price, qty: Qty) -> (Vec<RefFill>, Qty) {
        let mut left = qty.lots();
        let mut fills = Vec::new();
        while left > 0 {
            let Some(top) = self.top(side.opposite()).copied() else {
                break;
            };
            let crosses = match side {
                Side::Buy => top.price <= limit,
                Side::Sell => top.price >= limit,
            };
            if !crosses {
                break;
            }
            let q = left.min(top.remaining.lots());
            fills.push(RefFill {
                maker: top.id,
                maker_account: top.account,
                price: top.price,
                qty: Qty::from_lots(q),
            });
            self.fill(top.id, Qty::from_lots(q));
            left -= q;
        }
        (fills, Qty::from_lots(left))
    }
}

// ----- reference margin calculator ---------------------------------------------------------

const MICROS: i128 = 1_000_000;
const PPM: i128 = 1_000_000;

/// Equity and requirements of one pool, in micro-USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefHealth {
    pub equity: i128,
    pub initial: i128,
    pub maintenance: i128,
}

/// Floor of `a / b` for `b > 0`.
pub fn div_floor(a: i128, b: i128) -> i128 {
    assert!(b > 0);
    let q = a / b;
    if a % b != 0 && a < 0 {
        q - 1
    } else {
        q
    }
}

/// Ceiling of `a / b` for `b > 0`.
pub fn div_ceil(a: i128, b: i128) -> i128 {
    -div_floor(-a, b)
}

/// Floor of the square root, by bisection (deliberately not `u64::isqrt`).
pub fn isqrt_ref(n: u128) -> u128 {
    let (mut lo, mut hi) = (0u128, 1u128 << 64);
    // Invariant: lo^2 <= n < hi^2.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if mid * mid <= n {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Maintenance fraction (ppm) for an absolute notional (micro-USD):
/// max(maintenance, min(size_premium * isqrt(whole USD), 100%)); just `maintenance` when the
/// size premium is zero.
pub fn maintenance_fraction_ref(maintenance: i128, size_premium: i128, notional: i128) -> i128 {
    assert!(notional >= 0);
    if size_premium == 0 {
        return maintenance;
    }
    let whole = notional / MICROS;
    let premium = (size_premium * isqrt_ref(whole as u128) as i128).min(PPM);
    maintenance.max(premium)
}

/// Maintenance requirement of an absolute notional: ceil(notional * fraction).
pub fn maintenance_ref(maintenance: i128, size_premium: i128, notional: i128) -> i128 {
    div_ceil(
        notional * maintenance_fraction_ref(maintenance, size_premium, notional),
        PPM,
    )
}

/// Health of one pool of `account`, from the engine's public state only; `None` for an
/// unknown account.
///
/// - equity = (cross: collateral) + for each position in the pool: (isolated: its collateral)
///   + floor(qty * mark / lots) - cost;
/// - maintenance = sum over open positions of ceil(n * fraction(n)), n = ceil(|qty| * mark /
///   lots) (requirements round up);
/// - initial = sum over positions with a non-zero worst case of
///   min(ceil(maintenance(n) * multiplier), n) with n = ceil(|worst| * mark / lots), where
///   worst = max(|qty + open_buy|, |qty - open_sell|).
pub fn ref_health(engine: &Engine, account: AccountId, scope: Scope) -> Option<RefHealth> {
    let a = engine.account(account)?;
    let mut h = RefHealth::default();
    if scope == Scope::Cross {
        h.equity += a.collateral_usd.micros() as i128;
    }
    for p in &a.positions {
        let in_scope = match scope {
            Scope::Cross => p.mode == MarginMode::Cross,
            Scope::Isolated(m) => p.mode == MarginMode::Isolated && p.market == m,
        };
        if !in_scope {
            continue;
        }
        let m = engine.market(p.market).expect("position in a known market");
        let lots = m.params.lots_per_unit as i128;
        let mark = m.mark.micros() as i128;
        let mm = m.params.maintenance.raw() as i128;
        let sp = m.params.size_premium.raw() as i128;
        let mult = m.params.initial_multiplier.raw() as i128;
        if p.mode == MarginMode::Isolated {
            h.equity += p.isolated_usd.micros() as i128;
        }
        let q = p.qty.lots() as i128;
        if q != 0 {
            let value = div_floor(q * mark, lots);
            h.equity += value - p.cost_usd.micros() as i128;
            // Pending funding and socialized loss through the side's indexes, each rounded
            // up (a credit's magnitude down).
            let side = if q > 0 { 0 } else { 1 };
            let owed = |index: i128, snap: i128| div_ceil(q.abs() * (index - snap), lots * PPM);
            h.equity -= owed(m.funding_index[side], p.funding_snap.get());
            h.equity -= owed(m.loss_index[side], p.loss_snap.get());
            // The maintenance notional rounds up, like every requirement.
            h.maintenance += maintenance_ref(mm, sp, div_ceil(q.abs() * mark, lots));
        }
        let worst = (q + p.open_buy.lots() as i128)
            .abs()
            .max((q - p.open_sell.lots() as i128).abs());
        if worst != 0 {
            let notional = div_ceil(worst * mark, lots);
            // Never more than the notional itself (a position at 1x).
            h.initial += div_ceil(maintenance_ref(mm, sp, notional) * mult, PPM).min(notional);
        }
    }
    Some(h)
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn rounding_helpers() {
        assert_eq!(div_floor(7, 2), 3);
        assert_eq!(div_floor(-7, 2), -4);
        assert_eq!(div_ceil(7, 2), 4);
        assert_eq!(div_ceil(-7, 2), -3);
        assert_eq!(div_ceil(6, 2), 3);
        for n in 0..2_000u128 {
            let r = isqrt_ref(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n);
        }
        assert_eq!(isqrt_ref(u64::MAX as u128), u32::MAX as u128);
    }

    #[test]
    fn maintenance_by_hand() {
        // 1 BTC at 50,000 USD, 0.5%, premium 10 ppm: sqrt(50,000) = 223 -> 2,230 < 5,000.
        let n = 50_000 * MICROS;
        assert_eq!(maintenance_ref(5_000, 10, n), 250 * MICROS);
        // Premium capped at 100%.
        assert_eq!(maintenance_fraction_ref(5_000, 1_000_000, n), PPM);
    }
}
