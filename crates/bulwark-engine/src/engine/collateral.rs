//! Collateral: deposits, withdrawals, and moving margin between the cross pool and an
//! isolated position.

use super::*;
use crate::account::{Account, Position};
use crate::command::MarginMode;
use crate::event::{Event, Scope};
use crate::reject::Reject;
use bulwark_core::{AccountId, ArithResult, MarketId, Usd};

impl Engine {
    pub(super) fn deposit(&mut self, account: AccountId, amount: Usd) -> Result<(), Reject> {
        check_amount(amount)?;
        if account.0 >= self.config.max_accounts {
            return Err(Reject::AccountOutOfRange {
                account,
                limit: self.config.max_accounts,
            });
        }
        let net = self
            .deposited_usd
            .checked_sub(self.withdrawn_usd)?
            .checked_add(amount)?;
        if net.micros() > limits::MAX_TOTAL_COLLATERAL_MICROS {
            return Err(Reject::CollateralBound);
        }
        let i = account.0 as usize;
        let current = self.accounts.get(i).map_or(Usd::ZERO, |a| a.collateral_usd);
        let collateral = current.checked_add(amount)?;
        let deposited = self.deposited_usd.checked_add(amount)?;
        // Commit.
        if i >= self.accounts.len() {
            // New rows: a rollback truncates the table back.
            self.accounts.resize_with(i + 1, Account::default);
        }
        let a = self.acct_mut(account);
        a.active = true;
        a.collateral_usd = collateral;
        self.deposited_usd = deposited;
        self.events.push(Event::Deposited {
            account,
            amount_usd: amount,
            collateral_usd: collateral,
        });
        Ok(self.reevaluate(account)?)
    }

    /// Collateral the cross pool can release: not more than it holds, and not so much that
    /// equity falls below the initial requirement.
    pub(super) fn free_cross_collateral(&self, a: &Account) -> ArithResult<Usd> {
        let h = self.pool_health_for_initial(a, Scope::Cross, None)?;
        Ok(a.collateral_usd.min(h.free_usd()?).max(Usd::ZERO))
    }

    /// Check that `amount` (> 0) may leave the account's cross pool (withdrawal, vault or
    /// insurance deposit); returns the pool's collateral after it left.
    pub(crate) fn debit_free_cross(&self, account: AccountId, amount: Usd) -> Result<Usd, Reject> {
        check_amount(amount)?;
        let a = self.active_account(account)?;
        let available = self.free_cross_collateral(a)?;
        if amount > available {
            return Err(Reject::InsufficientCollateral {
                available,
                requested: amount,
            });
        }
        Ok(a.collateral_usd.checked_sub(amount)?)
    }

    pub(super) fn withdraw(&mut self, account: AccountId, amount: Usd) -> Result<(), Reject> {
        let collateral = self.debit_free_cross(account, amount)?;
        let withdrawn = self.withdrawn_usd.checked_add(amount)?;
        // Commit.
        self.acct_mut(account).collateral_usd = collateral;
        self.withdrawn_usd = withdrawn;
        self.events.push(Event::Withdrawn {
            account,
            amount_usd: amount,
            collateral_usd: collateral,
        });
        Ok(self.reevaluate(account)?)
    }

    pub(super) fn adjust_isolated(
        &mut self,
        account: AccountId,
        market: MarketId,
        delta: Usd,
    ) -> Result<(), Reject> {
        self.market_index(market)?;
        if delta.is_zero() {
            return Err(Reject::AmountNotPositive(delta));
        }
        check_amount(Usd::from_micros(delta.micros().saturating_abs()))?;
        let a = self.active_account(account)?;
        let index = a.position_index(market);
        let mut pos = match index {
            Ok(i) => a.positions[i],
            Err(_) if delta.is_negative() => return Err(Reject::NoIsolatedPosition(market)),
            Err(_) => {
                if a.positions.len() >= self.config.max_positions_per_account {
                    return Err(Reject::TooManyPositions {
                        limit: self.config.max_positions_per_account,
                    });
                }
                Position::new(market, MarginMode::Isolated)
            }
        };
        if pos.mode != MarginMode::Isolated {
            return Err(Reject::MarginModeConflict {
                market,
                current: "cross",
            });
        }
        let mut collateral = a.collateral_usd;
        if delta.is_positive() {
            let available = self.free_cross_collateral(a)?;
            if delta > available {
                return Err(Reject::InsufficientCollateral {
                    available,
                    requested: delta,
                });
            }
        } else {
            let h = self.pool_health_for_initial(a, Scope::Isolated(market), None)?;
            let available = pos.isolated_usd.min(h.free_usd()?).max(Usd::ZERO);
            let requested = delta.checked_neg()?;
            if requested > available {
                return Err(Reject::InsufficientCollateral {
                    available,
                    requested,
                });
            }
        }
        collateral = collateral.checked_sub(delta)?;
        pos.isolated_usd = pos.isolated_usd.checked_add(delta)?;
        // Commit.
        let a = self.acct_mut(account);
        a.collateral_usd = collateral;
        match index {
            Ok(i) => a.positions[i] = pos,
            Err(i) => a.positions.insert(i, pos),
        }
        self.events.push(Event::IsolatedMarginAdjusted {
            account,
            market,
            delta_usd: delta,
            isolated_collateral_usd: pos.isolated_usd,
        });
        self.release_if_idle(account, market, false)?;
        Ok(self.reevaluate(account)?)
    }
}

/// The edge check of an amount one command moves: positive, and at most
/// [`limits::MAX_AMOUNT_MICROS`] (so every sum it enters stays inside `i64`).
pub(crate) fn check_amount(amount: Usd) -> Result<(), Reject> {
    if !amount.is_positive() {
        return Err(Reject::AmountNotPositive(amount));
    }
    if amount.micros() > limits::MAX_AMOUNT_MICROS {
        return Err(Reject::AmountTooLarge {
            amount,
            max: Usd::from_micros(limits::MAX_AMOUNT_MICROS),
        });
    }
    Ok(())
}
