//! Every field's rule, checked once the scenario is typed: finite numbers, signs, ranges, and
//! the rules between fields. Each problem names the field's dotted path, the value and the
//! allowed range; all problems are reported together, so one run of the command shows
//! everything to fix.
//!
//! The market's and the venue's engine parameters are checked by the engine itself, on a
//! scratch engine (the same validation the run's set-up commands meet), and reported under
//! `market.*` / `venue.*`.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use bulwark_engine::{
    limits, Command, Engine, MarketParams, Price, Reject, TimestampMs, Usd, VenueParam,
};

use super::error::FieldProblem;
use super::fields::{
    AgentsSection, ArbitrageurParams, ChainParams, KeeperParams, LogNormal, LpParams,
    MarketMakerParams, MetricsParams, MoreMarket, OracleParams, PathKind, Scenario, TraderParams,
    VolatilityFeed,
};
use super::limits::*;
use crate::path::correlated::{check_aligned, MAX_MARKETS};
use crate::path::{CalibratedShock, PathError};

/// The lower end of a range: included, `[lo`, or excluded, `(lo`.
#[derive(Clone, Copy, Debug)]
enum Low {
    Incl(f64),
    Excl(f64),
}

/// Collects problems.
#[derive(Debug, Default)]
struct Checks {
    problems: Vec<FieldProblem>,
}

/// A bound for messages: integers as written, large floats in exponent form.
fn show(v: f64) -> String {
    if v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

impl Checks {
    fn fail(&mut self, field: &str, value: impl Display, rule: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.to_string(),
            value: value.to_string(),
            rule: rule.into(),
        });
    }

    /// A finite number from `low` to `hi` (included).
    fn real(&mut self, field: &str, v: f64, low: Low, hi: f64, unit: &str) {
        let (above, open, lo) = match low {
            Low::Incl(lo) => (v >= lo, "[", lo),
            Low::Excl(lo) => (v > lo, "(", lo),
        };
        if !(v.is_finite() && above && v <= hi) {
            self.fail(
                field,
                v,
                format!(
                    "must be a finite number in {open}{}, {}]{unit}",
                    show(lo),
                    show(hi)
                ),
            );
        }
    }

    fn share(&mut self, field: &str, v: f64) {
        self.real(field, v, Low::Incl(0.0), 1.0, " (a share)");
    }

    fn positive(&mut self, field: &str, v: f64, hi: f64, unit: &str) {
        self.real(field, v, Low::Excl(0.0), hi, unit);
    }

    fn non_negative(&mut self, field: &str, v: f64, hi: f64, unit: &str) {
        self.real(field, v, Low::Incl(0.0), hi, unit);
    }

    fn bp(&mut self, field: &str, v: f64) {
        self.non_negative(field, v, BP_ALL, " bp");
    }

    /// An integer in `[lo, hi]`.
    fn int(&mut self, field: &str, v: u64, lo: u64, hi: u64, unit: &str) {
        if !(lo..=hi).contains(&v) {
            self.fail(field, v, format!("must be in [{lo}, {hi}]{unit}"));
        }
    }

    fn seconds(&mut self, field: &str, v: u64, lo: u64) {
        self.int(field, v, lo, MAX_DURATION_S, " s (at most ten years)");
    }

    fn millis(&mut self, field: &str, v: u64, lo: u64) {
        self.int(field, v, lo, MAX_INTERVAL_MS, " ms (at most one day)");
    }

    fn usd(&mut self, field: &str, v: f64) {
        self.positive(field, v, MAX_USD, " USD");
    }

    /// A lognormal: median from `low` to `hi`, sigma in `[0, MAX_SIGMA]`.
    fn lognormal(&mut self, field: &str, d: LogNormal, low: Low, hi: f64, unit: &str) {
        self.real(&format!("{field}.median"), d.median, low, hi, unit);
        self.real(
            &format!("{field}.sigma"),
            d.sigma,
            Low::Incl(0.0),
            MAX_SIGMA,
            " (log-space standard deviation; 0 = every draw is the median)",
        );
    }

    fn count(&mut self, field: &str, v: u32, max: u32) {
        self.int(field, u64::from(v), 0, u64::from(max), "");
    }

    /// `stress` at or above `calm`, both already checked on their own.
    fn at_least(&mut self, field: &str, v: f64, other: &str, floor: f64) {
        if v.is_finite() && floor.is_finite() && v < floor {
            self.fail(field, v, format!("must be at least `{other}` ({floor})"));
        }
    }
}

/// Every rule of `s`; relative file paths resolve against `base_dir`; without
/// `initial_price_given` the market's initial price comes from the path (and is not checked
/// here), and the same for each of `more_markets` with `more_initial_prices_given`. Empty:
/// valid.
pub fn check(
    s: &Scenario,
    base_dir: &Path,
    initial_price_given: bool,
    more_initial_prices_given: &[bool],
) -> Vec<FieldProblem> {
    let mut c = Checks::default();
    run_and_path(&mut c, s, base_dir);
    engine_params(&mut c, s, initial_price_given);
    more_markets(&mut c, s, more_initial_prices_given);
    agents(&mut c, &s.agents);
    chain(&mut c, &s.chain, base_dir);
    chain_blocks(&mut c, s);
    oracle(&mut c, &s.oracle);
    if s.agents.manipulator.enabled && manipulator_push(s).is_none() {
        c.fail(
            "agents.manipulator.enabled",
            true,
            "the manipulator needs an [[oracle.sources]] whose failure mode is \"pushed\" (the push is its work)",
        );
    }
    volatility(&mut c, &s.volatility);
    controller(&mut c, &s.controller);
    metrics(&mut c, &s.metrics);
    c.problems
}

fn resolve(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

fn file_exists(c: &mut Checks, field: &str, base_dir: &Path, p: &Path) {
    let file = resolve(base_dir, p);
    if !file.is_file() {
        c.fail(
            field,
            format!("{:?}", p.display().to_string()),
            format!(
                "must name a readable file; {} does not exist (a relative path is read from \
                 the scenario file's folder)",
                file.display()
            ),
        );
    }
}

fn run_and_path(c: &mut Checks, s: &Scenario, base_dir: &Path) {
    if s.name.trim().is_empty() {
        c.fail("name", "\"\"", "must not be empty");
    }
    c.millis("step_ms", s.step_ms, 1);
    if let Some(d) = s.duration_s {
        c.seconds("duration_s", d, 1);
        let steps = d.saturating_mul(1000) / s.step_ms.max(1);
        if d <= MAX_DURATION_S && steps > MAX_ENGINE_STEPS {
            c.fail(
                "duration_s",
                d,
                format!(
                    "is {steps} engine steps of step_ms = {} ms; at most {MAX_ENGINE_STEPS} \
                     steps fit a run: shorten the run or lengthen step_ms",
                    s.step_ms
                ),
            );
        }
    }
    match s.path.kind {
        PathKind::CalibratedShock => shock(c, s),
        PathKind::Synthetic => {
            if let Err(problems) = super::synthetic::resolve(&s.path.synthetic, s.step_ms) {
                c.problems.extend(problems);
            }
        }
        PathKind::Historical => match &s.path.historical {
            None => c.fail(
                "path.historical",
                "(absent)",
                "kind = \"historical\" needs a [path.historical] section with `csv = \"FILE\"`",
            ),
            Some(h) => {
                file_exists(c, "path.historical.csv", base_dir, &h.csv);
                c.real(
                    "path.historical.clip_wick_frac",
                    h.clip_wick_frac,
                    Low::Excl(0.0),
                    1.0,
                    "",
                );
                c.real(
                    "path.historical.outlier_frac",
                    h.outlier_frac,
                    Low::Excl(0.0),
                    1.0,
                    "",
                );
            }
        },
    }
}

fn shock(c: &mut Checks, s: &Scenario) {
    shock_at(c, "path.shock", &s.path.shock, s.step_ms);
}

/// One calibrated shock's rules, its fields named under `prefix`.
fn shock_at(c: &mut Checks, prefix: &str, shock: &CalibratedShock, step_ms: u64) {
    if step_ms == 0 {
        return; // Reported under `step_ms`.
    }
    match shock.validate(step_ms) {
        Ok(()) => {}
        Err(PathError::InvalidShock { name, problem }) => c.fail(
            &format!("{prefix}.{name}"),
            shock_value(shock, name),
            problem,
        ),
        Err(e) => c.fail(prefix, "(the shock)", e.to_string()),
    }
    let end_ms = shock
        .start_ms
        .saturating_add(shock.total_s().saturating_mul(1000));
    if end_ms > limits::MAX_TIMESTAMP_MS {
        c.fail(
            &format!("{prefix}.start_ms"),
            shock.start_ms,
            format!(
                "the shock must end by the engine's last timestamp ({} ms, year 9999)",
                limits::MAX_TIMESTAMP_MS
            ),
        );
    }
}

/// The value of a shock field named in the shock's own error, for the message.
pub(super) fn shock_value(s: &crate::path::CalibratedShock, name: &str) -> String {
    match name {
        "start_price" => s.start_price.to_string(),
        "drop_frac" => s.drop_frac.to_string(),
        "rebound_frac" => s.rebound_frac.to_string(),
        "pre_shock_s" => s.pre_shock_s.to_string(),
        "drop_duration_s" => s.drop_duration_s.to_string(),
        "rebound_duration_s" => s.rebound_duration_s.to_string(),
        "tail_s" => s.tail_s.to_string(),
        "start_ms" => s.start_ms.to_string(),
        "annual_vol" => s.annual_vol.to_string(),
        "shock_vol_mult" => s.shock_vol_mult.to_string(),
        _ => format!("{:?}", s.jumps),
    }
}

/// The market's and venue's engine parameters, as the engine's own set-up checks them.
fn engine_params(c: &mut Checks, s: &Scenario, initial_price_given: bool) {
    let mut engine = Engine::default();
    if !market_params(c, &mut engine, "market", &s.market, initial_price_given) {
        return;
    }
    let v = &s.venue;
    let venue_params = [
        (
            "max_liquidations_per_step",
            v.max_liquidations_per_step
                .map(|x| (VenueParam::MaxLiquidationsPerStep(x), x.to_string())),
        ),
        (
            "vault_withdrawal_delay_ms",
            v.vault_withdrawal_delay_ms
                .map(|x| (VenueParam::VaultWithdrawalDelayMs(x), x.to_string())),
        ),
        (
            "vault_margin_multiplier",
            v.vault_margin_multiplier
                .map(|x| (VenueParam::VaultMarginMultiplier(x), x.raw().to_string())),
        ),
        (
            "vault_policy",
            Some((
                VenueParam::VaultPolicy(v.vault_policy),
                format!("{:?}", v.vault_policy),
            )),
        ),
    ];
    for (name, param) in venue_params {
        let Some((param, value)) = param else {
            continue;
        };
        if let Err(r) = engine.apply(&Command::SetVenueParam { param }, TimestampMs(0)) {
            c.fail(&format!("venue.{name}"), value, r.to_string());
        }
    }
    for (field, amount) in [
        ("venue.insurance_seed_usd", v.insurance_seed_usd),
        ("venue.vault_seed_usd", v.vault_seed_usd),
    ] {
        let max = Usd::from_micros((MAX_USD * 1e6) as i64);
        if amount.is_negative() || amount > max {
            c.fail(
                field,
                amount,
                format!("must be in [0, {}] USD", show(MAX_USD)),
            );
        }
    }
}

/// Creates the market on `engine` as the run's set-up would; a refusal is a problem under
/// `prefix` (naming the parameter when the engine does). Whether it was created.
fn market_params(
    c: &mut Checks,
    engine: &mut Engine,
    prefix: &str,
    market: &MarketParams,
    initial_price_given: bool,
) -> bool {
    let mut params = market.clone();
    if !initial_price_given {
        // The run takes the path's first price; check the rest at one tick.
        params.initial_price = params.tick_size.max(Price::from_micros(1));
    }
    let as_given = toml::Table::try_from(&params).unwrap_or_default();
    match engine.apply(
        &Command::CreateMarket {
            params: Box::new(params),
        },
        TimestampMs(0),
    ) {
        Ok(_) => true,
        Err(Reject::InvalidParam { name, reason }) => {
            let value = as_given
                .get(name)
                .map_or("(as given)".into(), ToString::to_string);
            c.fail(&format!("{prefix}.{name}"), value, reason);
            false
        }
        Err(other) => {
            c.fail(prefix, "(as given)", other.to_string());
            false
        }
    }
}

/// The further markets: each one's engine parameters (on a scratch engine beside the first
/// market, as the run creates them), its shock, its agents; the symbols distinct; the shocks
/// on one grid; the correlations valid for the number of markets.
fn more_markets(c: &mut Checks, s: &Scenario, initial_prices_given: &[bool]) {
    let n = s.more_markets.len() + 1;
    correlation(c, s, n);
    if s.more_markets.is_empty() {
        return;
    }
    if s.path.kind != PathKind::CalibratedShock {
        c.fail(
            "more_markets",
            format!("{} markets", s.more_markets.len()),
            "further markets are driven beside a calibrated shock only: set path.kind = \
             \"calibrated_shock\" (historical files side by side are not supported yet, nor \
             synthetic models: path::correlated_regimes drives several regime-switching \
             markets in the library, not yet from a scenario)",
        );
    }
    if n > MAX_MARKETS {
        c.fail(
            "more_markets",
            format!("{} markets", s.more_markets.len()),
            format!(
                "at most {} further markets ({MAX_MARKETS} in all)",
                MAX_MARKETS - 1
            ),
        );
        return;
    }
    let mut engine = Engine::default();
    let first = Command::CreateMarket {
        params: Box::new(s.market.clone()),
    };
    if engine.apply(&first, TimestampMs(0)).is_err() {
        // `[market]` itself is refused: its own check reports why, and further markets'
        // ids would not be the run's, so they are not checked against this engine.
        return;
    }
    let mut symbols = vec![s.market.symbol.clone()];
    let mut traders = u64::from(s.agents.traders.count);
    for (i, m) in s.more_markets.iter().enumerate() {
        let prefix = format!("more_markets[{i}]");
        let given = initial_prices_given.get(i).copied().unwrap_or(false);
        market_params(
            c,
            &mut engine,
            &format!("{prefix}.market"),
            &m.market,
            given,
        );
        if symbols.contains(&m.market.symbol) {
            c.fail(
                &format!("{prefix}.market.symbol"),
                format!("{:?}", m.market.symbol),
                "must differ from every other market's symbol",
            );
        }
        symbols.push(m.market.symbol.clone());
        shock_at(c, &format!("{prefix}.shock"), &m.shock, s.step_ms);
        more_market_agents(c, &prefix, m);
        traders += u64::from(m.agents.traders);
    }
    if traders > u64::from(MAX_TRADERS) {
        c.fail(
            "more_markets",
            format!("{traders} traders in all markets"),
            format!("at most {MAX_TRADERS} traders in all"),
        );
    }
    let shocks: Vec<CalibratedShock> = std::iter::once(s.path.shock.clone())
        .chain(s.more_markets.iter().map(|m| m.shock.clone()))
        .collect();
    if let Err(e) = check_aligned(&shocks) {
        c.fail("more_markets", "(the shocks)", e.to_string());
    }
}

fn more_market_agents(c: &mut Checks, prefix: &str, m: &MoreMarket) {
    let a = &m.agents;
    c.count(&format!("{prefix}.agents.traders"), a.traders, MAX_TRADERS);
    c.count(
        &format!("{prefix}.agents.market_makers"),
        a.market_makers,
        MAX_OTHER_AGENTS,
    );
    c.count(
        &format!("{prefix}.agents.arbitrageurs"),
        a.arbitrageurs,
        MAX_OTHER_AGENTS,
    );
    c.share(
        &format!("{prefix}.agents.cross_margin_share"),
        a.cross_margin_share,
    );
}

/// `[correlation]` for `n` markets (checked even for one, so a typo never waits for a second
/// market to show).
fn correlation(c: &mut Checks, s: &Scenario, n: usize) {
    if n > MAX_MARKETS {
        return; // Reported under `more_markets`.
    }
    match s.correlation.validate(n) {
        Ok(()) => {}
        Err(PathError::InvalidCorrelation { name, problem }) => {
            let value = match name {
                "crisis_weight" => s.correlation.crisis_weight.to_string(),
                _ => format!("{:?}", s.correlation.calm),
            };
            c.fail(&format!("correlation.{name}"), value, problem);
        }
        Err(e) => c.fail("correlation", "(as given)", e.to_string()),
    }
}

fn agents(c: &mut Checks, a: &AgentsSection) {
    traders(c, &a.traders);
    market_makers(c, &a.market_makers);
    arbitrageurs(c, &a.arbitrageurs);
    keepers(c, &a.keepers);
    lps(c, &a.lps);
    let m = &a.manipulator;
    c.usd("agents.manipulator.capital_usd", m.capital_usd);
    c.positive("agents.manipulator.leverage", m.leverage, 100.0, "x");
    c.seconds("agents.manipulator.lead_s", m.lead_s, 0);
    c.seconds("agents.manipulator.poll_s", m.poll_s, 1);
}

fn traders(c: &mut Checks, t: &TraderParams) {
    let f = |name: &str| format!("agents.traders.{name}");
    c.count(&f("count"), t.count, MAX_TRADERS);
    c.share(&f("trend_share"), t.trend_share);
    c.lognormal(
        &f("collateral_usd"),
        t.collateral_usd,
        Low::Incl(MIN_TRADER_COLLATERAL_USD),
        MAX_TRADER_COLLATERAL_USD,
        " USD (draws are clipped to this range)",
    );
    c.real(
        &f("max_leverage"),
        t.max_leverage,
        Low::Incl(1.0),
        MAX_LEVERAGE,
        "",
    );
    let max_lev = if t.max_leverage.is_finite() {
        t.max_leverage.clamp(1.0, MAX_LEVERAGE)
    } else {
        MAX_LEVERAGE
    };
    c.lognormal(
        &f("leverage"),
        t.leverage,
        Low::Incl(1.0),
        max_lev,
        " (up to `max_leverage`; draws are clipped to [1, max_leverage])",
    );
    c.seconds(&f("entry_window_s"), t.entry_window_s, 0);
    c.seconds(&f("lookback_s"), t.lookback_s, 0);
    c.bp(&f("max_slippage_bp"), t.max_slippage_bp);
    c.positive(
        &f("take_profit_frac"),
        t.take_profit_frac,
        MAX_LEVERAGE,
        " (of collateral)",
    );
    c.share(&f("stop_loss_share"), t.stop_loss_share);
    c.positive(
        &f("stop_loss_frac"),
        t.stop_loss_frac,
        1.0,
        " (of collateral)",
    );
    c.lognormal(
        &f("hold_s"),
        t.hold_s,
        Low::Excl(0.0),
        MAX_DURATION_S as f64,
        " s",
    );
    c.non_negative(
        &f("reentry_mean_s"),
        t.reentry_mean_s,
        MAX_DURATION_S as f64,
        " s",
    );
    c.share(&f("topup_share"), t.topup_share);
    c.real(
        &f("topup_trigger_multiple"),
        t.topup_trigger_multiple,
        Low::Incl(1.0),
        100.0,
        " (of maintenance)",
    );
    c.lognormal(
        &f("topup_delay_s"),
        t.topup_delay_s,
        Low::Excl(0.0),
        MAX_DURATION_S as f64,
        " s",
    );
    c.non_negative(
        &f("topup_frac"),
        t.topup_frac,
        100.0,
        " (of the first deposit)",
    );
    c.int(&f("max_topups"), u64::from(t.max_topups), 0, 1_000, "");
}

fn market_makers(c: &mut Checks, m: &MarketMakerParams) {
    let f = |name: &str| format!("agents.market_makers.{name}");
    c.count(&f("count"), m.count, MAX_OTHER_AGENTS);
    c.usd(&f("capital_usd"), m.capital_usd);
    c.int(&f("levels"), u64::from(m.levels), 1, 100, "");
    c.bp(&f("level_spacing_bp"), m.level_spacing_bp);
    c.bp(&f("base_half_spread_bp"), m.base_half_spread_bp);
    c.bp(&f("vol_spread_bp"), m.vol_spread_bp);
    c.usd(&f("level_usd"), m.level_usd);
    c.positive(&f("ref_vol_annual"), m.ref_vol_annual, MAX_VOL_ANNUAL, "");
    c.non_negative(&f("depth_vol_elasticity"), m.depth_vol_elasticity, 10.0, "");
    c.usd(&f("max_inventory_usd"), m.max_inventory_usd);
    c.bp(&f("max_skew_bp"), m.max_skew_bp);
    c.positive(&f("pull_vol_annual"), m.pull_vol_annual, MAX_VOL_ANNUAL, "");
    c.positive(&f("pull_loss_frac"), m.pull_loss_frac, 1.0, " (of equity)");
    c.seconds(&f("pull_duration_s"), m.pull_duration_s, 0);
    c.millis(&f("requote_interval_ms"), m.requote_interval_ms, 1);
    c.millis(&f("latency_ms"), m.latency_ms, 0);
    c.bp(&f("requote_threshold_bp"), m.requote_threshold_bp);
    c.positive(
        &f("vol_half_life_s"),
        m.vol_half_life_s,
        MAX_DURATION_S as f64,
        " s",
    );
}

fn arbitrageurs(c: &mut Checks, a: &ArbitrageurParams) {
    let f = |name: &str| format!("agents.arbitrageurs.{name}");
    c.count(&f("count"), a.count, MAX_OTHER_AGENTS);
    c.usd(&f("capital_usd"), a.capital_usd);
    c.bp(&f("cost_bp"), a.cost_bp);
    c.positive(&f("max_leverage"), a.max_leverage, MAX_LEVERAGE, "");
    c.usd(&f("clip_usd"), a.clip_usd);
    c.millis(&f("poll_ms"), a.poll_ms, 1);
    c.millis(&f("latency_ms"), a.latency_ms, 0);
}

fn keepers(c: &mut Checks, k: &KeeperParams) {
    let f = |name: &str| format!("agents.keepers.{name}");
    c.count(&f("count"), k.count, MAX_OTHER_AGENTS);
    c.usd(&f("capital_usd"), k.capital_usd);
    c.positive(
        &f("notional_per_capital"),
        k.notional_per_capital,
        MAX_LEVERAGE,
        "",
    );
    c.lognormal(
        &f("latency_ms"),
        k.latency_ms,
        Low::Excl(0.0),
        MAX_INTERVAL_MS as f64,
        " ms",
    );
    c.lognormal(
        &f("bid_multiplier"),
        k.bid_multiplier,
        Low::Excl(0.0),
        1_000.0,
        "",
    );
    c.lognormal(
        &f("reward_spend_share"),
        k.reward_spend_share,
        Low::Excl(0.0),
        1.0,
        " (of the expected reward)",
    );
    c.int(
        &f("gas_per_liquidation"),
        k.gas_per_liquidation,
        1,
        MAX_GAS_PER_TX,
        " gas",
    );
    c.non_negative(&f("gas_budget_usd"), k.gas_budget_usd, MAX_USD, " USD");
    c.int(
        &f("venue_count"),
        u64::from(k.venue_count),
        0,
        u64::from(k.count),
        " (at most agents.keepers.count)",
    );
    c.millis(&f("poll_ms"), k.poll_ms, 1);
}

fn lps(c: &mut Checks, l: &LpParams) {
    let f = |name: &str| format!("agents.lps.{name}");
    c.count(&f("count"), l.count, MAX_OTHER_AGENTS);
    c.positive(
        &f("total_capital_usd"),
        l.total_capital_usd,
        MAX_USD,
        " USD",
    );
    // Each LP must get at least one micro-USD: the engine refuses an empty deposit.
    if l.total_capital_usd.is_finite() && l.total_capital_usd * 1e6 < f64::from(l.count) {
        c.fail(
            &f("total_capital_usd"),
            l.total_capital_usd,
            format!(
                "must give each of the {} LPs at least one micro-USD",
                l.count
            ),
        );
    }
    c.real(
        &f("capital_sigma"),
        l.capital_sigma,
        Low::Incl(0.0),
        MAX_SIGMA,
        " (log-space standard deviation; 0 = equal shares)",
    );
    c.share(&f("threshold_share"), l.threshold_share);
    c.share(&f("follow_share"), l.follow_share);
    if l.threshold_share.is_finite()
        && l.follow_share.is_finite()
        && l.threshold_share + l.follow_share > 1.0
    {
        c.fail(
            &f("follow_share"),
            l.follow_share,
            format!(
                "must be at most 1 - `agents.lps.threshold_share` ({}): each LP follows one rule",
                1.0 - l.threshold_share
            ),
        );
    }
    c.lognormal(
        &f("drawdown_frac"),
        l.drawdown_frac,
        Low::Excl(0.0),
        1.0,
        " (a fall of the share price; draws are clipped to [0.001, 1])",
    );
    c.real(
        &f("follow_outflow_frac"),
        l.follow_outflow_frac,
        Low::Excl(0.0),
        1.0,
        " (of the shares at the start)",
    );
    c.real(
        &f("withdraw_frac"),
        l.withdraw_frac,
        Low::Excl(0.0),
        1.0,
        " (of the LP's shares)",
    );
    c.seconds(&f("poll_s"), l.poll_s, 1);
    c.seconds(&f("retry_s"), l.retry_s, 1);
}

fn chain(c: &mut Checks, ch: &ChainParams, base_dir: &Path) {
    let f = |name: &str| format!("chain.{name}");
    c.millis(&f("block_ms"), ch.block_ms, 1);
    c.int(
        &f("capacity_txs"),
        u64::from(ch.capacity_txs),
        1,
        u64::from(MAX_BLOCK_TXS),
        "",
    );
    c.non_negative(&f("calm_demand"), ch.calm_demand, 100.0, " (of capacity)");
    c.non_negative(
        &f("stress_demand"),
        ch.stress_demand,
        100.0,
        " (of capacity)",
    );
    c.at_least(
        &f("stress_demand"),
        ch.stress_demand,
        "chain.calm_demand",
        ch.calm_demand,
    );
    c.positive(&f("calm_gwei"), ch.calm_gwei, MAX_GWEI, " gwei");
    c.positive(&f("stress_gwei"), ch.stress_gwei, MAX_GWEI, " gwei");
    c.at_least(
        &f("stress_gwei"),
        ch.stress_gwei,
        "chain.calm_gwei",
        ch.calm_gwei,
    );
    if ch.daily_gwei.len() > MAX_GAS_DAYS {
        c.fail(
            &f("daily_gwei"),
            ch.daily_gwei.len(),
            format!("must list at most {MAX_GAS_DAYS} days"),
        );
    }
    for (i, g) in ch.daily_gwei.iter().enumerate() {
        c.positive(&format!("chain.daily_gwei[{i}]"), *g, MAX_GWEI, " gwei");
    }
    c.positive(&f("gas_scale"), ch.gas_scale, 1_000.0, "");
    c.non_negative(&f("gas_noise_sigma"), ch.gas_noise_sigma, MAX_SIGMA, "");
    c.seconds(&f("gas_noise_half_life_s"), ch.gas_noise_half_life_s, 1);
    c.non_negative(
        &f("spike_rate_per_h"),
        ch.spike_rate_per_h,
        3_600.0,
        " per hour",
    );
    // At or above one the self-exciting spikes explode (each begets at least one more).
    c.real(
        &f("spike_excitation"),
        ch.spike_excitation,
        Low::Incl(0.0),
        0.95,
        " (further spikes per spike)",
    );
    c.non_negative(&f("spike_mean"), ch.spike_mean, 100.0, " (x the level)");
    c.seconds(&f("spike_half_life_s"), ch.spike_half_life_s, 1);
    c.non_negative(&f("bid_sigma"), ch.bid_sigma, MAX_SIGMA, "");
    c.positive(
        &f("calm_vol_annual"),
        ch.calm_vol_annual,
        MAX_VOL_ANNUAL,
        "",
    );
    c.positive(
        &f("stress_vol_annual"),
        ch.stress_vol_annual,
        MAX_VOL_ANNUAL,
        "",
    );
    c.at_least(
        &f("stress_vol_annual"),
        ch.stress_vol_annual,
        "chain.calm_vol_annual",
        ch.calm_vol_annual,
    );
    c.positive(&f("eth_usd"), ch.eth_usd, 1e7, " USD");
    if let Some(csv) = &ch.gas_csv {
        file_exists(c, "chain.gas_csv", base_dir, csv);
    }
    if let Some(h) = ch.halt {
        c.seconds(&f("halt.start_s"), h.start_s, 0);
        c.seconds(&f("halt.duration_s"), h.duration_s, 0);
    }
    c.seconds(&f("tx_ttl_s"), ch.tx_ttl_s, 0);
}

/// The run's blocks within [`MAX_BLOCKS`] (when its length is stated).
fn chain_blocks(c: &mut Checks, s: &Scenario) {
    let Some(d) = s.duration_s else { return };
    let blocks = d.saturating_mul(1000) / s.chain.block_ms.max(1);
    if d <= MAX_DURATION_S && blocks > MAX_BLOCKS {
        c.fail(
            "chain.block_ms",
            s.chain.block_ms,
            format!(
                "makes {blocks} blocks in duration_s = {d}; at most {MAX_BLOCKS} blocks fit a \
                 run: lengthen block_ms or shorten the run"
            ),
        );
    }
}

fn oracle(c: &mut Checks, o: &OracleParams) {
    let f = |name: &str| format!("oracle.{name}");
    c.bp(&f("deviation_bp"), o.deviation_bp);
    c.seconds(&f("heartbeat_s"), o.heartbeat_s, 0);
    c.millis(&f("poll_ms"), o.poll_ms, 1);
    c.positive(&f("bid_multiplier"), o.bid_multiplier, 1_000.0, "");
    c.positive(&f("max_gas_gwei"), o.max_gas_gwei, MAX_GWEI, " gwei");
    c.int(
        &f("gas_per_update"),
        o.gas_per_update,
        1,
        MAX_GAS_PER_TX,
        " gas",
    );
    for (i, s) in o.sources.iter().enumerate() {
        let f = |name: &str| format!("oracle.sources[{i}].{name}");
        if s.name.is_empty() || s.name.len() > 32 {
            c.fail(&f("name"), &s.name, "must be 1 to 32 characters");
        }
        c.bp(&f("deviation_bp"), s.deviation_bp);
        c.seconds(&f("heartbeat_s"), s.heartbeat_s, 0);
        c.bp(&f("confidence_bp"), s.confidence_bp);
        c.non_negative(&f("lag_s"), s.lag_s, 86_400.0, " s");
        if let Some(fl) = &s.failure {
            c.seconds(&f("failure.start_s"), fl.start_s, 0);
            c.seconds(&f("failure.duration_s"), fl.duration_s, 1);
            c.real(
                &f("failure.size_bp"),
                fl.size_bp,
                Low::Incl(-9_000.0),
                BP_ALL,
                " bp",
            );
            c.non_negative(&f("failure.extra_lag_s"), fl.extra_lag_s, 86_400.0, " s");
        }
    }
    if o.sources.len() > bulwark_engine::defence::MAX_ORACLE_SOURCES {
        c.fail(
            "oracle.sources",
            o.sources.len(),
            format!(
                "at most {} sources per market (the engine's limit)",
                bulwark_engine::defence::MAX_ORACLE_SOURCES
            ),
        );
    }
}

/// The window of the first `pushed` oracle source, seconds from the run's start: the
/// manipulator's push.
pub fn manipulator_push(s: &Scenario) -> Option<(u64, u64)> {
    s.oracle.sources.iter().find_map(|src| {
        let f = src.failure.as_ref()?;
        (f.mode == super::fields::SourceFailureMode::Pushed).then_some((f.start_s, f.duration_s))
    })
}

fn volatility(c: &mut Checks, v: &VolatilityFeed) {
    c.seconds("volatility.every_s", v.every_s, 1);
    c.positive(
        "volatility.short_half_life_s",
        v.short_half_life_s,
        3.2e8,
        " s",
    );
    c.positive(
        "volatility.long_half_life_s",
        v.long_half_life_s,
        3.2e8,
        " s",
    );
    c.positive(
        "volatility.prior_sigma_1h",
        v.prior_sigma_1h,
        1.0,
        " (a fraction)",
    );
}

fn controller(c: &mut Checks, k: &crate::controller::ControllerParams) {
    c.seconds("controller.every_s", k.every_s, 1);
    c.count("controller.paths", k.paths, 100_000);
    if k.paths == 0 {
        c.fail("controller.paths", k.paths, "must be at least 1");
    }
    c.seconds("controller.step_s", k.step_s, 1);
    c.seconds("controller.horizon_s", k.horizon_s, 1);
    if k.horizon_s < k.step_s || k.horizon_s > 86_400 {
        c.fail(
            "controller.horizon_s",
            k.horizon_s,
            "must be in [step_s, 86400] s",
        );
    }
    c.seconds("controller.tick_every_s", k.tick_every_s, 1);
    let h = k.decision_horizon_s;
    if h != 0 && (h < k.step_s || h > k.horizon_s) {
        c.fail(
            "controller.decision_horizon_s",
            h,
            "must be 0 (the full horizon) or in [step_s, horizon_s] s",
        );
    }
    if k.tail_dof != 0 && !(3..=100).contains(&k.tail_dof) {
        c.fail(
            "controller.tail_dof",
            k.tail_dof,
            "must be 0 (normal) or in [3, 100]",
        );
    }
    if k.scale_window_s > 0 {
        c.seconds("controller.scale_sample_s", k.scale_sample_s, 1);
        c.seconds("controller.scale_half_life_s", k.scale_half_life_s, 1);
        if k.scale_sample_s == 0 || !k.scale_window_s.is_multiple_of(k.scale_sample_s) {
            c.fail(
                "controller.scale_window_s",
                k.scale_window_s,
                "must be a multiple of controller.scale_sample_s (or 0: off)",
            );
        }
        if k.scale_window_s > 86_400 {
            c.fail(
                "controller.scale_window_s",
                k.scale_window_s,
                "must be at most 86400 s",
            );
        }
    }
    c.non_negative(
        "controller.loss_budget_usd",
        k.loss_budget_usd,
        1e11,
        " USD",
    );
    c.share(
        "controller.loss_budget_insurance_share",
        k.loss_budget_insurance_share,
    );
    c.share("controller.relax_below", k.relax_below);
    c.share("controller.trend_weight", k.trend_weight);
    c.positive(
        "controller.jump_threshold",
        k.jump_threshold,
        100.0,
        " (sigmas)",
    );
    c.seconds("controller.jump_half_life_s", k.jump_half_life_s, 1);
    c.non_negative(
        "controller.jump_prior_per_day",
        k.jump_prior_per_day,
        1_000.0,
        " (jumps a day)",
    );
    c.positive(
        "controller.jump_prior_mean",
        k.jump_prior_mean,
        1.0,
        " (a log return: 0.03 is 3%)",
    );
    c.non_negative(
        "controller.jump_learn_days",
        k.jump_learn_days,
        3_650.0,
        " (days of history the prior weighs as; 0: the rate stays the prior's)",
    );
    c.positive(
        "controller.jump_gap_log",
        k.jump_gap_log,
        1.0,
        " (a log return: 0.01 is 1%)",
    );
    c.non_negative("controller.calibration_gain", k.calibration_gain, 10.0, "");
    c.real(
        "controller.calibration_min",
        k.calibration_min,
        Low::Incl(0.1),
        1.0,
        " (a multiplier on the paths' volatility)",
    );
    c.real(
        "controller.calibration_max",
        k.calibration_max,
        Low::Incl(1.0),
        10.0,
        " (a multiplier on the paths' volatility)",
    );
    for (field, v, lo, hi) in [
        (
            "controller.maintenance_step_ppm",
            k.maintenance_step_ppm,
            0,
            100_000,
        ),
        (
            "controller.maintenance_max_ppm",
            k.maintenance_max_ppm,
            1,
            1_000_000,
        ),
        (
            "controller.taker_fee_step_ppm",
            k.taker_fee_step_ppm,
            0,
            10_000,
        ),
        (
            "controller.taker_fee_max_ppm",
            k.taker_fee_max_ppm,
            0,
            100_000,
        ),
    ] {
        if !(lo..=hi).contains(&v) {
            c.fail(field, v, format!("must be in [{lo}, {hi}] ppm"));
        }
    }
    c.non_negative(
        "controller.oi_cap_headroom",
        k.oi_cap_headroom,
        10.0,
        " (a fraction)",
    );
    c.seconds("controller.min_interval_s", k.min_interval_s, 0);
    c.seconds("controller.relax_after_s", k.relax_after_s, 0);
    if let Some(kill) = k.kill_at_s {
        c.seconds("controller.kill_at_s", kill, 0);
    }
}

fn metrics(c: &mut Checks, m: &MetricsParams) {
    c.seconds("metrics.sample_every_s", m.sample_every_s, 1);
    c.seconds("metrics.cascade_window_s", m.cascade_window_s, 0);
    c.int(
        "metrics.invariant_check_every",
        m.invariant_check_every,
        1,
        1_000_000_000,
        " commands",
    );
}
