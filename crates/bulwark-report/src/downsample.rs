//! Shrinking long series to what a chart can show without losing spikes.
//!
//! A 72-hour run at one-second steps has 259,200 samples per column, far more
//! than the ~900 pixel columns of a chart. Plain decimation (every n-th point)
//! would drop exactly the one-second wicks a crash report is about, so each
//! pixel-column bucket keeps its first, minimum, maximum and last point (the
//! "M4" scheme): the drawn polyline then covers the same pixels as the full
//! series.

use std::ops::Range;

/// Points kept per bucket at most: first, min, max, last.
pub const POINTS_PER_BUCKET: usize = 4;

/// Downsamples one run of finite points with x non-decreasing, keeping the
/// first, minimum, maximum and last point of each of `n_buckets` equal-width
/// x buckets between the first and last x. Returns at most
/// `POINTS_PER_BUCKET * n_buckets` points (the input unchanged when it is
/// already that short), in input order.
pub fn downsample_min_max(xs: &[f64], ys: &[f64], n_buckets: usize) -> Vec<(f64, f64)> {
    let len = xs.len().min(ys.len());
    let points = || xs[..len].iter().copied().zip(ys[..len].iter().copied());
    if n_buckets == 0 || len <= POINTS_PER_BUCKET * n_buckets {
        return points().collect();
    }
    let (x_first, x_last) = (xs[0], xs[len - 1]);
    let width = x_last - x_first;
    let bucket_of = |x: f64| -> usize {
        if width > 0.0 {
            (((x - x_first) / width * n_buckets as f64) as usize).min(n_buckets - 1)
        } else {
            0
        }
    };

    let mut kept = Vec::with_capacity(POINTS_PER_BUCKET * n_buckets);
    let mut start = 0;
    while start < len {
        let bucket = bucket_of(xs[start]);
        let end = start + xs[start..len].partition_point(|&x| bucket_of(x) == bucket);
        // A zero-width x range puts every point in one bucket; that is the
        // intended result, so `end` always moves forward.
        let end = end.max(start + 1);
        push_bucket_extremes(&xs[start..end], &ys[start..end], &mut kept);
        start = end;
    }
    kept
}

/// Appends first, min, max and last of one bucket, each once, in x order.
fn push_bucket_extremes(xs: &[f64], ys: &[f64], out: &mut Vec<(f64, f64)>) {
    let last = ys.len() - 1;
    let (mut i_min, mut i_max) = (0, 0);
    for (i, &y) in ys.iter().enumerate() {
        if y < ys[i_min] {
            i_min = i;
        }
        if y > ys[i_max] {
            i_max = i;
        }
    }
    let mut indices = [0, i_min, i_max, last];
    indices.sort_unstable();
    let mut previous = None;
    for i in indices {
        if previous != Some(i) {
            out.push((xs[i], ys[i]));
            previous = Some(i);
        }
    }
}

/// Index ranges where both x and y are finite; NaN marks "no data", and the
/// chart breaks its line there rather than bridging the gap.
pub fn finite_runs(xs: &[f64], ys: &[f64]) -> Vec<Range<usize>> {
    let len = xs.len().min(ys.len());
    let mut runs = Vec::new();
    let mut run_start = None;
    for i in 0..len {
        let finite = xs[i].is_finite() && ys[i].is_finite();
        match (finite, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                runs.push(start..i);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        runs.push(start..len);
    }
    runs
}

/// Splits a series at its gaps and downsamples each piece, giving each piece
/// its share of the buckets by x extent so the density is even across the
/// chart.
pub fn downsample_segments(xs: &[f64], ys: &[f64], n_buckets: usize) -> Vec<Vec<(f64, f64)>> {
    let runs = finite_runs(xs, ys);
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Vec::new();
    };
    let total_width = xs[last.end - 1] - xs[first.start];
    runs.into_iter()
        .map(|run| {
            let run_width = xs[run.end - 1] - xs[run.start];
            let share = if total_width > 0.0 {
                run_width / total_width
            } else {
                1.0
            };
            let buckets = ((n_buckets as f64 * share).ceil() as usize).max(1);
            downsample_min_max(&xs[run.clone()], &ys[run], buckets)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spiky_series(len: usize) -> (Vec<f64>, Vec<f64>) {
        let xs: Vec<f64> = (0..len).map(|i| i as f64).collect();
        let ys: Vec<f64> = (0..len)
            .map(|i| match i {
                12_345 => 1_000.0,
                200_001 => -1_000.0,
                _ => (i as f64 * 0.01).sin(),
            })
            .collect();
        (xs, ys)
    }

    #[test]
    fn keeps_global_and_per_bucket_extremes() {
        let (xs, ys) = spiky_series(259_200);
        let kept = downsample_min_max(&xs, &ys, 900);
        assert!(kept.contains(&(12_345.0, 1_000.0)), "lost the upward spike");
        assert!(
            kept.contains(&(200_001.0, -1_000.0)),
            "lost the downward spike"
        );
        assert_eq!(kept.first(), Some(&(0.0, ys[0])));
        assert_eq!(kept.last(), Some(&(259_199.0, ys[259_199])));
        let max_kept = kept.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min_kept = kept.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert_eq!((min_kept, max_kept), (-1_000.0, 1_000.0));
    }

    #[test]
    fn bounds_the_point_count_and_keeps_order() {
        let (xs, ys) = spiky_series(259_200);
        for n_buckets in [1, 7, 100, 900] {
            let kept = downsample_min_max(&xs, &ys, n_buckets);
            assert!(
                kept.len() <= POINTS_PER_BUCKET * n_buckets,
                "{n_buckets}: {}",
                kept.len()
            );
            assert!(kept.len() >= n_buckets, "every bucket holds points");
            assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "x order broken");
        }
    }

    #[test]
    fn short_series_pass_through_unchanged() {
        let xs = [0.0, 1.0, 2.0];
        let ys = [5.0, -1.0, 3.0];
        assert_eq!(
            downsample_min_max(&xs, &ys, 1),
            vec![(0.0, 5.0), (1.0, -1.0), (2.0, 3.0)]
        );
    }

    #[test]
    fn uneven_time_steps_bucket_by_x_not_by_index() {
        // 1,000 dense points in [0, 1) then 4 sparse ones far to the right:
        // the dense part must collapse into few buckets, the sparse points
        // survive because each sits in its own bucket.
        let mut xs: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        xs.extend([250.0, 500.0, 750.0, 1000.0]);
        let ys: Vec<f64> = xs.iter().map(|x| x * 2.0).collect();
        let kept = downsample_min_max(&xs, &ys, 10);
        for x in [250.0, 500.0, 750.0, 1000.0] {
            assert!(kept.iter().any(|p| p.0 == x), "lost sparse point {x}");
        }
        assert!(kept.len() <= 40);
    }

    #[test]
    fn zero_width_range_collapses_to_one_bucket() {
        let xs = vec![3.0; 100];
        let ys: Vec<f64> = (0..100).map(f64::from).collect();
        let kept = downsample_min_max(&xs, &ys, 10);
        assert_eq!(kept, vec![(3.0, 0.0), (3.0, 99.0)]);
    }

    #[test]
    fn gaps_split_the_series_into_segments() {
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let ys = [
            1.0,
            2.0,
            f64::NAN,
            f64::NAN,
            5.0,
            6.0,
            7.0,
            f64::INFINITY,
            9.0,
            10.0,
        ];
        assert_eq!(finite_runs(&xs, &ys), vec![0..2, 4..7, 8..10]);
        let segments = downsample_segments(&xs, &ys, 100);
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[1], vec![(4.0, 5.0), (5.0, 6.0), (6.0, 7.0)]);
        assert!(downsample_segments(&xs, &[f64::NAN; 10], 100).is_empty());
    }
}
