//! Prices and time: oracle prints, the mark, and the tick that samples funding premiums.

use super::*;
use crate::defence::SourceReading;
use crate::event::Event;
use crate::reject::Reject;
use bulwark_core::{div_floor_u64, MarketId, Price, TimestampMs};

impl Engine {
    pub(super) fn oracle_price(
        &mut self,
        market: MarketId,
        price: Price,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        let max = self.markets[mi].params.max_price;
        if !price.is_positive() {
            return Err(Reject::PriceNotPositive(price));
        }
        if price > max {
            return Err(Reject::PriceOutOfRange { price, max });
        }
        self.defence_mut(mi).sources[0] = Some(SourceReading {
            price,
            confidence: Price::ZERO,
            published: now,
        });
        self.events.push(Event::OraclePrice { market, price });
        self.after_price_input(mi, now, false)?;
        self.native_sweep()?;
        Ok(())
    }

    /// Recompute a market's mark (and the stable price, if on); on a change of the mark, emit
    /// it and re-check the pools whose triggers it crossed.
    pub(super) fn refresh_mark(&mut self, mi: usize, now: TimestampMs) -> Bounded {
        let m = &self.markets[mi];
        let (mark, inputs) = m.compute_mark(now);
        let sp = m.params.defences.stable_price;
        let stable = sp.enabled.then(|| match m.defence.stable {
            Some((s, at)) => (crate::defence::stable_next(&sp, s, at, mark, now), now),
            None => (mark, now),
        });
        if mark == m.mark && stable.map(|s| s.0) == m.defence.stable.map(|s| s.0) {
            if stable.is_some() {
                self.defence_mut(mi).stable = stable;
            }
            return Ok(());
        }
        let market = m.id;
        let old_mark = m.mark;
        let old_stable = m.defence.stable;
        self.market_mut(mi).mark = mark;
        if stable != old_stable {
            self.defence_mut(mi).stable = stable;
        }
        if mark != old_mark {
            self.events.push(Event::MarkPrice {
                market,
                mark,
                oracle: inputs.oracle,
                impact_mid: inputs.impact_mid,
                trade_ema: inputs.trade_ema,
            });
        }
        if mark == old_mark {
            // Only the stable price moved: it enters the initial checks alone, no flag.
            return Ok(());
        }
        self.recheck_after_move(mi, old_mark, mark)
    }

    pub(super) fn tick(&mut self, now: TimestampMs) -> Bounded {
        for mi in 0..self.markets.len() {
            self.step_margin_if_due(mi, now)?;
            self.after_price_input(mi, now, true)?;
            let m = &self.markets[mi];
            let premium = m.premium_ppm(now);
            let due = now.0 >= m.next_funding_ms;
            if premium.is_none() && !due {
                continue;
            }
            let m = self.market_mut(mi);
            if let Some(premium) = premium {
                if m.premium_samples < limits::MAX_PREMIUM_SAMPLES {
                    // Cannot saturate: at most MAX_PREMIUM_SAMPLES samples of at most
                    // MAX_PREMIUM_PPM each fit (a const assertion in `limits`).
                    m.premium_sum_ppm = m.premium_sum_ppm.saturating_add(premium);
                    m.premium_samples += 1;
                }
            }
            if due {
                // Missed intervals (a long gap between ticks) collapse into one settlement.
                // Timestamps are at most MAX_TIMESTAMP_MS and intervals at most a week, so the
                // next deadline fits `u64`; saturate rather than trust that here.
                let interval = m.params.funding_interval_ms.max(1);
                let behind = bounded(div_floor_u64(now.0 - m.next_funding_ms, interval))? + 1;
                m.next_funding_ms = m
                    .next_funding_ms
                    .saturating_add(behind.saturating_mul(interval));
                self.settle_funding(mi, now)?;
            }
        }
        self.native_sweep()
    }
}
