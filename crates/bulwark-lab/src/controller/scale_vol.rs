//! The mark's volatility measured at the forecast's own time scale.
//!
//! The run's volatility estimate (`[volatility]`) averages squared returns of one step (1 to
//! 10 s) and scales them by time, which is right only when returns are uncorrelated. In a
//! cascade they are not: a crash falls hour after hour, and the per-second estimate then
//! under-states the hourly move (on the tuning crash, `scenarios/tune/march_2020.toml`, the
//! hourly moves were 2.7 of its one-hour sigmas in standard deviation). This estimator
//! measures moves over `window_s` itself, sampled every `sample_s` (overlapping windows, which
//! estimate the same variance with less noise than disjoint ones), in an EWMA of half-life
//! `half_life_s`. The forecast takes the larger of the two figures: the variance ratio of a
//! trending market is above one, and a forecast must not assume it away.

use std::collections::VecDeque;

/// One-hour sigma from moves over a window, sampled on a grid.
#[derive(Clone, Debug)]
pub struct ScaleVol {
    window_s: u64,
    sample_s: u64,
    half_life_s: u64,
    /// The marks at the last `window_s / sample_s + 1` samples, oldest first.
    marks: VecDeque<f64>,
    next_sample_ms: Option<u64>,
    /// EWMA of the squared window log return per second; `None` until a window is full.
    var_per_s: Option<f64>,
    /// EWMA of the window log return per second (the trend), on the same samples.
    drift_per_s: Option<f64>,
}

impl ScaleVol {
    /// `window_s` must be a positive multiple of `sample_s` (validated with the scenario).
    pub fn new(window_s: u64, sample_s: u64, half_life_s: u64) -> ScaleVol {
        ScaleVol {
            window_s,
            sample_s,
            half_life_s,
            marks: VecDeque::new(),
            next_sample_ms: None,
            var_per_s: None,
            drift_per_s: None,
        }
    }

    /// Fold the mark seen at `now_ms` (only on the sample grid; calls between are ignored).
    pub fn observe(&mut self, now_ms: u64, mark: f64) {
        if self.next_sample_ms.is_some_and(|t| now_ms < t) || !(mark > 0.0 && mark.is_finite()) {
            return;
        }
        self.next_sample_ms = Some(now_ms + self.sample_s * 1000);
        let span = (self.window_s / self.sample_s.max(1)) as usize;
        self.marks.push_back(mark);
        if self.marks.len() <= span {
            return;
        }
        while self.marks.len() > span + 1 {
            self.marks.pop_front();
        }
        let Some(&old) = self.marks.front() else {
            return;
        };
        let r = libm::log(mark / old);
        let sample = r * r / self.window_s as f64;
        let w = 1.0 - libm::pow(0.5, self.sample_s as f64 / self.half_life_s.max(1) as f64);
        self.var_per_s = Some(self.var_per_s.map_or(sample, |v| v + w * (sample - v)));
        let move_per_s = r / self.window_s as f64;
        self.drift_per_s = Some(
            self.drift_per_s
                .map_or(move_per_s, |d| d + w * (move_per_s - d)),
        );
    }

    /// The one-hour trend (mean log return over an hour), once a window has been seen.
    pub fn drift_1h(&self) -> Option<f64> {
        self.drift_per_s.map(|d| d * 3_600.0)
    }

    /// The one-hour sigma (a fraction), once a window has been seen.
    pub fn sigma_1h(&self) -> Option<f64> {
        self.var_per_s.map(|v| libm::sqrt(v * 3_600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: window 120 s sampled every 60 s, half-life 60 s (weight 1/2). Marks 100,
    /// 100, 110 at 0, 60, 120 s: the first full window (0 -> 120 s) is v = ln(1.1)^2 / 120
    /// per second. Then 121 at 180 s: the window 60 -> 180 s is 100 -> 121, ln(1.21)^2 / 120
    /// = 4v, so the EWMA is v + (4v - v) / 2 = 2.5v; 121 at 240 s: 110 -> 121 is v again,
    /// 1.75v; 121 at 300 s: no move, 0.875v. Calls between samples change nothing.
    #[test]
    fn moves_over_the_window_by_hand() {
        let mut s = ScaleVol::new(120, 60, 60);
        s.observe(0, 100.0);
        s.observe(30_000, 500.0);
        s.observe(60_000, 100.0);
        assert_eq!(s.sigma_1h(), None);
        s.observe(120_000, 110.0);
        let v = libm::log(1.1) * libm::log(1.1) / 120.0;
        let sigma = |var: f64| libm::sqrt(var * 3600.0);
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
        assert!(close(s.sigma_1h(), sigma(v)));
        s.observe(180_000, 121.0);
        assert!(close(s.sigma_1h(), sigma(2.5 * v)), "{:?}", s.sigma_1h());
        s.observe(240_000, 121.0);
        assert!(close(s.sigma_1h(), sigma(1.75 * v)), "{:?}", s.sigma_1h());
        s.observe(300_000, 121.0);
        assert!(close(s.sigma_1h(), sigma(0.875 * v)), "{:?}", s.sigma_1h());
    }

    /// A steady trend has no per-second noise but a window variance; a random walk's window
    /// estimate matches its per-second one.
    #[test]
    fn a_trend_shows_at_the_window_scale() {
        let mut v = ScaleVol::new(900, 60, 3_600);
        // -4% an hour, smoothly.
        for i in 0..600u64 {
            v.observe(
                i * 10_000,
                100.0 * libm::exp(-0.04 * i as f64 * 10.0 / 3600.0),
            );
        }
        let s = v.sigma_1h().unwrap();
        // A 900-s move of -1%: sqrt(0.01^2 / 900 * 3600) = 2% an hour.
        assert!((s - 0.02).abs() < 1e-9, "{s}");
        // And its trend: -1% per 900 s, -4% an hour.
        let d = v.drift_1h().unwrap();
        assert!((d + 0.04).abs() < 1e-9, "{d}");
    }

    #[test]
    fn bad_marks_are_skipped() {
        let mut v = ScaleVol::new(60, 60, 60);
        v.observe(0, f64::NAN);
        v.observe(0, 100.0);
        v.observe(60_000, 0.0);
        v.observe(60_000, 100.0);
        assert_eq!(v.sigma_1h(), Some(0.0));
    }
}
