//! Who takes part in a run: the [`Agent`] sum the run loop holds, and the drawing of every
//! population a scenario asks for (traders, then market makers, arbitrageurs and keepers, in
//! that order; agent `i` trades from account `FIRST_AGENT_ACCOUNT + i` and draws from its own
//! stream [`agent_rng`]`(seed, i)`).

use bulwark_engine::{AccountId, Command};
use rand_chacha::ChaCha8Rng;

use super::agent_rng;
use super::arbitrageur::Arbitrageur;
use super::keeper::Keeper;
use super::market_maker::MarketMaker;
use super::trader::Trader;
use crate::scenario::AgentsSection;

/// Agent `i` trades from account `FIRST_AGENT_ACCOUNT + i` (accounts below are the venue's:
/// the treasury that seeds the insurance fund and the vault's liquidity providers).
pub const FIRST_AGENT_ACCOUNT: u32 = 2;

/// One agent of any kind, as the run loop holds it.
#[derive(Clone, Debug)]
pub enum Agent {
    Trader(Trader),
    MarketMaker(MarketMaker),
    Arbitrageur(Arbitrageur),
    Keeper(Keeper),
}

impl Agent {
    /// The deposit that opens the agent's venue account.
    pub fn initial_deposit(&self) -> Command {
        match self {
            Agent::Trader(t) => t.initial_deposit(),
            Agent::MarketMaker(m) => m.initial_deposit(),
            Agent::Arbitrageur(x) => x.initial_deposit(),
            Agent::Keeper(k) => k.initial_deposit(),
        }
    }

    /// What to call this kind of agent in messages and counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Agent::Trader(_) => "trader",
            Agent::MarketMaker(_) => "market_maker",
            Agent::Arbitrageur(_) => "arbitrageur",
            Agent::Keeper(_) => "keeper",
        }
    }

    /// The scenario section of this kind: `agents.<section>`.
    pub fn section(&self) -> &'static str {
        match self {
            Agent::Trader(_) => "traders",
            Agent::MarketMaker(_) => "market_makers",
            Agent::Arbitrageur(_) => "arbitrageurs",
            Agent::Keeper(_) => "keepers",
        }
    }

    /// The field of its section that sets its first deposit.
    pub fn capital_field(&self) -> &'static str {
        match self {
            Agent::Trader(_) => "collateral_usd",
            _ => "capital_usd",
        }
    }

    pub fn account(&self) -> AccountId {
        match self {
            Agent::Trader(t) => t.account,
            Agent::MarketMaker(m) => m.account,
            Agent::Arbitrageur(x) => x.account,
            Agent::Keeper(k) => k.account,
        }
    }
}

/// One drawn agent with its random stream.
#[derive(Clone, Debug)]
pub struct Member {
    pub agent: Agent,
    pub rng: ChaCha8Rng,
}

/// Every agent of the scenario, agent `i` at index `i`. Traders' entry times are relative to
/// the run's start until [`Trader::start_at`] makes them absolute.
pub fn draw(agents: &AgentsSection, seed: u64) -> Vec<Member> {
    let mut out = Vec::new();
    let mut add = |make: &mut dyn FnMut(AccountId, &mut ChaCha8Rng) -> Agent| {
        let id = out.len() as u32;
        let mut rng = agent_rng(seed, id);
        let agent = make(AccountId(FIRST_AGENT_ACCOUNT + id), &mut rng);
        out.push(Member { agent, rng });
    };
    for _ in 0..agents.traders.count {
        add(&mut |acc, rng| Agent::Trader(Trader::new(acc, &agents.traders, rng)));
    }
    for _ in 0..agents.market_makers.count {
        add(&mut |acc, _| Agent::MarketMaker(MarketMaker::new(acc, &agents.market_makers)));
    }
    for _ in 0..agents.arbitrageurs.count {
        add(&mut |acc, _| Agent::Arbitrageur(Arbitrageur::new(acc, &agents.arbitrageurs)));
    }
    for k in 0..agents.keepers.count {
        add(&mut |acc, rng| Agent::Keeper(Keeper::new(k, acc, &agents.keepers, rng)));
    }
    out
}
