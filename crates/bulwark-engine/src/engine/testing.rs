//! Test hooks (the `testing` feature, which only this crate's own tests turn on): a fault
//! injected into the commit phase's arithmetic, so that the undo journal's rollback can be
//! tested on every path, and a field-by-field comparison of two engines (state that the hash
//! leaves out included: the recheck index, cached epochs, dead book slots, free lists).
//!
//! `bounded` is a free function, so the armed fault lives in thread-locals (a command runs on
//! one thread); a global count of armed threads keeps the disarmed check to one load.

use super::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads with an armed command: while zero, `bounded` pays one load and one branch.
static ARMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The step of the armed command that fails (0: nothing armed on this thread).
    static FAIL_AT: Cell<u64> = const { Cell::new(0) };
    /// `bounded` steps the armed command has made so far.
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// Whether the `bounded` call being made is the one to fail.
#[inline(always)]
pub(super) fn fault_due() -> bool {
    ARMED.load(Ordering::Relaxed) != 0 && count_step()
}

#[cold]
#[inline(never)]
fn count_step() -> bool {
    let at = FAIL_AT.get();
    if at == 0 {
        return false;
    }
    let n = STEPS.get() + 1;
    STEPS.set(n);
    n == at
}

impl Engine {
    /// Test hook: make the `n`-th commit-phase arithmetic step (`bounded` call) of the next
    /// command fail as an overflow (`n` >= 1). With `u64::MAX` nothing fails and the steps are
    /// only counted ([`Engine::commit_arithmetic_steps`]). The rollback is then checked against
    /// a copy of the engine taken before the command (it panics if they differ).
    #[doc(hidden)]
    pub fn fail_commit_arithmetic_at(&mut self, n: u64) {
        self.hooks.fail_at = Some(n.max(1));
    }

    /// Test hook: plan every order as one that may match, so that the shortcut for an order
    /// that can only rest (`commit_resting`) can be compared with the full path.
    #[doc(hidden)]
    pub fn plan_every_order(&mut self) {
        self.hooks.plan_every_order = true;
    }

    /// Test hook: the `bounded` steps the last armed command made (up to the failing one).
    #[doc(hidden)]
    pub fn commit_arithmetic_steps(&self) -> u64 {
        self.hooks.last_steps
    }

    /// Arm the fault set for this command (there is one); returns the engine as it is
    /// before it.
    #[cold]
    pub(super) fn arm_fault(&mut self) -> Box<Engine> {
        let n = self.hooks.fail_at.take().unwrap_or(u64::MAX);
        self.hooks.last_steps = 0;
        self.hooks.armed_in_session = self.in_what_if();
        let before = Box::new(self.clone());
        FAIL_AT.set(n);
        STEPS.set(0);
        ARMED.fetch_add(1, Ordering::Relaxed);
        before
    }

    /// Disarm after the command and, if it was refused, check the rollback.
    pub(super) fn disarm_fault(
        &mut self,
        armed: Option<Box<Engine>>,
        cmd: &Command,
        result: &Result<(), Reject>,
    ) {
        let Some(before) = armed else {
            return;
        };
        self.hooks.last_steps = STEPS.get();
        FAIL_AT.set(0);
        ARMED.fetch_sub(1, Ordering::Relaxed);
        if result.is_err() && !self.hooks.armed_in_session {
            self.verify_rollback(&before, cmd);
        }
    }

    /// The pair assertion of the journal: after a rollback, the whole state (hash and
    /// everything the hash leaves out) equals the copy taken before the command.
    fn verify_rollback(&self, before: &Engine, cmd: &Command) {
        if let Some(d) = self.state_diff(before) {
            // `testing` builds only; a rollback that misses a change is an engine bug.
            panic!("rollback of {} left the state changed: {d}", cmd.name()); // ok: testing
        }
        assert_eq!(
            crate::hash::state_hash(self),
            crate::hash::state_hash(before),
            "the rollback of {} changed the state hash",
            cmd.name()
        );
    }

    /// Test hook: the first difference between two engines' states, every field compared
    /// (derived state and caches included, scratch of a command excluded); `None` if equal.
    #[doc(hidden)]
    pub fn state_diff(&self, other: &Engine) -> Option<String> {
        // Every field is placed: a new one is a compile error until it is.
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
            liquidating,
            liquidating_pool,
            negative_pools,
            waterfall_pending,
            realized_deficits,
            bankrupt_close,
            insurance_usd,
            bad_debt_usd,
            vault,
            venue,
            invariant_check_interval,
            index_rechecks,
            genesis_open,
            genesis_cost_usd,
            // Scratch of a command, rebuilt by the next one.
            now_ms: _,
            events: _,
            parts: _,
            steps: _,
            cancel_targets: _,
            recheck_hits: _,
            drafts: _,
            plan_end: _,
            adl_cache: _,
            journal: _,
            hooks: _,
        } = self;
        macro_rules! same {
            ($field:ident) => {
                if *$field != other.$field {
                    return Some(format!(
                        "{}: {:?} against {:?}",
                        stringify!($field),
                        $field,
                        other.$field
                    ));
                }
            };
        }
        same!(config);
        same!(fee_pool_usd);
        same!(deposited_usd);
        same!(withdrawn_usd);
        same!(last_ms);
        same!(next_order_seq);
        same!(commands_applied);
        same!(flags);
        same!(liquidating);
        same!(liquidating_pool);
        same!(negative_pools);
        same!(waterfall_pending);
        same!(realized_deficits);
        same!(bankrupt_close);
        same!(insurance_usd);
        same!(bad_debt_usd);
        same!(venue);
        same!(invariant_check_interval);
        same!(index_rechecks);
        same!(genesis_open);
        same!(genesis_cost_usd);
        if vault != &other.vault {
            return Some(format!("vault: {vault:?} against {:?}", other.vault));
        }
        if accounts.len() != other.accounts.len() {
            let (n, m) = (accounts.len(), other.accounts.len());
            return Some(format!("{n} accounts against {m}"));
        }
        for (i, (a, b)) in accounts.iter().zip(&other.accounts).enumerate() {
            if a != b {
                return Some(format!("account {i}: {a:?} against {b:?}"));
            }
        }
        if markets.len() != other.markets.len() {
            let (n, m) = (markets.len(), other.markets.len());
            return Some(format!("{n} markets against {m}"));
        }
        for (a, b) in markets.iter().zip(&other.markets) {
            if let Some(d) = market_diff(a, b) {
                return Some(format!("market {:?}: {d}", a.id));
            }
        }
        None
    }
}

/// The first field in which two markets differ.
fn market_diff(a: &Market, b: &Market) -> Option<String> {
    let Market {
        id,
        params,
        book,
        mark,
        trade_ema,
        trade_ema_at,
        defence,
        open_interest,
        next_funding_ms,
        premium_sum_ppm,
        premium_samples,
        funding_index,
        loss_index,
        index_epoch,
        funding_clearing_usd,
        loss_clearing_usd,
        watch_down,
        watch_up,
        shift_down,
        shift_up,
        watch_always,
    } = a;
    macro_rules! same {
        ($field:ident) => {
            if *$field != b.$field {
                return Some(format!(
                    "{}: {:?} against {:?}",
                    stringify!($field),
                    $field,
                    b.$field
                ));
            }
        };
    }
    same!(id);
    same!(params);
    same!(mark);
    same!(trade_ema);
    same!(trade_ema_at);
    same!(defence);
    same!(open_interest);
    same!(next_funding_ms);
    same!(premium_sum_ppm);
    same!(premium_samples);
    same!(funding_index);
    same!(loss_index);
    same!(index_epoch);
    same!(funding_clearing_usd);
    same!(loss_clearing_usd);
    same!(watch_down);
    same!(watch_up);
    same!(shift_down);
    same!(shift_up);
    same!(watch_always);
    if *book != b.book {
        return Some(format!("book: {book:?} against {:?}", b.book));
    }
    None
}
