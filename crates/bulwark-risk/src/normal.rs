//! The standard normal distribution, computed with `libm` only so that z-values are the same
//! bits on every machine.
//!
//! `statrs::distribution::Normal` would serve, but its quantile goes through the platform's
//! `ln`, whose last bit is not specified across C libraries; Wilson intervals and parametric
//! VaR go into reports that must be byte-identical. The tests check this module against
//! statrs to 1e-15.

use crate::{check, RiskError};

/// 1 / sqrt(2 pi).
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// The standard normal quantile: the z with P(Z <= z) = `p`, for `p` in (0, 1).
///
/// Wichura's algorithm AS 241 (PPND16; Applied Statistics 37(3), 477-484, 1988), whose
/// relative error is about 1e-16 over the whole range. Evaluated with `libm::log` and
/// `libm::sqrt` and explicit Horner steps (Rust never fuses a multiply and an add on its own),
/// so the result is bit-identical on every platform.
///
/// # Errors
/// [`RiskError::OutOfRange`] when `p` is not strictly inside (0, 1) (including NaN).
pub fn normal_quantile(p: f64) -> Result<f64, RiskError> {
    check::open_unit("p", p)?;
    Ok(ppnd16(p))
}

/// The standard normal density at `z` (finite or infinite; NaN gives NaN).
pub fn normal_pdf(z: f64) -> f64 {
    FRAC_1_SQRT_2PI * libm::exp(-0.5 * z * z)
}

/// Horner evaluation of c[0] + c[1] x + ... (lowest degree first, as the paper lists them).
fn poly(c: &[f64; 8], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

/// AS 241 for p in (0, 1), unchecked.
// The coefficients keep the paper's 20 digits so that they can be checked against it
// digit by digit; the compiler rounds each to the nearest f64 once.
#[allow(clippy::excessive_precision)]
fn ppnd16(p: f64) -> f64 {
    // Coefficients from the paper, lowest degree first.
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    // The tails: r = sqrt(-ln(min(p, 1 - p))); 1 - p is exact for p >= 0.5 (Sterbenz).
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = libm::sqrt(-libm::log(tail));
    let z = if r <= 5.0 {
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 {
        -z
    } else {
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_z_values() {
        // Values to 16 digits from the inverse error function (e.g. Abramowitz & Stegun 26.2).
        let cases = [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.95, 1.644_853_626_951_472_2),
            (0.99, 2.326_347_874_040_841),
            (0.841_344_746_068_542_9, 1.0),
            (1e-10, -6.361_340_902_404_056),
        ];
        for (p, z) in cases {
            let got = normal_quantile(p).unwrap();
            assert!(
                (got - z).abs() <= 1e-14 * z.abs().max(1.0),
                "p {p}: {got} vs {z}"
            );
        }
        assert!((normal_pdf(0.0) - FRAC_1_SQRT_2PI).abs() == 0.0);
    }

    #[test]
    fn refuses_probabilities_outside_the_open_unit_interval() {
        for p in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(normal_quantile(p).is_err(), "{p}");
        }
    }
}
