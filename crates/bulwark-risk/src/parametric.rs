//! Parametric VaR and expected shortfall: normal and Student-t loss distributions.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::empirical::mean;
use crate::normal::{normal_pdf, normal_quantile};
use crate::optim::minimise;
use crate::{check, RiskError};

/// The largest degrees of freedom a Student-t fit returns: beyond it the t is a normal for
/// every VaR level a report shows (t_0.99 at 1,000 dof is within 0.2% of z_0.99).
pub const MAX_FITTED_DOF: f64 = 1_000.0;

/// The fewest losses a Student-t maximum-likelihood fit accepts: its three parameters and
/// the tail shape need a sample that has a tail.
pub const MIN_T_FIT_OBSERVATIONS: usize = 30;

/// Losses distributed normally, in USD (positive = loss).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormalLoss {
    /// Mean loss, USD.
    pub mean_usd: f64,
    /// Standard deviation of the loss, USD, >= 0.
    pub sd_usd: f64,
}

impl NormalLoss {
    /// A normal loss with the given mean and standard deviation (USD).
    ///
    /// # Errors
    /// [`RiskError::OutOfRange`] for a non-finite mean or a negative or non-finite sd.
    pub fn new(mean_usd: f64, sd_usd: f64) -> Result<NormalLoss, RiskError> {
        check::finite("mean_usd", mean_usd)?;
        if !(sd_usd.is_finite() && sd_usd >= 0.0) {
            return Err(RiskError::OutOfRange {
                what: "sd_usd",
                value: sd_usd,
                range: "[0, inf)",
            });
        }
        Ok(NormalLoss { mean_usd, sd_usd })
    }

    /// Fits by the sample mean and the sample standard deviation (divisor n - 1).
    ///
    /// # Errors
    /// Empty or non-finite losses; fewer than 2 losses.
    pub fn fit(losses_usd: &[f64]) -> Result<NormalLoss, RiskError> {
        check::finite_slice("losses_usd", losses_usd)?;
        check::at_least("normal fit", losses_usd.len(), 2)?;
        let (mean_usd, sd_usd) = mean_sd(losses_usd);
        NormalLoss::new(mean_usd, sd_usd)
    }

    /// VaR at `level` in (0, 1), USD: mean + sd z_level.
    ///
    /// # Errors
    /// [`RiskError::OutOfRange`] when `level` is not strictly inside (0, 1).
    pub fn var(&self, level: f64) -> Result<f64, RiskError> {
        check::open_unit("level", level)?;
        Ok(self.mean_usd + self.sd_usd * normal_quantile(level)?)
    }

    /// Expected shortfall at `level` in (0, 1), USD: mean + sd phi(z_level) / (1 - level)
    /// (McNeil, Frey & Embrechts, Quantitative Risk Management, 2005, Example 2.18).
    ///
    /// # Errors
    /// As [`NormalLoss::var`].
    pub fn expected_shortfall(&self, level: f64) -> Result<f64, RiskError> {
        check::open_unit("level", level)?;
        let z = normal_quantile(level)?;
        Ok(self.mean_usd + self.sd_usd * normal_pdf(z) / (1.0 - level))
    }
}

/// Losses distributed as location + scale * T, T a standard Student-t with `dof` degrees of
/// freedom, in USD (positive = loss). The standard deviation is scale sqrt(dof / (dof - 2))
/// when dof > 2.
///
/// The t quantile comes from `statrs` (`StudentsT::inverse_cdf`, an inverse regularised
/// incomplete beta), which uses the platform's `ln`/`exp`: its last bits are not under this
/// crate's control, unlike the rest of the crate (see the crate documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StudentTLoss {
    /// Location (the median and, as dof > 1, the mean), USD.
    pub location_usd: f64,
    /// Scale, USD, > 0.
    pub scale_usd: f64,
    /// Degrees of freedom, > 1 (so that the expected shortfall is finite).
    pub dof: f64,
}

impl StudentTLoss {
    /// A location-scale Student-t loss.
    ///
    /// # Errors
    /// [`RiskError::OutOfRange`] for a non-finite location, a scale that is not finite and
    /// positive, or dof that is not finite and > 1.
    pub fn new(location_usd: f64, scale_usd: f64, dof: f64) -> Result<StudentTLoss, RiskError> {
        check::finite("location_usd", location_usd)?;
        check::positive("scale_usd", scale_usd)?;
        if !(dof.is_finite() && dof > 1.0) {
            return Err(RiskError::OutOfRange {
                what: "dof",
                value: dof,
                range: "(1, inf)",
            });
        }
        Ok(StudentTLoss {
            location_usd,
            scale_usd,
            dof,
        })
    }

    /// Fits with the given `dof` (> 2) by matching the sample mean and standard deviation:
    /// location = mean, scale = sd sqrt((dof - 2) / dof).
    ///
    /// # Errors
    /// Empty or non-finite losses, fewer than 2, all losses equal, dof not finite and > 2.
    pub fn fit_with_dof(losses_usd: &[f64], dof: f64) -> Result<StudentTLoss, RiskError> {
        check::finite_slice("losses_usd", losses_usd)?;
        check::at_least("Student-t fit", losses_usd.len(), 2)?;
        if !(dof.is_finite() && dof > 2.0) {
            return Err(RiskError::OutOfRange {
                what: "dof",
                value: dof,
                range: "(2, inf)",
            });
        }
        let (mean_usd, sd_usd) = mean_sd(losses_usd);
        StudentTLoss::new(mean_usd, sd_usd * libm::sqrt((dof - 2.0) / dof), dof)
    }

    /// Fits location, scale and dof by maximum likelihood, dof in (1, [`MAX_FITTED_DOF`]].
    ///
    /// The log-likelihood is maximised by Nelder–Mead (argmin) over (location, ln scale,
    /// ln(dof - 1)), on the losses standardised by their mean and standard deviation for
    /// conditioning, starting from the sample mean, dof 5 and the matching scale.
    ///
    /// # Errors
    /// Empty or non-finite losses, fewer than [`MIN_T_FIT_OBSERVATIONS`], all losses equal
    /// ([`RiskError::FitFailed`]), or an optimiser failure.
    pub fn fit(losses_usd: &[f64]) -> Result<StudentTLoss, RiskError> {
        check::finite_slice("losses_usd", losses_usd)?;
        check::at_least("Student-t fit", losses_usd.len(), MIN_T_FIT_OBSERVATIONS)?;
        let (mean_usd, sd_usd) = mean_sd(losses_usd);
        if sd_usd <= 0.0 {
            return Err(RiskError::FitFailed {
                what: "Student-t fit",
                reason: "all losses are equal".to_string(),
            });
        }
        let z: Vec<f64> = losses_usd.iter().map(|x| (x - mean_usd) / sd_usd).collect();
        let dof_of = |theta: f64| 1.0 + libm::exp(theta).min(MAX_FITTED_DOF - 1.0);
        let nll =
            |theta: &[f64]| -t_log_likelihood(&z, theta[0], libm::exp(theta[1]), dof_of(theta[2]));
        let start_dof = 5.0;
        let start = [
            0.0,
            libm::log(libm::sqrt((start_dof - 2.0) / start_dof)),
            libm::log(start_dof - 1.0),
        ];
        let best = minimise("Student-t fit", nll, &start, 0.5)?;
        StudentTLoss::new(
            mean_usd + sd_usd * best.x[0],
            sd_usd * libm::exp(best.x[1]),
            dof_of(best.x[2]),
        )
    }

    /// VaR at `level` in (0, 1), USD: location + scale t_dof^-1(level).
    ///
    /// # Errors
    /// [`RiskError::OutOfRange`] when `level` is not strictly inside (0, 1).
    pub fn var(&self, level: f64) -> Result<f64, RiskError> {
        check::open_unit("level", level)?;
        Ok(self.location_usd + self.scale_usd * self.standard_quantile(level)?)
    }

    /// Expected shortfall at `level` in (0, 1), USD:
    /// location + scale f(q) (dof + q^2) / ((dof - 1)(1 - level)), q = t_dof^-1(level), f the
    /// standard t density (McNeil, Frey & Embrechts 2005, Example 2.19).
    ///
    /// # Errors
    /// As [`StudentTLoss::var`].
    pub fn expected_shortfall(&self, level: f64) -> Result<f64, RiskError> {
        check::open_unit("level", level)?;
        let q = self.standard_quantile(level)?;
        let nu = self.dof;
        let tail = libm::exp(t_log_density(q, nu)) * (nu + q * q) / ((nu - 1.0) * (1.0 - level));
        Ok(self.location_usd + self.scale_usd * tail)
    }

    fn standard_quantile(&self, level: f64) -> Result<f64, RiskError> {
        let t = StudentsT::new(0.0, 1.0, self.dof).map_err(|e| RiskError::FitFailed {
            what: "Student-t quantile",
            reason: e.to_string(),
        })?;
        Ok(t.inverse_cdf(level))
    }
}

/// Sample mean and standard deviation (divisor n - 1), n >= 2.
pub(crate) fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (m, libm::sqrt(ss / (xs.len() - 1) as f64))
}

/// ln of the standard Student-t density at t with nu degrees of freedom.
pub(crate) fn t_log_density(t: f64, nu: f64) -> f64 {
    libm::lgamma((nu + 1.0) / 2.0)
        - libm::lgamma(nu / 2.0)
        - 0.5 * libm::log(nu * core::f64::consts::PI)
        - (nu + 1.0) / 2.0 * libm::log1p(t * t / nu)
}

/// Log-likelihood of a location-scale t sample.
fn t_log_likelihood(xs: &[f64], location: f64, scale: f64, nu: f64) -> f64 {
    let per_point = libm::lgamma((nu + 1.0) / 2.0)
        - libm::lgamma(nu / 2.0)
        - 0.5 * libm::log(nu * core::f64::consts::PI)
        - libm::log(scale);
    let kernel: f64 = xs
        .iter()
        .map(|x| {
            let t = (x - location) / scale;
            libm::log1p(t * t / nu)
        })
        .sum();
    xs.len() as f64 * per_point - (nu + 1.0) / 2.0 * kernel
}
