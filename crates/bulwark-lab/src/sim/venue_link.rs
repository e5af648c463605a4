//! The venue plumbing: every command reaches the engine here, at the event time, and its
//! result comes back as the events it emitted or the typed rejection (which changed nothing).
//! It also keeps the run's own checks on the engine: a full invariant check every
//! `invariant_check_every` applied commands and at the end.

use bulwark_engine::{Command, Engine, Event, MarketId, Price, Reject, TimestampMs};

/// Who sent a command: named in the rejection counts (`origin/command:reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The venue's own set-up and clock (`Tick`).
    Venue,
    Oracle,
    Keeper,
    /// The online risk controller's parameter commands.
    Controller,
    /// An agent's command, by the agent's kind.
    Agent(&'static str),
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Venue => "venue",
            Origin::Oracle => "oracle",
            Origin::Keeper => "keeper",
            Origin::Controller => "controller",
            Origin::Agent(kind) => kind,
        }
    }
}

/// The engine, and the first market the lab drives (the others: `sim::markets`).
#[derive(Debug)]
pub struct VenueLink {
    pub engine: Engine,
    pub market: MarketId,
    /// Commands sent to the engine; a requote counts as the commands it stands for (its
    /// cancel and each order).
    pub commands_sent: u64,
    check_every: u64,
    next_check: u64,
    pub invariant_checks: u64,
    /// The first failed check, with its simulated time.
    pub invariant_breach: Option<String>,
}

impl VenueLink {
    pub fn new(market: MarketId, invariant_check_every: u64) -> VenueLink {
        let check_every = invariant_check_every.max(1);
        let mut engine = Engine::default();
        engine.set_invariant_check_interval(check_every);
        VenueLink {
            engine,
            market,
            commands_sent: 0,
            check_every,
            next_check: check_every,
            invariant_checks: 0,
            invariant_breach: None,
        }
    }

    /// Applies one command at `now_ms`. On success [`VenueLink::events`] holds what it emitted.
    pub fn apply(&mut self, cmd: &Command, now_ms: u64) -> Result<(), Reject> {
        self.commands_sent += match cmd {
            Command::Requote(r) => 1 + r.orders.len() as u64,
            _ => 1,
        };
        self.engine.apply(cmd, TimestampMs(now_ms))?;
        Ok(())
    }

    /// The events of the last command applied (none after a rejection), read in place in the
    /// engine: the metrics read the engine beside them, and a copy per command cost more
    /// than the metrics themselves.
    pub fn events(&self) -> &[Event] {
        self.engine.last_events()
    }

    /// The mark now, in USD (0 before the market exists).
    pub fn mark(&self) -> f64 {
        self.mark_price().to_f64_lossy()
    }

    pub fn mark_price(&self) -> Price {
        self.engine
            .market(self.market)
            .map_or(Price::ZERO, |m| m.mark)
    }

    /// Whether enough commands were applied since the last periodic check, `applied` being
    /// the engine's count of applied commands (within a requote: of its parts so far).
    pub fn check_due(&self, applied: u64) -> bool {
        applied >= self.next_check
    }

    /// A full invariant check of the engine, plus `lab_problem` (a check the lab's own books
    /// failed, e.g. waterfall stages that do not add up). `t_ms` is the time since the start;
    /// the next check comes due `invariant_check_every` applied commands after `applied`.
    pub fn check_invariants(&mut self, t_ms: u64, lab_problem: Option<String>, applied: u64) {
        self.invariant_checks += 1;
        self.next_check = applied + self.check_every;
        if let Err(breach) = self.engine.check_invariants() {
            self.invariant_breach
                .get_or_insert(format!("at t = {t_ms} ms: {breach}"));
        }
        if let Some(problem) = lab_problem {
            self.invariant_breach
                .get_or_insert(format!("at t = {t_ms} ms: {problem}"));
        }
    }
}
