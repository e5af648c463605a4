//! Who takes part in a run: the [`Agent`] sum the run loop holds, and the drawing of every
//! population a scenario asks for (traders, then market makers, arbitrageurs, keepers and the
//! vault's liquidity providers, in that order; agent `i` trades from account `FIRST_AGENT_ACCOUNT + i` and draws from its own
//! stream [`agent_rng`]`(seed, i)`).

use bulwark_engine::{AccountId, Command};
use rand_chacha::ChaCha8Rng;

use super::agent_rng;
use super::arbitrageur::Arbitrageur;
use super::keeper::Keeper;
use super::lp::Lp;
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
    Lp(Lp),
}

impl Agent {
    /// The deposit that opens the agent's venue account.
    pub fn initial_deposit(&self) -> Command {
        match self {
            Agent::Trader(t) => t.initial_deposit(),
            Agent::MarketMaker(m) => m.initial_deposit(),
            Agent::Arbitrageur(x) => x.initial_deposit(),
            Agent::Keeper(k) => k.initial_deposit(),
            Agent::Lp(l) => l.initial_deposit(),
        }
    }

    /// What to call this kind of agent in messages and counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Agent::Trader(_) => "trader",
            Agent::MarketMaker(_) => "market_maker",
            Agent::Arbitrageur(_) => "arbitrageur",
            Agent::Keeper(_) => "keeper",
            Agent::Lp(_) => "lp",
        }
    }

    /// The scenario section of this kind: `agents.<section>`.
    pub fn section(&self) -> &'static str {
        match self {
            Agent::Trader(_) => "traders",
            Agent::MarketMaker(_) => "market_makers",
            Agent::Arbitrageur(_) => "arbitrageurs",
            Agent::Keeper(_) => "keepers",
            Agent::Lp(_) => "lps",
        }
    }

    /// The field of its section that sets its first deposit.
    pub fn capital_field(&self) -> &'static str {
        match self {
            Agent::Trader(_) => "collateral_usd",
            Agent::Lp(_) => "total_capital_usd",
            _ => "capital_usd",
        }
    }

    pub fn account(&self) -> AccountId {
        match self {
            Agent::Trader(t) => t.account,
            Agent::MarketMaker(m) => m.account,
            Agent::Arbitrageur(x) => x.account,
            Agent::Keeper(k) => k.account,
            Agent::Lp(l) => l.account,
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
    // LPs come last, so adding them changed no other agent's id or random stream.
    for _ in 0..agents.lps.count {
        add(&mut |acc, rng| Agent::Lp(Lp::new(acc, &agents.lps, rng)));
    }
    let first_lp = out.len() - agents.lps.count as usize;
    split_lp_capital(&mut out[first_lp..], agents.lps.total_capital_usd);
    out
}

/// Splits the LPs' total capital by their drawn weights, in micro-USD: each gets the floor of
/// its part and the last LP the remainder, so the parts add up to the total exactly.
fn split_lp_capital(lps: &mut [Member], total_usd: f64) {
    let total = crate::venue::usd_from_f64(total_usd).micros();
    let weights: f64 = lps
        .iter()
        .map(|m| match &m.agent {
            Agent::Lp(l) => l.weight,
            _ => 0.0,
        })
        .sum();
    let n = lps.len();
    let mut given = 0i64;
    for (i, m) in lps.iter_mut().enumerate() {
        let Agent::Lp(l) = &mut m.agent else { continue };
        let part = if i + 1 == n {
            total - given
        } else {
            // At least one micro-USD each, leaving one for each LP after it (validation asks
            // for that much per LP).
            let room = (total - given - (n - i - 1) as i64).max(1);
            ((total as f64 * l.weight / weights).floor() as i64).clamp(1, room)
        };
        given += part;
        l.capital = bulwark_engine::Usd::from_micros(part);
    }
}
