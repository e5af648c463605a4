//! The oracle feed: a push oracle that posts the outside price when it moved `deviation_bp`
//! since the last post or `heartbeat_s` passed, one update in flight at a time.

use crate::scenario::OracleParams;

#[derive(Clone, Debug, Default)]
pub struct OracleFeed {
    last_posted: f64,
    last_post_ms: u64,
    /// An update is on its way through the chain.
    pending: bool,
    /// When the price now on the venue was observed outside.
    on_venue_observed_ms: u64,
}

impl OracleFeed {
    /// A feed whose first post, `price`, is on the venue at `start_ms`.
    pub fn new(price: f64, start_ms: u64) -> OracleFeed {
        OracleFeed {
            last_posted: price,
            last_post_ms: start_ms,
            pending: false,
            on_venue_observed_ms: start_ms,
        }
    }

    /// Whether the feed posts `price` at `now_ms`.
    pub fn due(&self, now_ms: u64, price: f64, p: &OracleParams) -> bool {
        self.due_with(now_ms, price, p.deviation_bp, p.heartbeat_s)
    }

    /// Whether a feed with this deviation threshold and heartbeat posts `price` at `now_ms`.
    pub fn due_with(&self, now_ms: u64, price: f64, deviation_bp: f64, heartbeat_s: u64) -> bool {
        let moved_bp = (price / self.last_posted - 1.0).abs() * 1e4;
        let heartbeat = now_ms.saturating_sub(self.last_post_ms) >= heartbeat_s * 1000;
        !self.pending && (moved_bp >= deviation_bp || heartbeat)
    }

    /// The last price posted, and when.
    pub fn last_posted(&self) -> f64 {
        self.last_posted
    }

    pub fn last_post_ms(&self) -> u64 {
        self.last_post_ms
    }

    /// The feed posted `price` at `now_ms`; `in_flight` when it goes through the chain.
    pub fn posted(&mut self, now_ms: u64, price: f64, in_flight: bool) {
        self.last_posted = price;
        self.last_post_ms = now_ms;
        self.pending = in_flight;
    }

    /// The update reached the venue (or failed to): nothing is in flight any more.
    pub fn arrived(&mut self) {
        self.pending = false;
    }

    /// The venue accepted a price observed outside at `observed_ms`.
    pub fn accepted(&mut self, observed_ms: u64) {
        self.on_venue_observed_ms = observed_ms;
    }

    /// Age of the outside observation behind the venue's price, ms.
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.on_venue_observed_ms)
    }
}
