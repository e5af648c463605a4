//! The online risk controller (`[controller]`): during a run, every `every_s` it stress-tests
//! the live venue with a forward Monte Carlo from the engine's current state
//! ([`forecast::forecast`]) and moves margin, the taker fee and the open-interest cap within
//! rate limits and hard bounds, from what a live venue can read (the engine's queries and its
//! own volatility estimate of the marks).
//!
//! **The rule.** The loss budget is the larger of `loss_budget_usd` and
//! `loss_budget_insurance_share` of the insurance fund. When the forecast's expected shortfall
//! at 95% of the next `horizon_s` passes it, each lever tightens by one step; when it falls
//! under `relax_below` of the budget, each relaxes one step toward where the run started. A
//! lever moves at most one step per `min_interval_s` and never beyond its bound. Every decision
//! (forecasts too) is a row of `controller.csv` with the figures that drove it; an action
//! reaches the engine as an ordinary parameter command. In shadow mode the rows are written and
//! nothing is sent. `kill_at_s` stops it (the kill switch; the parameters stay where they are).
//!
//! **Backtest.** The forecasts made on the hour are compared with the bad debt the venue then
//! realises over the following hour (Kupiec's proportion-of-failures test: the share of hours
//! whose loss exceeds the forecast VaR 95% must be compatible with 5%). Hourly bad debt is
//! mostly exactly zero, and a forecast whose VaR sits on that atom is exceeded less often than
//! 5% even when it is right; so beside the plain count the backtest counts the hours whose
//! randomized probability integral transform ([`bulwark_risk::randomized_pit`], one seeded
//! uniform draw per hour) is at least 0.95, which happens with probability exactly 5% under a
//! correct forecast, atom or not, and reports the transforms' deciles.

pub mod calibration;
pub mod forecast;
pub mod jumps;
pub mod scale_vol;

use bulwark_engine::{Command, Engine, Event, MarketId, OiCap, Param, Ppm, Qty};
use serde::{Deserialize, Serialize};

use forecast::{FeedRule, Forecast, ForecastSpec};

/// `[controller]` of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerParams {
    pub enabled: bool,
    /// Decide and log, change nothing.
    pub shadow: bool,
    /// Seconds between two forecasts (and decisions).
    pub every_s: u64,
    pub paths: u32,
    /// How far ahead each path runs, and its price step, s. The default step, 12 s, is one
    /// block of the default chain: an oracle on chain lands at most once a block, and the
    /// paths post their prices by the venue's feed rule ([`feed_rule`]).
    pub horizon_s: u64,
    pub step_s: u64,
    pub tick_every_s: u64,
    /// Student-t degrees of freedom of the paths' returns (0: normal).
    pub tail_dof: u32,
    /// The paths' volatility is the larger of the run's one-hour estimate and the mark's
    /// moves over `scale_window_s`, sampled every `scale_sample_s`, in an EWMA of half-life
    /// `scale_half_life_s` ([`scale_vol`]: a trending crash's hourly moves are larger than
    /// its per-second noise says). `scale_window_s = 0` turns it off.
    pub scale_window_s: u64,
    pub scale_sample_s: u64,
    pub scale_half_life_s: u64,
    /// The paths' depth model: the book as it is (`false`) or following the price
    /// (`true`; [`ForecastSpec::book_follows`]).
    pub book_follows: bool,
    /// The paths' liquidations are capped at the venue's recent keeper throughput (pools
    /// liquidated per second while pools waited below maintenance, over about an hour) times
    /// a sweep's interval ([`ForecastSpec::max_liquidations_per_sweep`]); `false`: a sweep
    /// liquidates every pool below maintenance.
    pub keeper_throughput: bool,
    /// The paths follow this share of the mark's recent trend (the EWMA of its moves over
    /// `scale_window_s`, per hour); 0: driftless paths.
    pub trend_weight: f64,
    /// The paths jump as the mark has lately ([`jumps`]): a one-minute move beyond
    /// `jump_threshold` of the minute's sigma is a jump; the rate is an EWMA of their count
    /// (half-life `jump_half_life_s`), the sizes the last 32 jumps. `false`: no jumps.
    pub jumps: bool,
    pub jump_threshold: f64,
    pub jump_half_life_s: u64,
    /// Jumps no recent history announces, on top of those ([`forecast::JumpSpec::prior_rate_1h`]):
    /// expected `jump_prior_per_day` a day, up or down alike, each a log return exponential
    /// with mean `jump_prior_mean` (0.03: 3%). A crash's first gap after calm hours is
    /// outside every path of a walk at the calm hours' volatility, and outside a jump log
    /// that has seen none; a gap's size is the market's, not a multiple of the calm sigma.
    /// 0: none.
    pub jump_prior_per_day: f64,
    pub jump_prior_mean: f64,
    /// Learn the prior's rate from the venue's own gaps ([`jumps::JumpLog::gap_rate_per_day`]):
    /// the prior weighs as much as `jump_learn_days` days of the mark's history, and a gap is
    /// a jump (by `jump_threshold`) of at least `jump_gap_log` in log return. 0: the rate
    /// stays the prior's.
    pub jump_learn_days: f64,
    pub jump_gap_log: f64,
    /// The paths' volatility times a multiplier the controller's own backtest steers
    /// ([`calibration`]): after each closed hour, `ln c` moves by `calibration_gain` times
    /// (the hour's exceedance of VaR 95 - 0.05), within `[calibration_min,
    /// calibration_max]`. 0: off (the multiplier stays 1).
    pub calibration_gain: f64,
    pub calibration_min: f64,
    pub calibration_max: f64,
    /// Maintenance moves only on the hour, by the step the decision before the hour chose
    /// and announced (fee and cap move at any decision: they liquidate nobody). A tightening
    /// at a quarter past would push pools under it in the middle of an hour whose forecast
    /// assumed the old one: the hour's loss would be the controller's doing, not the
    /// market's. Announced a decision ahead, the step is in the hour's forecast (made of the
    /// venue with it), so the backtest needs no second forecast of the venue after the
    /// hour's actions. `false`: at any decision.
    pub maintenance_on_the_hour: bool,
    /// With `maintenance_on_the_hour`: how far ahead the decisions that can move only the fee
    /// and the cap look, s (0: `horizon_s`). Their moves stand only until the next decision,
    /// which may revise them; they compare their expected shortfall with the budget scaled to
    /// that time (`budget x decision_horizon_s / horizon_s`: the budget is a loss per
    /// `horizon_s`). The hour's forecast (the one the backtest judges) and the one before the
    /// hour (which announces the hour's maintenance) always look `horizon_s` ahead. A path's
    /// cost is about proportional to its length.
    pub decision_horizon_s: u64,
    /// The loss budget: the larger of this and `loss_budget_insurance_share` of the fund.
    pub loss_budget_usd: f64,
    pub loss_budget_insurance_share: f64,
    /// Relax when the expected shortfall is under this share of the budget.
    pub relax_below: f64,
    /// One step of each lever, and its hard bound (ppm; the cap's step is a share of the
    /// open interest).
    pub maintenance_step_ppm: i64,
    pub maintenance_max_ppm: i64,
    pub taker_fee_step_ppm: i64,
    pub taker_fee_max_ppm: i64,
    /// Tightening sets the open-interest cap this share above the open interest (0: the cap
    /// is not a lever).
    pub oi_cap_headroom: f64,
    /// A lever moves at most once per this many seconds.
    pub min_interval_s: u64,
    /// Relaxing waits this long after the last tightening (one calm forecast in the middle
    /// of a crash must not undo the margin the crash called for).
    pub relax_after_s: u64,
    /// The kill switch: the controller stops at this time (s from the start).
    pub kill_at_s: Option<u64>,
}

impl Default for ControllerParams {
    fn default() -> Self {
        ControllerParams {
            enabled: false,
            shadow: false,
            every_s: 900,
            paths: 200,
            horizon_s: 3600,
            step_s: 12,
            tick_every_s: 60,
            tail_dof: 4,
            scale_window_s: 900,
            scale_sample_s: 60,
            scale_half_life_s: 7_200,
            book_follows: false,
            keeper_throughput: false,
            trend_weight: 0.0,
            jumps: false,
            jump_threshold: 5.0,
            jump_half_life_s: 86_400,
            jump_prior_per_day: 0.0,
            jump_prior_mean: 0.03,
            jump_learn_days: 0.0,
            jump_gap_log: 0.01,
            calibration_gain: 0.0,
            calibration_min: 1.0,
            calibration_max: 4.0,
            maintenance_on_the_hour: false,
            decision_horizon_s: 0,
            loss_budget_usd: 1_000.0,
            loss_budget_insurance_share: 0.0025,
            relax_below: 0.25,
            maintenance_step_ppm: 2_500,
            maintenance_max_ppm: 50_000,
            taker_fee_step_ppm: 250,
            taker_fee_max_ppm: 2_000,
            oi_cap_headroom: 0.0,
            min_interval_s: 900,
            relax_after_s: 3600,
            kill_at_s: None,
        }
    }
}

/// One row of `controller.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControllerRow {
    pub t_s: f64,
    pub market: u16,
    /// `forecast`, `action`, `shadow_action` (decided, not sent), `refused` (the engine said
    /// no), `error` (no forecast could be made), `kill`.
    pub kind: &'static str,
    /// `maintenance`, `taker_fee`, `oi_cap` for an action; empty otherwise.
    pub lever: &'static str,
    pub old: Option<i64>,
    pub new: Option<i64>,
    /// The paths' one-hour sigma: the larger of `sigma_run_1h` and the mark's moves at the
    /// forecast's scale.
    pub sigma_1h: f64,
    /// The run's own one-hour estimate (per-step returns scaled by time).
    pub sigma_run_1h: f64,
    /// The backtest's multiplier on the paths' volatility ([`calibration`]; 1 when off),
    /// already in `sigma_1h`.
    pub vol_multiplier: f64,
    /// The paths' rate of gaps that no recent move announces, a day: the prior's, or learned
    /// from the venue's own (`jump_learn_days`); 0 without a prior.
    pub gaps_per_day: f64,
    pub var95_usd: f64,
    pub es95_usd: f64,
    pub p_loss: f64,
    pub budget_usd: f64,
    pub paths_simulated: u32,
    /// The live venue as the decision read it ([`VenueReading`]).
    pub oi_lots: i64,
    pub oi_top_share: f64,
    pub depth_2pct_usd: f64,
    pub liquidation_queue: u64,
    pub oracle_degraded: bool,
    pub insurance_usd: f64,
    pub reason: String,
}

/// What the controller reads of the live venue at a decision, besides its forecast: the
/// figures a live venue's risk desk watches (each a query of the engine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct VenueReading {
    /// Open interest, lots (one side).
    pub oi_lots: i64,
    /// The largest single position's share of it (concentration).
    pub oi_top_share: f64,
    /// Resting notional within 2% of the mark, both sides, USD.
    pub depth_2pct_usd: f64,
    /// Pools below maintenance waiting for liquidation.
    pub liquidation_queue: u64,
    pub oracle_degraded: bool,
    pub insurance_usd: f64,
}

/// Reads `market` of the live venue.
pub fn read_venue(engine: &Engine, market: MarketId) -> VenueReading {
    let Some(m) = engine.market(market) else {
        return VenueReading::default();
    };
    let oi = m.open_interest.lots();
    let top = engine
        .accounts()
        .iter()
        .filter_map(|a| a.position(market))
        .map(|p| p.qty.lots().unsigned_abs())
        .max()
        .unwrap_or(0);
    let mark = m.mark.micros() as f64 / 1e6;
    let lots = m.params.lots_per_unit as f64;
    let mut depth = 0.0;
    for side in [bulwark_engine::Side::Buy, bulwark_engine::Side::Sell] {
        for (price, qty, _) in m.book.levels(side) {
            let p = price.micros() as f64 / 1e6;
            if (p / mark - 1.0).abs() > 0.02 {
                break;
            }
            depth += p * qty.lots() as f64 / lots;
        }
    }
    VenueReading {
        oi_lots: oi,
        oi_top_share: if oi > 0 { top as f64 / oi as f64 } else { 0.0 },
        depth_2pct_usd: depth,
        liquidation_queue: engine.liquidation_queue_len() as u64,
        oracle_degraded: m.is_degraded(),
        insurance_usd: crate::metrics::units::usd(engine.insurance_usd()),
    }
}

/// A forecast made on the hour, for the backtest.
#[derive(Clone, Debug, PartialEq)]
struct HourForecast {
    at_ms: u64,
    var95_usd: f64,
    /// The forecast's paths' losses (its distribution, for the transform).
    losses_usd: Vec<f64>,
    /// The venue's realised bad debt when it was made.
    realised_then_usd: f64,
    /// The negative equity of its pools not yet liquidated, then.
    negative_then_usd: f64,
}

impl HourForecast {
    /// The loss realised since the forecast, marked as the forecast marks it: the bad debt
    /// realised since, plus the change in unliquidated negative equity (both USD, now).
    fn loss_since(&self, realised_now_usd: f64, negative_now_usd: f64) -> f64 {
        (realised_now_usd - self.realised_then_usd) + (negative_now_usd - self.negative_then_usd)
    }
}

/// What summary.json reports of the controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ControllerSummary {
    pub forecasts: u64,
    pub actions: u64,
    pub shadow_actions: u64,
    pub paths_simulated: u64,
    pub killed: bool,
    /// The largest multiplier the backtest's correction put on the paths' volatility (1: the
    /// correction off or never raised).
    pub vol_multiplier_max: f64,
    /// The least and the most the paths' rate of unannounced gaps was over the forecasts, a
    /// day (`gaps_per_day`: equal for a fixed prior; 0 and 0 without one).
    pub gaps_per_day_min: f64,
    pub gaps_per_day_max: f64,
    pub backtest: Backtest,
}

/// Kupiec's proportion-of-failures test of the hourly VaR 95% forecasts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Backtest {
    /// Hours with a forecast on the hour and a full hour of run after it.
    pub hours: u64,
    /// Hours whose realised bad debt exceeded the forecast VaR 95%.
    pub exceedances: u64,
    pub rate: f64,
    /// The exceedance rates Kupiec's test accepts at 95% for this many hours (empty: none).
    pub accepted_low: Option<f64>,
    pub accepted_high: Option<f64>,
    pub within: Option<bool>,
    /// Hours whose randomized transform of the realised bad debt under the forecast is at
    /// least 0.95 (probability exactly 5% under a correct forecast, atom at zero or not).
    pub pit_exceedances: u64,
    pub pit_rate: f64,
    pub pit_within: Option<bool>,
    /// How many hours' transforms fall in each tenth of [0, 1) (flat under a correct
    /// forecast; weight at the top: the forecast's tail is too thin).
    pub pit_deciles: [u64; 10],
}

/// The levers where the run started: relaxing goes back to them.
#[derive(Clone, Copy, Debug)]
struct Base {
    maintenance_ppm: i64,
    taker_fee_ppm: i64,
    oi_cap: OiCap,
}

pub struct Controller {
    p: ControllerParams,
    market: MarketId,
    seed: u64,
    start_ms: u64,
    next_ms: u64,
    base: Option<Base>,
    /// When each lever last moved (maintenance, fee, cap).
    last_move_ms: [Option<u64>; 3],
    last_tighten_ms: Option<u64>,
    killed: bool,
    pub rows: Vec<ControllerRow>,
    hours: Vec<HourForecast>,
    /// Bad debt realised by the venue so far (the deficits of its bankrupt pools).
    realised_usd: f64,
    forecasts: u64,
    paths_simulated: u64,
    /// Pools below maintenance and since when (their liquidation has not started).
    below_since: std::collections::HashMap<(bulwark_engine::AccountId, bulwark_engine::Scope), u64>,
    /// The live venue at the last decision.
    reading: VenueReading,
    /// The venue's recent wait from below maintenance to a liquidation's start, s (an EWMA
    /// over liquidations; `None` before the first).
    delay_s: Option<f64>,
    /// The mark's volatility at the forecast's scale.
    scale: Option<scale_vol::ScaleVol>,
    /// The run's one-hour estimate at the last decision.
    sigma_run_1h: f64,
    /// When the venue's oracle posts: the paths post as it does.
    feed: FeedRule,
    /// The venue's recent liquidation throughput.
    throughput: Throughput,
    /// The mark's recent jumps (with `jumps` on).
    jump_log: Option<jumps::JumpLog>,
    /// The paths' volatility multiplier, steered by the closed hours' backtest.
    calibration: calibration::Calibration,
    /// Hourly forecasts whose hour has been folded into `calibration`.
    hours_closed: usize,
    /// The maintenance step the decision before the hour announced for it
    /// (`maintenance_on_the_hour`).
    announced: Option<Announced>,
}

/// A maintenance step chosen at one decision and applied at the next, on the hour.
#[derive(Clone, Debug)]
struct Announced {
    at_s: f64,
    old: i64,
    new: i64,
    command: Command,
    why: String,
}

/// Liquidations started per second of time during which some pool waited below maintenance,
/// both counts decayed with a half-life of [`Throughput::HALF_LIFE_S`]: what the venue's
/// keepers get through when there is work, read from its events.
#[derive(Clone, Debug, Default)]
struct Throughput {
    started: f64,
    busy_s: f64,
    last_ms: Option<u64>,
}

impl Throughput {
    const HALF_LIFE_S: f64 = 3600.0;
    /// Below this much busy time the rate says nothing (no cap).
    const MIN_BUSY_S: f64 = 60.0;

    fn observe(&mut self, now_ms: u64, busy: bool) {
        let dt_s = self
            .last_ms
            .map_or(0.0, |last| now_ms.saturating_sub(last) as f64 / 1000.0);
        self.last_ms = Some(now_ms);
        let keep = libm::exp2(-dt_s / Self::HALF_LIFE_S);
        self.started *= keep;
        self.busy_s *= keep;
        if busy {
            self.busy_s += dt_s;
        }
    }

    /// Pools per sweep of `interval_s`, at least one (0: no evidence, no cap).
    fn per_sweep(&self, interval_s: f64) -> u32 {
        if self.busy_s < Self::MIN_BUSY_S {
            return 0;
        }
        let per_s = self.started / self.busy_s;
        (per_s * interval_s).ceil().clamp(1.0, u32::MAX as f64) as u32
    }
}

/// The posting rule of a scenario's oracle, for the forecast's paths: the single feed's, or
/// with several sources the most eager of them (the mark moves when any source reports).
pub fn feed_rule(o: &crate::scenario::OracleParams) -> FeedRule {
    if o.sources.is_empty() {
        return FeedRule {
            deviation_bp: o.deviation_bp,
            heartbeat_s: o.heartbeat_s,
        };
    }
    FeedRule {
        deviation_bp: o
            .sources
            .iter()
            .map(|s| s.deviation_bp)
            .fold(f64::INFINITY, f64::min),
        heartbeat_s: o.sources.iter().map(|s| s.heartbeat_s).min().unwrap_or(0),
    }
}

/// The maintenance lever's index in [`Controller::proposals`] and `last_move_ms`.
const MAINTENANCE: usize = 0;

/// Weight of each new liquidation in the delay's moving average.
const DELAY_EWMA_WEIGHT: f64 = 0.2;

/// What the controller asks the run to send.
pub type Actions = Vec<Command>;

impl Controller {
    pub fn new(
        p: &ControllerParams,
        feed: FeedRule,
        market: MarketId,
        seed: u64,
        start_ms: u64,
    ) -> Controller {
        Controller {
            p: p.clone(),
            feed,
            throughput: Throughput::default(),
            jump_log: (p.jumps || p.jump_learn_days > 0.0).then(|| {
                let gap_log = if p.jump_learn_days > 0.0 {
                    p.jump_gap_log
                } else {
                    f64::INFINITY
                };
                jumps::JumpLog::counting_gaps(60, p.jump_threshold, p.jump_half_life_s, gap_log)
            }),
            market,
            seed,
            start_ms,
            next_ms: start_ms + p.every_s * 1000,
            base: None,
            last_move_ms: [None; 3],
            last_tighten_ms: None,
            killed: false,
            rows: Vec::new(),
            hours: Vec::new(),
            realised_usd: 0.0,
            forecasts: 0,
            paths_simulated: 0,
            below_since: std::collections::HashMap::new(),
            delay_s: None,
            reading: VenueReading::default(),
            scale: (p.scale_window_s > 0).then(|| {
                scale_vol::ScaleVol::new(p.scale_window_s, p.scale_sample_s, p.scale_half_life_s)
            }),
            sigma_run_1h: 0.0,
            calibration: calibration::Calibration::new(
                p.calibration_gain,
                p.calibration_min,
                p.calibration_max,
            ),
            hours_closed: 0,
            announced: None,
        }
    }

    /// The mark at a step (the scale estimate samples it on its own grid).
    pub fn observe_mark(&mut self, now_ms: u64, mark: f64) {
        if let Some(v) = &mut self.scale {
            v.observe(now_ms, mark);
        }
        self.throughput
            .observe(now_ms, !self.below_since.is_empty());
        if let Some(j) = &mut self.jump_log {
            j.observe(now_ms, mark);
        }
    }

    /// The venue's events of one command at `now_ms`: bad debt realised (for the backtest),
    /// and how long pools wait below maintenance before their liquidation starts (the
    /// forecast's liquidation delay: a venue whose keepers are slow liquidates late).
    pub fn on_events(&mut self, now_ms: u64, events: &[Event]) {
        for ev in events {
            match *ev {
                Event::Bankrupt { deficit_usd, .. } => {
                    self.realised_usd += crate::metrics::units::usd(deficit_usd);
                }
                Event::BelowMaintenance { account, scope, .. } => {
                    self.below_since.entry((account, scope)).or_insert(now_ms);
                }
                Event::BackAboveMaintenance { account, scope, .. } => {
                    self.below_since.remove(&(account, scope));
                }
                Event::LiquidationStarted { account, scope, .. } => {
                    self.throughput.started += 1.0;
                    if let Some(since) = self.below_since.remove(&(account, scope)) {
                        let waited_s = (now_ms - since) as f64 / 1000.0;
                        self.delay_s = Some(
                            self.delay_s
                                .map_or(waited_s, |d| d + DELAY_EWMA_WEIGHT * (waited_s - d)),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether a decision is due at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        !self.killed && now_ms >= self.next_ms
    }

    /// At a step: stop if the kill switch is due, else forecast and decide if due. Returns the
    /// parameter commands to send (none in shadow mode).
    pub fn step(&mut self, engine: &Engine, now_ms: u64, sigma_run_1h: f64) -> Actions {
        if self.killed {
            return Vec::new();
        }
        self.sigma_run_1h = sigma_run_1h;
        let sigma_1h = self
            .scale
            .as_ref()
            .and_then(scale_vol::ScaleVol::sigma_1h)
            .map_or(sigma_run_1h, |s| s.max(sigma_run_1h));
        let t_s = (now_ms - self.start_ms) as f64 / 1000.0;
        if self.p.kill_at_s.is_some_and(|k| t_s >= k as f64) {
            self.killed = true;
            self.rows.push(self.row(
                t_s,
                "kill",
                "",
                None,
                None,
                sigma_1h,
                None,
                "kill switch".into(),
            ));
            return Vec::new();
        }
        if now_ms < self.next_ms {
            return Vec::new();
        }
        self.next_ms = now_ms + self.p.every_s * 1000;
        let on_the_hour = (now_ms - self.start_ms) % 3_600_000 < self.p.every_s * 1000;
        if on_the_hour {
            self.close_hour(engine);
        }
        let sigma_1h = sigma_1h * self.calibration.scale();
        // An announced maintenance step takes effect now: the hour's forecast is made of a
        // copy of the venue with it (the live venue gets it with this decision's actions).
        let mut out = Vec::new();
        let copy = match self.announced.take().filter(|_| on_the_hour) {
            Some(a) => self.apply_announced(engine, now_ms, sigma_1h, a, &mut out),
            None => None,
        };
        let engine = copy.as_ref().unwrap_or(engine);
        self.reading = read_venue(engine, self.market);
        let base = *self
            .base
            .get_or_insert_with(|| base_of(engine, self.market));
        let delay_s = self.delay_s.map_or(0, |d| d.round() as u64);
        // A forecast looks as far ahead as the actions it may lead to stand: the hour's (which
        // the backtest judges) and, with maintenance on the hour, the one before it (which
        // chooses the hour's maintenance) the full horizon; one that can move only the fee
        // and the cap, until the next decision may revise them (`decision_horizon_s`).
        let before_the_hour = (self.next_ms - self.start_ms) % 3_600_000 < self.p.every_s * 1000;
        let fee_and_cap_only = self.p.maintenance_on_the_hour && !on_the_hour && !before_the_hour;
        let horizon_s = match self.p.decision_horizon_s {
            h if h > 0 && fee_and_cap_only => h,
            _ => self.p.horizon_s,
        };
        let spec = ForecastSpec {
            paths: self.p.paths,
            horizon_s,
            step_s: self.p.step_s,
            tick_every_s: self.p.tick_every_s,
            sigma_1h,
            drift_1h: self.p.trend_weight
                * self
                    .scale
                    .as_ref()
                    .and_then(scale_vol::ScaleVol::drift_1h)
                    .unwrap_or(0.0),
            jumps: forecast::JumpSpec {
                prior_rate_1h: self.gap_rate_per_day() / 24.0,
                prior_mean_log: self.p.jump_prior_mean,
                ..self
                    .jump_log
                    .as_ref()
                    .filter(|_| self.p.jumps)
                    .map_or(forecast::JumpSpec::NONE, jumps::JumpLog::spec)
            },
            tail_dof: self.p.tail_dof,
            liquidation_delay_s: delay_s,
            max_liquidations_per_sweep: if self.p.keeper_throughput {
                // A sweep every `delay_s` (rounded down to whole steps), or after every price.
                let sweep_s = (delay_s / self.p.step_s.max(1)).max(1) * self.p.step_s;
                self.throughput.per_sweep(sweep_s as f64)
            } else {
                0
            },
            book_follows: self.p.book_follows,
            feed: self.feed,
            seed: self.seed ^ self.forecasts.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        };
        self.forecasts += 1;
        let f = match forecast::forecast(engine, self.market, now_ms, &spec) {
            Ok(f) => f,
            Err(why) => {
                // No forecast, no decision; the row says why.
                let row = self.row(t_s, "error", "", None, None, sigma_1h, None, why);
                self.rows.push(row);
                return Vec::new();
            }
        };
        self.paths_simulated += f.paths_simulated as u64;
        let budget = self.budget_usd(engine) * horizon_s as f64 / self.p.horizon_s as f64;
        let es = f.es_usd(0.95);
        let note = if copy.is_some() {
            "the venue with the announced maintenance".to_string()
        } else if horizon_s != self.p.horizon_s {
            format!("{horizon_s} s ahead, the budget scaled to it")
        } else {
            String::new()
        };
        self.rows.push(self.row(
            t_s,
            "forecast",
            "",
            None,
            None,
            sigma_1h,
            Some((&f, budget)),
            note,
        ));
        let tighten = es > budget;
        // No relaxing on a degraded oracle or with pools waiting for liquidation: the
        // forecast starts from a state the venue itself is unsure of.
        let unsettled = self.reading.oracle_degraded || self.reading.liquidation_queue > 0;
        let relax = es < self.p.relax_below * budget
            && !unsettled
            && self
                .last_tighten_ms
                .is_none_or(|t| now_ms >= t + self.p.relax_after_s * 1000);
        if tighten {
            self.last_tighten_ms = Some(now_ms);
        }
        if tighten || relax {
            let moves = self.act(engine, base, tighten, now_ms, sigma_1h, &f, budget, es);
            out.extend(moves);
        }
        if on_the_hour {
            // With maintenance announced, the hour's forecast already has it; the hour's fee
            // and cap moves are not in it, as no move within an hour is.
            let after: &[Command] = if self.p.maintenance_on_the_hour {
                &[]
            } else {
                &out
            };
            self.record_hour(engine, now_ms, &spec, f, after);
        }
        out
    }

    /// Applies the step announced at the decision before the hour: its row, its command (none
    /// in shadow mode), and a copy of the venue with it for the hour's forecast (`None` in
    /// shadow mode, or where the engine refuses the step: the venue does not change).
    fn apply_announced(
        &mut self,
        engine: &Engine,
        now_ms: u64,
        sigma_1h: f64,
        a: Announced,
        out: &mut Actions,
    ) -> Option<Engine> {
        let t_s = (now_ms - self.start_ms) as f64 / 1000.0;
        self.last_move_ms[MAINTENANCE] = Some(now_ms);
        let kind = if self.p.shadow {
            "shadow_action"
        } else {
            "action"
        };
        let reason = format!("announced at {:.0} s: {}", a.at_s, a.why);
        let row = self.row(
            t_s,
            kind,
            "maintenance",
            Some(a.old),
            Some(a.new),
            sigma_1h,
            None,
            reason,
        );
        self.rows.push(row);
        if self.p.shadow {
            return None;
        }
        let mut copy = engine.clone();
        let applied = copy.apply(&a.command, bulwark_engine::TimestampMs(now_ms));
        out.push(a.command);
        // Refused, the copy is the venue as it was (a refusal changes nothing), and the live
        // venue refuses it too (its `refused` row): the hour is forecast from the venue itself.
        applied.is_ok().then_some(copy)
    }

    /// The last hourly forecast's hour is over: its realised loss (bad debt realised since,
    /// plus the change in unliquidated negative equity: the backtest's own measure) steers
    /// the volatility multiplier. Each hour is folded once.
    fn close_hour(&mut self, engine: &Engine) {
        if self.hours_closed == self.hours.len() {
            return;
        }
        self.hours_closed = self.hours.len();
        let Some(h) = self.hours.last() else {
            return;
        };
        let negative = crate::venue_state::negative_equity_usd(engine);
        let realised = h.loss_since(self.realised_usd, negative);
        self.calibration
            .observe(&h.losses_usd, realised, LOSS_TOLERANCE_USD);
    }

    /// The hour's forecast for the backtest. The venue the hour then realises is the one
    /// after this decision's actions, so when it acted, the forecast is made again from a
    /// clone with the actions applied (same paths, same seed): a forecast of the venue
    /// before a tightening that itself pushes pools under the new maintenance would not be
    /// a forecast of the hour that follows.
    fn record_hour(
        &mut self,
        engine: &Engine,
        now_ms: u64,
        spec: &ForecastSpec,
        before: Forecast,
        actions: &[Command],
    ) {
        let f = if actions.is_empty() {
            before
        } else {
            let mut after = engine.clone();
            let t = bulwark_engine::TimestampMs(now_ms);
            // A refusal here is a refusal live too (a `refused` row there); the copy stays as
            // the refused command found it.
            let refused = actions
                .iter()
                .filter(|cmd| after.apply(cmd, t).is_err())
                .count();
            match forecast::forecast(&after, self.market, now_ms, spec) {
                Ok(f) => {
                    self.paths_simulated += f.paths_simulated as u64;
                    let t_s = (now_ms - self.start_ms) as f64 / 1000.0;
                    let budget = self.budget_usd(engine);
                    let row = self.row(
                        t_s,
                        "forecast_after",
                        "",
                        None,
                        None,
                        spec.sigma_1h,
                        Some((&f, budget)),
                        format!(
                            "the venue after this decision's {} actions ({refused} refused)",
                            actions.len()
                        ),
                    );
                    self.rows.push(row);
                    f
                }
                Err(why) => {
                    let t_s = (now_ms - self.start_ms) as f64 / 1000.0;
                    let row = self.row(t_s, "error", "", None, None, spec.sigma_1h, None, why);
                    self.rows.push(row);
                    before
                }
            }
        };
        self.hours.push(HourForecast {
            at_ms: now_ms,
            var95_usd: f.var_usd(0.95),
            losses_usd: f.losses_usd,
            realised_then_usd: self.realised_usd,
            negative_then_usd: crate::venue_state::negative_equity_usd(engine),
        });
    }

    /// The decision's actions: one step of each lever that may move (rows written; the
    /// commands returned unless in shadow mode).
    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        engine: &Engine,
        base: Base,
        tighten: bool,
        now_ms: u64,
        sigma_1h: f64,
        f: &Forecast,
        budget: f64,
        es: f64,
    ) -> Actions {
        let t_s = (now_ms - self.start_ms) as f64 / 1000.0;
        let why = if tighten {
            format!("ES95 {es:.0} USD over the budget {budget:.0} USD")
        } else {
            format!(
                "ES95 {es:.0} USD under {:.0}% of the budget {budget:.0} USD",
                self.p.relax_below * 100.0
            )
        };
        let mut out = Vec::new();
        for (lever, proposal) in self
            .proposals(engine, base, tighten)
            .into_iter()
            .enumerate()
        {
            let Some((name, old, new, cmd)) = proposal else {
                continue;
            };
            // With `maintenance_on_the_hour`, maintenance is announced at the decision before
            // the hour (the next decision is on it) and moves then.
            let announce = lever == MAINTENANCE && self.p.maintenance_on_the_hour;
            let before_the_hour =
                (self.next_ms - self.start_ms) % 3_600_000 < self.p.every_s * 1000;
            if announce && !before_the_hour {
                continue;
            }
            let moves_ms = if announce { self.next_ms } else { now_ms };
            if self.last_move_ms[lever].is_some_and(|t| moves_ms < t + self.p.min_interval_s * 1000)
            {
                continue;
            }
            let kind = match (announce, self.p.shadow) {
                (true, true) => "shadow_announce",
                (true, false) => "announce",
                (false, true) => "shadow_action",
                (false, false) => "action",
            };
            let row = self.row(
                t_s,
                kind,
                name,
                Some(old),
                Some(new),
                sigma_1h,
                Some((f, budget)),
                why.clone(),
            );
            self.rows.push(row);
            if announce {
                self.announced = Some(Announced {
                    at_s: t_s,
                    old,
                    new,
                    command: cmd,
                    why: why.clone(),
                });
            } else {
                self.last_move_ms[lever] = Some(now_ms);
                if !self.p.shadow {
                    out.push(cmd);
                }
            }
        }
        out
    }

    /// The engine refused an action the controller sent (recorded; the lever's clock still
    /// counts the attempt).
    pub fn refused(&mut self, now_ms: u64, reason: String) {
        let t_s = (now_ms - self.start_ms) as f64 / 1000.0;
        self.rows
            .push(self.row(t_s, "refused", "", None, None, 0.0, None, reason));
    }

    /// The paths' rate of gaps that no recent move announces, a day: the prior's, or learned
    /// from the venue's own gaps with the prior as its pseudo-count (`jump_learn_days`).
    fn gap_rate_per_day(&self) -> f64 {
        match &self.jump_log {
            Some(log) if self.p.jump_learn_days > 0.0 => log.gap_rate_per_day(
                self.p.jump_prior_per_day,
                self.p.jump_prior_mean,
                self.p.jump_learn_days,
            ),
            _ => self.p.jump_prior_per_day,
        }
    }

    fn budget_usd(&self, engine: &Engine) -> f64 {
        let fund = crate::metrics::units::usd(engine.insurance_usd());
        self.p
            .loss_budget_usd
            .max(self.p.loss_budget_insurance_share * fund)
    }

    /// Each lever's next step (maintenance, taker fee, cap): (name, old, new, command), or
    /// `None` where it is at its bound, off, or already where the step would take it.
    #[allow(clippy::type_complexity)]
    fn proposals(
        &self,
        engine: &Engine,
        base: Base,
        tighten: bool,
    ) -> [Option<(&'static str, i64, i64, Command)>; 3] {
        let Some(m) = engine.market(self.market) else {
            return [None, None, None];
        };
        let market = self.market;
        let set = |param: Param| Command::SetParam { market, param };
        let dynamic = m.params.defences.dynamic_margin;
        // Under dynamic margin the lever is the override (a floor on its target).
        let maint_now = if dynamic.enabled {
            dynamic
                .override_maintenance
                .map_or(base.maintenance_ppm, |o| o.raw())
        } else {
            m.params.maintenance.raw()
        };
        let maint_new = step_toward(
            maint_now,
            self.p.maintenance_step_ppm,
            tighten,
            base.maintenance_ppm,
            self.p.maintenance_max_ppm,
        );
        let maintenance = (maint_new != maint_now).then(|| {
            let param = if dynamic.enabled {
                let floor = (maint_new > base.maintenance_ppm).then(|| Ppm::from_raw(maint_new));
                Param::MaintenanceOverride(floor)
            } else {
                Param::Maintenance(Ppm::from_raw(maint_new))
            };
            ("maintenance", maint_now, maint_new, set(param))
        });
        let fee_now = m.params.taker_fee.raw();
        let fee_new = step_toward(
            fee_now,
            self.p.taker_fee_step_ppm,
            tighten,
            base.taker_fee_ppm,
            self.p.taker_fee_max_ppm,
        );
        let fee = (fee_new != fee_now).then(|| {
            (
                "taker_fee",
                fee_now,
                fee_new,
                set(Param::TakerFee(Ppm::from_raw(fee_new))),
            )
        });
        let cap = self
            .cap_proposal(engine, base, tighten)
            .map(|(old, new, c)| ("oi_cap", old, new, set(Param::OiCap(c))));
        [maintenance, fee, cap]
    }

    /// Tightening: a cap `oi_cap_headroom` above the open interest (never above one in force);
    /// relaxing: the cap the run started with. Values in lots (0: no cap).
    fn cap_proposal(
        &self,
        engine: &Engine,
        base: Base,
        tighten: bool,
    ) -> Option<(i64, i64, OiCap)> {
        if self.p.oi_cap_headroom <= 0.0 {
            return None;
        }
        let m = engine.market(self.market)?;
        let now = m.params.defences.oi_cap;
        let lots = |c: &OiCap| {
            if c.enabled {
                c.max_open_interest.lots()
            } else {
                0
            }
        };
        if tighten {
            let oi = m.open_interest.lots().max(1);
            let mut target = ((oi as f64) * (1.0 + self.p.oi_cap_headroom)).ceil() as i64;
            if now.enabled {
                target = target.min(now.max_open_interest.lots());
            }
            let c = OiCap {
                enabled: true,
                max_open_interest: Qty::from_lots(target),
                ..now
            };
            (c != now).then(|| (lots(&now), target, c))
        } else {
            (now != base.oi_cap).then(|| (lots(&now), lots(&base.oi_cap), base.oi_cap))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        t_s: f64,
        kind: &'static str,
        lever: &'static str,
        old: Option<i64>,
        new: Option<i64>,
        sigma_1h: f64,
        f: Option<(&Forecast, f64)>,
        reason: String,
    ) -> ControllerRow {
        let (var95, es95, p_loss, budget, sim) = f.map_or((0.0, 0.0, 0.0, 0.0, 0), |(f, b)| {
            (
                f.var_usd(0.95),
                f.es_usd(0.95),
                f.p_loss(),
                b,
                f.paths_simulated,
            )
        });
        let v = self.reading;
        ControllerRow {
            t_s,
            market: self.market.0,
            kind,
            lever,
            old,
            new,
            sigma_1h,
            sigma_run_1h: self.sigma_run_1h,
            vol_multiplier: self.calibration.scale(),
            gaps_per_day: self.gap_rate_per_day(),
            var95_usd: var95,
            es95_usd: es95,
            p_loss,
            budget_usd: budget,
            paths_simulated: sim,
            oi_lots: v.oi_lots,
            oi_top_share: v.oi_top_share,
            depth_2pct_usd: v.depth_2pct_usd,
            liquidation_queue: v.liquidation_queue,
            oracle_degraded: v.oracle_degraded,
            insurance_usd: v.insurance_usd,
            reason,
        }
    }

    /// The summary at the run's end (`end_ms`, with `end_negative_usd` of negative equity
    /// left in pools not yet liquidated): counts and the backtest.
    pub fn summary(&self, end_ms: u64, end_negative_usd: f64) -> ControllerSummary {
        let count = |k: &str| self.rows.iter().filter(|r| r.kind == k).count() as u64;
        let (gaps_per_day_min, gaps_per_day_max) = self.gaps_per_day_range();
        ControllerSummary {
            forecasts: self.forecasts,
            actions: count("action"),
            shadow_actions: count("shadow_action"),
            paths_simulated: self.paths_simulated,
            killed: self.killed,
            vol_multiplier_max: self
                .rows
                .iter()
                .map(|r| r.vol_multiplier)
                .fold(self.calibration.scale(), f64::max),
            gaps_per_day_min,
            gaps_per_day_max,
            backtest: self.backtest(end_ms, end_negative_usd),
        }
    }

    /// The least and the most `gaps_per_day` of the forecasts ((0, 0) before any).
    fn gaps_per_day_range(&self) -> (f64, f64) {
        let rates = self
            .rows
            .iter()
            .filter(|r| r.kind == "forecast")
            .map(|r| r.gaps_per_day);
        rates
            .fold(None, |range: Option<(f64, f64)>, g| {
                Some(range.map_or((g, g), |(lo, hi)| (lo.min(g), hi.max(g))))
            })
            .unwrap_or((0.0, 0.0))
    }

    /// The hourly forecasts against the loss realised in the hour after each, marked as the
    /// forecast marks it: bad debt realised plus the change in unliquidated negative equity.
    fn backtest(&self, end_ms: u64, end_negative_usd: f64) -> Backtest {
        use rand::{Rng, SeedableRng};
        // The transform's uniform draws: their own stream, one per hour in order.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ PIT_STREAM);
        let mut counts = PitCounts::default();
        for (i, h) in self.hours.iter().enumerate() {
            let end = h.at_ms + 3_600_000;
            if end > end_ms {
                break;
            }
            // Bad debt realised and negative equity by the next hourly forecast; the last
            // one: at the run's end.
            let (then, negative) = self
                .hours
                .get(i + 1)
                .map_or((self.realised_usd, end_negative_usd), |n| {
                    (n.realised_then_usd, n.negative_then_usd)
                });
            let realised = h.loss_since(then, negative);
            let v: f64 = rng.gen();
            // A forecast with no paths (none is made so) counts as its transform's top.
            let pit = bulwark_risk::randomized_pit(&h.losses_usd, realised, v, LOSS_TOLERANCE_USD)
                .unwrap_or(1.0);
            counts.add(realised > h.var95_usd + LOSS_TOLERANCE_USD, pit);
        }
        counts.backtest()
    }
}

/// The backtest's uniform draws are seeded from the run's seed and this constant (not the
/// forecasts' stream, so a forecast's paths and the backtest never share draws).
const PIT_STREAM: u64 = 0x5049_545F_4B55_5049;

/// Realised and simulated losses sum in different orders: closer than this, they are equal.
const LOSS_TOLERANCE_USD: f64 = 1e-6;

/// The backtest's tallies (summed over runs when pooled).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PitCounts {
    pub hours: u64,
    pub exceedances: u64,
    pub pit_exceedances: u64,
    pub pit_deciles: [u64; 10],
}

impl PitCounts {
    fn add(&mut self, exceeded: bool, pit: f64) {
        self.hours += 1;
        self.exceedances += u64::from(exceeded);
        self.pit_exceedances += u64::from(pit >= 0.95);
        let decile = ((pit * 10.0) as usize).min(9);
        self.pit_deciles[decile] += 1;
    }

    /// Kupiec at 95% around a 5% rate, on the plain count and on the transforms.
    pub fn backtest(&self) -> Backtest {
        let rate = |x: u64| {
            if self.hours == 0 {
                0.0
            } else {
                x as f64 / self.hours as f64
            }
        };
        let accepted = bulwark_risk::kupiec_accepted_counts(self.hours, 0.05, 0.95)
            .ok()
            .flatten()
            .filter(|_| self.hours > 0);
        let within = |x: u64| accepted.map(|(lo, hi)| x >= lo && x <= hi);
        Backtest {
            hours: self.hours,
            exceedances: self.exceedances,
            rate: rate(self.exceedances),
            accepted_low: accepted.map(|(lo, _)| rate(lo)),
            accepted_high: accepted.map(|(_, hi)| rate(hi)),
            within: within(self.exceedances),
            pit_exceedances: self.pit_exceedances,
            pit_rate: rate(self.pit_exceedances),
            pit_within: within(self.pit_exceedances),
            pit_deciles: self.pit_deciles,
        }
    }
}

/// The backtest pooled over a sweep's runs, per parameter set: each set's label (its
/// `variant` cell, else its index) with the tallies of its runs summed. Sets whose runs had no
/// controller are left out.
pub fn pooled_backtests(runs_csv: &std::path::Path) -> Result<Vec<(String, Backtest)>, String> {
    let mut r =
        csv::Reader::from_path(runs_csv).map_err(|e| format!("{}: {e}", runs_csv.display()))?;
    let header = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(set), Some(hours), Some(exceed), Some(pit), Some(deciles)) = (
        col("set"),
        col("controller_hours"),
        col("controller_exceedances"),
        col("controller_pit_exceedances"),
        col("controller_pit_deciles"),
    ) else {
        return Err(format!("{}: no controller columns", runs_csv.display()));
    };
    let label = col("variant");
    let mut by_set: std::collections::BTreeMap<u64, (String, PitCounts)> = Default::default();
    for (line, row) in r.records().enumerate() {
        let row = row.map_err(|e| e.to_string())?;
        let num = |i: usize| row.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let name = label.and_then(|i| row.get(i)).unwrap_or("").to_string();
        let e = by_set
            .entry(num(set))
            .or_insert((name, PitCounts::default()));
        e.1.hours += num(hours);
        e.1.exceedances += num(exceed);
        e.1.pit_exceedances += num(pit);
        let cell = row.get(deciles).unwrap_or("");
        let tenths = parse_deciles(cell).ok_or_else(|| {
            format!(
                "{}: row {}: controller_pit_deciles is {cell:?}, not ten counts",
                runs_csv.display(),
                line + 2
            )
        })?;
        for (sum, x) in e.1.pit_deciles.iter_mut().zip(tenths) {
            *sum += x;
        }
    }
    Ok(by_set
        .into_iter()
        .filter(|(_, (_, c))| c.hours > 0)
        .map(|(i, (name, c))| {
            let name = if name.is_empty() {
                format!("set {i}")
            } else {
                name
            };
            (name, c.backtest())
        })
        .collect())
}

/// The runs.csv cell of the transforms' deciles: ten counts separated by spaces.
pub fn deciles_cell(d: &[u64; 10]) -> String {
    d.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

/// The inverse of [`deciles_cell`] (an empty cell: a run without a controller, all zero).
fn parse_deciles(cell: &str) -> Option<[u64; 10]> {
    if cell.is_empty() {
        return Some([0; 10]);
    }
    let v: Vec<u64> = cell
        .split(' ')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// One step from `now` toward `bound` (tightening) or toward `base` (relaxing), never past
/// either.
fn step_toward(now: i64, step: i64, tighten: bool, base: i64, bound: i64) -> i64 {
    if tighten {
        if now >= bound {
            now
        } else {
            (now + step).min(bound)
        }
    } else if now > base {
        (now - step).max(base)
    } else {
        now
    }
}

fn base_of(engine: &Engine, market: MarketId) -> Base {
    let m = engine.market(market);
    Base {
        maintenance_ppm: m.map_or(0, |m| m.params.maintenance.raw()),
        taker_fee_ppm: m.map_or(0, |m| m.params.taker_fee.raw()),
        oi_cap: m.map_or(OiCap::default(), |m| m.params.defences.oi_cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeper_throughput_counts_only_busy_time_and_needs_a_minute_of_it() {
        let mut t = Throughput::default();
        // Ten idle minutes, then two busy minutes at 1-s steps with 12 liquidations started.
        for s in 0..=600u64 {
            t.observe(s * 1000, false);
        }
        for s in 601..=720u64 {
            t.observe(s * 1000, true);
        }
        t.started += 12.0;
        // Busy time: 120 s, decayed by at most 2^(-120/3600) = 0.977 for the oldest second;
        // so about 0.1 pools a second (12 / 118.6 = 0.1012): 2.53 pools over 25 s -> 3.
        assert!((t.busy_s - 118.6).abs() < 0.2, "{}", t.busy_s);
        assert_eq!(t.per_sweep(25.0), 3);
        assert_eq!(t.per_sweep(1.0), 1, "at least one pool a sweep");
        // Under a minute of busy time says nothing: no cap.
        let mut short = Throughput::default();
        for s in 0..=59u64 {
            short.observe(s * 1000, true);
        }
        short.started += 5.0;
        assert_eq!(short.per_sweep(25.0), 0);
    }

    #[test]
    fn a_step_never_passes_its_bound_or_the_base() {
        assert_eq!(step_toward(5_000, 2_500, true, 5_000, 9_000), 7_500);
        assert_eq!(step_toward(7_500, 2_500, true, 5_000, 9_000), 9_000);
        assert_eq!(step_toward(9_000, 2_500, true, 5_000, 9_000), 9_000);
        assert_eq!(step_toward(9_000, 2_500, false, 5_000, 9_000), 6_500);
        assert_eq!(step_toward(6_500, 2_500, false, 5_000, 9_000), 5_000);
        assert_eq!(step_toward(5_000, 2_500, false, 5_000, 9_000), 5_000);
    }

    fn counts(hours: u64, exceedances: u64, pit_exceedances: u64) -> PitCounts {
        PitCounts {
            hours,
            exceedances,
            pit_exceedances,
            pit_deciles: [0; 10],
        }
    }

    #[test]
    fn the_backtest_accepts_about_five_percent() {
        // 100 hours: Kupiec at 95% accepts 2..=9 exceedances (LR < 3.841).
        let b = counts(100, 5, 1).backtest();
        assert_eq!((b.accepted_low, b.accepted_high), (Some(0.02), Some(0.09)));
        assert_eq!(b.within, Some(true));
        assert_eq!(b.pit_within, Some(false));
        assert_eq!(counts(100, 15, 9).backtest().within, Some(false));
        assert_eq!(counts(100, 15, 9).backtest().pit_within, Some(true));
        assert_eq!(counts(0, 0, 0).backtest().within, None);
    }

    #[test]
    fn transforms_fall_in_their_tenth() {
        let mut c = PitCounts::default();
        for pit in [0.0, 0.05, 0.949, 0.95, 0.999, 1.0] {
            c.add(false, pit);
        }
        assert_eq!(c.pit_deciles, [2, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(c.pit_exceedances, 3);
        assert_eq!(
            parse_deciles(&deciles_cell(&c.pit_deciles)),
            Some(c.pit_deciles)
        );
        assert_eq!(parse_deciles(""), Some([0; 10]));
        assert_eq!(parse_deciles("1 2"), None);
        assert_eq!(parse_deciles("1 2 3 4 5 6 7 8 9 x"), None);
    }
}
