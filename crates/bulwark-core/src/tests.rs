use super::*;
use proptest::prelude::*;

#[test]
fn mul_div_rounds_in_the_named_direction() {
    assert_eq!(mul_div(7, 1, 2, Round::Floor), Ok(3));
    assert_eq!(mul_div(7, 1, 2, Round::Ceil).unwrap(), 4);
    assert_eq!(mul_div(-7, 1, 2, Round::Floor).unwrap(), -4);
    assert_eq!(mul_div(-7, 1, 2, Round::Ceil).unwrap(), -3);
    assert_eq!(mul_div(7, 1, -2, Round::Floor).unwrap(), -4);
    assert_eq!(mul_div(6, 1, 2, Round::Ceil).unwrap(), 3);
    // The i128 path: 3e18 * 4 / 6 = 2e18 exactly.
    assert_eq!(
        mul_div(3_000_000_000_000_000_000, 4, 6, Round::Floor).unwrap(),
        2_000_000_000_000_000_000
    );
}

#[test]
fn mul_div_reports_overflow_and_zero_division_with_location() {
    let e = mul_div(i64::MAX, i64::MAX, 1, Round::Floor).unwrap_err();
    assert_eq!(e.kind, ArithErrorKind::Overflow);
    assert!(
        e.location.file().ends_with("tests.rs"),
        "{}",
        e.location.file()
    );
    let e = mul_div(1, 1, 0, Round::Floor).unwrap_err();
    assert_eq!(e.kind, ArithErrorKind::DivisionByZero);
    assert_eq!(
        mul_div(i64::MIN, 1, -1, Round::Floor).unwrap_err().kind,
        ArithErrorKind::Overflow
    );
    assert!(Usd::MAX.checked_add(Usd::from_micros(1)).is_err());
}

#[test]
fn mul_mul_div_three_factors() {
    // 2.5 BTC (2500 lots of 0.001) at 65,000 USD, 5% => 8,125 USD.
    let lots = 2_500;
    let price = 65_000 * MICROS_PER_UNIT;
    let notional = mul_div(lots, price, 1_000, Round::Floor).unwrap();
    assert_eq!(notional, 162_500 * MICROS_PER_UNIT);
    let req = mul_mul_div(lots, price, 50_000, 1_000 * PPM_ONE, Round::Ceil).unwrap();
    assert_eq!(req, 8_125 * MICROS_PER_UNIT);
}

#[test]
fn decimal_parse_and_print() {
    assert_eq!(
        "65000.5".parse::<Price>().unwrap(),
        Price::from_micros(65_000_500_000)
    );
    assert_eq!(
        "-1.000001".parse::<Usd>().unwrap(),
        Usd::from_micros(-1_000_001)
    );
    assert_eq!(".5".parse::<Usd>().unwrap(), Usd::from_micros(500_000));
    assert_eq!(
        "1.50000000".parse::<Usd>().unwrap(),
        Usd::from_micros(1_500_000)
    );
    assert_eq!(
        "1.0000001".parse::<Usd>().unwrap_err(),
        ParseDecimalError::TooManyDecimals { found: 7 }
    );
    assert_eq!(
        "1e5".parse::<Usd>().unwrap_err(),
        ParseDecimalError::InvalidCharacter('e')
    );
    assert_eq!("".parse::<Usd>().unwrap_err(), ParseDecimalError::Empty);
    assert_eq!(
        "99999999999999999".parse::<Usd>().unwrap_err(),
        ParseDecimalError::OutOfRange
    );
    assert_eq!(Usd::from_micros(-1_500_000).to_string(), "-1.5");
    assert_eq!(Usd::from_micros(7).to_string(), "0.000007");
    assert_eq!(Price::from_micros(42_000_000).to_string(), "42");
}

#[test]
fn serde_money_is_a_decimal_string() {
    let v: Usd = serde_json::from_str("\"12.25\"").unwrap();
    assert_eq!(v, Usd::from_micros(12_250_000));
    assert_eq!(serde_json::to_string(&v).unwrap(), "\"12.25\"");
    let whole: Usd = serde_json::from_str("12").unwrap();
    assert_eq!(whole, Usd::from_micros(12_000_000));
    let err = serde_json::from_str::<Usd>("12.5").unwrap_err().to_string();
    assert!(err.contains("write it as a string"), "{err}");
}

#[test]
fn serde_lots_and_ppm_are_bare_integers() {
    // The fields are private, but the JSON form is the integer itself, as in every command
    // log and events file written so far.
    assert_eq!(
        serde_json::to_string(&Qty::from_lots(-2_500)).unwrap(),
        "-2500"
    );
    assert_eq!(
        serde_json::to_string(&Ppm::from_raw(5_000)).unwrap(),
        "5000"
    );
    let q: Qty = serde_json::from_str("7").unwrap();
    assert_eq!(q.lots(), 7);
    let f: Ppm = serde_json::from_str("-200").unwrap();
    assert_eq!(f.raw(), -200);
    const HALF_PERCENT: Ppm = Ppm::from_raw(5_000);
    const LOT: Qty = Qty::from_lots(1);
    assert_eq!(
        (HALF_PERCENT.raw(), LOT.lots(), LOT.abs().lots()),
        (5_000, 1, 1)
    );
}

#[test]
fn isqrt_edges() {
    for n in [
        0u64,
        1,
        2,
        3,
        4,
        15,
        16,
        17,
        u32::MAX as u64,
        (1 << 52) + 1,
        u64::MAX - 1,
        u64::MAX,
    ] {
        assert_eq!(isqrt_u64(n), n.isqrt(), "{n}");
    }
}

proptest! {
    #[test]
    fn isqrt_is_exact(n in any::<u64>()) {
        prop_assert_eq!(isqrt_u64(n), n.isqrt());
    }

    #[test]
    fn decimal_round_trips(v in any::<i64>()) {
        let u = Usd::from_micros(v);
        let back: Usd = u.to_string().parse().unwrap();
        prop_assert_eq!(back, u);
    }

    #[test]
    fn mul_div_matches_i128_reference(a in any::<i64>(), b in any::<i64>(), d in any::<i64>()) {
        prop_assume!(d != 0);
        let exact = a as i128 * b as i128;
        // Reference: truncate, then step toward the named direction if inexact.
        let reference_floor = {
            let q = exact / d as i128;
            let r = exact % d as i128;
            if r != 0 && ((r < 0) != (d < 0)) { q - 1 } else { q }
        };
        match mul_div(a, b, d, Round::Floor) {
            Ok(q) => prop_assert_eq!(q as i128, reference_floor),
            Err(_) => prop_assert!(i64::try_from(reference_floor).is_err()),
        }
        let reference_ceil = {
            let q = exact / d as i128;
            let r = exact % d as i128;
            if r != 0 && ((r < 0) == (d < 0)) { q + 1 } else { q }
        };
        match mul_div(a, b, d, Round::Ceil) {
            Ok(q) => prop_assert_eq!(q as i128, reference_ceil),
            Err(_) => prop_assert!(i64::try_from(reference_ceil).is_err()),
        }
    }
}

#[test]
fn named_division_by_hand() {
    assert_eq!(div_i64(7, 2, Round::Floor).unwrap(), 3);
    assert_eq!(div_i64(7, 2, Round::Ceil).unwrap(), 4);
    assert_eq!(div_i64(-7, 2, Round::Floor).unwrap(), -4);
    assert_eq!(div_i64(-7, 2, Round::Ceil).unwrap(), -3);
    assert_eq!(div_i64(7, -2, Round::Floor).unwrap(), -4);
    assert_eq!(div_i64(6, 3, Round::Ceil).unwrap(), 2);
    assert!(div_i64(1, 0, Round::Floor).is_err());
    assert!(div_i64(i64::MIN, -1, Round::Floor).is_err());
    assert_eq!(div_i128(-7, 2, Round::Floor).unwrap(), -4);
    assert_eq!(
        div_i128(i64::MAX as i128 * 4 + 1, 4, Round::Ceil).unwrap(),
        i64::MAX as i128 + 1
    );
    assert!(div_i128(1, 0, Round::Ceil).is_err());
    assert_eq!(div_floor_u64(7, 2).unwrap(), 3);
    assert!(div_floor_u64(7, 0).is_err());
}

/// `div_i128` gives the same quotients on its `i64` fast path and its wide path: checked
/// against floor and ceiling computed from `%`, around the `i64` boundaries and both signs.
#[test]
fn named_i128_division_matches_the_reference_on_both_paths() {
    let edges = [
        i64::MIN as i128,
        i64::MAX as i128,
        1i128 << 64,
        1i128 << 100,
    ];
    let mut values = vec![0i128, 1, 2, 3, 7, 10_000, 999_999_999_937];
    for e in edges {
        values.extend([e - 1, e, e + 1]);
    }
    let signed: Vec<i128> = values.iter().flat_map(|&v| [v, -v]).collect();
    for &n in &signed {
        for &d in &signed {
            if d == 0 || (n == i128::MIN && d == -1) {
                continue;
            }
            let (q, r) = (n / d, n % d);
            let below = r != 0 && ((r < 0) != (d < 0));
            let floor = if below { q - 1 } else { q };
            let ceil = if r != 0 && !below { q + 1 } else { q };
            assert_eq!(div_i128(n, d, Round::Floor).unwrap(), floor, "{n} / {d}");
            assert_eq!(div_i128(n, d, Round::Ceil).unwrap(), ceil, "{n} / {d}");
        }
    }
}
