//! The metrics' one conversion from the engine's fixed point: lossy `f64` USD for reporting.

use bulwark_engine::{MarketId, Usd};

/// An engine amount as `f64` USD (reporting only; the engine's books stay exact).
pub fn usd(v: Usd) -> f64 {
    v.to_f64_lossy()
}

/// Lots in one base unit of each market, by market id (to turn lot quantities into notional).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LotsPerUnit(pub Vec<f64>);

impl LotsPerUnit {
    /// Market `m`'s lots per unit (1 for a market the run does not know, which no event
    /// names: the run creates every market it reads).
    pub fn of(&self, m: MarketId) -> f64 {
        self.0.get(m.0 as usize).copied().unwrap_or(1.0)
    }
}

/// Notional of `lots` at `price`, USD (for events that carry a quantity and a price only).
pub fn notional(price: f64, lots: i64, lots_per_unit: f64) -> f64 {
    price * (lots as f64).abs() / lots_per_unit
}
