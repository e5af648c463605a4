//! The run's one event queue, ordered by (time, sequence number): two events at the same
//! millisecond come out in the order they went in, and what goes in is itself deterministic,
//! so ties never depend on luck.
//!
//! The run's three clocks (engine step, block, oracle poll) each keep exactly one event
//! pending: its handler schedules the next. They make about a third of all events, so each
//! waits in a slot of its own rather than in the heap, which then holds only agents'
//! wake-ups. Those split in two heaps by how far ahead they are: most are a market maker's
//! or an arbitrageur's next look within seconds, while a thousand traders wait hours for their
//! next entry; the near heap stays small, and so cheap to pop. Every event, slot or heap,
//! takes its sequence number from the one counter and `pop` takes the least (time, sequence)
//! of all, so the order is what one heap gives, whatever goes where.

/// What can happen at a point of simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ev {
    /// An engine step: `Tick`, the mark feed, samples.
    Step,
    /// The chain produces a block.
    Block,
    /// The oracle feed looks at the outside price.
    OraclePoll,
    /// An agent's wake-up; `gen` tells a current one from one an earlier wake-up replaced.
    Wake { agent: u32, gen: u32 },
}

/// The clocks with a slot, in slot order.
const CLOCKS: [Ev; 3] = [Ev::Step, Ev::Block, Ev::OraclePoll];

impl Ev {
    /// The slot of a clock event.
    fn clock(self) -> Option<usize> {
        match self {
            Ev::Step => Some(0),
            Ev::Block => Some(1),
            Ev::OraclePoll => Some(2),
            Ev::Wake { .. } => None,
        }
    }
}

/// A wake-up this soon after the last event popped goes in the near heap, ms.
const NEAR_MS: u64 = 10_000;

/// An event's place in the order: its time in the high 64 bits, its sequence number in the
/// low ones, so one integer comparison orders by (time, sequence).
type Key = u128;

/// No event: sequence numbers never reach `u64::MAX`, so no event has this key.
const NONE: Key = Key::MAX;

fn key(t_ms: u64, seq: u64) -> Key {
    (Key::from(t_ms) << 64) | Key::from(seq)
}

fn time_of(key: Key) -> u64 {
    (key >> 64) as u64
}

#[derive(Debug)]
pub struct EventQueue {
    /// Wake-ups due within [`NEAR_MS`] of `now_ms` when pushed, and the others.
    near: KeyHeap,
    far: KeyHeap,
    /// The key of each clock's pending event, or [`NONE`].
    clocks: [Key; 3],
    seq: u64,
    /// The time of the last event popped.
    now_ms: u64,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            near: KeyHeap::default(),
            far: KeyHeap::default(),
            clocks: [NONE; 3],
            seq: 0,
            now_ms: 0,
        }
    }
}

impl EventQueue {
    pub fn push(&mut self, t_ms: u64, ev: Ev) {
        let k = key(t_ms, self.seq);
        self.seq += 1;
        match ev.clock() {
            Some(i) if self.clocks[i] == NONE => self.clocks[i] = k,
            // A wake-up, or a clock's second pending event (the loop makes none, but the
            // order must not depend on it).
            _ if t_ms < self.now_ms.saturating_add(NEAR_MS) => self.near.push(k, ev),
            _ => self.far.push(k, ev),
        }
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, Ev)> {
        let (k, source) = self.first();
        if k == NONE {
            return None;
        }
        let t = time_of(k);
        self.now_ms = t;
        let ev = match source {
            Source::Clock(i) => {
                self.clocks[i] = NONE;
                CLOCKS[i]
            }
            Source::Near => self.near.pop()?,
            Source::Far => self.far.pop()?,
        };
        Some((t, ev))
    }

    /// The key of the earliest event ([`NONE`] if there is none) and where it waits.
    fn first(&self) -> (Key, Source) {
        let mut best = (self.near.first_key(), Source::Near);
        let far = self.far.first_key();
        if far < best.0 {
            best = (far, Source::Far);
        }
        for (i, &k) in self.clocks.iter().enumerate() {
            if k < best.0 {
                best = (k, Source::Clock(i));
            }
        }
        best
    }
}

/// Where an event waits.
#[derive(Clone, Copy)]
enum Source {
    Clock(usize),
    Near,
    Far,
}

/// A binary min-heap of events by key. Std's `BinaryHeap` orders whole entries through
/// `Ord`; this compares the keys alone, one integer comparison per level, which halves the
/// cost of the run loop's most frequent operation.
#[derive(Debug, Default)]
struct KeyHeap {
    entries: Vec<(Key, Ev)>,
}

impl KeyHeap {
    fn first_key(&self) -> Key {
        self.entries.first().map_or(NONE, |e| e.0)
    }

    fn push(&mut self, k: Key, ev: Ev) {
        let mut i = self.entries.len();
        self.entries.push((k, ev));
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.entries[parent].0 < k {
                break;
            }
            self.entries[i] = self.entries[parent];
            i = parent;
        }
        self.entries[i] = (k, ev);
    }

    /// Takes the entry with the least key out.
    fn pop(&mut self) -> Option<Ev> {
        let last = self.entries.pop()?;
        let Some(&(_, first)) = self.entries.first() else {
            return Some(last.1);
        };
        // The last entry fills the root's hole and sinks to its place.
        let n = self.entries.len();
        let mut i = 0;
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.entries[right].0 < self.entries[left].0 {
                right
            } else {
                left
            };
            if last.0 < self.entries[child].0 {
                break;
            }
            self.entries[i] = self.entries[child];
            i = child;
        }
        self.entries[i] = last;
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// The order one binary heap of every event gives.
    #[derive(Default)]
    struct OneHeap {
        heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
        seq: u64,
    }

    impl OneHeap {
        fn push(&mut self, t_ms: u64, ev: Ev) {
            self.heap.push(Reverse((t_ms, self.seq, ev)));
            self.seq += 1;
        }

        fn pop(&mut self) -> Option<(u64, Ev)> {
            self.heap.pop().map(|Reverse((t, _, ev))| (t, ev))
        }
    }

    #[test]
    fn events_come_out_as_from_one_heap() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut q, mut want) = (EventQueue::default(), OneHeap::default());
        let mut now = 0u64;
        for ev in CLOCKS {
            q.push(now + 1, ev);
            want.push(now + 1, ev);
        }
        for round in 0..20_000u32 {
            // Ties are common: times on a coarse grid; now and then a clock's second event.
            let kind = rng.gen_range(0..10);
            let ev = match kind {
                0..=2 => CLOCKS[kind as usize],
                _ => Ev::Wake {
                    agent: rng.gen_range(0..50),
                    gen: round,
                },
            };
            // Both heaps: now and then an event far ahead.
            let ahead = if rng.gen_bool(0.2) { 2 * NEAR_MS } else { 0 };
            let at = now + ahead + 10 * rng.gen_range(0..5u64);
            q.push(at, ev);
            want.push(at, ev);
            if rng.gen_bool(0.5) {
                let got = q.pop();
                assert_eq!(got, want.pop(), "round {round}");
                now = got.map_or(now, |(t, _)| t);
            }
        }
        while let Some(next) = want.pop() {
            assert_eq!(q.pop(), Some(next));
        }
        assert_eq!(q.pop(), None);
    }
}
