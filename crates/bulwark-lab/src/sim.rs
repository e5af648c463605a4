//! The run loop: a discrete-event simulation of one scenario against the real engine.
//!
//! One queue of timed events (engine steps, blocks, oracle polls, agent wake-ups, see
//! [`queue`]); the engine's clock is the event time. Each event has a handler here, and the
//! handlers only route: commands reach the engine through the venue plumbing
//! ([`venue_link`]), whose events the metrics read and whose fills and flags wake agents
//! ([`roster`]); oracle updates and keeper liquidations go through the chain model first.
//! Idle agents cost nothing: an agent runs only when its timer expires, a price trigger it set
//! is crossed, one of its orders fills, or (keepers) an account is flagged below maintenance.
//!
//! - [`queue`]: the event queue, ordered by (time, sequence);
//! - [`roster`] (with [`triggers`]): the agents, their wake-ups and price triggers, and who
//!   hears what a command did;
//! - [`venue_link`]: commands to the engine and their results, and the invariant checks;
//! - [`oracle`]: the push oracle feed;
//! - [`markets`]: the markets the run drives (one, or several from correlated paths), each
//!   with its path, oracle feed and public mark feed;
//! - [`setup`]: the commands that open the venue.

pub mod markets;
pub mod oracle;
pub mod queue;
pub mod roster;
pub mod setup;
pub mod sources;
pub mod triggers;
pub mod venue_link;

use bulwark_engine::{Command, Event, MarketId, Price, Reject, Requote};

use crate::agents::population::{self, Agent};
use crate::agents::{stream_rng, Action, Ctx, LiquidationTx, MarkHistory, CHAIN_STREAM};
use crate::chain::{block_vols, Chain, GasPath};
use crate::controller::Controller;
use crate::metrics::efficiency::MARGIN_SAMPLE_EVERY_S;
use crate::metrics::Metrics;
use crate::path::PricePath;
use crate::sampling::{self, SampleInputs, Samples};
use crate::scenario::{LoadedScenario, Scenario};
use crate::venue::Venue;
use markets::SimMarket;
use oracle::OracleFeed;
use queue::{Ev, EventQueue};
use roster::{Notice, Roster};
use venue_link::{Origin, VenueLink};

/// Mixed into the run's seed for the controller's forward paths (their own stream: turning the
/// controller on changes no other draw).
const CONTROLLER_SEED: u64 = 0xC0_47_20_11_E2;

/// Gas an on-chain order uses, when the book is on-chain.
const GAS_PER_ORDER: u64 = 150_000;

/// What a chain transaction carries.
#[derive(Clone, Debug)]
pub enum Payload {
    Oracle {
        /// Index of the market in the run.
        market: usize,
        /// `[[oracle.sources]]` index; `None`: the single feed (an `OraclePrice`).
        source: Option<u8>,
        price: Price,
        confidence: Price,
        /// When the outside price was observed, and when the source says it was.
        observed_ms: u64,
        published_ms: u64,
    },
    Liquidation(LiquidationTx),
    Order {
        agent: u32,
        command: Command,
    },
}

/// An oracle report as it reaches the venue.
#[derive(Clone, Copy, Debug)]
struct LandedReport {
    source: Option<u8>,
    price: Price,
    confidence: Price,
    observed_ms: u64,
    published_ms: u64,
}

/// A confidence half-width of `bp` of `price`, rounded down to the micro-USD.
fn confidence_of(price: Price, bp: f64) -> Price {
    Price::from_micros((price.micros() as f64 * bp / 1e4).floor().max(0.0) as i64)
}

/// Progress of a run, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub sim_done_ms: u64,
    pub sim_total_ms: u64,
}

/// The whole simulation state.
pub struct Sim {
    pub scenario: Scenario,
    /// The markets the run drives, `[market]` first (engine market id = index).
    pub markets: Vec<SimMarket>,
    pub start_ms: u64,
    pub end_ms: u64,
    now_ms: u64,
    /// The engine and the commands sent to it.
    pub venue: VenueLink,
    pub roster: Roster,
    pub chain: Chain<Payload>,
    pub metrics: Metrics,
    pub samples: Samples,
    /// Build only what the summary reads (see [`Sim::keep_summary_only`]).
    summary_only: bool,
    queue: EventQueue,
    /// Scratch buffers, kept to avoid allocating per event.
    actions: Vec<Action>,
    notices: Vec<Notice>,
    /// Each market's outside price at the command being applied...
    outside_now: Vec<f64>,
    /// ...read at this time (a requote's dozen commands share one; the paths never change).
    outside_at_ms: Option<u64>,
    /// The online risk controller of the first market (`[controller]`), when on.
    pub controller: Option<Controller>,
}

impl Sim {
    /// Builds the venue and the agents and schedules the first events. `path` must start at
    /// the scenario's start (the caller builds it; see [`crate::run::build_path`]). One
    /// market only; see [`Sim::with_markets`].
    pub fn new(loaded: &LoadedScenario, path: PricePath) -> Result<Sim, String> {
        Sim::with_markets(loaded, vec![path])
    }

    /// The same with one path per market, `[market]`'s first, then each of `more_markets`'
    /// (the caller builds them: [`crate::run::build_paths`]), all on one time grid.
    pub fn with_markets(loaded: &LoadedScenario, paths: Vec<PricePath>) -> Result<Sim, String> {
        let mut s = loaded.scenario.clone();
        if s.snapshot.as_ref().is_some_and(|sn| !sn.synthetic_traders) {
            s.agents.traders.count = 0;
            for m in &mut s.more_markets {
                m.agents.traders = 0;
            }
        }
        if paths.len() != 1 + s.more_markets.len() {
            return Err(format!(
                "{} price paths for {} markets",
                paths.len(),
                1 + s.more_markets.len()
            ));
        }
        let path = &paths[0];
        let start_ms = path.start_ms;
        let span_ms = path.end_ms() - path.start_ms;
        let end_ms = start_ms + s.duration_s.map_or(span_ms, |d| d * 1000);
        let mut chain_params = s.chain.clone();
        if let Some(csv) = &s.chain.gas_csv {
            chain_params.daily_gwei =
                crate::chain::daily_gwei_from_csv(&loaded.resolve(csv), start_ms, end_ms)
                    .map_err(|e| format!("chain.gas_csv: {e}"))?;
        }
        // The gas process is drawn before the run from the first market's volatility.
        let mut chain_rng = stream_rng(s.seed, CHAIN_STREAM);
        let vols = block_vols(&paths[0], &chain_params, start_ms, end_ms, s.step_ms);
        let gas = GasPath::generate(&chain_params, &vols, start_ms, &mut chain_rng);
        let params = std::iter::once(&s.market).chain(s.more_markets.iter().map(|m| &m.market));
        let markets: Vec<SimMarket> = params
            .zip(paths)
            .enumerate()
            .map(|(i, (p, path))| {
                let (tick, lots) = (p.tick_size, p.lots_per_unit);
                SimMarket::new(
                    MarketId(i as u16),
                    p.symbol.clone(),
                    path,
                    tick,
                    lots,
                    s.step_ms,
                )
            })
            .collect();
        let lots: Vec<_> = markets.iter().map(|m| (m.id, m.lots_per_unit)).collect();
        let more_agents: Vec<_> = s.more_markets.iter().map(|m| m.agents.clone()).collect();
        let mut sim = Sim {
            metrics: Metrics::new(start_ms, &lots),
            venue: VenueLink::new(MarketId(0), s.metrics.invariant_check_every),
            roster: Roster::new(population::draw_markets(&s.agents, &more_agents, s.seed)),
            chain: Chain::new(chain_params, gas, chain_rng),
            samples: Samples::default(),
            summary_only: false,
            queue: EventQueue::default(),
            actions: Vec::new(),
            notices: Vec::new(),
            outside_now: vec![0.0; markets.len()],
            outside_at_ms: None,
            controller: s.controller.enabled.then(|| {
                Controller::new(
                    &s.controller,
                    crate::controller::feed_rule(&s.oracle),
                    MarketId(0),
                    s.seed ^ CONTROLLER_SEED,
                    start_ms,
                )
            }),
            markets,
            start_ms,
            end_ms,
            now_ms: start_ms,
            scenario: s,
        };
        let orders = sim.open_venue(loaded)?;
        sim.open_accounts()?;
        sim.rest_snapshot_orders(orders)?;
        sim.schedule_environment();
        Ok(sim)
    }

    /// Create the markets and open the venue; with a snapshot, book it before the first
    /// oracle price and return its resting orders (placed once the agents have accounts).
    fn open_venue(&mut self, loaded: &LoadedScenario) -> Result<Vec<(usize, Command)>, String> {
        let mut cmds = Vec::new();
        let mut infos = Vec::new();
        for i in 0..self.markets.len() {
            let mut params = match i {
                0 => self.scenario.market.clone(),
                i => self.scenario.more_markets[i - 1].market.clone(),
            };
            if !loaded.initial_price_given(i) {
                let first = self.markets[i].path.prices[0];
                params.initial_price = setup::tick_price(first, params.tick_size)
                    .ok_or_else(|| format!("price {first} is not representable"))?;
            }
            infos.push(crate::snapshot::MarketInfo {
                symbol: params.symbol.clone(),
                lots_per_unit: params.lots_per_unit,
                tick_size: params.tick_size,
                initial_price: params.initial_price,
            });
            let first = params.initial_price.to_f64_lossy();
            self.markets[i].oracle = OracleFeed::new(first, self.start_ms);
            let n = self.scenario.oracle.sources.len();
            self.markets[i].sources = sources::SourceFeeds::new(n, first, self.start_ms);
            self.markets[i].vol = sources::VolEstimator::new(&self.scenario.volatility);
            let id = self.markets[i].id;
            match i {
                0 => cmds.extend(setup::venue_commands(&self.scenario, params, id)),
                _ => cmds.extend(setup::more_market_commands(params, id)),
            }
        }
        let mut orders = Vec::new();
        if let Some(spec) = &self.scenario.snapshot {
            let dir = loaded.resolve(&spec.dir);
            let snap = crate::snapshot::Snapshot::load(&dir, &infos)
                .map_err(|e| format!("snapshot.dir {}: {e}", dir.display()))?;
            let first = population::FIRST_AGENT_ACCOUNT + self.roster.len() as u32;
            let genesis = snap.genesis_commands(first, setup::TREASURY, setup::LP);
            // Genesis goes before any price: every set-up command first, then the snapshot,
            // then the oracle prices (a run without a snapshot keeps its order).
            let (prices, setup): (Vec<_>, Vec<_>) = cmds
                .into_iter()
                .partition(|c| matches!(c, Command::OraclePrice { .. }));
            cmds = setup.into_iter().chain(genesis).chain(prices).collect();
            orders = snap.order_commands(first);
        }
        // Every further source reports the first price too (the set-up's `OraclePrice` is
        // source 0's), so the guard sees them all from the first tick.
        for (m, info) in self.markets.iter().zip(&infos) {
            let price = info.initial_price;
            for (k, spec) in self.scenario.oracle.sources.iter().enumerate().skip(1) {
                cmds.push(Command::OracleSource {
                    market: m.id,
                    source: k as u8,
                    price,
                    confidence: confidence_of(price, spec.confidence_bp),
                    published_ms: self.start_ms,
                });
            }
        }
        for cmd in cmds {
            self.exec(Origin::Venue, &cmd)
                .map_err(|r| format!("setting up the venue: {} rejected: {r}", cmd.name()))?;
        }
        for m in &self.markets {
            // The engine numbers markets in creation order; the lab relies on it.
            let created = self
                .venue
                .engine
                .market(m.id)
                .map(|e| e.params.symbol.as_str());
            assert_eq!(created, Some(m.symbol.as_str()), "market {} id", m.symbol);
        }
        Ok(orders)
    }

    /// The snapshot's resting orders (post-only); one the engine refuses names its line. The
    /// loaded venue must then pass every invariant before the first step.
    fn rest_snapshot_orders(&mut self, orders: Vec<(usize, Command)>) -> Result<(), String> {
        if self.scenario.snapshot.is_none() {
            return Ok(());
        }
        for (line, cmd) in orders {
            self.exec(Origin::Venue, &cmd).map_err(|r| {
                format!("snapshot orders.csv line {line}: the venue refused it: {r}")
            })?;
        }
        self.venue
            .engine
            .check_invariants()
            .map_err(|b| format!("the snapshot's venue breaks an invariant: {b}"))
    }

    /// Every agent's first deposit, in agent order (an LP's goes on into the vault). A refused
    /// deposit stops the run: an agent without its account would only have every order
    /// rejected, which reads as nonsense.
    fn open_accounts(&mut self) -> Result<(), String> {
        for i in 0..self.roster.len() as u32 {
            if !self.roster.opens_account(i) {
                if let Agent::Trader(t) = self.roster.agent_mut(i) {
                    t.start_at(self.start_ms);
                }
                continue; // A second leg: its first-market partner opened the account.
            }
            let (deposit, vault) = match self.roster.agent_mut(i) {
                Agent::Trader(t) => {
                    t.start_at(self.start_ms);
                    (t.initial_deposit(), None)
                }
                Agent::Lp(l) => (l.initial_deposit(), Some(l.vault_deposit())),
                Agent::Manipulator(m) => {
                    // Its push is the `pushed` source's failure (validation requires one).
                    let (start_s, duration_s) =
                        crate::scenario::validate::manipulator_push(&self.scenario)
                            .unwrap_or((0, 0));
                    let start = self.start_ms + start_s * 1000;
                    m.push_ms = (start, start + duration_s * 1000);
                    (m.initial_deposit(), None)
                }
                agent => (agent.initial_deposit(), None),
            };
            let mut result = self.exec(Origin::Venue, &deposit);
            if let (Ok(()), Some(vault)) = (&result, vault) {
                result = self.exec(Origin::Venue, &vault);
            }
            if let Err(r) = result {
                let agent = self.roster.agent(i);
                let amount = match deposit {
                    Command::Deposit { amount_usd, .. } => amount_usd.to_string(),
                    _ => "?".into(),
                };
                return Err(format!(
                    "setting up the agents: {} {i} (account {}) could not deposit {amount} \
                     USD: {r}; check `agents.{}.{}` and the agent counts",
                    agent.kind(),
                    agent.account().0,
                    agent.section(),
                    agent.capital_field(),
                ));
            }
        }
        Ok(())
    }

    fn schedule_environment(&mut self) {
        let t0 = self.start_ms;
        let s = &self.scenario;
        let (step, block, poll) = (s.step_ms, s.chain.block_ms, s.oracle.poll_ms.max(1));
        self.queue.push(t0 + step, Ev::Step);
        self.queue.push(t0 + block, Ev::Block);
        self.queue.push(t0 + poll, Ev::OraclePoll);
        for i in 0..self.roster.len() as u32 {
            let at = match self.roster.agent(i) {
                Agent::Trader(t) => Some(t.next_entry_ms),
                // Makers first so the book has quotes, staggered by a millisecond each.
                Agent::MarketMaker(_) => Some(t0 + u64::from(i % 1000)),
                Agent::Arbitrageur(_) => Some(t0 + 1_000 + u64::from(i % 1000)),
                Agent::Keeper(_) => None,
                // LPs look at the vault on their own cadence; holders never wake.
                Agent::Lp(l) => l.watches().then(|| t0 + l.poll_ms() + u64::from(i % 1000)),
                Agent::Manipulator(m) => Some(m.first_wake_ms().max(t0)),
            };
            if let Some(at) = at {
                self.schedule(i, at);
            }
        }
        self.metrics.observed.start(&self.venue.engine);
    }

    /// From now on, builds only what the summary reads: no `timeseries.csv` samples and no
    /// `events.csv` rows (a sweep keeps one row of summary figures per run). Nothing the
    /// simulation does depends on them, so the summary is the same.
    pub fn keep_summary_only(&mut self) {
        self.summary_only = true;
        self.metrics.skip_rows = true;
    }

    fn schedule(&mut self, agent: u32, at: u64) {
        self.roster
            .schedule(&mut self.queue, self.now_ms, agent, at);
    }

    /// Runs to the end. `progress` is called about a hundred times.
    pub fn run(&mut self, progress: &mut dyn FnMut(Progress)) {
        let total = self.end_ms - self.start_ms;
        let every = (total / 100).max(1);
        let mut next_report = self.start_ms;
        while let Some((t, ev)) = self.queue.pop() {
            if t > self.end_ms {
                break;
            }
            self.now_ms = t;
            match ev {
                Ev::Step => self.on_step(),
                Ev::Block => self.on_block(),
                Ev::OraclePoll => self.on_oracle_poll(),
                Ev::Wake { agent, gen } => self.on_wake(agent, gen),
            }
            if t >= next_report {
                progress(Progress {
                    sim_done_ms: t - self.start_ms,
                    sim_total_ms: total,
                });
                next_report = t + every;
            }
        }
        self.now_ms = self.end_ms;
        self.finish();
        progress(Progress {
            sim_done_ms: total,
            sim_total_ms: total,
        });
    }

    /// The scenario the run follows (after overrides).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The first market's outside price now.
    fn outside(&self) -> f64 {
        self.outside_of(0)
    }

    /// Market `i`'s outside price now.
    fn outside_of(&self, i: usize) -> f64 {
        self.markets[i].path.price_at(self.now_ms)
    }

    fn since_start_ms(&self) -> u64 {
        self.now_ms - self.start_ms
    }

    /// Applies a command on behalf of `origin` at the current time: the metrics read its
    /// events (or count its rejection), the agents it concerns are told, price triggers the
    /// mark crossed fire.
    /// Applies a command whose refusal is an outcome of the simulation, not a failure of the
    /// run (a trader short of margin, a tick in a halted market): `exec` has counted it in the
    /// metrics and listed it in `events.csv`, and the caller carries on.
    fn exec_counted(&mut self, origin: Origin, cmd: &Command) {
        if let Err(refused) = self.exec(origin, cmd) {
            debug_assert!(!matches!(refused, Reject::Internal { .. }), "{refused}");
        }
    }

    /// Commands go by reference: the largest is a few hundred bytes, and a run applies
    /// about a million.
    fn exec(&mut self, origin: Origin, cmd: &Command) -> Result<(), Reject> {
        if self.outside_at_ms != Some(self.now_ms) {
            for (slot, m) in self.outside_now.iter_mut().zip(&self.markets) {
                *slot = m.path.price_at(self.now_ms);
            }
            self.outside_at_ms = Some(self.now_ms);
        }
        let result = self.venue.apply(cmd, self.now_ms);
        if let Command::Requote(r) = cmd {
            self.after_requote(origin, r, result.as_ref().err());
            return result;
        }
        if let Command::PlaceOrder(order) = cmd {
            let refused = result.as_ref().err();
            let engine = &self.venue.engine;
            let notional = self.metrics.efficiency.on_order(order, engine, refused);
            if let Some(r) = refused {
                self.metrics.defences.on_refused(order.market, notional, r);
            }
        }
        match &result {
            Ok(()) => {
                let events = self.venue.events();
                if let Some(c) = &mut self.controller {
                    c.on_events(self.now_ms, events);
                }
                self.metrics
                    .on_events(self.now_ms, events, &self.venue.engine, &self.outside_now);
                self.roster.notices(events, &mut self.notices);
            }
            Err(r) => {
                let account = cmd.account();
                self.metrics
                    .reject(self.now_ms, origin.name(), cmd.name(), account, r)
            }
        }
        self.after_command();
        result
    }

    /// A requote's bookkeeping, part by part exactly as `exec` does it for each of the
    /// commands it stands for (its cancel, then each order; `Engine::last_parts`): the metrics
    /// read each part's events or count its refusal under the command's own name, the agents
    /// a part concerns are told, and the periodic invariant check comes due at the same count
    /// of applied commands. What the metrics read of the engine beside the events (a market's
    /// mark and lot size for an order's notional) no part of a requote changes: it has no
    /// price input, so the engine after it shows what it showed after each part. (The events
    /// whose readers look further into the engine, a liquidation's start, a halt, a vault
    /// withdrawal request, come only from price inputs, liquidations and vault commands:
    /// `reads_mid_requote` checks it in debug builds.)
    ///
    /// Most requotes only cancel and rest orders: no event any reader counts, nobody to tell
    /// (`quiet`). Then each part only has its order's notional counted (and its refusal, if
    /// refused) and the invariant check's count advanced; the marks and notices that `exec`
    /// looks at after every command are looked at once, after the last part, as nothing in
    /// between could have changed them.
    fn after_requote(&mut self, origin: Origin, r: &Requote, refused_whole: Option<&Reject>) {
        let now = self.now_ms;
        let who = origin.name();
        let account = Some(r.account);
        if let Some(refused) = refused_whole {
            // Refused before anything changed (the market, the account, the time): each of
            // its commands would have been refused alike.
            self.metrics
                .reject(now, who, "cancel_all", account, refused);
            self.after_command();
            for q in &r.orders {
                let order = q.place(r.account, r.market);
                let engine = &self.venue.engine;
                let notional = self
                    .metrics
                    .efficiency
                    .on_order(&order, engine, Some(refused));
                self.metrics
                    .defences
                    .on_refused(order.market, notional, refused);
                self.metrics
                    .reject(now, who, "place_order", account, refused);
                self.after_command();
            }
            return;
        }
        let events = self.venue.events();
        debug_assert!(!events.iter().any(reads_mid_requote));
        let quiet = self.controller.is_none()
            && !self.metrics.reads_any(events)
            && !events.iter().any(Roster::hears);
        let parts = self.venue.engine.last_parts();
        debug_assert_eq!(parts.len(), 1 + r.orders.len());
        let applied_parts = parts.iter().filter(|p| p.refused.is_none()).count() as u64;
        let mut applied = self.venue.engine.commands_applied() - applied_parts;
        let mut start = 0;
        for i in 0..parts.len() {
            let engine = &self.venue.engine;
            let part = &engine.last_parts()[i];
            if let Some(q) = i.checked_sub(1).map(|k| &r.orders[k]) {
                let order = q.place(r.account, r.market);
                let refused = part.refused.as_ref();
                let notional = self.metrics.efficiency.on_order(&order, engine, refused);
                if let Some(refused) = refused {
                    self.metrics
                        .defences
                        .on_refused(order.market, notional, refused);
                }
            }
            match &part.refused {
                None => {
                    applied += 1;
                    if !quiet {
                        let events = &engine.last_events()[start..part.events_end];
                        if let Some(c) = &mut self.controller {
                            c.on_events(now, events);
                        }
                        self.metrics
                            .on_events(now, events, engine, &self.outside_now);
                        self.roster.notices(events, &mut self.notices);
                    }
                }
                Some(refused) => {
                    debug_assert!(!matches!(refused, Reject::Internal { .. }), "{refused}");
                    let name = if i == 0 { "cancel_all" } else { "place_order" };
                    self.metrics.reject(now, who, name, account, refused);
                }
            }
            start = part.events_end;
            if quiet {
                if self.venue.check_due(applied) {
                    self.check_invariants_at(applied);
                }
            } else {
                self.after_command_at(applied);
            }
        }
        if quiet {
            self.marks_and_notices();
        }
    }

    fn after_command(&mut self) {
        let applied = self.venue.engine.commands_applied();
        self.after_command_at(applied);
    }

    /// After a command (or a part of a requote), `applied` being the engine's count of applied
    /// commands then.
    fn after_command_at(&mut self, applied: u64) {
        if self.venue.check_due(applied) {
            self.check_invariants_at(applied);
        }
        self.marks_and_notices();
    }

    /// The triggers a moved mark crosses fire, then the agents the last command concerns are
    /// told.
    fn marks_and_notices(&mut self) {
        for (i, m) in self.markets.iter_mut().enumerate() {
            if let Some(mark) = m.mark_moved(&self.venue.engine) {
                self.roster
                    .fire_triggers(&mut self.queue, self.now_ms, i, mark);
            }
        }
        let mut notices = std::mem::take(&mut self.notices);
        for &notice in &notices {
            self.roster.notify(&mut self.queue, self.now_ms, notice);
        }
        notices.clear();
        self.notices = notices;
    }

    /// The driver's volatility estimate, for the markets whose dynamic margin, adaptive fee
    /// or volatility-scaled proactive breaker reads it: every step folds the mark in, every
    /// `volatility.every_s` it is sent.
    fn feed_volatility(&mut self) {
        let wanted = |m: &bulwark_engine::Market| {
            let d = &m.params.defences;
            d.dynamic_margin.enabled
                || d.adaptive_fee.enabled
                || (d.proactive.enabled && d.proactive.z.raw() > 0)
        };
        // The controller reads the first market's estimate, sent or not.
        let controlled = self.controller.is_some();
        let every_ms = self.scenario.volatility.every_s * 1000;
        let send = self.since_start_ms() % every_ms < self.scenario.step_ms;
        for i in 0..self.markets.len() {
            let engine = &self.venue.engine;
            let m = &mut self.markets[i];
            let sent = engine.market(m.id).is_some_and(wanted);
            let read = sent || (controlled && i == 0);
            if !read {
                continue;
            }
            let mark = m.mark(engine);
            m.vol.observe(self.now_ms, mark, &self.scenario.volatility);
            if let Some(c) = self.controller.as_mut().filter(|_| i == 0) {
                c.observe_mark(self.now_ms, mark);
            }
            if send && sent {
                let (short, long) = m.vol.sigma_1h_ppm();
                let cmd = Command::Volatility {
                    market: m.id,
                    short: bulwark_engine::Ppm::from_raw(short),
                    long: bulwark_engine::Ppm::from_raw(long),
                };
                self.exec_counted(Origin::Venue, &cmd);
            }
        }
    }

    /// The controller's turn, when due: forecast from the live engine, and send its actions
    /// as ordinary parameter commands.
    fn run_controller(&mut self) {
        let Some(c) = &mut self.controller else {
            return;
        };
        if !c.due(self.now_ms) {
            return;
        }
        let sigma_1h = self.markets[0].vol.sigma_1h_ppm().0 as f64 / 1e6;
        let actions = c.step(&self.venue.engine, self.now_ms, sigma_1h);
        for cmd in &actions {
            if let Err(r) = self.exec(Origin::Controller, cmd) {
                if let Some(c) = &mut self.controller {
                    c.refused(self.now_ms, r.to_string());
                }
            }
        }
    }

    fn check_invariants(&mut self) {
        let applied = self.venue.engine.commands_applied();
        self.check_invariants_at(applied);
    }

    fn check_invariants_at(&mut self, applied: u64) {
        let t_ms = self.since_start_ms();
        self.venue
            .check_invariants(t_ms, self.metrics.losses.mismatch(), applied);
    }

    fn on_step(&mut self) {
        let step = self.scenario.step_ms;
        self.queue.push(self.now_ms + step, Ev::Step);
        self.exec_counted(Origin::Venue, &Command::Tick);
        self.feed_volatility();
        self.run_controller();
        let outside = self.outside();
        for i in 1..self.markets.len() {
            let outside_i = self.outside_of(i);
            self.markets[i].on_step(&self.venue.engine, outside_i);
        }
        let mark = self.markets[0].on_step(&self.venue.engine, outside);
        let observed = &mut self.metrics.observed;
        observed.on_step(mark, outside);
        observed
            .oracle
            .on_step(self.markets[0].oracle.lag_ms(self.now_ms));
        let sample_ms = self.scenario.metrics.sample_every_s * 1000;
        if self.since_start_ms() % sample_ms < step {
            self.take_sample();
        }
        if self.since_start_ms() % (MARGIN_SAMPLE_EVERY_S * 1000) < step {
            self.metrics.efficiency.sample_margin(&self.venue.engine);
        }
    }

    fn halted(&self, t_ms: u64) -> bool {
        self.scenario.chain.halt.is_some_and(|h| {
            let from = self.start_ms + h.start_s * 1000;
            t_ms >= from && t_ms < from + h.duration_s * 1000
        })
    }

    fn on_block(&mut self) {
        let block_ms = self.scenario.chain.block_ms;
        self.queue.push(self.now_ms + block_ms, Ev::Block);
        if self.halted(self.now_ms) {
            let stats = &mut self.metrics.observed.chain;
            stats.halted_ms += block_ms;
            stats.blocks_skipped += 1;
            if self.scenario.chain.orders_on_chain {
                self.metrics.efficiency.halted_ms += block_ms;
            }
            return;
        }
        self.expire_stuck_txs();
        let included = self.chain.produce_block(self.now_ms);
        for inc in included {
            let delay = self.now_ms - inc.tx.submitted_ms;
            let stats = &mut self.metrics.observed.chain;
            match inc.tx.payload {
                Payload::Oracle {
                    market,
                    source,
                    price,
                    confidence,
                    observed_ms,
                    published_ms,
                } => {
                    stats.oracle_delay_max_ms = stats.oracle_delay_max_ms.max(delay);
                    let report = LandedReport {
                        source,
                        price,
                        confidence,
                        observed_ms,
                        published_ms,
                    };
                    self.land_oracle(market, report);
                }
                Payload::Liquidation(tx) => {
                    stats.keeper_txs += 1;
                    stats.keeper_delay_sum_ms += u128::from(delay);
                    stats.keeper_delay_max_ms = stats.keeper_delay_max_ms.max(delay);
                    self.land_liquidation(tx, inc.price_gwei);
                }
                Payload::Order { agent, command } => {
                    let origin = Origin::Agent(self.roster.agent(agent).kind());
                    self.exec_counted(origin, &command);
                }
            }
        }
    }

    /// Stuck transactions are dropped; their senders learn of it and may send again.
    fn expire_stuck_txs(&mut self) {
        // Never shorter than three blocks: a transaction must get a chance to be included.
        let ttl_ms = (self.scenario.chain.tx_ttl_s * 1000).max(3 * self.scenario.chain.block_ms);
        for tx in self.chain.expire(self.now_ms, ttl_ms) {
            self.metrics.observed.chain.txs_expired += 1;
            match tx.payload {
                Payload::Oracle {
                    market,
                    source: None,
                    ..
                } => self.markets[market].oracle.arrived(),
                Payload::Oracle {
                    market,
                    source: Some(k),
                    ..
                } => self.markets[market].sources.feeds[k as usize].arrived(),
                Payload::Liquidation(l) => {
                    let (agent, keeper) = self.roster.keeper_mut(l.keeper_index);
                    if let Some(k) = keeper {
                        k.in_flight.remove(&(l.account, l.scope));
                    }
                    self.schedule(agent, self.now_ms);
                }
                Payload::Order { .. } => {}
            }
        }
    }

    fn land_oracle(&mut self, i: usize, r: LandedReport) {
        let market = self.markets[i].id;
        let cmd = match r.source {
            None => {
                self.markets[i].oracle.arrived();
                Command::OraclePrice {
                    market,
                    price: r.price,
                }
            }
            Some(k) => {
                self.markets[i].sources.feeds[k as usize].arrived();
                Command::OracleSource {
                    market,
                    source: k,
                    price: r.price,
                    confidence: r.confidence,
                    published_ms: r.published_ms,
                }
            }
        };
        if self.exec(Origin::Oracle, &cmd).is_ok() {
            if i == 0 {
                self.metrics.observed.oracle.updates += 1;
            }
            let m = &mut self.markets[i];
            m.watch.oracle_updates += 1;
            // The lag figures: the age of the freshest true observation on the venue.
            if r.observed_ms + m.oracle.lag_ms(self.now_ms) >= self.now_ms {
                m.oracle.accepted(r.observed_ms);
            }
        }
    }

    fn land_liquidation(&mut self, tx: LiquidationTx, price_gwei: f64) {
        #[cfg(debug_assertions)]
        let (expected, before) = (
            self.keeper_verdict(&tx),
            self.metrics.liquidations.records.len(),
        );
        let cmd = Command::Liquidate {
            keeper: tx.keeper,
            account: tx.account,
            scope: tx.scope,
        };
        let ok = self.exec(Origin::Keeper, &cmd).is_ok();
        #[cfg(debug_assertions)]
        if let (Some(started), Some(expected)) =
            (self.metrics.liquidations.records.get(before), expected)
        {
            // Pair assertion: the verdict read from the liquidation's events is the engine's
            // own counterfactual health, asked before the command.
            debug_assert_eq!(
                started.endogenous, expected,
                "cascade verdict of account {} at t = {} ms",
                tx.account.0, self.now_ms
            );
        }
        let gas_usd = tx.gas as f64 * price_gwei * 1e-9 * self.chain.params.eth_usd;
        if let (_, Some(k)) = self.roster.keeper_mut(tx.keeper_index) {
            k.on_landed(&tx, gas_usd, ok);
        }
    }

    /// Would the pool a keeper targets stay at or above maintenance with the mark at the
    /// outside price? (`Engine::health_with_mark`, for the pair assertion above.) The engine
    /// moves one market's mark at a time, so a pool with positions in several markets has
    /// no such query: `None`, and the assertion is skipped.
    #[cfg(debug_assertions)]
    fn keeper_verdict(&self, tx: &LiquidationTx) -> Option<bool> {
        let engine = &self.venue.engine;
        let held: Vec<usize> = (0..self.markets.len())
            .filter(|&i| {
                engine
                    .account(tx.account)
                    .and_then(|a| a.position(self.markets[i].id))
                    .is_some_and(|p| !p.qty.is_zero())
            })
            .collect();
        let i = match held.as_slice() {
            [] => 0,
            [i] => *i,
            _ => return None,
        };
        let outside =
            Price::from_f64(self.outside_of(i), bulwark_core::Round::Floor).unwrap_or(Price::ZERO);
        Some(
            engine
                .health_with_mark(tx.account, tx.scope, self.markets[i].id, outside)
                .map(|h| !h.below_maintenance())
                .unwrap_or(false),
        )
    }

    fn on_oracle_poll(&mut self) {
        let o = &self.scenario.oracle;
        self.queue
            .push(self.now_ms + o.poll_ms.max(1), Ev::OraclePoll);
        for i in 0..self.markets.len() {
            if self.scenario.oracle.sources.is_empty() {
                self.poll_oracle(i);
            } else {
                self.poll_sources(i);
            }
        }
    }

    /// Market `i`'s `[[oracle.sources]]`: each posts what it sees (or what its failure makes
    /// it say), through the chain or directly.
    fn poll_sources(&mut self, i: usize) {
        for k in 0..self.scenario.oracle.sources.len() {
            let spec = &self.scenario.oracle.sources[k];
            let m = &mut self.markets[i];
            let Some(r) = m
                .sources
                .report(k, spec, &m.path, self.start_ms, self.now_ms)
            else {
                continue;
            };
            let Some(price) = setup::tick_price(r.price, m.tick_size) else {
                continue;
            };
            let on_chain = spec.on_chain;
            m.sources.feeds[k].posted(self.now_ms, r.price, on_chain);
            let report = LandedReport {
                source: Some(k as u8),
                price,
                confidence: confidence_of(price, r.confidence_bp),
                observed_ms: r.observed_ms,
                published_ms: r.published_ms,
            };
            if on_chain {
                let o = &self.scenario.oracle;
                let bid = (self.chain.going_gwei * o.bid_multiplier).min(o.max_gas_gwei);
                let payload = Payload::Oracle {
                    market: i,
                    source: report.source,
                    price,
                    confidence: report.confidence,
                    observed_ms: report.observed_ms,
                    published_ms: report.published_ms,
                };
                self.chain
                    .submit(self.now_ms, bid, o.gas_per_update, payload);
            } else {
                self.land_oracle(i, report);
            }
        }
    }

    /// Market `i`'s feed: posts the outside price if it moved enough or the heartbeat is due.
    fn poll_oracle(&mut self, i: usize) {
        let o = &self.scenario.oracle;
        let p = self.outside_of(i);
        let m = &mut self.markets[i];
        if !m.oracle.due(self.now_ms, p, o) {
            return;
        }
        let Some(price) = setup::tick_price(p, m.tick_size) else {
            return;
        };
        let on_chain = self.scenario.chain.oracle_on_chain;
        m.oracle.posted(self.now_ms, p, on_chain);
        if on_chain {
            let bid = (self.chain.going_gwei * o.bid_multiplier).min(o.max_gas_gwei);
            let payload = Payload::Oracle {
                market: i,
                source: None,
                price,
                confidence: Price::ZERO,
                observed_ms: self.now_ms,
                published_ms: self.now_ms,
            };
            self.chain
                .submit(self.now_ms, bid, o.gas_per_update, payload);
        } else {
            let report = LandedReport {
                source: None,
                price,
                confidence: Price::ZERO,
                observed_ms: self.now_ms,
                published_ms: self.now_ms,
            };
            self.land_oracle(i, report);
        }
    }

    fn on_wake(&mut self, agent: u32, gen: u32) {
        let mut out = std::mem::take(&mut self.actions);
        let Some(slot) = self.roster.take_wake(agent, gen) else {
            self.actions = out;
            return; // Superseded by an earlier wake-up.
        };
        let market = &self.markets[slot.market];
        let mut ctx = Ctx {
            now_ms: self.now_ms,
            venue: Venue::new(&self.venue.engine, market.id),
            outside_price: market.path.price_at(self.now_ms),
            mark_history: &market.marks,
            going_gas_gwei: self.chain.going_gwei,
            eth_usd: self.chain.params.eth_usd,
            out: &mut out,
        };
        match &mut slot.agent {
            Agent::Trader(t) => t.on_wake(&mut ctx, &mut slot.rng),
            Agent::MarketMaker(m) => m.on_wake(&mut ctx, &mut slot.rng),
            Agent::Arbitrageur(a) => a.on_wake(&mut ctx),
            Agent::Keeper(k) => k.on_wake(&mut ctx),
            Agent::Lp(l) => l.on_wake(&mut ctx),
            Agent::Manipulator(m) => m.on_wake(&mut ctx),
        }
        self.apply_actions(agent, &out);
        out.clear();
        self.actions = out;
    }

    /// Carries out an agent's actions, read in place (the caller clears them).
    fn apply_actions(&mut self, agent: u32, out: &[Action]) {
        let mut triggers_reset = false;
        for action in out {
            match *action {
                Action::Send(ref cmd) => self.send(agent, cmd),
                Action::Liquidate(ref tx) => self.send_liquidation(tx.clone()),
                Action::WakeAt(t) => self.schedule(agent, t),
                Action::TriggerBelow(p) | Action::TriggerAbove(p) => {
                    if !triggers_reset {
                        self.roster.reset_triggers(agent);
                        triggers_reset = true;
                    }
                    let below = matches!(action, Action::TriggerBelow(_));
                    self.roster.add_trigger(agent, p, below);
                }
                Action::Note(what) => {
                    let account = self.roster.agent(agent).account();
                    self.metrics.note(self.now_ms, what, Some(account));
                }
            }
        }
    }

    fn send(&mut self, agent: u32, cmd: &Command) {
        if self.scenario.chain.orders_on_chain {
            let bid = self.chain.going_gwei * 1.2;
            let mut submit = |command| {
                let payload = Payload::Order { agent, command };
                self.chain.submit(self.now_ms, bid, GAS_PER_ORDER, payload);
            };
            // On chain each order is a transaction of its own: a requote goes as the commands
            // it stands for, each bidding and included (or not) on its own.
            match cmd {
                Command::Requote(r) => r.commands().for_each(submit),
                _ => submit(cmd.clone()),
            }
        } else {
            let origin = Origin::Agent(self.roster.agent(agent).kind());
            self.exec_counted(origin, cmd);
        }
    }

    fn send_liquidation(&mut self, tx: LiquidationTx) {
        if self.scenario.chain.liquidations_on_chain {
            let (bid, gas) = (tx.bid_gwei, tx.gas);
            self.chain
                .submit(self.now_ms, bid, gas, Payload::Liquidation(tx));
        } else {
            let price = self.chain.going_gwei;
            self.land_liquidation(tx, price);
        }
    }

    fn take_sample(&mut self) {
        let t_s = self.since_start_ms() as f64 / 1000.0;
        self.metrics.observed.record_funds(&self.venue.engine, t_s);
        if self.summary_only {
            return;
        }
        let mms_quoting = self
            .roster
            .agents()
            .filter(|a| matches!(a, Agent::MarketMaker(m) if m.is_quoting()))
            .count();
        let row = sampling::take(&SampleInputs {
            t_s,
            engine: &self.venue.engine,
            market: self.markets[0].id,
            metrics: &self.metrics,
            outside_price: self.outside(),
            mms_quoting,
            gas_gwei: self.chain.going_gwei,
            mempool_txs: self.chain.mempool_len(),
            oracle_lag_s: self.oracle_lag_now_s(),
        });
        self.samples.rows.push(row);
    }

    fn finish(&mut self) {
        self.check_invariants();
        let t_s = self.since_start_ms() as f64 / 1000.0;
        self.metrics.observed.finish(&self.venue.engine, t_s);
        for agent in self.roster.agents_mut() {
            if let Agent::MarketMaker(m) = agent {
                m.finish(self.end_ms);
            }
        }
    }

    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.roster.agents()
    }

    pub fn oracle_lag_now_s(&self) -> f64 {
        self.markets[0].oracle.lag_ms(self.now_ms) as f64 / 1000.0
    }

    /// The first market's outside path.
    pub fn path(&self) -> &PricePath {
        &self.markets[0].path
    }

    /// The first market's public mark feed.
    pub fn marks(&self) -> &MarkHistory {
        &self.markets[0].marks
    }
}

/// Whether the metrics read more of the engine for this event than a requote leaves as each of
/// its parts left it (see `Sim::after_requote`).
fn reads_mid_requote(ev: &Event) -> bool {
    matches!(
        ev,
        Event::LiquidationStarted { .. }
            | Event::HaltStarted { .. }
            | Event::MarkPrice { .. }
            | Event::VaultWithdrawalRequested { .. }
    )
}
