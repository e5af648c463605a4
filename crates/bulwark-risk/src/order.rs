//! Order-statistic functionals (quantile, VaR, ES) evaluated on an ascending sample, either a
//! plain sorted slice or a sorted slice with multiplicities (one bootstrap resample).
//!
//! Both forms feed the same code the same values in the same order, so a statistic of a
//! resample given as counts is bit-identical to the statistic of the materialised resample;
//! `tests/bootstrap.rs` checks this against the slow path.

/// A functional of the ascending order statistics x_(1) <= ... <= x_(n).
#[derive(Clone, Copy, Debug)]
pub(crate) enum OrderStat {
    /// The type-7 sample quantile at probability p in [0, 1].
    Quantile(f64),
    /// The empirical VaR at a level in (0, 1).
    Var(f64),
    /// The empirical expected shortfall (tail average) at a level in (0, 1).
    Es(f64),
}

/// Where the loss tail starts for n observations at `level`, after Acerbi & Tasche (2002).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TailIndex {
    /// 1-based rank of the VaR order statistic: ceil(n * level), within [1, n].
    pub var_rank: usize,
    /// n * (1 - level): the probability mass of the tail in units of observations.
    pub tail_weight: f64,
    /// The weight of the VaR observation itself inside the tail, in [0, 1).
    pub var_weight: f64,
}

impl TailIndex {
    /// `n >= 1`, `level` in (0, 1) (checked by the callers).
    pub(crate) fn new(n: usize, level: f64) -> TailIndex {
        debug_assert!(n >= 1 && level > 0.0 && level < 1.0);
        let n_f = n as f64;
        // n * level is one rounding away from the exact product of the decimal the caller
        // wrote (0.95 * 100 may land a few ulps off 95). A product within 4 ulps of an
        // integer is taken as that integer, so "0.95 of 100 runs" is rank 95 as written and
        // not 96; any level that is meaningfully off an integer is left alone.
        let mut x = level * n_f;
        let r = libm::round(x);
        if (x - r).abs() <= 4.0 * f64::EPSILON * x {
            x = r;
        }
        let var_rank = (libm::ceil(x) as usize).clamp(1, n);
        let tail_weight = (n_f - x).max(0.0);
        // The tail holds the n - var_rank observations above the VaR one, and the VaR
        // observation with what weight is left: tail_weight - (n - var_rank) = var_rank - x
        // (computed in the second form, which is exact when x is near var_rank).
        let var_weight = (var_rank as f64 - x).clamp(0.0, 1.0);
        TailIndex {
            var_rank,
            tail_weight,
            var_weight,
        }
    }
}

impl OrderStat {
    /// The 0-based position of the first order statistic the functional reads.
    pub(crate) fn first_position(self, n: usize) -> usize {
        match self {
            OrderStat::Quantile(p) => type7_position(n, p).0,
            OrderStat::Var(level) | OrderStat::Es(level) => TailIndex::new(n, level).var_rank - 1,
        }
    }

    /// Evaluates the functional on n order statistics, given as the ascending values from
    /// `first_position(n)` to the largest.
    pub(crate) fn finish(self, n: usize, mut from_first: impl Iterator<Item = f64>) -> f64 {
        // The iterator yields at least one value: first_position(n) < n.
        let first = from_first.next().unwrap_or(f64::NAN);
        match self {
            OrderStat::Quantile(p) => {
                let (_, frac) = type7_position(n, p);
                match from_first.next() {
                    Some(next) if frac > 0.0 => first + frac * (next - first),
                    _ => first,
                }
            }
            OrderStat::Var(_) => first,
            OrderStat::Es(level) => {
                let t = TailIndex::new(n, level);
                if t.tail_weight == 0.0 {
                    // Only reachable for a level within a few ulps of 1: the tail is the
                    // maximum alone, which is where `first` (rank n) already is.
                    return first;
                }
                // Acerbi & Tasche (2002), Prop. 3.2, in the loss convention: the partial
                // weight on the VaR observation first, then the whole observations above it,
                // smallest first.
                let mut sum = t.var_weight * first;
                for x in from_first {
                    sum += x;
                }
                sum / t.tail_weight
            }
        }
    }

    /// The functional on an ascending slice (`sorted.len() >= 1`).
    pub(crate) fn of_sorted(self, sorted: &[f64]) -> f64 {
        let n = sorted.len();
        let first = self.first_position(n);
        self.finish(n, sorted[first..].iter().copied())
    }

    /// The functional on the resample that holds `counts[i]` copies of `sorted[i]`
    /// (`counts` sums to n >= 1).
    pub(crate) fn of_counts(self, sorted: &[f64], counts: &[u32], n: usize) -> f64 {
        let first = self.first_position(n);
        self.finish(n, counted_from(sorted, counts, first))
    }
}

/// Type 7 (Hyndman & Fan 1996): h = (n - 1) p, read x_(floor h) and x_(floor h + 1)
/// (0-based) and interpolate by the fractional part of h.
fn type7_position(n: usize, p: f64) -> (usize, f64) {
    let h = (n - 1) as f64 * p;
    let lo = libm::floor(h);
    ((lo as usize).min(n - 1), h - lo)
}

/// The ascending values of a resample given as counts, from 0-based position `first` on.
fn counted_from<'a>(
    sorted: &'a [f64],
    counts: &'a [u32],
    first: usize,
) -> impl Iterator<Item = f64> + 'a {
    let mut below = 0usize;
    let mut i = 0usize;
    while i < counts.len() && below + counts[i] as usize <= first {
        below += counts[i] as usize;
        i += 1;
    }
    let head_copies = if i < counts.len() {
        below + counts[i] as usize - first
    } else {
        0
    };
    let head = sorted.get(i).copied().unwrap_or(f64::NAN);
    let rest_start = (i + 1).min(sorted.len());
    std::iter::repeat_n(head, head_copies).chain(
        sorted[rest_start..]
            .iter()
            .zip(&counts[rest_start..])
            .flat_map(|(&x, &c)| std::iter::repeat_n(x, c as usize)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_index_for_whole_and_fractional_tails() {
        // 0.95 * 100 is 95 after snapping: VaR rank 95, five whole observations above it.
        let t = TailIndex::new(100, 0.95);
        assert_eq!((t.var_rank, t.tail_weight, t.var_weight), (95, 5.0, 0.0));
        // 0.975 * 100 = 97.5: VaR rank 98, tail 2.5 = the two above plus half of rank 98.
        let t = TailIndex::new(100, 0.975);
        assert_eq!((t.var_rank, t.tail_weight, t.var_weight), (98, 2.5, 0.5));
        // A tiny level still reads the smallest observation.
        assert_eq!(TailIndex::new(10, 1e-9).var_rank, 1);
        // A level one ulp below 1 snaps to n: the tail is the maximum alone.
        let t = TailIndex::new(10, 1.0 - f64::EPSILON / 2.0);
        assert_eq!((t.var_rank, t.tail_weight), (10, 0.0));
    }

    #[test]
    fn counts_and_slices_agree() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        let counts = [0u32, 3, 0, 2];
        let materialised = [2.0, 2.0, 2.0, 4.0, 4.0];
        for stat in [
            OrderStat::Quantile(0.0),
            OrderStat::Quantile(0.3),
            OrderStat::Quantile(1.0),
            OrderStat::Var(0.5),
            OrderStat::Es(0.5),
            OrderStat::Es(0.9),
        ] {
            assert_eq!(
                stat.of_counts(&sorted, &counts, 5).to_bits(),
                stat.of_sorted(&materialised).to_bits(),
                "{stat:?}"
            );
        }
    }
}
