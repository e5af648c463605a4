//! Price triggers: agents asking to be woken when the mark crosses a level.
//!
//! Each trigger carries the generation of its agent's trigger set when it was armed; arming a
//! new set bumps the generation, so a stale trigger that fires wakes nobody.

use std::collections::BTreeMap;

use bulwark_engine::Price;

#[derive(Debug, Default)]
pub struct Triggers {
    /// (price micros, sequence) -> (agent, generation).
    below: BTreeMap<(i64, u64), (u32, u32)>,
    above: BTreeMap<(i64, u64), (u32, u32)>,
    seq: u64,
}

impl Triggers {
    /// Arms a trigger for `agent` at `price`: fires when the mark falls to or below it
    /// (`below`), or rises to or above it.
    pub fn add(&mut self, agent: u32, gen: u32, price: f64, below: bool) {
        let micros = (price * 1e6).clamp(0.0, i64::MAX as f64 / 2.0) as i64;
        let key = (micros, self.seq);
        self.seq += 1;
        let map = if below {
            &mut self.below
        } else {
            &mut self.above
        };
        map.insert(key, (agent, gen));
    }

    /// Removes every trigger the mark has crossed and appends its (agent, generation):
    /// the `below` ones first, then the `above` ones, each in price order from the mark out.
    pub fn fire(&mut self, mark: Price, fired: &mut Vec<(u32, u32)>) {
        let m = mark.micros();
        while let Some((&key, &hit)) = self.below.range((m, 0)..).next() {
            self.below.remove(&key);
            fired.push(hit);
        }
        while let Some((&key, &hit)) = self.above.range(..=(m, u64::MAX)).next_back() {
            self.above.remove(&key);
            fired.push(hit);
        }
    }
}
