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
//! whose loss exceeds the forecast VaR 95% must be compatible with 5%).

pub mod forecast;

use bulwark_engine::{Command, Engine, Event, MarketId, OiCap, Param, Ppm, Qty};
use serde::{Deserialize, Serialize};

use forecast::{Forecast, ForecastSpec};

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
    /// How far ahead each path runs, and its price step, s.
    pub horizon_s: u64,
    pub step_s: u64,
    pub tick_every_s: u64,
    /// Student-t degrees of freedom of the paths' returns (0: normal).
    pub tail_dof: u32,
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
            step_s: 10,
            tick_every_s: 60,
            tail_dof: 4,
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
    pub sigma_1h: f64,
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
        liquidation_queue: engine.liquidation_queue().len() as u64,
        oracle_degraded: m.is_degraded(),
        insurance_usd: crate::metrics::units::usd(engine.insurance_usd()),
    }
}

/// A forecast made on the hour, for the backtest.
#[derive(Clone, Copy, Debug, PartialEq)]
struct HourForecast {
    at_ms: u64,
    var95_usd: f64,
    /// The venue's realised bad debt when it was made.
    realised_then_usd: f64,
}

/// What summary.json reports of the controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ControllerSummary {
    pub forecasts: u64,
    pub actions: u64,
    pub shadow_actions: u64,
    pub paths_simulated: u64,
    pub killed: bool,
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
}

/// Weight of each new liquidation in the delay's moving average.
const DELAY_EWMA_WEIGHT: f64 = 0.2;

/// What the controller asks the run to send.
pub type Actions = Vec<Command>;

impl Controller {
    pub fn new(p: &ControllerParams, market: MarketId, seed: u64, start_ms: u64) -> Controller {
        Controller {
            p: p.clone(),
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
    pub fn step(&mut self, engine: &Engine, now_ms: u64, sigma_1h: f64) -> Actions {
        if self.killed {
            return Vec::new();
        }
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
        self.reading = read_venue(engine, self.market);
        let base = *self
            .base
            .get_or_insert_with(|| base_of(engine, self.market));
        let spec = ForecastSpec {
            paths: self.p.paths,
            horizon_s: self.p.horizon_s,
            step_s: self.p.step_s,
            tick_every_s: self.p.tick_every_s,
            sigma_1h,
            tail_dof: self.p.tail_dof,
            liquidation_delay_s: self.delay_s.map_or(0, |d| d.round() as u64),
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
        let budget = self.budget_usd(engine);
        let es = f.es_usd(0.95);
        if (now_ms - self.start_ms) % 3_600_000 < self.p.every_s * 1000 {
            self.hours.push(HourForecast {
                at_ms: now_ms,
                var95_usd: f.var_usd(0.95),
                realised_then_usd: self.realised_usd,
            });
        }
        self.rows.push(self.row(
            t_s,
            "forecast",
            "",
            None,
            None,
            sigma_1h,
            Some((&f, budget)),
            String::new(),
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
        if !tighten && !relax {
            return Vec::new();
        }
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
            if self.last_move_ms[lever].is_some_and(|t| now_ms < t + self.p.min_interval_s * 1000) {
                continue;
            }
            self.last_move_ms[lever] = Some(now_ms);
            let kind = if self.p.shadow {
                "shadow_action"
            } else {
                "action"
            };
            self.rows.push(self.row(
                t_s,
                kind,
                name,
                Some(old),
                Some(new),
                sigma_1h,
                Some((&f, budget)),
                why.clone(),
            ));
            if !self.p.shadow {
                out.push(cmd);
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

    /// The summary at the run's end (`end_ms`): counts and the backtest.
    pub fn summary(&self, end_ms: u64) -> ControllerSummary {
        let count = |k: &str| self.rows.iter().filter(|r| r.kind == k).count() as u64;
        ControllerSummary {
            forecasts: self.forecasts,
            actions: count("action"),
            shadow_actions: count("shadow_action"),
            paths_simulated: self.paths_simulated,
            killed: self.killed,
            backtest: self.backtest(end_ms),
        }
    }

    /// The hourly forecasts against the bad debt realised in the hour after each.
    fn backtest(&self, end_ms: u64) -> Backtest {
        let mut hours = 0u64;
        let mut exceedances = 0u64;
        for (i, h) in self.hours.iter().enumerate() {
            let end = h.at_ms + 3_600_000;
            if end > end_ms {
                break;
            }
            // Bad debt realised by the next hourly forecast; the last one: by the run's end.
            let then = self
                .hours
                .get(i + 1)
                .map_or(self.realised_usd, |n| n.realised_then_usd);
            hours += 1;
            if then - h.realised_then_usd > h.var95_usd + 1e-6 {
                exceedances += 1;
            }
        }
        kupiec_backtest(hours, exceedances)
    }
}

/// Backtest figures for `exceedances` of `hours` (Kupiec at 95% around a 5% rate).
pub fn kupiec_backtest(hours: u64, exceedances: u64) -> Backtest {
    let rate = if hours == 0 {
        0.0
    } else {
        exceedances as f64 / hours as f64
    };
    let accepted = bulwark_risk::kupiec_accepted_counts(hours, 0.05, 0.95)
        .ok()
        .flatten();
    let (lo, hi) = match accepted {
        Some((a, b)) if hours > 0 => (Some(a as f64 / hours as f64), Some(b as f64 / hours as f64)),
        _ => (None, None),
    };
    Backtest {
        hours,
        exceedances,
        rate,
        accepted_low: lo,
        accepted_high: hi,
        within: lo.zip(hi).map(|(l, h)| rate >= l && rate <= h),
    }
}

/// The backtest pooled over a sweep's runs, per parameter set: each set's label (its
/// `variant` cell, else its index) with the hours and exceedances of its runs summed. Sets
/// whose runs had no controller are left out.
pub fn pooled_backtests(runs_csv: &std::path::Path) -> Result<Vec<(String, Backtest)>, String> {
    let mut r =
        csv::Reader::from_path(runs_csv).map_err(|e| format!("{}: {e}", runs_csv.display()))?;
    let header = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(set), Some(hours), Some(exceed)) = (
        col("set"),
        col("controller_hours"),
        col("controller_exceedances"),
    ) else {
        return Err(format!("{}: no controller columns", runs_csv.display()));
    };
    let label = col("variant");
    let mut by_set: std::collections::BTreeMap<u64, (String, u64, u64)> = Default::default();
    for row in r.records() {
        let row = row.map_err(|e| e.to_string())?;
        let num = |i: usize| row.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let name = label.and_then(|i| row.get(i)).unwrap_or("").to_string();
        let e = by_set.entry(num(set)).or_insert((name, 0, 0));
        e.1 += num(hours);
        e.2 += num(exceed);
    }
    Ok(by_set
        .into_iter()
        .filter(|(_, (_, h, _))| *h > 0)
        .map(|(i, (name, h, x))| {
            let name = if name.is_empty() {
                format!("set {i}")
            } else {
                name
            };
            (name, kupiec_backtest(h, x))
        })
        .collect())
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
    fn a_step_never_passes_its_bound_or_the_base() {
        assert_eq!(step_toward(5_000, 2_500, true, 5_000, 9_000), 7_500);
        assert_eq!(step_toward(7_500, 2_500, true, 5_000, 9_000), 9_000);
        assert_eq!(step_toward(9_000, 2_500, true, 5_000, 9_000), 9_000);
        assert_eq!(step_toward(9_000, 2_500, false, 5_000, 9_000), 6_500);
        assert_eq!(step_toward(6_500, 2_500, false, 5_000, 9_000), 5_000);
        assert_eq!(step_toward(5_000, 2_500, false, 5_000, 9_000), 5_000);
    }

    #[test]
    fn the_backtest_accepts_about_five_percent() {
        // 100 hours: Kupiec at 95% accepts 2..=9 exceedances (LR < 3.841).
        let b = kupiec_backtest(100, 5);
        assert_eq!((b.accepted_low, b.accepted_high), (Some(0.02), Some(0.09)));
        assert_eq!(b.within, Some(true));
        assert_eq!(kupiec_backtest(100, 15).within, Some(false));
        assert_eq!(kupiec_backtest(0, 0).within, None);
    }
}
