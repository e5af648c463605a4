//! The forecast corrected by its own backtest, online.
//!
//! A live venue knows, an hour after each hourly forecast, the loss that hour realised. A
//! forecast that keeps being exceeded is too narrow, whatever the reason the model cannot see
//! (positions opened within the hour, keepers slower than their average, a regime that has
//! just turned); one that is never exceeded is too wide. This multiplier on the paths'
//! volatility follows the exceedances, as adaptive conformal inference moves its quantile
//! level (Gibbs and Candès, "Adaptive conformal inference under distribution shift", 2021)
//! and as a bank's VaR multiplier rises with the exceptions its backtest counts:
//!
//! `ln c <- ln c + gain x (e - 0.05)`, clamped to `[ln min, ln max]`,
//!
//! where `e` is the probability that the closed hour's randomized transform is at least 0.95
//! (the hour's exceedance of VaR 95, with an atom of the forecast spread as the backtest
//! spreads it, but as its expectation: no draw). At 5% exceedances `ln c` stands still on
//! average; each exceedance raises it by `0.95 gain`, each quiet hour lowers it by
//! `0.05 gain`.
//!
//! Only closed hours are used, and only the venue's own: the forecasts it made and the losses
//! it booked. Nothing here looks ahead.

/// The volatility multiplier and how it moves.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    gain: f64,
    ln_min: f64,
    ln_max: f64,
    ln_scale: f64,
}

/// The level whose exceedances the multiplier steers to 1 - level.
pub const LEVEL: f64 = 0.95;

impl Calibration {
    /// Starts at 1. `min <= 1 <= max`, both finite and positive, and `gain >= 0` (validated
    /// with the scenario).
    pub fn new(gain: f64, min: f64, max: f64) -> Calibration {
        Calibration {
            gain,
            ln_min: libm::log(min),
            ln_max: libm::log(max),
            ln_scale: 0.0,
        }
    }

    /// The multiplier on the paths' volatility now.
    pub fn scale(&self) -> f64 {
        libm::exp(self.ln_scale)
    }

    /// Folds one closed hour: the forecast's path losses and the loss the hour realised (USD;
    /// within `tolerance_usd` counted equal). A forecast with no paths changes nothing.
    pub fn observe(&mut self, losses_usd: &[f64], realised_usd: f64, tolerance_usd: f64) {
        let Some(e) = exceedance_probability(losses_usd, realised_usd, tolerance_usd) else {
            return;
        };
        let moved = self.ln_scale + self.gain * (e - (1.0 - LEVEL));
        self.ln_scale = moved.clamp(self.ln_min, self.ln_max);
    }
}

/// The probability, over the randomizing draw, that the randomized transform of `realised`
/// under the sample is at least [`LEVEL`]: 0 when the realised loss is below the sample's
/// 95% quantile, 1 when even its lower end is above, the share of its atom above 0.95 when
/// the realised loss sits on an atom that straddles it. `None` for an empty sample or a value
/// that is not finite (as [`bulwark_risk::pit_counts`] refuses them).
pub fn exceedance_probability(sample: &[f64], realised: f64, tolerance: f64) -> Option<f64> {
    let (below, at_or_below) = bulwark_risk::pit_counts(sample, realised, tolerance).ok()?;
    let n = sample.len() as f64;
    let (below, at_or_below) = (below as f64 / n, at_or_below as f64 / n);
    // The transform is uniform on [below, at_or_below].
    Some(if below >= LEVEL {
        1.0
    } else if at_or_below <= LEVEL {
        // An atom whose top is 0.95 reaches it only with v = 1, which is never drawn.
        0.0
    } else {
        (at_or_below - LEVEL) / (at_or_below - below)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, on 20 paths: 18 zeros, then 1 and 5. A realised 0 sits on an atom [0, 0.9]:
    /// never at 0.95. A realised 1 sits on [0.9, 0.95): its top is never drawn, probability 0.
    /// A realised 3 is above 19 of 20: the transform is 0.95 whatever the draw, 1. A realised
    /// 5 sits on [0.95, 1]: 1. With 15 zeros and 5 ones, a realised 1 sits on [0.75, 1]:
    /// 0.05 / 0.25 = 0.2.
    #[test]
    fn the_exceedance_probability_by_hand() {
        let mut s = vec![0.0; 18];
        s.extend([1.0, 5.0]);
        let p = |s: &[f64], y| exceedance_probability(s, y, 1e-9).unwrap();
        assert_eq!(p(&s, 0.0), 0.0);
        assert_eq!(p(&s, 1.0), 0.0);
        assert_eq!(p(&s, 3.0), 1.0);
        assert_eq!(p(&s, 5.0), 1.0);
        let mut t = vec![0.0; 15];
        t.extend([1.0; 5]);
        assert!((p(&t, 1.0) - 0.2).abs() < 1e-12);
        assert_eq!(exceedance_probability(&[], 1.0, 0.0), None);
        assert_eq!(exceedance_probability(&s, f64::NAN, 0.0), None);
    }

    /// Each exceedance raises ln c by 0.95 gain, each quiet hour lowers it by 0.05 gain, and
    /// the bounds hold: with gain 1, one exceedance gives e^0.95; 19 quiet hours after it
    /// bring it back to 1; many exceedances stop at the maximum, many quiet hours at the
    /// minimum.
    #[test]
    fn the_multiplier_follows_the_exceedances_within_its_bounds() {
        // 90 paths lose nothing, 10 lose 1: a realised 0 is on [0, 0.9] (probability 0), a
        // realised 10 above them all (probability 1).
        let mut paths = vec![0.0; 90];
        paths.extend([1.0; 10]);
        let mut c = Calibration::new(1.0, 0.5, 4.0);
        assert_eq!(c.scale(), 1.0);
        c.observe(&paths, 10.0, 1e-9);
        assert!((c.scale() - libm::exp(0.95)).abs() < 1e-12);
        for _ in 0..19 {
            c.observe(&paths, 0.0, 1e-9);
        }
        assert!((c.scale() - 1.0).abs() < 1e-12, "{}", c.scale());
        for _ in 0..10 {
            c.observe(&paths, 10.0, 1e-9);
        }
        assert!((c.scale() - 4.0).abs() < 1e-12);
        for _ in 0..1000 {
            c.observe(&paths, 0.0, 1e-9);
        }
        assert!((c.scale() - 0.5).abs() < 1e-12);
        // No paths: nothing learnt. Paths and hour that all lose nothing: the transform is
        // uniform on [0, 1], probability 5%, no move.
        c.observe(&[], 10.0, 1e-9);
        c.observe(&[0.0; 100], 0.0, 1e-9);
        assert!((c.scale() - 0.5).abs() < 1e-12);
    }

    /// Gain 0 never moves.
    #[test]
    fn gain_zero_is_off() {
        let mut c = Calibration::new(0.0, 0.5, 4.0);
        c.observe(&[0.0; 10], 10.0, 1e-9);
        assert_eq!(c.scale(), 1.0);
    }
}
