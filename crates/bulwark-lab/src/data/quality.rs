//! Two checks a replay needs beyond each bar's own OHLC rules, kept apart from loading so
//! each says plainly what it found:
//! - **spacing**: bars open on one regular grid (missing bars are allowed: whole multiples of
//!   the interval). A bar whose time is shifted (30 s in a file of minutes) would otherwise
//!   halve the inferred interval and flatten half the path;
//! - **whole-body bad prints**: a bar whose open or close lies far from its neighbours (a
//!   1e-7 or 1e9 print). Wick clipping cannot see them: their wicks are short.

use std::collections::BTreeMap;

use thiserror::Error;

use super::Bar;

/// Suggested `outlier_frac`: a body price more than 50% away from the median close of its
/// neighbours (half or double, in log terms alike). The worst real moves stay well inside: on
/// the daily bars of 12 March 2020 the close was 30% below its neighbours' median, and a
/// minute bar's body moves with the minute around it.
pub const DEFAULT_OUTLIER_FRAC: f64 = 0.5;

/// Bars on either side whose closes make a bar's reference price.
pub const OUTLIER_NEIGHBOURS: usize = 5;

/// What the checks found.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum QualityError {
    #[error(
        "only {bars} bar(s): the bar interval is the most common gap between open times and \
         needs at least two bars"
    )]
    TooFewBars { bars: usize },
    #[error(
        "bar {number} opens at {open_time_ms} ms, {offset_ms} ms off the grid of {bar_ms} ms \
         bars that the others follow (the interval is the most common gap between open \
         times); fix its open time in the file"
    )]
    OffGrid {
        /// 1-based position among the bars.
        number: usize,
        open_time_ms: u64,
        bar_ms: u64,
        /// How far past the grid, in (0, bar_ms).
        offset_ms: u64,
    },
    #[error(
        "{} whole-body bad print(s), e.g. bar {} at {} ms: {} against {} nearby (beyond the \
         outlier_frac of {}); fix the file, raise `outlier_frac`, or set \
         `outlier_bars = \"drop\"` to remove them (reported)",
        bars.len(), bars[0].number, bars[0].open_time_ms, bars[0].price, bars[0].reference, frac
    )]
    Outliers { bars: Vec<Outlier>, frac: f64 },
}

/// A bar whose body lies far from its neighbours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlier {
    /// 0-based index among the bars.
    pub index: usize,
    /// 1-based position, for messages.
    pub number: usize,
    pub open_time_ms: u64,
    /// Its open or close, whichever is further from the reference.
    pub price: f64,
    /// The median close of its neighbours.
    pub reference: f64,
}

/// The most common value (ties: the smallest).
fn mode(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|&(_, n)| n == best).map(|(v, _)| v)
}

/// The bar interval: the most common gap between consecutive open times, after checking
/// that every bar opens on the grid most bars follow. Bars must be in strictly increasing
/// time order (the loaders guarantee it).
pub fn bar_interval(bars: &[Bar]) -> Result<u64, QualityError> {
    let gaps = bars
        .windows(2)
        .map(|w| w[1].open_time_ms.saturating_sub(w[0].open_time_ms))
        .filter(|&g| g > 0);
    let bar_ms = mode(gaps).ok_or(QualityError::TooFewBars { bars: bars.len() })?;
    let phase = mode(bars.iter().map(|b| b.open_time_ms % bar_ms)).unwrap_or(0);
    for (i, b) in bars.iter().enumerate() {
        let offset_ms = (b.open_time_ms % bar_ms + bar_ms - phase) % bar_ms;
        if offset_ms != 0 {
            return Err(QualityError::OffGrid {
                number: i + 1,
                open_time_ms: b.open_time_ms,
                bar_ms,
                offset_ms,
            });
        }
    }
    Ok(bar_ms)
}

/// How far apart two positive prices are: `1 - smaller / larger` (0.5 for half or double).
fn apart(a: f64, b: f64) -> f64 {
    1.0 - a.min(b) / a.max(b)
}

/// Bars whose open or close lies more than `frac` from the median close of up to
/// [`OUTLIER_NEIGHBOURS`] bars on either side (at least two neighbours are needed).
pub fn body_outliers(bars: &[Bar], frac: f64) -> Vec<Outlier> {
    let mut out = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        let from = i.saturating_sub(OUTLIER_NEIGHBOURS);
        let to = (i + OUTLIER_NEIGHBOURS + 1).min(bars.len());
        let mut closes: Vec<f64> = (from..to)
            .filter(|&j| j != i)
            .map(|j| bars[j].close)
            .collect();
        if closes.len() < 2 {
            continue;
        }
        closes.sort_by(f64::total_cmp);
        // The median: the middle one, or the mean of the middle two.
        let n = closes.len();
        let reference = (closes[(n - 1) / 2] + closes[n / 2]) / 2.0;
        let worst = if apart(b.open, reference) >= apart(b.close, reference) {
            b.open
        } else {
            b.close
        };
        if apart(worst, reference) > frac {
            out.push(Outlier {
                index: i,
                number: i + 1,
                open_time_ms: b.open_time_ms,
                price: worst,
                reference,
            });
        }
    }
    out
}

/// `bars` without the outliers.
pub fn drop_outliers(bars: &[Bar], outliers: &[Outlier]) -> Vec<Bar> {
    let mut skip = outliers.iter().map(|o| o.index).peekable();
    let mut kept = Vec::with_capacity(bars.len() - outliers.len());
    for (i, b) in bars.iter().enumerate() {
        if skip.peek() == Some(&i) {
            skip.next();
        } else {
            kept.push(*b);
        }
    }
    kept
}

#[cfg(test)]
mod tests;
