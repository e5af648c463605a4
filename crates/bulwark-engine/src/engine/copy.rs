//! Copying an engine. The forward simulations of the lab's risk controller copy the live
//! engine once per path (hundreds every few simulated minutes); a fresh copy allocates every
//! account's vectors and the copy's drop frees them again, which costs more than the path's
//! price steps. `clone_from` copies into an engine that already exists and reuses its
//! allocations (each account's position and order vectors are copied in place), so a forecast
//! keeps one scratch engine and refills it per path.
//!
//! Both functions name every field, without `..`: a field added to `Engine` is a compile
//! error here until it is copied.

use super::Engine;

impl Clone for Engine {
    // Every field by `.clone()`, Copy or not: the list stays right if a field's type changes.
    #[allow(clippy::clone_on_copy)]
    fn clone(&self) -> Engine {
        Engine {
            config: self.config.clone(),
            markets: self.markets.clone(),
            accounts: self.accounts.clone(),
            fee_pool_usd: self.fee_pool_usd.clone(),
            deposited_usd: self.deposited_usd.clone(),
            withdrawn_usd: self.withdrawn_usd.clone(),
            last_ms: self.last_ms.clone(),
            next_order_seq: self.next_order_seq.clone(),
            commands_applied: self.commands_applied.clone(),
            flags: self.flags.clone(),
            events: self.events.clone(),
            parts: self.parts.clone(),
            steps: self.steps.clone(),
            cancel_targets: self.cancel_targets.clone(),
            recheck_hits: self.recheck_hits.clone(),
            drafts: self.drafts.clone(),
            plan_end: self.plan_end.clone(),
            liquidating: self.liquidating.clone(),
            liquidating_pool: self.liquidating_pool.clone(),
            negative_pools: self.negative_pools.clone(),
            waterfall_pending: self.waterfall_pending.clone(),
            realized_deficits: self.realized_deficits.clone(),
            bankrupt_close: self.bankrupt_close.clone(),
            adl_cache: self.adl_cache.clone(),
            now_ms: self.now_ms.clone(),
            insurance_usd: self.insurance_usd.clone(),
            bad_debt_usd: self.bad_debt_usd.clone(),
            vault: self.vault.clone(),
            venue: self.venue.clone(),
            genesis_open: self.genesis_open.clone(),
            genesis_cost_usd: self.genesis_cost_usd.clone(),
            invariant_check_interval: self.invariant_check_interval.clone(),
            index_rechecks: self.index_rechecks.clone(),
            journal: self.journal.clone(),
            hooks: self.hooks.clone(),
        }
    }

    fn clone_from(&mut self, src: &Engine) {
        let Engine {
            config,
            markets,
            accounts,
            fee_pool_usd,
            deposited_usd,
            withdrawn_usd,
            last_ms,
            next_order_seq,
            commands_applied,
            flags,
            events,
            parts,
            steps,
            cancel_targets,
            recheck_hits,
            drafts,
            plan_end,
            liquidating,
            liquidating_pool,
            negative_pools,
            waterfall_pending,
            realized_deficits,
            bankrupt_close,
            adl_cache,
            now_ms,
            insurance_usd,
            bad_debt_usd,
            vault,
            venue,
            genesis_open,
            genesis_cost_usd,
            invariant_check_interval,
            index_rechecks,
            journal,
            hooks,
        } = self;
        config.clone_from(&src.config);
        markets.clone_from(&src.markets);
        accounts.clone_from(&src.accounts);
        fee_pool_usd.clone_from(&src.fee_pool_usd);
        deposited_usd.clone_from(&src.deposited_usd);
        withdrawn_usd.clone_from(&src.withdrawn_usd);
        last_ms.clone_from(&src.last_ms);
        next_order_seq.clone_from(&src.next_order_seq);
        commands_applied.clone_from(&src.commands_applied);
        flags.clone_from(&src.flags);
        events.clone_from(&src.events);
        parts.clone_from(&src.parts);
        steps.clone_from(&src.steps);
        cancel_targets.clone_from(&src.cancel_targets);
        recheck_hits.clone_from(&src.recheck_hits);
        drafts.clone_from(&src.drafts);
        plan_end.clone_from(&src.plan_end);
        liquidating.clone_from(&src.liquidating);
        liquidating_pool.clone_from(&src.liquidating_pool);
        negative_pools.clone_from(&src.negative_pools);
        waterfall_pending.clone_from(&src.waterfall_pending);
        realized_deficits.clone_from(&src.realized_deficits);
        bankrupt_close.clone_from(&src.bankrupt_close);
        adl_cache.clone_from(&src.adl_cache);
        now_ms.clone_from(&src.now_ms);
        insurance_usd.clone_from(&src.insurance_usd);
        bad_debt_usd.clone_from(&src.bad_debt_usd);
        vault.clone_from(&src.vault);
        venue.clone_from(&src.venue);
        genesis_open.clone_from(&src.genesis_open);
        genesis_cost_usd.clone_from(&src.genesis_cost_usd);
        invariant_check_interval.clone_from(&src.invariant_check_interval);
        index_rechecks.clone_from(&src.index_rechecks);
        journal.clone_from(&src.journal);
        hooks.clone_from(&src.hooks);
    }
}

#[cfg(test)]
mod tests {
    use crate::{state_hash, AccountId, Command, Engine, EngineConfig, TimestampMs, Usd};

    fn deposit(e: &mut Engine, account: u32, usd: i64) {
        let cmd = Command::Deposit {
            account: AccountId(account),
            amount_usd: Usd::from_micros(usd * 1_000_000),
        };
        e.apply(&cmd, TimestampMs(1)).expect("a deposit"); // ok: a test
    }

    /// An engine with more accounts than the source, refilled from it, is the source: the
    /// extra accounts go, the shared ones take the source's values, and a fresh engine
    /// refilled from a busy one is the busy one.
    #[test]
    fn clone_from_makes_a_copy_whatever_was_there() {
        let mut small = Engine::new(EngineConfig::default());
        deposit(&mut small, 0, 5);
        let mut big = Engine::new(EngineConfig::default());
        for a in 0..4 {
            deposit(&mut big, a, 100 + i64::from(a));
        }
        assert_ne!(state_hash(&small), state_hash(&big));
        let mut target = big.clone();
        target.clone_from(&small);
        assert_eq!(state_hash(&target), state_hash(&small));
        assert_eq!(target.accounts().len(), small.accounts().len());
        let mut fresh = Engine::new(EngineConfig::default());
        fresh.clone_from(&big);
        assert_eq!(state_hash(&fresh), state_hash(&big));
        // Both go on alike.
        deposit(&mut fresh, 7, 1);
        deposit(&mut big, 7, 1);
        assert_eq!(state_hash(&fresh), state_hash(&big));
    }
}
