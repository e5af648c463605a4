//! Statistics of a price path that calibration and tests compare with real data.

use super::PricePath;

/// The worst fall over `window` steps of a series: the smallest `prices[i + window] /
/// prices[i] - 1` (0 when nothing falls or the series is not longer than the window).
pub fn worst_fall(prices: &[f64], window: usize) -> f64 {
    if window == 0 || prices.len() <= window {
        return 0.0;
    }
    prices
        .iter()
        .zip(&prices[window..])
        .map(|(a, b)| b / a - 1.0)
        .fold(0.0, f64::min)
}

/// How much of a day's range its fastest falls took: the statistics of issue 10's crash
/// days. `range_frac` is `(high - low) / high`; each `worst_*` is the worst fall of
/// one-minute closes over that many minutes, as a positive share of `range_frac`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrashShares {
    pub range_frac: f64,
    pub worst_1_min: f64,
    pub worst_10_min: f64,
    pub worst_60_min: f64,
}

/// The shares from one-minute closes and the day's high and low.
pub fn crash_shares(minute_closes: &[f64], high: f64, low: f64) -> CrashShares {
    let range_frac = (high - low) / high;
    let share = |w: usize| -worst_fall(minute_closes, w) / range_frac;
    CrashShares {
        range_frac,
        worst_1_min: share(1),
        worst_10_min: share(10),
        worst_60_min: share(60),
    }
}

/// The shares of one day of a path: `day_start_ms` to 24 h later. A minute's close is the
/// price in force just before the minute ends; the high and low are over every sample of
/// the day.
pub fn day_crash_shares(path: &PricePath, day_start_ms: u64) -> CrashShares {
    const MIN_MS: u64 = 60_000;
    let closes: Vec<f64> = (0..=1440)
        .map(|k| {
            path.price_at(
                (day_start_ms + k * MIN_MS)
                    .saturating_sub(1)
                    .max(day_start_ms),
            )
        })
        .collect();
    let from = path.index_at(day_start_ms);
    let to = path.index_at(day_start_ms + 1440 * MIN_MS - 1);
    let day = &path.prices[from..=to];
    let high = day.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let low = day.iter().copied().fold(f64::INFINITY, f64::min);
    crash_shares(&closes, high, low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_by_hand() {
        // High 100, low 80: range 20% of the high. Over one step the worst fall is 90 -> 80
        // (-11.1%); over two, 100 -> 80 (-20%).
        let closes = [100.0, 90.0, 80.0, 85.0];
        assert_eq!(worst_fall(&closes, 1), 80.0 / 90.0 - 1.0);
        assert!((worst_fall(&closes, 2) + 0.2).abs() < 1e-15);
        assert_eq!(worst_fall(&closes, 4), 0.0);
        assert_eq!(worst_fall(&[1.0, 2.0, 3.0], 1), 0.0);
        let s = crash_shares(&closes, 100.0, 80.0);
        assert!((s.range_frac - 0.2).abs() < 1e-15);
        assert!((s.worst_1_min - (1.0 - 80.0 / 90.0) / 0.2).abs() < 1e-12);
    }
}
