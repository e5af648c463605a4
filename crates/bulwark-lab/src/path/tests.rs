use super::*;

fn bar(open_time_ms: u64, open: f64, high: f64, low: f64, close: f64) -> Bar {
    Bar {
        open_time_ms,
        open,
        high,
        low,
        close,
        volume: 0.0,
    }
}

fn count(values: &[f64], x: f64) -> usize {
    values.iter().filter(|&&v| v == x).count()
}

#[test]
fn price_at_is_a_step_function_clamped_to_the_path() {
    let path = PricePath::new(1_000, 10, vec![5.0, 6.0, 4.0]).unwrap();
    assert_eq!(path.len(), 3);
    assert_eq!(path.end_ms(), 1_020);
    assert_eq!(path.price_at(0), 5.0); // before the start: first sample
    assert_eq!(path.price_at(1_000), 5.0);
    assert_eq!(path.price_at(1_009), 5.0); // no look-ahead to the next sample
    assert_eq!(path.price_at(1_010), 6.0);
    assert_eq!(path.price_at(1_025), 4.0);
    assert_eq!(path.price_at(u64::MAX), 4.0);
    assert_eq!(path.min_price(), Some((2, 4.0)));
    assert_eq!(path.max_price(), Some((1, 6.0)));
}

#[test]
fn new_rejects_bad_paths() {
    assert_eq!(PricePath::new(0, 0, vec![1.0]), Err(PathError::ZeroStep));
    assert_eq!(PricePath::new(0, 1, vec![]), Err(PathError::EmptyPath));
    assert_eq!(
        PricePath::new(0, 1, vec![1.0, -2.0]),
        Err(PathError::BadPrice {
            index: 1,
            price: -2.0
        })
    );
}

#[test]
fn down_bar_visits_high_then_low_and_hits_every_anchor_once() {
    // One minute bar, one-second steps: 60 samples.
    let b = bar(60_000, 100.0, 104.0, 95.0, 97.0);
    let path = path_from_bars_with_interval(&[b], 60_000, 1_000, 7).unwrap();
    let p = &path.prices;
    assert_eq!(
        (path.start_ms, path.len(), path.end_ms()),
        (60_000, 60, 119_000)
    );
    assert_eq!((p[0], p[59]), (100.0, 97.0));
    assert_eq!((count(p, 104.0), count(p, 95.0)), (1, 1));
    assert!(p.iter().all(|&x| (95.0..=104.0).contains(&x)));
    let high_at = p.iter().position(|&x| x == 104.0).unwrap();
    let low_at = p.iter().position(|&x| x == 95.0).unwrap();
    assert!(high_at < low_at, "a down bar visits its high first");
}

#[test]
fn up_bar_visits_low_then_high() {
    let b = bar(0, 100.0, 104.0, 95.0, 103.0);
    let p = path_from_bars_with_interval(&[b], 60_000, 1_000, 7)
        .unwrap()
        .prices;
    let high_at = p.iter().position(|&x| x == 104.0).unwrap();
    let low_at = p.iter().position(|&x| x == 95.0).unwrap();
    assert!(low_at < high_at, "an up bar visits its low first");
}

#[test]
fn open_at_high_is_not_revisited() {
    let b = bar(0, 104.0, 104.0, 95.0, 97.0);
    let p = path_from_bars_with_interval(&[b], 60_000, 1_000, 3)
        .unwrap()
        .prices;
    assert_eq!(count(&p, 104.0), 1);
    assert_eq!(count(&p, 95.0), 1);
}

#[test]
fn flat_bar_stays_flat() {
    let b = bar(0, 50.0, 50.0, 50.0, 50.0);
    let p = path_from_bars_with_interval(&[b], 60_000, 1_000, 3)
        .unwrap()
        .prices;
    assert!(p.iter().all(|&x| x == 50.0));
}

#[test]
fn step_that_does_not_divide_the_bar() {
    // 60 s bars, 7 s steps: bar 0 gets samples at 0..=56 s (9), bar 1 at 63..=119 s (9).
    let bars = [
        bar(0, 10.0, 12.0, 9.0, 11.0),
        bar(60_000, 11.0, 11.5, 8.0, 8.5),
    ];
    let path = path_from_bars(&bars, 7_000, 1).unwrap();
    assert_eq!(path.len(), 18);
    let (seg0, seg1) = path.prices.split_at(9);
    assert_eq!(
        (seg0[0], seg0[8], seg1[0], seg1[8]),
        (10.0, 11.0, 11.0, 8.5)
    );
    assert_eq!((count(seg0, 12.0), count(seg0, 9.0)), (1, 1));
    assert_eq!((count(seg1, 11.5), count(seg1, 8.0)), (1, 1));
}

#[test]
fn short_segments_keep_what_fits() {
    let b = bar(0, 100.0, 110.0, 99.0, 101.0); // upper wick 9 beats lower wick 1
    let three = path_from_bars_with_interval(&[b], 3_000, 1_000, 0).unwrap();
    assert_eq!(three.prices, vec![100.0, 110.0, 101.0]);
    let two = path_from_bars_with_interval(&[b], 2_000, 1_000, 0).unwrap();
    assert_eq!(two.prices, vec![100.0, 101.0]);
    let one = path_from_bars_with_interval(&[b], 1_000, 1_000, 0).unwrap();
    assert_eq!(one.prices, vec![100.0]);
}

#[test]
fn step_longer_than_bars_samples_opens() {
    // Four 1 s bars sampled every 2 s: samples at 0 s and 2 s fall on bars 0 and 2.
    let bars: Vec<Bar> = (0..4)
        .map(|i| {
            let p = 10.0 + i as f64;
            bar(i * 1_000, p, p + 0.5, p - 0.5, p)
        })
        .collect();
    let path = path_from_bars(&bars, 2_000, 0).unwrap();
    assert_eq!(path.prices, vec![10.0, 12.0]);
}

/// Minute bars whose closes alternate between 100 and 100 e^0.01, so every close-to-close
/// return is +-0.01: the local volatility is 0.01 a bar, by hand.
fn zigzag(from_ms: u64, n: usize, start_up: bool) -> Vec<Bar> {
    let (lo, hi) = (100.0, 100.0 * 0.01f64.exp());
    (0..n)
        .map(|k| {
            let close = if (k % 2 == 0) == start_up { hi } else { lo };
            bar(from_ms + k as u64 * 60_000, close, close, close, close)
        })
        .collect()
}

#[test]
fn local_vol_by_hand() {
    let mut bars = zigzag(0, 31, true);
    bars.extend(zigzag(31 * 60_000 + 3_600_000, 31, false));
    // 30 returns of +-0.01 on each side of the gap after bar 30: RMS 0.01.
    assert!((gaps::local_vol_per_bar(&bars, 30, 60_000) - 0.01).abs() < 1e-12);
    // Two lone bars: Parkinson, ln(H/L)^2 / (4 ln 2) with ln(H/L) = 0.02 for both.
    let wide = |t: u64| bar(t, 100.0, 100.0 * 0.02f64.exp(), 100.0, 100.0);
    let lone = [wide(0), wide(600_000)];
    let want = 0.02 / (2.0 * std::f64::consts::LN_2.sqrt());
    assert!((gaps::local_vol_per_bar(&lone, 0, 60_000) - want).abs() < 1e-12);
}

#[test]
fn gap_is_bridged_from_close_to_open_with_the_local_vol() {
    // 31 bars, a gap of 10,000 s, 31 bars; one-second steps.
    let gap_ms = 10_000_000;
    let mut bars = zigzag(0, 31, true);
    let after_ms = 31 * 60_000 + gap_ms;
    bars.extend(zigzag(after_ms, 31, false));
    let path = path_from_bars_with_interval(&bars, 60_000, 1_000, 4).unwrap();
    assert_eq!(
        path.gaps,
        vec![crate::data::DataGap {
            start_ms: 31 * 60_000,
            end_ms: after_ms
        }]
    );
    let (last_close_at, open_at) = (31 * 60 - 1, (after_ms / 1_000) as usize);
    assert_eq!(path.prices[last_close_at], bars[30].close);
    assert_eq!(path.prices[open_at], bars[31].open);
    // The bridge's one-second moves have the local vol scaled to a second: 0.01 / sqrt(60).
    // Over 10,000 moves the sample sd's standard error is 0.7%.
    let moves: Vec<f64> = path.prices[last_close_at..=open_at]
        .windows(2)
        .map(|w| (w[1] / w[0]).ln())
        .collect();
    let sd = (moves.iter().map(|r| r * r).sum::<f64>() / moves.len() as f64).sqrt();
    let want = 0.01 / 60f64.sqrt();
    assert!((sd / want - 1.0).abs() < 0.03, "sd {sd} vs {want}");
    // Reproducible, and seeded.
    assert_eq!(
        path,
        path_from_bars_with_interval(&bars, 60_000, 1_000, 4).unwrap()
    );
    let other = path_from_bars_with_interval(&bars, 60_000, 1_000, 5).unwrap();
    assert_ne!(
        path.prices[last_close_at + 1..open_at],
        other.prices[last_close_at + 1..open_at]
    );
    // The bridge draws from a stream of its own: with a gap twice as long, the bars after it
    // get the very same samples.
    let mut longer = zigzag(0, 31, true);
    longer.extend(zigzag(after_ms + gap_ms, 31, false));
    let longer = path_from_bars_with_interval(&longer, 60_000, 1_000, 4).unwrap();
    let shift = (gap_ms / 1_000) as usize;
    assert_eq!(path.prices[open_at..], longer.prices[open_at + shift..]);
}

#[test]
fn a_gap_in_flat_data_is_a_straight_line_to_the_next_open() {
    // Bars at 0 s and 3 s, 1 s long, each flat: no local vol, so the samples at 1 s and 2 s
    // lie on the straight line (in log price) from 10 to 11.
    let bars = [
        bar(0, 10.0, 10.0, 10.0, 10.0),
        bar(3_000, 11.0, 11.0, 11.0, 11.0),
    ];
    let path = path_from_bars_with_interval(&bars, 1_000, 1_000, 0).unwrap();
    let ratio = (11.0f64 / 10.0).powf(1.0 / 3.0);
    assert_eq!((path.prices[0], path.prices[3]), (10.0, 11.0));
    assert!((path.prices[1] - 10.0 * ratio).abs() < 1e-12);
    assert!((path.prices[2] - 10.0 * ratio * ratio).abs() < 1e-12);
    assert_eq!(path.gaps.len(), 1);
    assert_eq!(path.gaps[0].length_ms(), 2_000);
}

#[test]
fn same_seed_same_path_other_seed_other_path() {
    let bars = [
        bar(0, 100.0, 104.0, 95.0, 97.0),
        bar(60_000, 97.0, 99.0, 96.0, 98.0),
    ];
    let a = path_from_bars(&bars, 1_000, 42).unwrap();
    let b = path_from_bars(&bars, 1_000, 42).unwrap();
    let c = path_from_bars(&bars, 1_000, 43).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn path_from_bars_errors() {
    let one = [bar(0, 1.0, 1.0, 1.0, 1.0)];
    assert_eq!(path_from_bars(&[], 1, 0), Err(PathError::NoBars));
    assert_eq!(
        path_from_bars(&one, 1, 0),
        Err(PathError::CannotInferInterval)
    );
    assert_eq!(
        path_from_bars_with_interval(&one, 1_000, 0, 0),
        Err(PathError::ZeroStep)
    );
    let bad = [bar(0, 1.0, 0.5, 0.5, 1.0)];
    let err = path_from_bars_with_interval(&bad, 1_000, 1, 0).unwrap_err();
    assert!(
        matches!(
            err,
            PathError::InvalidBar {
                index: 0,
                field: "high",
                ..
            }
        ),
        "{err:?}"
    );
    let overlapping = [bar(0, 1.0, 1.0, 1.0, 1.0), bar(500, 1.0, 1.0, 1.0, 1.0)];
    let err = path_from_bars_with_interval(&overlapping, 1_000, 1, 0).unwrap_err();
    assert!(
        matches!(err, PathError::BarsOverlap { index: 1, .. }),
        "{err:?}"
    );
    let day = [bar(0, 1.0, 1.0, 1.0, 1.0)];
    let err = path_from_bars_with_interval(&day, 86_400_000 * 365, 1, 0).unwrap_err();
    assert!(matches!(err, PathError::TooManySamples { .. }), "{err:?}");
}

#[test]
fn realized_vol_hand_checked() {
    // Daily steps, returns +ln(1.1) and -ln(1.1): vol = ln(1.1) * sqrt(365) = 1.82089...
    let path = PricePath::new(0, 86_400_000, vec![100.0, 110.0, 100.0]).unwrap();
    let expected = 1.1f64.ln() * 365f64.sqrt();
    let two = realized_vol_annualized(&path, 2).unwrap();
    assert_eq!(two.len(), 1);
    assert!((two[0] - expected).abs() < 1e-12);
    assert!((expected - 1.820_89).abs() < 1e-5);
    let one = realized_vol_annualized(&path, 1).unwrap();
    assert_eq!(one.len(), 2);
    assert!(one.iter().all(|v| (v - expected).abs() < 1e-12));
    assert!(realized_vol_annualized(&path, 3).unwrap().is_empty());
    assert_eq!(
        realized_vol_annualized(&path, 0),
        Err(PathError::ZeroWindow)
    );
}
