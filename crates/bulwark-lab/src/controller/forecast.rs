//! The forward Monte Carlo: from the live engine's state, short price paths at the current
//! volatility, each run through a clone of the engine (the venue's own code, not a model of
//! it), and the distribution of the loss they leave.
//!
//! **The loss of a path** is the venue's loss marked to market over the horizon: the deficits
//! of pools that went bankrupt, plus the change in the negative equity of pools not yet
//! liquidated (`venue_state::negative_equity_usd`). Counting only realised deficits would make
//! the forecast hinge on when a keeper gets round to a pool that is already under water (on a
//! congested chain, hours): a path whose keepers wait past the horizon would show no loss
//! though the money is gone, and a pool lost before the forecast would count as a new loss
//! when it is finally closed. The backtest measures the realised hour the same way.
//!
//! **What each path assumes.** The outside price follows a walk in log price at the stated
//! one-hour volatility (driftless unless `drift_1h`; jumps only with `jumps`), with Student-t
//! innovations (`tail_dof`), one price every `step_s`,
//! and the venue's oracle posts it as the live feed does ([`FeedRule`]: when it moved
//! `deviation_bp` from the last post, or `heartbeat_s` after it), so the paths' marks move when
//! and as far as the venue's would; a price the feed would not post reaches no engine.
//! Nobody trades, adds or cancels: the book's liquidity is the depth it holds now, at the prices
//! it holds it (the depth model: makers neither return nor pull within the horizon). Liquidation
//! is the engine's native one, run every `liquidation_delay_s` (the venue's own recent wait
//! between a pool falling below maintenance and its liquidation, which keepers on a congested
//! chain make long), or after every price when that is 0. A `Tick` every `tick_every_s` lets
//! time-driven rules run (funding, halts ending, dynamic margin's steps).
//!
//! **Paths that cannot liquidate anyone are not simulated.** Between the engine's recheck
//! triggers no pool's flags can change ([`Engine::quiet_band`]); a path whose every price stays
//! inside that band, from a state with no pool below maintenance, leaves no bad debt, so it
//! costs its draws and no engine clone. In a calm market most paths are such.
//!
//! The live engine is only read: every path works on its own clone, so the venue's state hash
//! is unchanged by a forecast (a test checks it).

use bulwark_engine::{Command, Engine, Event, MarketId, Price, TimestampMs, VenueParam};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::path::draw::{standard_normal_pair, student_t_polar, uniform_open};

pub use super::jumps::JumpSpec;
use super::jumps::MAX_SIZES;

/// What to simulate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForecastSpec {
    pub paths: u32,
    pub horizon_s: u64,
    /// Seconds between two oracle prices of a path.
    pub step_s: u64,
    /// Seconds between two `Tick`s of a path.
    pub tick_every_s: u64,
    /// One-hour standard deviation of the log returns (0.02 = 2%).
    pub sigma_1h: f64,
    /// One-hour mean of the log returns beyond the martingale's (0: driftless).
    pub drift_1h: f64,
    /// Jumps on top of the walk: each step has `rate_1h x step_s / 3600` chance of one, its
    /// size (a log return) drawn from the venue's own recent jumps ([`JumpSpec::NONE`]: none).
    pub jumps: JumpSpec,
    /// Student-t innovations with this many degrees of freedom, scaled to the same standard
    /// deviation (0: normal). Crash returns have fat tails; a normal walk at the current
    /// volatility understates the next hour's worst moves.
    pub tail_dof: u32,
    /// How long pools wait below maintenance before they are liquidated, s: the venue's own
    /// recent figure (its keepers on a congested chain wait); the paths liquidate every this
    /// many seconds (0: after every price, the engine's native liquidation).
    pub liquidation_delay_s: u64,
    /// Most pools one sweep liquidates, worst shortfall first (0: every pool below
    /// maintenance): the venue's keepers' own recent throughput over a sweep's interval, so a
    /// queue the keepers work through a few pools a minute is not emptied at once.
    pub max_liquidations_per_sweep: u32,
    /// The depth model: `false`, the book stays as it is at the prices it holds (makers
    /// neither requote nor pull); `true`, it keeps its shape and follows the path's price by
    /// whole ticks ([`Engine::what_if_shift_book`]), as makers requoting around the price.
    pub book_follows: bool,
    /// When the venue's oracle posts a path's price.
    pub feed: FeedRule,
    pub seed: u64,
}

/// The posting rule of the venue's oracle feed, as the paths apply it: a price goes to the
/// engine when it moved at least `deviation_bp` from the last price posted, or `heartbeat_s`
/// after that post. `FeedRule::EVERY_STEP` posts every price of a path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeedRule {
    pub deviation_bp: f64,
    pub heartbeat_s: u64,
}

impl FeedRule {
    /// Every price of a path is posted.
    pub const EVERY_STEP: FeedRule = FeedRule {
        deviation_bp: 0.0,
        heartbeat_s: 0,
    };
}

/// The distribution of one forecast's bad debt, USD, and how it was reached.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forecast {
    /// Loss of each path, in path order: deficits of bankrupt pools plus the change in
    /// unliquidated negative equity (negative: a pool under water recovered).
    pub losses_usd: Vec<f64>,
    /// Liquidation fill notional of each path.
    pub liquidated_usd: Vec<f64>,
    /// Paths that left the quiet band (or started with a pool below maintenance) and so ran
    /// through an engine clone.
    pub paths_simulated: u32,
}

impl Forecast {
    /// Value at risk at `level` (0.95): the empirical quantile of the paths' losses.
    pub fn var_usd(&self, level: f64) -> f64 {
        bulwark_risk::var(&self.losses_usd, level).unwrap_or(0.0)
    }

    /// Expected shortfall at `level`: the mean loss in the worst 1 - level of paths.
    pub fn es_usd(&self, level: f64) -> f64 {
        bulwark_risk::expected_shortfall(&self.losses_usd, level).unwrap_or(0.0)
    }

    /// Share of paths with any bad debt.
    pub fn p_loss(&self) -> f64 {
        if self.losses_usd.is_empty() {
            return 0.0;
        }
        let n = self.losses_usd.iter().filter(|&&l| l > 0.0).count();
        n as f64 / self.losses_usd.len() as f64
    }
}

/// Runs the forward simulation of `market` from `engine` at `now_ms`. The engine is not
/// changed. Errors only for a spec that cannot run (no paths, a zero step, an unknown market).
pub fn forecast(
    engine: &Engine,
    market: MarketId,
    now_ms: u64,
    spec: &ForecastSpec,
) -> Result<Forecast, String> {
    if spec.paths == 0 || spec.step_s == 0 || spec.horizon_s < spec.step_s {
        return Err(format!(
            "a forecast needs paths > 0 and 0 < step_s <= horizon_s (got {} paths, step {} s, horizon {} s)",
            spec.paths, spec.step_s, spec.horizon_s
        ));
    }
    if !(spec.sigma_1h.is_finite() && spec.sigma_1h >= 0.0) {
        return Err(format!(
            "sigma_1h must be finite and >= 0, got {}",
            spec.sigma_1h
        ));
    }
    let m = engine
        .market(market)
        .ok_or_else(|| format!("no market {}", market.0))?;
    let start = m.mark.micros() as f64 / 1e6;
    let band = engine.quiet_band(market).map_err(|r| r.to_string())?;
    let flagged = engine.liquidation_queue_len() > 0;
    let negative_at_start_usd = crate::venue_state::negative_equity_usd(engine);
    let steps = (spec.horizon_s / spec.step_s) as usize;
    let sigma_step = spec.sigma_1h * libm::sqrt(spec.step_s as f64 / 3600.0);
    if !spec.drift_1h.is_finite() {
        return Err(format!("drift_1h must be finite, got {}", spec.drift_1h));
    }
    let drift_step = spec.drift_1h * spec.step_s as f64 / 3600.0;
    let j = &spec.jumps;
    // `&&` stops before the slice when `n` is too large.
    let jumps_ok = j.n <= MAX_SIZES
        && j.rate_1h.is_finite()
        && j.rate_1h >= 0.0
        && j.sizes[..j.n].iter().all(|s| s.is_finite());
    if !jumps_ok {
        return Err(format!(
            "jumps need a finite rate >= 0 and at most {MAX_SIZES} finite sizes, got rate {} and {} sizes",
            j.rate_1h, j.n
        ));
    }
    let prior_ok = j.prior_rate_1h.is_finite()
        && j.prior_rate_1h >= 0.0
        && j.prior_mean_log.is_finite()
        && j.prior_mean_log >= 0.0;
    if !prior_ok {
        return Err(format!(
            "the jump prior needs a finite rate >= 0 and a finite mean size >= 0, got rate {} and mean {}",
            j.prior_rate_1h, j.prior_mean_log
        ));
    }
    if !(spec.feed.deviation_bp.is_finite() && spec.feed.deviation_bp >= 0.0) {
        return Err(format!(
            "the feed's deviation_bp must be finite and >= 0, got {}",
            spec.feed.deviation_bp
        ));
    }
    if spec.tail_dof != 0 && !(3..=100).contains(&spec.tail_dof) {
        return Err(format!(
            "tail_dof must be 0 (normal) or in 3..=100, got {}",
            spec.tail_dof
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut log_prices = Vec::with_capacity(steps);
    let mut prices: Vec<Option<f64>> = Vec::with_capacity(steps);
    // One copy of the live engine, made when the first path needs it; each path runs in a
    // what-if session on it and is taken back after (`Engine::end_what_if`), which costs what
    // the path changed where refreshing the copy would cost every account and recheck entry.
    let mut scratch: Option<Engine> = None;
    let mut out = Forecast {
        losses_usd: Vec::with_capacity(spec.paths as usize),
        liquidated_usd: Vec::with_capacity(spec.paths as usize),
        paths_simulated: 0,
    };
    for _ in 0..spec.paths {
        draw_path(
            &mut rng,
            start,
            drift_step,
            sigma_step,
            spec.tail_dof,
            steps,
            &mut log_prices,
        );
        add_jumps(&mut rng, &spec.jumps, spec.step_s, &mut log_prices);
        let quiet = !flagged && band.is_some_and(|band| stays_inside(&log_prices, band));
        let (loss, liquidated) = if quiet {
            (0.0, 0.0)
        } else {
            out.paths_simulated += 1;
            posted_prices(libm::log(start), &log_prices, spec, &mut prices);
            let e = scratch.get_or_insert_with(|| {
                let mut e = engine.clone();
                // The copy is checked once per path, at its end (debug builds), not after
                // every command.
                e.set_invariant_check_interval(u64::MAX);
                e
            });
            e.begin_what_if();
            let path = run_path(e, market, now_ms, spec, &prices);
            e.end_what_if();
            let (deficits, liquidated, negative_at_end_usd) = path?;
            (
                deficits + (negative_at_end_usd - negative_at_start_usd),
                liquidated,
            )
        };
        out.losses_usd.push(loss);
        out.liquidated_usd.push(liquidated);
    }
    Ok(out)
}

/// Whether every price of a path (given as its logarithms) lies strictly inside `band`: the
/// same answer as comparing the prices themselves, with a price computed only for a log within
/// a hair of a log of either end (most of a path is far from both, and `exp` is most of the
/// cost of a path nobody simulates).
fn stays_inside(log_prices: &[f64], (lo, hi): (Price, Price)) -> bool {
    let (lo, hi) = (lo.micros() as f64 / 1e6, hi.micros() as f64 / 1e6);
    // libm's log and exp are within an ulp (about 2e-15 at these logs): 1e-9 is far beyond.
    const HAIR: f64 = 1e-9;
    let (lo_log, hi_log) = (libm::log(lo), libm::log(hi));
    log_prices.iter().all(|&l| {
        let above_lo = if (l - lo_log).abs() > HAIR {
            l > lo_log
        } else {
            libm::exp(l) > lo
        };
        let below_hi = if (l - hi_log).abs() > HAIR {
            l < hi_log
        } else {
            libm::exp(l) < hi
        };
        above_lo && below_hi
    })
}

/// Fills `out` with what the feed posts at each step of a path given as log prices: the price
/// when the feed's rule ([`FeedRule`]) posts it, `None` otherwise. The deviation is tested on
/// the logarithms against `ln(1 + d)` and `ln(1 - d)` (the feed's `|p / last - 1| >= d`), so
/// only posted prices are exponentiated.
fn posted_prices(
    start_log: f64,
    log_prices: &[f64],
    spec: &ForecastSpec,
    out: &mut Vec<Option<f64>>,
) {
    out.clear();
    let d = spec.feed.deviation_bp / 1e4;
    let up = libm::log1p(d);
    let down = if d < 1.0 {
        libm::log1p(-d)
    } else {
        f64::NEG_INFINITY
    };
    let heartbeat_steps = spec.feed.heartbeat_s.div_ceil(spec.step_s.max(1)).max(1) as usize;
    // The path starts where the mark is, as if the feed had just posted it.
    let (mut last, mut last_at) = (start_log, 0usize);
    for (k, &l) in log_prices.iter().enumerate() {
        let step = k + 1;
        let moved = l - last;
        if step - last_at >= heartbeat_steps || moved >= up || moved <= down {
            out.push(Some(libm::exp(l)));
            (last, last_at) = (l, step);
        } else {
            out.push(None);
        }
    }
}

/// Fills `out` with the logarithms of `steps` prices of a walk in log price from `start`,
/// drifting by `trend_step` a step: each step's log return has standard deviation
/// `sigma_step`, normal or Student-t
/// with `dof` degrees of freedom (scaled to that deviation; [`student_t_polar`]).
fn draw_path(
    rng: &mut ChaCha8Rng,
    start: f64,
    trend_step: f64,
    sigma_step: f64,
    dof: u32,
    steps: usize,
    out: &mut Vec<f64>,
) {
    out.clear();
    // The mean log return that makes the price a martingale is about -s^2/2; over an hour at
    // crash volatility (s^2 ~ 1e-3) it is noise, and it is kept for the normal case.
    let drift = trend_step - 0.5 * sigma_step * sigma_step;
    let mut log_p = libm::log(start);
    if dof == 0 {
        while out.len() < steps {
            let (a, b) = standard_normal_pair(rng);
            for z in [a, b] {
                if out.len() == steps {
                    break;
                }
                log_p += drift + sigma_step * z;
                out.push(log_p);
            }
        }
        return;
    }
    let t_scale = libm::sqrt((dof as f64 - 2.0) / dof as f64);
    for _ in 0..steps {
        log_p += drift + sigma_step * t_scale * student_t_polar(dof, rng);
        out.push(log_p);
    }
}

/// Adds jumps to a path given as log prices: at each step one with probability
/// `(rate_1h + prior_rate_1h) x step_s / 3600`; it is the prior's with probability
/// `prior_rate_1h / (rate_1h + prior_rate_1h)` (up or down alike, its size exponential with
/// mean `prior_mean_log`), else one of the venue's recent sizes drawn uniformly; every later
/// price moves by it. No draw at all when the spec has no jumps (the paths are then those of a
/// forecast without them, bit for bit).
fn add_jumps(rng: &mut ChaCha8Rng, jumps: &JumpSpec, step_s: u64, log_prices: &mut [f64]) {
    let (observed, prior) = (jumps.drawn_observed_1h(), jumps.drawn_prior_1h());
    let rate_1h = observed + prior;
    if rate_1h.is_nan() || rate_1h <= 0.0 {
        return;
    }
    let p_step = (rate_1h * step_s as f64 / 3600.0).min(1.0);
    let prior_share = prior / rate_1h;
    let mut shift = 0.0;
    for l in log_prices.iter_mut() {
        if uniform_open(rng) < p_step {
            shift += draw_jump(rng, jumps, prior_share);
        }
        *l += shift;
    }
}

/// One jump's log return: the prior's with probability `prior_share`, else a recent size.
fn draw_jump(rng: &mut ChaCha8Rng, jumps: &JumpSpec, prior_share: f64) -> f64 {
    if prior_share > 0.0 && (prior_share >= 1.0 || uniform_open(rng) < prior_share) {
        let size = -jumps.prior_mean_log * libm::log(uniform_open(rng));
        return if uniform_open(rng) < 0.5 { -size } else { size };
    }
    let k = ((uniform_open(rng) * jumps.n as f64) as usize).min(jumps.n - 1);
    jumps.sizes[k]
}

/// One path through `e`, a copy of the live engine: (deficits of bankrupt pools, liquidation
/// notional, negative equity of the pools left at the end), USD. Errors when the copy refuses
/// to switch native liquidation (see [`switch`]).
fn run_path(
    e: &mut Engine,
    market: MarketId,
    now_ms: u64,
    spec: &ForecastSpec,
    prices: &[Option<f64>],
) -> Result<(f64, f64, f64), String> {
    let (mut loss, mut liquidated) = (0.0, 0.0);
    let mut tally = |events: &[Event]| {
        for ev in events {
            match ev {
                Event::Bankrupt { deficit_usd, .. } => {
                    loss += crate::metrics::units::usd(*deficit_usd)
                }
                Event::Fill {
                    liquidation: true,
                    notional_usd,
                    ..
                } => liquidated += crate::metrics::units::usd(*notional_usd),
                _ => {}
            }
        }
    };
    let native = |on: bool| Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(on),
    };
    // Liquidations every `delay` steps: native liquidation switched on for one command in
    // `delay` (the engine sweeps after a price input and after a `Tick`), off in between.
    let delay = (spec.liquidation_delay_s / spec.step_s).max(1) as usize;
    if spec.max_liquidations_per_sweep > 0 {
        let cap = Command::SetVenueParam {
            param: VenueParam::MaxLiquidationsPerStep(spec.max_liquidations_per_sweep),
        };
        e.apply(&cap, TimestampMs(now_ms))
            .map_err(|r| format!("a forward path could not cap its liquidations: {r}"))?;
    }
    if delay == 1 {
        switch(e, native(true), TimestampMs(now_ms))?;
    }
    let max = e
        .market(market)
        .map_or(i64::MAX, |m| m.params.max_price.micros());
    let step_ms = spec.step_s * 1000;
    let tick_every = (spec.tick_every_s / spec.step_s).max(1) as usize;
    let rest = RestOfPath::new(prices);
    let mut book = BookFollows::new(e, market);
    for (k, &posted) in prices.iter().enumerate() {
        let t = TimestampMs(now_ms + (k as u64 + 1) * step_ms);
        let sweep = delay > 1 && (k + 1) % delay == 0;
        if let Some(p) = posted {
            let micros = (p * 1e6).round().clamp(1.0, max as f64) as i64;
            if spec.book_follows {
                book.follow(e, micros);
            }
            let cmd = Command::OraclePrice {
                market,
                price: Price::from_micros(micros),
            };
            if sweep {
                switch(e, native(true), t)?;
            }
            // A refusal (a halted market's print, say) changes nothing; the path goes on.
            match e.apply(&cmd, t) {
                Ok(ev) => tally(ev),
                Err(r) => still_in_session(e, &r)?,
            }
            if sweep {
                switch(e, native(false), t)?;
            }
        }
        // A due liquidation with no price to ride on rides on a `Tick` (only when a pool
        // waits for it: a sweep of nobody changes nothing).
        let sweep_on_tick = sweep && posted.is_none() && e.liquidation_queue_len() > 0;
        if (k + 1) % tick_every == 0 || sweep_on_tick {
            if sweep_on_tick {
                switch(e, native(true), t)?;
            }
            match e.apply(&Command::Tick, t) {
                Ok(ev) => tally(ev),
                Err(r) => still_in_session(e, &r)?,
            }
            if sweep_on_tick {
                switch(e, native(false), t)?;
            }
        }
        // Asked every few prices, not at each: the band is a walk down four trees, and a
        // path that can stop gains little from stopping a few prices sooner.
        if (k + 1) % QUIET_CHECK_EVERY == 0 && rest.stays_quiet(e, market, k + 1) {
            break;
        }
    }
    #[cfg(debug_assertions)]
    if let Err(breach) = e.check_invariants() {
        panic!("a forward path broke an engine invariant: {breach}"); // ok: debug builds only
    }
    Ok((loss, liquidated, crate::venue_state::negative_equity_usd(e)))
}

/// The depth model of a path: the book keeps its shape and follows the price, as the makers
/// who hold it requote the same ladder around a moving price (see [`Engine::what_if_shift_book`]);
/// every price of the path moves it by whole ticks, to where the price's move since the path
/// began puts it.
struct BookFollows {
    market: MarketId,
    tick_micros: i64,
    start_micros: i64,
    moved_ticks: i64,
}

impl BookFollows {
    fn new(e: &Engine, market: MarketId) -> BookFollows {
        let (tick_micros, start_micros) = e.market(market).map_or((1, 0), |m| {
            (m.params.tick_size.micros().max(1), m.mark.micros())
        });
        BookFollows {
            market,
            tick_micros,
            start_micros,
            moved_ticks: 0,
        }
    }

    /// Moves the book for an oracle price of `price_micros`. A move the engine refuses (a
    /// price beyond its bounds) leaves the book where it was.
    fn follow(&mut self, e: &mut Engine, price_micros: i64) {
        let offset = (price_micros - self.start_micros) as f64 / self.tick_micros as f64;
        let target = libm::round(offset) as i64;
        if target != self.moved_ticks
            && e.what_if_shift_book(self.market, target - self.moved_ticks)
                .is_ok()
        {
            self.moved_ticks = target;
        }
    }
}

/// Prices between two of a path's tests of whether it can stop ([`RestOfPath::stays_quiet`]).
const QUIET_CHECK_EVERY: usize = 6;

/// The lowest and highest posted price of every tail of a path, for
/// [`RestOfPath::stays_quiet`] (a price the feed does not post reaches no engine).
struct RestOfPath {
    /// `(min, max)` of the posted prices of `prices[k..]` at `k`.
    extremes: Vec<(f64, f64)>,
}

impl RestOfPath {
    fn new(prices: &[Option<f64>]) -> RestOfPath {
        let mut extremes = vec![(f64::INFINITY, f64::NEG_INFINITY); prices.len()];
        let mut run = (f64::INFINITY, f64::NEG_INFINITY);
        for (k, p) in prices.iter().enumerate().rev() {
            if let Some(p) = *p {
                run = (run.0.min(p), run.1.max(p));
            }
            extremes[k] = run;
        }
        RestOfPath { extremes }
    }

    /// Whether the path can stop before price `from`: no pool is flagged (below maintenance
    /// or under water) and every price left stays inside the copy's quiet band. The test the
    /// forecast makes of a whole path before it clones the engine, made again mid-path: once
    /// a path's liquidations are done and what is left of it cannot reach another trigger,
    /// its remaining steps would add no loss, and skipping them is most of a simulated path's
    /// cost (the first crossings of a path come early or not at all).
    fn stays_quiet(&self, e: &Engine, market: MarketId, from: usize) -> bool {
        let Some(&(low, high)) = self.extremes.get(from) else {
            return false; // the path is done anyway
        };
        if !e.flags().is_empty() {
            return false;
        }
        match e.quiet_band(market) {
            Ok(Some((lo, hi))) => low > lo.micros() as f64 / 1e6 && high < hi.micros() as f64 / 1e6,
            _ => false,
        }
    }
}

/// A refused command ends a path only when it ended the path's what-if session: a failed
/// commit (an engine bug) takes the whole path back, and what followed would not be taken back.
fn still_in_session(e: &Engine, refusal: &bulwark_engine::Reject) -> Result<(), String> {
    if e.in_what_if() {
        Ok(())
    } else {
        Err(format!("a forward path failed in the engine: {refusal}"))
    }
}

/// Switches the clone's native liquidation. It emits no loss, and a refusal would mean the
/// path is not the one the forecast states: an error, not a silent path.
fn switch(e: &mut Engine, cmd: Command, t: TimestampMs) -> Result<(), String> {
    e.apply(&cmd, t)
        .map(|_| ())
        .map_err(|r| format!("a forward path could not switch native liquidation: {r}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(step_s: u64, deviation_bp: f64, heartbeat_s: u64) -> ForecastSpec {
        ForecastSpec {
            paths: 1,
            horizon_s: 3600,
            step_s,
            tick_every_s: 60,
            sigma_1h: 0.01,
            drift_1h: 0.0,
            jumps: JumpSpec::NONE,
            tail_dof: 4,
            liquidation_delay_s: 0,
            max_liquidations_per_sweep: 0,
            book_follows: false,
            feed: FeedRule {
                deviation_bp,
                heartbeat_s,
            },
            seed: 1,
        }
    }

    /// The prior's jumps by count, sign and size: at 360 an hour on 10-s steps a step jumps
    /// with probability 1; at 36 an hour with 0.1, so 200,000 steps give about 20,000 jumps
    /// (sd 134); half of them up (sd 0.0035 of a share), their sizes exponential with mean
    /// 0.02 (the mean of 20,000 has sd 0.00014). A prior with no rate, or with no size,
    /// draws nothing: the paths are those without it, bit for bit.
    #[test]
    fn the_priors_jumps_come_at_its_rate_up_and_down_alike_at_its_mean_size() {
        let prior = JumpSpec {
            prior_rate_1h: 36.0,
            prior_mean_log: 0.02,
            ..JumpSpec::NONE
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut logs = vec![0.0; 200_000];
        add_jumps(&mut rng, &prior, 10, &mut logs);
        let mut last = 0.0;
        let (mut n, mut up, mut total) = (0u32, 0u32, 0.0);
        for &l in &logs {
            let d: f64 = l - last;
            if d != 0.0 {
                n += 1;
                up += u32::from(d > 0.0);
                total += d.abs();
            }
            last = l;
        }
        assert!((19_500..=20_500).contains(&n), "{n} jumps");
        let up_share = up as f64 / n as f64;
        assert!((0.485..=0.515).contains(&up_share), "{up_share} up");
        let mean = total / n as f64;
        assert!((mean - 0.02).abs() < 0.0006, "mean size {mean}");

        let mut every = [0.0; 10];
        add_jumps(
            &mut rng,
            &JumpSpec {
                prior_rate_1h: 360.0,
                ..prior
            },
            10,
            &mut every,
        );
        assert!(every.windows(2).all(|w| w[0] != w[1]), "{every:?}");

        for nothing in [
            JumpSpec {
                prior_rate_1h: 0.0,
                ..prior
            },
            JumpSpec {
                prior_mean_log: 0.0,
                ..prior
            },
        ] {
            let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(3), ChaCha8Rng::seed_from_u64(3));
            let mut logs = vec![1.0; 100];
            add_jumps(&mut a, &nothing, 10, &mut logs);
            assert!(logs.iter().all(|&l| l == 1.0));
            assert_eq!(uniform_open(&mut a), uniform_open(&mut b), "no draw");
        }
    }

    #[test]
    fn the_feed_posts_on_deviation_or_heartbeat_from_the_last_post() {
        let start = 100.0f64;
        // Prices at 12-s steps: +5 bp, +15 bp, +25 bp (20 bp from the start: posts), then
        // +30 bp (5 bp from that post), +30, +30 (the 30-s heartbeat: 3 steps after the post),
        // then -1% (a deviation down).
        let prices = [100.05, 100.15, 100.25, 100.30, 100.30, 100.30, 99.0];
        let logs: Vec<f64> = prices.iter().map(|&p| libm::log(p)).collect();
        let mut out = Vec::new();
        posted_prices(libm::log(start), &logs, &spec(12, 20.0, 30), &mut out);
        let posted: Vec<Option<f64>> = out
            .iter()
            .map(|p| p.map(|x| (x * 100.0).round() / 100.0))
            .collect();
        assert_eq!(
            posted,
            [
                None,
                None,
                Some(100.25),
                None,
                None,
                Some(100.30),
                Some(99.0)
            ]
        );
        // The rule that posts every price.
        posted_prices(libm::log(start), &logs, &spec(12, 0.0, 0), &mut out);
        assert!(out.iter().all(Option::is_some));
        // A price exactly at the threshold posts (the feed's `>=`), in both directions.
        let up = libm::log(start) + libm::log1p(0.002);
        let edge = [up, up + libm::log1p(-0.002)];
        posted_prices(libm::log(start), &edge, &spec(1, 20.0, 3600), &mut out);
        assert!(out[0].is_some() && out[1].is_some());
    }
}
