//! The proactive circuit breaker: halt a market before a cascade reaches the liquidation layer.
//!
//! The halt and divergence breakers react to a move that has happened. This one predicts: at
//! each check it asks the recheck index which positions a further move of `move_ppm` would put
//! below maintenance (`Engine::liquidation_at_risk`, confirmed pool by pool at the moved mark)
//! and compares their notional with what the book could absorb within the same move. A fall
//! liquidates longs into the bids, a rise shorts into the asks; when the notional at risk on
//! either side exceeds `max_ratio` times that side's depth (and `min_at_risk_usd`), the
//! liquidations the move would set off would walk through the book and push the price on, the
//! start of a cascade, and the market halts with the prediction as its reason.

use super::*;
use crate::book::Side;
use crate::defence::{self, Halt, HaltReason, ProactiveBreaker};
use crate::event::Event;
use crate::margin;
use crate::market::Market;
use bulwark_core::{Price, TimestampMs, Usd, PPM_ONE};

/// One side's prediction: a move, what it would liquidate, and the depth against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CascadeRisk {
    /// The move assumed (ppm of the mark; negative: down).
    pub move_ppm: i64,
    pub pools: u64,
    pub at_risk_usd: Usd,
    /// Resting notional between the best price and the moved mark on the side the
    /// liquidations would hit.
    pub depth_usd: Usd,
}

impl CascadeRisk {
    /// Whether the prediction trips a breaker with these parameters.
    pub fn trips(&self, p: &ProactiveBreaker) -> bool {
        if self.at_risk_usd < p.min_at_risk_usd || self.at_risk_usd.is_zero() {
            return false;
        }
        // at_risk > ratio x depth, in i128: both at most 1e12 USD (1e18 micro-USD) x 1e9 ppm.
        let lhs = self.at_risk_usd.micros() as i128 * PPM_ONE as i128;
        let rhs = self.depth_usd.micros() as i128 * p.max_ratio.raw() as i128;
        lhs > rhs
    }
}

impl Engine {
    /// The cascade risk of a move of `market`'s mark by `move_ppm` (negative: down): what
    /// `liquidation_at_risk` finds, against the book's depth within the move on the side the
    /// liquidations would trade into. A query: changes nothing.
    pub fn cascade_risk(&self, market: MarketId, move_ppm: i64) -> Result<CascadeRisk, Reject> {
        let at = self.liquidation_at_risk(market, move_ppm)?;
        let m = &self.markets[self.market_index(market)?];
        // A fall liquidates longs by selling: into the bids down to the moved mark.
        let side = if move_ppm < 0 { Side::Buy } else { Side::Sell };
        let depth_usd = depth_within(m, side, at.price)?;
        Ok(CascadeRisk {
            move_ppm,
            pools: at.pools,
            at_risk_usd: at.notional_usd,
            depth_usd,
        })
    }

    /// At a tick: judge the market if the breaker is on, no halt is in force and its last
    /// check is at least `check_ms` old; halt it if either side's prediction trips.
    pub(super) fn evaluate_proactive(&mut self, mi: usize, now: TimestampMs) -> Bounded {
        let m = &self.markets[mi];
        let p = m.params.defences.proactive;
        if !p.enabled || m.defence.halt.is_some() {
            return Ok(());
        }
        if let Some(last) = m.defence.proactive_checked {
            if now.saturating_sub_ms(last) < p.check_ms {
                return Ok(());
            }
        }
        let market = m.id;
        let move_ppm = defence::proactive_move_ppm(&p, m.defence.volatility);
        self.defence_mut(mi).proactive_checked = Some(now);
        let Some(risk) = self.worst_cascade_risk(market, move_ppm) else {
            return Ok(());
        };
        if !risk.trips(&p) {
            return Ok(());
        }
        let reason = HaltReason::Cascade {
            move_ppm: risk.move_ppm,
            pools: risk.pools,
            at_risk_usd: risk.at_risk_usd,
            depth_usd: risk.depth_usd,
        };
        let until = TimestampMs(now.0.saturating_add(p.cooldown_ms));
        self.defence_mut(mi).halt = Some(Halt {
            reason,
            mode: p.mode,
            liquidations: p.liquidations,
            started: now,
            until,
        });
        self.events.push(Event::HaltStarted {
            market,
            reason,
            mode: p.mode,
            liquidations: p.liquidations,
            until,
        });
        Ok(())
    }

    /// The side whose prediction is worse (the larger ratio of notional at risk to depth;
    /// ties: the fall), or `None` when neither move puts anything at risk. A side whose query
    /// fails (an arithmetic bound: notional beyond the engine's range) predicts nothing.
    fn worst_cascade_risk(&self, market: MarketId, move_ppm: i64) -> Option<CascadeRisk> {
        let mut worst: Option<CascadeRisk> = None;
        for signed in [-move_ppm, move_ppm] {
            let Ok(r) = self.cascade_risk(market, signed) else {
                continue;
            };
            if r.at_risk_usd.is_zero() {
                continue;
            }
            let worse = worst.is_none_or(|w| ratio_gt(&r, &w));
            if worse {
                worst = Some(r);
            }
        }
        worst
    }
}

/// a's notional at risk over its depth exceeds b's (cross-multiplied; an empty side is
/// infinitely thin).
fn ratio_gt(a: &CascadeRisk, b: &CascadeRisk) -> bool {
    let (an, ad) = (a.at_risk_usd.micros() as i128, a.depth_usd.micros() as i128);
    let (bn, bd) = (b.at_risk_usd.micros() as i128, b.depth_usd.micros() as i128);
    // an/ad > bn/bd  <=>  an x bd > bn x ad (depths >= 0; both at most 1e18, so i128 holds it).
    an * bd > bn * ad
}

/// Resting notional of one side of the book from its best price through `limit` (inclusive),
/// each level at its own price, rounded down.
fn depth_within(m: &Market, side: Side, limit: Price) -> Result<Usd, Reject> {
    let mut total = Usd::ZERO;
    for (price, qty, _) in m.book.levels(side) {
        let beyond = match side {
            Side::Buy => price < limit,
            Side::Sell => price > limit,
        };
        if beyond {
            break;
        }
        let notional = margin::fill_notional_usd(qty, price, m.params.lots_per_unit)?;
        total = total.checked_add(notional)?;
    }
    Ok(total)
}
