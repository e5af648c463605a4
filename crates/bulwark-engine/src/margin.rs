//! Pure margin arithmetic: values, notionals and requirements. Every rounding goes against
//! the account: values round down, requirements round up.

use crate::command::MarketParams;
use bulwark_core::{mul_div, ArithResult, Ppm, Price, Qty, Round, Usd, MICROS_PER_UNIT, PPM_ONE};
use serde::{Deserialize, Serialize};

/// Signed value of `qty` lots at `price`: positive for a long, negative for a short, rounded
/// down (so a long is worth a little less and a short owes a little more).
#[inline]
pub fn value_usd(qty: Qty, price: Price, lots_per_unit: i64) -> ArithResult<Usd> {
    mul_div(qty.lots(), price.micros(), lots_per_unit, Round::Floor).map(Usd::from_micros)
}

/// The signed value of `qty` lots at `price` rounded down, and its absolute notional rounded
/// up, from one division (the margin check's hot path needs both).
#[inline]
pub fn value_and_notional_usd(
    qty: Qty,
    price: Price,
    lots_per_unit: i64,
) -> ArithResult<(Usd, Usd)> {
    debug_assert!(lots_per_unit > 0);
    let (floor, exact) = match qty.lots().checked_mul(price.micros()) {
        Some(p) => (
            p.div_euclid(lots_per_unit),
            p.rem_euclid(lots_per_unit) == 0,
        ),
        None => {
            let p = qty.lots() as i128 * price.micros() as i128;
            let f = bulwark_core::ok_or_overflow(
                i64::try_from(p.div_euclid(lots_per_unit as i128)).ok(),
            )?;
            (f, p.rem_euclid(lots_per_unit as i128) == 0)
        }
    };
    // For a long, ceil(|x|) = floor(x) + 1 when inexact; for a short, |floor(x)| already is.
    let notional = if floor >= 0 && !exact {
        floor + 1
    } else {
        floor.saturating_abs()
    };
    Ok((Usd::from_micros(floor), Usd::from_micros(notional)))
}

/// Absolute notional of `qty` lots at `price`, rounded up (for requirements).
#[inline]
pub fn notional_ceil_usd(qty: Qty, price: Price, lots_per_unit: i64) -> ArithResult<Usd> {
    mul_div(qty.abs().lots(), price.micros(), lots_per_unit, Round::Ceil).map(Usd::from_micros)
}

/// Notional of a fill: rounded down, and the same number is used for both sides so the
/// trade itself moves no money out of thin air.
#[inline]
pub fn fill_notional_usd(qty: Qty, price: Price, lots_per_unit: i64) -> ArithResult<Usd> {
    mul_div(qty.lots(), price.micros(), lots_per_unit, Round::Floor).map(Usd::from_micros)
}

/// Maintenance fraction for a position of `notional` (>= 0): the market's base fraction, or
/// the size premium `size_premium * sqrt(notional in whole USD)` when that is larger.
#[inline]
pub fn maintenance_fraction(p: &MarketParams, notional: Usd) -> Ppm {
    if p.size_premium.raw() == 0 {
        return p.maintenance;
    }
    // Whole dollars rounded down (Euclidean division by a positive divisor is a floor).
    let whole_usd = notional.micros().div_euclid(MICROS_PER_UNIT).max(0) as u64;
    // The premium only exceeds the base once isqrt(notional) > base / premium: below that,
    // skip the square root (the common case, and the margin check's hot path).
    let ratio = p.maintenance.raw().div_euclid(p.size_premium.raw()) as u64;
    if whole_usd <= ratio.saturating_mul(ratio) {
        return p.maintenance;
    }
    let premium = (p.size_premium.raw() as u64).saturating_mul(bulwark_core::isqrt_u64(whole_usd));
    // A fraction above 1 would demand more than the notional; cap at 100%.
    let premium = premium.min(PPM_ONE as u64) as i64;
    Ppm::from_raw(p.maintenance.raw().max(premium))
}

/// Maintenance requirement of a position with absolute notional `notional`, rounded up.
#[inline]
pub fn maintenance_usd(p: &MarketParams, notional: Usd) -> ArithResult<Usd> {
    notional.mul_ppm(maintenance_fraction(p, notional), Round::Ceil)
}

/// Initial requirement: the maintenance requirement times the market's initial multiplier,
/// never more than the notional itself (a position at 1x needs no more than its notional).
#[inline]
pub fn initial_usd(p: &MarketParams, notional: Usd) -> ArithResult<Usd> {
    initial_from_maintenance(p, maintenance_usd(p, notional)?, notional)
}

/// The initial requirement from a maintenance requirement already computed for `notional`.
///
/// Capped at the notional: a 100% maintenance fraction (the size premium's cap) times a 100x
/// multiplier would otherwise ask for 100 notionals, beyond `i64` at the largest notional
/// (`engine::limits`); with the cap a pool's initial requirement is at most the sum of its
/// notionals.
#[inline]
pub fn initial_from_maintenance(
    p: &MarketParams,
    maintenance: Usd,
    notional: Usd,
) -> ArithResult<Usd> {
    // The multiplier's product can only fail by overflowing `i64`, and then it is above any
    // notional: the cap is the answer.
    Ok(
        match maintenance.mul_ppm(p.initial_multiplier, Round::Ceil) {
            Ok(initial) => initial.min(notional),
            Err(_) => notional,
        },
    )
}

/// Fee on a notional, positive when the account pays. Always rounded up: a fee is a little
/// larger, a rebate (negative rate) a little smaller in magnitude.
#[inline]
pub fn fee_usd(notional: Usd, rate: Ppm) -> ArithResult<Usd> {
    notional.mul_ppm(rate, Round::Ceil)
}

/// An account pool's health: equity against its requirements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Collateral plus unrealized PnL at the mark.
    pub equity_usd: Usd,
    /// Initial requirement, counting the worse side of resting orders.
    pub initial_usd: Usd,
    /// Maintenance requirement of the open positions.
    pub maintenance_usd: Usd,
}

impl Health {
    #[inline]
    pub fn below_maintenance(&self) -> bool {
        self.equity_usd < self.maintenance_usd
    }
    #[inline]
    pub fn is_negative(&self) -> bool {
        self.equity_usd.is_negative()
    }
    /// Equity above the initial requirement (negative when short of it).
    pub fn free_usd(&self) -> ArithResult<Usd> {
        self.equity_usd.checked_sub(self.initial_usd)
    }
}

/// The worse of a position's two extremes if every resting buy, or every resting sell, filled.
#[inline]
pub fn worst_case_qty(qty: Qty, open_buy: Qty, open_sell: Qty) -> Qty {
    Qty::from_lots(
        (qty.lots() + open_buy.lots())
            .abs()
            .max((qty.lots() - open_sell.lots()).abs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> MarketParams {
        MarketParams::btc_like("BTC-PERP", Price::from_micros(50_000 * MICROS_PER_UNIT))
    }

    #[test]
    fn values_round_against_the_account() {
        // 3 lots of 0.001 BTC at 33,333.333333 USD = 99.999999999 USD.
        let price = Price::from_micros(33_333_333_333);
        assert_eq!(
            value_usd(Qty::from_lots(3), price, 1000).unwrap(), // ok: a test
            Usd::from_micros(99_999_999)
        );
        assert_eq!(
            value_usd(Qty::from_lots(-3), price, 1000).unwrap(), // ok: a test
            Usd::from_micros(-100_000_000)
        );
        assert_eq!(
            notional_ceil_usd(Qty::from_lots(-3), price, 1000).unwrap(), // ok: a test
            Usd::from_micros(100_000_000)
        );
    }

    #[test]
    fn requirements_by_hand() {
        let mut p = params();
        p.size_premium = Ppm::from_raw(0);
        // 1 BTC at 50,000: maintenance 0.5% = 250 USD, initial 2x = 500 USD.
        let n = Usd::from_micros(50_000 * MICROS_PER_UNIT);
        assert_eq!(
            maintenance_usd(&p, n).unwrap(), // ok: a test
            Usd::from_micros(250 * MICROS_PER_UNIT)
        );
        assert_eq!(
            initial_usd(&p, n).unwrap(), // ok: a test
            Usd::from_micros(500 * MICROS_PER_UNIT)
        );
        // With a size premium of 10 ppm per sqrt(USD): sqrt(50,000) = 223 -> 2,230 ppm < 5,000.
        p.size_premium = Ppm::from_raw(10);
        assert_eq!(maintenance_fraction(&p, n), Ppm::from_raw(5_000));
        // 100 BTC (5,000,000 USD): sqrt = 2,236 -> 22,360 ppm = 2.236%.
        let big = Usd::from_micros(5_000_000 * MICROS_PER_UNIT);
        assert_eq!(maintenance_fraction(&p, big), Ppm::from_raw(22_360));
        assert_eq!(
            maintenance_usd(&p, big).unwrap(), // ok: a test
            Usd::from_micros(111_800 * MICROS_PER_UNIT)
        );
    }

    #[test]
    fn fees_round_toward_the_venue() {
        let n = Usd::from_micros(1_000_001);
        // 5 bp of 1.000001 USD = 0.0005000005 -> 0.000501 paid.
        assert_eq!(
            fee_usd(n, Ppm::from_raw(500)).unwrap(), // ok: a test
            Usd::from_micros(501)
        );
        // A 2 bp rebate = -0.0002000002 -> -0.000200 (ceil): the account gets 0.000200.
        assert_eq!(
            fee_usd(n, Ppm::from_raw(-200)).unwrap(), // ok: a test
            Usd::from_micros(-200)
        );
    }

    #[test]
    fn worst_case_counts_the_worse_side() {
        assert_eq!(
            worst_case_qty(Qty::from_lots(10), Qty::from_lots(5), Qty::from_lots(30)),
            Qty::from_lots(20)
        );
        assert_eq!(
            worst_case_qty(Qty::from_lots(-10), Qty::from_lots(5), Qty::from_lots(0)),
            Qty::from_lots(10)
        );
        assert_eq!(
            worst_case_qty(Qty::from_lots(0), Qty::from_lots(7), Qty::from_lots(3)),
            Qty::from_lots(7)
        );
    }
}
