//! The run's one event queue, ordered by (time, sequence number): two events at the same
//! millisecond come out in the order they went in, and what goes in is itself deterministic,
//! so ties never depend on luck.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

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

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
}

impl EventQueue {
    pub fn push(&mut self, t_ms: u64, ev: Ev) {
        self.heap.push(Reverse((t_ms, self.seq, ev)));
        self.seq += 1;
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, Ev)> {
        self.heap.pop().map(|Reverse((t, _, ev))| (t, ev))
    }
}
