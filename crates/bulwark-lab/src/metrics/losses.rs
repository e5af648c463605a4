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
//!
//! ADL overshoot (the measure of the October 2025 ADL studies): notional closed by ADL minus
//! the least that would have covered the deficit. The engine's ADL closes the whole bankrupt
//! position against counterparties, so a bankruptcy whose ADL charged no haircut (the
//! insurance fund covered the deficit, and the position was closed by ADL only because the
//! vault refused it) needed no ADL at all: all of its ADL notional is overshoot. One that
//! charged a haircut needed it: its notional counts as required.

use std::collections::BTreeMap;

use bulwark_engine::{AccountId, Event, MarketId, Usd, VaultRefusal};

use super::units::{notional, usd, LotsPerUnit};

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
    /// ADL closes by why the vault did not take the position (`VaultRefusal`, snake case).
    pub adl_by_reason: BTreeMap<&'static str, u64>,
    /// ADL notional that covered a haircut (required) and that did not (overshoot).
    pub adl_required_notional_usd: f64,
    pub adl_overshoot_notional_usd: f64,
    /// The stages whose events name a market, market by market (index: market id).
    /// Insurance payouts and uncovered losses name none: they are venue-wide only.
    pub by_market: Vec<MarketLosses>,
    /// The ADL closes of the bankruptcy being read: (bankrupt, notional, haircut USD).
    adl_group: Option<(AccountId, f64, f64)>,
}

/// One market's part of the losses: what the events that name a market paid there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MarketLosses {
    pub penalties_usd: f64,
    pub vault_absorbed_usd: f64,
    pub adl_haircut_usd: f64,
    pub adl_count: u64,
    pub adl_notional_usd: f64,
    pub socialized_usd: f64,
    pub vault_unwound_lots: u64,
    pub vault_reduced_lots: u64,
}

/// A refusal's name in reports.
pub fn refusal_name(r: VaultRefusal) -> &'static str {
    match r {
        VaultRefusal::StageOff => "vault_stage_off",
        VaultRefusal::VaultItself => "vault_itself_bankrupt",
        VaultRefusal::MarginLimit => "vault_margin_limit",
        VaultRefusal::MarketExposure => "vault_market_exposure",
        VaultRefusal::TotalExposure => "vault_total_exposure",
    }
}

impl Losses {
    pub fn on_event(&mut self, ev: &Event, lots: &LotsPerUnit) {
        // One bankruptcy's ADL closes end at the next bankruptcy, the end of the liquidation,
        // ADL for another account, or the end of the command.
        match *ev {
            Event::Deleveraged { bankrupt, .. }
                if self.adl_group.is_some_and(|g| g.0 != bankrupt) =>
            {
                self.end_adl_group()
            }
            Event::Bankrupt { .. } | Event::LiquidationEnded { .. } => self.end_adl_group(),
            _ => {}
        }
        match *ev {
            Event::LiquidationPenalty {
                penalty_usd,
                market,
                ..
            } => {
                self.penalties_usd += usd(penalty_usd);
                self.market(market).penalties_usd += usd(penalty_usd);
            }
            Event::Bankrupt { deficit_usd, .. } => {
                self.announced_deficit_micros += deficit_usd.micros() as i128;
            }
            Event::VaultTakeover {
                loss_usd, market, ..
            } => {
                self.vault_absorbed_usd += usd(loss_usd);
                self.market(market).vault_absorbed_usd += usd(loss_usd);
                self.stage_paid(loss_usd);
            }
            Event::InsurancePayout { amount_usd, .. } => {
                self.insurance_paid_usd += usd(amount_usd);
                self.stage_paid(amount_usd);
            }
            Event::Deleveraged {
                bankrupt,
                qty,
                price,
                haircut_usd,
                reason,
                market,
                ..
            } => {
                let n = notional(price.to_f64_lossy(), qty.lots(), lots.of(market));
                let m = self.market(market);
                m.adl_count += 1;
                m.adl_notional_usd += n;
                m.adl_haircut_usd += usd(haircut_usd);
                self.adl_count += 1;
                self.adl_notional_usd += n;
                self.adl_haircut_usd += usd(haircut_usd);
                *self.adl_by_reason.entry(refusal_name(reason)).or_default() += 1;
                let g = self.adl_group.get_or_insert((bankrupt, 0.0, 0.0));
                g.1 += n;
                g.2 += usd(haircut_usd);
                self.stage_paid(haircut_usd);
            }
            Event::SocializedLoss {
                amount_usd, market, ..
            } => {
                self.socialized_usd += usd(amount_usd);
                self.market(market).socialized_usd += usd(amount_usd);
                self.stage_paid(amount_usd);
            }
            Event::UncoveredLoss { amount_usd, .. } => {
                self.uncovered_usd += usd(amount_usd);
                self.stage_paid(amount_usd);
            }
            Event::VaultUnwound {
                qty,
                realized_pnl_usd,
                market,
                ..
            } => {
                self.market(market).vault_unwound_lots += qty.lots().unsigned_abs();
                self.vault_unwind_count += 1;
                self.vault_unwound_lots += qty.lots().unsigned_abs();
                self.vault_unwind_pnl_usd += usd(realized_pnl_usd);
            }
            Event::VaultReduced { qty, market } => {
                self.vault_reduced_lots += qty.lots().unsigned_abs();
                self.market(market).vault_reduced_lots += qty.lots().unsigned_abs();
            }
            Event::VaultDeposited { amount_usd, .. } => self.vault_lp_net_usd += usd(amount_usd),
            Event::VaultWithdrawn { amount_usd, .. } => self.vault_lp_net_usd -= usd(amount_usd),
            _ => {}
        }
    }

    /// Market `m`'s part, created on first use.
    fn market(&mut self, m: MarketId) -> &mut MarketLosses {
        let i = m.0 as usize;
        if self.by_market.len() <= i {
            self.by_market.resize_with(i + 1, MarketLosses::default);
        }
        &mut self.by_market[i]
    }

    /// The end of one command's events: closes the ADL group being read.
    pub fn end_command(&mut self) {
        self.end_adl_group();
    }

    fn end_adl_group(&mut self) {
        if let Some((_, notional, haircut)) = self.adl_group.take() {
            if haircut > 0.0 {
                self.adl_required_notional_usd += notional;
            } else {
                self.adl_overshoot_notional_usd += notional;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_engine::{Price, Qty, Scope};

    fn adl(bankrupt: u32, lots: i64, haircut_usd: i64, reason: VaultRefusal) -> Event {
        Event::Deleveraged {
            bankrupt: AccountId(bankrupt),
            counterparty: AccountId(99),
            market: MarketId(0),
            qty: Qty::from_lots(lots),
            price: Price::from_micros(100_000_000),
            haircut_usd: Usd::from_micros(haircut_usd * 1_000_000),
            reason,
        }
    }

    fn bankrupt(account: u32, deficit_usd: i64) -> Event {
        Event::Bankrupt {
            account: AccountId(account),
            scope: Scope::Cross,
            deficit_usd: Usd::from_micros(deficit_usd * 1_000_000),
        }
    }

    #[test]
    fn adl_without_a_haircut_is_overshoot_and_with_one_is_required() {
        let mut l = Losses::default();
        // A: 10 units at 100 closed by ADL, no haircut (the fund paid): 1,000 of overshoot.
        // B: 5 + 1 units at 100, a haircut of 5 on the first close only: 600 required (one
        // bankruptcy's closes count together, even the one whose share rounded to zero).
        // C: ADL right after B in the same command, another account: its own group.
        let events = [
            bankrupt(1, 50),
            adl(1, -10, 0, VaultRefusal::MarketExposure),
            bankrupt(2, 5),
            adl(2, -5, 5, VaultRefusal::MarginLimit),
            adl(2, -1, 0, VaultRefusal::MarginLimit),
            adl(3, 2, 0, VaultRefusal::StageOff),
        ];
        for e in &events {
            l.on_event(e, &LotsPerUnit(vec![1.0]));
        }
        l.end_command();
        assert_eq!(l.adl_overshoot_notional_usd, 1_000.0 + 200.0);
        assert_eq!(l.adl_required_notional_usd, 600.0);
        assert_eq!(l.adl_notional_usd, 1_800.0);
        assert_eq!(l.adl_by_reason["vault_market_exposure"], 1);
        assert_eq!(l.adl_by_reason["vault_margin_limit"], 2);
        assert_eq!(l.adl_by_reason["vault_stage_off"], 1);
        // Stage accounting: 5 of haircut paid for 55 of announced deficits (the rest would be
        // other stages' events, absent here).
        assert_eq!(l.adl_haircut_usd, 5.0);
        assert!(!l.stages_match_deficits());
    }
}
