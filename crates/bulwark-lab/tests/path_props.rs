//! Property: any valid bars give a path that stays inside each bar and hits its anchors.
#![allow(clippy::disallowed_methods)] // expected values with std floats

mod common;

use bulwark_lab::data::Bar;
use bulwark_lab::path::path_from_bars_with_interval;
use proptest::prelude::*;

/// A valid bar built from an open, a log return to the close and two wick sizes.
fn bar_strategy() -> impl Strategy<Value = (f64, f64, f64, f64, u64)> {
    (
        1e-3f64..1e6, // open
        -0.3f64..0.3, // log return open -> close
        0.0f64..0.2,  // upper wick, share of the body's top
        0.0f64..0.9,  // lower wick, share of the body's bottom
        0u64..3,      // gap after the bar, in bars
    )
}

fn make_bars(specs: &[(f64, f64, f64, f64, u64)], bar_ms: u64) -> Vec<Bar> {
    let mut t = 1_700_000_000_000u64;
    specs
        .iter()
        .map(|&(open, ret, up, down, gap)| {
            let close = open * ret.exp();
            let bar = Bar {
                open_time_ms: t,
                open,
                high: open.max(close) * (1.0 + up),
                low: open.min(close) * (1.0 - down),
                close,
                volume: 0.0,
            };
            t += bar_ms * (1 + gap);
            bar
        })
        .collect()
}

proptest! {
    #[test]
    fn paths_stay_within_each_bar(
        specs in proptest::collection::vec(bar_strategy(), 1..6),
        bar_ms in prop::sample::select(vec![1_000u64, 60_000, 300_000, 86_400_000]),
        samples_per_bar in 0.3f64..40.0,
        seed in any::<u64>(),
    ) {
        let bars = make_bars(&specs, bar_ms);
        let step_ms = ((bar_ms as f64 / samples_per_bar) as u64).max(1);
        let path = path_from_bars_with_interval(&bars, bar_ms, step_ms, seed).unwrap();
        prop_assert!(path.prices.iter().all(|p| p.is_finite() && *p > 0.0));
        if let Err(e) = common::check_segments(&path, &bars, bar_ms) {
            prop_assert!(false, "step {step_ms} ms: {e}");
        }
    }
}
