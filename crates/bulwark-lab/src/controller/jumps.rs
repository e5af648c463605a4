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
//!
//! **Gaps, learned.** The same log counts the jumps of at least `gap_log` (an absolute log
//! return: a gap of the market's size, not of the calm minute's) over the same decayed time,
//! and [`JumpLog::gap_rate_per_day`] turns a prior rate of gaps into the rate this venue's own
//! history supports: a Gamma prior on the rate, Poisson counts (conjugate, so the posterior
//! mean is the prior's pseudo-count plus the gaps seen, over the prior's pseudo-days plus the
//! days seen).

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
    /// The smallest jump counted as a gap (a log return; `f64::INFINITY`: none is).
    gap_log: f64,
    /// Gaps observed, decayed as `jumps` is.
    gaps: f64,
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
        JumpLog::counting_gaps(sample_s, threshold, half_life_s, f64::INFINITY)
    }

    /// A log that also counts the jumps of at least `gap_log` in absolute log return as
    /// gaps ([`JumpLog::gap_rate_per_day`]).
    pub fn counting_gaps(sample_s: u64, threshold: f64, half_life_s: u64, gap_log: f64) -> JumpLog {
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
            gap_log,
            gaps: 0.0,
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
        self.gaps *= keep;
        self.seconds = self.seconds * keep + self.sample_s as f64;
        let warm = self.samples >= WARM_UP_SAMPLES;
        if warm && r * r > self.threshold * self.threshold * self.var {
            self.jumps += 1.0;
            if r.abs() >= self.gap_log {
                self.gaps += 1.0;
            }
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

    /// The rate of gaps a day this venue's history supports, given a prior of
    /// `prior_per_day` gaps a day whose sizes are exponential with mean `mean_log` and which
    /// weighs as much as `prior_days` days of history (> 0).
    ///
    /// Only gaps of at least `gap_log` are seen as such (smaller ones hide in the noise), and
    /// a share `exp(-gap_log / mean_log)` of the prior's gaps is that large. So the rate of
    /// gaps that large is learned: its Gamma prior has mean `prior_per_day x tail` and weighs
    /// `prior_days`; after `n` such gaps in `t` days (both decayed by the half-life, so the
    /// rate follows the regime) its posterior mean is `(prior_per_day x tail x prior_days +
    /// n) / (prior_days + t)`; and every gap's rate is that over `tail`.
    pub fn gap_rate_per_day(&self, prior_per_day: f64, mean_log: f64, prior_days: f64) -> f64 {
        let tail = libm::exp(-self.gap_log / mean_log);
        if !(tail > 0.0 && prior_days > 0.0) {
            // No gap could ever be seen: nothing to learn from.
            return prior_per_day;
        }
        let seen_days = self.seconds / 86_400.0;
        (prior_per_day * tail * prior_days + self.gaps) / (prior_days + seen_days) / tail
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

    /// A calm hour (noise of 0.1% a minute), then three drops of 2% a few minutes apart
    /// and one of 0.8%: all four are jumps, three of them gaps of at least 1%. With a prior of
    /// 0.5 gaps a day of mean 3% weighing one day, a share `exp(-1/3)` of the prior's gaps
    /// is 1% or more; by hand, after the calm hour alone the rate is `0.5 x 1 / (1 +
    /// t)` (no gap seen in t days lowers it), and after the drops `(0.5 x tail + 3) / (1 + t)
    /// / tail`.
    #[test]
    fn gaps_seen_raise_the_learned_rate_and_calm_days_lower_it() {
        let mut j = JumpLog::counting_gaps(60, 5.0, 86_400, 0.01);
        let mut mark = 100.0;
        let mut k = 0u64;
        let mut step = |j: &mut JumpLog, factor: f64, mark: &mut f64| {
            *mark *= factor;
            j.observe(k * 60_000, *mark);
            k += 1;
        };
        for i in 0..=60 {
            step(
                &mut j,
                if i % 2 == 0 { 1.001 } else { 1.0 / 1.001 },
                &mut mark,
            );
        }
        let tail = libm::exp(-0.01 / 0.03);
        let days = j.seconds / 86_400.0;
        let calm = j.gap_rate_per_day(0.5, 0.03, 1.0);
        assert!((calm - 0.5 / (1.0 + days)).abs() < 1e-12, "{calm}");
        assert!(calm < 0.5);
        for factor in [0.98, 1.001, 0.98, 1.0 / 1.001, 0.98, 1.001, 0.992] {
            step(&mut j, factor, &mut mark);
        }
        assert_eq!(j.spec().n, 4, "four jumps");
        // Three gaps, each decayed by at most 7 minutes of a one-day half-life.
        assert!(j.gaps > 2.99 && j.gaps <= 3.0, "{}", j.gaps);
        let days = j.seconds / 86_400.0;
        let want = (0.5 * tail + j.gaps) / (1.0 + days) / tail;
        let learned = j.gap_rate_per_day(0.5, 0.03, 1.0);
        assert!((learned - want).abs() < 1e-12, "{learned} against {want}");
        assert!(
            learned > 4.0,
            "three gaps in an hour make a gappy venue: {learned}"
        );
        // A heavier prior learns less; a log that counts no gaps learns nothing.
        assert!(j.gap_rate_per_day(0.5, 0.03, 100.0) < learned);
        let blind = JumpLog::new(60, 5.0, 86_400);
        assert_eq!(blind.gap_rate_per_day(0.5, 0.03, 1.0), 0.5);
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
