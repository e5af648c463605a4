//! Bar spacing and whole-body bad prints on hand-made series.

use super::*;

const MIN: u64 = 60_000;

fn bar(t: u64, price: f64) -> Bar {
    Bar {
        open_time_ms: t,
        open: price,
        high: price * 1.001,
        low: price * 0.999,
        close: price,
        volume: 1.0,
    }
}

/// `n` one-minute bars from 7,000 rising 1 USD a minute.
fn minutes(n: u64) -> Vec<Bar> {
    (0..n)
        .map(|i| bar(1_600_000_020_000 + i * MIN, 7_000.0 + i as f64))
        .collect()
}

#[test]
fn regular_bars_and_missing_bars_give_the_interval() {
    assert_eq!(bar_interval(&minutes(10)), Ok(MIN));
    let mut gappy = minutes(10);
    gappy.remove(4);
    gappy.remove(6);
    assert_eq!(bar_interval(&gappy), Ok(MIN), "missing bars are whole gaps");
}

#[test]
fn a_bar_shifted_by_30_s_is_an_error_naming_it() {
    let mut bars = minutes(10);
    bars[6].open_time_ms -= 30_000;
    let err = bar_interval(&bars).unwrap_err();
    assert_eq!(
        err,
        QualityError::OffGrid {
            number: 7,
            open_time_ms: bars[6].open_time_ms,
            bar_ms: MIN,
            offset_ms: 30_000,
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("bar 7") && text.contains("60000 ms"),
        "{text}"
    );
    // Even the first bar: the grid is the one most bars follow.
    let mut first = minutes(10);
    first[0].open_time_ms += 1_000;
    assert!(matches!(
        bar_interval(&first),
        Err(QualityError::OffGrid { number: 1, .. })
    ));
}

#[test]
fn one_bar_has_no_interval() {
    assert_eq!(
        bar_interval(&minutes(1)),
        Err(QualityError::TooFewBars { bars: 1 })
    );
}

#[test]
fn whole_body_prints_far_below_or_above_are_found() {
    let mut bars = minutes(30);
    bars[3] = bar(bars[3].open_time_ms, 1e-7);
    bars[20] = bar(bars[20].open_time_ms, 1e9);
    let found = body_outliers(&bars, DEFAULT_OUTLIER_FRAC);
    assert_eq!(
        found.iter().map(|o| (o.index, o.price)).collect::<Vec<_>>(),
        vec![(3, 1e-7), (20, 1e9)]
    );
    assert!((found[0].reference - 7_003.0).abs() < 5.0, "{:?}", found[0]);
    let kept = drop_outliers(&bars, &found);
    assert_eq!(kept.len(), 28);
    assert!(body_outliers(&kept, DEFAULT_OUTLIER_FRAC).is_empty());
}

#[test]
fn a_real_crash_bar_is_not_an_outlier() {
    // Daily bars around 12 March 2020 (Coinbase): the crash day opens with its neighbours.
    let day = 86_400_000;
    let closes = [
        9_100.0, 8_900.0, 8_030.0, 7_930.0, 7_910.0, 4_857.1, 5_637.6, 5_360.0, 5_380.0, 5_030.0,
        5_400.0,
    ];
    let mut bars: Vec<Bar> = Vec::new();
    for (i, &c) in closes.iter().enumerate() {
        let open = bars.last().map_or(c, |b: &Bar| b.close);
        bars.push(Bar {
            open_time_ms: i as u64 * day,
            open,
            high: open.max(c),
            low: open.min(c) * 0.8,
            close: c,
            volume: 1.0,
        });
    }
    assert!(body_outliers(&bars, DEFAULT_OUTLIER_FRAC).is_empty());
    assert_eq!(bar_interval(&bars), Ok(day));
}
