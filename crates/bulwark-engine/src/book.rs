//! The limit order book of one market: price-time priority, O(1) cancel.
//!
//! Layout, chosen for speed and determinism:
//! - orders live in a slab (`Vec<Order>` with a free list); an [`OrderId`] carries its slot in
//!   its low 24 bits and the engine-wide sequence number above them, so a cancel finds its
//!   order without hashing and a stale id (slot reused) is detected by comparing the full id;
//! - each price level is a doubly linked FIFO through the slab (time priority) plus a cached
//!   total quantity; levels live in their own slab;
//! - each side keeps a `BTreeMap<price, level slot>` for price priority. Iteration order of a
//!   `BTreeMap` is its key order, so nothing here depends on hashing or allocation addresses.
//!
//! The book knows nothing of accounts, margin or fees: the engine decides what to fill and
//! calls [`Book::fill`]; [`Book::sweep`] is a self-contained match used by benchmarks and the
//! reference tests.

use bulwark_core::{AccountId, OrderId, Price, Qty};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

#[derive(Clone, Copy, Debug)]
struct Level {
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

#[derive(Clone, Debug, Default)]
pub struct Book {
    orders: Vec<Order>,
    free_orders: Vec<u32>,
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    bids: BTreeMap<Price, u32>,
    asks: BTreeMap<Price, u32>,
    resting: usize,
}

impl Book {
    pub fn new() -> Book {
        Book::default()
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
        self.bids.last_key_value().map(|(p, _)| *p)
    }
    #[inline]
    pub fn best_ask(&self) -> Option<Price> {
        self.asks.first_key_value().map(|(p, _)| *p)
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
        let slot = match self.free_orders.pop() {
            Some(s) => s,
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
                (self.orders.len() - 1) as u32
            }
        };
        debug_assert!(seq < (1 << (64 - SLOT_BITS)));
        OrderId((seq << SLOT_BITS) | slot as u64)
    }

    /// Give back a reserved slot whose order never rested.
    pub fn release(&mut self, id: OrderId) {
        let slot = Self::slot_of(id);
        debug_assert_eq!(self.orders[slot as usize].level, NIL);
        self.free_orders.push(slot);
    }

    /// Reserve a slot and rest the order in it; returns its id.
    pub fn insert_new(&mut self, seq: u64, o: NewOrder) -> OrderId {
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
        debug_assert!(o.qty.is_positive() && o.price.is_positive());
        let slot = Self::slot_of(id);
        debug_assert_eq!(
            self.orders[slot as usize].level, NIL,
            "slot must be reserved"
        );
        let level = self.level_for(o.side, o.price);
        self.orders[slot as usize] = Order {
            id,
            account: o.account,
            side: o.side,
            price: o.price,
            remaining: o.qty,
            reduce_only: o.reduce_only,
            acct_slot: 0,
            prev: NIL,
            next: NIL,
            level,
        };
        self.link_back(level, slot);
        self.resting += 1;
    }

    /// Remove a resting order and return it.
    pub fn remove(&mut self, id: OrderId) -> Option<Order> {
        let slot = Self::slot_of(id);
        let o = *self.get(id)?;
        self.unlink(slot);
        Some(o)
    }

    /// Reduce a resting order by `qty` (a fill); removes it when nothing remains.
    /// Returns the quantity still resting.
    pub fn fill(&mut self, id: OrderId, qty: Qty) -> Qty {
        let slot = Self::slot_of(id);
        let o = &mut self.orders[slot as usize];
        debug_assert!(o.id == id && o.level != NIL && qty.is_positive() && qty <= o.remaining);
        o.remaining = Qty::from_lots(o.remaining.lots() - qty.lots());
        let left = o.remaining;
        let level = o.level;
        self.levels[level as usize].total =
            Qty::from_lots(self.levels[level as usize].total.lots() - qty.lots());
        if left.is_zero() {
            self.unlink(slot);
        }
        left
    }

    /// Record where the order sits in its account's order list.
    #[inline]
    pub fn set_acct_slot(&mut self, id: OrderId, slot: u32) {
        let o = &mut self.orders[Self::slot_of(id) as usize];
        debug_assert_eq!(o.id, id);
        o.acct_slot = slot;
    }

    /// Shrink a resting order's quantity in place (keeps its time priority).
    pub fn reduce(&mut self, id: OrderId, new_remaining: Qty) {
        let slot = Self::slot_of(id);
        let o = &self.orders[slot as usize];
        debug_assert!(new_remaining.is_positive() && new_remaining < o.remaining);
        let delta = o.remaining.lots() - new_remaining.lots();
        let level = o.level;
        self.orders[slot as usize].remaining = new_remaining;
        self.levels[level as usize].total =
            Qty::from_lots(self.levels[level as usize].total.lots() - delta);
    }

    /// Resting orders that a taker on `taker_side` with limit `limit` would meet, best first,
    /// in time priority within a level.
    pub fn crossing(&self, taker_side: Side, limit: Price) -> CrossingIter<'_> {
        let levels: Box<dyn Iterator<Item = (&Price, &u32)> + '_> = match taker_side {
            Side::Buy => Box::new(self.asks.range(..=limit)),
            Side::Sell => Box::new(self.bids.range(limit..).rev()),
        };
        CrossingIter {
            book: self,
            levels,
            next: NIL,
        }
    }

    /// Iterate the levels of one side, best first: (price, total quantity, order count).
    pub fn levels(&self, side: Side) -> impl Iterator<Item = (Price, Qty, u32)> + '_ {
        let map = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        let it: Box<dyn Iterator<Item = (&Price, &u32)>> = match side {
            Side::Buy => Box::new(map.iter().rev()),
            Side::Sell => Box::new(map.iter()),
        };
        it.map(|(_, &l)| {
            let lv = &self.levels[l as usize];
            (lv.price, lv.total, lv.count)
        })
    }

    /// Every resting order of one side in priority order (for hashing, snapshots and checks).
    pub fn orders_in_priority(&self, side: Side) -> impl Iterator<Item = &Order> + '_ {
        let map = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        let it: Box<dyn Iterator<Item = (&Price, &u32)>> = match side {
            Side::Buy => Box::new(map.iter().rev()),
            Side::Sell => Box::new(map.iter()),
        };
        it.flat_map(move |(_, &l)| LevelIter {
            book: self,
            next: self.levels[l as usize].head,
        })
    }

    /// Match a taker against the book without any account logic (no self-trade check, no
    /// margin): the bare book used by benchmarks and the reference tests. Fills are appended
    /// to `out`; returns the quantity left unfilled.
    ///
    /// It walks level by level through a `BTreeMap` entry, so each emptied level costs one
    /// entry removal and no second lookup.
    pub fn sweep(
        &mut self,
        side: Side,
        limit: Price,
        mut qty: Qty,
        out: &mut Vec<BookFill>,
    ) -> Qty {
        while qty.is_positive() {
            let entry = match side {
                Side::Buy => self.asks.first_entry(),
                Side::Sell => self.bids.last_entry(),
            };
            let Some(entry) = entry else { break };
            let price = *entry.key();
            if !side.crosses(limit, price) {
                break;
            }
            let l = *entry.get() as usize;
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
                entry.remove();
                self.free_levels.push(l as u32);
            } else {
                break;
            }
        }
        qty
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
            for (&price, &l) in map {
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

    fn level_for(&mut self, side: Side, price: Price) -> u32 {
        let map = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if let Some(&l) = map.get(&price) {
            return l;
        }
        let lv = Level {
            price,
            total: Qty::ZERO,
            count: 0,
            head: NIL,
            tail: NIL,
        };
        let l = match self.free_levels.pop() {
            Some(l) => {
                self.levels[l as usize] = lv;
                l
            }
            None => {
                self.levels.push(lv);
                (self.levels.len() - 1) as u32
            }
        };
        map.insert(price, l);
        l
    }

    fn link_back(&mut self, level: u32, slot: u32) {
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

    fn unlink(&mut self, slot: u32) {
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
        if lv.count == 0 {
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
    }
}

/// Orders that cross a taker's limit, best price first, oldest first within a price.
pub struct CrossingIter<'a> {
    book: &'a Book,
    levels: Box<dyn Iterator<Item = (&'a Price, &'a u32)> + 'a>,
    next: u32,
}

impl<'a> Iterator for CrossingIter<'a> {
    type Item = &'a Order;
    fn next(&mut self) -> Option<&'a Order> {
        while self.next == NIL {
            let (_, &l) = self.levels.next()?;
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
