//! The limit order book of one market: price-time priority, O(1) cancel.
//!
//! Layout, chosen for speed and determinism:
//! - orders live in a slab (`Vec<Order>` with a free list); an [`OrderId`] carries its slot in
//!   its low 24 bits and the engine-wide sequence number above them, so a cancel finds its
//!   order without hashing and a stale id (slot reused) is detected by comparing the full id;
//! - each price level is a doubly linked FIFO through the slab (time priority) plus a cached
//!   total quantity; levels live in their own slab;
//! - each side keeps its (price, level slot) pairs in a vector sorted by price (`PriceIndex`)
//!   for price priority. Its order is the prices' order, so nothing here depends on hashing or
//!   allocation addresses.
//!
//! The book knows nothing of accounts, margin or fees: the engine decides what to fill and
//! calls [`Book::fill`]; [`Book::sweep`] is a self-contained match used by benchmarks and the
//! reference tests.
//!
//! **Undo.** Each change the engine makes has a `_logged` form that also reports how to take it
//! back (a `BookUndo`), or, for an order leaving, a form whose caller logs it itself
//! (`Book::take_out`, undone by `Book::put_back`: the engine's record of a gone order covers
//! its account's list too); the engine's undo journal keeps these, newest last, and a
//! rolled-back command undoes them newest first. Undone in that order, every record finds
//! the book exactly as its change left it, so the book returns to its earlier state: the same
//! orders in the same slots and queue positions, the same levels, and the free-slot stacks in
//! the same order (they decide future order ids). Only the content of dead slots and freed
//! levels may differ, which nothing reads (an insert overwrites it). `sweep` has no logged
//! form: the engine does not use it.

use bulwark_core::{AccountId, OrderId, Price, Qty};
use serde::{Deserialize, Serialize};
use std::iter::Rev;
use std::slice;

/// Bits of an [`OrderId`] that hold the slab slot.
pub const SLOT_BITS: u32 = 24;
/// Most resting orders one book can hold (the slot field's range).
pub const MAX_RESTING_ORDERS: usize = 1 << SLOT_BITS;
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    #[inline]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// +1 for a buy, -1 for a sell: the sign of the position change.
    #[inline]
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    /// Whether a taker on `self` side with limit `limit` crosses a resting price `resting`.
    #[inline]
    pub fn crosses(self, limit: Price, resting: Price) -> bool {
        match self {
            Side::Buy => resting <= limit,
            Side::Sell => resting >= limit,
        }
    }
}

/// A resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub account: AccountId,
    pub side: Side,
    pub price: Price,
    pub remaining: Qty,
    pub reduce_only: bool,
    /// Index of this order in its account's order list (kept by the engine), so removing it
    /// from the list is O(1).
    pub acct_slot: u32,
    prev: u32,
    next: u32,
    level: u32,
}

/// A price level: a FIFO of orders through the slab, with its cached total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Level {
    price: Price,
    total: Qty,
    count: u32,
    head: u32,
    tail: u32,
}

/// What a new resting order needs.
#[derive(Clone, Copy, Debug)]
pub struct NewOrder {
    pub account: AccountId,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    pub reduce_only: bool,
}

/// One fill produced by [`Book::sweep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookFill {
    pub maker: OrderId,
    pub maker_account: AccountId,
    pub price: Price,
    pub qty: Qty,
}

/// How to take back one change to a [`Book`]; see the module docs. Crate-private: the engine's
/// undo journal is its one user. Kept small: a command on the order path makes several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BookUndo {
    /// `reserve` took `slot` off the free stack, or appended it to the slab (`grew`).
    Reserve { slot: u32, grew: bool },
    /// `release` pushed `slot` back on the free stack.
    Release { slot: u32 },
    /// `insert` rested an order at the back of its level in `slot`; `level` says whether (and
    /// from where) a level was made for it.
    Insert { slot: u32, level: LevelMade },
    /// `unlink` took `order` (its level, queue neighbours and all) out of `slot` and pushed
    /// the slot on the free stack; `level_freed` if that emptied (and freed) its level. The
    /// whole order is kept: a later insert in the same command may reuse the slot, and the
    /// level's slot, so their dead content cannot be relied on.
    Unlink {
        slot: u32,
        level_freed: bool,
        order: Order,
    },
    /// A fill or a reduction took `qty` off the order in `slot`.
    Take { slot: u32, qty: Qty },
    /// `set_acct_slot` replaced `old` in the order in `slot`.
    AcctSlot { slot: u32, old: u32 },
}

const _: () = assert!(std::mem::size_of::<BookUndo>() <= 64);

/// Where [`Book::take_out`] took an order from; the rest of the order stays in its (dead)
/// slot. Small, so that the journal's record of a gone order is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TakenOut {
    slot: u32,
    level: u32,
    prev: u32,
    next: u32,
    level_freed: bool,
}

/// Whether an insert made a new price level, and from where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LevelMade {
    /// The level existed.
    No,
    /// Appended to the level slab.
    Pushed,
    /// Taken off the free level stack.
    Reused,
}

/// Two books are equal when they hold the same resting orders in the same places (slots, queue
/// positions, levels) and the same free stacks: everything that decides what they do next.
/// The content of a dead slot or a freed level is never read again (an insert overwrites it),
/// so it is not compared.
#[derive(Clone, Debug, Default)]
pub struct Book {
    orders: Vec<Order>,
    free_orders: Vec<u32>,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    bids: PriceIndex,
    asks: PriceIndex,
    resting: usize,
    /// The impact mid last computed from this book, with what it was computed for (the
    /// notional walked, lots per unit): `Market::impact_mid`'s memo. Every change to the book
    /// clears it (each `&mut self` method's first line), so it never outlives the book it
    /// describes; a forward path's book changes only when a liquidation fills, while its mark
    /// is recomputed at every price. Not state: never compared, hashed or copied with meaning.
    impact_memo: std::cell::Cell<Option<ImpactMemo>>,
}

/// See `Book::impact_memo`: (notional micro-USD, lots per unit) -> impact mid.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImpactMemo {
    pub notional_micros: i64,
    pub lots_per_unit: i64,
    pub mid: Option<Price>,
}

impl Book {
    pub fn new() -> Book {
        Book::default()
    }

    /// The memo of the impact mid, if still valid for `(notional_micros, lots_per_unit)`.
    pub(crate) fn impact_memo(
        &self,
        notional_micros: i64,
        lots_per_unit: i64,
    ) -> Option<Option<Price>> {
        self.impact_memo
            .get()
            .filter(|m| m.notional_micros == notional_micros && m.lots_per_unit == lots_per_unit)
            .map(|m| m.mid)
    }

    pub(crate) fn set_impact_memo(&self, memo: ImpactMemo) {
        self.impact_memo.set(Some(memo));
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.resting
    }
    pub fn is_empty(&self) -> bool {
        self.resting == 0
    }
    /// Free order slots, in the order they will be reused. Future order ids depend on it, so
    /// the state hash covers it.
    pub fn free_slots(&self) -> &[u32] {
        &self.free_orders
    }

    /// Whether a new order can be stored (the slot space is bounded).
    pub fn has_capacity(&self) -> bool {
        !self.free_orders.is_empty() || self.orders.len() < MAX_RESTING_ORDERS
    }

    #[inline]
    pub fn best_bid(&self) -> Option<Price> {
        self.bids.last().map(|&(p, _)| p)
    }
    #[inline]
    pub fn best_ask(&self) -> Option<Price> {
        self.asks.first().map(|&(p, _)| p)
    }
    #[inline]
    pub fn best(&self, side: Side) -> Option<Price> {
        match side {
            Side::Buy => self.best_bid(),
            Side::Sell => self.best_ask(),
        }
    }

    /// The slot encoded in an order id.
    #[inline]
    pub fn slot_of(id: OrderId) -> u32 {
        (id.0 & ((1 << SLOT_BITS) - 1)) as u32
    }

    /// Take a free slot and build the id of the order that will use it. The id exists before
    /// the order rests, so fills can name the taker; [`Book::release`] returns an unused slot.
    pub fn reserve(&mut self, seq: u64) -> OrderId {
        self.impact_memo.take();
        self.reserve_logged(seq, &mut |_| ())
    }

    /// [`Book::reserve`], reporting how to undo it.
    #[inline]
    pub(crate) fn reserve_logged(&mut self, seq: u64, log: &mut impl FnMut(BookUndo)) -> OrderId {
        self.impact_memo.take();
        let (slot, grew) = match self.free_orders.pop() {
            Some(s) => (s, false),
            None => {
                self.orders.push(Order {
                    id: OrderId(u64::MAX),
                    account: AccountId(0),
                    side: Side::Buy,
                    price: Price::ZERO,
                    remaining: Qty::ZERO,
                    reduce_only: false,
                    acct_slot: 0,
                    prev: NIL,
                    next: NIL,
                    level: NIL,
                });
                ((self.orders.len() - 1) as u32, true)
            }
        };
        log(BookUndo::Reserve { slot, grew });
        debug_assert!(seq < (1 << (64 - SLOT_BITS)));
        OrderId((seq << SLOT_BITS) | slot as u64)
    }

    /// Give back a reserved slot whose order never rested.
    pub fn release(&mut self, id: OrderId) {
        self.impact_memo.take();
        self.release_logged(id, &mut |_| ())
    }

    /// [`Book::release`], reporting how to undo it.
    #[inline]
    pub(crate) fn release_logged(&mut self, id: OrderId, log: &mut impl FnMut(BookUndo)) {
        self.impact_memo.take();
        let slot = Self::slot_of(id);
        debug_assert_eq!(self.orders[slot as usize].level, NIL);
        self.free_orders.push(slot);
        log(BookUndo::Release { slot });
    }

    /// Reserve a slot and rest the order in it; returns its id.
    pub fn insert_new(&mut self, seq: u64, o: NewOrder) -> OrderId {
        self.impact_memo.take();
        let id = self.reserve(seq);
        self.insert(id, o);
        id
    }

    /// Look up a resting order by id; `None` if it is not resting (filled, cancelled, stale).
    #[inline]
    pub fn get(&self, id: OrderId) -> Option<&Order> {
        let slot = Self::slot_of(id) as usize;
        let o = self.orders.get(slot)?;
        (o.id == id && o.level != NIL).then_some(o)
    }

    /// Rest an order, whose slot `id` reserved, at the back of its price level.
    pub fn insert(&mut self, id: OrderId, o: NewOrder) {
        self.impact_memo.take();
        self.insert_logged(id, o, 0, &mut |_| ())
    }

    /// [`Book::insert`] with the order's place in its account's list, reporting how to undo
    /// it. (Setting `acct_slot` here spares the engine a logged `set_acct_slot`.)
    #[inline]
    pub(crate) fn insert_logged(
        &mut self,
        id: OrderId,
        o: NewOrder,
        acct_slot: u32,
        log: &mut impl FnMut(BookUndo),
    ) {
        self.impact_memo.take();
        debug_assert!(o.qty.is_positive() && o.price.is_positive());
        let slot = Self::slot_of(id);
        debug_assert_eq!(
            self.orders[slot as usize].level, NIL,
            "slot must be reserved"
        );
        let (level, made) = self.level_for(o.side, o.price);
        self.orders[slot as usize] = Order {
            id,
            account: o.account,
            side: o.side,
            price: o.price,
            remaining: o.qty,
            reduce_only: o.reduce_only,
            acct_slot,
            prev: NIL,
            next: NIL,
            level,
        };
        self.link_back(level, slot);
        self.resting += 1;
        log(BookUndo::Insert { slot, level: made });
    }

    /// Remove a resting order and return it.
    pub fn remove(&mut self, id: OrderId) -> Option<Order> {
        self.impact_memo.take();
        self.remove_logged(id, &mut |_| ())
    }

    /// [`Book::remove`], reporting how to undo it.
    #[inline]
    pub(crate) fn remove_logged(
        &mut self,
        id: OrderId,
        log: &mut impl FnMut(BookUndo),
    ) -> Option<Order> {
        self.impact_memo.take();
        let slot = Self::slot_of(id);
        let order = *self.get(id)?;
        let level_freed = self.unlink(slot);
        log(BookUndo::Unlink {
            slot,
            level_freed,
            order,
        });
        Some(order)
    }

    /// Remove a resting order that the caller looked up and logs itself, as the returned
    /// [`TakenOut`]: its slot keeps the rest of the order (until the slot is reused: see
    /// [`Book::dead_slot`]). [`Book::put_back`] undoes it.
    #[inline]
    pub(crate) fn take_out(&mut self, id: OrderId) -> TakenOut {
        self.impact_memo.take();
        let slot = Self::slot_of(id);
        let o = &self.orders[slot as usize];
        debug_assert!(
            o.id == id && o.level != NIL,
            "taking out an order that does not rest"
        );
        let (level, prev, next) = (o.level, o.prev, o.next);
        let level_freed = self.unlink(slot);
        TakenOut {
            slot,
            level,
            prev,
            next,
            level_freed,
        }
    }

    /// Undo [`Book::take_out`]: the order's slot holds it again (but for its place).
    pub(crate) fn put_back(&mut self, t: TakenOut) -> &Order {
        self.impact_memo.take();
        let mut o = self.orders[t.slot as usize];
        (o.level, o.prev, o.next) = (t.level, t.prev, t.next);
        self.undo_unlink(t.slot, t.level_freed, o);
        &self.orders[t.slot as usize]
    }

    /// The content of the slot of `id` (reserved, not yet rested in), for a journal that may
    /// still need it (an order taken out earlier in the same command).
    pub(crate) fn dead_slot(&self, id: OrderId) -> Order {
        self.orders[Self::slot_of(id) as usize]
    }

    /// Undo the reuse of a free slot: its earlier content, as `dead_slot` returned it.
    pub(crate) fn restore_dead_slot(&mut self, slot: u32, dead: Order) {
        self.impact_memo.take();
        debug_assert_eq!(
            self.orders[slot as usize].level, NIL,
            "the slot is free again"
        );
        self.orders[slot as usize] = dead;
    }

    /// Reduce a resting order by `qty` (a fill); removes it when nothing remains.
    /// Returns the quantity still resting.
    pub fn fill(&mut self, id: OrderId, qty: Qty) -> Qty {
        self.impact_memo.take();
        self.fill_logged(id, qty, &mut |_| ())
    }

    /// [`Book::fill`], reporting how to undo it.
    #[inline]
    pub(crate) fn fill_logged(
        &mut self,
        id: OrderId,
        qty: Qty,
        log: &mut impl FnMut(BookUndo),
    ) -> Qty {
        self.impact_memo.take();
        let slot = Self::slot_of(id);
        let o = &mut self.orders[slot as usize];
        debug_assert!(o.id == id && o.level != NIL && qty.is_positive() && qty <= o.remaining);
        if qty == o.remaining {
            // Filled: the order leaves (its dead slot keeps the quantity it had, which nothing
            // reads, and which undoing the unlink restores).
            let order = *o;
            let level_freed = self.unlink(slot);
            log(BookUndo::Unlink {
                slot,
                level_freed,
                order,
            });
            return Qty::ZERO;
        }
        o.remaining = Qty::from_lots(o.remaining.lots() - qty.lots());
        let left = o.remaining;
        let level = o.level;
        self.levels[level as usize].total =
            Qty::from_lots(self.levels[level as usize].total.lots() - qty.lots());
        log(BookUndo::Take { slot, qty });
        left
    }

    /// Record where the order sits in its account's order list.
    #[inline]
    pub fn set_acct_slot(&mut self, id: OrderId, slot: u32) {
        self.impact_memo.take();
        self.set_acct_slot_logged(id, slot, &mut |_| ())
    }

    /// [`Book::set_acct_slot`], reporting how to undo it.
    #[inline]
    pub(crate) fn set_acct_slot_logged(
        &mut self,
        id: OrderId,
        acct_slot: u32,
        log: &mut impl FnMut(BookUndo),
    ) {
        self.impact_memo.take();
        let slot = Self::slot_of(id);
        let o = &mut self.orders[slot as usize];
        debug_assert_eq!(o.id, id);
        let old = std::mem::replace(&mut o.acct_slot, acct_slot);
        log(BookUndo::AcctSlot { slot, old });
    }

    /// Shrink a resting order's quantity in place (keeps its time priority).
    pub fn reduce(&mut self, id: OrderId, new_remaining: Qty) {
        self.impact_memo.take();
        self.reduce_logged(id, new_remaining, &mut |_| ())
    }

    /// [`Book::reduce`], reporting how to undo it.
    #[inline]
    pub(crate) fn reduce_logged(
        &mut self,
        id: OrderId,
        new_remaining: Qty,
        log: &mut impl FnMut(BookUndo),
    ) {
        self.impact_memo.take();
        let slot = Self::slot_of(id);
        let o = &self.orders[slot as usize];
        debug_assert!(new_remaining.is_positive() && new_remaining < o.remaining);
        let delta = o.remaining.lots() - new_remaining.lots();
        let level = o.level;
        self.orders[slot as usize].remaining = new_remaining;
        self.levels[level as usize].total =
            Qty::from_lots(self.levels[level as usize].total.lots() - delta);
        log(BookUndo::Take {
            slot,
            qty: Qty::from_lots(delta),
        });
    }

    /// Take back one change, reported by a `_logged` method. Records must be undone newest
    /// first: each then finds the book exactly as its change left it (checked in debug builds).
    pub(crate) fn undo(&mut self, u: BookUndo) {
        self.impact_memo.take();
        match u {
            BookUndo::Reserve { slot, grew } => {
                if grew {
                    debug_assert_eq!(self.orders.len() - 1, slot as usize);
                    self.orders.pop();
                } else {
                    self.free_orders.push(slot);
                }
            }
            BookUndo::Release { slot } => {
                let top = self.free_orders.pop();
                debug_assert_eq!(top, Some(slot));
            }
            BookUndo::Insert { slot, level } => self.undo_insert(slot, level),
            BookUndo::Unlink {
                slot,
                level_freed,
                order,
            } => self.undo_unlink(slot, level_freed, order),
            BookUndo::Take { slot, qty } => {
                let o = &mut self.orders[slot as usize];
                o.remaining = Qty::from_lots(o.remaining.lots() + qty.lots());
                let lv = &mut self.levels[o.level as usize];
                lv.total = Qty::from_lots(lv.total.lots() + qty.lots());
            }
            BookUndo::AcctSlot { slot, old } => self.orders[slot as usize].acct_slot = old,
        }
    }

    /// The order in `slot` is the last of its level (nothing newer is left): take it off the
    /// back, leave the slot dead (reserved) and drop a level made for it.
    fn undo_insert(&mut self, slot: u32, made: LevelMade) {
        self.impact_memo.take();
        let o = self.orders[slot as usize];
        let lv = &mut self.levels[o.level as usize];
        debug_assert_eq!(lv.tail, slot, "an undone insert is the back of its level");
        lv.tail = o.prev;
        lv.count -= 1;
        lv.total = Qty::from_lots(lv.total.lots() - o.remaining.lots());
        if o.prev == NIL {
            lv.head = NIL;
        } else {
            self.orders[o.prev as usize].next = NIL;
        }
        let dead = &mut self.orders[slot as usize];
        (dead.level, dead.prev, dead.next) = (NIL, NIL, NIL);
        self.resting -= 1;
        match made {
            LevelMade::No => return,
            LevelMade::Reused => self.free_levels.push(o.level),
            LevelMade::Pushed => {
                debug_assert_eq!(self.levels.len() - 1, o.level as usize);
                self.levels.pop();
            }
        }
        debug_assert_eq!(self.levels.get(o.level as usize).map_or(0, |l| l.count), 0);
        match o.side {
            Side::Buy => self.bids.remove(&o.price),
            Side::Sell => self.asks.remove(&o.price),
        };
    }

    /// Put `order` back in `slot`, between its queue neighbours (re-making its level if it was
    /// freed), and take the slot off the free stack.
    fn undo_unlink(&mut self, slot: u32, level_freed: bool, order: Order) {
        self.impact_memo.take();
        let top = self.free_orders.pop();
        debug_assert_eq!(top, Some(slot));
        self.orders[slot as usize] = order;
        let Order {
            level,
            prev,
            next,
            side,
            price,
            remaining,
            ..
        } = order;
        if level_freed {
            let top = self.free_levels.pop();
            debug_assert_eq!(top, Some(level));
            self.levels[level as usize] = Level {
                price,
                total: Qty::ZERO,
                count: 0,
                head: NIL,
                tail: NIL,
            };
            match side {
                Side::Buy => self.bids.insert(price, level),
                Side::Sell => self.asks.insert(price, level),
            };
        }
        if prev == NIL {
            self.levels[level as usize].head = slot;
        } else {
            self.orders[prev as usize].next = slot;
        }
        if next == NIL {
            self.levels[level as usize].tail = slot;
        } else {
            self.orders[next as usize].prev = slot;
        }
        let lv = &mut self.levels[level as usize];
        lv.count += 1;
        lv.total = Qty::from_lots(lv.total.lots() + remaining.lots());
        self.resting += 1;
    }

    /// Resting orders that a taker on `taker_side` with limit `limit` would meet, best first,
    /// in time priority within a level.
    pub fn crossing(&self, taker_side: Side, limit: Price) -> CrossingIter<'_> {
        let levels = match taker_side {
            Side::Buy => Levels::Up(self.asks.up_to(limit).iter()),
            Side::Sell => Levels::Down(self.bids.from(limit).iter().rev()),
        };
        CrossingIter {
            book: self,
            levels,
            next: NIL,
        }
    }

    /// Iterate the levels of one side, best first: (price, total quantity, order count).
    pub fn levels(&self, side: Side) -> impl Iterator<Item = (Price, Qty, u32)> + '_ {
        self.side_levels(side).map(|&(_, l)| {
            let lv = &self.levels[l as usize];
            (lv.price, lv.total, lv.count)
        })
    }

    /// Every resting order of one side in priority order (for hashing, snapshots and checks).
    pub fn orders_in_priority(&self, side: Side) -> impl Iterator<Item = &Order> + '_ {
        self.side_levels(side).flat_map(move |&(_, l)| LevelIter {
            book: self,
            next: self.levels[l as usize].head,
        })
    }

    /// One side's levels, best price first.
    fn side_levels(&self, side: Side) -> Levels<'_> {
        match side {
            Side::Buy => Levels::Down(self.bids.all().iter().rev()),
            Side::Sell => Levels::Up(self.asks.all().iter()),
        }
    }

    /// Match a taker against the book without any account logic (no self-trade check, no
    /// margin): the bare book used by benchmarks and the reference tests. Fills are appended
    /// to `out`; returns the quantity left unfilled.
    ///
    /// It walks level by level from the best, so each emptied level is the index's first
    /// (asks) or last (bids) entry: no search.
    pub fn sweep(
        &mut self,
        side: Side,
        limit: Price,
        mut qty: Qty,
        out: &mut Vec<BookFill>,
    ) -> Qty {
        self.impact_memo.take();
        while qty.is_positive() {
            let best = match side {
                Side::Buy => self.asks.first(),
                Side::Sell => self.bids.last(),
            };
            let Some(&(price, l)) = best else { break };
            if !side.crosses(limit, price) {
                break;
            }
            let l = l as usize;
            let lv = &mut self.levels[l];
            while qty.is_positive() && lv.head != NIL {
                let head = lv.head;
                let o = &mut self.orders[head as usize];
                let q = qty.min(o.remaining);
                out.push(BookFill {
                    maker: o.id,
                    maker_account: o.account,
                    price,
                    qty: q,
                });
                o.remaining = Qty::from_lots(o.remaining.lots() - q.lots());
                lv.total = Qty::from_lots(lv.total.lots() - q.lots());
                qty = Qty::from_lots(qty.lots() - q.lots());
                if o.remaining.is_zero() {
                    let next = o.next;
                    o.level = NIL;
                    o.next = NIL;
                    lv.head = next;
                    lv.count -= 1;
                    if next == NIL {
                        lv.tail = NIL;
                    } else {
                        self.orders[next as usize].prev = NIL;
                    }
                    self.free_orders.push(head);
                    self.resting -= 1;
                }
            }
            if lv.count == 0 {
                match side {
                    Side::Buy => self.asks.remove_first(),
                    Side::Sell => self.bids.remove_last(),
                }
                self.free_levels.push(l as u32);
            } else {
                break;
            }
        }
        qty
    }

    /// The lowest and highest price of any resting order (`None` for an empty book).
    pub fn price_range(&self) -> Option<(Price, Price)> {
        let lowest = [self.bids.first(), self.asks.first()]
            .into_iter()
            .flatten()
            .map(|&(p, _)| p)
            .min()?;
        let highest = [self.bids.last(), self.asks.last()]
            .into_iter()
            .flatten()
            .map(|&(p, _)| p)
            .max()?;
        Some((lowest, highest))
    }

    /// Move every resting order by `delta` micro-USD: the index, the levels and the live
    /// orders (dead slots and freed levels keep what they held: the undo records of orders
    /// that left before rely on it). A uniform move keeps every order in its place, time
    /// priority, level and slot, the book uncrossed and the index sorted, and moving back by
    /// `-delta` gives the same book exactly. The caller keeps every price positive and within
    /// the market's bounds.
    pub(crate) fn shift(&mut self, delta: i64) {
        self.impact_memo.take();
        for index in [&mut self.bids, &mut self.asks] {
            for (price, l) in index.0.iter_mut() {
                *price = Price::from_micros(price.micros() + delta);
                let lv = &mut self.levels[*l as usize];
                lv.price = *price;
                let mut cur = lv.head;
                while cur != NIL {
                    let o = &mut self.orders[cur as usize];
                    o.price = *price;
                    cur = o.next;
                }
            }
        }
    }

    /// Check the book's internal consistency; returns a description of the first breach.
    pub fn check(&self) -> Result<(), String> {
        if let (Some(b), Some(a)) = (self.best_bid(), self.best_ask()) {
            if b >= a {
                return Err(format!("book crossed: best bid {b} >= best ask {a}"));
            }
        }
        let mut seen = 0usize;
        for (side, map) in [(Side::Buy, &self.bids), (Side::Sell, &self.asks)] {
            for &(price, l) in map.all() {
                let lv = &self.levels[l as usize];
                if lv.price != price || lv.count == 0 {
                    return Err(format!("level {price} inconsistent or empty"));
                }
                let (mut total, mut count, mut cur, mut prev) = (0i64, 0u32, lv.head, NIL);
                while cur != NIL {
                    let o = &self.orders[cur as usize];
                    if o.side != side || o.price != price || o.level != l || o.prev != prev {
                        return Err(format!("order {:?} misfiled at level {price}", o.id));
                    }
                    if !o.remaining.is_positive() {
                        return Err(format!("order {:?} rests with no quantity", o.id));
                    }
                    total += o.remaining.lots();
                    count += 1;
                    prev = cur;
                    cur = o.next;
                }
                if total != lv.total.lots() || count != lv.count || prev != lv.tail {
                    return Err(format!("level {price} totals disagree with its orders"));
                }
                seen += count as usize;
            }
        }
        if seen != self.resting {
            return Err(format!(
                "book counts {} resting orders, levels hold {seen}",
                self.resting
            ));
        }
        Ok(())
    }

    /// The level of `price` on `side`, made if missing: (its slot, whether it was made).
    #[inline]
    fn level_for(&mut self, side: Side, price: Price) -> (u32, LevelMade) {
        self.impact_memo.take();
        let map = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let at = match map.find(price) {
            Ok(i) => return (map.level_at(i), LevelMade::No),
            Err(at) => at,
        };
        let lv = Level {
            price,
            total: Qty::ZERO,
            count: 0,
            head: NIL,
            tail: NIL,
        };
        let (l, made) = match self.free_levels.pop() {
            Some(l) => {
                self.levels[l as usize] = lv;
                (l, LevelMade::Reused)
            }
            None => {
                self.levels.push(lv);
                ((self.levels.len() - 1) as u32, LevelMade::Pushed)
            }
        };
        map.insert_at(at, price, l);
        (l, made)
    }

    fn link_back(&mut self, level: u32, slot: u32) {
        self.impact_memo.take();
        let lv = &mut self.levels[level as usize];
        let tail = lv.tail;
        lv.tail = slot;
        lv.count += 1;
        lv.total = Qty::from_lots(lv.total.lots() + self.orders[slot as usize].remaining.lots());
        if tail == NIL {
            lv.head = slot;
        } else {
            self.orders[tail as usize].next = slot;
            self.orders[slot as usize].prev = tail;
        }
    }

    /// Take the order in `slot` out of its level; returns whether that emptied (and freed)
    /// the level. The caller logs it.
    fn unlink(&mut self, slot: u32) -> bool {
        self.impact_memo.take();
        let o = self.orders[slot as usize];
        let lv = &mut self.levels[o.level as usize];
        if o.prev == NIL {
            lv.head = o.next;
        } else {
            self.orders[o.prev as usize].next = o.next;
        }
        let lv = &mut self.levels[o.level as usize];
        if o.next == NIL {
            lv.tail = o.prev;
        } else {
            self.orders[o.next as usize].prev = o.prev;
        }
        let lv = &mut self.levels[o.level as usize];
        lv.count -= 1;
        lv.total = Qty::from_lots(lv.total.lots() - o.remaining.lots());
        let level_freed = lv.count == 0;
        if level_freed {
            match o.side {
                Side::Buy => self.bids.remove(&o.price),
                Side::Sell => self.asks.remove(&o.price),
            };
            self.free_levels.push(o.level);
        }
        let dead = &mut self.orders[slot as usize];
        dead.level = NIL;
        dead.prev = NIL;
        dead.next = NIL;
        self.free_orders.push(slot);
        self.resting -= 1;
        level_freed
    }
}

impl PartialEq for Book {
    fn eq(&self, other: &Book) -> bool {
        let live_orders_equal = [Side::Buy, Side::Sell].into_iter().all(|side| {
            self.orders_in_priority(side)
                .zip(other.orders_in_priority(side))
                .all(|(a, b)| a == b)
        });
        let live_levels = |b: &Book| -> Vec<Level> {
            (b.bids.all().iter().chain(b.asks.all()))
                .map(|&(_, l)| b.levels[l as usize])
                .collect()
        };
        self.resting == other.resting
            && self.orders.len() == other.orders.len()
            && self.levels.len() == other.levels.len()
            && self.free_orders == other.free_orders
            && self.free_levels == other.free_levels
            && self.bids == other.bids
            && self.asks == other.asks
            && live_levels(self) == live_levels(other)
            && live_orders_equal
    }
}

impl Eq for Book {}

/// One side's price levels: (price, level slot), sorted by price, ascending (the best bid is
/// the last entry, the best ask the first). A sorted vector rather than a `BTreeMap`: a book
/// holds tens of levels, most of them near the top, and every maker order placed at a price
/// of its own inserts a level and its cancel removes it; a binary search and a short move of
/// the entries beyond it cost a fraction of a tree's node search, insert and rebalancing. An
/// insert or removal moves the entries on the far side of its price (16 bytes each, at most one
/// per resting order: `MAX_RESTING_ORDERS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PriceIndex(Vec<(Price, u32)>);

impl PriceIndex {
    /// Where `price` is (`Ok`) or would be inserted (`Err`).
    #[inline]
    fn find(&self, price: Price) -> Result<usize, usize> {
        self.0.binary_search_by(|&(p, _)| p.cmp(&price))
    }

    #[inline]
    fn level_at(&self, i: usize) -> u32 {
        self.0[i].1
    }

    /// Inserts `price` at `at`, the place `find` gave for it.
    #[inline]
    fn insert_at(&mut self, at: usize, price: Price, level: u32) {
        debug_assert_eq!(self.find(price), Err(at));
        self.0.insert(at, (price, level));
    }

    /// Sets the level of `price`; returns the one it replaced.
    #[inline]
    fn insert(&mut self, price: Price, level: u32) -> Option<u32> {
        match self.find(price) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, level)),
            Err(i) => {
                self.0.insert(i, (price, level));
                None
            }
        }
    }

    #[inline]
    fn remove(&mut self, price: &Price) -> Option<u32> {
        let i = self.find(*price).ok()?;
        Some(self.0.remove(i).1)
    }

    #[inline]
    fn first(&self) -> Option<&(Price, u32)> {
        self.0.first()
    }

    #[inline]
    fn last(&self) -> Option<&(Price, u32)> {
        self.0.last()
    }

    fn remove_first(&mut self) {
        if !self.0.is_empty() {
            self.0.remove(0);
        }
    }

    fn remove_last(&mut self) {
        self.0.pop();
    }

    /// Every level, ascending.
    #[inline]
    fn all(&self) -> &[(Price, u32)] {
        &self.0
    }

    /// The levels priced at or below `limit`, ascending.
    #[inline]
    fn up_to(&self, limit: Price) -> &[(Price, u32)] {
        &self.0[..self.0.partition_point(|&(p, _)| p <= limit)]
    }

    /// The levels priced at or above `limit`, ascending.
    #[inline]
    fn from(&self, limit: Price) -> &[(Price, u32)] {
        &self.0[self.0.partition_point(|&(p, _)| p < limit)..]
    }
}

/// Price levels of one side (or a range of them), best price first: (price, level slot).
/// An enum rather than a boxed iterator: every order placed and every mark computed walks
/// one, and a box cost an allocation each time.
enum Levels<'a> {
    /// Bids: highest price first.
    Down(Rev<slice::Iter<'a, (Price, u32)>>),
    /// Asks: lowest price first.
    Up(slice::Iter<'a, (Price, u32)>),
}

impl<'a> Iterator for Levels<'a> {
    type Item = &'a (Price, u32);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Levels::Down(it) => it.next(),
            Levels::Up(it) => it.next(),
        }
    }
}

/// Orders that cross a taker's limit, best price first, oldest first within a price.
pub struct CrossingIter<'a> {
    book: &'a Book,
    levels: Levels<'a>,
    next: u32,
}

impl<'a> Iterator for CrossingIter<'a> {
    type Item = &'a Order;
    fn next(&mut self) -> Option<&'a Order> {
        while self.next == NIL {
            let &(_, l) = self.levels.next()?;
            self.next = self.book.levels[l as usize].head;
        }
        let o = &self.book.orders[self.next as usize];
        self.next = o.next;
        Some(o)
    }
}

struct LevelIter<'a> {
    book: &'a Book,
    next: u32,
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = &'a Order;
    fn next(&mut self) -> Option<&'a Order> {
        if self.next == NIL {
            return None;
        }
        let o = &self.book.orders[self.next as usize];
        self.next = o.next;
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    //! The undo log: every logged change, undone newest first, gives back the exact book.
    use super::*;
    use proptest::prelude::*;

    fn new_order(side: Side, price: i64, qty: i64) -> NewOrder {
        NewOrder {
            account: AccountId(1),
            side,
            price: Price::from_micros(price),
            qty: Qty::from_lots(qty),
            reduce_only: false,
        }
    }

    /// Rest a logged order: reserve then insert, as the engine does.
    fn rest(b: &mut Book, log: &mut Vec<BookUndo>, seq: u64, o: NewOrder) -> OrderId {
        let id = b.reserve_logged(seq, &mut |u| log.push(u));
        b.insert_logged(id, o, 0, &mut |u| log.push(u));
        id
    }

    fn undo_all(b: &mut Book, log: &mut Vec<BookUndo>) {
        while let Some(u) = log.pop() {
            b.undo(u);
        }
    }

    fn ids(b: &Book, side: Side) -> Vec<OrderId> {
        b.orders_in_priority(side).map(|o| o.id).collect()
    }

    #[test]
    fn remove_then_undo_restores_queue_position_and_free_slots() {
        let mut b = Book::new();
        let mut log = Vec::new();
        // Three orders at one price (a FIFO), one at another; then free two slots.
        let a = rest(&mut b, &mut log, 1, new_order(Side::Buy, 100, 5));
        let mid = rest(&mut b, &mut log, 2, new_order(Side::Buy, 100, 6));
        let c = rest(&mut b, &mut log, 3, new_order(Side::Buy, 100, 7));
        let lone = rest(&mut b, &mut log, 4, new_order(Side::Buy, 99, 1));
        let gone1 = rest(&mut b, &mut log, 5, new_order(Side::Sell, 105, 1));
        let gone2 = rest(&mut b, &mut log, 6, new_order(Side::Sell, 106, 1));
        b.remove(gone1);
        b.remove(gone2);
        log.clear();
        let before = b.clone();
        assert_eq!(
            b.free_slots(),
            &[Book::slot_of(gone1), Book::slot_of(gone2)]
        );

        // Take the middle of the FIFO out, empty the lone level, fill the head partly, and
        // rest a new order (it reuses a free slot and the lone level's freed slot).
        assert!(b.remove_logged(mid, &mut |u| log.push(u)).is_some());
        assert!(b.remove_logged(lone, &mut |u| log.push(u)).is_some());
        assert_eq!(
            b.fill_logged(a, Qty::from_lots(2), &mut |u| log.push(u)),
            Qty::from_lots(3)
        );
        let new = rest(&mut b, &mut log, 7, new_order(Side::Buy, 98, 4));
        b.set_acct_slot_logged(c, 9, &mut |u| log.push(u));
        assert_eq!(ids(&b, Side::Buy), vec![a, c, new]);
        assert_ne!(b, before);

        undo_all(&mut b, &mut log);
        assert_eq!(
            ids(&b, Side::Buy),
            vec![a, mid, c, lone],
            "queue positions restored"
        );
        assert_eq!(
            b.free_slots(),
            before.free_slots(),
            "free slots in the same order"
        );
        assert_eq!(b.get(a).unwrap().remaining, Qty::from_lots(5)); // ok: a test
        assert_eq!(b.get(c).unwrap().acct_slot, 0); // ok: a test
        assert_eq!(b, before, "the whole book");
        b.check().unwrap(); // ok: a test
                            // And the book still works: the next order gets the id the untouched book would give.
        let mut twin = before.clone();
        assert_eq!(b.reserve(8), twin.reserve(8));
    }

    #[test]
    fn a_fill_that_empties_the_order_and_its_level_undoes_exactly() {
        let mut b = Book::new();
        let bid = b.insert_new(1, new_order(Side::Buy, 100, 3));
        let ask = b.insert_new(2, new_order(Side::Sell, 101, 3));
        let before = b.clone();
        let mut log = Vec::new();
        assert!(b
            .fill_logged(ask, Qty::from_lots(3), &mut |u| log.push(u))
            .is_zero());
        let id = b.reserve_logged(3, &mut |u| log.push(u));
        b.release_logged(id, &mut |u| log.push(u));
        assert!(b.get(ask).is_none() && b.best_ask().is_none());
        undo_all(&mut b, &mut log);
        assert_eq!(b, before);
        assert_eq!(b.get(bid).unwrap().remaining, Qty::from_lots(3)); // ok: a test
    }

    #[derive(Clone, Debug)]
    enum Op {
        Rest { buy: bool, price: i64, qty: i64 },
        Remove(usize),
        Fill(usize, i64),
        Reduce(usize, i64),
        ReserveRelease,
        AcctSlot(usize, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), 1i64..8, 1i64..5).prop_map(|(buy, p, qty)| Op::Rest {
                buy,
                // Bids below 10, asks above: the book never crosses.
                price: if buy { p } else { p + 10 },
                qty,
            }),
            2 => any::<usize>().prop_map(Op::Remove),
            2 => (any::<usize>(), 1i64..5).prop_map(|(k, q)| Op::Fill(k, q)),
            1 => (any::<usize>(), 1i64..5).prop_map(|(k, q)| Op::Reduce(k, q)),
            1 => Just(Op::ReserveRelease),
            1 => (any::<usize>(), 0u32..50).prop_map(|(k, s)| Op::AcctSlot(k, s)),
        ]
    }

    /// Apply `op` (logged into `log` when given); `seq` numbers new orders.
    fn apply(b: &mut Book, op: &Op, seq: &mut u64, log: &mut Vec<BookUndo>) {
        let live: Vec<OrderId> = [Side::Buy, Side::Sell]
            .iter()
            .flat_map(|&s| ids(b, s))
            .collect();
        let pick = |k: usize| live.get(k % live.len().max(1)).copied();
        *seq += 1;
        let mut l = |u| log.push(u);
        match *op {
            Op::Rest { buy, price, qty } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let id = b.reserve_logged(*seq, &mut l);
                b.insert_logged(id, new_order(side, price, qty), 0, &mut l);
            }
            Op::Remove(k) => {
                if let Some(id) = pick(k) {
                    b.remove_logged(id, &mut l);
                }
            }
            Op::Fill(k, q) => {
                if let Some(id) = pick(k) {
                    let q = Qty::from_lots(q).min(b.get(id).unwrap().remaining); // ok: a test
                    b.fill_logged(id, q, &mut l);
                }
            }
            Op::Reduce(k, q) => {
                if let Some(id) = pick(k) {
                    let r = b.get(id).unwrap().remaining.lots(); // ok: a test
                    if r > 1 {
                        b.reduce_logged(id, Qty::from_lots(1 + q % (r - 1)), &mut l);
                    }
                }
            }
            Op::ReserveRelease => {
                let id = b.reserve_logged(*seq, &mut l);
                b.release_logged(id, &mut l);
            }
            Op::AcctSlot(k, s) => {
                if let Some(id) = pick(k) {
                    b.set_acct_slot_logged(id, s, &mut l);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// A committed prefix of random changes, then a logged suffix undone newest first:
        /// the book equals its state after the prefix, and keeps working identically.
        #[test]
        fn undoing_a_logged_suffix_restores_the_exact_book(
            prefix in proptest::collection::vec(op(), 0..60),
            suffix in proptest::collection::vec(op(), 0..60),
        ) {
            let mut b = Book::new();
            let mut seq = 0;
            let mut log = Vec::new();
            for o in &prefix {
                apply(&mut b, o, &mut seq, &mut log);
            }
            log.clear();
            let checkpoint = b.clone();
            for o in &suffix {
                apply(&mut b, o, &mut seq, &mut log);
                b.check().map_err(TestCaseError::fail)?;
            }
            undo_all(&mut b, &mut log);
            prop_assert_eq!(&b, &checkpoint);
            b.check().map_err(TestCaseError::fail)?;
            // The same change on both gives the same result (the same slot, so the same id).
            let mut twin = checkpoint.clone();
            let o = Op::Rest { buy: true, price: 3, qty: 2 };
            let (mut s1, mut s2) = (seq, seq);
            apply(&mut b, &o, &mut s1, &mut log);
            apply(&mut twin, &o, &mut s2, &mut Vec::new());
            prop_assert_eq!(&b, &twin);
        }
    }
}
