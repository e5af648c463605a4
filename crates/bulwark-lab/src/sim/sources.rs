//! Several oracle sources per market (`[[oracle.sources]]`), each its own feed with its own
//! failure: what price a source reports at a moment, with which confidence and which
//! publication time. The engine's oracle guard then judges them; the lab only makes them
//! fail the way real feeds do (a halted publisher, a frozen one, one that lags, drifts, or is
//! pushed by a manipulator on a thin venue, one that loses confidence).
//!
//! Also the driver's volatility estimate (`[volatility]`), which a live venue computes from
//! its own marks and the engine takes as a command.

use super::oracle::OracleFeed;
use crate::path::PricePath;
use crate::scenario::{OracleSourceSpec, SourceFailureMode, VolatilityFeed};

/// How long a manipulator takes to push a thin source to its full size, ms.
const PUSH_RAMP_MS: f64 = 60_000.0;

/// One source's report: what it says and when it says it observed it, plus when it really
/// observed it (a frozen source claims fresh timestamps; the lab's lag figures use the truth).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    pub price: f64,
    pub confidence_bp: f64,
    pub published_ms: u64,
    pub observed_ms: u64,
}

/// The state of one market's sources.
#[derive(Clone, Debug, Default)]
pub struct SourceFeeds {
    pub feeds: Vec<OracleFeed>,
    /// The price a frozen source repeats (set when its failure starts).
    frozen: Vec<Option<f64>>,
}

impl SourceFeeds {
    pub fn new(n: usize, first_price: f64, start_ms: u64) -> SourceFeeds {
        SourceFeeds {
            feeds: vec![OracleFeed::new(first_price, start_ms); n],
            frozen: vec![None; n],
        }
    }

    /// What source `k` would report at `now_ms`, if it reports at all (a stale source does
    /// not, nor does one whose feed has nothing new to post).
    pub fn report(
        &mut self,
        k: usize,
        spec: &OracleSourceSpec,
        path: &PricePath,
        start_ms: u64,
        now_ms: u64,
    ) -> Option<Report> {
        let failure = spec.failure.as_ref().filter(|f| {
            let from = start_ms + f.start_s * 1000;
            now_ms >= from && now_ms < from + f.duration_s * 1000
        });
        let mut lag_ms = spec.lag_s * 1000.0;
        let mut confidence_bp = spec.confidence_bp;
        let mut factor = 1.0;
        if failure.is_none() {
            self.frozen[k] = None;
        }
        if let Some(f) = failure {
            let elapsed_ms = (now_ms - (start_ms + f.start_s * 1000)) as f64;
            match f.mode {
                SourceFailureMode::Stale => return None,
                SourceFailureMode::Frozen => {
                    let price = *self.frozen[k].get_or_insert(self.feeds[k].last_posted());
                    return self.due(k, spec, now_ms, price).then_some(Report {
                        price,
                        confidence_bp,
                        published_ms: now_ms,
                        observed_ms: self.feeds[k].last_post_ms(),
                    });
                }
                SourceFailureMode::Lagging => lag_ms += f.extra_lag_s * 1000.0,
                SourceFailureMode::Divergent => {
                    let progress = (elapsed_ms / (f.duration_s as f64 * 1000.0)).min(1.0);
                    factor += f.size_bp / 1e4 * progress;
                }
                SourceFailureMode::Pushed => {
                    factor += f.size_bp / 1e4 * (elapsed_ms / PUSH_RAMP_MS).min(1.0);
                }
                SourceFailureMode::Uncertain => confidence_bp = f.size_bp,
            }
        }
        let observed_ms = now_ms.saturating_sub(lag_ms as u64).max(start_ms);
        let price = path.price_at(observed_ms) * factor;
        self.due(k, spec, now_ms, price).then_some(Report {
            price,
            confidence_bp,
            published_ms: observed_ms,
            observed_ms,
        })
    }

    fn due(&self, k: usize, spec: &OracleSourceSpec, now_ms: u64, price: f64) -> bool {
        self.feeds[k].due_with(now_ms, price, spec.deviation_bp, spec.heartbeat_s)
    }
}

/// EWMAs of the squared log returns per second of one market's mark.
#[derive(Clone, Debug, Default)]
pub struct VolEstimator {
    last: Option<(u64, f64)>,
    var_short: f64,
    var_long: f64,
}

impl VolEstimator {
    pub fn new(feed: &VolatilityFeed) -> VolEstimator {
        let var = feed.prior_sigma_1h * feed.prior_sigma_1h / 3_600.0;
        VolEstimator {
            last: None,
            var_short: var,
            var_long: var,
        }
    }

    /// Fold the mark `price` seen at `now_ms` (weights by elapsed time and half-life).
    pub fn observe(&mut self, now_ms: u64, price: f64, feed: &VolatilityFeed) {
        if let Some((t, p)) = self.last {
            let dt_s = now_ms.saturating_sub(t) as f64 / 1000.0;
            if dt_s > 0.0 && p > 0.0 && price > 0.0 {
                let r = libm::log(price / p);
                let sample = r * r / dt_s;
                let w = |hl: f64| 1.0 - libm::pow(0.5, dt_s / hl);
                self.var_short += w(feed.short_half_life_s) * (sample - self.var_short);
                self.var_long += w(feed.long_half_life_s) * (sample - self.var_long);
            }
        }
        self.last = Some((now_ms, price));
    }

    /// (short, long) one-hour standard deviations in ppm, within the engine's [0, 1e6].
    pub fn sigma_1h_ppm(&self) -> (i64, i64) {
        let ppm = |var: f64| (libm::sqrt(var.max(0.0) * 3_600.0) * 1e6).round().min(1e6) as i64;
        (ppm(self.var_short), ppm(self.var_long))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SourceFailure;

    fn flat(price: f64) -> PricePath {
        PricePath::new(0, 1_000, vec![price; 10_000]).unwrap()
    }

    fn spec(mode: SourceFailureMode, size_bp: f64) -> OracleSourceSpec {
        OracleSourceSpec {
            failure: Some(SourceFailure {
                mode,
                start_s: 100,
                duration_s: 600,
                size_bp,
                extra_lag_s: 0.0,
            }),
            ..OracleSourceSpec::default()
        }
    }

    #[test]
    fn failures_by_hand() {
        let path = flat(1_000.0);
        let mut s = SourceFeeds::new(1, 1_000.0, 0);
        // Before the failure: heartbeat 10 s, so a report at 10 s.
        let r = s.report(
            0,
            &spec(SourceFailureMode::Pushed, 2_000.0),
            &path,
            0,
            10_000,
        );
        assert_eq!(r.map(|r| r.price), Some(1_000.0));
        // Pushed: 30 s into it, half of +20%.
        let r = s
            .report(
                0,
                &spec(SourceFailureMode::Pushed, 2_000.0),
                &path,
                0,
                130_000,
            )
            .unwrap();
        assert!((r.price - 1_100.0).abs() < 1e-9, "{r:?}");
        // Stale: nothing.
        assert!(s
            .report(0, &spec(SourceFailureMode::Stale, 0.0), &path, 0, 200_000)
            .is_none());
        // Uncertain: the stated confidence (a heartbeat is due: 10 s after 130 s).
        let r = s
            .report(
                0,
                &spec(SourceFailureMode::Uncertain, 300.0),
                &path,
                0,
                140_000,
            )
            .unwrap();
        assert_eq!(r.confidence_bp, 300.0);
    }

    #[test]
    fn a_frozen_source_repeats_its_last_price_with_fresh_timestamps() {
        let mut prices = vec![1_000.0; 10_000];
        for p in prices.iter_mut().skip(100) {
            *p = 800.0;
        }
        let path = PricePath::new(0, 1_000, prices).unwrap();
        let mut s = SourceFeeds::new(1, 1_000.0, 0);
        let spec = spec(SourceFailureMode::Frozen, 0.0);
        s.feeds[0].posted(90_000, 1_000.0, false);
        let r = s.report(0, &spec, &path, 0, 100_000).unwrap();
        assert_eq!(
            (r.price, r.published_ms, r.observed_ms),
            (1_000.0, 100_000, 90_000)
        );
    }

    #[test]
    fn the_volatility_estimate_follows_the_returns() {
        let feed = VolatilityFeed {
            short_half_life_s: 60.0,
            long_half_life_s: 86_400.0,
            prior_sigma_1h: 0.01,
            ..VolatilityFeed::default()
        };
        let mut v = VolEstimator::new(&feed);
        assert_eq!(v.sigma_1h_ppm(), (10_000, 10_000));
        // Alternating 1% moves every second: per-second variance about 1e-4, so a one-hour
        // sigma of about 0.6; the short estimate gets there, the long one barely moves.
        let mut p = 1_000.0;
        for i in 0..3_600u64 {
            p *= if i % 2 == 0 { 1.01 } else { 1.0 / 1.01 };
            v.observe(i * 1_000, p, &feed);
        }
        let (short, long) = v.sigma_1h_ppm();
        assert!((590_000..=600_000).contains(&short), "{short}");
        assert!(long < 300_000 && long > 10_000, "{long}");
    }
}
