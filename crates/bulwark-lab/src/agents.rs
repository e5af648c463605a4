//! The lab's trading agents. Each is a plain type with its parameters and state, woken by the
//! run loop, that looks at the venue through [`Venue`] and acts only by returning [`Action`]s
//! (engine commands, and requests to be woken later).
//!
//! Every agent draws from its own `ChaCha8Rng` stream, derived from the run seed and the
//! agent's id ([`agent_rng`]), so adding an agent or reordering wake-ups never changes another
//! agent's random numbers.
//!
//! Everything an agent reads is defined on this side: its [`Ctx`], the venue's public mark
//! feed ([`MarkHistory`]); [`population`] draws every agent of a scenario. The run loop
//! depends on the agents, never the other way round.

pub mod arbitrageur;
pub mod keeper;
pub mod lp;
pub mod manipulator;
pub mod market_maker;
pub mod population;
pub mod trader;

use bulwark_engine::{AccountId, Command, Scope};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::LogNormal;
use crate::venue::Venue;

/// Streams below this are reserved for the environment (chain, population draws); agent `i`
/// uses stream `AGENT_STREAM_BASE + i`.
pub const AGENT_STREAM_BASE: u64 = 16;

/// The stream of the chain model's background demand.
pub const CHAIN_STREAM: u64 = 1;

/// The RNG of one agent: the run seed picks the ChaCha key, the agent id the stream.
pub fn agent_rng(run_seed: u64, agent_id: u32) -> ChaCha8Rng {
    stream_rng(run_seed, AGENT_STREAM_BASE + u64::from(agent_id))
}

pub fn stream_rng(run_seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(run_seed);
    rng.set_stream(stream);
    rng
}

/// One draw from a lognormal stated by median and log-sigma (sigma 0: the median).
pub fn draw_lognormal(rng: &mut ChaCha8Rng, d: LogNormal) -> f64 {
    if d.sigma <= 0.0 || !d.sigma.is_finite() {
        return d.median;
    }
    // libm, not std: the same bits on every CPU and C library.
    let z = crate::path::draw::standard_normal(rng);
    libm::exp(libm::log(d.median.max(1e-12)) + d.sigma * z)
}

/// An exponential draw with the given mean.
pub fn draw_exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -mean * libm::log(u)
}

/// A keeper's liquidation request, with what it bids for block space.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidationTx {
    pub keeper_index: u32,
    pub keeper: AccountId,
    pub account: AccountId,
    pub scope: Scope,
    pub bid_gwei: f64,
    pub gas: u64,
}

/// What an agent asks the run loop to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A trading command (order, cancel, deposit): sent off-chain or through the chain,
    /// as the scenario routes orders.
    Send(Command),
    /// A keeper's liquidation: through the chain or straight to the venue.
    Liquidate(LiquidationTx),
    /// Wake me at this time (the earliest of an agent's requests wins).
    WakeAt(u64),
    /// Wake me when the mark falls to or below this price...
    TriggerBelow(f64),
    /// ...or rises to or above this one. New triggers replace all earlier ones.
    TriggerAbove(f64),
    /// A lab event worth a line in events.csv (e.g. a market maker pulling its quotes).
    Note(&'static str),
}

/// The venue's public mark feed, one value per engine step (what a trader's chart shows).
#[derive(Clone, Debug, Default)]
pub struct MarkHistory {
    pub start_ms: u64,
    pub step_ms: u64,
    pub marks: Vec<f64>,
}

impl MarkHistory {
    pub fn new(start_ms: u64, step_ms: u64) -> MarkHistory {
        MarkHistory {
            start_ms,
            step_ms,
            marks: Vec::new(),
        }
    }

    /// The mark at or before `t_ms`, if the feed reaches back that far.
    pub fn at(&self, t_ms: u64) -> Option<f64> {
        if t_ms < self.start_ms || self.marks.is_empty() {
            return None;
        }
        let i = ((t_ms - self.start_ms) / self.step_ms.max(1)) as usize;
        self.marks.get(i.min(self.marks.len() - 1)).copied()
    }
}

/// What an agent sees when it wakes.
pub struct Ctx<'a> {
    pub now_ms: u64,
    pub venue: Venue<'a>,
    /// The outside price as this agent observes it now (other venues; market makers and
    /// arbitrageurs use it, traders watch the venue).
    pub outside_price: f64,
    /// The venue's mark `lookback` ago, from the public price feed the lab records.
    pub mark_history: &'a MarkHistory,
    /// The chain's going gas price (what a wallet would suggest), gwei.
    pub going_gas_gwei: f64,
    /// The ETH price, USD (public): turns a gas bid into money.
    pub eth_usd: f64,
    pub out: &'a mut Vec<Action>,
}

#[cfg(test)]
mod tests;
