//! The markets a run drives: for each, its outside price path, its oracle feed, the venue's
//! public mark feed, and what the lab watches of it step by step (mark against outside,
//! open interest). Market `i` of the run is the engine's `MarketId(i)`: `[market]` first,
//! then `more_markets` in order.

use bulwark_engine::{Engine, MarketId, Price};

use super::oracle::OracleFeed;
use super::sources::{SourceFeeds, VolEstimator};
use crate::agents::MarkHistory;
use crate::path::PricePath;

/// One market of the run.
#[derive(Debug)]
pub struct SimMarket {
    pub id: MarketId,
    pub symbol: String,
    /// The outside ("fair") price path.
    pub path: PricePath,
    pub tick_size: Price,
    pub lots_per_unit: i64,
    pub oracle: OracleFeed,
    /// `[[oracle.sources]]`: one feed per source (empty without them).
    pub sources: SourceFeeds,
    /// The driver's volatility estimate from the marks (`[volatility]`).
    pub vol: VolEstimator,
    /// The venue's public mark feed, which traders read.
    pub marks: MarkHistory,
    /// The mark when price triggers last fired.
    pub last_mark: Price,
    pub watch: MarketWatch,
}

/// What the lab watches of one market, step by step.
#[derive(Clone, Debug, Default)]
pub struct MarketWatch {
    pub steps: u64,
    pub dev_max_bp: f64,
    pub dev_sum_bp: f64,
    /// Oracle updates the venue accepted.
    pub oracle_updates: u64,
    /// Largest open interest seen at a step: lots, and its notional at the mark then.
    pub oi_max_lots: i64,
    pub oi_max_usd: f64,
}

impl SimMarket {
    pub fn new(
        id: MarketId,
        symbol: String,
        path: PricePath,
        tick_size: Price,
        lots_per_unit: i64,
        step_ms: u64,
    ) -> SimMarket {
        let start_ms = path.start_ms;
        SimMarket {
            id,
            symbol,
            path,
            tick_size,
            lots_per_unit,
            oracle: OracleFeed::default(),
            sources: SourceFeeds::default(),
            vol: VolEstimator::default(),
            marks: MarkHistory::new(start_ms, step_ms),
            last_mark: Price::ZERO,
            watch: MarketWatch::default(),
        }
    }

    /// The mark now, in USD (0 before the market exists).
    pub fn mark(&self, engine: &Engine) -> f64 {
        self.mark_price(engine).to_f64_lossy()
    }

    pub fn mark_price(&self, engine: &Engine) -> Price {
        engine.market(self.id).map_or(Price::ZERO, |m| m.mark)
    }

    /// The new mark if it changed since the last call.
    pub fn mark_moved(&mut self, engine: &Engine) -> Option<Price> {
        let mark = self.mark_price(engine);
        (mark != self.last_mark).then(|| {
            self.last_mark = mark;
            mark
        })
    }

    /// One engine step: the mark joins the public feed, the watch reads the market.
    pub fn on_step(&mut self, engine: &Engine, outside: f64) -> f64 {
        let mark = self.mark(engine);
        self.marks.marks.push(mark);
        let w = &mut self.watch;
        w.steps += 1;
        if outside > 0.0 {
            let dev = (mark / outside - 1.0).abs() * 1e4;
            w.dev_max_bp = w.dev_max_bp.max(dev);
            w.dev_sum_bp += dev;
        }
        let oi = engine.market(self.id).map_or(0, |m| m.open_interest.lots());
        if oi > w.oi_max_lots {
            w.oi_max_lots = oi;
            w.oi_max_usd = oi as f64 / self.lots_per_unit as f64 * mark;
        }
        mark
    }

    pub fn dev_mean_bp(&self) -> f64 {
        if self.watch.steps == 0 {
            0.0
        } else {
            self.watch.dev_sum_bp / self.watch.steps as f64
        }
    }
}
