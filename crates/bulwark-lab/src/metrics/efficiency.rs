//! Capital efficiency: what the venue's protection costs the traders it protects. Defined once
//! here for every later comparison of settings (a defence that lowers tail loss by refusing
//! half the volume or doubling the margin is not free):
//!
//! - `margin_per_oi`: required initial margin summed over every open position, divided by open
//!   interest notional (one side), both time-averaged over the run. With a flat 10% initial
//!   margin and no size premium it is 0.2 (each lot of open interest has a long and a short
//!   holder, each posting 10%); a size premium, dynamic margin or a size-scaled requirement
//!   raise it.
//! - `volume_refused_share`: notional of orders the venue refused by its caps, bands and halts
//!   (position and order size limits, open-interest caps, the price band, halts and degraded
//!   mode) over the notional of every order submitted. A refusal for want of margin
//!   is the trader's own limit, not the venue's, and is not counted.
//! - `halted_s`: seconds during which orders could not reach the book freely: while the chain
//!   is halted, if orders go on chain, plus every circuit-breaker halt (full or reduce-only;
//!   a degraded oracle is reported apart, as `defences.degraded_s`).

use bulwark_engine::margin::{initial_usd, value_usd};
use bulwark_engine::{Engine, PlaceOrder, Reject};
use serde::Serialize;

/// How often the margin in force is summed, in simulated seconds. Summing every position is
/// the costly part (a pass over every account); every five minutes is plenty for a
/// time average over a run of hours and costs under 1% of the default run.
pub const MARGIN_SAMPLE_EVERY_S: u64 = 300;

/// What the run accumulates toward the three measures.
#[derive(Clone, Debug, Default)]
pub struct Efficiency {
    /// Sum over margin samples of the initial margin required by every open position, USD.
    im_sum_usd: f64,
    /// Sum over the same samples of open-interest notional at the mark (one side), USD.
    oi_sum_usd: f64,
    margin_samples: u64,
    submitted_usd: f64,
    refused_usd: f64,
    refused_orders: u64,
    pub halted_ms: u64,
}

/// The three measures, as summary.json reports them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CapitalEfficiency {
    /// Time-averaged required initial margin over time-averaged open-interest notional; 0 when
    /// nothing was ever open.
    pub margin_per_oi: f64,
    /// Notional refused by the venue's caps, bands and halts over notional submitted; 0 when
    /// nothing was submitted.
    pub volume_refused_share: f64,
    pub volume_submitted_usd: f64,
    pub volume_refused_usd: f64,
    pub orders_refused: u64,
    pub halted_s: f64,
    /// How many times the margin in force was summed (every [`MARGIN_SAMPLE_EVERY_S`]).
    pub margin_samples: u64,
}

/// Whether a refusal is the venue's protection at work (a cap, a band, a halt) rather than the
/// trader's own state (margin, collateral) or a malformed order.
pub fn refused_by_venue_limit(r: &Reject) -> bool {
    matches!(
        r,
        Reject::PositionLimit { .. }
            | Reject::QtyTooLarge { .. }
            | Reject::OutsidePriceBand { .. }
            | Reject::MarketHalted { .. }
            | Reject::MarketDegraded { .. }
            | Reject::OpenInterestCap { .. }
            | Reject::AccountOpenInterestCap { .. }
    )
}

impl Efficiency {
    /// An order was submitted: its notional at its limit price, or at the mark for a market
    /// order. `refused` is the engine's answer when it refused it.
    /// Returns the order's notional (0 in a market that does not exist).
    pub fn on_order(
        &mut self,
        order: &PlaceOrder,
        engine: &Engine,
        refused: Option<&Reject>,
    ) -> f64 {
        let Some(market) = engine.market(order.market) else {
            return 0.0;
        };
        let price = order.price.unwrap_or(market.mark);
        let notional = value_usd(order.qty, price, market.params.lots_per_unit)
            .map_or(0.0, |v| v.to_f64_lossy().abs());
        self.submitted_usd += notional;
        if refused.is_some_and(refused_by_venue_limit) {
            self.refused_usd += notional;
            self.refused_orders += 1;
        }
        notional
    }

    /// Sums the initial margin every open position requires at the mark, and the open
    /// interest, as one margin sample.
    pub fn sample_margin(&mut self, engine: &Engine) {
        let markets = engine.markets();
        let mut im_usd = 0.0;
        for account in engine.accounts() {
            for p in &account.positions {
                let Some(m) = markets.get(p.market.0 as usize) else {
                    continue;
                };
                let lots = m.params.lots_per_unit;
                let im = value_usd(p.qty, m.mark, lots)
                    .and_then(|v| v.checked_abs())
                    .and_then(|v| initial_usd(&m.params, v))
                    .map_or(0.0, |u| u.to_f64_lossy());
                im_usd += im;
            }
        }
        let oi_usd: f64 = markets
            .iter()
            .map(|m| {
                value_usd(m.open_interest, m.mark, m.params.lots_per_unit)
                    .map_or(0.0, |v| v.to_f64_lossy().abs())
            })
            .sum();
        self.im_sum_usd += im_usd;
        self.oi_sum_usd += oi_usd;
        self.margin_samples += 1;
    }

    pub fn summary(&self) -> CapitalEfficiency {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        CapitalEfficiency {
            margin_per_oi: ratio(self.im_sum_usd, self.oi_sum_usd),
            volume_refused_share: ratio(self.refused_usd, self.submitted_usd),
            volume_submitted_usd: self.submitted_usd,
            volume_refused_usd: self.refused_usd,
            orders_refused: self.refused_orders,
            halted_s: self.halted_ms as f64 / 1000.0,
            margin_samples: self.margin_samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_zero_without_a_denominator_and_divide_otherwise() {
        let mut e = Efficiency::default();
        assert_eq!(e.summary().margin_per_oi, 0.0);
        assert_eq!(e.summary().volume_refused_share, 0.0);
        e.im_sum_usd = 30.0;
        e.oi_sum_usd = 150.0;
        e.submitted_usd = 1_000.0;
        e.refused_usd = 250.0;
        e.halted_ms = 1_500;
        let s = e.summary();
        assert_eq!(s.margin_per_oi, 0.2);
        assert_eq!(s.volume_refused_share, 0.25);
        assert_eq!(s.halted_s, 1.5);
    }

    #[test]
    fn only_the_venues_own_limits_count_as_refused_volume() {
        use bulwark_engine::{Qty, Usd};
        assert!(refused_by_venue_limit(&Reject::PositionLimit {
            qty: Qty::from_lots(10),
            limit: Qty::from_lots(5)
        }));
        assert!(!refused_by_venue_limit(&Reject::InsufficientMargin {
            equity: Usd::ZERO,
            required: Usd::ZERO
        }));
    }
}
