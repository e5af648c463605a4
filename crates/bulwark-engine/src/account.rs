//! Accounts and positions.

use crate::book::Side;
use crate::command::MarginMode;
use bulwark_core::{ArithResult, MarketId, OrderId, Qty, Round, Usd};
use serde::{Deserialize, Serialize};

/// One account's stake in one market: its position, its cost basis, its resting orders and,
/// for an isolated position, its own collateral.
///
/// `cost_usd` is the signed quote amount paid for the open lots (positive for a long, negative
/// for a short). Unrealized PnL = value at mark - cost. Realizing PnL moves an amount between
/// `cost_usd` and the pool's collateral, so `collateral - cost` is unchanged by it; that is what
/// makes conservation checkable to the micro-USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub market: MarketId,
    pub qty: Qty,
    pub cost_usd: Usd,
    /// Total quantity of this account's resting buy orders in the market.
    pub open_buy: Qty,
    pub open_sell: Qty,
    pub mode: MarginMode,
    /// Collateral of an isolated position (zero for cross).
    pub isolated_usd: Usd,
    /// Running totals, for reports.
    pub realized_pnl_usd: Usd,
    /// Funding settled into the pool so far (paid positive, received negative); what is still
    /// pending is `Engine::funding_total` minus this.
    pub funding_paid_usd: Usd,
    pub fees_paid_usd: Usd,
    /// The position's side's cumulative funding and socialized-loss indexes when it last
    /// settled (see engine::index); meaningless while the position is flat.
    pub funding_snap: Wide,
    pub loss_snap: Wide,
    /// The market's `index_epoch` when the snapshots were taken: equal to it, the position
    /// owes nothing (a cache, so neither hashed nor serialized).
    #[serde(skip)]
    pub(crate) snap_epoch: u64,
}

// A position is copied by value on the order path (drafts, the pre-trade check); past 128
// bytes the compiler copies it through an out-of-line memcpy (measured: +15 M instructions
// on the fixed workload), so it stays under.
const _: () = assert!(std::mem::size_of::<Position>() <= 128);

/// An `i128` stored as two 64-bit halves, so that a `Position` keeps an 8-byte alignment and
/// stays small enough (under 128 bytes) to be copied inline on the order path. JSON carries it
/// as a decimal string, like every `i128` of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wide {
    hi: i64,
    lo: u64,
}

impl Wide {
    #[inline]
    pub const fn new(v: i128) -> Wide {
        Wide {
            hi: (v >> 64) as i64,
            lo: v as u64,
        }
    }
    #[inline]
    pub const fn get(self) -> i128 {
        ((self.hi as i128) << 64) | self.lo as i128
    }
}

impl Serialize for Wide {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::event::i128_string::serialize(&self.get(), s)
    }
}

impl<'de> Deserialize<'de> for Wide {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Wide, D::Error> {
        crate::event::i128_string::deserialize(d).map(Wide::new)
    }
}

/// Where a pool is registered for rechecks on mark moves (see `engine::watch`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum WatchReg {
    #[default]
    None,
    /// One position: recheck when its market's mark falls to `down` or rises to `up` (keys
    /// in the watch sets of the position's side: the triggers minus that side's shifts).
    Single {
        market: MarketId,
        side: usize,
        down: i128,
        up: i128,
    },
    /// Several positions in a cross pool: recheck on any move of these markets.
    Multi(Vec<MarketId>),
}

impl Position {
    pub fn new(market: MarketId, mode: MarginMode) -> Position {
        Position {
            market,
            mode,
            ..Position::default()
        }
    }

    /// Nothing open and nothing resting: the entry can be dropped (after releasing any
    /// isolated collateral).
    pub fn is_idle(&self) -> bool {
        self.qty.is_zero() && self.open_buy.is_zero() && self.open_sell.is_zero()
    }

    /// Lots that an order on `side` could close without opening the other way.
    pub fn reducible_by(&self, side: Side) -> Qty {
        if self.qty.lots() * side.sign() < 0 {
            self.qty.abs()
        } else {
            Qty::ZERO
        }
    }

    /// Book a fill of `qty` lots on `side` with notional `notional` (>= 0). Returns the
    /// realized PnL, which the caller credits to the position's pool.
    ///
    /// The cost of the lots that remain after a reduction rounds away from zero, so the
    /// realized amount rounds against the account; the total of `pool - cost` is exact.
    pub fn apply_fill(&mut self, side: Side, qty: Qty, notional: Usd) -> ArithResult<Usd> {
        let sign = side.sign();
        let old_q = self.qty.lots();
        let dq = sign * qty.lots();
        if old_q == 0 || old_q.signum() == dq.signum() {
            self.qty = Qty::from_lots(old_q + dq);
            self.cost_usd = self
                .cost_usd
                .checked_add(Usd::from_micros(sign * notional.micros()))?;
            return Ok(Usd::ZERO);
        }
        let closed = qty.lots().min(old_q.abs());
        // Split the fill's notional between the lots it closes and any it opens the other way;
        // the two parts add up to the whole exactly.
        let n_closed = notional.mul_div(closed, qty.lots(), Round::Floor)?;
        let n_opened = notional.checked_sub(n_closed)?;
        let kept_lots = old_q.abs() - closed;
        let round_away = if self.cost_usd.is_negative() {
            Round::Floor
        } else {
            Round::Ceil
        };
        let kept_cost = self.cost_usd.mul_div(kept_lots, old_q.abs(), round_away)?;
        let cost_after_trade = self
            .cost_usd
            .checked_add(Usd::from_micros(sign * n_closed.micros()))?;
        let realized = kept_cost.checked_sub(cost_after_trade)?;
        let opened = qty.lots() - closed;
        self.qty = Qty::from_lots(old_q + dq);
        self.cost_usd = kept_cost.checked_add(Usd::from_micros(sign * n_opened.micros()))?;
        debug_assert!(opened == 0 || kept_lots == 0);
        self.realized_pnl_usd = self.realized_pnl_usd.checked_add(realized)?;
        Ok(realized)
    }

    /// Resting quantity on one side.
    pub fn open_on(&mut self, side: Side) -> &mut Qty {
        match side {
            Side::Buy => &mut self.open_buy,
            Side::Sell => &mut self.open_sell,
        }
    }
}

/// An account: a cross collateral pool and its positions. `Clone` is written out so that
/// `clone_from` copies the vectors into the target's own allocations (see `engine/copy.rs`).
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Whether the account exists (has ever received a deposit).
    pub active: bool,
    /// Cross collateral, micro-USD. May go negative through losses; negative equity is
    /// recorded by the engine (the liquidation waterfall takes it from there).
    pub collateral_usd: Usd,
    /// Positions sorted by market id; bounded by the engine's positions limit.
    pub positions: Vec<Position>,
    /// Resting orders across all markets, as (market, order). Bounded by the engine's
    /// per-account order limit, so a linear search here is cheap.
    pub orders: Vec<(MarketId, OrderId)>,
    /// What auto-deleveraging took from this account (closing it at the bankruptcy price).
    pub adl_haircut_usd: Usd,
    /// This account's shares of socialized losses, as settled so far; what is still pending
    /// is `Engine::socialized_loss_total` minus this.
    pub socialized_loss_usd: Usd,
    /// The cross pool's recheck registration (derived; neither hashed nor serialized).
    #[serde(skip)]
    pub(crate) cross_watch: WatchReg,
    /// The isolated pools' registrations, by market (derived; kept here rather than in each
    /// `Position` so that a position stays small on the order path).
    #[serde(skip)]
    pub(crate) iso_watch: Vec<(MarketId, WatchReg)>,
}

impl Clone for Account {
    // Every field by `.clone()`, Copy or not: the list stays right if a field's type changes.
    #[allow(clippy::clone_on_copy)]
    fn clone(&self) -> Account {
        Account {
            active: self.active.clone(),
            collateral_usd: self.collateral_usd.clone(),
            positions: self.positions.clone(),
            orders: self.orders.clone(),
            adl_haircut_usd: self.adl_haircut_usd.clone(),
            socialized_loss_usd: self.socialized_loss_usd.clone(),
            cross_watch: self.cross_watch.clone(),
            iso_watch: self.iso_watch.clone(),
        }
    }

    /// Every field named, without `..`: a new field is a compile error here until copied.
    fn clone_from(&mut self, src: &Account) {
        let Account {
            active,
            collateral_usd,
            positions,
            orders,
            adl_haircut_usd,
            socialized_loss_usd,
            cross_watch,
            iso_watch,
        } = self;
        active.clone_from(&src.active);
        collateral_usd.clone_from(&src.collateral_usd);
        positions.clone_from(&src.positions);
        orders.clone_from(&src.orders);
        adl_haircut_usd.clone_from(&src.adl_haircut_usd);
        socialized_loss_usd.clone_from(&src.socialized_loss_usd);
        cross_watch.clone_from(&src.cross_watch);
        iso_watch.clone_from(&src.iso_watch);
    }
}

impl Account {
    /// Index of the position in `market`, if the account has an entry there.
    #[inline]
    pub fn position_index(&self, market: MarketId) -> Result<usize, usize> {
        self.positions.binary_search_by_key(&market, |p| p.market)
    }

    pub fn position(&self, market: MarketId) -> Option<&Position> {
        self.position_index(market).ok().map(|i| &self.positions[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(v: i64) -> Usd {
        Usd::from_micros(v * 1_000_000)
    }

    #[test]
    fn realize_on_close_by_hand() {
        // Long 2 lots for 200 USD; sell 1 for 110: realized 110 - 100 = +10.
        let mut p = Position::new(MarketId(0), MarginMode::Cross);
        assert_eq!(
            p.apply_fill(Side::Buy, Qty::from_lots(2), usd(200))
                .unwrap(), // ok: test
            Usd::ZERO
        );
        assert_eq!(
            p.apply_fill(Side::Sell, Qty::from_lots(1), usd(110))
                .unwrap(), // ok: test
            usd(10)
        );
        assert_eq!((p.qty, p.cost_usd), (Qty::from_lots(1), usd(100)));
        // Sell 3 at 90 each (270): closes 1 (cost 100, proceeds 90: -10) and opens short 2 for 180.
        assert_eq!(
            p.apply_fill(Side::Sell, Qty::from_lots(3), usd(270))
                .unwrap(), // ok: test
            usd(-10)
        );
        assert_eq!((p.qty, p.cost_usd), (Qty::from_lots(-2), usd(-180)));
        // Buy 2 back at 80 each: short profit 180 - 160 = +20.
        assert_eq!(
            p.apply_fill(Side::Buy, Qty::from_lots(2), usd(160))
                .unwrap(), // ok: test
            usd(20)
        );
        assert_eq!((p.qty, p.cost_usd), (Qty::from_lots(0), Usd::ZERO));
        assert_eq!(p.realized_pnl_usd, usd(20));
    }

    #[test]
    fn kept_cost_rounds_away_from_zero() {
        // Long 3 lots for 1 micro-USD total; close 1 for 0: the 2 kept lots keep ceil(2/3) = 1.
        let mut p = Position::new(MarketId(0), MarginMode::Cross);
        p.apply_fill(Side::Buy, Qty::from_lots(3), Usd::from_micros(1))
            .unwrap(); // ok: test
        let r = p
            .apply_fill(Side::Sell, Qty::from_lots(1), Usd::ZERO)
            .unwrap(); // ok: test
        assert_eq!(p.cost_usd, Usd::from_micros(1));
        assert_eq!(r, Usd::ZERO);
        // Short: kept cost rounds toward -inf, so realized rounds down as well.
        let mut s = Position::new(MarketId(0), MarginMode::Cross);
        s.apply_fill(Side::Sell, Qty::from_lots(3), Usd::from_micros(2))
            .unwrap(); // ok: test
        let r = s
            .apply_fill(Side::Buy, Qty::from_lots(1), Usd::ZERO)
            .unwrap(); // ok: test
                       // cost -2 -> kept floor(-2 * 2/3) = -2; realized = -2 - (-2 + 0) = 0.
        assert_eq!((s.cost_usd, r), (Usd::from_micros(-2), Usd::ZERO));
    }

    #[test]
    fn reducible() {
        let mut p = Position::new(MarketId(0), MarginMode::Cross);
        p.qty = Qty::from_lots(5);
        assert_eq!(p.reducible_by(Side::Sell), Qty::from_lots(5));
        assert_eq!(p.reducible_by(Side::Buy), Qty::from_lots(0));
    }
}
