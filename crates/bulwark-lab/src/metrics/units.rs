//! The metrics' one conversion from the engine's fixed point: lossy `f64` USD for reporting.

use bulwark_engine::Usd;

/// An engine amount as `f64` USD (reporting only; the engine's books stay exact).
pub fn usd(v: Usd) -> f64 {
    v.to_f64_lossy()
}

/// Notional of `lots` at `price`, USD (for events that carry a quantity and a price only).
pub fn notional(price: f64, lots: i64, lots_per_unit: f64) -> f64 {
    price * (lots as f64).abs() / lots_per_unit
}
