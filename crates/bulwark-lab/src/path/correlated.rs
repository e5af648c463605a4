//! Several markets from correlated paths: calibrated shocks whose diffusion noise is drawn
//! jointly, with a correlation that rises toward one in the crisis ("correlations converge to
//! unity").
//!
//! Each step draws one standard normal per market, independent, and multiplies them by the
//! Cholesky factor `L` of the correlation matrix in force (`z = L e`, so `cov(z) = L L' = C`);
//! market `i`'s log increment is then `z_i` times its own standard deviation at that step
//! (calm or shock vol, [`CalibratedShock`]). Two matrices are used:
//! - in calm, `C`, stated pair by pair ([`Correlation::calm`]);
//! - in the crisis (any step inside some market's drop or rebound), the stressed matrix
//!   `(1 - w) C + w J`, where `J` is the all-ones matrix (every pair perfectly correlated) and
//!   `w` is [`Correlation::crisis_weight`]: each pair moves the share `w` of the way from its
//!   calm value to one. `J` is positive semi-definite (rank one), and a convex combination of
//!   two such matrices is one too, so any stress of a valid `C` stays a valid correlation
//!   matrix; at `w = 1` it is singular, which [`Cholesky::of`] handles (a semi-definite
//!   factor, a zero column where the matrix has no more rank).
//!
//! Beyond the diffusion, the markets share what makes a crash one event: the anchors' random
//! placements (a daily low stated for several markets is reached at the same sample when the
//! days are stated alike) and the fast leg's simulated day of clustered jumps (markets whose
//! legs have the same length and process fall in the same minutes, each scaled to its own
//! stated fall) come from one stream each, the same for every market.
//!
//! Markets driven by a [`RegimeSwitching`] chain ([`correlated_regimes`]) share the chain and
//! are stressed while it is in crisis, through a per-step weight `w_t`
//! ([`correlated_normals_weighted`]): `z = sqrt(1 - w_t) L e + sqrt(w_t) f 1`, with `f` one
//! more standard normal common to every market. Its covariance is `(1 - w_t) C + w_t J`, the
//! same stressed matrix, without a factorization per weight; it is positive semi-definite
//! for any weight in [0, 1] by construction (a sum of two such matrices with non-negative
//! weights).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::draw::standard_normal;
use super::merton::MertonJumps;
use super::regime::{add_regime_jumps, RegimeSwitching};
use super::{CalibratedShock, PathError, PricePath, MS_PER_YEAR};

/// Most markets one run drives together.
pub const MAX_MARKETS: usize = 8;

/// Tolerance on a pivot of the Cholesky factorization: below it (in absolute value) the
/// matrix has no more rank in that direction; below minus it, it is not positive
/// semi-definite. Correlations are O(1), so rounding error is far smaller.
const PIVOT_TOL: f64 = 1e-10;

/// The ChaCha8 streams of the joint draws (stream 0 of the seed is a single path's own).
const NOISE_STREAM: u64 = 2;
const ANCHOR_STREAM: u64 = 3;
const LEG_STREAM: u64 = 4;
/// The streams of [`correlated_regimes`]: the shared chain, the joint noise, and market `i`'s
/// own jumps on `REGIME_JUMP_STREAM + i`.
const CHAIN_STREAM: u64 = 5;
const REGIME_NOISE_STREAM: u64 = 6;
const REGIME_JUMP_STREAM: u64 = 8;

/// How the markets' diffusion noise is correlated, in calm and in the crisis.
///
/// Read from TOML (a scenario's `[correlation]`); the defaults are BTC-ETH figures (sources
/// in scenarios/README.md): 0.86 in calm (the correlation of daily returns in Q4 2019, the
/// quarter before March 2020) and a crisis weight of 0.65, which takes it to 0.951.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Correlation {
    /// Pairwise correlations in calm: one value for every pair, or one per pair in the order
    /// (0,1), (0,2), ..., (0,n-1), (1,2), ..., (n-2,n-1), markets numbered as the scenario
    /// lists them (`[market]` first). Each in [-1, 1], and together a positive
    /// semi-definite matrix.
    pub calm: Vec<f64>,
    /// In the crisis each pair moves this share of the way to one, in [0, 1].
    pub crisis_weight: f64,
}

impl Default for Correlation {
    fn default() -> Self {
        Correlation {
            calm: vec![0.86],
            crisis_weight: 0.65,
        }
    }
}

impl Correlation {
    /// The calm matrix for `n` markets.
    pub fn calm_matrix(&self, n: usize) -> Result<CorrelationMatrix, PathError> {
        CorrelationMatrix::from_pairs(n, &self.calm)
    }

    /// Checks the correlations for `n` markets: the pair values, the weight, and that both
    /// matrices factor (the calm one positive semi-definite; the stressed one then is too).
    pub fn validate(&self, n: usize) -> Result<(), PathError> {
        if !(0.0..=1.0).contains(&self.crisis_weight) {
            return invalid("crisis_weight", "must be a share in [0, 1]".to_string());
        }
        let calm = self.calm_matrix(n)?;
        Cholesky::of(&calm)?;
        Cholesky::of(&calm.stressed(self.crisis_weight))?;
        Ok(())
    }
}

fn invalid<T>(name: &'static str, problem: String) -> Result<T, PathError> {
    Err(PathError::InvalidCorrelation { name, problem })
}

/// A symmetric matrix with a unit diagonal, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatrix {
    n: usize,
    c: Vec<f64>,
}

impl CorrelationMatrix {
    /// From pair values: one for every pair, or `n (n - 1) / 2` in upper-triangle order.
    pub fn from_pairs(n: usize, pairs: &[f64]) -> Result<CorrelationMatrix, PathError> {
        if n == 0 || n > MAX_MARKETS {
            return invalid(
                "markets",
                format!("{n} markets; between 1 and {MAX_MARKETS} can be correlated"),
            );
        }
        let want = n * (n - 1) / 2;
        if !(pairs.len() == want || (pairs.len() == 1 && want > 0) || want == 0) {
            return invalid(
                "calm",
                format!(
                    "has {} values; {n} markets need one value for every pair or {want} \
                     (one per pair)",
                    pairs.len()
                ),
            );
        }
        if let Some(bad) = pairs.iter().find(|r| !(r.is_finite() && r.abs() <= 1.0)) {
            return invalid("calm", format!("{bad} is not a correlation in [-1, 1]"));
        }
        let mut c = vec![0.0; n * n];
        let mut k = 0;
        for i in 0..n {
            c[i * n + i] = 1.0;
            for j in i + 1..n {
                let r = if pairs.len() == 1 { pairs[0] } else { pairs[k] };
                k += 1;
                c[i * n + j] = r;
                c[j * n + i] = r;
            }
        }
        Ok(CorrelationMatrix { n, c })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.c[i * self.n + j]
    }

    /// `(1 - w) C + w J`: every pair moved the share `w` of the way to one, the diagonal
    /// still one.
    pub fn stressed(&self, w: f64) -> CorrelationMatrix {
        let c = self.c.iter().map(|r| (1.0 - w) * r + w).collect();
        CorrelationMatrix { n: self.n, c }
    }
}

/// The lower-triangular factor `L` of a positive semi-definite matrix, `L L' = C`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cholesky {
    n: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// Factors `c`, accepting a singular (semi-definite) matrix: a pivot within
    /// [`PIVOT_TOL`] of zero gives a zero column, provided the rest of that column is zero
    /// too (else the matrix is not positive semi-definite). A negative pivot is an error.
    pub fn of(c: &CorrelationMatrix) -> Result<Cholesky, PathError> {
        let n = c.n;
        let mut l = vec![0.0; n * n];
        for j in 0..n {
            let pivot = c.get(j, j) - (0..j).map(|k| l[j * n + k] * l[j * n + k]).sum::<f64>();
            if pivot < -PIVOT_TOL {
                return not_psd();
            }
            let d = if pivot > PIVOT_TOL {
                libm::sqrt(pivot)
            } else {
                0.0
            };
            l[j * n + j] = d;
            for i in j + 1..n {
                let rest = c.get(i, j) - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
                if d > 0.0 {
                    l[i * n + j] = rest / d;
                } else if rest.abs() > PIVOT_TOL.sqrt() {
                    return not_psd();
                }
            }
        }
        Ok(Cholesky { n, l })
    }

    /// `out = L e`.
    pub fn apply(&self, e: &[f64], out: &mut [f64]) {
        for (i, slot) in out.iter_mut().enumerate().take(self.n) {
            *slot = (0..=i).map(|k| self.l[i * self.n + k] * e[k]).sum();
        }
    }

    /// `(L L')[i][j]`, to check the factor.
    pub fn product(&self, i: usize, j: usize) -> f64 {
        (0..self.n)
            .map(|k| self.l[i * self.n + k] * self.l[j * self.n + k])
            .sum()
    }
}

fn not_psd<T>() -> Result<T, PathError> {
    invalid(
        "calm",
        "the pair values do not form a valid correlation matrix (it is not positive \
         semi-definite: e.g. a-b and a-c strongly positive with b-c strongly negative)"
            .to_string(),
    )
}

/// Standard normals for `n` markets over `steps` steps, correlated by `calm` where `crisis`
/// is false and by `stressed` where it is true: `out[i][t]` is market `i` at step `t`.
pub fn correlated_normals(
    calm: &Cholesky,
    stressed: &Cholesky,
    steps: usize,
    crisis: impl Fn(usize) -> bool,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<f64>> {
    let n = calm.n;
    let mut out = vec![Vec::with_capacity(steps); n];
    let (mut e, mut z) = (vec![0.0; n], vec![0.0; n]);
    for t in 0..steps {
        for x in e.iter_mut() {
            *x = standard_normal(rng);
        }
        let l = if crisis(t) { stressed } else { calm };
        l.apply(&e, &mut z);
        for (series, &zi) in out.iter_mut().zip(&z) {
            series.push(zi);
        }
    }
    out
}

/// Standard normals for `n` markets over `weights.len()` steps, with correlation matrix
/// `(1 - w) C + w J` at a step of weight `w` (in [0, 1]), `C = L L'`: each step draws `n`
/// independent normals `e` and one common `f`, and gives `sqrt(1 - w) (L e)_i + sqrt(w) f`.
/// `out[i][t]` is market `i` at step `t`.
pub fn correlated_normals_weighted(
    calm: &Cholesky,
    weights: &[f64],
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<f64>> {
    let n = calm.n;
    let mut out = vec![Vec::with_capacity(weights.len()); n];
    let (mut e, mut z) = (vec![0.0; n], vec![0.0; n]);
    for &w in weights {
        debug_assert!((0.0..=1.0).contains(&w), "crisis weight {w}");
        for x in e.iter_mut() {
            *x = standard_normal(rng);
        }
        let common = standard_normal(rng);
        calm.apply(&e, &mut z);
        let (own, shared) = (libm::sqrt(1.0 - w), libm::sqrt(w));
        for (series, &zi) in out.iter_mut().zip(&z) {
            series.push(own * zi + shared * common);
        }
    }
    out
}

/// One market of a group driven by a shared regime chain: its first price and its moves in
/// each regime.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegimeMarket {
    pub start_price: f64,
    pub calm: MertonJumps,
    pub crisis: MertonJumps,
}

/// The paths of a regime-driven group and the chain they shared (`true`: crisis).
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeGroup {
    pub paths: Vec<PricePath>,
    pub crisis: Vec<bool>,
}

/// Several markets driven together by one regime chain, reproducibly from `seed`: the chain
/// (its durations and start from `chain`; its own calm and crisis parameters are not used)
/// decides the regime of every step; each market's diffusion is its regime's volatility times
/// jointly drawn normals, correlated by `corr.calm` in calm and stressed by
/// `corr.crisis_weight` toward one in crisis ([`correlated_normals_weighted`]); each market's
/// jumps are its own (drawn from a stream of its own, so they are not correlated). `steps`
/// steps of `step_ms` from `start_ms`.
pub fn correlated_regimes(
    chain: &RegimeSwitching,
    markets: &[RegimeMarket],
    corr: &Correlation,
    start_ms: u64,
    steps: usize,
    step_ms: u64,
    seed: u64,
) -> Result<RegimeGroup, PathError> {
    if step_ms == 0 {
        return Err(PathError::ZeroStep);
    }
    if markets.is_empty() || markets.len() > MAX_MARKETS {
        return invalid(
            "markets",
            format!("{} markets; between 1 and {MAX_MARKETS}", markets.len()),
        );
    }
    // Each market's regimes with the chain's durations: the chain's own regimes are unused.
    for m in markets {
        RegimeSwitching {
            calm: m.calm,
            crisis: m.crisis,
            ..*chain
        }
        .validate()?;
        if !(m.start_price.is_finite() && m.start_price > 0.0) {
            return invalid(
                "markets",
                format!("a start price of {} must be finite and > 0", m.start_price),
            );
        }
    }
    corr.validate(markets.len())?;
    let calm_l = Cholesky::of(&corr.calm_matrix(markets.len())?)?;
    let crisis = chain.chain(steps, step_ms, &mut stream(seed, CHAIN_STREAM));
    let weights: Vec<f64> = crisis
        .iter()
        .map(|c| if *c { corr.crisis_weight } else { 0.0 })
        .collect();
    let z = correlated_normals_weighted(&calm_l, &weights, &mut stream(seed, REGIME_NOISE_STREAM));
    let per_step = libm::sqrt(step_ms as f64 / MS_PER_YEAR);
    let paths = markets
        .iter()
        .zip(z)
        .enumerate()
        .map(|(i, (m, zs))| {
            let (calm_sd, crisis_sd) =
                (m.calm.annual_vol * per_step, m.crisis.annual_vol * per_step);
            let mut inc: Vec<f64> = zs
                .iter()
                .zip(&crisis)
                .map(|(x, c)| x * if *c { crisis_sd } else { calm_sd })
                .collect();
            let mut jump_rng = stream(seed, REGIME_JUMP_STREAM + i as u64);
            add_regime_jumps(
                &crisis,
                &m.calm,
                &m.crisis,
                step_ms,
                &mut jump_rng,
                &mut inc,
            );
            PricePath::new(
                start_ms,
                step_ms,
                super::prices_from_increments(m.start_price, &inc),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RegimeGroup { paths, crisis })
}

/// The paths of several calibrated shocks driven together, reproducibly from `seed`: the
/// first is the scenario's `[path.shock]`, the others its further markets'. They must start
/// at the same time and last as long (one grid for every market); each is validated on its
/// own first. The crisis is every step inside any market's drop or rebound.
pub fn correlated_shocks(
    shocks: &[CalibratedShock],
    corr: &Correlation,
    step_ms: u64,
    seed: u64,
) -> Result<Vec<PricePath>, PathError> {
    check_aligned(shocks)?;
    for s in shocks {
        s.validate(step_ms)?;
    }
    corr.validate(shocks.len())?;
    let calm = corr.calm_matrix(shocks.len())?;
    let (calm_l, stressed_l) = (
        Cholesky::of(&calm)?,
        Cholesky::of(&calm.stressed(corr.crisis_weight))?,
    );
    let steps = shocks[0].steps(step_ms);
    let sds: Vec<_> = shocks.iter().map(|s| s.step_noise_sd(step_ms)).collect();
    let crisis = |t: usize| sds.iter().any(|sd| sd(t).0);
    let mut rng = stream(seed, NOISE_STREAM);
    let z = correlated_normals(&calm_l, &stressed_l, steps, crisis, &mut rng);
    shocks
        .iter()
        .zip(z)
        .zip(&sds)
        .map(|((shock, zs), sd)| {
            let noise = zs.iter().enumerate().map(|(t, x)| x * sd(t).1).collect();
            let (mut anchor_rng, mut leg_rng) =
                (stream(seed, ANCHOR_STREAM), stream(seed, LEG_STREAM));
            shock.generate_with_noise(step_ms, noise, &mut anchor_rng, &mut leg_rng)
        })
        .collect()
}

/// Every shock on the first one's grid: same start, same length.
pub fn check_aligned(shocks: &[CalibratedShock]) -> Result<(), PathError> {
    let Some(first) = shocks.first() else {
        return invalid("markets", "no market to drive".to_string());
    };
    if shocks.len() > MAX_MARKETS {
        return invalid(
            "markets",
            format!("{} markets; at most {MAX_MARKETS}", shocks.len()),
        );
    }
    for (i, s) in shocks.iter().enumerate().skip(1) {
        if s.start_ms != first.start_ms || s.total_s() != first.total_s() {
            return invalid(
                "markets",
                format!(
                    "market {i}'s shock starts at {} ms and lasts {} s, the first market's \
                     at {} ms for {} s: correlated markets share one time grid (same \
                     start_ms, and pre_shock_s + drop_duration_s + rebound_duration_s + \
                     tail_s equal)",
                    s.start_ms,
                    s.total_s(),
                    first.start_ms,
                    first.total_s()
                ),
            );
        }
    }
    Ok(())
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests;
