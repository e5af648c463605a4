//! Who paid for losses, from the engine's stage events.
//!
//! - bad debt (total) = the sum of what the stages paid (vault + insurance + ADL + socialized +
//!   uncovered): losses beyond an account's own collateral, counted from the stage events only
//!   (the engine asserts that they add up to each `Bankrupt.deficit_usd`, the deficit actually
//!   realized, and the lab checks it again: [`Losses::mismatch`]);
//! - vault = losses the vault absorbed (`VaultTakeover.loss_usd`);
//! - insurance = `InsurancePayout.amount_usd`; ADL = `Deleveraged.haircut_usd` (with the count
//!   and notional closed); socialized = `SocializedLoss.amount_usd` (one event per
//!   socialization, the amount charged to the paying side through its loss index);
//!   uncovered = `UncoveredLoss`;
//! - penalties = `LiquidationPenalty.penalty_usd` (paid from the liquidated account's
//!   collateral).

use bulwark_engine::{Event, Usd};

use super::units::{notional, usd};

#[derive(Clone, Debug, Default)]
pub struct Losses {
    /// What the waterfall's stages paid, in total (vault + insurance + ADL + socialized +
    /// uncovered).
    pub bad_debt_usd: f64,
    /// The same total in exact micro-USD, and what `Bankrupt` events announced: they must be
    /// equal ([`Losses::mismatch`]).
    pub announced_deficit_micros: i128,
    pub stage_paid_micros: i128,
    pub penalties_usd: f64,
    pub vault_absorbed_usd: f64,
    pub insurance_paid_usd: f64,
    pub adl_haircut_usd: f64,
    pub adl_count: u64,
    pub adl_notional_usd: f64,
    pub socialized_usd: f64,
    pub uncovered_usd: f64,
    /// The vault's discretionary unwinds (count, lots, PnL realized) and its reductions
    /// inside its margin limit (lots).
    pub vault_unwind_count: u64,
    pub vault_unwound_lots: u64,
    pub vault_unwind_pnl_usd: f64,
    pub vault_reduced_lots: u64,
    /// What liquidity providers put into the vault net of what they took out (its capital).
    pub vault_lp_net_usd: f64,
}

impl Losses {
    pub fn on_event(&mut self, ev: &Event, lots_per_unit: f64) {
        match *ev {
            Event::LiquidationPenalty { penalty_usd, .. } => {
                self.penalties_usd += usd(penalty_usd);
            }
            Event::Bankrupt { deficit_usd, .. } => {
                self.announced_deficit_micros += deficit_usd.micros() as i128;
            }
            Event::VaultTakeover { loss_usd, .. } => {
                self.vault_absorbed_usd += usd(loss_usd);
                self.stage_paid(loss_usd);
            }
            Event::InsurancePayout { amount_usd, .. } => {
                self.insurance_paid_usd += usd(amount_usd);
                self.stage_paid(amount_usd);
            }
            Event::Deleveraged {
                qty,
                price,
                haircut_usd,
                ..
            } => {
                self.adl_count += 1;
                self.adl_notional_usd += notional(price.to_f64_lossy(), qty.lots(), lots_per_unit);
                self.adl_haircut_usd += usd(haircut_usd);
                self.stage_paid(haircut_usd);
            }
            Event::SocializedLoss { amount_usd, .. } => {
                self.socialized_usd += usd(amount_usd);
                self.stage_paid(amount_usd);
            }
            Event::UncoveredLoss { amount_usd, .. } => {
                self.uncovered_usd += usd(amount_usd);
                self.stage_paid(amount_usd);
            }
            Event::VaultUnwound {
                qty,
                realized_pnl_usd,
                ..
            } => {
                self.vault_unwind_count += 1;
                self.vault_unwound_lots += qty.lots().unsigned_abs();
                self.vault_unwind_pnl_usd += usd(realized_pnl_usd);
            }
            Event::VaultReduced { qty, .. } => {
                self.vault_reduced_lots += qty.lots().unsigned_abs();
            }
            Event::VaultDeposited { amount_usd, .. } => self.vault_lp_net_usd += usd(amount_usd),
            Event::VaultWithdrawn { amount_usd, .. } => self.vault_lp_net_usd -= usd(amount_usd),
            _ => {}
        }
    }

    fn stage_paid(&mut self, amount: Usd) {
        self.bad_debt_usd += usd(amount);
        self.stage_paid_micros += amount.micros() as i128;
    }

    /// Whether the stage events paid exactly the deficits the `Bankrupt` events announced.
    pub fn stages_match_deficits(&self) -> bool {
        self.announced_deficit_micros == self.stage_paid_micros
    }

    /// The problem, if the stages and the announced deficits disagree.
    pub fn mismatch(&self) -> Option<String> {
        (!self.stages_match_deficits()).then(|| {
            format!(
                "the waterfall stages paid {} micro-USD for {} micro-USD of announced deficits",
                self.stage_paid_micros, self.announced_deficit_micros
            )
        })
    }
}
