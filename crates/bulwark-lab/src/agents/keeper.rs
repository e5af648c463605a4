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
//! - it bids from the value at stake: its expected reward for the liquidation
//!   ([`expected_reward_usd`]: its share of the penalty on the notional the engine will close,
//!   estimated from the account's public health and the market's published terms) against the
//!   gas cost (`gas_per_liquidation x gas price x ETH price`). It spends at most its own share
//!   `reward_spend_share` of the reward on gas, and no transaction may cost more than the gas
//!   budget it has left ([`max_bid_gwei`]); within that it bids the chain's going gas price
//!   times its own multiplier (priority fees). A liquidation whose cap is below the going price
//!   is not worth sending: the keeper counts it as priced out and looks again at its next poll.
//!   So under congestion small and nearly bankrupt accounts wait first, and keeper failure grows
//!   with the gas level instead of switching on at one keeper's fixed cap. A transaction costs
//!   gas whether or not the liquidation succeeds (another keeper may have been first); a keeper
//!   whose gas budget is spent stops.
//! - the first `venue_count` keepers are the venue's own bot (venues run one so that accounts
//!   nobody profits from, those already under water, still reach the loss waterfall): it bids
//!   the going price times its multiplier for every flagged account, limited by its gas budget
//!   only.

use std::collections::BTreeMap;

use bulwark_engine::{AccountId, Command, Scope};
use rand_chacha::ChaCha8Rng;

use super::{draw_lognormal, Action, Ctx, LiquidationTx};
use crate::scenario::KeeperParams;
use crate::venue::{usd_from_f64, LiquidationTerms};

/// Most liquidations one keeper sends per wake-up: a real bot's batch.
pub const MAX_TX_PER_WAKE: usize = 16;

#[derive(Clone, Debug)]
pub struct Keeper {
    pub index: u32,
    pub account: AccountId,
    pub params: KeeperParams,
    pub bid_multiplier: f64,
    /// Share of a liquidation's expected reward this keeper will spend on gas.
    pub reward_spend_share: f64,
    /// The venue's own keeper: liquidates whatever is flagged, within its budget.
    pub venue_owned: bool,
    /// Liquidations in flight: (account, scope) -> notional USD.
    pub in_flight: BTreeMap<(AccountId, Scope), f64>,
    pub gas_spent_usd: f64,
    pub sent: u32,
    pub succeeded: u32,
    pub failed: u32,
    /// Liquidations not sent because their value could not pay the going gas price.
    pub priced_out: u32,
}

/// What a keeper expects to earn from liquidating a pool with public `equity_usd` and
/// `maintenance_usd` on `notional_usd` of position, USD. The engine closes
/// `x = (k M - E) / (k f - penalty - fee)` of notional (all of it when that is more, or when
/// closing gains no health: `k f <= penalty + fee`), with `k` the end multiplier and `f` the
/// maintenance fraction; the penalty `penalty x x` is capped at the equity left above the
/// remaining maintenance after the close, and the keeper gets `keeper_reward_share` of it.
/// A pool already under water pays nothing.
pub fn expected_reward_usd(
    equity_usd: f64,
    maintenance_usd: f64,
    notional_usd: f64,
    t: &LiquidationTerms,
) -> f64 {
    if equity_usd <= 0.0 || notional_usd <= 0.0 {
        return 0.0;
    }
    let gain = t.end_multiplier * t.maintenance_frac - t.penalty - t.taker_fee;
    let closed = if gain <= 0.0 {
        notional_usd
    } else {
        ((t.end_multiplier * maintenance_usd - equity_usd) / gain).clamp(0.0, notional_usd)
    };
    let equity_after = equity_usd - t.taker_fee * closed;
    let maintenance_after = maintenance_usd * (1.0 - closed / notional_usd);
    let penalty = (t.penalty * closed).min((equity_after - maintenance_after).max(0.0));
    t.keeper_reward_share * penalty
}

/// The most a keeper bids for a transaction of `gas` units, gwei: `spend_share` of the reward,
/// and never more than the budget left, at `eth_usd` per ETH.
pub fn max_bid_gwei(
    reward_usd: f64,
    spend_share: f64,
    budget_left_usd: f64,
    gas: u64,
    eth_usd: f64,
) -> f64 {
    let usd_per_gwei = gas as f64 * 1e-9 * eth_usd;
    if usd_per_gwei <= 0.0 {
        return 0.0;
    }
    (spend_share * reward_usd).min(budget_left_usd).max(0.0) / usd_per_gwei
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
            reward_spend_share: draw_lognormal(rng, params.reward_spend_share).min(1.0),
            venue_owned: index < params.venue_count,
            in_flight: BTreeMap::new(),
            gas_spent_usd: 0.0,
            sent: 0,
            succeeded: 0,
            failed: 0,
            priced_out: 0,
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
        let terms = ctx.venue.liquidation_terms();
        let mut targets: Vec<(f64, AccountId, Scope, f64, f64)> = Vec::new();
        for ((account, scope), _) in ctx.venue.flagged() {
            if *account == self.account || self.in_flight.contains_key(&(*account, *scope)) {
                continue;
            }
            let Some(h) = ctx.venue.public_health(*account, *scope) else {
                continue;
            };
            let (equity, maintenance) = (
                h.equity_usd.to_f64_lossy(),
                h.maintenance_usd.to_f64_lossy(),
            );
            let shortfall = (maintenance - equity).max(0.0);
            // Maintenance is a known fraction of notional at small size: a keeper's estimate.
            let notional = maintenance / terms.maintenance_frac;
            let reward = expected_reward_usd(equity, maintenance, notional, &terms);
            targets.push((shortfall, *account, *scope, notional, reward));
        }
        // Worst shortfall first; ties by account so the order never depends on float noise.
        targets.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let limit_usd = self.params.capital_usd * self.params.notional_per_capital;
        let mut used: f64 = self.in_flight.values().sum();
        let budget_left = self.params.gas_budget_usd - self.gas_spent_usd;
        let gas = self.params.gas_per_liquidation;
        let priority = ctx.going_gas_gwei * self.bid_multiplier;
        for (_, account, scope, notional, reward) in targets.into_iter().take(MAX_TX_PER_WAKE) {
            if used > 0.0 && used + notional > limit_usd {
                break;
            }
            let cap = if self.venue_owned {
                max_bid_gwei(budget_left, 1.0, budget_left, gas, ctx.eth_usd)
            } else {
                max_bid_gwei(
                    reward,
                    self.reward_spend_share,
                    budget_left,
                    gas,
                    ctx.eth_usd,
                )
            };
            if cap < ctx.going_gas_gwei {
                self.priced_out += 1;
                continue;
            }
            used += notional;
            self.in_flight.insert((account, scope), notional);
            self.sent += 1;
            ctx.out.push(Action::Liquidate(LiquidationTx {
                keeper_index: self.index,
                keeper: self.account,
                account,
                scope,
                bid_gwei: priority.min(cap),
                gas,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's default terms: maintenance 0.5%, end multiplier 1.5, penalty 1%, taker fee
    /// 0.05%, keeper share 20%.
    const TERMS: LiquidationTerms = LiquidationTerms {
        maintenance_frac: 0.005,
        end_multiplier: 1.5,
        penalty: 0.01,
        taker_fee: 0.0005,
        keeper_reward_share: 0.2,
    };

    #[test]
    fn a_keeper_bids_up_to_its_share_of_the_reward() {
        // 100,000 USD of notional, maintenance 500, equity 400. Closing gains no health at
        // these terms (1.5 x 0.5% < 1% + 0.05%), so the engine closes it all: the fee takes 50,
        // the penalty min(1% x 100,000, 350 left above a zero requirement) = 350, the keeper
        // 20% of it: 70 USD.
        let reward = expected_reward_usd(400.0, 500.0, 100_000.0, &TERMS);
        assert!((reward - 70.0).abs() < 1e-9, "{reward}");
        // Spending half of it on 400,000 gas at 150 USD/ETH (0.06 USD a gwei): 583.3 gwei.
        let cap = max_bid_gwei(reward, 0.5, 20_000.0, 400_000, 150.0);
        assert!((cap - 35.0 / 0.06).abs() < 1e-6, "{cap}");
        // With 3 USD of budget left: 50 gwei.
        let cap = max_bid_gwei(reward, 0.5, 3.0, 400_000, 150.0);
        assert!((cap - 50.0).abs() < 1e-9, "{cap}");
        // A tenth of the notional is worth a tenth: 58.3 gwei, below a 80 gwei going price.
        let small = expected_reward_usd(40.0, 50.0, 10_000.0, &TERMS);
        let cap = max_bid_gwei(small, 0.5, 20_000.0, 400_000, 150.0);
        assert!((cap - 3.5 / 0.06).abs() < 1e-6, "{cap}");
    }

    #[test]
    fn a_partial_liquidation_pays_the_penalty_on_the_slice() {
        // End multiplier 3 and penalty 0.2%: closing gains 3 x 0.5% - 0.2% - 0.05% = 1.25% of
        // health per USD, so x = (3 x 500 - 400) / 0.0125 = 88,000 USD is closed. After it the
        // equity is 400 - 44 = 356 against 500 x 12% = 60 of maintenance; the penalty is
        // 0.2% x 88,000 = 176 (below the 296 surplus); the keeper's 20% is 35.2 USD.
        let terms = LiquidationTerms {
            end_multiplier: 3.0,
            penalty: 0.002,
            ..TERMS
        };
        let reward = expected_reward_usd(400.0, 500.0, 100_000.0, &terms);
        assert!((reward - 35.2).abs() < 1e-9, "{reward}");
    }

    #[test]
    fn an_account_under_water_pays_no_keeper() {
        assert_eq!(expected_reward_usd(-10.0, 500.0, 100_000.0, &TERMS), 0.0);
        assert_eq!(max_bid_gwei(0.0, 0.5, 20_000.0, 400_000, 150.0), 0.0);
    }
}
