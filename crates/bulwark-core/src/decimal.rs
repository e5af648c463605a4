//! Exact decimal text <-> micro-unit integers. No floats anywhere on this path.

use core::fmt;
use serde::de::{self, Visitor};

use crate::MICROS_PER_UNIT;

/// Why a decimal string could not be read as an exact micro-unit amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseDecimalError {
    Empty,
    InvalidCharacter(char),
    TooManyDecimals { found: usize },
    OutOfRange,
}

impl fmt::Display for ParseDecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseDecimalError::Empty => write!(f, "empty amount"),
            ParseDecimalError::InvalidCharacter(c) => {
                write!(
                    f,
                    "invalid character {c:?} in amount (expected digits, one '.', optional '-')"
                )
            }
            ParseDecimalError::TooManyDecimals { found } => {
                write!(
                    f,
                    "{found} decimal places given, at most 6 (micro-units) are exact"
                )
            }
            ParseDecimalError::OutOfRange => write!(f, "amount out of range"),
        }
    }
}

impl std::error::Error for ParseDecimalError {}

pub(crate) fn parse_micros(s: &str) -> Result<i64, ParseDecimalError> {
    let s = s.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return Err(ParseDecimalError::Empty);
    }
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(ParseDecimalError::Empty);
    }
    // Trailing zeros beyond the sixth place are exact, so accept "1.50000000".
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > 6 {
        return Err(ParseDecimalError::TooManyDecimals {
            found: frac_trimmed.len(),
        });
    }
    let mut value: i64 = 0;
    for c in int_part.chars() {
        let d = c
            .to_digit(10)
            .ok_or(ParseDecimalError::InvalidCharacter(c))? as i64;
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or(ParseDecimalError::OutOfRange)?;
    }
    for c in frac_part.chars() {
        if !c.is_ascii_digit() {
            return Err(ParseDecimalError::InvalidCharacter(c));
        }
    }
    value = value
        .checked_mul(MICROS_PER_UNIT)
        .ok_or(ParseDecimalError::OutOfRange)?;
    let mut frac: i64 = 0;
    let mut scale = MICROS_PER_UNIT / 10;
    for c in frac_trimmed.chars() {
        frac += c.to_digit(10).expect("checked above") as i64 * scale;
        scale /= 10;
    }
    value = value
        .checked_add(frac)
        .ok_or(ParseDecimalError::OutOfRange)?;
    Ok(if negative { -value } else { value })
}

pub(crate) fn fmt_micros(v: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let neg = v < 0;
    let abs = v.unsigned_abs();
    let whole = abs / MICROS_PER_UNIT as u64;
    let frac = abs % MICROS_PER_UNIT as u64;
    let sign = if neg { "-" } else { "" };
    if frac == 0 {
        return write!(f, "{sign}{whole}");
    }
    let mut digits = format!("{frac:06}");
    while digits.ends_with('0') {
        digits.pop();
    }
    write!(f, "{sign}{whole}.{digits}")
}

pub(crate) struct MicrosVisitor;

impl<'de> Visitor<'de> for MicrosVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a decimal string with at most 6 decimal places, or a whole number"
        )
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_micros(v).map_err(|e| E::custom(format!("{e} in {v:?}")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        v.checked_mul(MICROS_PER_UNIT)
            .ok_or_else(|| E::custom("amount out of range"))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v)
            .ok()
            .and_then(|v| v.checked_mul(MICROS_PER_UNIT))
            .ok_or_else(|| E::custom("amount out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(E::custom(format!(
            "amount {v} is a JSON float; write it as a string (\"{v}\") so it stays exact"
        )))
    }
}
