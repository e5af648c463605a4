//! The scenario's types: every section and field with its default (all but `name` have one).
//! `scenarios/README.md` documents every field; the doc comments below are the source.

use std::path::PathBuf;

use bulwark_engine::{MarketParams, Ppm, Usd, VaultPolicy};
use serde::{Deserialize, Serialize};

use crate::path::{CalibratedShock, Correlation, ModelKind};

/// One lab run's full description. See `scenarios/README.md` for a field-by-field guide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; the default output directory is `lab-out/<name>`.
    pub name: String,
    /// One or two sentences for the report.
    #[serde(default)]
    pub description: String,
    /// Run seed: with the scenario it reproduces the run byte for byte.
    #[serde(default)]
    pub seed: u64,
    /// Simulated time in seconds; absent: the whole price path.
    #[serde(default)]
    pub duration_s: Option<u64>,
    /// Engine step: a `Tick` every this many ms, and the price path's sampling step.
    #[serde(default = "default_step_ms")]
    pub step_ms: u64,
    /// The perpetual market. Every field of the engine's `MarketParams` may be set; absent
    /// fields take the engine's defaults, except `initial_price`, which defaults to the
    /// path's first price.
    #[serde(default)]
    pub market: MarketParams,
    #[serde(default)]
    pub venue: VenueSection,
    #[serde(default)]
    pub path: PathSpec,
    /// Further markets the run drives beside `[market]` (`[[more_markets]]`), each from its own
    /// calibrated shock, correlated with `[path.shock]` as `[correlation]` says. Absent: the
    /// run drives one market.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_markets: Vec<MoreMarket>,
    /// How the markets' paths are correlated, in calm and in the crisis (used only with
    /// `more_markets`).
    #[serde(default)]
    pub correlation: Correlation,
    #[serde(default)]
    pub agents: AgentsSection,
    #[serde(default)]
    pub chain: ChainParams,
    #[serde(default)]
    pub oracle: OracleParams,
    #[serde(default)]
    pub volatility: VolatilityFeed,
    /// The online risk controller (`[controller]`; off by default).
    #[serde(default)]
    pub controller: crate::controller::ControllerParams,
    #[serde(default)]
    pub metrics: MetricsParams,
    /// Start from a snapshot of real accounts (`[snapshot]`); absent: synthetic agents only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotSpec>,
    /// A file of overrides applied before any `--set` (`params = "tuned.toml"`, relative to
    /// the scenario file): its keys are `--set` keys, so `bulwark lab tune`'s output makes
    /// any scenario run the tuned venue ([`super::params`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<PathBuf>,
}

fn default_step_ms() -> u64 {
    1_000
}

/// Venue-wide mechanisms and the money the venue starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VenueSection {
    /// Protocol-native liquidation: the engine liquidates every pool below maintenance after
    /// each price change, with no keeper. Off: only keepers' `Liquidate` transactions do.
    pub native_liquidation: bool,
    /// Engine bound on liquidations per command (absent: the engine's default).
    pub max_liquidations_per_step: Option<u32>,
    /// Engine delay between an LP's vault withdrawal request and its claim (absent: default).
    pub vault_withdrawal_delay_ms: Option<u64>,
    /// Vault margin multiple, ppm of 1x (absent: the engine's default).
    pub vault_margin_multiplier: Option<Ppm>,
    /// How the backstop vault unwinds what it took over and when it stops taking over
    /// (`[venue.vault_policy]`; every field absent takes the engine's default).
    pub vault_policy: VaultPolicy,
    /// Collateral the venue's treasury puts into the insurance fund at the start, USD.
    pub insurance_seed_usd: Usd,
    /// Collateral a passive stake (the venue's own, account 1) puts into the backstop vault at
    /// the start, USD; it never withdraws. The vault's liquidity providers are agents
    /// (`[agents.lps]`), whose capital comes on top of this.
    pub vault_seed_usd: Usd,
}

impl Default for VenueSection {
    fn default() -> Self {
        VenueSection {
            native_liquidation: false,
            max_liquidations_per_step: None,
            vault_withdrawal_delay_ms: None,
            vault_margin_multiplier: None,
            vault_policy: VaultPolicy::default(),
            insurance_seed_usd: Usd::from_micros(1_000_000 * 1_000_000),
            // The vault's 2 M USD now comes from `[agents.lps]`.
            vault_seed_usd: Usd::ZERO,
        }
    }
}

/// Which outside price path the run follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A synthetic path through published facts: `[path.shock]`.
    #[default]
    CalibratedShock,
    /// Replay of exchange bars from a kline CSV: `[path.historical]`.
    Historical,
    /// A stochastic model or a named preset: `[path.synthetic]`.
    Synthetic,
}

/// The outside ("fair") price path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathSpec {
    pub kind: PathKind,
    /// Used when `kind = "calibrated_shock"`; every absent field takes its value from
    /// [`CalibratedShock::march_2020`] (BTC, 12-13 March 2020).
    pub shock: CalibratedShock,
    /// Required when `kind = "historical"`.
    pub historical: Option<HistoricalParams>,
    /// Used when `kind = "synthetic"`: the model, its preset, and what the scenario changes.
    pub synthetic: SyntheticSpec,
}

/// A synthetic path (`[path.synthetic]`): a model's preset, with any field changed.
///
/// `preset` names one of [`crate::path::PRESET_NAMES`]; `model` names the generator, and
/// without a preset takes its default one ([`ModelKind::default_preset`]); given both, they
/// must agree; given neither, the model is GARCH. `start_ms`, `start_price` and
/// `duration_s`, absent, come from the preset. The model's parameter table
/// (`[path.synthetic.garch]` for `model = "garch"`, and so on) states only what it changes:
/// every absent field, at any depth, keeps the preset's value. The tables are kept as
/// written and resolved against the preset when the scenario is checked
/// ([`super::synthetic::resolve`]), since which preset fills them is itself a field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSpec {
    pub model: Option<ModelKind>,
    pub preset: Option<String>,
    /// Time of the first sample, UTC epoch ms.
    pub start_ms: Option<u64>,
    /// The first price, USD.
    pub start_price: Option<f64>,
    /// Length of the path, s (a whole number of steps).
    pub duration_s: Option<u64>,
    /// Each model's changes to its preset's parameters; only the chosen model's may be given.
    pub gbm: Option<toml::Table>,
    pub merton: Option<toml::Table>,
    pub garch: Option<toml::Table>,
    pub regime: Option<toml::Table>,
    pub self_exciting: Option<toml::Table>,
    pub shock: Option<toml::Table>,
}

/// A market driven beside the first one (`[[more_markets]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoreMarket {
    /// Its engine parameters, as `[market]`'s: absent fields take the engine's defaults,
    /// except `initial_price` (the path's first price); `symbol` must differ from every other
    /// market's.
    #[serde(default)]
    pub market: MarketParams,
    /// Its calibrated shock, on the first market's time grid (the same `start_ms` and total
    /// length); every absent field takes its value from [`CalibratedShock::march_2020`].
    #[serde(default)]
    pub shock: CalibratedShock,
    /// Who trades it (keepers are venue-wide: `[agents.keepers]`).
    #[serde(default)]
    pub agents: MarketAgents,
}

/// The agents of one further market. They behave as `[agents.*]` says; only the counts are
/// the market's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketAgents {
    /// Traders of this market.
    pub traders: u32,
    pub market_makers: u32,
    pub arbitrageurs: u32,
    /// Share of this market's traders who trade from the cross pool of one of the first
    /// market's traders (trader `k` here with trader `k` there, so at most as many as the
    /// first market has): one pool holds both positions, and each leg is sized at the
    /// trader's leverage divided by its number of legs.
    pub cross_margin_share: f64,
}

impl Default for MarketAgents {
    fn default() -> Self {
        MarketAgents {
            traders: 1_000,
            market_makers: 5,
            arbitrageurs: 3,
            cross_margin_share: 0.5,
        }
    }
}

/// A historical replay from exchange bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoricalParams {
    /// Kline CSV (Binance archive rows or `open_time_ms,open,high,low,close,volume`); a
    /// relative path is read relative to the scenario file's directory.
    pub csv: PathBuf,
    /// Wicks longer than this share of the price are clipped as bad prints, in (0, 1); every
    /// clip is listed in `summary.json`.
    #[serde(default = "default_wick_frac")]
    pub clip_wick_frac: f64,
    /// A bar whose open or close lies further than this share from the median close of its
    /// neighbours (up to five bars on either side) is a whole-body bad print (a 1e-7 or 1e9
    /// bar, which wick clipping cannot see), in (0, 1).
    #[serde(default = "default_outlier_frac")]
    pub outlier_frac: f64,
    /// What to do with such bars: `"error"` (the default: the run stops, naming each bar) or
    /// `"drop"` (each is removed and its time treated as missing data; every drop is listed
    /// in `summary.json` and on the console).
    #[serde(default)]
    pub outlier_bars: OutlierBars,
    /// Refuse data with a gap between bars longer than this, s (absent: bridge any gap).
    #[serde(default)]
    pub max_gap_s: Option<u64>,
}

fn default_wick_frac() -> f64 {
    crate::data::DEFAULT_MAX_WICK_FRAC
}

fn default_outlier_frac() -> f64 {
    crate::data::DEFAULT_OUTLIER_FRAC
}

/// What a historical replay does with whole-body bad prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierBars {
    /// Stop with an error naming each bar.
    #[default]
    Error,
    /// Remove them (reported); their time is then missing data.
    Drop,
}

/// A lognormal distribution stated by its median and log-space standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogNormal {
    pub median: f64,
    pub sigma: f64,
}

/// Every agent population.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsSection {
    pub traders: TraderParams,
    pub market_makers: MarketMakerParams,
    pub arbitrageurs: ArbitrageurParams,
    pub keepers: KeeperParams,
    pub lps: LpParams,
    /// The Mango-style manipulator (off unless `enabled`; needs a `pushed` oracle source).
    pub manipulator: ManipulatorParams,
}

/// The manipulator (see [`crate::agents::manipulator`]): it opens a long `lead_s` before the
/// push of the `pushed` oracle source and withdraws what the venue lets it while the push lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManipulatorParams {
    pub enabled: bool,
    pub capital_usd: f64,
    pub leverage: f64,
    pub lead_s: u64,
    pub poll_s: u64,
}

impl Default for ManipulatorParams {
    fn default() -> Self {
        ManipulatorParams {
            enabled: false,
            capital_usd: 1_000_000.0,
            leverage: 5.0,
            lead_s: 300,
            poll_s: 10,
        }
    }
}

/// Leveraged traders (see [`crate::agents::trader`] for their behaviour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraderParams {
    pub count: u32,
    /// Share of traders that follow the trend; the rest revert to the mean.
    pub trend_share: f64,
    /// Collateral each trader deposits, USD; draws are clipped to [10, 1e7] (the median must
    /// lie in that range).
    pub collateral_usd: LogNormal,
    /// Leverage (notional / collateral) at entry, clipped to `max_leverage` and to the
    /// market's own maximum (1 / initial margin fraction).
    pub leverage: LogNormal,
    pub max_leverage: f64,
    /// First entries are spread uniformly over `[0, entry_window_s)`.
    pub entry_window_s: u64,
    /// The signal: the sign of the mark's move over this many seconds.
    pub lookback_s: u64,
    /// Entries are IOC orders limited this far beyond the mark, bp.
    pub max_slippage_bp: f64,
    /// Close with a profit once the position's PnL reaches this share of the collateral.
    pub take_profit_frac: f64,
    /// Share of traders who also set a stop-loss, and where (loss as a share of collateral).
    pub stop_loss_share: f64,
    pub stop_loss_frac: f64,
    /// How long a trader holds a position before closing it anyway, s.
    pub hold_s: LogNormal,
    /// Mean of the exponential pause before a trader enters again, s.
    pub reentry_mean_s: f64,
    /// Share of traders who top up margin when near liquidation.
    pub topup_share: f64,
    /// A topper-up reacts when equity falls below this multiple of maintenance.
    pub topup_trigger_multiple: f64,
    /// Reaction delay before the top-up deposit lands, s.
    pub topup_delay_s: LogNormal,
    /// Each top-up adds this share of the original collateral.
    pub topup_frac: f64,
    /// At most this many top-ups per trader over the run.
    pub max_topups: u32,
}

impl Default for TraderParams {
    fn default() -> Self {
        TraderParams {
            count: 2_000,
            trend_share: 0.5,
            collateral_usd: LogNormal {
                median: 3_000.0,
                sigma: 1.0,
            },
            leverage: LogNormal {
                median: 10.0,
                sigma: 0.7,
            },
            max_leverage: 50.0,
            entry_window_s: 12 * 3600,
            lookback_s: 3600,
            max_slippage_bp: 50.0,
            take_profit_frac: 0.5,
            stop_loss_share: 0.3,
            stop_loss_frac: 0.5,
            hold_s: LogNormal {
                median: 6.0 * 3600.0,
                sigma: 1.0,
            },
            reentry_mean_s: 4.0 * 3600.0,
            topup_share: 0.3,
            topup_trigger_multiple: 1.5,
            topup_delay_s: LogNormal {
                median: 300.0,
                sigma: 1.0,
            },
            topup_frac: 0.5,
            max_topups: 2,
        }
    }
}

/// Market makers (see [`crate::agents::market_maker`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketMakerParams {
    pub count: u32,
    pub capital_usd: f64,
    /// Quote levels on each side.
    pub levels: u32,
    /// Distance between levels, bp of the reference price.
    pub level_spacing_bp: f64,
    /// Half spread at zero volatility, bp.
    pub base_half_spread_bp: f64,
    /// Extra half spread per unit of annualized volatility (1.0 = 100%), bp.
    pub vol_spread_bp: f64,
    /// Size of each level at the reference volatility, USD.
    pub level_usd: f64,
    /// Volatility at which depth is full; above it depth shrinks as (ref / vol)^elasticity.
    pub ref_vol_annual: f64,
    pub depth_vol_elasticity: f64,
    /// Inventory (USD notional) at which quotes are skewed by `max_skew_bp` and the side
    /// that would add to it is no longer quoted.
    pub max_inventory_usd: f64,
    pub max_skew_bp: f64,
    /// Pull all quotes when annualized volatility exceeds this...
    pub pull_vol_annual: f64,
    /// ...or equity has fallen this share below its reference.
    pub pull_loss_frac: f64,
    /// Time out of the market after a pull, s.
    pub pull_duration_s: u64,
    /// Requote cadence and reaction latency, ms.
    pub requote_interval_ms: u64,
    pub latency_ms: u64,
    /// Skip a requote when the reference moved less than this, bp, and nothing filled.
    pub requote_threshold_bp: f64,
    /// Half-life of the volatility estimate, s.
    pub vol_half_life_s: f64,
}

impl Default for MarketMakerParams {
    fn default() -> Self {
        MarketMakerParams {
            count: 5,
            capital_usd: 5_000_000.0,
            levels: 5,
            level_spacing_bp: 5.0,
            base_half_spread_bp: 2.0,
            vol_spread_bp: 10.0,
            level_usd: 60_000.0,
            ref_vol_annual: 0.7,
            // Binance BTCUSDT depth within 1% on 2025-10-10 (calibrate::depth_vs_vol): 0.3 by
            // least squares over the day, 0.7 to reproduce the cascade's minimum (12% of the
            // median depth at ~20x the median volatility). The lab cares about the tail.
            depth_vol_elasticity: 0.7,
            max_inventory_usd: 3_000_000.0,
            max_skew_bp: 20.0,
            pull_vol_annual: 4.0,
            pull_loss_frac: 0.05,
            pull_duration_s: 900,
            requote_interval_ms: 3_000,
            latency_ms: 50,
            requote_threshold_bp: 2.0,
            vol_half_life_s: 600.0,
        }
    }
}

/// Arbitrageurs (see [`crate::agents::arbitrageur`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArbitrageurParams {
    pub count: u32,
    pub capital_usd: f64,
    /// Round-trip cost (fees, hedge slippage, funding) the gap must exceed, bp.
    pub cost_bp: f64,
    /// Largest venue position, as a multiple of capital.
    pub max_leverage: f64,
    /// Largest single trade, USD notional.
    pub clip_usd: f64,
    pub poll_ms: u64,
    pub latency_ms: u64,
}

impl Default for ArbitrageurParams {
    fn default() -> Self {
        ArbitrageurParams {
            count: 3,
            capital_usd: 2_000_000.0,
            cost_bp: 10.0,
            max_leverage: 5.0,
            clip_usd: 250_000.0,
            poll_ms: 1_000,
            latency_ms: 100,
        }
    }
}

/// Keepers (see [`crate::agents::keeper`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeeperParams {
    pub count: u32,
    /// Collateral in the keeper's venue account; its liquidations in flight are limited to
    /// this much position notional times `notional_per_capital`.
    pub capital_usd: f64,
    pub notional_per_capital: f64,
    /// From seeing an account flagged to sending the transaction, ms.
    pub latency_ms: LogNormal,
    /// Each keeper bids the chain's going gas price times its own multiplier (drawn once)...
    pub bid_multiplier: LogNormal,
    /// ...but never more than its own share of the liquidation's expected reward (drawn once,
    /// at most 1) nor than the budget it has left.
    pub reward_spend_share: LogNormal,
    /// Gas one liquidation transaction uses.
    pub gas_per_liquidation: u64,
    /// Gas the keeper may spend over the run, USD; a keeper out of budget stops.
    pub gas_budget_usd: f64,
    /// The first this many keepers are the venue's own: they liquidate every flagged account
    /// whatever it pays, limited by their gas budget only.
    pub venue_count: u32,
    /// Back-up poll of the public health list while some account is flagged, ms.
    pub poll_ms: u64,
}

impl Default for KeeperParams {
    fn default() -> Self {
        KeeperParams {
            count: 5,
            capital_usd: 200_000.0,
            notional_per_capital: 10.0,
            latency_ms: LogNormal {
                median: 800.0,
                sigma: 0.6,
            },
            bid_multiplier: LogNormal {
                median: 1.3,
                sigma: 0.3,
            },
            reward_spend_share: LogNormal {
                median: 0.5,
                sigma: 0.3,
            },
            gas_per_liquidation: 400_000,
            gas_budget_usd: 20_000.0,
            venue_count: 1,
            poll_ms: 5_000,
        }
    }
}

/// Liquidity providers of the backstop vault (see [`crate::agents::lp`]).
///
/// The defaults keep the vault's capital of the earlier lab (2 M USD, then one treasury
/// deposit) so a default run's losses stay comparable, split among 20 LPs of unequal size.
/// The run rule is on: half the LPs leave on a drawdown of the share price (median 10%,
/// drawn per LP), a fifth follow once a quarter of the shares are on their way out, the rest
/// hold. No public data on LP flows of a liquidator vault in a crash was found to calibrate
/// these shares; they are a stated choice, to be swept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LpParams {
    pub count: u32,
    /// The LPs' capital together, USD, split among them by a lognormal weight each (so every
    /// seed puts the same total into the vault).
    pub total_capital_usd: f64,
    /// Log-space spread of the weights (0: equal shares).
    pub capital_sigma: f64,
    /// Share of LPs who leave on a drawdown of the share price...
    pub threshold_share: f64,
    /// ...of this share below the highest price they have seen (drawn per LP; draws are
    /// clipped to [0.001, 1]).
    pub drawdown_frac: LogNormal,
    /// Share of LPs who follow others out (`threshold_share + follow_share` at most 1; the
    /// rest hold)...
    pub follow_share: f64,
    /// ...once others' withdrawals (requested or paid) reach this share of the shares
    /// outstanding at the start.
    pub follow_outflow_frac: f64,
    /// Share of its holding an LP asks back when it leaves.
    pub withdraw_frac: f64,
    /// How often a watching LP looks at the vault, s.
    pub poll_s: u64,
    /// How long an LP waits before claiming again after a refused claim, s.
    pub retry_s: u64,
}

impl Default for LpParams {
    fn default() -> Self {
        LpParams {
            count: 20,
            total_capital_usd: 2_000_000.0,
            capital_sigma: 1.0,
            threshold_share: 0.5,
            drawdown_frac: LogNormal {
                median: 0.1,
                sigma: 0.5,
            },
            follow_share: 0.2,
            follow_outflow_frac: 0.25,
            withdraw_frac: 1.0,
            poll_s: 60,
            retry_s: 300,
        }
    }
}

/// The chain: blocks, capacity, a gas auction against background demand, halts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainParams {
    /// Time between blocks, ms.
    pub block_ms: u64,
    /// Transactions one block includes.
    pub capacity_txs: u32,
    /// Background transactions per block, as a share of capacity, in calm and in stress.
    pub calm_demand: f64,
    pub stress_demand: f64,
    /// Gas level (average price paid) in calm and in stress, gwei: the intraday shape as the
    /// outside volatility moves (Etherscan's daily average: 12.9 gwei on 2020-03-11, 77.9 and
    /// 84.8 on 03-12 and 03-13); with `daily_gwei` only their ratio matters.
    pub calm_gwei: f64,
    pub stress_gwei: f64,
    /// Average gas price of each UTC day from the day the run starts, gwei (Etherscan's daily
    /// file); each day's expected mean level is scaled to it, the last entry serving later
    /// days. Empty: no daily anchor (the level follows `calm_gwei` -> `stress_gwei`).
    pub daily_gwei: Vec<f64>,
    /// Multiplies every gas level: congestion sweeps.
    pub gas_scale: f64,
    /// Slow noise of the gas level: stationary log-space standard deviation and half-life of
    /// its mean reversion.
    pub gas_noise_sigma: f64,
    pub gas_noise_half_life_s: u64,
    /// Gas spikes at full stress: base rate per hour (times the stress level), the share of a
    /// spike's further spikes (self-excitation; below one), the mean size (exponential, as a
    /// multiple of the level) and the half-life of a spike and of its excitation.
    pub spike_rate_per_h: f64,
    pub spike_excitation: f64,
    pub spike_mean: f64,
    pub spike_half_life_s: u64,
    /// Log-space spread of background bids around the median.
    pub bid_sigma: f64,
    /// Annualized outside volatility of calm and of full stress; demand and gas move between
    /// their calm and stress levels (log-linearly) as volatility moves between these.
    pub calm_vol_annual: f64,
    pub stress_vol_annual: f64,
    /// ETH price used to turn gas into USD.
    pub eth_usd: f64,
    /// Optional Etherscan daily gas CSV: if set, `daily_gwei` is taken from it (the run's days).
    pub gas_csv: Option<PathBuf>,
    /// The chain produces no block in this interval (seconds from the start).
    pub halt: Option<ChainHalt>,
    /// Route traders' and market makers' orders through the chain (an on-chain order book).
    /// Off (default): orders reach the venue at once (off-chain book).
    pub orders_on_chain: bool,
    /// Oracle updates go through the chain (default) or reach the venue at once.
    pub oracle_on_chain: bool,
    /// Keeper liquidations go through the chain (default) or reach the venue at once.
    pub liquidations_on_chain: bool,
    /// A lab transaction still pending after this many seconds is dropped and its sender told:
    /// keepers and the oracle then send a fresh one at the going price (replace-by-fee).
    pub tx_ttl_s: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            block_ms: 12_000,
            capacity_txs: 200,
            calm_demand: 0.7,
            stress_demand: 1.6,
            calm_gwei: 12.9,
            stress_gwei: 81.4,
            daily_gwei: Vec::new(),
            gas_scale: 1.0,
            gas_noise_sigma: 0.15,
            gas_noise_half_life_s: 3_600,
            spike_rate_per_h: 0.5,
            spike_excitation: 0.5,
            spike_mean: 0.8,
            spike_half_life_s: 900,
            bid_sigma: 0.5,
            calm_vol_annual: 0.7,
            stress_vol_annual: 2.1,
            eth_usd: 150.0,
            gas_csv: None,
            halt: None,
            orders_on_chain: false,
            oracle_on_chain: true,
            liquidations_on_chain: true,
            tx_ttl_s: 60,
        }
    }
}

/// A chain halt: no blocks from `start_s` for `duration_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHalt {
    pub start_s: u64,
    pub duration_s: u64,
}

/// The oracle: a push feed that posts the outside price on deviation or heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleParams {
    /// Post when the outside price moved this far from the last post, bp...
    pub deviation_bp: f64,
    /// ...or this long after the last post, s.
    pub heartbeat_s: u64,
    /// How often the feed looks at the outside price, ms.
    pub poll_ms: u64,
    /// The feed bids the going gas price times this, up to `max_gas_gwei`.
    pub bid_multiplier: f64,
    pub max_gas_gwei: f64,
    pub gas_per_update: u64,
    /// Several independent sources per market (`[[oracle.sources]]`), each with its own
    /// failure; the engine's oracle guard judges them. Absent: the one feed above, as
    /// source 0. The fields above (gas bids, poll) apply to every source on chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<OracleSourceSpec>,
}

impl Default for OracleParams {
    fn default() -> Self {
        OracleParams {
            deviation_bp: 20.0,
            heartbeat_s: 30,
            poll_ms: 1_000,
            bid_multiplier: 2.0,
            max_gas_gwei: 500.0,
            gas_per_update: 100_000,
            sources: Vec::new(),
        }
    }
}

/// One oracle source of every market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleSourceSpec {
    /// A label for the report.
    pub name: String,
    /// Posts through the chain (gas, congestion: it lags when blocks are full); otherwise an
    /// off-chain publisher whose signed price the venue reads at once.
    pub on_chain: bool,
    /// Posts when its price moved this far from its last post, bp, or `heartbeat_s` after it.
    pub deviation_bp: f64,
    pub heartbeat_s: u64,
    /// The confidence interval it states, bp of its price (half-width).
    pub confidence_bp: f64,
    /// It observes the outside price this many seconds late.
    pub lag_s: f64,
    /// What goes wrong with it, and when (absent: nothing).
    pub failure: Option<SourceFailure>,
}

impl Default for OracleSourceSpec {
    fn default() -> Self {
        OracleSourceSpec {
            name: "source".into(),
            on_chain: false,
            deviation_bp: 10.0,
            heartbeat_s: 10,
            confidence_bp: 5.0,
            lag_s: 0.0,
            failure: None,
        }
    }
}

/// A source's failure from `start_s` for `duration_s` (seconds since the run's start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFailure {
    pub mode: SourceFailureMode,
    pub start_s: u64,
    pub duration_s: u64,
    /// `divergent`: drifts linearly to this far from the outside price over the failure;
    /// `pushed`: a manipulator moves this thin source this far within a minute and holds it;
    /// `uncertain`: the confidence it states; `lagging`: ignored. Bp, signed for the moves.
    #[serde(default)]
    pub size_bp: f64,
    /// `lagging`: how many seconds late it observes during the failure.
    #[serde(default)]
    pub extra_lag_s: f64,
}

/// How a source fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFailureMode {
    /// Stops publishing: its last report ages until the guard calls it stale.
    Stale,
    /// Keeps publishing, with fresh timestamps, the price it last saw before the failure.
    Frozen,
    /// Observes the outside price `extra_lag_s` late.
    Lagging,
    /// Drifts away from the outside price.
    Divergent,
    /// A thin source pushed by a manipulator (the Mango Markets attack of October 2022).
    Pushed,
    /// States a confidence interval of `size_bp`.
    Uncertain,
}

/// The driver's volatility estimate for dynamic margin and the adaptive fee: EWMAs of the
/// squared log returns of each market's mark, as a live venue can compute them, sent to the
/// engine every `every_s` (only when a market has either defence on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VolatilityFeed {
    pub every_s: u64,
    /// Half-life of the short estimate, s.
    pub short_half_life_s: f64,
    /// Half-life of the long estimate, s.
    pub long_half_life_s: f64,
    /// Both estimates start here: a one-hour standard deviation of returns (0.008 = 0.8%,
    /// about 75% a year).
    pub prior_sigma_1h: f64,
}

impl Default for VolatilityFeed {
    fn default() -> Self {
        VolatilityFeed {
            every_s: 60,
            short_half_life_s: 900.0,
            long_half_life_s: 86_400.0,
            prior_sigma_1h: 0.008,
        }
    }
}

/// Measurement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsParams {
    /// One `timeseries.csv` row every this many seconds.
    pub sample_every_s: u64,
    /// Two liquidations belong to one chain when the second starts within this many seconds
    /// of the first.
    pub cascade_window_s: u64,
    /// Full invariant check every this many engine commands (and always at the end).
    pub invariant_check_every: u64,
}

impl Default for MetricsParams {
    fn default() -> Self {
        MetricsParams {
            sample_every_s: 10,
            cascade_window_s: 60,
            invariant_check_every: 200_000,
        }
    }
}

/// `[snapshot]`: the run starts from a snapshot folder (format: `scenarios/README.md`,
/// "Snapshots"; loaded by [`crate::snapshot::Snapshot::load`]). Its accounts are passive
/// holders: they never trade; keepers and the engine liquidate them like anyone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    /// The folder, relative to the scenario file.
    pub dir: PathBuf,
    /// Keep the synthetic leveraged traders beside the snapshot's accounts; false: only the
    /// market makers, arbitrageurs, keepers and LPs run beside it.
    #[serde(default = "default_true")]
    pub synthetic_traders: bool,
}

fn default_true() -> bool {
    true
}
