//! The bounds a scenario must stay within, and why. Every field's own range is in
//! `validate.rs`; these are the ones shared by many fields, or that bound a run's size.

use crate::path::MAX_PATH_SAMPLES;

/// Longest simulated time, and longest value of any duration field in seconds: ten years.
/// Daily bars since 2017 replay whole (about 8.7 years). In milliseconds this is 3.2e11, so
/// every `s * 1000` and every sum of a few of them stays far below `u64::MAX` (1.8e19), and
/// the run's timestamps stay within the engine's (year 9999).
pub const MAX_DURATION_S: u64 = 10 * 365 * 86_400;

/// Longest engine step, and longest value of any interval field in milliseconds (block time,
/// polls, latencies): one day.
pub const MAX_INTERVAL_MS: u64 = 86_400_000;

/// Most engine steps in one run: the price path's own bound, 231 days at one-second steps.
/// The public mark feed keeps one `f64` a step (160 MB at the bound).
pub const MAX_ENGINE_STEPS: u64 = MAX_PATH_SAMPLES as u64;

/// Most traders. Each costs about 1.2 KB (its state, random stream and engine account), so
/// 1.2 GB at the bound; ten million took 6 GB and never finished setting up.
pub const MAX_TRADERS: u32 = 1_000_000;

/// Most market makers, arbitrageurs or keepers (each kind): they act far more often than a
/// trader, so a few are a crowd.
pub const MAX_OTHER_AGENTS: u32 = 10_000;

/// Largest amount of money one field states, USD. The engine bounds all collateral together
/// at 1e12 USD; a deposit past that bound is refused at set-up, naming the agent.
pub const MAX_USD: f64 = 1e11;

/// Largest log-space standard deviation of a lognormal: at six standard deviations a draw is
/// e^18 (6.6e7) times the median; wider is no longer a distribution of one population.
pub const MAX_SIGMA: f64 = 3.0;

/// Largest leverage any field states (the engine's own bound is 1 / (maintenance x initial
/// multiple)).
pub const MAX_LEVERAGE: f64 = 1_000.0;

/// Largest annualized volatility any field states: 10,000%.
pub const MAX_VOL_ANNUAL: f64 = 100.0;

/// Largest gas price, gwei (March 2020's intraday peaks were about 200).
pub const MAX_GWEI: f64 = 1e6;

/// Most gas one transaction uses: Ethereum's block gas limit (30 million).
pub const MAX_GAS_PER_TX: u64 = 30_000_000;

/// Most transactions one block includes.
pub const MAX_BLOCK_TXS: u32 = 100_000;

/// Basis points in 100%.
pub const BP_ALL: f64 = 10_000.0;

/// A trader's first deposit is clipped to this range, USD (so its lognormal's median must lie
/// in it).
pub const MIN_TRADER_COLLATERAL_USD: f64 = 10.0;
pub const MAX_TRADER_COLLATERAL_USD: f64 = 1e7;

/// Most days of `chain.daily_gwei`: one per day of the longest run.
pub const MAX_GAS_DAYS: usize = (MAX_DURATION_S / 86_400) as usize + 1;

/// Most blocks in one run: the gas process keeps about 40 bytes a block (a third of what the
/// engine steps' bound costs), and every block is an event of the run loop.
pub const MAX_BLOCKS: u64 = MAX_ENGINE_STEPS;
