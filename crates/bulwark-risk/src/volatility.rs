//! Log returns, the RiskMetrics EWMA variance, and annualisation.
//!
//! Returns are per period (the sampling interval of the prices: a minute, an hour, a day);
//! variances are in squared return units per period, volatilities in return units per
//! period, until annualised with an explicit number of periods per year.

use crate::{check, RiskError};

/// RiskMetrics' decay factor for daily data (J.P. Morgan/Reuters, RiskMetrics — Technical
/// Document, 4th ed., 1996, ch. 5: 0.94 for one-day forecasts, 0.97 for one-month ones).
pub const RISKMETRICS_LAMBDA: f64 = 0.94;

/// Log returns ln(p_t / p_{t-1}) of a price series, one fewer than the prices.
///
/// # Errors
/// Empty or non-finite prices, a price <= 0 ([`RiskError::NotPositive`]), fewer than 2
/// prices.
pub fn log_returns(prices: &[f64]) -> Result<Vec<f64>, RiskError> {
    check::finite_slice("prices", prices)?;
    if let Some(index) = prices.iter().position(|&p| p <= 0.0) {
        return Err(RiskError::NotPositive {
            what: "prices",
            index,
            value: prices[index],
        });
    }
    check::at_least("log returns", prices.len(), 2)?;
    Ok(prices.windows(2).map(|w| libm::log(w[1] / w[0])).collect())
}

/// The EWMA variance path of `returns` with decay `lambda` in (0, 1) (RiskMetrics 1996,
/// ch. 5; returns are taken to have mean zero, as RiskMetrics does).
///
/// s_0 = r_0^2 and s_t = lambda s_{t-1} + (1 - lambda) r_t^2: element t is the variance
/// estimate after observing r_0..=r_t, so it is the forecast for the return t + 1. The
/// last element is the forecast for the next, unobserved return. Use
/// [`RISKMETRICS_LAMBDA`] for daily data. Seeding with r_0^2 is the usual choice; its weight
/// has decayed to lambda^t after t returns (0.94^75 < 1%).
///
/// # Errors
/// Empty or non-finite returns; `lambda` not strictly inside (0, 1).
pub fn ewma_variance_path(returns: &[f64], lambda: f64) -> Result<Vec<f64>, RiskError> {
    check::finite_slice("returns", returns)?;
    check::open_unit("lambda", lambda)?;
    let mut path = Vec::with_capacity(returns.len());
    let mut s = returns[0] * returns[0];
    path.push(s);
    for &r in &returns[1..] {
        s = lambda * s + (1.0 - lambda) * r * r;
        path.push(s);
    }
    Ok(path)
}

/// The EWMA forecast of the next return's variance: the last element of
/// [`ewma_variance_path`].
///
/// # Errors
/// As [`ewma_variance_path`].
pub fn ewma_variance(returns: &[f64], lambda: f64) -> Result<f64, RiskError> {
    let path = ewma_variance_path(returns, lambda)?;
    Ok(path[path.len() - 1])
}

/// Per-period variance to per-year variance: `variance_per_period * periods_per_year`
/// (independent periods add variances).
///
/// `periods_per_year` is explicit because it depends on the market and the sampling: 365
/// for daily crypto data (it trades every day), 252 for daily equities, 365 * 24 = 8,760 for
/// hourly crypto data.
///
/// # Errors
/// [`RiskError::OutOfRange`] for a negative or non-finite variance, or `periods_per_year`
/// not finite and positive.
pub fn annualise_variance(
    variance_per_period: f64,
    periods_per_year: f64,
) -> Result<f64, RiskError> {
    non_negative("variance_per_period", variance_per_period)?;
    check::positive("periods_per_year", periods_per_year)?;
    Ok(variance_per_period * periods_per_year)
}

/// Per-period volatility to per-year volatility: `volatility_per_period *
/// sqrt(periods_per_year)` (the square-root-of-time rule, exact for independent returns).
/// See [`annualise_variance`] for `periods_per_year`.
///
/// # Errors
/// As [`annualise_variance`].
pub fn annualise_volatility(
    volatility_per_period: f64,
    periods_per_year: f64,
) -> Result<f64, RiskError> {
    non_negative("volatility_per_period", volatility_per_period)?;
    check::positive("periods_per_year", periods_per_year)?;
    Ok(volatility_per_period * libm::sqrt(periods_per_year))
}

fn non_negative(what: &'static str, value: f64) -> Result<(), RiskError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(RiskError::OutOfRange {
            what,
            value,
            range: "[0, inf)",
        })
    }
}
