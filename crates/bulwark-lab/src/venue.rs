//! What an agent may see of the venue: the queries a real client has.
//!
//! Agents never hold the engine. They get a [`Venue`], which answers public questions (book
//! levels, mark, the public list of accounts below maintenance) and questions about the
//! agent's own account, and converts the agents' `f64` prices onto the market's tick grid.

use bulwark_core::{Round, MICROS_PER_UNIT};
use bulwark_engine::{
    AccountId, Engine, Flag, Health, Market, MarketId, Price, Qty, Scope, Side, TimestampMs, Usd,
    WithdrawalRequest,
};

/// A market's liquidation terms as shares (public parameters a keeper reads).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiquidationTerms {
    /// Maintenance requirement per unit of notional (at small size).
    pub maintenance_frac: f64,
    /// A liquidation closes enough to bring equity to this multiple of maintenance.
    pub end_multiplier: f64,
    /// Penalty per unit of closed notional; the keeper gets `keeper_reward_share` of it.
    pub penalty: f64,
    pub taker_fee: f64,
    pub keeper_reward_share: f64,
}

/// Read-only client view of one market of the venue.
#[derive(Clone, Copy)]
pub struct Venue<'a> {
    engine: &'a Engine,
    market: MarketId,
}

/// The agent's own position, in the units agents think in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OwnPosition {
    /// Signed lots (positive: long).
    pub qty_lots: i64,
    /// Signed cost basis, USD (positive for a long).
    pub cost_usd: f64,
    /// Cross collateral, USD.
    pub collateral_usd: f64,
}

impl<'a> Venue<'a> {
    pub fn new(engine: &'a Engine, market: MarketId) -> Venue<'a> {
        Venue { engine, market }
    }

    pub fn market_id(&self) -> MarketId {
        self.market
    }

    fn m(&self) -> &'a Market {
        self.engine
            .market(self.market)
            .expect("the lab creates its market before any agent runs")
    }

    pub fn mark(&self) -> f64 {
        self.m().mark.to_f64_lossy()
    }

    pub fn mark_price(&self) -> Price {
        self.m().mark
    }

    /// The on-venue oracle price: with one feed, its last print (stale or not); with several
    /// sources, the price the oracle guard uses now (none while no source is valid or the
    /// market is degraded), so a pushed or frozen source does not show as the oracle.
    pub fn oracle(&self) -> Option<f64> {
        let m = self.m();
        let sources = m.defence.sources.iter().flatten().count();
        if sources > 1 {
            return m
                .fresh_oracle(self.engine.last_ms())
                .map(|p| p.to_f64_lossy());
        }
        m.last_oracle().map(|o| o.price.to_f64_lossy())
    }

    pub fn best_bid(&self) -> Option<f64> {
        self.m().book.best_bid().map(Price::to_f64_lossy)
    }

    pub fn best_ask(&self) -> Option<f64> {
        self.m().book.best_ask().map(Price::to_f64_lossy)
    }

    /// Resting notional (USD) on one side within `frac` of `around`.
    pub fn depth_usd(&self, side: Side, around: f64, frac: f64) -> f64 {
        let lots = self.lots_per_unit();
        let mut total = 0.0;
        for (price, qty, _) in self.m().book.levels(side) {
            let p = price.to_f64_lossy();
            if (p - around).abs() > around * frac {
                break;
            }
            total += p * qty.lots() as f64 / lots;
        }
        total
    }

    pub fn lots_per_unit(&self) -> f64 {
        self.m().params.lots_per_unit as f64
    }

    pub fn open_interest_lots(&self) -> i64 {
        self.m().open_interest.lots()
    }

    /// Largest leverage the market allows at small size: 1 / (maintenance x initial multiple).
    pub fn max_leverage(&self) -> f64 {
        let p = &self.m().params;
        1.0 / (p.maintenance.to_f64_lossy() * p.initial_multiplier.to_f64_lossy())
    }

    pub fn maintenance_frac(&self) -> f64 {
        self.m().params.maintenance.to_f64_lossy()
    }

    /// The market's published liquidation terms.
    pub fn liquidation_terms(&self) -> LiquidationTerms {
        let p = &self.m().params;
        LiquidationTerms {
            maintenance_frac: p.maintenance.to_f64_lossy(),
            end_multiplier: p.liquidation_end_multiplier.to_f64_lossy(),
            penalty: p.liquidation_penalty.to_f64_lossy(),
            taker_fee: p.taker_fee.to_f64_lossy().max(0.0),
            keeper_reward_share: p.keeper_reward_share.to_f64_lossy(),
        }
    }

    pub fn own(&self, account: AccountId) -> OwnPosition {
        let Some(a) = self.engine.account(account) else {
            return OwnPosition::default();
        };
        let pos = a.position(self.market);
        // Collateral as a client sees it: net of the funding and socialized loss its position
        // has pending (they settle when the position next changes).
        let pending = self
            .engine
            .pending(account, self.market)
            .unwrap_or_default();
        let pending = pending.funding_usd.to_f64_lossy() + pending.loss_usd.to_f64_lossy();
        OwnPosition {
            qty_lots: pos.map_or(0, |p| p.qty.lots()),
            cost_usd: pos.map_or(0.0, |p| p.cost_usd.to_f64_lossy()),
            collateral_usd: a.collateral_usd.to_f64_lossy() - pending,
        }
    }

    /// The account's position in the market, in signed lots (positive: long): `own`'s
    /// `qty_lots` without the pending amounts behind its collateral (an agent that sizes by its
    /// inventory alone, every few seconds, needs no more).
    pub fn own_lots(&self, account: AccountId) -> i64 {
        self.engine
            .account(account)
            .and_then(|a| a.position(self.market))
            .map_or(0, |p| p.qty.lots())
    }

    /// The cross pool's equity (`own_health`'s, without the requirements).
    pub fn own_equity(&self, account: AccountId) -> Option<Usd> {
        self.engine.equity(account, Scope::Cross).ok()
    }

    pub fn own_health(&self, account: AccountId) -> Option<Health> {
        self.engine.health(account, Scope::Cross).ok()
    }

    /// The cross pool's health as the venue's initial checks see it (what a withdrawal may
    /// take: equity over the initial requirement).
    pub fn own_initial_health(&self, account: AccountId) -> Option<Health> {
        self.engine.health_for_initial(account, Scope::Cross).ok()
    }

    pub fn own_open_orders(&self, account: AccountId) -> usize {
        self.engine.account(account).map_or(0, |a| a.orders.len())
    }

    /// The public list of pools below maintenance (what a keeper's indexer sees).
    pub fn flagged(&self) -> impl Iterator<Item = (&'a (AccountId, Scope), &'a Flag)> + 'a {
        self.engine
            .flags()
            .iter()
            .filter(|(_, f)| f.below_maintenance)
    }

    /// Public health of any account (on-chain venues expose every account's state).
    pub fn public_health(&self, account: AccountId, scope: Scope) -> Option<Health> {
        self.engine.health(account, scope).ok()
    }

    /// A price on the tick grid: floor for bids, ceil for asks, never below one tick.
    pub fn to_tick(&self, price: f64, round: Round) -> Option<Price> {
        self.grid().to_tick(price, round)
    }

    /// Lots for a notional at a price, rounded down; 0 when smaller than a lot.
    pub fn lots_for_usd(&self, notional_usd: f64, price: f64) -> Qty {
        self.grid().lots_for_usd(notional_usd, price)
    }

    /// The market's price and size grid, read once for many conversions.
    pub fn grid(&self) -> Grid {
        let p = &self.m().params;
        Grid {
            tick: p.tick_size.micros(),
            top: {
                let (max, tick) = (p.max_price.micros(), p.tick_size.micros());
                max - max % tick
            },
            lots_per_unit: p.lots_per_unit as f64,
            max_order_lots: p.max_order_qty.lots(),
        }
    }

    pub fn now(&self) -> TimestampMs {
        self.engine.last_ms()
    }
}

/// A market's price and size grid (public parameters): a market maker converts a whole
/// ladder with one read of the market instead of two per level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    tick: i64,
    /// The highest price on the grid, micros.
    top: i64,
    lots_per_unit: f64,
    max_order_lots: i64,
}

impl Grid {
    /// A price on the tick grid: floor for bids, ceil for asks, never below one tick.
    #[inline]
    pub fn to_tick(&self, price: f64, round: Round) -> Option<Price> {
        let tick = self.tick;
        let raw = round_to_micros(price, round)?;
        let below = raw.rem_euclid(tick);
        let snapped = match round {
            Round::Floor => raw - below,
            Round::Ceil if below == 0 => raw,
            Round::Ceil => raw + (tick - below),
        };
        Some(Price::from_micros(snapped.clamp(tick, self.top)))
    }

    /// Lots for a notional at a price, rounded down; 0 when smaller than a lot.
    #[inline]
    pub fn lots_for_usd(&self, notional_usd: f64, price: f64) -> Qty {
        if !(notional_usd > 0.0 && price > 0.0) {
            return Qty::ZERO;
        }
        // Non-negative, so truncating is flooring; capped first, so the cap (a whole number)
        // comes out as it did after a floor.
        let lots = notional_usd / price * self.lots_per_unit;
        Qty::from_lots(lots.min(self.max_order_lots as f64) as i64)
    }
}

/// `Price::from_f64(price, round)` in micros, without a call to the float library's floor or
/// ceil (a maker's ladder rounds twenty prices per quote): truncate, then step one unit
/// towards the rounding if the truncation went the other way. Exact: a float of magnitude
/// 2^52 or more is a whole number, and below that the truncated value converts back exactly;
/// the range check is on the unrounded value, which is the rounded one wherever it can fail.
fn round_to_micros(price: f64, round: Round) -> Option<i64> {
    let scaled = price * MICROS_PER_UNIT as f64;
    if !scaled.is_finite() || scaled <= i64::MIN as f64 || scaled >= i64::MAX as f64 {
        return None;
    }
    let t = scaled as i64;
    Some(match round {
        Round::Floor if (t as f64) > scaled => t - 1,
        Round::Ceil if (t as f64) < scaled => t + 1,
        _ => t,
    })
}

/// The backstop vault as anyone sees it: its share price (`Engine::vault_state`), the shares
/// outstanding and the withdrawals requested and not yet paid (each request is a public event
/// on an on-chain vault), and the venue's withdrawal delay (a public parameter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublicVault {
    /// USD per 1e6 shares (1.0 at par); 0 with no shares.
    pub share_price: f64,
    pub total_shares: u64,
    pub pending_withdrawal_shares: u64,
    pub withdrawal_delay_ms: u64,
}

impl Venue<'_> {
    pub fn vault(&self) -> PublicVault {
        let state = self.engine.vault_state();
        let share_price = if state.total_shares == 0 {
            0.0
        } else {
            state.share_price_ppm as f64 / 1e6
        };
        PublicVault {
            share_price,
            total_shares: state.total_shares,
            pending_withdrawal_shares: self
                .engine
                .vault()
                .requests
                .values()
                .fold(0u64, |a, r| a.saturating_add(r.shares)),
            withdrawal_delay_ms: self.engine.venue_params().vault_withdrawal_delay_ms,
        }
    }

    /// The vault shares `account` holds.
    pub fn own_vault_shares(&self, account: AccountId) -> u64 {
        self.engine
            .vault()
            .shares
            .get(&account)
            .copied()
            .unwrap_or(0)
    }

    /// `account`'s pending withdrawal request, if any.
    pub fn own_vault_request(&self, account: AccountId) -> Option<WithdrawalRequest> {
        self.engine.vault().requests.get(&account).copied()
    }
}

/// USD from a float, floored to the micro-USD (for deposits computed by agents).
pub fn usd_from_f64(v: f64) -> Usd {
    Usd::from_micros((v.max(0.0) * 1e6).floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rounding_to_micros_is_price_from_f64() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut prices: Vec<f64> = (0..20_000)
            .map(|_| rng.gen_range(-1e4..1e5) * 10f64.powi(rng.gen_range(-9..6)))
            .collect();
        // Whole micros, halves, both zeros, the edges of i64 and of exact integers, and
        // values no price can be.
        prices.extend([
            7938.05,
            0.000_001,
            0.000_000_5,
            -0.000_000_5,
            0.0,
            -0.0,
            9.223_372_036_854_775e12,
            -9.223_372_036_854_775e12,
            9.3e12,
            -9.3e12,
            4_503_599_627.370_496,
            9_007_199_254.740_993,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        for p in prices {
            for round in [Round::Floor, Round::Ceil] {
                let want = Price::from_f64(p, round).map(Price::micros);
                assert_eq!(round_to_micros(p, round), want, "{p} {round:?}");
            }
        }
    }

    #[test]
    fn to_tick_snaps_inside_the_grid() {
        let grid = Grid {
            tick: 100_000,
            top: 1_000_000_000_000,
            lots_per_unit: 1_000.0,
            max_order_lots: 50_000,
        };
        let px = |p: f64, round| grid.to_tick(p, round).map(Price::micros);
        assert_eq!(px(7_938.05, Round::Floor), Some(7_938_000_000));
        assert_eq!(px(7_938.05, Round::Ceil), Some(7_938_100_000));
        assert_eq!(px(7_938.1, Round::Ceil), Some(7_938_100_000), "on the grid");
        assert_eq!(px(7_938.1, Round::Floor), Some(7_938_100_000));
        assert_eq!(px(0.01, Round::Floor), Some(100_000), "never below a tick");
        assert_eq!(px(-3.0, Round::Ceil), Some(100_000));
        assert_eq!(px(2e6, Round::Ceil), Some(1_000_000_000_000), "capped");
        assert_eq!(px(f64::NAN, Round::Floor), None);
    }

    #[test]
    fn lots_for_usd_floors_and_caps() {
        let grid = Grid {
            tick: 100_000,
            top: 1_000_000_000_000,
            lots_per_unit: 1_000.0,
            max_order_lots: 50_000,
        };
        assert_eq!(grid.lots_for_usd(60_000.0, 7_938.05).lots(), 7_558);
        assert_eq!(grid.lots_for_usd(0.5, 7_938.05).lots(), 0);
        assert_eq!(grid.lots_for_usd(1e12, 7_938.05).lots(), 50_000);
        assert_eq!(grid.lots_for_usd(-5.0, 7_938.05).lots(), 0);
        assert_eq!(grid.lots_for_usd(f64::INFINITY, 7_938.05).lots(), 50_000);
    }
}
