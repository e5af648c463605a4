//! Genesis: booking positions that already exist outside the engine (a snapshot of a live
//! venue), so a crash can be replayed against a venue's real accounts.
//!
//! A genesis position is booked at its entry price, without the book and without moving
//! cash: its cost basis is exactly what a fill of the same lots at the entry would book
//! (`fill_notional_usd`, signed). No cash in the ledger paid that cost (it was paid, and the
//! other side's received, before the snapshot), so the engine keeps the signed total as the
//! genesis balance, `genesis_cost_usd`, and conservation adds it back: sum of (collateral -
//! cost) + funds + genesis balance = deposits - withdrawals stays exact. Unrealized PnL at
//! the mark is then value - cost as for any position.
//!
//! The first genesis position opens genesis. While it is open the longs and shorts of a
//! market may not balance yet (they are booked one by one), so every live command (orders,
//! cancels, prices, ticks, liquidations, vault withdrawals) is refused with
//! `Reject::GenesisOpen`; only set-up commands pass. `EndGenesis` closes it, refusing unless
//! every market's long lots equal its short lots (the rejection names the first market that
//! does not balance and by how much). A position is accepted only in a market no oracle price
//! or trade has priced yet, so its mark is still the market's initial price and no trade has
//! happened that the snapshot would contradict.

use super::*;
use crate::account::Position;
use crate::command::GenesisPosition;
use crate::margin;
use bulwark_core::Qty;

impl Engine {
    pub(super) fn genesis_position(&mut self, g: &GenesisPosition) -> Result<(), Reject> {
        let mi = self.market_index(g.market)?;
        let m = &self.markets[mi];
        if m.oracle_seen() || m.trade_ema.is_some() {
            return Err(Reject::GenesisClosed { market: g.market });
        }
        if g.account == VAULT {
            // The vault's positions come with its inventory ages and share accounting; a
            // snapshot carries the vault as money only.
            return Err(Reject::UnknownAccount(g.account));
        }
        if g.qty.is_zero() {
            return Err(Reject::QtyNotPositive(g.qty));
        }
        let limit = m.params.max_position_qty;
        if g.qty.abs() > limit {
            return Err(Reject::PositionLimit { qty: g.qty, limit });
        }
        if !g.entry_price.is_positive() {
            return Err(Reject::PriceNotPositive(g.entry_price));
        }
        if g.entry_price > m.params.max_price {
            let max = m.params.max_price;
            return Err(Reject::PriceOutOfRange {
                price: g.entry_price,
                max,
            });
        }
        let a = self.active_account(g.account)?;
        let index = match a.position_index(g.market) {
            Ok(_) => return Err(Reject::GenesisPositionExists { market: g.market }),
            Err(i) => i,
        };
        if a.positions.len() >= self.config.max_positions_per_account {
            let limit = self.config.max_positions_per_account;
            return Err(Reject::TooManyPositions { limit });
        }
        let collateral = self.genesis_margin_move(g, a.collateral_usd)?;
        let notional =
            margin::fill_notional_usd(g.qty.abs(), g.entry_price, m.params.lots_per_unit)?;
        let cost = match g.qty.is_positive() {
            true => notional,
            false => notional.checked_neg()?,
        };
        let total = self.genesis_cost_usd.checked_add(cost)?;
        if total.micros().saturating_abs() > limits::MAX_TOTAL_COLLATERAL_MICROS {
            return Err(Reject::GenesisBound);
        }
        let mut pos = Position::new(g.market, g.margin);
        pos.qty = g.qty;
        pos.cost_usd = cost;
        pos.isolated_usd = g.isolated_usd;
        index::snap(m, &mut pos);
        // Commit.
        let a = self.acct_mut(g.account);
        a.collateral_usd = collateral;
        a.positions.insert(index, pos);
        if g.qty.is_positive() {
            let m = self.market_mut(mi);
            m.open_interest = Qty::from_lots(bounded(bulwark_core::ok_or_overflow(
                m.open_interest.lots().checked_add(g.qty.lots()),
            ))?);
        }
        self.genesis_open = true;
        self.genesis_cost_usd = total;
        self.events.push(Event::GenesisPosition {
            account: g.account,
            market: g.market,
            qty: g.qty,
            entry_price: g.entry_price,
            cost_usd: cost,
            mode: g.margin,
            isolated_usd: g.isolated_usd,
        });
        Ok(self.reevaluate(g.account)?)
    }

    /// The cross collateral left once an isolated genesis position has taken its margin: a
    /// move within the account, never more than the cross pool holds (a snapshot may leave a
    /// pool under its requirement, but no balance goes negative by a move).
    fn genesis_margin_move(&self, g: &GenesisPosition, cross: Usd) -> Result<Usd, Reject> {
        match g.margin {
            MarginMode::Cross if g.isolated_usd.is_zero() => Ok(cross),
            MarginMode::Cross => Err(Reject::CrossWithIsolated(g.isolated_usd)),
            MarginMode::Isolated if g.isolated_usd.is_zero() => Ok(cross),
            MarginMode::Isolated => {
                collateral::check_amount(g.isolated_usd)?;
                if g.isolated_usd > cross {
                    return Err(Reject::InsufficientCollateral {
                        available: cross.max(Usd::ZERO),
                        requested: g.isolated_usd,
                    });
                }
                Ok(cross.checked_sub(g.isolated_usd)?)
            }
        }
    }

    pub(super) fn end_genesis(&mut self) -> Result<(), Reject> {
        if !self.genesis_open {
            return Err(Reject::NoGenesis);
        }
        for m in &self.markets {
            let (mut long, mut short) = (0i128, 0i128);
            for a in self
                .accounts
                .iter()
                .chain(std::iter::once(&self.vault.account))
            {
                if let Some(p) = a.position(m.id) {
                    match p.qty.lots() {
                        q if q > 0 => long += q as i128,
                        q => short -= q as i128,
                    }
                }
            }
            if long != short {
                let market = m.id;
                return Err(Reject::GenesisUnbalanced {
                    market,
                    long,
                    short,
                });
            }
        }
        // Commit.
        self.genesis_open = false;
        self.events.push(Event::GenesisEnded {
            genesis_cost_usd: self.genesis_cost_usd,
        });
        Ok(())
    }
}
