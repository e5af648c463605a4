//! Bridging gaps in historical data: from the last close before a gap to the first open after
//! it, a Brownian bridge in log price whose volatility is the data's own around the gap.
//!
//! Holding the last close (what a stale oracle shows) would make a gap a flat line: market
//! makers would see no volatility and quote full depth into what was, in the real market,
//! a blind stretch. The bridge keeps the move the data does show (close to open) and spreads
//! it with the noise the neighbouring bars had.

use rand_chacha::ChaCha8Rng;

use super::draw::standard_normal;
use crate::data::Bar;

/// Bars on each side of a gap whose returns give its local volatility: half an hour of
/// one-minute bars, enough returns for a stable estimate, near enough to be local.
pub const LOCAL_VOL_BARS: usize = 30;

/// Standard deviation of one bar's log return near the gap after bar `before`: the root mean
/// square of the close-to-close returns of up to [`LOCAL_VOL_BARS`] adjacent bars on each side
/// (pairs separated by another gap are skipped). With fewer than two such returns, the
/// Parkinson estimate from the high-low ranges of the two bars beside the gap,
/// `ln(high / low)^2 / (4 ln 2)`.
pub fn local_vol_per_bar(bars: &[Bar], before: usize, bar_ms: u64) -> f64 {
    let adjacent = |i: usize| bars[i + 1].open_time_ms == bars[i].open_time_ms + bar_ms;
    let lo = before.saturating_sub(LOCAL_VOL_BARS);
    let hi = (before + 1 + LOCAL_VOL_BARS).min(bars.len() - 1);
    let returns: Vec<f64> = (lo..hi)
        .filter(|&i| i != before && adjacent(i))
        .map(|i| libm::log(bars[i + 1].close / bars[i].close))
        .collect();
    if returns.len() >= 2 {
        let mean_sq = returns.iter().map(|r| r * r).sum::<f64>() / returns.len() as f64;
        return libm::sqrt(mean_sq);
    }
    let parkinson = |b: &Bar| {
        let r = libm::log(b.high / b.low);
        r * r / (4.0 * std::f64::consts::LN_2)
    };
    libm::sqrt((parkinson(&bars[before]) + parkinson(&bars[before + 1])) / 2.0)
}

/// Appends samples to `prices` until it holds `until` of them, on a log Brownian bridge from
/// its last price to `target` (which the caller writes at index `until`): with `m` steps from
/// the last sample to the target, `X_k = a + (b - a) k/m + sigma (W_k - (k/m) W_m)`.
pub fn bridge_gap(
    prices: &mut Vec<f64>,
    until: usize,
    target: f64,
    sigma_per_step: f64,
    rng: &mut ChaCha8Rng,
) {
    let Some(&last) = prices.last() else {
        return;
    };
    let start = prices.len() - 1;
    if until <= start + 1 {
        return;
    }
    let m = until - start;
    let (a, b) = (libm::log(last), libm::log(target));
    let mut walk = Vec::with_capacity(m);
    let mut w = 0.0;
    for _ in 0..m {
        w += sigma_per_step * standard_normal(rng);
        walk.push(w);
    }
    let end = walk[m - 1];
    for (k, w) in walk.iter().enumerate().take(m - 1) {
        let frac = (k + 1) as f64 / m as f64;
        prices.push(libm::exp(a + (b - a) * frac + w - frac * end));
    }
}
