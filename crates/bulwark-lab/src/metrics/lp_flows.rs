//! What the vault's liquidity providers asked back and were paid, from the engine's
//! `VaultWithdrawalRequested` and `VaultWithdrawn` events.
//!
//! Shares are counted in **units** of 1e6 engine shares: the vault's first deposit mints one
//! share per micro-USD, so a unit is worth the share price in USD (1.0 at par). A request's
//! USD value is its units at the share price when it was requested; a payout's is what the
//! engine paid, at the share price when it was claimed.

use bulwark_engine::{Engine, Event};

use super::units::usd;

/// Engine shares in one unit.
pub const SHARES_PER_UNIT: f64 = 1e6;

/// Requests or payouts: how many, units, USD.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flow {
    pub count: u64,
    pub units: f64,
    pub usd: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LpFlows {
    /// Everything LPs (agents and the passive seed) put into the vault, micro-USD (summed
    /// exactly: it is the base the vault's loss is measured against).
    pub deposited_micros: i128,
    pub requested: Flow,
    pub paid: Flow,
    /// Time of the first request and of the first payout, ms (engine time).
    pub first_request_ms: Option<u64>,
    pub first_payout_ms: Option<u64>,
}

impl LpFlows {
    /// Reads one event of a command applied at `t_ms`; `engine` as the command left it.
    pub fn on_event(&mut self, t_ms: u64, ev: &Event, engine: &Engine) {
        match *ev {
            Event::VaultDeposited { amount_usd, .. } => {
                self.deposited_micros += i128::from(amount_usd.micros());
            }
            Event::VaultWithdrawalRequested { shares, .. } => {
                let units = shares as f64 / SHARES_PER_UNIT;
                let price = engine.vault_state().share_price_ppm as f64 / 1e6;
                self.requested.count += 1;
                self.requested.units += units;
                self.requested.usd += units * price;
                self.first_request_ms.get_or_insert(t_ms);
            }
            Event::VaultWithdrawn {
                shares, amount_usd, ..
            } => {
                self.paid.count += 1;
                self.paid.units += shares as f64 / SHARES_PER_UNIT;
                self.paid.usd += usd(amount_usd);
                self.first_payout_ms.get_or_insert(t_ms);
            }
            _ => {}
        }
    }
}
