//! Splitting a total in proportion to weights: the one audited pro-rata split.
//!
//! Every pro-rata split in the engine (ADL lots, ADL haircuts, a deficit across markets, the
//! equity handed to the vault with each position) goes through [`allocate`], so the rounding
//! rule is stated once and its postcondition checked once: **the parts add up to the total
//! exactly**. Nothing is created or lost by rounding, so no "rounding excess" needs a home.
//!
//! Rule (largest remainder, Hamilton's method): each part is first the exact share rounded
//! toward zero; the units left over (fewer than the number of positive weights) go one each
//! to the parts with the largest fractional remainders, ties to the lower index. A part never
//! exceeds its exact share rounded away from zero, so when `|total| <= sum(weights)` no part
//! exceeds its own weight (what ADL needs: nobody is closed for more lots than it holds).

use crate::{ok_or_overflow, ArithError, ArithResult};

/// Split `total` into `weights.len()` parts proportional to `weights` (each >= 0), with the
/// sign of `total`. Returns an error if a weight is negative, or if `total` is not zero and
/// every weight is zero (there is nobody to give it to).
#[track_caller]
pub fn allocate(total: i64, weights: &[i64]) -> ArithResult<Vec<i64>> {
    let mut parts = vec![0i64; weights.len()];
    if weights.iter().any(|w| *w < 0) {
        return Err(ArithError::overflow());
    }
    let sum: i128 = weights.iter().map(|w| *w as i128).sum();
    if total == 0 {
        return Ok(parts);
    }
    if sum == 0 {
        return Err(ArithError::division_by_zero());
    }
    let magnitude = (total as i128).abs();
    // (fractional remainder, index) of each positive weight, for the leftover units.
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w == 0 {
            continue;
        }
        let exact = ok_or_overflow(magnitude.checked_mul(w as i128))?;
        let floor = exact / sum;
        parts[i] = ok_or_overflow(i64::try_from(floor).ok())?;
        given += floor;
        remainders.push((exact % sum, i));
    }
    let left = usize::try_from(magnitude - given).expect("fewer leftover units than weights");
    assert!(
        left <= remainders.len(),
        "leftover units exceed the weights"
    );
    if left > 0 {
        // The `left` largest remainders, ties to the lower index.
        let order = |a: &(i128, usize), b: &(i128, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if left < remainders.len() {
            remainders.select_nth_unstable_by(left - 1, order);
        }
        for &(_, i) in &remainders[..left] {
            parts[i] += 1;
        }
    }
    if total < 0 {
        for p in parts.iter_mut() {
            *p = -*p;
        }
    }
    let check: i128 = parts.iter().map(|p| *p as i128).sum();
    assert_eq!(
        check, total as i128,
        "allocation parts must sum to the total"
    );
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn by_hand() {
        // 10 over 1:1:1 -> 3.33 each; the one unit left goes to the lowest index (a tie).
        assert_eq!(allocate(10, &[1, 1, 1]).unwrap(), vec![4, 3, 3]);
        // 10 over 5:3:2 is exact.
        assert_eq!(allocate(10, &[5, 3, 2]).unwrap(), vec![5, 3, 2]);
        // 7 over 1:2:4 -> 1, 2, 4 exactly; 8 over the same -> 1.14, 2.29, 4.57: floors 1, 2, 4
        // and the unit left goes to the largest remainder (0.57).
        assert_eq!(allocate(8, &[1, 2, 4]).unwrap(), vec![1, 2, 5]);
        // A negative total splits its magnitude and keeps the sign.
        assert_eq!(allocate(-8, &[1, 2, 4]).unwrap(), vec![-1, -2, -5]);
        // Zero weights get nothing.
        assert_eq!(allocate(5, &[0, 3, 0, 2]).unwrap(), vec![0, 3, 0, 2]);
        assert_eq!(allocate(0, &[0, 0]).unwrap(), vec![0, 0]);
        assert!(allocate(1, &[0, 0]).is_err());
        assert!(allocate(1, &[-1, 2]).is_err());
    }

    #[test]
    fn large_values_do_not_overflow() {
        let parts = allocate(i64::MAX, &[i64::MAX, i64::MAX, 1]).unwrap();
        assert_eq!(
            parts.iter().map(|p| *p as i128).sum::<i128>(),
            i64::MAX as i128
        );
    }

    proptest! {
        #[test]
        fn parts_sum_to_the_total_and_stay_within_one_unit_of_exact(
            total in -1_000_000_000_000i64..1_000_000_000_000,
            weights in proptest::collection::vec(0i64..1_000_000_000, 1..40),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let parts = allocate(total, &weights).unwrap();
            prop_assert_eq!(parts.iter().map(|p| *p as i128).sum::<i128>(), total as i128);
            let sum: i128 = weights.iter().map(|w| *w as i128).sum();
            for (p, w) in parts.iter().zip(&weights) {
                let exact = total as i128 * *w as i128;
                // |part x sum - exact| < sum: within one unit of the exact share.
                prop_assert!((*p as i128 * sum - exact).abs() < sum);
                if *w == 0 { prop_assert_eq!(*p, 0); }
            }
        }

        #[test]
        fn no_part_exceeds_its_weight_when_the_total_fits(
            weights in proptest::collection::vec(0i64..1_000, 1..40),
            frac in 0.0f64..=1.0,
        ) {
            let sum: i64 = weights.iter().sum();
            prop_assume!(sum > 0);
            let total = ((sum as f64) * frac) as i64;
            let parts = allocate(total, &weights).unwrap();
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(p <= w);
            }
        }
    }
}
