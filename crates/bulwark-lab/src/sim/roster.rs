//! The agents as the run loop holds them: each with its random stream, its next wake-up and
//! its price triggers; who owns which account; and who hears what an engine command did.
//!
//! An agent is woken by its own timer, by a price trigger it armed, by a fill of one of its
//! orders, or (keepers) when an account is flagged below maintenance. Waking is idempotent:
//! a later request for an earlier time replaces the pending wake-up (its generation no longer
//! matches), a request for a later time is dropped.

use bulwark_engine::{AccountId, Event, Price};
use rand_chacha::ChaCha8Rng;

use super::queue::{Ev, EventQueue};
use super::triggers::Triggers;
use crate::agents::keeper::Keeper;
use crate::agents::population::{Agent, Member};

/// How long a trader takes to react to a fill or a crossed trigger, ms.
pub const TRADER_REACTION_MS: u64 = 500;

/// Something an engine command did that an agent must hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// One of the agent's orders filled, or its own liquidation started.
    Filled(u32),
    /// An account fell below maintenance (sent to every keeper).
    Flagged(u32),
}

#[derive(Clone, Debug)]
pub struct Slot {
    pub agent: Agent,
    pub rng: ChaCha8Rng,
    /// The market it trades (index into the run's markets).
    pub market: usize,
    /// Whether its first deposit opens its account (see [`Member::opens_account`]).
    pub opens_account: bool,
    /// The next agent trading from the same account, if any (a cross-margin trader's legs).
    next_same_account: Option<u32>,
    gen: u32,
    next_wake_ms: u64,
    trigger_gen: u32,
}

#[derive(Debug, Default)]
pub struct Roster {
    slots: Vec<Slot>,
    /// Account id -> the first agent trading from it (the others follow through
    /// `Slot::next_same_account`).
    account_agent: Vec<Option<u32>>,
    /// Keeper `k`'s agent id is `keepers[k]`.
    keepers: Vec<u32>,
    /// Price triggers on each market's mark.
    triggers: Vec<Triggers>,
    fired: Vec<(u32, u32)>,
}

impl Roster {
    /// Takes the drawn population; agent `i` is `members[i]`.
    pub fn new(members: Vec<Member>) -> Roster {
        let mut r = Roster::default();
        let mut last_of_account: Vec<Option<u32>> = Vec::new();
        for (id, m) in members.into_iter().enumerate() {
            let id = id as u32;
            let idx = m.agent.account().0 as usize;
            if r.account_agent.len() <= idx {
                r.account_agent.resize(idx + 1, None);
                last_of_account.resize(idx + 1, None);
            }
            match last_of_account[idx] {
                None => r.account_agent[idx] = Some(id),
                Some(prev) => r.slots[prev as usize].next_same_account = Some(id),
            }
            last_of_account[idx] = Some(id);
            if let Agent::Keeper(_) = m.agent {
                r.keepers.push(id);
            }
            if r.triggers.len() <= m.market {
                r.triggers.resize_with(m.market + 1, Triggers::default);
            }
            r.slots.push(Slot {
                agent: m.agent,
                rng: m.rng,
                market: m.market,
                opens_account: m.opens_account,
                next_same_account: None,
                gen: 0,
                next_wake_ms: u64::MAX,
                trigger_gen: 0,
            });
        }
        r
    }

    /// The market agent `agent` trades.
    pub fn market_of(&self, agent: u32) -> usize {
        self.slots[agent as usize].market
    }

    /// Whether agent `agent`'s first deposit opens its account.
    pub fn opens_account(&self, agent: u32) -> bool {
        self.slots[agent as usize].opens_account
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.slots.iter().map(|s| &s.agent)
    }

    pub fn agent(&self, agent: u32) -> &Agent {
        &self.slots[agent as usize].agent
    }

    pub fn agent_mut(&mut self, agent: u32) -> &mut Agent {
        &mut self.slots[agent as usize].agent
    }

    pub fn agents_mut(&mut self) -> impl Iterator<Item = &mut Agent> {
        self.slots.iter_mut().map(|s| &mut s.agent)
    }

    /// Keeper number `index`: its agent id and state.
    pub fn keeper_mut(&mut self, index: u32) -> (u32, Option<&mut Keeper>) {
        let agent = self.keepers[index as usize];
        match &mut self.slots[agent as usize].agent {
            Agent::Keeper(k) => (agent, Some(k)),
            _ => (agent, None),
        }
    }

    /// Wake `agent` at `at` (never before `now_ms`) unless it is already due earlier.
    pub fn schedule(&mut self, queue: &mut EventQueue, now_ms: u64, agent: u32, at: u64) {
        let slot = &mut self.slots[agent as usize];
        let at = at.max(now_ms);
        if at >= slot.next_wake_ms {
            return;
        }
        slot.gen = slot.gen.wrapping_add(1);
        slot.next_wake_ms = at;
        queue.push(
            at,
            Ev::Wake {
                agent,
                gen: slot.gen,
            },
        );
    }

    /// The agent to run for a wake-up, unless a later request superseded it.
    pub fn take_wake(&mut self, agent: u32, gen: u32) -> Option<&mut Slot> {
        let slot = &mut self.slots[agent as usize];
        if slot.gen != gen {
            return None;
        }
        slot.next_wake_ms = u64::MAX;
        Some(slot)
    }

    /// Forgets the agent's price triggers: the ones it arms next replace them.
    pub fn reset_triggers(&mut self, agent: u32) {
        let slot = &mut self.slots[agent as usize];
        slot.trigger_gen = slot.trigger_gen.wrapping_add(1);
    }

    /// Arms a trigger on the mark of the market the agent trades.
    pub fn add_trigger(&mut self, agent: u32, price: f64, below: bool) {
        let slot = &self.slots[agent as usize];
        self.triggers[slot.market].add(agent, slot.trigger_gen, price, below);
    }

    /// Market `market`'s mark moved to `mark`: wakes, after a trader's reaction time, every
    /// agent whose current trigger it crossed.
    pub fn fire_triggers(
        &mut self,
        queue: &mut EventQueue,
        now_ms: u64,
        market: usize,
        mark: Price,
    ) {
        let Some(triggers) = self.triggers.get_mut(market) else {
            return; // No agent trades it.
        };
        let mut fired = std::mem::take(&mut self.fired);
        triggers.fire(mark, &mut fired);
        for &(agent, gen) in &fired {
            if self.slots[agent as usize].trigger_gen == gen {
                self.schedule(queue, now_ms, agent, now_ms + TRADER_REACTION_MS);
            }
        }
        fired.clear();
        self.fired = fired;
    }

    /// Whether an event makes anyone hear of its command (`notices`).
    pub fn hears(ev: &Event) -> bool {
        matches!(
            ev,
            Event::Fill { .. } | Event::LiquidationStarted { .. } | Event::BelowMaintenance { .. }
        )
    }

    /// Who must hear about a command's events: owners of filled orders and of pools whose
    /// liquidation started, in event order, then every keeper if an account was flagged.
    pub fn notices(&self, events: &[Event], out: &mut Vec<Notice>) {
        let mut flagged = false;
        for ev in events {
            match *ev {
                Event::Fill { maker, taker, .. } => {
                    self.owners(maker, out);
                    self.owners(taker, out);
                }
                Event::LiquidationStarted { account, .. } => self.owners(account, out),
                Event::BelowMaintenance { .. } => flagged = true,
                _ => {}
            }
        }
        if flagged {
            out.extend(self.keepers.iter().map(|&k| Notice::Flagged(k)));
        }
    }

    /// Every agent trading from `account`, in agent order, as `Filled` notices.
    fn owners(&self, account: AccountId, out: &mut Vec<Notice>) {
        let mut next = self
            .account_agent
            .get(account.0 as usize)
            .copied()
            .flatten();
        while let Some(agent) = next {
            out.push(Notice::Filled(agent));
            next = self.slots[agent as usize].next_same_account;
        }
    }

    /// Wakes the agent a notice is for, after its reaction delay: traders after
    /// [`TRADER_REACTION_MS`], market makers after their latency (and they requote), keepers
    /// after their own draw when an account is flagged (not for fills of their own account,
    /// nor once their gas budget is spent); arbitrageurs and LPs poll and ignore notices.
    pub fn notify(&mut self, queue: &mut EventQueue, now_ms: u64, notice: Notice) {
        let (agent, flagged) = match notice {
            Notice::Filled(a) => (a, false),
            Notice::Flagged(a) => (a, true),
        };
        let slot = &mut self.slots[agent as usize];
        let delay = match &mut slot.agent {
            Agent::Trader(_) => TRADER_REACTION_MS,
            Agent::MarketMaker(m) => {
                m.filled_since_quote = true;
                m.params.latency_ms
            }
            Agent::Arbitrageur(_) | Agent::Lp(_) | Agent::Manipulator(_) => return,
            Agent::Keeper(k) => {
                if !flagged || k.out_of_gas() {
                    return;
                }
                k.reaction_ms(&mut slot.rng)
            }
        };
        self.schedule(queue, now_ms, agent, now_ms.saturating_add(delay));
    }
}
