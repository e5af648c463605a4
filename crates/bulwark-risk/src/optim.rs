//! Unconstrained minimisation by Nelder–Mead (argmin), restarted until it stops improving.
//!
//! Constraints are handled by the callers' reparameterisations, so the search space here is
//! all of R^d. Nelder–Mead needs no gradients and argmin's implementation is plain f64
//! arithmetic with no randomness, so a fit is as deterministic as its objective.

use argmin::core::{CostFunction, Error, Executor, State, TerminationReason};
use argmin::solver::neldermead::NelderMead;

use crate::RiskError;

/// Iterations allowed to one Nelder–Mead run.
const MAX_ITERS_PER_RUN: u64 = 4_000;
/// Restarts from the best point after the first run. A restart rebuilds the simplex, which
/// frees a run that collapsed onto a ridge (Nelder–Mead's known failure; restarting is the
/// usual remedy, e.g. Press et al., Numerical Recipes §10.5).
const MAX_RESTARTS: usize = 8;
/// A run ends when the standard deviation of the objective over the simplex is below this.
const SD_TOLERANCE: f64 = 1e-10;
/// Restarts stop when one improves the objective by less than this.
const MIN_IMPROVEMENT: f64 = 1e-9;

/// The best point found.
#[derive(Clone, Debug)]
pub(crate) struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    /// Nelder–Mead iterations over all runs.
    pub iterations: u64,
    /// The last run met the simplex tolerance (rather than its iteration cap).
    pub converged: bool,
}

/// An objective for argmin: a non-finite value is +inf, so the simplex moves away from it.
struct Objective<F>(F);

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        let value = (self.0)(x);
        Ok(if value.is_finite() {
            value
        } else {
            f64::INFINITY
        })
    }
}

/// Minimises `f` from `x0` with an initial simplex of `x0` and `x0 + step * e_i`.
pub(crate) fn minimise(
    what: &'static str,
    f: impl Fn(&[f64]) -> f64,
    x0: &[f64],
    step: f64,
) -> Result<Minimum, RiskError> {
    let objective = Objective(f);
    let mut best = Minimum {
        x: x0.to_vec(),
        value: objective.cost(&x0.to_vec()).unwrap_or(f64::INFINITY),
        iterations: 0,
        converged: false,
    };
    if !best.value.is_finite() {
        return Err(fail(
            what,
            "the objective is not finite at the starting point",
        ));
    }
    for _ in 0..=MAX_RESTARTS {
        let previous = best.value;
        let run = one_run(&objective, &best.x, step).map_err(|e| fail(what, &e.to_string()))?;
        best.iterations += run.iterations;
        best.converged = run.converged;
        if run.value < best.value {
            best.x = run.x;
            best.value = run.value;
        }
        if previous - best.value < MIN_IMPROVEMENT * (1.0 + best.value.abs()) {
            break;
        }
    }
    Ok(best)
}

fn one_run<F: Fn(&[f64]) -> f64>(
    objective: &Objective<F>,
    start: &[f64],
    step: f64,
) -> Result<Minimum, Error> {
    let mut simplex = vec![start.to_vec()];
    for i in 0..start.len() {
        let mut vertex = start.to_vec();
        vertex[i] += step;
        simplex.push(vertex);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(SD_TOLERANCE)?;
    let result = Executor::new(Objective(&objective.0), solver)
        .configure(|state| state.max_iters(MAX_ITERS_PER_RUN))
        .timer(false)
        .run()?;
    let state = result.state();
    Ok(Minimum {
        x: state
            .get_best_param()
            .cloned()
            .unwrap_or_else(|| start.to_vec()),
        value: state.get_best_cost(),
        iterations: state.get_iter(),
        converged: matches!(
            state.get_termination_reason(),
            Some(TerminationReason::SolverConverged)
        ),
    })
}

fn fail(what: &'static str, reason: &str) -> RiskError {
    RiskError::FitFailed {
        what,
        reason: reason.to_string(),
    }
}

/// The logistic function 1 / (1 + e^-x), in (0, 1) for finite x.
pub(crate) fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-x))
}

/// The inverse of [`logistic`] for p in (0, 1).
pub(crate) fn logit(p: f64) -> f64 {
    libm::log(p / (1.0 - p))
}
