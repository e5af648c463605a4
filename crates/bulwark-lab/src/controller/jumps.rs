//! The mark's jumps, read live: how often the mark moves by more than `threshold` of its own
//! recent one-sample sigmas, and by how much.
//!
//! The forecast's walk at the current volatility has no jumps: a crash's first gap after calm
//! hours lies outside every path (scenarios/README.md, "The risk controller's backtest"). This
//! estimator samples the mark every `sample_s` and calls a sample's log return a jump when it
//! exceeds `threshold` times the sigma of the returns that were not jumps (an EWMA of their
//! squares, so a jump does not raise the bar for the next). The jump rate is an EWMA of the
//! count over time (half-life `half_life_s`: a venue that has seen a cluster of gaps expects
//! more for a while), and the last [`MAX_SIZES`] jumps, signed, are the sizes the paths draw
//! from: a crash's gaps are mostly down, and a bootstrap keeps that.

use std::collections::VecDeque;

/// Jump sizes kept for the paths to draw from.
pub const MAX_SIZES: usize = 32;

/// Samples before the sigma is trusted (no jump is called before).
const WARM_UP_SAMPLES: u32 = 30;

#[derive(Clone, Debug)]
pub struct JumpLog {
    sample_s: u64,
    threshold: f64,
    half_life_s: u64,
    last_mark: Option<f64>,
    next_sample_ms: Option<u64>,
    samples: u32,
    /// EWMA of the squared log return of samples that were not jumps.
    var: f64,
    /// Jumps and seconds observed, both decayed by the half-life.
    jumps: f64,
    seconds: f64,
    sizes: VecDeque<f64>,
}

/// What the paths need: the chance of a jump in one path step and the sizes to draw from
/// (log returns; `n` of them, the rest unused), and a prior's jumps on top. `Copy`, as the
/// forecast's spec is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JumpSpec {
    /// Expected jumps an hour from the venue's own recent ones (0 or `n == 0`: none).
    pub rate_1h: f64,
    pub sizes: [f64; MAX_SIZES],
    pub n: usize,
    /// Expected jumps an hour that no recent history announces (0: none): a crash's first
    /// gap after calm hours, which the venue's own log cannot have seen.
    pub prior_rate_1h: f64,
    /// The mean size of a prior jump, a log return (> 0): each is up or down with equal
    /// chance, its size exponential with this mean.
    pub prior_mean_log: f64,
}

impl JumpSpec {
    pub const NONE: JumpSpec = JumpSpec {
        rate_1h: 0.0,
        sizes: [0.0; MAX_SIZES],
        n: 0,
        prior_rate_1h: 0.0,
        prior_mean_log: 0.0,
    };

    /// Expected jumps an hour the paths draw from the venue's own history (0 when it has
    /// kept no sizes to draw).
    pub fn drawn_observed_1h(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.rate_1h
        }
    }

    /// Expected jumps an hour the paths draw from the prior (0 when its size is not
    /// positive: a jump of nothing is no jump).
    pub fn drawn_prior_1h(&self) -> f64 {
        if self.prior_mean_log > 0.0 {
            self.prior_rate_1h
        } else {
            0.0
        }
    }
}

impl JumpLog {
    pub fn new(sample_s: u64, threshold: f64, half_life_s: u64) -> JumpLog {
        JumpLog {
            sample_s: sample_s.max(1),
            threshold,
            half_life_s: half_life_s.max(1),
            last_mark: None,
            next_sample_ms: None,
            samples: 0,
            var: 0.0,
            jumps: 0.0,
            seconds: 0.0,
            sizes: VecDeque::new(),
        }
    }

    /// Fold the mark seen at `now_ms` (only on the sample grid; calls between are ignored).
    pub fn observe(&mut self, now_ms: u64, mark: f64) {
        if self.next_sample_ms.is_some_and(|t| now_ms < t) || !(mark > 0.0 && mark.is_finite()) {
            return;
        }
        self.next_sample_ms = Some(now_ms + self.sample_s * 1000);
        let Some(last) = self.last_mark.replace(mark) else {
            return;
        };
        let r = libm::log(mark / last);
        let keep = libm::exp2(-(self.sample_s as f64) / self.half_life_s as f64);
        self.jumps *= keep;
        self.seconds = self.seconds * keep + self.sample_s as f64;
        let warm = self.samples >= WARM_UP_SAMPLES;
        if warm && r * r > self.threshold * self.threshold * self.var {
            self.jumps += 1.0;
            if self.sizes.len() == MAX_SIZES {
                self.sizes.pop_front();
            }
            self.sizes.push_back(r);
            return;
        }
        // The sigma's own EWMA: a tenth of the half-life, so it follows the regime while the
        // rate remembers the gaps.
        let w = 1.0 - libm::exp2(-10.0 * self.sample_s as f64 / self.half_life_s as f64);
        self.var = if self.samples == 0 {
            r * r
        } else {
            self.var + w * (r * r - self.var)
        };
        self.samples = self.samples.saturating_add(1);
    }

    /// The rate and sizes for the paths.
    pub fn spec(&self) -> JumpSpec {
        let mut spec = JumpSpec::NONE;
        if self.sizes.is_empty() || self.seconds <= 0.0 {
            return spec;
        }
        spec.rate_1h = self.jumps / self.seconds * 3600.0;
        for (slot, &size) in spec.sizes.iter_mut().zip(&self.sizes) {
            *slot = size;
        }
        spec.n = self.sizes.len();
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mark that moves +/-0.1% a minute for an hour, then drops 3% in one minute: one jump,
    /// its size the log of 0.97; the rate is one jump over the decayed seconds seen.
    #[test]
    fn a_gap_far_beyond_the_minute_sigma_is_a_jump_and_the_noise_is_not() {
        let mut j = JumpLog::new(60, 5.0, 86_400);
        let mut mark = 100.0;
        for k in 0..=60u64 {
            mark *= if k % 2 == 0 { 1.001 } else { 1.0 / 1.001 };
            j.observe(k * 60_000, mark);
        }
        assert_eq!(j.spec(), JumpSpec::NONE, "noise is no jump");
        j.observe(61 * 60_000, mark * 0.97);
        let s = j.spec();
        assert_eq!(s.n, 1);
        assert!((s.sizes[0] - libm::log(0.97)).abs() < 1e-12);
        // 61 samples of 60 s, decayed by at most 2^(-3660/86400): about one jump in 3,600 s.
        assert!((s.rate_1h - 3600.0 / j.seconds).abs() < 1e-12);
        assert!(s.rate_1h > 0.98 && s.rate_1h < 1.02, "{}", s.rate_1h);
        // Calls between samples change nothing.
        let before = j.spec();
        j.observe(61 * 60_000 + 1_000, mark * 0.5);
        assert_eq!(j.spec(), before);
    }

    #[test]
    fn no_jump_is_called_before_the_sigma_has_warmed_up() {
        let mut j = JumpLog::new(60, 5.0, 86_400);
        j.observe(0, 100.0);
        j.observe(60_000, 100.01);
        j.observe(120_000, 90.0);
        assert_eq!(j.spec(), JumpSpec::NONE);
    }
}
