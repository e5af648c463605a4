//! The run loop: a discrete-event simulation of one scenario against the real engine.
//!
//! One queue of timed events (engine steps, blocks, oracle polls, agent wake-ups), ordered by
//! (time, sequence number): two events at the same millisecond run in the order they were
//! scheduled, and scheduling is itself deterministic, so ties never depend on luck. The
//! engine's clock is the event time. Idle agents cost nothing: an agent runs only when its
//! timer expires, a price trigger it set is crossed, one of its orders fills, or (keepers) an
//! account is flagged below maintenance.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use bulwark_core::Round;
use bulwark_engine::{
    AccountId, Command, Engine, Event, MarketId, Price, Reject, TimestampMs, VenueParam,
};
use rand_chacha::ChaCha8Rng;

use crate::agents::arbitrageur::Arbitrageur;
use crate::agents::keeper::Keeper;
use crate::agents::market_maker::MarketMaker;
use crate::agents::trader::Trader;
use crate::agents::{agent_rng, stream_rng, Action, Ctx, LiquidationTx, CHAIN_STREAM};
use crate::chain::Chain;
use crate::metrics::Metrics;
use crate::path::PricePath;
use crate::scenario::{LoadedScenario, Scenario};
use crate::venue::Venue;

/// Account that funds the insurance fund at the start.
pub const TREASURY: AccountId = AccountId(0);
/// Account of the liquidity providers who seed the backstop vault.
pub const LP: AccountId = AccountId(1);
/// Agent `i` trades from account `FIRST_AGENT_ACCOUNT + i`.
pub const FIRST_AGENT_ACCOUNT: u32 = 2;

/// Gas an on-chain order uses, when the book is on-chain.
const GAS_PER_ORDER: u64 = 150_000;
/// How long a trader takes to react to a fill or a crossed trigger, ms.
const TRADER_REACTION_MS: u64 = 500;

/// The venue's public mark feed, one value per engine step.
#[derive(Clone, Debug, Default)]
pub struct MarkHistory {
    pub start_ms: u64,
    pub step_ms: u64,
    pub marks: Vec<f64>,
}

impl MarkHistory {
    /// The mark at or before `t_ms`, if the feed reaches back that far.
    pub fn at(&self, t_ms: u64) -> Option<f64> {
        if t_ms < self.start_ms || self.marks.is_empty() {
            return None;
        }
        let i = ((t_ms - self.start_ms) / self.step_ms.max(1)) as usize;
        self.marks.get(i.min(self.marks.len() - 1)).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Step,
    Block,
    OraclePoll,
    Wake { agent: u32, gen: u32 },
}

/// What a chain transaction carries.
#[derive(Clone, Debug)]
pub enum Payload {
    Oracle { price: Price, observed_ms: u64 },
    Liquidation(LiquidationTx),
    Order { agent: u32, command: Command },
}

#[derive(Clone, Debug)]
pub enum Agent {
    Trader(Trader),
    MarketMaker(MarketMaker),
    Arbitrageur(Arbitrageur),
    Keeper(Keeper),
}

#[derive(Clone, Debug)]
struct Slot {
    agent: Agent,
    rng: ChaCha8Rng,
    gen: u32,
    next_wake_ms: u64,
    trigger_gen: u32,
}

/// Price triggers: agents asking to be woken when the mark crosses a level.
#[derive(Default, Debug)]
struct Triggers {
    below: BTreeMap<(i64, u64), (u32, u32)>,
    above: BTreeMap<(i64, u64), (u32, u32)>,
    seq: u64,
}

/// Progress of a run, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub sim_done_ms: u64,
    pub sim_total_ms: u64,
}

/// A snapshot of the venue every `sample_every_s`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub t_s: f64,
    pub values: Vec<f64>,
}

/// Oracle feed state.
#[derive(Clone, Debug, Default)]
struct OracleFeed {
    last_posted: f64,
    last_post_ms: u64,
    pending: bool,
    /// When the price now on the venue was observed outside.
    on_venue_observed_ms: u64,
    updates: u64,
    lag_max_ms: u64,
    lag_sum_ms: u128,
    lag_n: u64,
}

/// Chain-side statistics.
#[derive(Clone, Debug, Default)]
pub struct ChainStats {
    pub keeper_txs: u64,
    pub keeper_delay_sum_ms: u128,
    pub keeper_delay_max_ms: u64,
    pub oracle_delay_max_ms: u64,
    pub halted_ms: u64,
    pub blocks_skipped: u64,
    pub txs_expired: u64,
}

/// The whole simulation state.
pub struct Sim {
    pub scenario: Scenario,
    pub engine: Engine,
    pub market: MarketId,
    pub path: PricePath,
    pub start_ms: u64,
    pub end_ms: u64,
    now_ms: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    slots: Vec<Slot>,
    account_agent: Vec<Option<u32>>,
    keepers: Vec<u32>,
    triggers: Triggers,
    pub chain: Chain<Payload>,
    pub chain_stats: ChainStats,
    oracle: OracleFeed,
    pub marks: MarkHistory,
    pub metrics: Metrics,
    pub samples: Vec<Sample>,
    pub sample_columns: Vec<(&'static str, &'static str)>,
    /// EWMA of the outside price's squared per-second log return (drives chain congestion).
    outside_var_per_s: f64,
    last_outside: f64,
    last_mark: Price,
    actions: Vec<Action>,
    events: Vec<Event>,
    notify: Vec<(u32, u64)>,
    next_invariant_check: u64,
    pub invariant_checks: u64,
    pub invariant_breach: Option<String>,
    pub mark_dev_max_bp: f64,
    mark_dev_sum_bp: f64,
    mark_dev_n: u64,
    pub insurance_start_usd: f64,
    pub insurance_min: (f64, f64),
    pub vault_start: (f64, f64),
    pub vault_share_min: f64,
    pub negative_equity_end_usd: f64,
    pub engine_steps: u64,
    pub commands_sent: u64,
}

fn push(queue: &mut BinaryHeap<Reverse<(u64, u64, Ev)>>, seq: &mut u64, t: u64, ev: Ev) {
    queue.push(Reverse((t, *seq, ev)));
    *seq += 1;
}

impl Sim {
    /// Builds the venue and the agents and schedules the first events. `path` must start at
    /// the scenario's start (the caller builds it; see [`crate::run::build_path`]).
    pub fn new(loaded: &LoadedScenario, path: PricePath) -> Result<Sim, String> {
        let s = loaded.scenario.clone();
        let start_ms = path.start_ms;
        let span_ms = path.end_ms() - path.start_ms;
        let end_ms = start_ms + s.duration_s.map_or(span_ms, |d| d * 1000);
        let mut engine = Engine::default();
        engine.set_invariant_check_interval(s.metrics.invariant_check_every.max(1));
        let mut chain_params = s.chain.clone();
        if let Some(csv) = &s.chain.gas_csv {
            let (calm, stress) =
                crate::chain::calibrate_from_gas_csv(&loaded.resolve(csv), start_ms, end_ms)
                    .map_err(|e| format!("chain.gas_csv: {e}"))?;
            chain_params.calm_gwei = calm;
            chain_params.stress_gwei = stress.max(calm);
        }
        let chain = Chain::new(chain_params, stream_rng(s.seed, CHAIN_STREAM));
        let market = MarketId(0);
        let mut sim = Sim {
            metrics: Metrics::new(start_ms, market, s.market.lots_per_unit),
            scenario: s.clone(),
            engine,
            market,
            start_ms,
            end_ms,
            now_ms: start_ms,
            queue: BinaryHeap::new(),
            seq: 0,
            slots: Vec::new(),
            account_agent: Vec::new(),
            keepers: Vec::new(),
            triggers: Triggers::default(),
            chain,
            chain_stats: ChainStats::default(),
            oracle: OracleFeed::default(),
            marks: MarkHistory {
                start_ms,
                step_ms: s.step_ms,
                marks: Vec::new(),
            },
            samples: Vec::new(),
            sample_columns: crate::output::SAMPLE_COLUMNS.to_vec(),
            outside_var_per_s: (s.chain.calm_vol_annual.powi(2)) / (365.0 * 86_400.0),
            last_outside: path.price_at(start_ms),
            last_mark: Price::ZERO,
            actions: Vec::new(),
            events: Vec::new(),
            notify: Vec::new(),
            next_invariant_check: s.metrics.invariant_check_every.max(1),
            invariant_checks: 0,
            invariant_breach: None,
            mark_dev_max_bp: 0.0,
            mark_dev_sum_bp: 0.0,
            mark_dev_n: 0,
            insurance_start_usd: 0.0,
            insurance_min: (f64::INFINITY, 0.0),
            vault_start: (0.0, 0.0),
            vault_share_min: f64::INFINITY,
            negative_equity_end_usd: 0.0,
            engine_steps: 0,
            commands_sent: 0,
            path,
        };
        sim.setup_venue(loaded)?;
        sim.setup_agents();
        sim.schedule_environment();
        Ok(sim)
    }

    fn setup_venue(&mut self, loaded: &LoadedScenario) -> Result<(), String> {
        let s = self.scenario.clone();
        let mut params = s.market.clone();
        if !loaded.initial_price_given {
            params.initial_price = self.tick_price(self.path.prices[0], &params)?;
        }
        let first = params.initial_price;
        let setup = [
            Command::CreateMarket { params },
            Command::SetVenueParam {
                param: VenueParam::NativeLiquidation(s.venue.native_liquidation),
            },
        ];
        for cmd in setup {
            self.exec_setup(cmd)?;
        }
        let optional = [
            s.venue
                .max_liquidations_per_step
                .map(VenueParam::MaxLiquidationsPerStep),
            s.venue
                .vault_withdrawal_delay_ms
                .map(VenueParam::VaultWithdrawalDelayMs),
            s.venue
                .vault_margin_multiplier
                .map(VenueParam::VaultMarginMultiplier),
            Some(VenueParam::VaultPolicy(s.venue.vault_policy.clone())),
        ];
        for param in optional.into_iter().flatten() {
            self.exec_setup(Command::SetVenueParam { param })?;
        }
        let (ins, vault) = (s.venue.insurance_seed_usd, s.venue.vault_seed_usd);
        if ins.is_positive() {
            self.exec_setup(Command::Deposit {
                account: TREASURY,
                amount_usd: ins,
            })?;
            self.exec_setup(Command::InsuranceDeposit {
                account: TREASURY,
                amount_usd: ins,
            })?;
        }
        if vault.is_positive() {
            self.exec_setup(Command::Deposit {
                account: LP,
                amount_usd: vault,
            })?;
            self.exec_setup(Command::VaultDeposit {
                account: LP,
                amount_usd: vault,
            })?;
        }
        self.exec_setup(Command::OraclePrice {
            market: self.market,
            price: first,
        })?;
        self.oracle.last_posted = first.to_f64_lossy();
        self.oracle.last_post_ms = self.start_ms;
        self.oracle.on_venue_observed_ms = self.start_ms;
        Ok(())
    }

    fn tick_price(&self, v: f64, params: &bulwark_engine::MarketParams) -> Result<Price, String> {
        let tick = params.tick_size.micros();
        let p = Price::from_f64(v, Round::Floor)
            .ok_or_else(|| format!("price {v} is not representable"))?;
        Ok(Price::from_micros(
            (p.micros() - p.micros().rem_euclid(tick)).max(tick),
        ))
    }

    /// A setup command the engine rejects stops the run with a message naming it.
    fn exec_setup(&mut self, cmd: Command) -> Result<(), String> {
        self.exec(cmd.clone())
            .map_err(|r| format!("setting up the venue: {} rejected: {r}", cmd.name()))
    }

    fn setup_agents(&mut self) {
        let s = self.scenario.clone();
        let a = &s.agents;
        let mut id = 0u32;
        let mut add = |sim: &mut Sim, make: &mut dyn FnMut(AccountId, &mut ChaCha8Rng) -> Agent| {
            let account = AccountId(FIRST_AGENT_ACCOUNT + id);
            let mut rng = agent_rng(s.seed, id);
            let agent = make(account, &mut rng);
            sim.slots.push(Slot {
                agent,
                rng,
                gen: 0,
                next_wake_ms: u64::MAX,
                trigger_gen: 0,
            });
            let idx = account.0 as usize;
            if sim.account_agent.len() <= idx {
                sim.account_agent.resize(idx + 1, None);
            }
            sim.account_agent[idx] = Some(id);
            id += 1;
        };
        for _ in 0..a.traders.count {
            add(self, &mut |acc, rng| {
                Agent::Trader(Trader::new(acc, &a.traders, rng))
            });
        }
        for _ in 0..a.market_makers.count {
            add(self, &mut |acc, _| {
                Agent::MarketMaker(MarketMaker::new(acc, &a.market_makers))
            });
        }
        for _ in 0..a.arbitrageurs.count {
            add(self, &mut |acc, _| {
                Agent::Arbitrageur(Arbitrageur::new(acc, &a.arbitrageurs))
            });
        }
        for k in 0..a.keepers.count {
            add(self, &mut |acc, rng| {
                Agent::Keeper(Keeper::new(k, acc, &a.keepers, rng))
            });
        }
        for i in 0..self.slots.len() {
            let deposit = match &mut self.slots[i].agent {
                Agent::Trader(t) => {
                    t.start_at(self.start_ms);
                    t.initial_deposit()
                }
                Agent::MarketMaker(m) => m.initial_deposit(),
                Agent::Arbitrageur(x) => x.initial_deposit(),
                Agent::Keeper(k) => {
                    self.keepers.push(i as u32);
                    k.initial_deposit()
                }
            };
            // A rejected deposit (zero amount) leaves the agent without an account; it will
            // simply have its orders rejected, which the summary counts.
            let _ = self.exec(deposit);
        }
    }

    fn schedule_environment(&mut self) {
        let t0 = self.start_ms;
        let s = &self.scenario;
        let (step, block, poll) = (s.step_ms, s.chain.block_ms, s.oracle.poll_ms.max(1));
        push(&mut self.queue, &mut self.seq, t0 + step, Ev::Step);
        push(&mut self.queue, &mut self.seq, t0 + block, Ev::Block);
        push(&mut self.queue, &mut self.seq, t0 + poll, Ev::OraclePoll);
        for i in 0..self.slots.len() as u32 {
            let at = match &self.slots[i as usize].agent {
                Agent::Trader(t) => Some(t.next_entry_ms),
                // Makers first so the book has quotes, staggered by a millisecond each.
                Agent::MarketMaker(_) => Some(t0 + u64::from(i % 1000)),
                Agent::Arbitrageur(_) => Some(t0 + 1_000 + u64::from(i % 1000)),
                Agent::Keeper(_) => None,
            };
            if let Some(at) = at {
                self.schedule(i, at);
            }
        }
        self.record_funds();
        self.insurance_start_usd = crate::venue_state::insurance_fund_usd(&self.engine);
        self.vault_start = crate::venue_state::vault(&self.engine);
    }

    /// Wake `agent` at `at` unless it is already due earlier.
    fn schedule(&mut self, agent: u32, at: u64) {
        let slot = &mut self.slots[agent as usize];
        let at = at.max(self.now_ms);
        if at >= slot.next_wake_ms {
            return;
        }
        slot.gen = slot.gen.wrapping_add(1);
        slot.next_wake_ms = at;
        let gen = slot.gen;
        push(&mut self.queue, &mut self.seq, at, Ev::Wake { agent, gen });
    }

    /// Runs to the end. `progress` is called about a hundred times.
    pub fn run(&mut self, progress: &mut dyn FnMut(Progress)) {
        let total = self.end_ms - self.start_ms;
        let every = (total / 100).max(1);
        let mut next_report = self.start_ms;
        while let Some(Reverse((t, _, ev))) = self.queue.pop() {
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

    fn outside(&self) -> f64 {
        self.path.price_at(self.now_ms)
    }

    /// Applies one command at the current time and reads its events.
    fn exec(&mut self, cmd: Command) -> Result<(), Reject> {
        self.exec_as("venue", cmd)
    }

    /// Applies a command on behalf of `origin` (named in the rejection counts).
    fn exec_as(&mut self, origin: &'static str, cmd: Command) -> Result<(), Reject> {
        self.commands_sent += 1;
        self.metrics.outside_price = self.outside();
        let now = TimestampMs(self.now_ms);
        let mut events = std::mem::take(&mut self.events);
        let result = match self.engine.apply(&cmd, now) {
            Ok(applied) => {
                // Copied out: the metrics need the engine again to read counterfactuals.
                events.extend_from_slice(applied);
                self.metrics.on_events(self.now_ms, &events, &self.engine);
                collect_notifications(
                    &events,
                    &self.account_agent,
                    &self.keepers,
                    &mut self.notify,
                );
                Ok(())
            }
            Err(r) => {
                self.metrics.reject(origin, cmd.name(), &r);
                self.metrics.pending_verdict = None;
                Err(r)
            }
        };
        events.clear();
        self.events = events;
        self.after_command();
        result
    }

    fn after_command(&mut self) {
        if self.engine.commands_applied() >= self.next_invariant_check {
            self.check_invariants();
            self.next_invariant_check =
                self.engine.commands_applied() + self.scenario.metrics.invariant_check_every.max(1);
        }
        let mark = self
            .engine
            .market(self.market)
            .map_or(Price::ZERO, |m| m.mark);
        if mark != self.last_mark {
            self.last_mark = mark;
            self.fire_triggers(mark);
        }
        let notify = std::mem::take(&mut self.notify);
        for &(agent, delay_ms) in &notify {
            self.notify_agent(agent, delay_ms);
        }
        self.notify = notify;
        self.notify.clear();
    }

    fn check_invariants(&mut self) {
        self.invariant_checks += 1;
        if let Err(breach) = self.engine.check_invariants() {
            self.invariant_breach.get_or_insert(format!(
                "at t = {} ms: {breach}",
                self.now_ms - self.start_ms
            ));
        }
        if !self.metrics.stages_match_deficits() {
            let m = &self.metrics;
            self.invariant_breach.get_or_insert(format!(
                "at t = {} ms: the waterfall stages paid {} micro-USD for {} micro-USD of announced deficits",
                self.now_ms - self.start_ms,
                m.stage_paid_micros,
                m.announced_deficit_micros
            ));
        }
    }

    /// An agent's order filled (`kind` 0), or (keepers, `kind` 1) an account was flagged:
    /// wake it after its reaction delay.
    fn notify_agent(&mut self, agent: u32, kind: u64) {
        let now = self.now_ms;
        let slot = &mut self.slots[agent as usize];
        let delay = match &mut slot.agent {
            Agent::Trader(_) => TRADER_REACTION_MS,
            Agent::MarketMaker(m) => {
                m.filled_since_quote = true;
                m.params.latency_ms
            }
            Agent::Arbitrageur(_) => return,
            Agent::Keeper(k) => {
                if kind == 0 || k.out_of_gas() {
                    return; // A fill of the keeper's own account, or no gas left.
                }
                k.reaction_ms(&mut slot.rng)
            }
        };
        self.schedule(agent, now + delay);
    }

    fn fire_triggers(&mut self, mark: Price) {
        let m = mark.micros();
        let mut fired = Vec::new();
        while let Some((&key, &(agent, gen))) = self.triggers.below.range((m, 0)..).next() {
            self.triggers.below.remove(&key);
            fired.push((agent, gen));
        }
        while let Some((&key, &(agent, gen))) =
            self.triggers.above.range(..=(m, u64::MAX)).next_back()
        {
            self.triggers.above.remove(&key);
            fired.push((agent, gen));
        }
        for (agent, gen) in fired {
            if self.slots[agent as usize].trigger_gen == gen {
                self.schedule(agent, self.now_ms + TRADER_REACTION_MS);
            }
        }
    }

    fn on_step(&mut self) {
        let step = self.scenario.step_ms;
        push(&mut self.queue, &mut self.seq, self.now_ms + step, Ev::Step);
        self.engine_steps += 1;
        let _ = self.exec(Command::Tick);
        let outside = self.outside();
        self.observe_outside(outside, step);
        let mark = self
            .engine
            .market(self.market)
            .map_or(0.0, |m| m.mark.to_f64_lossy());
        self.marks.marks.push(mark);
        let dev_bp = (mark / outside - 1.0).abs() * 1e4;
        self.mark_dev_max_bp = self.mark_dev_max_bp.max(dev_bp);
        self.mark_dev_sum_bp += dev_bp;
        self.mark_dev_n += 1;
        let lag = self.now_ms.saturating_sub(self.oracle.on_venue_observed_ms);
        self.oracle.lag_max_ms = self.oracle.lag_max_ms.max(lag);
        self.oracle.lag_sum_ms += u128::from(lag);
        self.oracle.lag_n += 1;
        let sample_ms = self.scenario.metrics.sample_every_s * 1000;
        if (self.now_ms - self.start_ms) % sample_ms < step {
            self.take_sample();
        }
    }

    fn observe_outside(&mut self, price: f64, step_ms: u64) {
        let dt_s = step_ms as f64 / 1000.0;
        let r = (price / self.last_outside).ln();
        // Ten-minute half-life: congestion follows the market within minutes.
        let w = 1.0 - 0.5f64.powf(dt_s / 600.0);
        self.outside_var_per_s += w * (r * r / dt_s - self.outside_var_per_s);
        self.last_outside = price;
    }

    pub fn outside_vol_annual(&self) -> f64 {
        (self.outside_var_per_s * 365.0 * 86_400.0).sqrt()
    }

    fn halted(&self, t_ms: u64) -> bool {
        self.scenario.chain.halt.is_some_and(|h| {
            let from = self.start_ms + h.start_s * 1000;
            t_ms >= from && t_ms < from + h.duration_s * 1000
        })
    }

    fn on_block(&mut self) {
        let block_ms = self.scenario.chain.block_ms;
        push(
            &mut self.queue,
            &mut self.seq,
            self.now_ms + block_ms,
            Ev::Block,
        );
        if self.halted(self.now_ms) {
            self.chain_stats.halted_ms += block_ms;
            self.chain_stats.blocks_skipped += 1;
            return;
        }
        self.expire_stuck_txs();
        let included = self.chain.produce_block(self.outside_vol_annual());
        for inc in included {
            let delay = self.now_ms - inc.tx.submitted_ms;
            match inc.tx.payload {
                Payload::Oracle { price, observed_ms } => {
                    self.chain_stats.oracle_delay_max_ms =
                        self.chain_stats.oracle_delay_max_ms.max(delay);
                    self.land_oracle(price, observed_ms);
                }
                Payload::Liquidation(tx) => {
                    self.chain_stats.keeper_txs += 1;
                    self.chain_stats.keeper_delay_sum_ms += u128::from(delay);
                    self.chain_stats.keeper_delay_max_ms =
                        self.chain_stats.keeper_delay_max_ms.max(delay);
                    self.land_liquidation(tx, inc.price_gwei);
                }
                Payload::Order { agent, command } => {
                    let origin = self.origin_of(agent);
                    let _ = self.exec_as(origin, command);
                }
            }
        }
    }

    /// Stuck transactions are dropped; their senders learn of it and may send again.
    fn expire_stuck_txs(&mut self) {
        // Never shorter than three blocks: a transaction must get a chance to be included.
        let ttl_ms = (self.scenario.chain.tx_ttl_s * 1000).max(3 * self.scenario.chain.block_ms);
        for tx in self.chain.expire(self.now_ms, ttl_ms) {
            self.chain_stats.txs_expired += 1;
            match tx.payload {
                Payload::Oracle { .. } => self.oracle.pending = false,
                Payload::Liquidation(l) => {
                    let agent = self.keepers[l.keeper_index as usize];
                    if let Agent::Keeper(k) = &mut self.slots[agent as usize].agent {
                        k.in_flight.remove(&(l.account, l.scope));
                    }
                    self.schedule(agent, self.now_ms);
                }
                Payload::Order { .. } => {}
            }
        }
    }

    fn land_oracle(&mut self, price: Price, observed_ms: u64) {
        self.oracle.pending = false;
        if self
            .exec_as(
                "oracle",
                Command::OraclePrice {
                    market: self.market,
                    price,
                },
            )
            .is_ok()
        {
            self.oracle.updates += 1;
            self.oracle.on_venue_observed_ms = observed_ms;
        }
    }

    fn land_liquidation(&mut self, tx: LiquidationTx, price_gwei: f64) {
        let outside = Price::from_f64(self.outside(), Round::Floor).unwrap_or(Price::ZERO);
        let verdict = self
            .engine
            .health_with_mark(tx.account, tx.scope, self.market, outside)
            .map(|h| !h.below_maintenance())
            .unwrap_or(false);
        self.metrics.pending_verdict = Some((tx.account, tx.scope, verdict));
        let cmd = Command::Liquidate {
            keeper: tx.keeper,
            account: tx.account,
            scope: tx.scope,
        };
        let ok = self.exec_as("keeper", cmd).is_ok();
        let gas_usd = tx.gas as f64 * price_gwei * 1e-9 * self.chain.params.eth_usd;
        if let Agent::Keeper(k) =
            &mut self.slots[self.keepers[tx.keeper_index as usize] as usize].agent
        {
            k.on_landed(&tx, gas_usd, ok);
        }
    }

    fn on_oracle_poll(&mut self) {
        let o = &self.scenario.oracle;
        push(
            &mut self.queue,
            &mut self.seq,
            self.now_ms + o.poll_ms.max(1),
            Ev::OraclePoll,
        );
        let p = self.outside();
        let moved_bp = (p / self.oracle.last_posted - 1.0).abs() * 1e4;
        let due = self.now_ms - self.oracle.last_post_ms >= o.heartbeat_s * 1000;
        if self.oracle.pending || (moved_bp < o.deviation_bp && !due) {
            return;
        }
        let Ok(price) = self.tick_price(p, &self.scenario.market.clone()) else {
            return;
        };
        self.oracle.last_posted = p;
        self.oracle.last_post_ms = self.now_ms;
        if self.scenario.chain.oracle_on_chain {
            let bid = (self.chain.going_gwei * o.bid_multiplier).min(o.max_gas_gwei);
            self.oracle.pending = true;
            let gas = o.gas_per_update;
            self.chain.submit(
                self.now_ms,
                bid,
                gas,
                Payload::Oracle {
                    price,
                    observed_ms: self.now_ms,
                },
            );
        } else {
            self.land_oracle(price, self.now_ms);
        }
    }

    fn on_wake(&mut self, agent: u32, gen: u32) {
        let slot = &mut self.slots[agent as usize];
        if slot.gen != gen {
            return; // Superseded by an earlier wake-up.
        }
        slot.next_wake_ms = u64::MAX;
        let mut out = std::mem::take(&mut self.actions);
        let outside = self.path.price_at(self.now_ms);
        {
            let mut ctx = Ctx {
                now_ms: self.now_ms,
                venue: Venue::new(&self.engine, self.market),
                outside_price: outside,
                mark_history: &self.marks,
                going_gas_gwei: self.chain.going_gwei,
                out: &mut out,
            };
            match &mut slot.agent {
                Agent::Trader(t) => t.on_wake(&mut ctx, &mut slot.rng),
                Agent::MarketMaker(m) => m.on_wake(&mut ctx, &mut slot.rng),
                Agent::Arbitrageur(a) => a.on_wake(&mut ctx),
                Agent::Keeper(k) => k.on_wake(&mut ctx),
            }
        }
        self.apply_actions(agent, &mut out);
        out.clear();
        self.actions = out;
    }

    fn apply_actions(&mut self, agent: u32, out: &mut Vec<Action>) {
        let mut triggers_reset = false;
        for action in out.drain(..) {
            match action {
                Action::Send(cmd) => self.send(agent, cmd),
                Action::Liquidate(tx) => self.send_liquidation(tx),
                Action::WakeAt(t) => self.schedule(agent, t),
                Action::TriggerBelow(p) | Action::TriggerAbove(p) => {
                    if !triggers_reset {
                        let slot = &mut self.slots[agent as usize];
                        slot.trigger_gen = slot.trigger_gen.wrapping_add(1);
                        triggers_reset = true;
                    }
                    let below = matches!(action, Action::TriggerBelow(_));
                    self.add_trigger(agent, p, below);
                }
                Action::Note(what) => {
                    let account = AccountId(FIRST_AGENT_ACCOUNT + agent);
                    self.metrics.note(self.now_ms, what, Some(account));
                }
            }
        }
    }

    fn add_trigger(&mut self, agent: u32, price: f64, below: bool) {
        let micros = (price * 1e6).clamp(0.0, i64::MAX as f64 / 2.0) as i64;
        let gen = self.slots[agent as usize].trigger_gen;
        let key = (micros, self.triggers.seq);
        self.triggers.seq += 1;
        let map = if below {
            &mut self.triggers.below
        } else {
            &mut self.triggers.above
        };
        map.insert(key, (agent, gen));
    }

    fn send(&mut self, agent: u32, cmd: Command) {
        if self.scenario.chain.orders_on_chain {
            let bid = self.chain.going_gwei * 1.2;
            self.chain.submit(
                self.now_ms,
                bid,
                GAS_PER_ORDER,
                Payload::Order {
                    agent,
                    command: cmd,
                },
            );
        } else {
            let origin = self.origin_of(agent);
            let _ = self.exec_as(origin, cmd);
        }
    }

    fn origin_of(&self, agent: u32) -> &'static str {
        match self.slots[agent as usize].agent {
            Agent::Trader(_) => "trader",
            Agent::MarketMaker(_) => "market_maker",
            Agent::Arbitrageur(_) => "arbitrageur",
            Agent::Keeper(_) => "keeper",
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

    fn record_funds(&mut self) {
        let ins = crate::venue_state::insurance_fund_usd(&self.engine);
        if ins < self.insurance_min.0 {
            self.insurance_min = (ins, (self.now_ms - self.start_ms) as f64 / 1000.0);
        }
        let (_, share) = crate::venue_state::vault(&self.engine);
        if share > 0.0 {
            self.vault_share_min = self.vault_share_min.min(share);
        }
    }

    fn take_sample(&mut self) {
        self.record_funds();
        let values = crate::output::sample_values(self);
        self.samples.push(Sample {
            t_s: (self.now_ms - self.start_ms) as f64 / 1000.0,
            values,
        });
    }

    fn finish(&mut self) {
        self.check_invariants();
        self.record_funds();
        self.negative_equity_end_usd = crate::venue_state::negative_equity_usd(&self.engine);
        for slot in &mut self.slots {
            if let Agent::MarketMaker(m) = &mut slot.agent {
                m.finish(self.end_ms);
            }
        }
    }

    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.slots.iter().map(|s| &s.agent)
    }

    pub fn oracle_stats(&self) -> (u64, f64, f64) {
        let mean = if self.oracle.lag_n > 0 {
            self.oracle.lag_sum_ms as f64 / self.oracle.lag_n as f64 / 1000.0
        } else {
            0.0
        };
        (
            self.oracle.updates,
            self.oracle.lag_max_ms as f64 / 1000.0,
            mean,
        )
    }

    pub fn oracle_lag_now_s(&self) -> f64 {
        self.now_ms.saturating_sub(self.oracle.on_venue_observed_ms) as f64 / 1000.0
    }

    pub fn mark_dev_mean_bp(&self) -> f64 {
        if self.mark_dev_n == 0 {
            0.0
        } else {
            self.mark_dev_sum_bp / self.mark_dev_n as f64
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

/// Who must hear about a command's events: owners of filled orders (delay 0 marks "fill"),
/// and every keeper when an account is flagged (delay 1 marks "flag").
fn collect_notifications(
    events: &[Event],
    account_agent: &[Option<u32>],
    keepers: &[u32],
    out: &mut Vec<(u32, u64)>,
) {
    let owner = |a: AccountId| account_agent.get(a.0 as usize).copied().flatten();
    let mut flagged = false;
    for ev in events {
        match *ev {
            Event::Fill { maker, taker, .. } => {
                out.extend(owner(maker).map(|i| (i, 0)));
                out.extend(owner(taker).map(|i| (i, 0)));
            }
            Event::LiquidationStarted { account, .. } => out.extend(owner(account).map(|i| (i, 0))),
            Event::BelowMaintenance { .. } => flagged = true,
            _ => {}
        }
    }
    if flagged {
        out.extend(keepers.iter().map(|&k| (k, 1)));
    }
}
