//! The undo journal: what `Engine::apply` needs to take a command back.
//!
//! A command is planned on copies and then committed; the commit's arithmetic goes through
//! `bounded`, which the input bounds make infallible. Should one fail anyway (an engine bug),
//! the command is rolled back to exactly the state before it and rejected with
//! `Reject::Internal`. To that end every change of the commit phase is recorded as it happens,
//! by the few functions in this file through which state changes (the scalars excepted: a
//! copy taken at the start covers them):
//!
//! - **Scalars** (fee pool, insurance fund, bad debt, deposits and withdrawals, the order
//!   sequence, the negative-pool count, the recheck statistic) are copied at the start of
//!   `apply`. `last_ms` and `commands_applied` change only once a command has succeeded.
//! - **Accounts.** `Engine::acct_mut` is the one general way to change an account: the first
//!   time a command touches it, it copies the account into the journal (a stamp per account,
//!   the command's epoch, says "already copied": a later touch costs one comparison).
//!   The copy leaves out the order list, which can be long (a market maker's) while a cancel or
//!   a fill changes one entry of it: every change to the list is recorded on its own, copy or
//!   not. The order path's frequent changes have cheap records of their own instead of a copy:
//!   writing a drafted position and pool back (`write_position`, which keeps the replaced
//!   position, made only while the account has no copy yet), resting an order (the book's
//!   records and `list_order`), an order leaving (`order_gone`: one small record for the book,
//!   the account's list, the place in the book of the entry that moved in the list, and for a
//!   cancel the position's resting total; the order itself stays in its dead slot, which an
//!   order rested later in the same command keeps first, `Undo::DeadSlot`) and removing an
//!   idle position (`remove_position`). A record that names a position by its index is valid
//!   only against the list as it left it: `write_position` and `remove_position` record only
//!   while the account has no copy, and a cancel's resting total is put back only while no
//!   copy older than it is still to be restored (see `Tables::undo_order_gone`).
//!   Accounts created by the command are not recorded: the table is truncated back. The
//!   recheck registrations (`cross_watch`, `iso_watch`) are derived and change on every
//!   recheck; they are left out of the copy and recorded by `replace_registration`.
//! - **Markets**: the small fields (mark, oracle, EMA, open interest, funding state, indexes and
//!   their epoch, clearing balances, trigger shifts) are copied on first touch through
//!   `Engine::market_mut`; the book, the recheck sets and the parameters have records of their
//!   own. Markets created by the command are truncated back.
//! - **Maps, sets and the rest**: each flag change, each change to the deferred-bankruptcy
//!   set, to the venue's parameters and to the vault's share supply, share, request and
//!   inventory tables records what it replaced. In a what-if session, past a few records the
//!   flag map is copied whole instead (`Undo::FlagsCopy`), as a recheck set is past a few
//!   dozen (`Undo::WatchCopy`): a forward path flips flags thousands of times.
//!
//! Records are undone newest first, so each finds its object exactly as its change left it:
//! an account's copy and its later (or earlier) records interleave correctly, and so do book
//! and account records (one log holds both: `OrderGone` changes both). The copies of market
//! fields live in a list of their own (disjoint from every other record).
//!
//! On success the journal is reset at the next command: its vectors keep their capacity, and
//! account copies reuse the allocations of earlier ones, so no command allocates for it once
//! warm. The cost is a few stores per change and one copy per account and market touched.

use super::*;
use crate::account::{Position, WatchReg};
use crate::book::{Book, BookUndo, NewOrder, Order, Side, TakenOut};
use crate::command::MarketParams;
use crate::defence::DefenceState;
use crate::trigger_set::TriggerSet;
use bulwark_core::{OrderId, Price, Qty};

/// Spare account buffers kept between commands (their allocations are reused by later copies);
/// a command that touched more leaves the rest to be freed.
const MAX_SPARE_ACCOUNTS: usize = 1_024;

/// The engine's scalars that a command may change, copied at the start of every command.
#[derive(Clone, Copy, Debug, Default)]
struct Scalars {
    fee_pool_usd: Usd,
    deposited_usd: Usd,
    withdrawn_usd: Usd,
    next_order_seq: u64,
    negative_pools: usize,
    insurance_usd: Usd,
    bad_debt_usd: Usd,
    index_rechecks: u64,
    genesis_open: bool,
    genesis_cost_usd: Usd,
}

/// A market's small fields, copied on first touch.
#[derive(Clone, Copy, Debug)]
struct MarketScalars {
    mark: Price,
    trade_ema: Option<Price>,
    trade_ema_at: TimestampMs,
    open_interest: Qty,
    next_funding_ms: u64,
    premium_sum_ppm: i64,
    premium_samples: u32,
    funding_index: [i128; 2],
    loss_index: [i128; 2],
    index_epoch: u64,
    funding_clearing_usd: Usd,
    loss_clearing_usd: Usd,
    shift_down: [i128; 2],
    shift_up: [i128; 2],
}

impl MarketScalars {
    /// Every field of a market is either copied here or journaled elsewhere: the exhaustive
    /// pattern makes a new field a compile error until it is placed.
    #[inline]
    fn of(m: &Market) -> MarketScalars {
        let Market {
            id: _,           // never changes
            params: _,       // Undo::Params
            book: _,         // Undo::Book
            watch_down: _,   // Undo::Watch
            watch_up: _,     // Undo::Watch
            watch_always: _, // Undo::Always
            mark,
            trade_ema,
            trade_ema_at,
            defence: _, // Undo::Defence
            open_interest,
            next_funding_ms,
            premium_sum_ppm,
            premium_samples,
            funding_index,
            loss_index,
            index_epoch,
            funding_clearing_usd,
            loss_clearing_usd,
            shift_down,
            shift_up,
        } = m;
        MarketScalars {
            mark: *mark,
            trade_ema: *trade_ema,
            trade_ema_at: *trade_ema_at,
            open_interest: *open_interest,
            next_funding_ms: *next_funding_ms,
            premium_sum_ppm: *premium_sum_ppm,
            premium_samples: *premium_samples,
            funding_index: *funding_index,
            loss_index: *loss_index,
            index_epoch: *index_epoch,
            funding_clearing_usd: *funding_clearing_usd,
            loss_clearing_usd: *loss_clearing_usd,
            shift_down: *shift_down,
            shift_up: *shift_up,
        }
    }

    fn restore(self, m: &mut Market) {
        m.mark = self.mark;
        m.trade_ema = self.trade_ema;
        m.trade_ema_at = self.trade_ema_at;
        m.open_interest = self.open_interest;
        m.next_funding_ms = self.next_funding_ms;
        m.premium_sum_ppm = self.premium_sum_ppm;
        m.premium_samples = self.premium_samples;
        m.funding_index = self.funding_index;
        m.loss_index = self.loss_index;
        m.index_epoch = self.index_epoch;
        m.funding_clearing_usd = self.funding_clearing_usd;
        m.loss_clearing_usd = self.loss_clearing_usd;
        m.shift_down = self.shift_down;
        m.shift_up = self.shift_up;
    }
}

/// Which recheck set of a market a `Watch` record is about (the side of the position).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WatchSet {
    Down(u8),
    Up(u8),
}

/// One change to take back, holding what it replaced.
#[derive(Clone, Copy, Debug)]
enum Undo {
    /// The account's state before its first touch: `Journal::copies[buf]`.
    AccountCopy {
        id: AccountId,
        buf: u32,
    },
    /// A drafted position was written back at `index` (inserted there if `inserted`), and the
    /// pool's collateral; `Journal::positions[payload]` holds what they replaced.
    Position {
        id: AccountId,
        index: u32,
        inserted: bool,
        payload: u32,
    },
    /// A resting order left (a fill took all of it, or a cancel): out of the book of market
    /// `mi` (from the place `at` says; the rest of the order stays in its dead slot, or a
    /// `DeadSlot` record keeps it), and from its account's list (its entry was swap-removed
    /// from its `acct_slot`, the last one moving in). If `unrested`, its lots were also taken
    /// off the resting total of the account's position at `index` (a cancel outside a plan: a
    /// planned one changes the draft, which `Position` records). The index may be stale by
    /// the time this is undone if the account had a copy already: see
    /// `Tables::undo_order_gone`.
    OrderGone {
        mi: u32,
        at: TakenOut,
        unrested: bool,
        index: u32,
    },
    /// An order was rested in `slot` of market `mi`, which an order taken out earlier in the
    /// command may still need: its content was `order`.
    DeadSlot {
        mi: u32,
        slot: u32,
        order: Order,
    },
    /// `qty` lots were added to the resting total on `side` of the position at `index`.
    Rested {
        id: AccountId,
        index: u32,
        side: Side,
        qty: Qty,
    },
    /// The (idle) position at `index` was removed; it was `Journal::positions[payload].0`.
    PositionRemoved {
        id: AccountId,
        index: u32,
        payload: u32,
    },
    /// An order was appended to the account's list.
    OrderListed {
        id: AccountId,
    },
    /// A change to the book of market `mi`, but for an order leaving it (`OrderGone`).
    Book {
        mi: u32,
        u: BookUndo,
    },
    /// A what-if session copied a recheck set whole: `Journal::watch_copies[at]` holds it as
    /// it was before the change that copied it; later changes to it have no records.
    WatchCopy {
        at: u32,
    },
    /// Every resting order of market `mi` was moved by `delta` micro-USD (a what-if session's
    /// depth model): undone by the opposite move.
    BookShift {
        mi: u32,
        delta: i64,
    },
    Flag {
        key: (AccountId, Scope),
        old: Option<Flag>,
    },
    /// A what-if session copied the flag map whole: `Journal::flags_copy` holds it as it was
    /// before the change that copied it; later flag changes have no records.
    FlagsCopy,
    /// `waterfall_pending` held the key (`present`) or not before the change.
    Pending {
        key: (AccountId, Scope),
        present: bool,
    },
    /// A key was inserted into (or removed from) one of a market's trigger sets.
    Watch {
        mi: u32,
        set: WatchSet,
        inserted: bool,
        key: (i128, AccountId, Scope),
    },
    Always {
        mi: u32,
        inserted: bool,
        key: (AccountId, Scope),
    },
    /// An account's cross registration was `Journal::regs[old]`.
    CrossReg {
        id: AccountId,
        old: u32,
    },
    /// An account's isolated registration `k` was `Journal::regs[old]` (replaced in place).
    IsoReplaced {
        id: AccountId,
        k: u32,
        old: u32,
    },
    /// An isolated registration was pushed.
    IsoPushed {
        id: AccountId,
    },
    /// Registration `k`, for `market`, was swap-removed; it was `Journal::regs[old]`.
    IsoRemoved {
        id: AccountId,
        k: u32,
        market: MarketId,
        old: u32,
    },
    /// A market's parameters were `Journal::params[old]`.
    Params {
        mi: u32,
        old: u32,
    },
    /// The market's defence state was `Journal::defences[old]`.
    Defence {
        mi: u32,
        old: u32,
    },
    /// The venue's parameters were `Journal::venues[old]`.
    Venue(u32),
    VaultTotalShares(u64),
    VaultShares {
        lp: AccountId,
        old: Option<u64>,
    },
    VaultRequest {
        lp: AccountId,
        old: Option<WithdrawalRequest>,
    },
    VaultInventory {
        market: MarketId,
        old: Option<VaultInventory>,
    },
}

// Records are moved into the log by value: kept small, and free of anything to drop (so that
// clearing the log costs one store), with larger payloads in vectors of their own. The largest
// carry a resting order whole (`DeadSlot`, and a book's own `Unlink`, which the engine's order
// path does not make: its removals are the small `OrderGone`).
const _: () = assert!(std::mem::size_of::<Undo>() <= 64 && !std::mem::needs_drop::<Undo>());

/// What `Engine::write_position` replaced (of the position: what the write-back compares).
#[derive(Clone, Copy, Debug)]
pub(super) struct Replaced {
    pub qty: Qty,
    pub cost_usd: Usd,
    pub isolated_usd: Usd,
    pub collateral_usd: Usd,
}

/// The undo journal of the command being applied (scratch: reset by every `apply`, never
/// hashed; a clone of the engine starts a fresh one).
#[derive(Debug, Default)]
pub(super) struct Journal {
    /// The command being recorded; an account or market stamped with it is copied already.
    /// Bumped by every `begin_journal`, so a stamp of 0 (never copied) never matches.
    epoch: u64,
    account_stamps: Vec<u64>,
    vault_stamp: u64,
    market_stamps: Vec<u64>,
    /// Likewise for each market's defence state (journaled apart from its small fields).
    defence_stamps: Vec<u64>,
    /// Account copies: the first `n_copies` are this command's; the rest are spare buffers
    /// whose allocations the next copies reuse.
    copies: Vec<Account>,
    n_copies: usize,
    /// The last command that took an order out of a book: an order it rests keeps what the
    /// slot held before (`Undo::DeadSlot`).
    gone_epoch: u64,
    /// Whether the command used the payloads that the next `reset` must drop or trim (account
    /// copies, registrations, parameters): most commands use none, and skip them with one test.
    heavy: bool,
    /// What `Undo::Position` records replaced: (position, pool collateral).
    positions: Vec<(Position, Usd)>,
    /// What registration records replaced.
    regs: Vec<WatchReg>,
    /// What parameter records replaced.
    params: Vec<MarketParams>,
    /// Defence states replaced (`Undo::Defence`): kept apart from a market's small fields,
    /// which every order copies, since only prices and ticks change them.
    defences: Vec<DefenceState>,
    /// What venue-parameter records replaced.
    venues: Vec<VenueParams>,
    markets: Vec<(usize, MarketScalars)>,
    /// Table sizes at the start: rows beyond were created by the command.
    accounts_len: usize,
    markets_len: usize,
    scalars: Scalars,
    /// The records, oldest first (books and accounts alike: a record may change both).
    ops: Vec<Undo>,
    /// An open what-if session (`Engine::begin_what_if`): the journal then runs from the
    /// session's start across commands, and what only a successful command changes is kept
    /// here to be put back.
    session: Option<Session>,
    /// Where the current command's records begin (`ops`, `markets`): 0 outside a session.
    command_start: (usize, usize),
    /// In a session, each recheck set it changed: how many changes it recorded, and past
    /// `WATCH_RECORDS_BEFORE_COPY` the set as it was then, copied whole (an
    /// `Undo::WatchCopy` record puts it back), after which its changes are not recorded. A
    /// forward path that crosses many triggers re-registers pools hundreds of times, and one
    /// copy put back costs less than undoing each change in the set; a path with few
    /// changes is cheaper with the records.
    watch_copies: Vec<WatchCopy>,
    /// In a session, how many flag changes it recorded, and past `FLAG_RECORDS_BEFORE_COPY`
    /// the flag map as it was before the change that took it past, copied whole (an
    /// `Undo::FlagsCopy` record puts it back), after which flag changes are not recorded. The
    /// map holds only the flagged pools (tens, where a forward path flips flags thousands of
    /// times: a pool a capped keeper leaves waiting at maintenance flips at nearly every
    /// price), so one copy put back costs less than undoing each flip in an ordered map.
    flag_records: u32,
    flags_copy: Option<BTreeMap<(AccountId, Scope), Flag>>,
}

/// Changes recorded one by one in a recheck set before a session copies it whole.
const WATCH_RECORDS_BEFORE_COPY: u32 = 64;

/// Flag changes recorded one by one before a session copies the flag map whole.
const FLAG_RECORDS_BEFORE_COPY: u32 = 16;

/// A session's account of one recheck set (`Journal::watch_copies`).
#[derive(Debug)]
struct WatchCopy {
    mi: usize,
    set: WatchSet,
    records: u32,
    copy: Option<TriggerSet>,
}

/// What a what-if session puts back besides its records: the fields that change only once a
/// command has succeeded.
#[derive(Clone, Copy, Debug)]
struct Session {
    last_ms: TimestampMs,
    commands_applied: u64,
}

impl Clone for Journal {
    fn clone(&self) -> Self {
        Journal::default()
    }
}

impl Journal {
    /// Whether the command has recorded no change (a typed rejection must not have).
    pub(super) fn is_clean(&self) -> bool {
        (self.ops.len(), self.markets.len()) == self.command_start
    }

    /// Whether a what-if session is open.
    pub(super) fn in_session(&self) -> bool {
        self.session.is_some()
    }

    /// Before a change to recheck set `set` of market `mi` (`current`) that would make
    /// `records` records: whether the change needs none, because a session copied the set
    /// whole. In a session the set's records are counted, and a change that takes the count
    /// past `WATCH_RECORDS_BEFORE_COPY` copies it
    /// (with a record that puts the copy back, undone in its turn before the older records).
    /// A market the session made is never copied (it is truncated away).
    #[inline]
    fn watch_set_copied(
        &mut self,
        mi: usize,
        set: WatchSet,
        current: &TriggerSet,
        records: u32,
    ) -> bool {
        if self.session.is_none() || mi >= self.markets_len {
            return false;
        }
        let at = match self
            .watch_copies
            .iter()
            .position(|w| w.mi == mi && w.set == set)
        {
            Some(at) => at,
            None => {
                self.watch_copies.push(WatchCopy {
                    mi,
                    set,
                    records: 0,
                    copy: None,
                });
                self.watch_copies.len() - 1
            }
        };
        let w = &mut self.watch_copies[at];
        if w.copy.is_some() {
            return true;
        }
        w.records = w.records.saturating_add(records);
        if w.records <= WATCH_RECORDS_BEFORE_COPY {
            return false;
        }
        w.copy = Some(current.clone());
        self.ops.push(Undo::WatchCopy { at: at as u32 });
        true
    }

    /// Whether a flag change (of `key`, from `old`; the map `current` already holds the new
    /// flag) needs no record, because a session copied the flag map whole. In a session the
    /// flag records are counted, and a change that takes the count past
    /// `FLAG_RECORDS_BEFORE_COPY` copies the map as it was before that change.
    #[inline]
    fn flags_copied(
        &mut self,
        current: &BTreeMap<(AccountId, Scope), Flag>,
        key: (AccountId, Scope),
        old: Option<Flag>,
    ) -> bool {
        if self.session.is_none() {
            return false;
        }
        if self.flags_copy.is_some() {
            return true;
        }
        self.flag_records += 1;
        if self.flag_records <= FLAG_RECORDS_BEFORE_COPY {
            return false;
        }
        let mut copy = current.clone();
        match old {
            Some(f) => copy.insert(key, f),
            None => copy.remove(&key),
        };
        self.flags_copy = Some(copy);
        self.ops.push(Undo::FlagsCopy);
        true
    }

    /// Open a session on a journal `begin_journal` has just reset.
    pub(super) fn open_session(&mut self, last_ms: TimestampMs, commands_applied: u64) {
        debug_assert!(self.ops.is_empty() && self.markets.is_empty());
        self.session = Some(Session {
            last_ms,
            commands_applied,
        });
    }

    /// Whether a change to account `id` must be recorded: it existed before the command and
    /// has no copy yet (a copy restores everything done after it).
    #[inline(always)]
    fn uncopied(&self, id: AccountId) -> bool {
        if id == VAULT {
            return self.vault_stamp != self.epoch;
        }
        let i = id.0 as usize;
        i < self.accounts_len && self.account_stamps.get(i) != Some(&self.epoch)
    }

    /// Copy `a` (account `id`) unless this command has already, or created it.
    #[inline(always)]
    fn save_account(&mut self, id: AccountId, a: &Account) {
        if self.uncopied(id) {
            self.copy_account(id, a);
        }
    }

    /// Stamp the account and copy it into the next buffer, reusing its allocations.
    #[inline(never)]
    fn copy_account(&mut self, id: AccountId, a: &Account) {
        if id == VAULT {
            self.vault_stamp = self.epoch;
        } else {
            let i = id.0 as usize;
            if self.account_stamps.len() < self.accounts_len {
                self.account_stamps.resize(self.accounts_len, 0);
            }
            self.account_stamps[i] = self.epoch;
        }
        if self.n_copies == self.copies.len() {
            self.copies.push(Account::default());
        }
        self.heavy = true;
        copy_account_into(a, &mut self.copies[self.n_copies]);
        let buf = self.n_copies as u32;
        self.n_copies += 1;
        self.ops.push(Undo::AccountCopy { id, buf });
    }

    #[inline(always)]
    fn save_market(&mut self, mi: usize, m: &Market) {
        if self.market_stamps.get(mi) != Some(&self.epoch) && mi < self.markets_len {
            self.copy_market(mi, m);
        }
    }

    #[inline(never)]
    fn copy_market(&mut self, mi: usize, m: &Market) {
        if self.market_stamps.len() < self.markets_len {
            self.market_stamps.resize(self.markets_len, 0);
        }
        self.market_stamps[mi] = self.epoch;
        self.markets.push((mi, MarketScalars::of(m)));
    }
}

/// Copy everything but the order list and the recheck registrations (journaled as operations),
/// reusing the destination's allocations. The exhaustive pattern places every field.
fn copy_account_into(a: &Account, to: &mut Account) {
    let Account {
        active,
        collateral_usd,
        positions,
        orders: _, // Undo::OrderListed, Undo::OrderGone
        adl_haircut_usd,
        socialized_loss_usd,
        cross_watch: _, // Undo::CrossReg
        iso_watch: _,   // Undo::Iso*
    } = a;
    to.active = *active;
    to.collateral_usd = *collateral_usd;
    to.positions.clone_from(positions);
    to.adl_haircut_usd = *adl_haircut_usd;
    to.socialized_loss_usd = *socialized_loss_usd;
}

/// Put a copy back, keeping the live order list and registrations (their own records restore
/// them). The buffer is left with the replaced state, its allocations ready for reuse.
fn restore_account(live: &mut Account, saved: &mut Account) {
    std::mem::swap(live, saved);
    std::mem::swap(&mut live.orders, &mut saved.orders);
    std::mem::swap(&mut live.cross_watch, &mut saved.cross_watch);
    std::mem::swap(&mut live.iso_watch, &mut saved.iso_watch);
}

impl Engine {
    /// Start recording a command: reset the journal and copy the scalars. In a what-if
    /// session the journal runs on from the session's start instead (one epoch, one copy of
    /// each account and market touched, the scalars as they were at its start); only the
    /// command's first record is noted, for the check that a refusal changed nothing.
    #[inline]
    pub(super) fn begin_journal(&mut self) {
        debug_assert!(!self.liquidating && !self.bankrupt_close);
        debug_assert!(self.liquidating_pool.is_none() && self.realized_deficits.is_empty());
        let j = &mut self.journal;
        if j.session.is_some() {
            j.command_start = (j.ops.len(), j.markets.len());
            return;
        }
        j.scalars = Scalars {
            fee_pool_usd: self.fee_pool_usd,
            deposited_usd: self.deposited_usd,
            withdrawn_usd: self.withdrawn_usd,
            next_order_seq: self.next_order_seq,
            negative_pools: self.negative_pools,
            insurance_usd: self.insurance_usd,
            bad_debt_usd: self.bad_debt_usd,
            index_rechecks: self.index_rechecks,
            genesis_open: self.genesis_open,
            genesis_cost_usd: self.genesis_cost_usd,
        };
        // 2^64 commands never come: a wrap (to a stamp seen before) is out of reach.
        j.epoch = j.epoch.wrapping_add(1);
        j.accounts_len = self.accounts.len();
        j.markets_len = self.markets.len();
        j.reset();
    }

    /// Take the command back: every record undone, newest first, the tables truncated and the
    /// scalars restored. The state is then exactly what it was when `begin_journal` ran.
    #[cold]
    pub(super) fn roll_back(&mut self) {
        // Every field is placed: restored here, or scratch reset here, or never changed by a
        // command. A new field is a compile error until it is placed.
        let Engine {
            config: _,                   // never changed
            invariant_check_interval: _, // set outside commands
            last_ms, // changed only once a command succeeded: put back by a session's end
            commands_applied, // likewise
            markets,
            accounts,
            fee_pool_usd,
            deposited_usd,
            withdrawn_usd,
            next_order_seq,
            flags,
            negative_pools,
            waterfall_pending,
            insurance_usd,
            bad_debt_usd,
            vault,
            venue,
            index_rechecks,
            genesis_open,
            genesis_cost_usd,
            now_ms: _, // the command's time, set before anything else
            // Scratch of the command: back to idle.
            liquidating,
            liquidating_pool,
            bankrupt_close,
            events,
            parts,
            realized_deficits,
            adl_cache,
            steps: _,          // rebuilt by every plan
            cancel_targets: _, // refilled by every cancel_all
            recheck_hits: _,   // refilled by every recheck
            drafts: _,         // rebuilt by every plan
            plan_end: _,       // set by every plan
            journal: j,
            hooks: _, // the test hooks manage themselves
        } = self;
        let mut tables = Tables {
            markets,
            accounts,
            flags,
            pending: waterfall_pending,
            vault,
            venue,
        };
        let mut payloads = Payloads {
            copies: &mut j.copies,
            positions: &j.positions,
            regs: &mut j.regs,
            params: &mut j.params,
            defences: &j.defences,
            venues: &j.venues,
            account_stamps: &mut j.account_stamps,
            vault_stamp: &mut j.vault_stamp,
            epoch: j.epoch,
            accounts_len: j.accounts_len,
            watch_copies: &mut j.watch_copies,
            flags_copy: &mut j.flags_copy,
        };
        while let Some(u) = j.ops.pop() {
            tables.undo(u, &mut payloads);
        }
        for (mi, saved) in j.markets.drain(..) {
            saved.restore(&mut tables.markets[mi]);
        }
        tables.accounts.truncate(j.accounts_len);
        tables.markets.truncate(j.markets_len);
        let s = j.scalars;
        *fee_pool_usd = s.fee_pool_usd;
        *deposited_usd = s.deposited_usd;
        *withdrawn_usd = s.withdrawn_usd;
        *next_order_seq = s.next_order_seq;
        *negative_pools = s.negative_pools;
        *insurance_usd = s.insurance_usd;
        *bad_debt_usd = s.bad_debt_usd;
        *index_rechecks = s.index_rechecks;
        *genesis_open = s.genesis_open;
        *genesis_cost_usd = s.genesis_cost_usd;
        *liquidating = false;
        *liquidating_pool = None;
        *bankrupt_close = false;
        events.clear();
        parts.clear();
        realized_deficits.clear();
        adl_cache.after_roll_back(j.session.is_some(), tables.markets.len());
        if let Some(session) = j.session.take() {
            *last_ms = session.last_ms;
            *commands_applied = session.commands_applied;
        }
        j.reset();
    }

    /// Any trading account (the vault included), copied into the journal on the command's
    /// first touch. Every change to an account goes through here, or through the recorded
    /// changes below (`write_position`, `list_order`, `order_gone`, `remove_position`,
    /// `replace_registration`).
    #[inline(always)]
    pub(crate) fn acct_mut(&mut self, id: AccountId) -> &mut Account {
        self.adl_cache.touch(id); // any change may move the account's ADL score
        let a = row(&mut self.accounts, &mut self.vault, id);
        self.journal.save_account(id, a);
        a
    }

    /// A market and an account, both journaled, for settlements that change both at once.
    pub(super) fn market_and_account(
        &mut self,
        mi: usize,
        id: AccountId,
    ) -> (&mut Market, &mut Account) {
        self.acct_mut(id);
        self.market_mut(mi);
        (
            &mut self.markets[mi],
            row(&mut self.accounts, &mut self.vault, id),
        )
    }

    /// Write a drafted position (at `index`: its place, or where to insert it) and its pool's
    /// cross collateral back into the account; returns what they replaced (a new entry
    /// replaces an empty position). The order path's write-back: one record, made only while
    /// the account has no copy, instead of a copy of the account.
    #[inline]
    pub(super) fn write_position(
        &mut self,
        id: AccountId,
        index: Result<usize, usize>,
        pos: &Position,
        collateral: Usd,
    ) -> Replaced {
        self.adl_cache.touch(id);
        let a = row(&mut self.accounts, &mut self.vault, id);
        let j = &mut self.journal;
        let record = j.uncopied(id);
        let old_collateral = std::mem::replace(&mut a.collateral_usd, collateral);
        let (replaced, i, inserted) = match index {
            Ok(i) => {
                let old = &mut a.positions[i];
                let replaced = Replaced {
                    qty: old.qty,
                    cost_usd: old.cost_usd,
                    isolated_usd: old.isolated_usd,
                    collateral_usd: old_collateral,
                };
                if record {
                    j.positions.push((*old, old_collateral));
                }
                *old = *pos;
                (replaced, i, false)
            }
            Err(i) => {
                a.positions.insert(i, *pos);
                if record {
                    j.positions.push((Position::default(), old_collateral));
                }
                let replaced = Replaced {
                    qty: Qty::ZERO,
                    cost_usd: Usd::ZERO,
                    isolated_usd: Usd::ZERO,
                    collateral_usd: old_collateral,
                };
                (replaced, i, true)
            }
        };
        if record {
            j.ops.push(Undo::Position {
                id,
                index: i as u32,
                inserted,
                payload: (j.positions.len() - 1) as u32,
            });
        }
        replaced
    }

    /// Add `qty` lots to the resting total on `side` of the position at `index` of account
    /// `id` (an order rests without a plan: `commit_resting`). Recorded like `write_position`:
    /// one small record while the account has no copy.
    #[inline]
    pub(super) fn add_resting(
        &mut self,
        id: AccountId,
        index: usize,
        side: Side,
        qty: Qty,
    ) -> Bounded {
        let a = row(&mut self.accounts, &mut self.vault, id);
        let open = a.positions[index].open_on(side);
        *open = bounded(open.checked_add(qty))?;
        let j = &mut self.journal;
        if j.uncopied(id) {
            let index = index as u32;
            j.ops.push(Undo::Rested {
                id,
                index,
                side,
                qty,
            });
        }
        Ok(())
    }

    /// Append an order to its account's list; returns its place there. Always recorded: an
    /// account copy leaves the list out (a market maker's list is long, and a cancel or a fill
    /// changes one entry of it).
    #[inline]
    pub(super) fn list_order(&mut self, id: AccountId, entry: (MarketId, OrderId)) -> u32 {
        let list = &mut row(&mut self.accounts, &mut self.vault, id).orders;
        list.push(entry);
        let slot = (list.len() - 1) as u32;
        self.journal.ops.push(Undo::OrderListed { id });
        slot
    }

    /// Remove the position at `index` of account `id` (an idle one); returns it. A small record
    /// while the account has no copy.
    pub(super) fn remove_position(&mut self, id: AccountId, index: usize) -> Position {
        self.adl_cache.touch(id);
        let a = row(&mut self.accounts, &mut self.vault, id);
        let p = a.positions.remove(index);
        let j = &mut self.journal;
        if j.uncopied(id) {
            j.positions.push((p, Usd::ZERO));
            let payload = (j.positions.len() - 1) as u32;
            let index = index as u32;
            j.ops.push(Undo::PositionRemoved { id, index, payload });
        }
        p
    }

    /// A market whose small fields may change, copied into the journal on first touch. Its
    /// book, recheck sets and parameters change through the journaled helpers below.
    #[inline(always)]
    pub(crate) fn market_mut(&mut self, mi: usize) -> &mut Market {
        self.journal.save_market(mi, &self.markets[mi]);
        &mut self.markets[mi]
    }

    // Books: each change reports how to undo it.

    pub(super) fn book_reserve(&mut self, mi: usize, seq: u64) -> OrderId {
        let (log, m) = (&mut self.journal.ops, mi as u32);
        self.markets[mi]
            .book
            .reserve_logged(seq, &mut |u| log.push(Undo::Book { mi: m, u }))
    }

    pub(super) fn book_release(&mut self, mi: usize, id: OrderId) {
        let (log, m) = (&mut self.journal.ops, mi as u32);
        self.markets[mi]
            .book
            .release_logged(id, &mut |u| log.push(Undo::Book { mi: m, u }))
    }

    /// Rest an order, recording where its account lists it (`acct_slot`) at once.
    pub(super) fn book_insert(&mut self, mi: usize, id: OrderId, o: NewOrder, acct_slot: u32) {
        let m = mi as u32;
        if self.journal.gone_epoch == self.journal.epoch {
            // The slot may be one whose order left earlier in the command, and whose record
            // reads the rest of it there: keep that before it is overwritten. (No command does
            // so today: an order rests in the slot reserved before its plan's fills.)
            let (slot, order) = (Book::slot_of(id), self.markets[mi].book.dead_slot(id));
            self.journal.ops.push(Undo::DeadSlot { mi: m, slot, order });
        }
        let log = &mut self.journal.ops;
        self.markets[mi]
            .book
            .insert_logged(id, o, acct_slot, &mut |u| log.push(Undo::Book { mi: m, u }))
    }

    /// Take `qty` lots off a resting order that keeps some (a partial fill).
    pub(super) fn book_take(&mut self, mi: usize, id: OrderId, qty: Qty) {
        let (log, m) = (&mut self.journal.ops, mi as u32);
        let left = self.markets[mi]
            .book
            .fill_logged(id, qty, &mut |u| log.push(Undo::Book { mi: m, u }));
        debug_assert!(
            left.is_positive(),
            "a fill that empties the order is order_gone"
        );
    }

    /// Resting order `o` (a copy of the book's) leaves: out of the book of market `mi`, off
    /// its account's list (the last entry moves into its place and the book learns so) and,
    /// for a cancel outside a plan (`unrest`: the account's position index), off its
    /// position's resting total. One small record for all of it (the order stays in its dead
    /// slot), in place of a copy of the account (a market maker's is large). No ADL touch:
    /// resting orders are no part of an ADL score.
    #[inline(always)]
    pub(super) fn order_gone(&mut self, mi: usize, o: &Order, unrest: Option<usize>) {
        let at = self.markets[mi].book.take_out(o.id);
        let a = row(&mut self.accounts, &mut self.vault, o.account);
        let index = match unrest {
            Some(i) => {
                let open = a.positions[i].open_on(o.side);
                *open = Qty::from_lots(open.lots() - o.remaining.lots());
                i as u32
            }
            None => 0,
        };
        let slot = o.acct_slot;
        let gone = a.orders.swap_remove(slot as usize);
        debug_assert_eq!(gone, (self.markets[mi].id, o.id));
        if let Some(&(m, moved)) = a.orders.get(slot as usize) {
            // Not logged: the record's undo puts it back (see `Tables::undo_order_gone`).
            self.markets[m.0 as usize].book.set_acct_slot(moved, slot);
        }
        let j = &mut self.journal;
        j.gone_epoch = j.epoch;
        j.ops.push(Undo::OrderGone {
            mi: mi as u32,
            at,
            unrested: unrest.is_some(),
            index,
        });
    }

    // Maps and sets: each change records what it replaced.

    /// Set a pool's flag (the default flag removes the entry). Returns the old one.
    pub(super) fn set_flag(&mut self, key: (AccountId, Scope), flag: Flag) -> Option<Flag> {
        let old = if flag == Flag::default() {
            self.flags.remove(&key)
        } else {
            self.flags.insert(key, flag)
        };
        if old != Some(flag) && !self.journal.flags_copied(&self.flags, key, old) {
            self.journal.ops.push(Undo::Flag { key, old });
        }
        old
    }

    /// Record that a pool's flag, `before` until now, changed (the map already holds the new
    /// one; the default flag is an absent entry).
    pub(super) fn record_flag(&mut self, key: (AccountId, Scope), before: Flag) {
        let old = (before != Flag::default()).then_some(before);
        if !self.journal.flags_copied(&self.flags, key, old) {
            self.journal.ops.push(Undo::Flag { key, old });
        }
    }

    /// Mark a pool as deferred in the waterfall (or not). Returns whether that changed it.
    pub(super) fn set_pending(&mut self, key: (AccountId, Scope), pending: bool) -> bool {
        let changed = if pending {
            self.waterfall_pending.insert(key)
        } else {
            self.waterfall_pending.remove(&key)
        };
        if changed {
            let present = !pending;
            self.journal.ops.push(Undo::Pending { key, present });
        }
        changed
    }

    /// Move every resting order of market `mi` by `delta` micro-USD, recorded.
    pub(super) fn shift_book(&mut self, mi: usize, delta: i64) {
        self.markets[mi].book.shift(delta);
        let mi = mi as u32;
        self.journal.ops.push(Undo::BookShift { mi, delta });
    }

    /// Insert (or remove) a key of a market's trigger set.
    pub(super) fn set_watch(
        &mut self,
        mi: usize,
        set: WatchSet,
        key: (i128, AccountId, Scope),
        inserted: bool,
    ) {
        let m = &mut self.markets[mi];
        let s = match set {
            WatchSet::Down(side) => &mut m.watch_down[side as usize],
            WatchSet::Up(side) => &mut m.watch_up[side as usize],
        };
        let copied = self.journal.watch_set_copied(mi, set, s, 1);
        let changed = if inserted {
            s.insert(key)
        } else {
            s.remove(&key)
        };
        if changed && !copied {
            let u = Undo::Watch {
                mi: mi as u32,
                set,
                inserted,
                key,
            };
            self.journal.ops.push(u);
        }
    }

    /// Remove key `old` of a market's trigger set and insert `new` (a pool's trigger moving),
    /// in one step of the set, recorded as the removal and the insertion.
    pub(super) fn move_watch(
        &mut self,
        mi: usize,
        set: WatchSet,
        old: (i128, AccountId, Scope),
        new: (i128, AccountId, Scope),
    ) {
        let m = &mut self.markets[mi];
        let s = match set {
            WatchSet::Down(side) => &mut m.watch_down[side as usize],
            WatchSet::Up(side) => &mut m.watch_up[side as usize],
        };
        let copied = self.journal.watch_set_copied(mi, set, s, 2);
        let (removed, inserted) = s.replace(&old, new);
        if copied {
            return;
        }
        let mi = mi as u32;
        // The removal first, then the insertion: undone in the other order.
        for (changed, inserted, key) in [(removed, false, old), (inserted, true, new)] {
            if changed {
                let u = Undo::Watch {
                    mi,
                    set,
                    inserted,
                    key,
                };
                self.journal.ops.push(u);
            }
        }
    }

    /// Insert (or remove) a pool of a market's always-recheck set.
    pub(super) fn set_always(&mut self, mi: usize, key: (AccountId, Scope), inserted: bool) {
        let s = &mut self.markets[mi].watch_always;
        let changed = if inserted {
            s.insert(key)
        } else {
            s.remove(&key)
        };
        if changed {
            let mi = mi as u32;
            let u = Undo::Always { mi, inserted, key };
            self.journal.ops.push(u);
        }
    }

    /// A pool's recheck registration (`None` if it has none).
    pub(super) fn registration(&self, account: AccountId, scope: Scope) -> &WatchReg {
        static NONE: WatchReg = WatchReg::None;
        let a = self.acct(account);
        match scope {
            Scope::Cross => &a.cross_watch,
            Scope::Isolated(market) => a
                .iso_watch
                .iter()
                .find(|(m, _)| *m == market)
                .map_or(&NONE, |(_, r)| r),
        }
    }

    /// Replace a pool's registration. An isolated pool keeps one only while its position entry
    /// exists.
    pub(super) fn replace_registration(&mut self, id: AccountId, scope: Scope, reg: WatchReg) {
        let a = row(&mut self.accounts, &mut self.vault, id);
        let u = match scope {
            Scope::Cross => {
                let old = self.journal.regs.len() as u32;
                self.journal
                    .regs
                    .push(std::mem::replace(&mut a.cross_watch, reg));
                Undo::CrossReg { id, old }
            }
            Scope::Isolated(market) => {
                let keep = a.position_index(market).is_ok() && reg != WatchReg::None;
                match (a.iso_watch.iter().position(|(m, _)| *m == market), keep) {
                    (Some(k), true) => {
                        let old = self.journal.regs.len() as u32;
                        self.journal
                            .regs
                            .push(std::mem::replace(&mut a.iso_watch[k].1, reg));
                        let k = k as u32;
                        Undo::IsoReplaced { id, k, old }
                    }
                    (Some(k), false) => {
                        let (market, removed) = a.iso_watch.swap_remove(k);
                        let old = self.journal.regs.len() as u32;
                        self.journal.regs.push(removed);
                        let k = k as u32;
                        Undo::IsoRemoved { id, k, market, old }
                    }
                    (None, true) => {
                        a.iso_watch.push((market, reg));
                        Undo::IsoPushed { id }
                    }
                    (None, false) => return,
                }
            }
        };
        self.journal.heavy = true;
        self.journal.ops.push(u);
    }

    /// A market's defence state, to change: its value before the command's (or the what-if
    /// session's) first change is journaled, one copy per market however often it changes
    /// (prices and ticks change it several times a command, and a session's path at every
    /// price; never the order path). A market the command made has nothing to keep.
    pub(super) fn defence_mut(&mut self, mi: usize) -> &mut DefenceState {
        let j = &mut self.journal;
        if mi < j.markets_len && j.defence_stamps.get(mi) != Some(&j.epoch) {
            if j.defence_stamps.len() < j.markets_len {
                j.defence_stamps.resize(j.markets_len, 0);
            }
            j.defence_stamps[mi] = j.epoch;
            let old = j.defences.len() as u32;
            j.defences.push(self.markets[mi].defence);
            j.heavy = true;
            j.ops.push(Undo::Defence { mi: mi as u32, old });
        }
        &mut self.markets[mi].defence
    }

    /// Replace a market's parameters.
    pub(super) fn set_params(&mut self, mi: usize, params: MarketParams) {
        let old = self.journal.params.len() as u32;
        let replaced = std::mem::replace(&mut self.markets[mi].params, params);
        self.journal.params.push(replaced);
        self.journal.heavy = true;
        let mi = mi as u32;
        self.journal.ops.push(Undo::Params { mi, old });
    }

    /// Replace the venue's parameters.
    pub(super) fn set_venue(&mut self, venue: VenueParams) {
        let old = self.journal.venues.len() as u32;
        let replaced = std::mem::replace(&mut self.venue, venue);
        self.journal.venues.push(replaced);
        self.journal.heavy = true;
        self.journal.ops.push(Undo::Venue(old));
    }

    /// Set the vault's share supply.
    pub(super) fn set_vault_total_shares(&mut self, total: u64) {
        let old = std::mem::replace(&mut self.vault.total_shares, total);
        self.journal.ops.push(Undo::VaultTotalShares(old));
    }

    /// Set an LP's vault shares (`None` removes the entry).
    pub(super) fn set_vault_shares(&mut self, lp: AccountId, shares: Option<u64>) {
        let old = match shares {
            Some(s) => self.vault.shares.insert(lp, s),
            None => self.vault.shares.remove(&lp),
        };
        self.journal.ops.push(Undo::VaultShares { lp, old });
    }

    /// Set an LP's withdrawal request (`None` removes it).
    pub(super) fn set_vault_request(&mut self, lp: AccountId, req: Option<WithdrawalRequest>) {
        let old = match req {
            Some(r) => self.vault.requests.insert(lp, r),
            None => self.vault.requests.remove(&lp),
        };
        self.journal.ops.push(Undo::VaultRequest { lp, old });
    }

    /// Set the vault's inventory record of a market (`None` removes it).
    pub(super) fn set_vault_inventory(&mut self, market: MarketId, inv: Option<VaultInventory>) {
        let old = match inv {
            Some(i) => self.vault.inventory.insert(market, i),
            None => self.vault.inventory.remove(&market),
        };
        self.journal.ops.push(Undo::VaultInventory { market, old });
    }
}

impl Journal {
    /// Forget this command's records (their buffers stay for the next one).
    #[inline(always)]
    fn reset(&mut self) {
        // Setting a length, mostly: no record needs dropping.
        self.command_start = (0, 0);
        self.watch_copies.clear();
        self.flag_records = 0;
        self.flags_copy = None;
        self.positions.clear();
        self.markets.clear();
        self.ops.clear();
        if self.heavy {
            self.reset_heavy();
        }
    }

    /// The payloads that need more than a length set: touched only when used.
    fn reset_heavy(&mut self) {
        self.n_copies = 0;
        if self.copies.len() > MAX_SPARE_ACCOUNTS {
            self.copies.truncate(MAX_SPARE_ACCOUNTS);
        }
        self.regs.clear();
        self.params.clear();
        self.defences.clear();
        self.venues.clear();
        self.heavy = false;
    }
}

/// The payloads of the records, borrowed apart from the log for a rollback.
struct Payloads<'a> {
    copies: &'a mut [Account],
    positions: &'a [(Position, Usd)],
    regs: &'a mut [WatchReg],
    params: &'a mut [MarketParams],
    defences: &'a [DefenceState],
    venues: &'a [VenueParams],
    /// The copy stamps: an account's is cleared as its copy is restored, so that while the
    /// rollback runs, a stamp still set says the account's copy is older than the records
    /// being undone, and will restore everything they changed in it.
    account_stamps: &'a mut [u64],
    vault_stamp: &'a mut u64,
    epoch: u64,
    /// Rows from here on were created by the command (truncated after the records).
    accounts_len: usize,
    watch_copies: &'a mut [WatchCopy],
    flags_copy: &'a mut Option<BTreeMap<(AccountId, Scope), Flag>>,
}

impl Payloads<'_> {
    /// Whether account `id` will be put back whole after the records still to undo: its copy
    /// (made before them) is not restored yet, or the command created it.
    fn restored_whole_later(&self, id: AccountId) -> bool {
        if id == VAULT {
            return *self.vault_stamp == self.epoch;
        }
        let i = id.0 as usize;
        i >= self.accounts_len || self.account_stamps.get(i) == Some(&self.epoch)
    }

    /// Account `id`'s copy has been restored: records older than it see the account as they
    /// left it.
    fn copy_restored(&mut self, id: AccountId) {
        if id == VAULT {
            *self.vault_stamp = 0;
        } else if let Some(stamp) = self.account_stamps.get_mut(id.0 as usize) {
            *stamp = 0;
        }
    }
}

/// The engine's tables, borrowed apart from the journal for a rollback.
struct Tables<'a> {
    markets: &'a mut Vec<Market>,
    accounts: &'a mut Vec<Account>,
    flags: &'a mut BTreeMap<(AccountId, Scope), Flag>,
    pending: &'a mut BTreeSet<(AccountId, Scope)>,
    vault: &'a mut Vault,
    venue: &'a mut VenueParams,
}

impl Tables<'_> {
    fn account(&mut self, id: AccountId) -> &mut Account {
        row(self.accounts, self.vault, id)
    }

    /// Undo `Engine::order_gone`: the book, the list, the moved entry's place in the book and,
    /// for a cancel, the position's resting total, unless the account will be put back whole
    /// later in the rollback.
    ///
    /// The exception is what makes `index` safe to use. Once an account has a copy, the
    /// command's later changes to its position list go unrecorded (the copy covers them). So
    /// if the copy is older than this record, the list this undo finds may differ from the one
    /// the cancel indexed: a liquidation's `cancel_pool_orders` cancels a pool's orders and
    /// then `release_if_idle` removes the entries left idle; undone here, the cancel of an
    /// account's last entry indexed past the shortened list and the rollback panicked ("index
    /// out of bounds"; the account had been copied earlier in the command, by an ADL or an
    /// earlier liquidation's penalty). The copy restores the whole list afterwards, so the
    /// resting total needs no putting back then. Otherwise (no copy, or one newer than this
    /// record, restored already) every later change to the list has been undone and the list
    /// is exactly as the cancel left it.
    fn undo_order_gone(&mut self, mi: usize, at: TakenOut, unrest: Option<u32>, p: &Payloads) {
        let o = *self.markets[mi].book.put_back(at);
        let entry = (self.markets[mi].id, o.id);
        let unrest = unrest.filter(|_| !p.restored_whole_later(o.account));
        let a = row(self.accounts, self.vault, o.account);
        if let Some(i) = unrest {
            let open = a.positions[i as usize].open_on(o.side);
            *open = Qty::from_lots(open.lots() + o.remaining.lots());
        }
        let slot = o.acct_slot as usize;
        let moved = a.orders.get(slot).copied();
        swap_insert(&mut a.orders, slot, entry);
        if let Some((m, moved)) = moved {
            // It had moved into the gone order's place from the end: back there.
            let last = (a.orders.len() - 1) as u32;
            self.markets[m.0 as usize].book.set_acct_slot(moved, last);
        }
    }

    /// Take back one record, whose payload, if any, is in `p`.
    fn undo(&mut self, u: Undo, p: &mut Payloads) {
        match u {
            Undo::AccountCopy { id, buf } => {
                restore_account(self.account(id), &mut p.copies[buf as usize]);
                p.copy_restored(id);
            }
            Undo::Position {
                id,
                index,
                inserted,
                payload,
            } => {
                let (old, collateral) = p.positions[payload as usize];
                let a = self.account(id);
                a.collateral_usd = collateral;
                if inserted {
                    a.positions.remove(index as usize);
                } else {
                    a.positions[index as usize] = old;
                }
            }
            Undo::OrderGone {
                mi,
                at,
                unrested,
                index,
            } => self.undo_order_gone(mi as usize, at, unrested.then_some(index), p),
            Undo::DeadSlot { mi, slot, order } => {
                self.markets[mi as usize]
                    .book
                    .restore_dead_slot(slot, order);
            }
            Undo::Rested {
                id,
                index,
                side,
                qty,
            } => {
                let open = self.account(id).positions[index as usize].open_on(side);
                *open = Qty::from_lots(open.lots() - qty.lots());
            }
            Undo::PositionRemoved { id, index, payload } => {
                let (old, _) = p.positions[payload as usize];
                self.account(id).positions.insert(index as usize, old);
            }
            Undo::OrderListed { id } => {
                self.account(id).orders.pop();
            }
            Undo::Book { mi, u } => self.markets[mi as usize].book.undo(u),
            Undo::BookShift { mi, delta } => self.markets[mi as usize].book.shift(-delta),
            Undo::WatchCopy { at } => {
                let w = &mut p.watch_copies[at as usize];
                if let Some(copy) = w.copy.take() {
                    let m = &mut self.markets[w.mi];
                    *match w.set {
                        WatchSet::Down(side) => &mut m.watch_down[side as usize],
                        WatchSet::Up(side) => &mut m.watch_up[side as usize],
                    } = copy;
                }
            }
            Undo::Flag { key, old } => {
                match old {
                    Some(f) => self.flags.insert(key, f),
                    None => self.flags.remove(&key),
                };
            }
            Undo::FlagsCopy => {
                if let Some(copy) = p.flags_copy.take() {
                    *self.flags = copy;
                }
            }
            Undo::Pending { key, present } => {
                if present {
                    self.pending.insert(key);
                } else {
                    self.pending.remove(&key);
                }
            }
            Undo::Watch {
                mi,
                set,
                inserted,
                key,
            } => {
                let m = &mut self.markets[mi as usize];
                let s = match set {
                    WatchSet::Down(side) => &mut m.watch_down[side as usize],
                    WatchSet::Up(side) => &mut m.watch_up[side as usize],
                };
                if inserted {
                    s.remove(&key);
                } else {
                    s.insert(key);
                }
            }
            Undo::Always { mi, inserted, key } => {
                let s = &mut self.markets[mi as usize].watch_always;
                if inserted {
                    s.remove(&key);
                } else {
                    s.insert(key);
                }
            }
            Undo::CrossReg { id, old } => {
                self.account(id).cross_watch = std::mem::take(&mut p.regs[old as usize]);
            }
            Undo::IsoReplaced { id, k, old } => {
                let old = std::mem::take(&mut p.regs[old as usize]);
                self.account(id).iso_watch[k as usize].1 = old;
            }
            Undo::IsoPushed { id } => {
                self.account(id).iso_watch.pop();
            }
            Undo::IsoRemoved { id, k, market, old } => {
                let old = std::mem::take(&mut p.regs[old as usize]);
                swap_insert(&mut self.account(id).iso_watch, k as usize, (market, old));
            }
            Undo::Params { mi, old } => {
                let old = std::mem::take(&mut p.params[old as usize]);
                self.markets[mi as usize].params = old;
            }
            Undo::Defence { mi, old } => {
                self.markets[mi as usize].defence = p.defences[old as usize];
            }
            Undo::Venue(old) => *self.venue = p.venues[old as usize],
            Undo::VaultTotalShares(old) => self.vault.total_shares = old,
            Undo::VaultShares { lp, old } => {
                match old {
                    Some(s) => self.vault.shares.insert(lp, s),
                    None => self.vault.shares.remove(&lp),
                };
            }
            Undo::VaultRequest { lp, old } => {
                match old {
                    Some(r) => self.vault.requests.insert(lp, r),
                    None => self.vault.requests.remove(&lp),
                };
            }
            Undo::VaultInventory { market, old } => {
                match old {
                    Some(i) => self.vault.inventory.insert(market, i),
                    None => self.vault.inventory.remove(&market),
                };
            }
        }
    }
}

/// Undo `v.swap_remove(k)`, which returned `old`: the last entry had moved into `k` (unless
/// `k` was the last).
fn swap_insert<T>(v: &mut Vec<T>, k: usize, old: T) {
    if k == v.len() {
        v.push(old);
    } else {
        let moved = std::mem::replace(&mut v[k], old);
        v.push(moved);
    }
}

/// The account `id`: a user's row, or the vault's.
#[inline]
fn row<'a>(accounts: &'a mut [Account], vault: &'a mut Vault, id: AccountId) -> &'a mut Account {
    if id == VAULT {
        &mut vault.account
    } else {
        &mut accounts[id.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    //! What no command reaches today, checked on the journal directly: an order resting, in
    //! the same command, in the slot of an order that left (the gone order's record reads the
    //! rest of it from that slot, which `Undo::DeadSlot` keeps).
    use super::*;
    use crate::book::Side;
    use crate::command::{OrderKind, PlaceOrder, SelfTrade};
    use crate::event::CancelReason;
    use bulwark_core::TimestampMs;

    fn order(account: u32, side: Side, price_usd: i64, lots: i64) -> Command {
        Command::PlaceOrder(PlaceOrder {
            account: AccountId(account),
            market: MarketId(0),
            side,
            kind: OrderKind::Limit,
            price: Some(Price::from_micros(price_usd * 1_000_000)),
            qty: Qty::from_lots(lots),
            reduce_only: false,
            self_trade: SelfTrade::CancelTaker,
            margin: MarginMode::Cross,
        })
    }

    #[test]
    fn an_order_resting_in_a_slot_freed_in_the_same_command_rolls_back() {
        let mut e = Engine::default();
        let params = MarketParams::btc_like("BTC-PERP", Price::from_micros(50_000_000_000));
        let mut t = 0;
        let mut apply = |e: &mut Engine, c: Command| {
            t += 1;
            e.apply(&c, TimestampMs(t)).map(|ev| ev.to_vec()).unwrap() // ok: a test
        };
        apply(
            &mut e,
            Command::CreateMarket {
                params: Box::new(params),
            },
        );
        let amount_usd = Usd::from_micros(1_000_000 * 1_000_000);
        for a in 0..2 {
            let account = AccountId(a);
            apply(
                &mut e,
                Command::Deposit {
                    account,
                    amount_usd,
                },
            );
        }
        // Two bids of account 0 and one of account 1: the first leaves, its list entry takes
        // the last one's place.
        for (a, price) in [(0, 49_000), (1, 48_000), (0, 47_000)] {
            apply(&mut e, order(a, Side::Buy, price, 2));
        }
        let before = e.clone();
        let gone = e.accounts[0].orders[0].1;

        e.begin_journal();
        e.cancel_resting(0, gone, CancelReason::User);
        let id = e.book_reserve(0, 99);
        assert_eq!(
            Book::slot_of(id),
            Book::slot_of(gone),
            "the freed slot is reused"
        );
        let new = NewOrder {
            account: AccountId(1),
            side: Side::Sell,
            price: Price::from_micros(60_000_000_000),
            qty: Qty::from_lots(5),
            reduce_only: false,
        };
        let acct_slot = e.accounts[1].orders.len() as u32;
        e.book_insert(0, id, new, acct_slot);
        e.list_order(AccountId(1), (MarketId(0), id));
        e.roll_back();

        assert_eq!(e.markets[0].book, before.markets[0].book, "the book");
        assert_eq!(
            e.accounts, before.accounts,
            "the accounts and their order lists"
        );
        assert_eq!(
            crate::hash::state_hash(&e),
            crate::hash::state_hash(&before)
        );
        e.check_invariants().unwrap(); // ok: a test
    }

    /// A cancel of an account's order in its last position entry, then that entry removed as
    /// idle, with the account copied before both (`copy_first`: as in the liquidation that
    /// found the bug; the removal goes unrecorded, the copy restores the list) or between them
    /// (the cancel's record must still put its lots back on the restored entry). Both roll
    /// back exactly; with the copy first, the rollback once panicked (index out of bounds).
    #[test]
    fn a_cancel_then_its_idle_entry_removed_roll_back_with_the_copy_before_or_after() {
        for copy_first in [true, false] {
            let mut e = Engine::default();
            let mut t = 0;
            let mut apply = |e: &mut Engine, c: Command| {
                t += 1;
                e.apply(&c, TimestampMs(t)).map(|ev| ev.to_vec()).unwrap() // ok: a test
            };
            for price in [50_000, 3_000] {
                let params = MarketParams::btc_like("PERP", Price::from_micros(price * 1_000_000));
                apply(
                    &mut e,
                    Command::CreateMarket {
                        params: Box::new(params),
                    },
                );
            }
            let amount_usd = Usd::from_micros(1_000_000 * 1_000_000);
            let account = AccountId(0);
            apply(
                &mut e,
                Command::Deposit {
                    account,
                    amount_usd,
                },
            );
            // A bid in each market: two entries, the second (market 1) the last.
            apply(&mut e, order(0, Side::Buy, 49_000, 2));
            let mut bid = order(0, Side::Buy, 2_900, 2);
            if let Command::PlaceOrder(o) = &mut bid {
                o.market = MarketId(1);
            }
            apply(&mut e, bid);
            let before = e.clone();
            let (market, gone) = e.accounts[0].orders[1];
            assert_eq!(market, MarketId(1));

            e.begin_journal();
            if copy_first {
                e.acct_mut(account);
            }
            e.cancel_resting(1, gone, CancelReason::User);
            if !copy_first {
                e.acct_mut(account);
            }
            let i = e.accounts[0].position_index(market).unwrap(); // ok: a test
            assert_eq!(i, 1, "the last entry");
            assert!(e.accounts[0].positions[i].is_idle());
            e.remove_position(account, i);
            e.roll_back();

            assert_eq!(e.accounts, before.accounts, "copy first: {copy_first}");
            assert_eq!(e.markets[1].book, before.markets[1].book);
            assert_eq!(e.state_diff(&before), None);
            e.check_invariants().unwrap(); // ok: a test
        }
    }
}
