//! One perpetual market: its parameters, book, prices and funding state.

use crate::book::{Book, Side};
use crate::command::MarketParams;
use crate::defence::{judge_sources, DefenceState, OracleVerdict};
use crate::engine::limits;
use crate::event::Scope;
use crate::margin;
use crate::trigger_set::{End, TriggerSet};
use bulwark_core::AccountId;
use bulwark_core::{
    div_i128, div_i64, mul_div, ArithResult, MarketId, Ppm, Price, Qty, Round, TimestampMs, Usd,
    PPM_ONE,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Market {
    pub id: MarketId,
    pub params: MarketParams,
    pub book: Book,
    /// The price that drives margin, liquidation and funding.
    pub mark: Price,
    pub trade_ema: Option<Price>,
    /// When the last trade folded into the EMA: an EMA older than `oracle_stale_ms` is stale
    /// and no longer moves the mark.
    pub trade_ema_at: TimestampMs,
    /// The oracle sources, the breakers, dynamic margin and adaptive fees (see `defence`).
    pub defence: DefenceState,
    /// Long open interest in lots (equal to short open interest).
    pub open_interest: Qty,
    /// When funding is next settled.
    pub next_funding_ms: u64,
    /// Sum and count of premium samples (mark vs oracle, ppm) since the last settlement.
    pub premium_sum_ppm: i64,
    pub premium_samples: u32,
    /// Cumulative funding index per side (`[longs, shorts]`), in micro-USD x ppm per whole
    /// base unit: a settlement adds `price x rate` to the longs' and subtracts it from the
    /// shorts' (see engine::index). A position owes `ceil(|qty| x (index - its snapshot) /
    /// (lots_per_unit x 1e6))`; negative means it receives.
    pub funding_index: [i128; 2],
    /// Cumulative socialized-loss index per side, same units; it only rises.
    pub loss_index: [i128; 2],
    /// How many index steps the market has taken (either index, either side). A position
    /// snapshotted at the current epoch owes nothing: the order path's fast check. A cache of
    /// the step count, so neither hashed nor serialized.
    pub(crate) index_epoch: u64,
    /// Funding moved between the positions and the venue at settlement: what positions have
    /// settled (paid minus received). Temporarily negative while receivers settle first.
    pub funding_clearing_usd: Usd,
    /// Socialization clearing: what settled payers paid minus what bankrupt pools were paid.
    /// Negative while payers still owe it.
    pub loss_clearing_usd: Usd,
    /// Pools to recheck when the mark falls to or below their trigger, per side of their
    /// position, keyed by the trigger minus `shift_down[side]` (see engine::watch); only ever
    /// asked for its highest keys, so a heap (`TriggerSet`).
    pub(crate) watch_down: [TriggerSet; 2],
    /// Pools to recheck when the mark rises to or above their trigger, keyed by the trigger
    /// minus `shift_up[side]`; asked for its lowest keys.
    pub(crate) watch_up: [TriggerSet; 2],
    /// Cumulative price shifts (micro-USD) that index steps applied to each side's triggers:
    /// a trigger's price is its key plus the shift. Derived state (not hashed).
    pub(crate) shift_down: [i128; 2],
    pub(crate) shift_up: [i128; 2],
    /// Cross pools with positions in several markets: rechecked on every move.
    pub(crate) watch_always: BTreeSet<(AccountId, Scope)>,
}

/// The market's oracle as the guard sees it at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleReading {
    pub price: Price,
    /// Newest publication time among the valid sources.
    pub at: TimestampMs,
}

/// The components of a mark computation, for the `MarkPrice` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkInputs {
    pub oracle: Option<Price>,
    pub impact_mid: Option<Price>,
    pub trade_ema: Option<Price>,
}

impl Market {
    pub fn new(id: MarketId, params: MarketParams, now: TimestampMs) -> Market {
        let next_funding_ms = now.0.saturating_add(params.funding_interval_ms);
        let defence = DefenceState {
            stable: params
                .defences
                .stable_price
                .enabled
                .then_some((params.initial_price, now)),
            ..DefenceState::default()
        };
        Market {
            id,
            mark: params.initial_price,
            params,
            book: Book::new(),
            trade_ema: None,
            trade_ema_at: TimestampMs(0),
            defence,
            open_interest: Qty::ZERO,
            next_funding_ms,
            premium_sum_ppm: 0,
            premium_samples: 0,
            funding_index: [0; 2],
            loss_index: [0; 2],
            index_epoch: 0,
            funding_clearing_usd: Usd::ZERO,
            loss_clearing_usd: Usd::ZERO,
            watch_down: [TriggerSet::new(End::Highest), TriggerSet::new(End::Highest)],
            watch_up: [TriggerSet::new(End::Lowest), TriggerSet::new(End::Lowest)],
            shift_down: [0; 2],
            shift_up: [0; 2],
            watch_always: BTreeSet::new(),
        }
    }

    /// The guard's verdict on the sources at `now` (see [`judge_sources`]).
    pub fn oracle_verdict(&self, now: TimestampMs) -> OracleVerdict {
        judge_sources(
            &self.defence.sources,
            &self.params.defences.oracle_guard,
            self.params.oracle_stale_ms,
            now,
        )
    }

    /// The oracle price the market uses at `now`: the median of the valid sources, or `None`
    /// when none is valid or the market is degraded (it then runs on its internal mark).
    pub fn fresh_oracle(&self, now: TimestampMs) -> Option<Price> {
        if self.is_degraded() {
            return None;
        }
        self.oracle_verdict(now).price
    }

    /// The price the initial-margin checks value a position on one side at: the mark, or with
    /// the stable price on, the worse of mark and stable price for that side (the lower for a
    /// long). Maintenance and liquidation use the mark.
    #[inline]
    pub fn margin_price(&self, long: bool) -> Price {
        self.margin_price_at(self.mark, long)
    }

    /// [`Market::margin_price`] with `mark` for the mark (a counterfactual query).
    #[inline]
    pub fn margin_price_at(&self, mark: Price, long: bool) -> Price {
        match self.defence.stable {
            Some((stable, _)) if long => mark.min(stable),
            Some((stable, _)) => mark.max(stable),
            None => mark,
        }
    }

    /// Whether the oracle guard has the market in degraded mode.
    pub fn is_degraded(&self) -> bool {
        self.params.defences.oracle_guard.enabled && self.defence.degraded_since.is_some()
    }

    /// Whether any source has ever reported.
    pub fn oracle_seen(&self) -> bool {
        self.defence.sources.iter().any(Option::is_some)
    }

    /// The latest report of any source (for display; the guard decides what is used).
    pub fn last_oracle(&self) -> Option<OracleReading> {
        self.defence
            .sources
            .iter()
            .flatten()
            .max_by_key(|s| s.published)
            .map(|s| OracleReading {
                price: s.price,
                at: s.published,
            })
    }

    /// The trade EMA if a trade folded into it within `oracle_stale_ms` of `now`.
    pub fn fresh_trade_ema(&self, now: TimestampMs) -> Option<Price> {
        let ema = self.trade_ema?;
        (now.saturating_sub_ms(self.trade_ema_at) <= self.params.oracle_stale_ms).then_some(ema)
    }

    /// Price at which `impact_notional_usd` could be bought (Sell side: sold) by walking the
    /// book; `None` if that side is too thin.
    pub fn impact_price(&self, taker_side: Side) -> Option<Price> {
        let target = self.params.impact_notional_usd;
        let mut filled = Usd::ZERO;
        for (price, qty, _) in self.book.levels(taker_side.opposite()) {
            let n = margin::fill_notional_usd(qty, price, self.params.lots_per_unit).ok()?;
            filled = filled.checked_add(n).ok()?;
            if filled >= target {
                return Some(price);
            }
        }
        None
    }

    /// Mid of the impact bid and impact ask, if both exist.
    pub fn impact_mid(&self) -> Option<Price> {
        let key = (
            self.params.impact_notional_usd.micros(),
            self.params.lots_per_unit,
        );
        if let Some(mid) = self.book.impact_memo(key.0, key.1) {
            debug_assert_eq!(mid, self.walk_impact_mid(), "a stale impact-mid memo");
            return mid;
        }
        let mid = self.walk_impact_mid();
        self.book.set_impact_memo(crate::book::ImpactMemo {
            notional_micros: key.0,
            lots_per_unit: key.1,
            mid,
        });
        mid
    }

    /// The impact mid walked from the book (`impact_mid` remembers it until the book changes).
    fn walk_impact_mid(&self) -> Option<Price> {
        let bid = self.impact_price(Side::Sell)?;
        let ask = self.impact_price(Side::Buy)?;
        let sum = bid.micros() as i128 + ask.micros() as i128;
        let mid = div_i128(sum, 2, Round::Floor).ok()?;
        Some(Price::from_micros(mid as i64))
    }

    /// The mark: the median of whichever of (fresh oracle, impact mid, fresh trade EMA) exist;
    /// the mean (rounded down) of two; the one if one; unchanged if none. It works without an
    /// oracle, no single input can move it alone while the other two agree, and a stale input
    /// (an oracle or a trade EMA older than `oracle_stale_ms`) does not pull it.
    pub fn compute_mark(&self, now: TimestampMs) -> (Price, MarkInputs) {
        let inputs = MarkInputs {
            oracle: self.fresh_oracle(now),
            impact_mid: self.impact_mid(),
            trade_ema: self.fresh_trade_ema(now),
        };
        let mut v = [Price::ZERO; 3];
        let mut n = 0;
        for p in [inputs.oracle, inputs.impact_mid, inputs.trade_ema]
            .into_iter()
            .flatten()
        {
            v[n] = p;
            n += 1;
        }
        v[..n].sort_unstable();
        let mark = match n {
            0 => self.mark,
            1 => v[0],
            2 => {
                let half_gap = div_i64(v[1].micros() - v[0].micros(), 2, Round::Floor);
                Price::from_micros(v[0].micros() + half_gap.unwrap_or(0))
            }
            _ => v[1],
        };
        (mark, inputs)
    }

    /// Fold a trade price at `now` into the EMA: ema += alpha * (price - ema), rounded down.
    pub fn record_trade(&mut self, price: Price, now: TimestampMs) -> ArithResult<()> {
        self.trade_ema_at = now;
        self.trade_ema = Some(match self.trade_ema {
            None => price,
            Some(ema) => {
                let step = mul_div(
                    price.micros() - ema.micros(),
                    self.params.trade_ema_alpha.raw(),
                    PPM_ONE,
                    Round::Floor,
                )?;
                Price::from_micros(ema.micros() + step)
            }
        });
        Ok(())
    }

    /// The premium of mark over a fresh oracle, in ppm of the oracle, if the oracle is fresh;
    /// rounded down and clamped to +/- [`limits::MAX_PREMIUM_PPM`] (see there why the clamp is
    /// safe: the rate is clamped far tighter when settled).
    ///
    /// In `i128`: a mark in the tens of millions of USD over an oracle print of a few
    /// micro-USD is a premium beyond `i64`. Prices are positive and at most
    /// `MAX_PRICE_MICROS` (1e15), so the product is at most 1e21 and cannot overflow `i128`.
    pub fn premium_ppm(&self, now: TimestampMs) -> Option<i64> {
        let oracle = self.fresh_oracle(now)?.micros().max(1) as i128;
        let diff = self.mark.micros() as i128 - oracle;
        let p = div_i128(diff * PPM_ONE as i128, oracle, Round::Floor).ok()?;
        let bound = limits::MAX_PREMIUM_PPM as i128;
        Some(p.clamp(-bound, bound) as i64)
    }

    /// The funding rate for the interval that ends now: the mean sampled premium, clamped.
    pub fn funding_rate(&self) -> Ppm {
        if self.premium_samples == 0 {
            return Ppm::ZERO;
        }
        let samples = self.premium_samples as i64;
        let mean = div_i64(self.premium_sum_ppm, samples, Round::Floor).unwrap_or(0);
        let clamp = self.params.funding_clamp.raw();
        Ppm::from_raw(mean.clamp(-clamp, clamp))
    }

    /// The price funding payments are computed at: the fresh oracle, else the mark.
    pub fn funding_price(&self, now: TimestampMs) -> Price {
        self.fresh_oracle(now).unwrap_or(self.mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::NewOrder;
    use crate::defence::SourceReading;
    use bulwark_core::{AccountId, MICROS_PER_UNIT};

    fn px(usd: i64) -> Price {
        Price::from_micros(usd * MICROS_PER_UNIT)
    }

    fn market() -> Market {
        let mut p = MarketParams::btc_like("BTC-PERP", px(100));
        p.impact_notional_usd = Usd::from_micros(150 * MICROS_PER_UNIT);
        p.lots_per_unit = 1;
        Market::new(MarketId(0), p, TimestampMs(0))
    }

    fn rest(m: &mut Market, seq: u64, side: Side, price: i64, qty: i64) {
        m.book.insert_new(
            seq,
            NewOrder {
                account: AccountId(0),
                side,
                price: px(price),
                qty: Qty::from_lots(qty),
                reduce_only: false,
            },
        );
    }

    #[test]
    fn mark_is_the_median_and_works_without_oracle() {
        let mut m = market();
        assert_eq!(
            m.compute_mark(TimestampMs(0)).0,
            px(100),
            "no inputs: keep the initial mark"
        );
        // Book: bids 99 x1, 98 x1; asks 101 x1, 103 x1. Impact notional 150 USD:
        // impact bid = 98 (99 + 98 = 197 >= 150), impact ask = 103 (101+103 >= 150). Mid 100.5.
        rest(&mut m, 1, Side::Buy, 99, 1);
        rest(&mut m, 2, Side::Buy, 98, 1);
        rest(&mut m, 3, Side::Sell, 101, 1);
        rest(&mut m, 4, Side::Sell, 103, 1);
        assert_eq!(m.impact_mid(), Some(Price::from_micros(100_500_000)));
        assert_eq!(
            m.compute_mark(TimestampMs(0)).0,
            Price::from_micros(100_500_000)
        );
        m.record_trade(px(110), TimestampMs(0)).unwrap(); // ok: a test
                                                          // Two inputs: mean of 100.5 and 110 = 105.25.
        assert_eq!(
            m.compute_mark(TimestampMs(0)).0,
            Price::from_micros(105_250_000)
        );
        m.defence.sources[0] = Some(SourceReading {
            price: px(102),
            confidence: Price::ZERO,
            published: TimestampMs(0),
        });
        // Three inputs: median of 102, 100.5, 110.
        assert_eq!(m.compute_mark(TimestampMs(1)).0, px(102));
        // The oracle and the trade EMA go stale after 60 s: the book alone is left.
        assert_eq!(
            m.compute_mark(TimestampMs(60_001)).0,
            Price::from_micros(100_500_000)
        );
    }

    #[test]
    fn a_stale_trade_ema_does_not_pull_the_mark() {
        // The bug this guards: with the oracle stale, a trade EMA from long before pulled the
        // mark halfway toward it (1,300 -> 1,558 in a lab run).
        let mut m = market();
        rest(&mut m, 1, Side::Buy, 1_299, 1);
        rest(&mut m, 2, Side::Sell, 1_301, 1);
        m.params.impact_notional_usd = Usd::from_micros(1_000 * MICROS_PER_UNIT);
        m.record_trade(px(1_816), TimestampMs(0)).unwrap(); // ok: a test
        assert_eq!(
            m.compute_mark(TimestampMs(30_000)).0,
            px(1_558),
            "fresh: the mean of book and EMA"
        );
        assert_eq!(
            m.compute_mark(TimestampMs(60_001)).0,
            px(1_300),
            "stale: the book alone"
        );
    }

    #[test]
    fn trade_ema_by_hand() {
        let mut m = market();
        m.record_trade(px(100), TimestampMs(0)).unwrap(); // ok: a test
        m.record_trade(px(110), TimestampMs(0)).unwrap(); // ok: a test; alpha 0.1: 100 + 1 = 101
        assert_eq!(m.trade_ema, Some(px(101)));
        m.record_trade(px(91), TimestampMs(0)).unwrap(); // ok: a test; 101 + 0.1 * (-10) = 100
        assert_eq!(m.trade_ema, Some(px(100)));
    }

    #[test]
    fn funding_rate_is_the_clamped_mean_premium() {
        let mut m = market();
        m.premium_sum_ppm = 3_000 + 5_000;
        m.premium_samples = 2;
        assert_eq!(m.funding_rate(), Ppm::from_raw(4_000));
        m.premium_sum_ppm = -20_000;
        m.premium_samples = 1;
        assert_eq!(m.funding_rate(), Ppm::from_raw(-7_500));
    }
}
