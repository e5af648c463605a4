//! The requote (`Command::Requote`): a market maker's cancel of its resting orders in a market
//! and its new ladder there, in one command, part by part what its commands (`CancelAll`, then
//! one `PlaceOrder` per order) do when applied one after another at the same time.
//!
//! Each part is a transaction of its own, as each of those commands would be. The order path
//! decides every typed rejection before it changes anything (plan on copies, then commit), so
//! a refused order leaves the state as the parts before it left it: the requote records the
//! refusal and goes on with the next order. Each order starts a new undo journal (a savepoint:
//! the parts before it are kept whatever it does), so should its commit fail (an engine bug,
//! `Reject::Internal`), only that part is rolled back and recorded as refused, exactly as the
//! command alone would have been. What `apply` does between two commands is done between two
//! parts (`close_part`): the deficits a part realized are booked, the ADL rankings it made
//! are dropped. The cancel is the first part; a typed refusal of it refuses the whole requote
//! before anything changed (its checks, the market and then the account, are the first ones
//! of every order too, which would each be refused for the same reason).

use super::*;
use crate::command::Requote;

/// What one part of the last command did: a requote's cancel (the first part) and each of its
/// orders in turn ([`Engine::last_parts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Where the part's events end in [`Engine::last_events`]; they begin where the previous
    /// part's end (the first part's at 0). A refused part has none.
    pub events_end: usize,
    /// Why the engine refused the part, as it would have refused the command sent alone; the
    /// state is then as the parts before it left it.
    pub refused: Option<Reject>,
}

impl Engine {
    /// Cancel, then place the ladder, each order on its own (see the module's doc).
    pub(super) fn requote(&mut self, r: &Requote) -> Result<(), Reject> {
        if r.orders.len() > limits::MAX_REQUOTE_ORDERS {
            return Err(Reject::TooManyQuoteOrders {
                orders: r.orders.len(),
                limit: limits::MAX_REQUOTE_ORDERS,
            });
        }
        // The cancel, in the journal `apply` began.
        self.part("cancel_all", |e| e.cancel_all(r.account, Some(r.market)))?;
        for q in &r.orders {
            let o = q.place(r.account, r.market);
            self.begin_journal();
            if let Err(refused) = self.part("place_order", |e| e.place_order(&o)) {
                if matches!(refused, Reject::Internal { .. }) {
                    // Only in a what-if session (see `part`): the requote fails whole.
                    return Err(refused);
                }
                self.parts.push(Part {
                    events_end: self.events.len(),
                    refused: Some(refused),
                });
            }
        }
        Ok(())
    }

    /// Apply one part in the journal begun for it and close it as `apply` closes a command:
    /// the deficits it realized booked, the ADL rankings it made dropped (the next part starts
    /// without them, as the next command would), its events' end recorded. A commit that
    /// failed (`Reject::Internal`) is rolled back, its part recorded as refused; a typed
    /// refusal, decided before anything changed, is returned (named for `name`).
    #[inline(always)]
    fn part(
        &mut self,
        name: &'static str,
        apply: impl FnOnce(&mut Engine) -> Result<(), Reject>,
    ) -> Result<(), Reject> {
        let start = self.events.len();
        let result = apply(self).and_then(|()| {
            // Nothing to book (the common case) is one test here, not a call.
            if !self.realized_deficits.is_empty() || !self.waterfall_pending.is_empty() {
                self.book_realized_deficits()?;
            }
            Ok(())
        });
        self.adl_cache.clear();
        match result {
            Ok(()) => {
                self.parts.push(Part {
                    events_end: self.events.len(),
                    refused: None,
                });
                Ok(())
            }
            Err(e @ Reject::Internal { .. }) if self.journal.in_session() => {
                // In a what-if session the rollback takes back the whole session: the parts
                // after this one must not run on what it restored, so the requote fails.
                Err(e.in_command(name))
            }
            Err(e @ Reject::Internal { .. }) => {
                self.roll_back_part(start);
                #[cfg(debug_assertions)]
                if let Err(breach) = self.check_invariants() {
                    let msg =
                        format!("invariant broken by the rollback of a requote's {name}: {breach}");
                    panic!("{msg}"); // ok: debug builds only; a rollback that broke state is a bug
                }
                self.parts.push(Part {
                    events_end: start,
                    refused: Some(e.in_command(name)),
                });
                Ok(())
            }
            Err(e) => {
                debug_assert!(
                    self.events.len() == start && self.journal.is_clean(),
                    "a refused part of a requote changed state"
                );
                debug_assert!(self.realized_deficits.is_empty());
                Err(e.in_command(name))
            }
        }
    }

    /// Take back the part whose events begin at `start`: its journal undone (the state as the
    /// parts before it left it), its events dropped.
    #[cold]
    fn roll_back_part(&mut self, start: usize) {
        let mut events = std::mem::take(&mut self.events);
        let parts = std::mem::take(&mut self.parts);
        self.roll_back();
        events.truncate(start);
        self.events = events;
        self.parts = parts;
    }

    /// The parts of the last applied command that were applied (each counts as one command in
    /// [`Engine::commands_applied`]): one for every command but a requote.
    pub(super) fn parts_applied(&self, cmd: &Command) -> u64 {
        match cmd {
            Command::Requote(_) => self.parts.iter().filter(|p| p.refused.is_none()).count() as u64,
            _ => 1,
        }
    }
}
