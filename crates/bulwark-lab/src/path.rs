//! The outside ("fair") price path that the lab's oracle and arbitrageurs observe.
//!
//! A [`PricePath`] is a regular grid of positive `f64` prices. It is built either from
//! historical bars ([`path_from_bars`]), filling in the moves inside each bar and bridging
//! gaps in the data, or from a [`CalibratedShock`] that reproduces published facts about a
//! crash.
//!
//! Generators live in a module each and share one shape, [`LogIncrements`]: log-price moves
//! on a regular grid from a seeded ChaCha8 stream, with their float maths through `libm` so
//! a seed gives the same bits on any machine:
//! - [`Diffusion`]: driftless geometric Brownian motion;
//! - [`MertonJumps`] ([`merton`]): GBM with compound-Poisson log-normal jumps;
//! - [`Garch`] ([`garch`]): GARCH(1,1) with Student-t innovations at a stated bar;
//! - [`RegimeSwitching`] ([`regime`]): a calm/crisis Markov chain switching between two
//!   jump-diffusions, its regime series exposed;
//! - [`SelfExcitingJumps`] ([`jump`]): clustered jumps for the fast legs of a crash.
//!
//! Each of the last four has a maximum-likelihood fit (`fit` in its module, Nelder-Mead from
//! `optimize`, shared pieces in [`fitting`]). A [`CalibratedShock`] bridges moves through
//! published anchors; [`correlated_shocks`] drives several markets' shocks from jointly drawn
//! noise whose correlation rises toward one in the crisis, and [`correlated_regimes`] several
//! markets from one regime chain whose crises stress it ([`correlated`]). [`synthetic`] makes
//! a path from any of them and names the fitted presets a scenario picks.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use crate::data::{find_gaps, Bar, DataGap};

pub mod correlated;
pub mod draw;
pub mod fitting;
pub mod gaps;
pub mod garch;
pub mod jump;
pub mod merton;
pub(crate) mod optimize;
pub mod params;
pub mod regime;
mod shock;
pub mod stats;
pub mod synthetic;

pub use correlated::{correlated_regimes, correlated_shocks, Correlation, RegimeMarket};
pub use garch::Garch;
pub use jump::{JumpKind, SelfExcitingJumps};
pub use merton::MertonJumps;
pub use params::ParamProblem;
pub use regime::{RegimePath, RegimeSwitching, StartRegime};
pub use shock::{
    CalibratedShock, DailyFacts, Diffusion, FastLeg, ShockJumps, CRASH_DAY_WORST_10_MIN_SHARE,
    CRASH_DAY_WORST_HOUR_SHARE, DAY_MS,
};
pub use synthetic::{preset, Model, ModelKind, Preset, SyntheticPath, PRESET_NAMES};

/// A generator of log-price increments on a regular grid: `steps` moves of `step_ms` each,
/// drawn from `rng`. Every synthetic path is built from one or more of these.
pub trait LogIncrements {
    fn log_increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64>;
}

/// Prices from a first price and log increments: `start`, then `start * exp(x_0 + ... + x_k)`
/// for each `k`, through `libm` (the same bits on every machine).
pub fn prices_from_increments(start: f64, increments: &[f64]) -> Vec<f64> {
    let mut prices = Vec::with_capacity(increments.len() + 1);
    prices.push(start);
    let mut log = 0.0;
    for dx in increments {
        log += dx;
        prices.push(start * libm::exp(log));
    }
    prices
}

/// Upper bound on the samples one path may hold (160 MB of `f64`). A path longer than this is
/// almost always a step chosen too small for the window, e.g. 1 ms over eight years of bars.
pub const MAX_PATH_SAMPLES: usize = 20_000_000;

/// Milliseconds in a 365-day year: crypto trades every day, so vol is annualized over 365 days.
pub const MS_PER_YEAR: f64 = 365.0 * 24.0 * 3600.0 * 1000.0;

/// Size of the intrabar noise relative to the bar's range: the bridge noise accumulated over a
/// whole bar has a standard deviation of this share of `high - low`. Large enough that the path
/// is not a set of straight lines, small enough that clipping to the bar's range is rare.
const INTRABAR_NOISE_FRAC: f64 = 0.25;

/// Keeps bridge noise strictly inside a bar's range (by this share of the range), so that the
/// bar's high and low are reached only at their anchor samples.
const INTERIOR_MARGIN_FRAC: f64 = 1e-6;

/// Errors building or querying a price path. Messages say which input to change.
#[derive(Debug, Error, PartialEq)]
pub enum PathError {
    #[error("no bars given; load at least one bar before building a path")]
    NoBars,
    #[error("step_ms must be > 0")]
    ZeroStep,
    #[error("bar_ms must be > 0")]
    ZeroBarInterval,
    #[error(
        "cannot infer the bar interval from a single bar; call path_from_bars_with_interval \
         with the bar length in ms"
    )]
    CannotInferInterval,
    #[error("bar {index} (open time {open_time_ms} ms): field `{field}`: {problem}")]
    InvalidBar {
        index: usize,
        open_time_ms: u64,
        field: &'static str,
        problem: String,
    },
    #[error(
        "bar {index} opens at {open_time_ms} ms, before the previous bar ends at {prev_end_ms} \
         ms; bars must be in time order and no longer than bar_ms ({bar_ms} ms)"
    )]
    BarsOverlap {
        index: usize,
        open_time_ms: u64,
        prev_end_ms: u64,
        bar_ms: u64,
    },
    #[error(
        "the path would have {samples} samples, more than the limit of {max}; choose a larger \
         step_ms or a shorter window"
    )]
    TooManySamples { samples: u64, max: usize },
    #[error("a price path needs at least one price")]
    EmptyPath,
    #[error("price at index {index} is {price}; path prices must be finite and > 0")]
    BadPrice { index: usize, price: f64 },
    #[error("window_steps must be > 0")]
    ZeroWindow,
    #[error("shock parameter `{name}`: {problem}")]
    InvalidShock { name: &'static str, problem: String },
    #[error("correlation `{name}`: {problem}")]
    InvalidCorrelation { name: &'static str, problem: String },
    /// Parameters of a generator outside their ranges, every one listed.
    #[error("{model} parameter {}", params::describe(problems))]
    InvalidModel {
        model: &'static str,
        problems: Vec<ParamProblem>,
    },
}

/// Prices on a regular time grid: `prices[i]` is the price at `start_ms + i * step_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct PricePath {
    pub start_ms: u64,
    pub step_ms: u64,
    pub prices: Vec<f64>,
    /// Gaps in the data the path was built from, bridged (empty for synthetic paths).
    pub gaps: Vec<DataGap>,
}

impl PricePath {
    /// Builds a path after checking it is non-empty, has a positive step and only finite,
    /// positive prices.
    pub fn new(start_ms: u64, step_ms: u64, prices: Vec<f64>) -> Result<Self, PathError> {
        if step_ms == 0 {
            return Err(PathError::ZeroStep);
        }
        if prices.is_empty() {
            return Err(PathError::EmptyPath);
        }
        if let Some((index, &price)) = prices
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.is_finite() && **p > 0.0))
        {
            return Err(PathError::BadPrice { index, price });
        }
        Ok(Self {
            start_ms,
            step_ms,
            prices,
            gaps: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// Time of sample `index`, in ms.
    pub fn time_at(&self, index: usize) -> u64 {
        self.start_ms + index as u64 * self.step_ms
    }

    /// Time of the last sample, in ms (`start_ms` for an empty path).
    pub fn end_ms(&self) -> u64 {
        self.time_at(self.len().saturating_sub(1))
    }

    /// Index of the sample in force at `t_ms`: the last one at or before it, clamped to the
    /// path (times before the start map to the first sample, after the end to the last).
    pub fn index_at(&self, t_ms: u64) -> usize {
        let steps = t_ms.saturating_sub(self.start_ms) / self.step_ms;
        usize::try_from(steps)
            .unwrap_or(usize::MAX)
            .min(self.len().saturating_sub(1))
    }

    /// The price in force at `t_ms`, as a step function: the last sample at or before `t_ms`.
    ///
    /// A step function rather than interpolation because interpolating would let an observer
    /// at `t` see part of the next sample, i.e. the future; an oracle only ever knows the last
    /// price it saw. Panics on an empty path (constructors never make one).
    pub fn price_at(&self, t_ms: u64) -> f64 {
        assert!(!self.is_empty(), "price_at called on an empty PricePath");
        self.prices[self.index_at(t_ms)]
    }

    /// Lowest price and its index, `None` for an empty path.
    pub fn min_price(&self) -> Option<(usize, f64)> {
        self.extreme(|candidate, best| candidate < best)
    }

    /// Highest price and its index, `None` for an empty path.
    pub fn max_price(&self) -> Option<(usize, f64)> {
        self.extreme(|candidate, best| candidate > best)
    }

    /// First index that is better than all before it according to `better`.
    fn extreme(&self, better: impl Fn(f64, f64) -> bool) -> Option<(usize, f64)> {
        let mut iter = self.prices.iter().copied().enumerate();
        let first = iter.next()?;
        Some(iter.fold(
            first,
            |best, (i, p)| {
                if better(p, best.1) {
                    (i, p)
                } else {
                    best
                }
            },
        ))
    }
}

/// Builds a path from bars, inferring the bar length as the smallest gap between open times.
/// See [`path_from_bars_with_interval`] for how the inside of each bar is generated.
pub fn path_from_bars(bars: &[Bar], step_ms: u64, seed: u64) -> Result<PricePath, PathError> {
    let bar_ms = infer_bar_ms(bars)?;
    path_from_bars_with_interval(bars, bar_ms, step_ms, seed)
}

/// Smallest positive difference between consecutive open times.
pub fn infer_bar_ms(bars: &[Bar]) -> Result<u64, PathError> {
    if bars.is_empty() {
        return Err(PathError::NoBars);
    }
    bars.windows(2)
        .map(|w| w[1].open_time_ms.saturating_sub(w[0].open_time_ms))
        .filter(|&gap| gap > 0)
        .min()
        .ok_or(PathError::CannotInferInterval)
}

/// Builds a path from bars of length `bar_ms`, sampled every `step_ms`, reproducibly from `seed`.
///
/// Bar `i` covers `[open_time_ms, open_time_ms + bar_ms)`; the path has one sample for every
/// `start + k * step_ms` up to the end of the last bar. The samples that fall inside a bar form
/// its *segment*, and each segment with at least four samples:
/// - starts at `open` and ends at `close`;
/// - reaches `high` and `low` exactly, once each (except where the open or close equals them),
///   at sample positions drawn from the seed;
/// - visits the extremes in the order that makes the path shortest: high first in a down bar
///   (`close < open`), low first in an up bar, decided by the seed when `close == open`. That is
///   the conventional reading of a bar and avoids inventing extra swings;
/// - in between, follows a Brownian bridge between those anchors, kept strictly inside
///   `(low, high)`.
///
/// With fewer samples the segment keeps what fits, in priority order: three samples keep
/// open, the larger of the two wicks, close; two keep open and close; one keeps open; a bar
/// with no sample (step longer than the bar) is skipped. A step that does not divide the bar
/// gives segments of unequal lengths; each still follows the rules above.
///
/// Time between bars (an exchange outage, a hole in the archive) is bridged from the last
/// close to the next open by a log Brownian bridge with the local volatility of the bars
/// around it ([`gaps::local_vol_per_bar`]), drawn from a stream of its own (ChaCha8 stream 1
/// of the seed), so a gap changes nothing else in the path. The gaps are listed in
/// [`PricePath::gaps`].
pub fn path_from_bars_with_interval(
    bars: &[Bar],
    bar_ms: u64,
    step_ms: u64,
    seed: u64,
) -> Result<PricePath, PathError> {
    check_inputs(bars, bar_ms, step_ms)?;
    let start_ms = bars[0].open_time_ms;
    let span_ms = bars[bars.len() - 1].open_time_ms - start_ms + bar_ms;
    let total = span_ms.div_ceil(step_ms);
    if total > MAX_PATH_SAMPLES as u64 {
        return Err(PathError::TooManySamples {
            samples: total,
            max: MAX_PATH_SAMPLES,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gap_rng = ChaCha8Rng::seed_from_u64(seed);
    gap_rng.set_stream(1);
    let mut prices: Vec<f64> = Vec::with_capacity(total as usize);
    for (i, bar) in bars.iter().enumerate() {
        let offset_ms = bar.open_time_ms - start_ms;
        let first = offset_ms.div_ceil(step_ms) as usize;
        let end = (offset_ms + bar_ms).div_ceil(step_ms) as usize;
        if i > 0 && first > prices.len() {
            let sigma_bar = gaps::local_vol_per_bar(bars, i - 1, bar_ms);
            let sigma_step = sigma_bar * libm::sqrt(step_ms as f64 / bar_ms as f64);
            gaps::bridge_gap(&mut prices, first, bar.open, sigma_step, &mut gap_rng);
        }
        prices.extend(bar_segment(bar, end - first, &mut rng));
    }
    Ok(PricePath {
        start_ms,
        step_ms,
        prices,
        gaps: find_gaps(bars, bar_ms),
    })
}

fn check_inputs(bars: &[Bar], bar_ms: u64, step_ms: u64) -> Result<(), PathError> {
    if bars.is_empty() {
        return Err(PathError::NoBars);
    }
    if step_ms == 0 {
        return Err(PathError::ZeroStep);
    }
    if bar_ms == 0 {
        return Err(PathError::ZeroBarInterval);
    }
    for (index, bar) in bars.iter().enumerate() {
        bar.check()
            .map_err(|(field, problem)| PathError::InvalidBar {
                index,
                open_time_ms: bar.open_time_ms,
                field,
                problem,
            })?;
    }
    check_no_overlap(bars, bar_ms)
}

fn check_no_overlap(bars: &[Bar], bar_ms: u64) -> Result<(), PathError> {
    for (i, pair) in bars.windows(2).enumerate() {
        let prev_end_ms = pair[0].open_time_ms.saturating_add(bar_ms);
        if pair[1].open_time_ms < prev_end_ms {
            return Err(PathError::BarsOverlap {
                index: i + 1,
                open_time_ms: pair[1].open_time_ms,
                prev_end_ms,
                bar_ms,
            });
        }
    }
    Ok(())
}

/// The `n` samples of one bar's segment.
fn bar_segment(bar: &Bar, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let anchors = fit_anchors(bar_anchors(bar, rng), bar, n);
    if n <= anchors.len() {
        return anchors;
    }
    let positions = anchor_positions(anchors.len(), n, rng);
    let noise = IntrabarNoise::new(bar, n);
    let mut out = vec![0.0; n];
    for k in 0..anchors.len() - 1 {
        let (from, to) = (positions[k], positions[k + 1]);
        out[from] = anchors[k];
        noise.fill_bridge(&mut out[from..=to], anchors[k + 1], rng);
    }
    out
}

/// Open, the extremes in visiting order, close; an extreme equal to its neighbouring endpoint
/// is dropped because that endpoint already reaches it.
fn bar_anchors(bar: &Bar, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let high_first = if bar.close == bar.open {
        rng.gen::<bool>()
    } else {
        bar.close < bar.open
    };
    let (first, second) = if high_first {
        (bar.high, bar.low)
    } else {
        (bar.low, bar.high)
    };
    let mut anchors = vec![bar.open];
    if first != bar.open {
        anchors.push(first);
    }
    if second != bar.close {
        anchors.push(second);
    }
    anchors.push(bar.close);
    anchors
}

/// Drops anchors that do not fit in `n` samples, keeping open, then close, then the larger wick.
fn fit_anchors(anchors: Vec<f64>, bar: &Bar, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![bar.open],
        2 => vec![bar.open, bar.close],
        3 if anchors.len() > 3 => {
            let upper_wick = bar.high - bar.open.max(bar.close);
            let lower_wick = bar.open.min(bar.close) - bar.low;
            let wick = if upper_wick >= lower_wick {
                bar.high
            } else {
                bar.low
            };
            vec![bar.open, wick, bar.close]
        }
        _ => anchors,
    }
}

/// Sample positions of the anchors: the first at 0, the last at `n - 1`, interior anchors at
/// distinct random positions in between, in order.
fn anchor_positions(anchor_count: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let interior = anchor_count - 2;
    let mut picked: Vec<usize> = index::sample(rng, n - 2, interior)
        .into_iter()
        .map(|p| p + 1)
        .collect();
    picked.sort_unstable();
    let mut positions = Vec::with_capacity(anchor_count);
    positions.push(0);
    positions.extend(picked);
    positions.push(n - 1);
    positions
}

/// Brownian-bridge noise inside one bar, in price units, bounded to the bar's open range.
struct IntrabarNoise {
    sigma_per_step: f64,
    floor: f64,
    ceiling: f64,
}

impl IntrabarNoise {
    fn new(bar: &Bar, n: usize) -> Self {
        let range = bar.high - bar.low;
        let margin = range * INTERIOR_MARGIN_FRAC;
        Self {
            sigma_per_step: INTRABAR_NOISE_FRAC * range / (n as f64).sqrt(),
            floor: bar.low + margin,
            ceiling: bar.high - margin,
        }
    }

    /// Fills `seg[1..]` with a bridge from `seg[0]` to `target`, which lands on the last slot.
    fn fill_bridge(&self, seg: &mut [f64], target: f64, rng: &mut ChaCha8Rng) {
        let last = seg.len() - 1;
        for j in 1..last {
            // Sequential bridge: with `left` steps to go, the next point's mean moves 1/left of
            // the way to the target and its variance shrinks by (left-1)/left.
            let left = (last - j + 1) as f64;
            let mean = seg[j - 1] + (target - seg[j - 1]) / left;
            let sd = self.sigma_per_step * ((left - 1.0) / left).sqrt();
            let z = draw::standard_normal(rng);
            seg[j] = (mean + sd * z).max(self.floor).min(self.ceiling);
        }
        seg[last] = target;
    }
}

/// Rolling realized volatility, annualized over 365 days.
///
/// Entry `i` uses the `window_steps` log returns ending at sample `i + window_steps`, and is
/// `sqrt(mean(r^2) * steps_per_year)`: the realized-variance convention (no mean subtracted),
/// because at intraday steps the drift is noise. The result has `len - window_steps` entries
/// (none if the path is not longer than the window).
pub fn realized_vol_annualized(
    path: &PricePath,
    window_steps: usize,
) -> Result<Vec<f64>, PathError> {
    if window_steps == 0 {
        return Err(PathError::ZeroWindow);
    }
    // Prefix sums of squared log returns: all terms are >= 0, so differences of prefix sums
    // lose no meaningful precision, and each window costs O(1) instead of O(window).
    let mut prefix = Vec::with_capacity(path.len());
    prefix.push(0.0);
    for w in path.prices.windows(2) {
        let r = libm::log(w[1] / w[0]);
        prefix.push(prefix[prefix.len() - 1] + r * r);
    }
    let steps_per_year = MS_PER_YEAR / path.step_ms as f64;
    let vols = (window_steps..prefix.len())
        .map(|end| {
            let mean_sq = (prefix[end] - prefix[end - window_steps]) / window_steps as f64;
            (mean_sq.max(0.0) * steps_per_year).sqrt()
        })
        .collect();
    Ok(vols)
}

#[cfg(test)]
mod tests;
