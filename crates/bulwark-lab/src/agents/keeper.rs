//! Keepers (liquidators).
//!
//! A keeper watches the public list of accounts below maintenance (`engine.flags()`, what an
//! indexer of an on-chain venue shows) and sends `Liquidate` transactions:
//! - it is woken `latency_ms` (its own lognormal draw each time) after an account is flagged,
//!   and polls every `poll_ms` while any account stays flagged;
//! - it targets the worst shortfalls first (maintenance minus equity, ties by account id),
//!   skipping accounts it already has a transaction in flight for;
//! - its capital bounds the position notional it liquidates at once:
//!   `capital_usd x notional_per_capital` of notional in flight;
//! - it bids the chain's going gas price times its own multiplier, capped at its own
//!   `max_gas_gwei`; keepers thus compete by priority fee, and in congestion the ones with low
//!   caps wait. A transaction costs gas whether or not the liquidation succeeds (another keeper
//!   may have been first); a keeper whose gas budget is spent stops.

use std::collections::BTreeMap;

use bulwark_engine::{AccountId, Command, Scope};
use rand_chacha::ChaCha8Rng;

use super::{draw_lognormal, Action, Ctx, LiquidationTx};
use crate::scenario::KeeperParams;
use crate::venue::usd_from_f64;

/// Most liquidations one keeper sends per wake-up: a real bot's batch.
pub const MAX_TX_PER_WAKE: usize = 16;

#[derive(Clone, Debug)]
pub struct Keeper {
    pub index: u32,
    pub account: AccountId,
    pub params: KeeperParams,
    pub bid_multiplier: f64,
    pub max_gas_gwei: f64,
    /// Liquidations in flight: (account, scope) -> notional USD.
    pub in_flight: BTreeMap<(AccountId, Scope), f64>,
    pub gas_spent_usd: f64,
    pub sent: u32,
    pub succeeded: u32,
    pub failed: u32,
}

impl Keeper {
    pub fn new(
        index: u32,
        account: AccountId,
        params: &KeeperParams,
        rng: &mut ChaCha8Rng,
    ) -> Keeper {
        Keeper {
            index,
            account,
            params: params.clone(),
            bid_multiplier: draw_lognormal(rng, params.bid_multiplier),
            max_gas_gwei: draw_lognormal(rng, params.max_gas_gwei),
            in_flight: BTreeMap::new(),
            gas_spent_usd: 0.0,
            sent: 0,
            succeeded: 0,
            failed: 0,
        }
    }

    pub fn initial_deposit(&self) -> Command {
        Command::Deposit {
            account: self.account,
            amount_usd: usd_from_f64(self.params.capital_usd),
        }
    }

    /// How long this keeper takes to react to a flag, ms.
    pub fn reaction_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        draw_lognormal(rng, self.params.latency_ms).max(1.0) as u64
    }

    pub fn out_of_gas(&self) -> bool {
        self.gas_spent_usd >= self.params.gas_budget_usd
    }

    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        if self.out_of_gas() {
            return;
        }
        let mut targets: Vec<(f64, AccountId, Scope, f64)> = Vec::new();
        for ((account, scope), _) in ctx.venue.flagged() {
            if *account == self.account || self.in_flight.contains_key(&(*account, *scope)) {
                continue;
            }
            let Some(h) = ctx.venue.public_health(*account, *scope) else {
                continue;
            };
            let shortfall =
                (h.maintenance_usd.to_f64_lossy() - h.equity_usd.to_f64_lossy()).max(0.0);
            // Maintenance is a known fraction of notional at small size: a keeper's estimate.
            let notional = h.maintenance_usd.to_f64_lossy() / ctx.venue.maintenance_frac();
            targets.push((shortfall, *account, *scope, notional));
        }
        // Worst shortfall first; ties by account so the order never depends on float noise.
        targets.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let limit_usd = self.params.capital_usd * self.params.notional_per_capital;
        let mut used: f64 = self.in_flight.values().sum();
        let bid = (ctx.going_gas_gwei * self.bid_multiplier).min(self.max_gas_gwei);
        for (_, account, scope, notional) in targets.into_iter().take(MAX_TX_PER_WAKE) {
            if used > 0.0 && used + notional > limit_usd {
                break;
            }
            used += notional;
            self.in_flight.insert((account, scope), notional);
            self.sent += 1;
            ctx.out.push(Action::Liquidate(LiquidationTx {
                keeper_index: self.index,
                keeper: self.account,
                account,
                scope,
                bid_gwei: bid,
                gas: self.params.gas_per_liquidation,
            }));
        }
        if ctx.venue.flagged().next().is_some() {
            ctx.out
                .push(Action::WakeAt(ctx.now_ms + self.params.poll_ms.max(1)));
        }
    }

    /// The chain included (or the venue received) one of this keeper's transactions.
    pub fn on_landed(&mut self, tx: &LiquidationTx, gas_usd: f64, ok: bool) {
        self.in_flight.remove(&(tx.account, tx.scope));
        self.gas_spent_usd += gas_usd;
        if ok {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
    }
}
