//! GARCH(1,1) volatility fitted by maximum likelihood (Bollerslev 1986).
//!
//! Model, for zero-mean returns r_t per period:
//! r_t = sigma_t z_t, sigma_t^2 = omega + alpha r_{t-1}^2 + beta sigma_{t-1}^2,
//! with z_t i.i.d. standard normal, or Student-t scaled to unit variance (Bollerslev 1987).
//! Demean the returns first if their mean is not negligible against their volatility.

use crate::optim::{logistic, logit, minimise};
use crate::{check, RiskError};

/// The fewest returns [`fit_garch11`] accepts. GARCH persistence is poorly identified on
/// short samples; a few hundred returns is already thin, 1,000+ is comfortable.
pub const MIN_GARCH_OBSERVATIONS: usize = 100;

/// The largest Student-t dof a fit returns (beyond it the innovations are normal for all
/// practical purposes).
pub const MAX_GARCH_DOF: f64 = 500.0;

/// The parameters of a GARCH(1,1) variance recursion, for returns in the units the model was
/// fitted on (omega is in squared return units per period; alpha and beta are pure numbers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Garch11 {
    /// Constant term, > 0, squared return units per period.
    pub omega: f64,
    /// Weight of the last squared return, >= 0.
    pub alpha: f64,
    /// Weight of the last variance, >= 0; alpha + beta < 1 (covariance stationarity).
    pub beta: f64,
}

impl Garch11 {
    /// A stationary GARCH(1,1): omega > 0, alpha >= 0, beta >= 0, alpha + beta < 1.
    ///
    /// # Errors
    /// [`RiskError::OutOfRange`] naming the first parameter that breaks a constraint
    /// (`what = "alpha + beta"` for the stationarity one).
    pub fn new(omega: f64, alpha: f64, beta: f64) -> Result<Garch11, RiskError> {
        check::positive("omega", omega)?;
        for (what, value) in [("alpha", alpha), ("beta", beta)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(RiskError::OutOfRange {
                    what,
                    value,
                    range: "[0, 1)",
                });
            }
        }
        if alpha + beta >= 1.0 {
            return Err(RiskError::OutOfRange {
                what: "alpha + beta",
                value: alpha + beta,
                range: "[0, 1)",
            });
        }
        Ok(Garch11 { omega, alpha, beta })
    }

    /// alpha + beta: how much of a variance shock is left after one period.
    pub fn persistence(&self) -> f64 {
        self.alpha + self.beta
    }

    /// The long-run variance omega / (1 - alpha - beta), squared return units per period.
    pub fn unconditional_variance(&self) -> f64 {
        self.omega / (1.0 - self.persistence())
    }

    /// The conditional variances sigma_1^2, ..., sigma_{n+1}^2 of `returns` (n + 1 values:
    /// the last is the forecast for the next, unobserved return).
    ///
    /// The recursion starts from sigma_1^2 = mean(r_t^2), the sample variance under zero
    /// mean (the usual backcast; its weight decays as beta^t).
    ///
    /// # Errors
    /// Empty or non-finite returns.
    pub fn conditional_variances(&self, returns: &[f64]) -> Result<Vec<f64>, RiskError> {
        check::finite_slice("returns", returns)?;
        let mut path = Vec::with_capacity(returns.len() + 1);
        let mut s2 = mean_square(returns);
        path.push(s2);
        for &r in returns {
            s2 = self.omega + self.alpha * r * r + self.beta * s2;
            path.push(s2);
        }
        Ok(path)
    }

    /// The log-likelihood of zero-mean `returns` under this model and `innovations`, with
    /// the recursion started as in [`Garch11::conditional_variances`] (constants included,
    /// in the units of the returns). This is what [`fit_garch11`] maximises, so a fit's
    /// [`GarchFit::log_likelihood`] is at least this for any other parameters.
    ///
    /// # Errors
    /// Empty or non-finite returns; a Student-t dof that is not finite and > 2.
    pub fn log_likelihood(
        &self,
        returns: &[f64],
        innovations: FittedInnovations,
    ) -> Result<f64, RiskError> {
        check::finite_slice("returns", returns)?;
        let dof = match innovations {
            FittedInnovations::Gaussian => None,
            FittedInnovations::StudentT { dof } if dof.is_finite() && dof > 2.0 => Some(dof),
            FittedInnovations::StudentT { dof } => {
                return Err(RiskError::OutOfRange {
                    what: "dof",
                    value: dof,
                    range: "(2, inf)",
                })
            }
        };
        Ok(log_likelihood(returns, mean_square(returns), self, dof))
    }
}

/// The distribution assumed for the standardised innovations z_t in a fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Innovations {
    /// Standard normal (quasi-maximum likelihood: consistent for omega, alpha, beta even when
    /// the true innovations are not normal; Bollerslev & Wooldridge 1992).
    Gaussian,
    /// Student-t scaled to unit variance, dof fitted in (2, [`MAX_GARCH_DOF`]].
    StudentT,
}

/// The innovation distribution of a fitted model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FittedInnovations {
    /// Standard normal.
    Gaussian,
    /// Unit-variance Student-t.
    StudentT {
        /// The fitted degrees of freedom, in (2, [`MAX_GARCH_DOF`]].
        dof: f64,
    },
}

/// A GARCH(1,1) fitted by [`fit_garch11`].
#[derive(Clone, Debug, PartialEq)]
pub struct GarchFit {
    /// The fitted recursion, in the units of the returns given.
    pub model: Garch11,
    /// The fitted innovation distribution.
    pub innovations: FittedInnovations,
    /// The maximised log-likelihood of the returns (in their own units, constants included).
    pub log_likelihood: f64,
    /// Number of returns fitted.
    pub observations: usize,
    /// sigma_{n+1}^2: the variance forecast for the next return, squared return units per
    /// period.
    pub next_variance: f64,
    /// Nelder–Mead iterations used, over all restarts.
    pub iterations: u64,
    /// Whether the last Nelder–Mead run met its tolerance (false: it hit its iteration cap).
    pub converged: bool,
}

impl GarchFit {
    /// The variance forecast `steps_ahead` (>= 1) periods after the last return:
    /// V + (alpha + beta)^(h - 1) (sigma_{n+1}^2 - V), V the unconditional variance
    /// (squared return units per period). `steps_ahead = 1` is [`GarchFit::next_variance`].
    ///
    /// # Errors
    /// [`RiskError::CountOutOfRange`] for `steps_ahead = 0`.
    pub fn forecast_variance(&self, steps_ahead: u32) -> Result<f64, RiskError> {
        if steps_ahead == 0 {
            return Err(RiskError::CountOutOfRange {
                what: "steps_ahead",
                value: 0,
                range: "1..",
            });
        }
        if steps_ahead == 1 {
            return Ok(self.next_variance);
        }
        let long_run = self.model.unconditional_variance();
        let decay = libm::pow(self.model.persistence(), f64::from(steps_ahead - 1));
        Ok(long_run + decay * (self.next_variance - long_run))
    }
}

/// Fits a GARCH(1,1) to zero-mean `returns` by maximum likelihood.
///
/// The constraints omega > 0, alpha, beta >= 0, alpha + beta < 1 (and dof > 2) hold by
/// construction: the search runs over unconstrained (u, v, w[, d]) with
/// omega = e^u, alpha + beta = logistic(v), alpha / (alpha + beta) = logistic(w),
/// dof = 2 + e^d (capped at [`MAX_GARCH_DOF`]). The log-likelihood is maximised by
/// Nelder–Mead (argmin, restarted until it stops improving) on the returns divided by their
/// root mean square, which puts omega near 1 - alpha - beta whatever the units; omega and the
/// likelihood are scaled back. Start: alpha 0.05, beta 0.90, dof 8. The variance recursion
/// starts from the backcast of [`Garch11::conditional_variances`].
///
/// # Errors
/// Empty or non-finite returns, fewer than [`MIN_GARCH_OBSERVATIONS`], all returns zero
/// ([`RiskError::FitFailed`]), or an optimiser failure.
pub fn fit_garch11(returns: &[f64], innovations: Innovations) -> Result<GarchFit, RiskError> {
    check::finite_slice("returns", returns)?;
    check::at_least("GARCH(1,1) fit", returns.len(), MIN_GARCH_OBSERVATIONS)?;
    let scale2 = mean_square(returns);
    if scale2 <= 0.0 {
        return Err(RiskError::FitFailed {
            what: "GARCH(1,1) fit",
            reason: "all returns are zero".to_string(),
        });
    }
    let scale = libm::sqrt(scale2);
    let x: Vec<f64> = returns.iter().map(|r| r / scale).collect();
    let backcast = mean_square(&x);

    let (start_alpha, start_beta, start_dof) = (0.05, 0.90, 8.0);
    let mut start = vec![
        libm::log(1.0 - start_alpha - start_beta),
        logit(start_alpha + start_beta),
        logit(start_alpha / (start_alpha + start_beta)),
    ];
    if innovations == Innovations::StudentT {
        start.push(libm::log(start_dof - 2.0));
    }
    let nll = |theta: &[f64]| {
        let (model, dof) = unpack(theta);
        -log_likelihood(&x, backcast, &model, dof)
    };
    let best = minimise("GARCH(1,1) fit", nll, &start, 0.5)?;
    let (standardised, dof) = unpack(&best.x);
    // The search space maps into the constraints, but alpha + beta can round to 1 (or omega
    // underflow) at its far edge: that is a fit on the boundary, reported as such.
    let model = Garch11::new(
        standardised.omega * scale2,
        standardised.alpha,
        standardised.beta,
    )
    .map_err(|e| RiskError::FitFailed {
        what: "GARCH(1,1) fit",
        reason: format!("the maximum is on the boundary of the parameter space ({e})"),
    })?;
    let path = model.conditional_variances(returns)?;
    let next_variance = path[path.len() - 1];
    Ok(GarchFit {
        model,
        innovations: match dof {
            None => FittedInnovations::Gaussian,
            Some(dof) => FittedInnovations::StudentT { dof },
        },
        // The density of r = scale x is the density of x divided by scale.
        log_likelihood: -best.value - returns.len() as f64 * libm::log(scale),
        observations: returns.len(),
        next_variance,
        iterations: best.iterations,
        converged: best.converged,
    })
}

/// The model (and dof, for Student-t innovations) at an unconstrained search point.
fn unpack(theta: &[f64]) -> (Garch11, Option<f64>) {
    let persistence = logistic(theta[1]);
    let alpha_share = logistic(theta[2]);
    let model = Garch11 {
        omega: libm::exp(theta[0]),
        alpha: persistence * alpha_share,
        beta: persistence * (1.0 - alpha_share),
    };
    let dof = theta
        .get(3)
        .map(|&d| 2.0 + libm::exp(d).min(MAX_GARCH_DOF - 2.0));
    (model, dof)
}

/// The log-likelihood of zero-mean returns under `model`, Gaussian innovations when `dof` is
/// None, unit-variance Student-t otherwise.
fn log_likelihood(returns: &[f64], backcast: f64, model: &Garch11, dof: Option<f64>) -> f64 {
    // The unit-variance t density (Bollerslev 1987):
    // f(z) = G((nu + 1) / 2) / (G(nu / 2) sqrt(pi (nu - 2))) (1 + z^2 / (nu - 2))^(-(nu + 1) / 2),
    // and r = sigma z has density f(r / sigma) / sigma.
    let t_constant = dof.map(|nu| {
        libm::lgamma((nu + 1.0) / 2.0)
            - libm::lgamma(nu / 2.0)
            - 0.5 * libm::log(core::f64::consts::PI * (nu - 2.0))
    });
    let mut s2 = backcast;
    let mut ll = 0.0;
    for &r in returns {
        let z2 = r * r / s2;
        ll += match (dof, t_constant) {
            (Some(nu), Some(c)) => {
                c - 0.5 * libm::log(s2) - (nu + 1.0) / 2.0 * libm::log1p(z2 / (nu - 2.0))
            }
            _ => -0.5 * (LN_2PI + libm::log(s2) + z2),
        };
        s2 = model.omega + model.alpha * r * r + model.beta * s2;
    }
    ll
}

/// ln(2 pi).
const LN_2PI: f64 = 1.837_877_066_409_345_5;

fn mean_square(xs: &[f64]) -> f64 {
    xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64
}
