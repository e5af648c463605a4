//! A market's recheck-trigger set (`Market::watch_down` / `watch_up`, see engine::watch): keys
//! `(trigger, account, scope)`, queried from one end only.
//!
//! Why not an ordered tree: the engine asks a `down` set only for its keys at or above a price
//! (and for the highest), an `up` set only for its keys at or below one (and for the lowest).
//! Every other operation inserts or removes an exact key, and a pool re-registering does both
//! on nearly every recheck: in a long lab run these changes, in a `BTreeSet` comparing whole
//! keys node by node, were a sixth of all the work. A binary heap ordered toward the queried end
//! answers both queries: the end key is the root, and the keys a query reaches form a subtree
//! hanging from the root, walked in preorder with pruning in time proportional to the hits.
//!
//! The keys the engine changes are mostly near the queried end (the pools a move just
//! reached), so a removal followed by an insertion would sift a node from the bottom to near
//! the root and another back down: a re-registration is one `replace`, which moves the pool's
//! node from its old trigger to its new one, usually a level or two. An exact key is found
//! through an open-addressing hash table whose buckets and heap nodes point at each other, so
//! sifting updates plain indices (the table hashes a key's pool, not its price, so a key that
//! moves keeps its bucket), and a copy of the whole set (a what-if session's, see the
//! journal's `WatchCopy`) copies two vectors of plain data.
//!
//! Determinism: the table hashes with a fixed function (no per-process random seed), and the
//! heap's layout depends only on the sequence of operations. A query yields its keys in the
//! heap's order, not the keys' order: every caller sorts and deduplicates what it collects.
//! Equality is set equality (the same keys in different layouts are equal, as after a rollback
//! that undid changes one by one), and `Debug` prints the keys sorted.

use crate::event::Scope;
use bulwark_core::AccountId;
use std::hash::{Hash, Hasher};

/// A key of a recheck set: (index-adjusted trigger price in micro-USD, account, scope).
pub type TriggerKey = (i128, AccountId, Scope);

/// The end of the price order a set is queried from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `down` sets: keys at or above a price, and the highest.
    Highest,
    /// `up` sets: keys at or below a price, and the lowest.
    Lowest,
}

/// A set of trigger keys, queried from one end of the price order (module docs).
#[derive(Clone)]
pub struct TriggerSet {
    end: End,
    /// The heap: every node's price is at or nearer the end than its children's (`before`).
    heap: Vec<Node>,
    /// The keys, hashed with linear probing: a power-of-two number of buckets (or none), at
    /// most half of them full. Each full bucket knows its node, each node its bucket, so
    /// sifting updates plain indices. Plain `Copy` data in one vector, so that a what-if
    /// session's copy of a set (journal's `WatchCopy`) is one memory copy.
    table: Vec<Bucket>,
}

/// A heap node: 24 bytes, where an `i128` price and a `usize` index would take 32 (an `i128`
/// aligns to 16). A session's copy of a set is a memory copy, and the sifts walk these nodes,
/// so their size is the set's cost.
#[derive(Clone, Copy, Debug)]
struct Node {
    price: Wide,
    bucket: u32,
}

/// A table bucket: 12 bytes. It holds the key's pool and its node; the price is the node's
/// (a key's probe compares it there), so the table, most of a set's bytes and of a session's
/// copy of it, carries no second copy of every price.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    account: AccountId,
    scope: Scope,
    /// The key's node in the heap, or `EMPTY`.
    at: u32,
}

/// An `i128` kept as two 8-byte words, so that it aligns to 8. The derived order (the signed
/// high word, then the unsigned low word) is the `i128` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Wide {
    hi: i64,
    lo: u64,
}

impl Wide {
    fn of(v: i128) -> Wide {
        Wide {
            hi: (v >> 64) as i64,
            lo: v as u64,
        }
    }

    fn get(self) -> i128 {
        ((self.hi as i128) << 64) | self.lo as i128
    }
}

const EMPTY: u32 = u32::MAX;

/// Children per heap node. Four halves the levels a far move passes (a pool's trigger jumping
/// between its maintenance and zero-equity prices as its flag flips), but a sift down compares
/// twice as many children a level and a query walks more of them: the gap file's 24-hour run
/// took 36.90 G instructions with four against 36.71 G with two.
const ARITY: usize = 2;

/// The parent of node `i > 0`.
#[inline]
fn parent(i: usize) -> usize {
    (i - 1) / ARITY
}

/// The first child of node `i` (the rest follow it).
#[inline]
fn first_child(i: usize) -> usize {
    ARITY * i + 1
}

/// Node and bucket indices are `u32`: a set holds at most one key per pool, and its table
/// (which grows, never shrinks) at most four buckets per key it has held at once, so a set
/// would need 2^30 pools at once (over 100 GB of sets) before an index reached `EMPTY`.
fn index(i: usize) -> u32 {
    debug_assert!(i < EMPTY as usize, "a trigger set of 2^30 keys");
    i as u32
}

const VACANT: Bucket = Bucket {
    account: AccountId(0),
    scope: Scope::Cross,
    at: EMPTY,
};

impl TriggerSet {
    /// An empty set queried from `end`.
    pub fn new(end: End) -> TriggerSet {
        TriggerSet {
            end,
            heap: Vec::new(),
            table: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn contains(&self, key: &TriggerKey) -> bool {
        self.find(key).is_ok()
    }

    /// Add `key`; whether it was absent (as `BTreeSet::insert`).
    pub fn insert(&mut self, key: TriggerKey) -> bool {
        if (self.heap.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let Err(bucket) = self.find(&key) else {
            return false;
        };
        let at = self.heap.len();
        self.fill(bucket, key, at);
        self.heap.push(Node {
            price: Wide::of(key.0),
            bucket: index(bucket),
        });
        self.sift_up(at);
        true
    }

    /// Take `key` out; whether it was present (as `BTreeSet::remove`).
    pub fn remove(&mut self, key: &TriggerKey) -> bool {
        let Ok(bucket) = self.find(key) else {
            return false;
        };
        let at = self.table[bucket].at as usize;
        self.vacate(bucket);
        if let Some(last) = self.heap.pop() {
            if at < self.heap.len() {
                // The last node fills the hole, and moves whichever way its price says.
                self.place(at, last);
                self.sift(at);
            }
        }
        true
    }

    /// `remove(old)` then `insert(new)`, with their results, in one step: a pool
    /// re-registering moves its key from one trigger to the next, usually a short way
    /// through the heap, where a removal and an insertion would each sift a node from the
    /// bottom and back.
    pub fn replace(&mut self, old: &TriggerKey, new: TriggerKey) -> (bool, bool) {
        // A pool's two keys share a probe path: one walk answers for both.
        let (from, new_present) = if (old.1, old.2) == (new.1, new.2) {
            let (from, present) = self.find_pair(old, &new);
            (from, Some(present))
        } else {
            (self.find(old), None)
        };
        let Ok(from) = from else {
            return (false, self.insert(new));
        };
        if old == &new {
            return (true, true);
        }
        if new_present.unwrap_or_else(|| self.find(&new).is_ok()) {
            return (self.remove(old), false);
        }
        let at = self.table[from].at as usize;
        if (old.1, old.2) == (new.1, new.2) {
            // The same pool, so the same home: the key changes its price where it is, and
            // only its node moves (the heap's steps are those of the general case below).
            self.heap[at].price = Wide::of(new.0);
            self.sift(at);
            return (true, true);
        }
        // Same number of keys: the table cannot need to grow.
        self.vacate(from);
        let Err(bucket) = self.find(&new) else {
            return (true, false); // unreachable: `new` was absent and nothing was added
        };
        self.fill(bucket, new, at);
        self.place(
            at,
            Node {
                price: Wide::of(new.0),
                bucket: index(bucket),
            },
        );
        self.sift(at);
        (true, true)
    }

    /// The price of the key nearest the end (the highest of a `Highest` set, the lowest of a
    /// `Lowest` one), if any.
    pub fn end_price(&self) -> Option<i128> {
        self.heap.first().map(|n| n.price.get())
    }

    /// The keys whose price is at or beyond `bound` toward the end (`>= bound` in a `Highest`
    /// set, `<= bound` in a `Lowest` one), in heap order.
    pub fn reached(&self, bound: i128) -> Reached<'_> {
        let next = self.reaches(0, bound).then_some(0);
        Reached {
            set: self,
            bound,
            next,
        }
    }

    /// Every key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = TriggerKey> + '_ {
        (0..self.heap.len()).map(|i| self.key_at(i))
    }

    fn key_at(&self, i: usize) -> TriggerKey {
        let node = self.heap[i];
        let b = self.table[node.bucket as usize];
        (node.price.get(), b.account, b.scope)
    }

    /// Whether a full bucket holds `key`: its pool, and its node's price.
    fn holds(&self, b: &Bucket, key: &TriggerKey) -> bool {
        (b.account, b.scope) == (key.1, key.2) && self.heap[b.at as usize].price == Wide::of(key.0)
    }

    /// Where `key` is (`Ok`), or the empty bucket it would go in (`Err`). The table has an
    /// empty bucket whenever it has any (at most half full), so the probe ends.
    fn find(&self, key: &TriggerKey) -> Result<usize, usize> {
        if self.table.is_empty() {
            return Err(0);
        }
        let mask = self.table.len() - 1;
        let mut i = home(key.1, key.2) & mask;
        loop {
            let b = &self.table[i];
            if b.at == EMPTY {
                return Err(i);
            }
            if self.holds(b, key) {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// For two keys of one pool: where `a` is (`Ok`) or would go (`Err`), as `find` says,
    /// and whether `b` is present. Both lie on the pool's probe path, so one walk to its end
    /// answers both.
    fn find_pair(&self, a: &TriggerKey, b: &TriggerKey) -> (Result<usize, usize>, bool) {
        debug_assert_eq!((a.1, a.2), (b.1, b.2));
        if self.table.is_empty() {
            return (Err(0), false);
        }
        let (price_a, price_b) = (Wide::of(a.0), Wide::of(b.0));
        let mask = self.table.len() - 1;
        let mut i = home(a.1, a.2) & mask;
        let (mut found, mut b_present) = (None, false);
        loop {
            let bucket = &self.table[i];
            if bucket.at == EMPTY {
                return (found.ok_or(i), b_present);
            }
            if (bucket.account, bucket.scope) == (a.1, a.2) {
                let price = self.heap[bucket.at as usize].price;
                if price == price_a {
                    found = Some(i);
                }
                b_present |= price == price_b;
            }
            i = (i + 1) & mask;
        }
    }

    /// Put `key`'s pool in `bucket`, pointing at node `at` (which holds, or is about to hold,
    /// its price).
    fn fill(&mut self, bucket: usize, key: TriggerKey, at: usize) {
        let (_, account, scope) = key;
        self.table[bucket] = Bucket {
            account,
            scope,
            at: index(at),
        };
    }

    /// Empty `bucket`, shifting back the keys after it that probed past it (so that no key
    /// is ever separated from its home by an empty bucket), and telling their nodes.
    fn vacate(&mut self, bucket: usize) {
        let mask = self.table.len() - 1;
        let mut hole = bucket;
        let mut j = (bucket + 1) & mask;
        loop {
            let b = self.table[j];
            if b.at == EMPTY {
                break;
            }
            let ideal = home(b.account, b.scope) & mask;
            // The key may fill the hole if its home is not after the hole on its probe path.
            if j.wrapping_sub(ideal) & mask >= j.wrapping_sub(hole) & mask {
                self.table[hole] = b;
                self.heap[b.at as usize].bucket = index(hole);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.table[hole] = VACANT;
    }

    /// Double the table (at least 8 buckets) and put every key back in.
    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(8);
        let old = std::mem::replace(&mut self.table, vec![VACANT; size]);
        let mask = size - 1;
        for at in 0..self.heap.len() {
            let b = old[self.heap[at].bucket as usize];
            // The keys are distinct, so no probe needs to compare: the first empty bucket.
            let mut i = home(b.account, b.scope) & mask;
            while self.table[i].at != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = Bucket { at: index(at), ..b };
            self.heap[at].bucket = index(i);
        }
    }

    /// Whether price `a` belongs nearer the root than `b`.
    fn before(&self, a: Wide, b: Wide) -> bool {
        match self.end {
            End::Highest => a > b,
            End::Lowest => a < b,
        }
    }

    /// Whether node `i` exists and lies at or beyond `bound`.
    fn reaches(&self, i: usize, bound: i128) -> bool {
        let bound = Wide::of(bound);
        self.heap.get(i).is_some_and(|n| match self.end {
            End::Highest => n.price >= bound,
            End::Lowest => n.price <= bound,
        })
    }

    fn place(&mut self, at: usize, node: Node) {
        self.heap[at] = node;
        self.table[node.bucket as usize].at = index(at);
    }

    /// Restore the heap order around node `at`, whose price changed.
    fn sift(&mut self, at: usize) {
        if at > 0 && self.before(self.heap[at].price, self.heap[parent(at)].price) {
            self.sift_up(at);
        } else {
            self.sift_down(at);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let node = self.heap[i];
        while i > 0 {
            let up = parent(i);
            let p = self.heap[up];
            if !self.before(node.price, p.price) {
                break;
            }
            self.place(i, p);
            i = up;
        }
        self.place(i, node);
    }

    fn sift_down(&mut self, mut i: usize) {
        let node = self.heap[i];
        let n = self.heap.len();
        loop {
            let first = first_child(i);
            if first >= n {
                break;
            }
            // The child nearest the end.
            let mut child = first;
            for k in first + 1..(first + ARITY).min(n) {
                if self.before(self.heap[k].price, self.heap[child].price) {
                    child = k;
                }
            }
            let c = self.heap[child];
            if !self.before(c.price, node.price) {
                break;
            }
            self.place(i, c);
            i = child;
        }
        self.place(i, node);
    }

    /// The first node after node `i`'s subtree, in preorder, that lies at or beyond `bound`,
    /// skipping the subtrees of those that do not (nothing below them can). Node `i` itself
    /// need not exist: a missing child's "subtree" is empty, and its parent is `parent(i)`.
    fn after_subtree(&self, mut i: usize, bound: i128) -> Option<usize> {
        while i > 0 {
            if (i - 1) % ARITY != ARITY - 1 && i + 1 < self.heap.len() {
                // Not its parent's last child: its next sibling is next.
                i += 1;
                if self.reaches(i, bound) {
                    return Some(i);
                }
            } else {
                // The last child, or the last there is: its parent's subtree is done.
                i = parent(i);
            }
        }
        None
    }
}

/// The keys of a set at or beyond a bound (`TriggerSet::reached`), in heap order.
pub struct Reached<'a> {
    set: &'a TriggerSet,
    bound: i128,
    next: Option<usize>,
}

impl Iterator for Reached<'_> {
    type Item = TriggerKey;

    fn next(&mut self) -> Option<TriggerKey> {
        let i = self.next?;
        let child = first_child(i);
        // Node `i`'s first child next if it reaches; if not (or there is none), what follows
        // its subtree: one of its siblings (`i`'s later children), or what follows `i`'s
        // subtree.
        self.next = if self.set.reaches(child, self.bound) {
            Some(child)
        } else {
            self.set.after_subtree(child, self.bound)
        };
        Some(self.set.key_at(i))
    }
}

/// Set equality: the same keys, whatever the layout.
impl PartialEq for TriggerSet {
    fn eq(&self, other: &TriggerSet) -> bool {
        self.end == other.end
            && self.len() == other.len()
            && self.iter().all(|k| other.contains(&k))
    }
}

impl Eq for TriggerSet {}

/// The keys in order, as a `BTreeSet` prints them (a diff of two engines compares them).
impl std::fmt::Debug for TriggerSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<TriggerKey> = self.iter().collect();
        keys.sort_unstable();
        f.debug_set().entries(keys).finish()
    }
}

/// Where a key's probe starts, before masking to the table's size: a hash of its pool alone,
/// not of its price. A set holds one key per pool, so pools still spread over the table, and a
/// pool's key moving to a new price (`replace`, nearly every re-registration) keeps its bucket:
/// no removal from the table, no second probe, no insertion.
fn home(account: AccountId, scope: Scope) -> usize {
    let mut h = KeyHasher::default();
    (account, scope).hash(&mut h);
    h.finish() as usize
}

/// A fixed multiply-rotate hash (FxHash's), so that the table's layout never depends on a
/// random seed. The keys come from the engine's own state, not from outside input that could be
/// chosen to collide. Wrapping arithmetic is the hash function itself, not a value.
#[derive(Clone, Copy, Default)]
struct KeyHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // The product's high bits are its best: move them to where the table's index comes from.
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.add(u64::from(v));
    }

    fn write_u16(&mut self, v: u16) {
        self.add(u64::from(v));
    }

    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }

    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    fn write_u128(&mut self, v: u128) {
        self.add(v as u64);
        self.add((v >> 64) as u64);
    }

    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::MarketId;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn key(price: i128, account: u32) -> TriggerKey {
        (price, AccountId(account), Scope::Cross)
    }

    fn sorted(it: impl Iterator<Item = TriggerKey>) -> Vec<TriggerKey> {
        let mut v: Vec<TriggerKey> = it.collect();
        v.sort_unstable();
        v
    }

    /// Every node at or nearer the end than its children, every node and its bucket pointing
    /// at each other, and every key found where its probe leads.
    fn check_shape(s: &TriggerSet) {
        for i in 1..s.heap.len() {
            assert!(!s.before(s.heap[i].price, s.heap[parent(i)].price));
        }
        for (i, n) in s.heap.iter().enumerate() {
            assert_eq!(s.table[n.bucket as usize].at as usize, i);
            assert_eq!(s.find(&s.key_at(i)), Ok(n.bucket as usize));
        }
        let full = s.table.iter().filter(|b| b.at != EMPTY).count();
        assert_eq!(full, s.heap.len());
        assert!(s.table.len() >= 2 * full);
    }

    #[test]
    fn a_highest_set_answers_from_the_top() {
        let mut s = TriggerSet::new(End::Highest);
        assert_eq!(s.end_price(), None);
        assert_eq!(s.reached(i128::MIN).count(), 0);
        for (p, a) in [(5, 1), (9, 2), (1, 3), (7, 4), (9, 5), (3, 6)] {
            assert!(s.insert(key(p, a)));
        }
        assert!(!s.insert(key(7, 4))); // present already
        check_shape(&s);
        assert_eq!(s.len(), 6);
        assert_eq!(s.end_price(), Some(9));
        assert_eq!(sorted(s.reached(7)), [key(7, 4), key(9, 2), key(9, 5)]);
        assert_eq!(sorted(s.reached(10)), []);
        assert_eq!(s.reached(i128::MIN).count(), 6);
        assert!(s.remove(&key(9, 2)));
        assert!(!s.remove(&key(9, 2))); // gone already
        assert!(!s.remove(&key(5, 2))); // another price
        check_shape(&s);
        assert_eq!(s.end_price(), Some(9));
        assert!(s.remove(&key(9, 5)));
        assert_eq!(s.end_price(), Some(7));
        assert_eq!(sorted(s.reached(4)), [key(5, 1), key(7, 4)]);
        check_shape(&s);
    }

    #[test]
    fn a_lowest_set_answers_from_the_bottom() {
        let mut s = TriggerSet::new(End::Lowest);
        let isolated = (4, AccountId(1), Scope::Isolated(MarketId(0)));
        for k in [key(4, 1), isolated, key(-2, 2), key(8, 3), key(6, 4)] {
            assert!(s.insert(k));
        }
        check_shape(&s);
        assert_eq!(s.end_price(), Some(-2));
        assert_eq!(sorted(s.reached(4)), [key(-2, 2), key(4, 1), isolated]);
        assert_eq!(sorted(s.reached(-3)), []);
        assert!(s.remove(&key(-2, 2)));
        assert_eq!(s.end_price(), Some(4));
        for k in [key(4, 1), isolated, key(8, 3), key(6, 4)] {
            assert!(s.remove(&k));
            check_shape(&s);
        }
        assert!(s.len() == 0 && s.table.iter().all(|b| b.at == EMPTY));
    }

    #[test]
    fn a_replacement_is_a_removal_then_an_insertion() {
        let mut s = TriggerSet::new(End::Highest);
        for p in [10, 20, 30, 40, 50] {
            assert!(s.insert(key(p, p as u32)));
        }
        // A key moving toward the end passes the root.
        assert_eq!(s.replace(&key(20, 20), key(60, 20)), (true, true));
        check_shape(&s);
        assert_eq!(s.end_price(), Some(60));
        assert_eq!(sorted(s.reached(45)), [key(50, 50), key(60, 20)]);
        // And away from it, to the bottom.
        assert_eq!(s.replace(&key(60, 20), key(5, 20)), (true, true));
        check_shape(&s);
        assert_eq!(s.end_price(), Some(50));
        // Unchanged, absent, or onto a key present already.
        assert_eq!(s.replace(&key(5, 20), key(5, 20)), (true, true));
        assert_eq!(s.replace(&key(7, 1), key(8, 1)), (false, true));
        assert_eq!(s.replace(&key(8, 1), key(50, 50)), (true, false));
        check_shape(&s);
        let keys = [
            key(5, 20),
            key(10, 10),
            key(30, 30),
            key(40, 40),
            key(50, 50),
        ];
        assert_eq!(sorted(s.iter()), keys);
    }

    /// A price as two words round-trips and keeps the `i128` order, at both ends and across
    /// the words' boundary; a node is 24 bytes and a bucket 12.
    #[test]
    fn a_wide_price_keeps_its_value_and_order() {
        let w = 1i128 << 64;
        let mut v = [
            i128::MIN,
            -w - 1,
            -w,
            -w + 1,
            -1,
            0,
            1,
            u64::MAX as i128,
            w,
            w + 1,
            i128::MAX,
        ];
        for &x in &v {
            assert_eq!(Wide::of(x).get(), x);
        }
        v.reverse();
        let mut wides: Vec<Wide> = v.iter().map(|&x| Wide::of(x)).collect();
        wides.sort();
        let back: Vec<i128> = wides.iter().map(|x| x.get()).collect();
        v.sort();
        assert_eq!(back, v);
        assert_eq!(std::mem::size_of::<Node>(), 24);
        assert_eq!(std::mem::size_of::<Bucket>(), 12);
    }

    #[test]
    fn equality_is_of_the_keys_not_the_layout() {
        let mut a = TriggerSet::new(End::Highest);
        let mut b = TriggerSet::new(End::Highest);
        for p in [1, 2, 3, 4] {
            assert!(a.insert(key(p, 0)));
        }
        for p in [4, 1, 3, 2, 9] {
            assert!(b.insert(key(p, 0)));
        }
        assert!(b.remove(&key(9, 0)));
        let layout = |s: &TriggerSet| s.heap.iter().map(|n| n.price.get()).collect::<Vec<_>>();
        assert_ne!(layout(&a), layout(&b)); // different layouts
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(b.remove(&key(1, 0)) && b.insert(key(1, 1)));
        assert_ne!(a, b);
        assert_ne!(TriggerSet::new(End::Highest), TriggerSet::new(End::Lowest));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(TriggerKey),
        Remove(TriggerKey),
        Replace(TriggerKey, TriggerKey),
        Reached(i128),
        Clone,
    }

    fn any_key() -> impl Strategy<Value = TriggerKey> {
        (
            prop_oneof![-20i128..20, Just(i128::MIN), Just(i128::MAX)],
            0u32..6,
            prop_oneof![
                Just(Scope::Cross),
                (0u16..2).prop_map(|m| Scope::Isolated(MarketId(m)))
            ],
        )
            .prop_map(|(p, a, s)| (p, AccountId(a), s))
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any_key().prop_map(Op::Insert),
            3 => any_key().prop_map(Op::Remove),
            3 => (any_key(), any_key()).prop_map(|(a, b)| Op::Replace(a, b)),
            // A pool's key moving to a new price, as a re-registration moves it (in place).
            3 => (any_key(), -20i128..20).prop_map(|(k, p)| Op::Replace(k, (p, k.1, k.2))),
            2 => prop_oneof![-22i128..22, Just(i128::MIN), Just(i128::MAX)].prop_map(Op::Reached),
            1 => Just(Op::Clone),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Under any sequence of inserts, removes and replacements (each as a remove and an
        /// insert), the set answers exactly as a `BTreeSet`
        /// of the same keys: the results of the changes, the end, the keys a bound reaches (as
        /// the engine's range queries from the top or bottom found them), and equality.
        #[test]
        fn it_answers_as_an_ordered_set(
            highest in any::<bool>(),
            ops in proptest::collection::vec(any_op(), 0..200),
        ) {
            let end = if highest { End::Highest } else { End::Lowest };
            let mut s = TriggerSet::new(end);
            let mut b: BTreeSet<TriggerKey> = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(k) => prop_assert_eq!(s.insert(k), b.insert(k)),
                    Op::Remove(k) => prop_assert_eq!(s.remove(&k), b.remove(&k)),
                    Op::Replace(old, new) => {
                        prop_assert_eq!(s.replace(&old, new), (b.remove(&old), b.insert(new)))
                    }
                    Op::Reached(p) => {
                        let want: Vec<TriggerKey> = if highest {
                            b.range((p, AccountId(0), Scope::Cross)..).copied().collect()
                        } else {
                            let to = (p, AccountId(u32::MAX), Scope::Isolated(MarketId(u16::MAX)));
                            b.range(..=to).copied().collect()
                        };
                        prop_assert_eq!(sorted(s.reached(p)), want);
                    }
                    Op::Clone => {
                        // A copy rebuilt in another order is equal, and prints the same.
                        let mut c = TriggerSet::new(end);
                        for k in b.iter().rev() {
                            c.insert(*k);
                        }
                        prop_assert_eq!(&c, &s);
                        prop_assert_eq!(format!("{c:?}"), format!("{b:?}"));
                        s = s.clone();
                    }
                }
                check_shape(&s);
                prop_assert_eq!(s.len(), b.len());
                let want = if highest { b.last() } else { b.first() };
                prop_assert_eq!(s.end_price(), want.map(|k| k.0));
                prop_assert_eq!(sorted(s.iter()), b.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
