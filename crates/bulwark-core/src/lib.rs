//! Fixed-point money, prices and quantities for Bulwark.
//!
//! Every amount the engine keeps is an integer with its scale in its type:
//!
//! | type | raw unit | example |
//! |---|---|---|
//! | [`Usd`] | signed micro-USD (1e-6 USD), `i64` | `Usd::from_micros(1_500_000)` is 1.5 USD |
//! | [`Price`] | micro-USD per one whole base unit, `i64`, > 0 | 65,000.5 USD/BTC is `65_000_500_000` |
//! | [`Qty`] | signed lots of a market, `i64` | with a 0.001 BTC lot, `Qty::from_lots(2_500)` is 2.5 BTC |
//! | [`Ppm`] | parts per million, `i64` | 0.5% is `Ppm::from_raw(5_000)` |
//!
//! Products and quotients go through `i128`; every division names its rounding
//! ([`Round::Floor`] or [`Round::Ceil`]) and the caller picks the direction that goes
//! against the account and toward the venue's solvency. Overflow is an [`ArithError`] that
//! names the caller's file and line, never a wrap and never a panic.

use core::fmt;
use core::panic::Location;
use core::str::FromStr;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod allocate;
mod decimal;
pub use allocate::allocate;
pub use decimal::ParseDecimalError;

/// Micro-units per whole unit of USD (and of price).
pub const MICROS_PER_UNIT: i64 = 1_000_000;
/// Parts per million in one whole.
pub const PPM_ONE: i64 = 1_000_000;

/// An arithmetic failure, carrying the source location of the checked operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArithError {
    pub kind: ArithErrorKind,
    pub location: &'static Location<'static>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithErrorKind {
    Overflow,
    DivisionByZero,
    /// A postcondition of the engine's own bookkeeping did not hold (for example, the stages
    /// of the loss waterfall did not add up to the deficit): an engine bug, met and reported
    /// like an arithmetic bound so the command is rolled back instead of the venue stopping.
    Postcondition,
}

impl fmt::Display for ArithError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ArithErrorKind::Overflow => "arithmetic overflow",
            ArithErrorKind::DivisionByZero => "division by zero",
            ArithErrorKind::Postcondition => "broken postcondition",
        };
        write!(
            f,
            "{what} at {}:{}",
            self.location.file(),
            self.location.line()
        )
    }
}

impl std::error::Error for ArithError {}

impl ArithError {
    #[track_caller]
    #[cold]
    pub fn overflow() -> Self {
        ArithError {
            kind: ArithErrorKind::Overflow,
            location: Location::caller(),
        }
    }
    #[track_caller]
    #[cold]
    pub fn postcondition() -> Self {
        ArithError {
            kind: ArithErrorKind::Postcondition,
            location: Location::caller(),
        }
    }
    #[track_caller]
    #[cold]
    pub fn division_by_zero() -> Self {
        ArithError {
            kind: ArithErrorKind::DivisionByZero,
            location: Location::caller(),
        }
    }
}

pub type ArithResult<T> = Result<T, ArithError>;

/// `Some(v)` to `Ok(v)`, `None` to an overflow error at the caller's location. (A closure
/// passed to `ok_or_else` would not forward `#[track_caller]`.)
#[inline]
#[track_caller]
pub fn ok_or_overflow<T>(v: Option<T>) -> ArithResult<T> {
    match v {
        Some(v) => Ok(v),
        None => Err(ArithError::overflow()),
    }
}

/// The direction of a rounding. There is no "nearest": every rounding in the engine is
/// chosen so that the account, never the venue, absorbs the fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceil,
}

/// `a * b / d` with the named rounding, through `i128`. Takes an `i64` fast path when the
/// product fits, because `i128` division is several times slower on x86-64.
#[inline]
#[track_caller]
pub fn mul_div(a: i64, b: i64, d: i64, round: Round) -> ArithResult<i64> {
    if d == 0 {
        return Err(ArithError::division_by_zero());
    }
    if let Some(p) = a.checked_mul(b) {
        if p != i64::MIN || d != -1 {
            return Ok(div_round_i64(p, d, round));
        }
        return Err(ArithError::overflow());
    }
    let p = a as i128 * b as i128;
    let q = div_round_i128(p, d as i128, round);
    ok_or_overflow(i64::try_from(q).ok())
}

/// `a * b * c / d` with the named rounding, entirely in `i128` (three-factor products such as
/// quantity x price x fraction appear in margin and fee formulas).
#[inline]
#[track_caller]
pub fn mul_mul_div(a: i64, b: i64, c: i64, d: i64, round: Round) -> ArithResult<i64> {
    if d == 0 {
        return Err(ArithError::division_by_zero());
    }
    let p = ok_or_overflow(
        (a as i128)
            .checked_mul(b as i128)
            .and_then(|p| p.checked_mul(c as i128)),
    )?;
    let q = div_round_i128(p, d as i128, round);
    ok_or_overflow(i64::try_from(q).ok())
}

/// `n / d` with the named rounding. Errors on a zero divisor and on `i64::MIN / -1`.
#[inline]
#[track_caller]
pub fn div_i64(n: i64, d: i64, round: Round) -> ArithResult<i64> {
    if d == 0 {
        return Err(ArithError::division_by_zero());
    }
    if n == i64::MIN && d == -1 {
        return Err(ArithError::overflow());
    }
    Ok(div_round_i64(n, d, round))
}

/// `n / d` in `i128` with the named rounding, for intermediate products that do not fit `i64`.
/// Errors on a zero divisor and on `i128::MIN / -1`.
#[inline]
#[track_caller]
pub fn div_i128(n: i128, d: i128, round: Round) -> ArithResult<i128> {
    // Operands that fit `i64` (the common case: prices, thresholds) take the native division
    // first; a zero divisor and `i64::MIN` (whose quotient by -1 fits only `i128`) go on to the
    // checks below. Same quotient, same rounding.
    if let (Ok(n64), Ok(d64)) = (i64::try_from(n), i64::try_from(d)) {
        if d64 != 0 && n64 != i64::MIN {
            return Ok(div_round_i64(n64, d64, round) as i128);
        }
    }
    if d == 0 {
        return Err(ArithError::division_by_zero());
    }
    if n == i128::MIN && d == -1 {
        return Err(ArithError::overflow());
    }
    Ok(div_round_i128_wide(n, d, round))
}

/// `n / d` for unsigned quantities (times, counts), rounded down. Errors on a zero divisor.
#[inline]
#[track_caller]
pub fn div_floor_u64(n: u64, d: u64) -> ArithResult<u64> {
    ok_or_overflow(n.checked_div(d)).map_err(|_| ArithError::division_by_zero())
}

#[inline]
fn div_round_i64(p: i64, d: i64, round: Round) -> i64 {
    let q = p / d;
    let r = p % d;
    if r == 0 {
        return q;
    }
    // Truncation went toward zero; correct it to the named direction.
    let exact_is_negative = (r < 0) != (d < 0);
    match (round, exact_is_negative) {
        (Round::Floor, true) => q - 1,
        (Round::Ceil, false) => q + 1,
        _ => q,
    }
}

/// `p / d` rounded as named, for `d != 0` and not `i128::MIN / -1`.
#[inline]
fn div_round_i128(p: i128, d: i128, round: Round) -> i128 {
    // Operands that fit `i64` (the common case: prices, thresholds) take the native division;
    // `i64::MIN / -1` is left to the wide path. Same quotient, same rounding.
    if let (Ok(p64), Ok(d64)) = (i64::try_from(p), i64::try_from(d)) {
        if p64 != i64::MIN {
            return div_round_i64(p64, d64, round) as i128;
        }
    }
    div_round_i128_wide(p, d, round)
}

/// `div_round_i128` through the `i128` division (a library call on x86-64).
#[inline]
fn div_round_i128_wide(p: i128, d: i128, round: Round) -> i128 {
    let q = p / d;
    // The remainder from the quotient: one `i128` division (a library call) instead of two.
    // Exact, so no overflow check is needed: a truncated quotient has |q x d| <= |p|.
    let r = p.wrapping_sub(q.wrapping_mul(d));
    debug_assert_eq!(r, p % d);
    if r == 0 {
        return q;
    }
    let exact_is_negative = (r < 0) != (d < 0);
    match (round, exact_is_negative) {
        (Round::Floor, true) => q - 1,
        (Round::Ceil, false) => q + 1,
        _ => q,
    }
}

/// Integer square root (floor) of a `u64`; exact and deterministic on every machine.
///
/// A float square root gives the first guess and integer steps correct it, so the result is
/// exactly floor(sqrt(n)) whatever the float's rounding; the float only saves the ~30
/// iterations of a bitwise method (`u64::isqrt` measured about 4x slower on the margin path).
#[inline]
pub fn isqrt_u64(n: u64) -> u64 {
    let mut s = (n as f64).sqrt() as u64;
    while s.checked_mul(s).is_none_or(|sq| sq > n) {
        s -= 1;
    }
    while (s + 1).checked_mul(s + 1).is_some_and(|sq| sq <= n) {
        s += 1;
    }
    s
}

macro_rules! checked_ops {
    ($t:ident) => {
        impl $t {
            pub const ZERO: $t = $t(0);

            #[inline]
            #[track_caller]
            pub fn checked_add(self, o: $t) -> ArithResult<$t> {
                ok_or_overflow(self.0.checked_add(o.0).map($t))
            }
            #[inline]
            #[track_caller]
            pub fn checked_sub(self, o: $t) -> ArithResult<$t> {
                ok_or_overflow(self.0.checked_sub(o.0).map($t))
            }
            #[inline]
            #[track_caller]
            pub fn checked_neg(self) -> ArithResult<$t> {
                ok_or_overflow(self.0.checked_neg().map($t))
            }
            #[inline]
            #[track_caller]
            pub fn checked_abs(self) -> ArithResult<$t> {
                ok_or_overflow(self.0.checked_abs().map($t))
            }
            #[inline]
            pub fn is_zero(self) -> bool {
                self.0 == 0
            }
            #[inline]
            pub fn is_negative(self) -> bool {
                self.0 < 0
            }
            #[inline]
            pub fn is_positive(self) -> bool {
                self.0 > 0
            }
            #[inline]
            pub fn signum(self) -> i64 {
                self.0.signum()
            }
        }
    };
}

/// Signed micro-USD. Balances, fees, PnL and requirements are all `Usd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i64);
checked_ops!(Usd);

impl Usd {
    pub const MAX: Usd = Usd(i64::MAX);
    #[inline]
    pub const fn from_micros(micros: i64) -> Usd {
        Usd(micros)
    }
    #[inline]
    pub const fn micros(self) -> i64 {
        self.0
    }
    /// Whole dollars; overflow is an error.
    #[track_caller]
    pub fn from_whole(usd: i64) -> ArithResult<Usd> {
        ok_or_overflow(usd.checked_mul(MICROS_PER_UNIT).map(Usd))
    }
    /// `self * num / den` with the named rounding.
    #[inline]
    #[track_caller]
    pub fn mul_div(self, num: i64, den: i64, round: Round) -> ArithResult<Usd> {
        mul_div(self.0, num, den, round).map(Usd)
    }
    /// `self * fraction`, rounded as named.
    #[inline]
    #[track_caller]
    pub fn mul_ppm(self, f: Ppm, round: Round) -> ArithResult<Usd> {
        mul_div(self.0, f.0, PPM_ONE, round).map(Usd)
    }
    #[inline]
    pub fn min(self, o: Usd) -> Usd {
        Usd(self.0.min(o.0))
    }
    #[inline]
    pub fn max(self, o: Usd) -> Usd {
        Usd(self.0.max(o.0))
    }
    /// Lossy conversion for reports and plots only; never feed the result back.
    pub fn to_f64_lossy(self) -> f64 {
        self.0 as f64 / MICROS_PER_UNIT as f64
    }
}

/// A price: micro-USD per one whole base unit (for BTC-USD, per 1 BTC). Valid prices are > 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);
checked_ops!(Price);

impl Price {
    pub const MAX: Price = Price(i64::MAX);
    #[inline]
    pub const fn from_micros(micros: i64) -> Price {
        Price(micros)
    }
    #[inline]
    pub const fn micros(self) -> i64 {
        self.0
    }
    #[track_caller]
    pub fn from_whole(usd: i64) -> ArithResult<Price> {
        ok_or_overflow(usd.checked_mul(MICROS_PER_UNIT).map(Price))
    }
    /// Lossy conversion for reports, plots and the lab's agents; never feed it to balances.
    pub fn to_f64_lossy(self) -> f64 {
        self.0 as f64 / MICROS_PER_UNIT as f64
    }
    /// The nearest representable price to a float, rounded as named; for drivers that
    /// produce prices from models (the lab). Errors on NaN, infinity or out of range.
    pub fn from_f64(v: f64, round: Round) -> Option<Price> {
        let scaled = v * MICROS_PER_UNIT as f64;
        let r = match round {
            Round::Floor => scaled.floor(),
            Round::Ceil => scaled.ceil(),
        };
        if !r.is_finite() || r <= i64::MIN as f64 || r >= i64::MAX as f64 {
            return None;
        }
        Some(Price(r as i64))
    }
    #[inline]
    pub fn min(self, o: Price) -> Price {
        Price(self.0.min(o.0))
    }
    #[inline]
    pub fn max(self, o: Price) -> Price {
        Price(self.0.max(o.0))
    }
}

/// A quantity in lots of one market. Signed: positions are negative when short.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Qty(i64);
checked_ops!(Qty);

impl Qty {
    #[inline]
    pub const fn from_lots(lots: i64) -> Qty {
        Qty(lots)
    }
    #[inline]
    pub const fn lots(self) -> i64 {
        self.0
    }
    #[inline]
    pub fn min(self, o: Qty) -> Qty {
        Qty(self.0.min(o.0))
    }
    #[inline]
    pub fn max(self, o: Qty) -> Qty {
        Qty(self.0.max(o.0))
    }
    #[inline]
    pub const fn abs(self) -> Qty {
        // Quantities are bounded far below i64::MAX by market limits, so abs cannot overflow
        // for any quantity the engine accepts; saturate rather than panic on a raw value.
        Qty(self.0.saturating_abs())
    }
}

/// A fraction in parts per million (1 bp = 100 ppm). Used for margin fractions, fees, rates.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Ppm(i64);

impl Ppm {
    pub const ZERO: Ppm = Ppm(0);
    pub const ONE: Ppm = Ppm(PPM_ONE);
    /// Parts per million: `Ppm::from_raw(5_000)` is 0.5%.
    #[inline]
    pub const fn from_raw(ppm: i64) -> Ppm {
        Ppm(ppm)
    }
    #[inline]
    pub const fn raw(self) -> i64 {
        self.0
    }
    pub fn to_f64_lossy(self) -> f64 {
        self.0 as f64 / PPM_ONE as f64
    }
}

/// A dense account id: an index into the engine's account table.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct AccountId(pub u32);

/// A dense market id: an index into the engine's market table.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MarketId(pub u16);

/// An order id, assigned by the engine in increasing order; unique for the venue's life.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct OrderId(pub u64);

/// Milliseconds since the Unix epoch, as given by the driver; the engine reads no clock.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TimestampMs(pub u64);

impl TimestampMs {
    #[inline]
    pub fn saturating_sub_ms(self, o: TimestampMs) -> u64 {
        self.0.saturating_sub(o.0)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        decimal::fmt_micros(self.0, f)
    }
}
impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        decimal::fmt_micros(self.0, f)
    }
}
impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Usd {
    type Err = ParseDecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decimal::parse_micros(s).map(Usd)
    }
}
impl FromStr for Price {
    type Err = ParseDecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decimal::parse_micros(s).map(Price)
    }
}

// Money crosses JSON as a decimal string ("65000.5"), so no reader ever parses it as a float.
// An integer JSON number is accepted as a whole amount for convenience in hand-written files.
macro_rules! decimal_serde {
    ($t:ident) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(decimal::MicrosVisitor).map($t)
            }
        }
    };
}
decimal_serde!(Usd);
decimal_serde!(Price);

#[cfg(test)]
mod tests;
