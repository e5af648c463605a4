//! Synthetic paths from a chosen generator, and the named presets a scenario picks them by.
//!
//! A [`SyntheticPath`] is a [`Model`] (one of the generators of this module's siblings, with
//! its parameters), a first price, a start time and a length. Each [`Preset`] names one with
//! parameters fitted to real data or calibrated to published facts; `scenarios/README.md`
//! lists them with their fits and the data files each used.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::garch::Garch;
use super::jump::SelfExcitingJumps;
use super::merton::MertonJumps;
use super::params::ParamChecks;
use super::regime::RegimeSwitching;
use super::{
    prices_from_increments, CalibratedShock, Diffusion, LogIncrements, PathError, PricePath,
    DAY_MS, MAX_PATH_SAMPLES,
};

/// Which generator a synthetic path uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Geometric Brownian motion without drift ([`Diffusion`]).
    Gbm,
    /// GBM with compound-Poisson log-normal jumps ([`MertonJumps`]).
    Merton,
    /// GARCH(1,1) with Student-t innovations ([`Garch`]).
    Garch,
    /// Calm and crisis regimes ([`RegimeSwitching`]).
    Regime,
    /// Clustered (self-exciting) jumps ([`SelfExcitingJumps`]).
    SelfExciting,
    /// A calibrated shock through published facts ([`CalibratedShock`]).
    Shock,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Gbm,
        ModelKind::Merton,
        ModelKind::Garch,
        ModelKind::Regime,
        ModelKind::SelfExciting,
        ModelKind::Shock,
    ];

    /// The name a scenario writes (`model = "garch"`), which is also its parameter table's.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gbm => "gbm",
            ModelKind::Merton => "merton",
            ModelKind::Garch => "garch",
            ModelKind::Regime => "regime",
            ModelKind::SelfExciting => "self_exciting",
            ModelKind::Shock => "shock",
        }
    }

    /// The preset a model takes its parameters from when the scenario names none.
    pub fn default_preset(self) -> &'static str {
        match self {
            ModelKind::Gbm => "gbm_btc_daily_fit",
            ModelKind::Merton => "merton_btc_daily_fit",
            ModelKind::Garch => "garch_btc_daily_fit",
            ModelKind::Regime => "regime_crypto",
            ModelKind::SelfExciting => "october_2025",
            ModelKind::Shock => "march_2020",
        }
    }
}

/// A generator with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Gbm(Diffusion),
    Merton(MertonJumps),
    Garch(Garch),
    Regime(RegimeSwitching),
    SelfExciting(SelfExcitingJumps),
    Shock(CalibratedShock),
}

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Gbm(_) => ModelKind::Gbm,
            Model::Merton(_) => ModelKind::Merton,
            Model::Garch(_) => ModelKind::Garch,
            Model::Regime(_) => ModelKind::Regime,
            Model::SelfExciting(_) => ModelKind::SelfExciting,
            Model::Shock(_) => ModelKind::Shock,
        }
    }

    /// Every parameter outside its range (none when valid); a shock's rules that depend on
    /// the step are checked with the path.
    pub fn check(&self) -> Result<(), PathError> {
        match self {
            Model::Gbm(d) => d.validate(),
            Model::Merton(m) => m.validate(),
            Model::Garch(g) => g.validate(),
            Model::Regime(r) => r.validate(),
            Model::SelfExciting(j) => j.validate_as_model(),
            Model::Shock(_) => Ok(()),
        }
    }

    /// The model's log increments (not for a shock, which builds its own path).
    fn increments(&self, steps: usize, step_ms: u64, rng: &mut ChaCha8Rng) -> Vec<f64> {
        match self {
            Model::Gbm(d) => d.log_increments(steps, step_ms, rng),
            Model::Merton(m) => m.log_increments(steps, step_ms, rng),
            Model::Garch(g) => g.log_increments(steps, step_ms, rng),
            Model::Regime(r) => r.log_increments(steps, step_ms, rng),
            Model::SelfExciting(j) => j.log_increments(steps, step_ms, rng),
            Model::Shock(_) => unreachable!("a shock builds its own path"),
        }
    }
}

/// A synthetic path: a model from `start_price` at `start_ms` for `duration_s`. For a
/// [`Model::Shock`] the shock's own start, price and phases are used instead.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticPath {
    pub model: Model,
    /// Time of the first sample, UTC epoch ms.
    pub start_ms: u64,
    pub start_price: f64,
    pub duration_s: u64,
}

/// Upper bound on a synthetic path's first price, USD: far above any asset's, far below
/// where a few large moves could overflow.
pub const MAX_START_PRICE: f64 = 1e9;

/// Upper bound on a synthetic path's length, s: ten years, a scenario's longest run.
pub const MAX_DURATION_S: u64 = 10 * 365 * 86_400;

impl SyntheticPath {
    /// Every problem with the path on steps of `step_ms`: the model's parameters, the first
    /// price, the length (a whole number of steps, within the sample bound) and, for GARCH,
    /// that its bar and the step divide one another.
    pub fn validate(&self, step_ms: u64) -> Result<(), PathError> {
        if step_ms == 0 {
            return Err(PathError::ZeroStep);
        }
        if let Model::Shock(shock) = &self.model {
            return shock.validate(step_ms);
        }
        let mut c = ParamChecks::default();
        c.nested(
            self.model.kind().name(),
            super::params::problems_of(self.model.check()),
        );
        c.real(
            "start_price",
            self.start_price,
            0.0,
            true,
            MAX_START_PRICE,
            " USD",
        );
        if !(1..=MAX_DURATION_S).contains(&self.duration_s) {
            c.fail(
                "duration_s",
                self.duration_s,
                format!("must be in [1, {MAX_DURATION_S}] s (at most ten years)"),
            );
        } else if !(self.duration_s * 1000).is_multiple_of(step_ms) {
            c.fail(
                "duration_s",
                self.duration_s,
                format!("must be a whole number of steps of step_ms ({step_ms} ms)"),
            );
        } else if self.duration_s * 1000 / step_ms + 1 > MAX_PATH_SAMPLES as u64 {
            c.fail(
                "duration_s",
                self.duration_s,
                format!(
                    "is {} samples of step_ms ({step_ms} ms); at most {MAX_PATH_SAMPLES}",
                    self.duration_s * 1000 / step_ms + 1
                ),
            );
        }
        if let Model::Garch(g) = &self.model {
            if g.bar_s > 0 && !g.fits_step(step_ms) {
                c.fail(
                    "garch.bar_s",
                    g.bar_s,
                    format!(
                        "the bar ({} ms) and step_ms ({step_ms} ms) must divide one another",
                        g.bar_s * 1000
                    ),
                );
            }
        }
        c.finish("synthetic path")
    }

    /// The path on steps of `step_ms`, reproducibly from `seed` (ChaCha8 stream 0).
    pub fn generate(&self, step_ms: u64, seed: u64) -> Result<PricePath, PathError> {
        self.validate(step_ms)?;
        if let Model::Shock(shock) = &self.model {
            return shock.generate(step_ms, seed);
        }
        let steps = (self.duration_s * 1000 / step_ms) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let increments = self.model.increments(steps, step_ms, &mut rng);
        PricePath::new(
            self.start_ms,
            step_ms,
            prices_from_increments(self.start_price, &increments),
        )
    }
}

/// A named model with its parameters and a default start, first price and length.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    pub path: SyntheticPath,
    /// One line: what it is and where its numbers come from.
    pub about: &'static str,
}

/// 2025-09-25 00:00 UTC, the day after the last bar of the Coinbase daily file: where the
/// presets fitted to it start.
const AFTER_COINBASE_MS: u64 = 1_758_758_400_000;
/// The last close of that file (2025-09-24), USD.
const COINBASE_LAST_CLOSE: f64 = 113_700.11;
/// 2025-10-10 00:00 UTC and the Binance coin-margined BTCUSD perpetual's mark then (the
/// open of that day's first one-minute bar).
const OCT_10_2025_MS: u64 = 1_760_054_400_000;
const OCT_10_2025_OPEN: f64 = 121_662.0;
/// 2025-10-09 00:00 UTC and the Binance USDT-margined perpetual's first five-minute mark.
const OCT_9_2025_MS: u64 = 1_759_968_000_000;
const OCT_9_2025_OPEN: f64 = 123_237.94;

/// Three days, the default scenario's length.
const THREE_DAYS_S: u64 = 3 * 86_400;

/// The names of every preset, in the order `scenarios/README.md` lists them.
pub const PRESET_NAMES: [&str; 8] = [
    "march_2020",
    "october_2025",
    "gbm_btc_daily_fit",
    "merton_btc_daily_fit",
    "garch_btc_daily_fit",
    "garch_btc_5m_oct_2025",
    "regime_crypto",
    "regime_btc_5m_oct_2025",
];

/// The preset of that name, if there is one.
pub fn preset(name: &str) -> Option<Preset> {
    let after_coinbase = |model| SyntheticPath {
        model,
        start_ms: AFTER_COINBASE_MS,
        start_price: COINBASE_LAST_CLOSE,
        duration_s: THREE_DAYS_S,
    };
    let (path, about) = match name {
        "march_2020" => {
            let shock = CalibratedShock::march_2020();
            (
                SyntheticPath {
                    start_ms: shock.start_ms,
                    start_price: shock.start_price,
                    duration_s: shock.total_s(),
                    model: Model::Shock(shock),
                },
                "BTC 12-13 March 2020: the calibrated shock through Coinbase's daily bars, \
                 ending in a fast leg of the 2025-10-10 jump fit",
            )
        }
        "october_2025" => (
            SyntheticPath {
                model: Model::SelfExciting(SelfExcitingJumps::crash_2025_10_10()),
                start_ms: OCT_10_2025_MS,
                start_price: OCT_10_2025_OPEN,
                duration_s: DAY_MS / 1000,
            },
            "one day of the self-exciting jump process fitted to the one-minute marks of the \
             2025-10-10 crash",
        ),
        "gbm_btc_daily_fit" => (
            after_coinbase(Model::Gbm(Diffusion::btc_daily_fit())),
            "driftless GBM at the volatility of Coinbase's daily BTC closes, 2017-2025",
        ),
        "merton_btc_daily_fit" => (
            after_coinbase(Model::Merton(MertonJumps::btc_daily_fit())),
            "Merton jump-diffusion fitted to Coinbase's daily BTC closes, 2017-2025",
        ),
        "garch_btc_daily_fit" => (
            after_coinbase(Model::Garch(Garch::btc_daily_fit())),
            "GARCH(1,1)-t fitted to Coinbase's daily BTC closes, 2017-2025",
        ),
        "garch_btc_5m_oct_2025" => (
            SyntheticPath {
                model: Model::Garch(Garch::btc_5m_oct_2025_fit()),
                start_ms: OCT_9_2025_MS,
                start_price: OCT_9_2025_OPEN,
                duration_s: THREE_DAYS_S,
            },
            "GARCH(1,1)-t fitted to Binance's five-minute BTCUSDT marks of 9-12 October 2025",
        ),
        "regime_crypto" => (
            after_coinbase(Model::Regime(RegimeSwitching::btc_daily_fit())),
            "calm and crisis regimes fitted to Coinbase's daily BTC closes, 2017-2025",
        ),
        "regime_btc_5m_oct_2025" => (
            SyntheticPath {
                model: Model::Regime(RegimeSwitching::btc_5m_oct_2025_fit()),
                start_ms: OCT_9_2025_MS,
                start_price: OCT_9_2025_OPEN,
                duration_s: THREE_DAYS_S,
            },
            "calm and crisis regimes fitted to Binance's five-minute BTCUSDT marks of 9-12 \
             October 2025",
        ),
        _ => return None,
    };
    Some(Preset {
        name: PRESET_NAMES
            .iter()
            .find(|n| **n == name)
            .expect("every preset is listed"),
        path,
        about,
    })
}

#[cfg(test)]
mod tests;
