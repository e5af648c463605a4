//! Who takes part in a run: the [`Agent`] sum the run loop holds, and the drawing of every
//! population a scenario asks for (traders, then market makers, arbitrageurs, keepers and the
//! vault's liquidity providers, in that order; agent `i` trades from account
//! `FIRST_AGENT_ACCOUNT + i` and draws from its own stream [`agent_rng`]`(seed, i)`). With
//! further markets, their traders, market makers and arbitrageurs follow, market by market; a
//! further market's cross-margin traders trade from the account of one of the first market's
//! traders (one cross pool, two positions).

use bulwark_engine::{AccountId, Command};
use rand_chacha::ChaCha8Rng;

use super::agent_rng;
use super::arbitrageur::Arbitrageur;
use super::keeper::Keeper;
use super::lp::Lp;
use super::manipulator::Manipulator;
use super::market_maker::MarketMaker;
use super::trader::Trader;
use crate::scenario::{AgentsSection, MarketAgents};

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
    Manipulator(Manipulator),
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
            Agent::Manipulator(m) => m.initial_deposit(),
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
            Agent::Manipulator(_) => "manipulator",
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
            Agent::Manipulator(_) => "manipulator",
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
            Agent::Manipulator(m) => m.account,
        }
    }
}

/// One drawn agent with its random stream.
#[derive(Clone, Debug)]
pub struct Member {
    pub agent: Agent,
    pub rng: ChaCha8Rng,
    /// The market it trades: 0 for `[market]` (and for keepers, who watch every pool), `m`
    /// for `more_markets[m - 1]`.
    pub market: usize,
    /// Whether its first deposit opens its account; false for a cross-margin trader's second
    /// leg, whose account its first-market partner opens.
    pub opens_account: bool,
}

/// Every agent of a one-market scenario, agent `i` at index `i`. Traders' entry times are
/// relative to the run's start until [`Trader::start_at`] makes them absolute.
pub fn draw(agents: &AgentsSection, seed: u64) -> Vec<Member> {
    draw_markets(agents, &[], seed)
}

/// Every agent of the scenario with its further markets' agents (`more[m - 1]` for market
/// `m`): the first market's agents and the keepers exactly as [`draw`] gives them, then each
/// further market's traders, market makers and arbitrageurs, and the vault's LPs last.
pub fn draw_markets(agents: &AgentsSection, more: &[MarketAgents], seed: u64) -> Vec<Member> {
    let mut out = Vec::new();
    let mut add = |market: usize, make: &mut dyn FnMut(AccountId, &mut ChaCha8Rng) -> Agent| {
        let id = out.len() as u32;
        let mut rng = agent_rng(seed, id);
        let agent = make(AccountId(FIRST_AGENT_ACCOUNT + id), &mut rng);
        out.push(Member {
            agent,
            rng,
            market,
            opens_account: true,
        });
    };
    let (traders, makers, arbs) = (&agents.traders, &agents.market_makers, &agents.arbitrageurs);
    let first_traders = agents.traders.count;
    for _ in 0..first_traders {
        add(0, &mut |acc, rng| {
            Agent::Trader(Trader::new(acc, traders, rng))
        });
    }
    for _ in 0..makers.count {
        add(0, &mut |acc, _| {
            Agent::MarketMaker(MarketMaker::new(acc, makers))
        });
    }
    for _ in 0..arbs.count {
        add(0, &mut |acc, _| {
            Agent::Arbitrageur(Arbitrageur::new(acc, arbs))
        });
    }
    for k in 0..agents.keepers.count {
        add(0, &mut |acc, rng| {
            Agent::Keeper(Keeper::new(k, acc, &agents.keepers, rng))
        });
    }
    // Agent ids so far, and the (owner, leg) trader pairs to join once every agent is drawn.
    let mut next = (first_traders + makers.count + arbs.count + agents.keepers.count) as usize;
    let mut pairs = Vec::new();
    for (i, m) in more.iter().enumerate() {
        let market = i + 1;
        let shared = cross_margin_count(m, first_traders) as usize;
        pairs.extend((0..shared).map(|k| (k, next + k)));
        next += (m.traders + m.market_makers + m.arbitrageurs) as usize;
        for _ in 0..m.traders {
            add(market, &mut |acc, rng| {
                Agent::Trader(Trader::new(acc, traders, rng))
            });
        }
        for _ in 0..m.market_makers {
            add(market, &mut |acc, _| {
                Agent::MarketMaker(MarketMaker::new(acc, makers))
            });
        }
        for _ in 0..m.arbitrageurs {
            add(market, &mut |acc, _| {
                Agent::Arbitrageur(Arbitrageur::new(acc, arbs))
            });
        }
    }
    // LPs come last, so adding them changed no other agent's id or random stream. They stake
    // in the venue-wide vault; `market` 0 is only where the run loop drives them.
    for _ in 0..agents.lps.count {
        add(0, &mut |acc, rng| Agent::Lp(Lp::new(acc, &agents.lps, rng)));
    }
    // The manipulator after everyone: no other agent's id or random stream moves.
    let manipulators = usize::from(agents.manipulator.enabled);
    if agents.manipulator.enabled {
        let m = &agents.manipulator;
        add(0, &mut |acc, _| {
            Agent::Manipulator(Manipulator::new(acc, m))
        });
    }
    let first_lp = out.len() - manipulators - agents.lps.count as usize;
    for (owner, leg) in pairs {
        pair_legs(&mut out, owner, leg);
    }
    split_lp_capital(
        &mut out[first_lp..first_lp + agents.lps.count as usize],
        agents.lps.total_capital_usd,
    );
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

/// How many of a further market's traders trade from a first-market trader's account.
fn cross_margin_count(m: &MarketAgents, first_traders: u32) -> u32 {
    let wanted = (f64::from(m.traders) * m.cross_margin_share.clamp(0.0, 1.0)).round() as u32;
    wanted.min(m.traders).min(first_traders)
}

/// Makes trader `leg` trade from trader `owner`'s account: the same collateral (the owner's
/// deposit opens it), one more leg for both, and top-ups left to the owner (one pool, one
/// decision to add money).
fn pair_legs(out: &mut [Member], owner: usize, leg: usize) {
    let Agent::Trader(o) = &mut out[owner].agent else {
        unreachable!("the first market's traders come first");
    };
    o.legs += 1;
    let (account, collateral, legs) = (o.account, o.collateral0_usd, o.legs);
    let member = &mut out[leg];
    let Agent::Trader(t) = &mut member.agent else {
        unreachable!("a further market's traders come first in its block");
    };
    t.account = account;
    t.collateral0_usd = collateral;
    t.legs = legs;
    t.tops_up = false;
    member.opens_account = false;
}
