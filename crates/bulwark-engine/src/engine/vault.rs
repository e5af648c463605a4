//! The backstop vault owned by liquidity providers, the insurance fund's deposits, and the
//! venue-wide parameters.
//!
//! The vault trades as an account of its own (id [`VAULT`]): it takes bankrupt positions over
//! at the bankruptcy price and reduces them through the book. LPs hold shares; the share price
//! is the vault's equity at the mark divided by the shares outstanding, so LPs earn what the
//! vault earns on takeovers and bear what it loses.

use super::liquidation::Close;
use super::*;
use crate::account::{Account, Position};
use crate::book::Side;
use crate::margin::{self, Health};
use crate::reject::Reject;
use bulwark_core::{
    allocate, div_i128, mul_div, AccountId, Ppm, Price, Round, TimestampMs, Usd, PPM_ONE,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Venue-wide parameters, changed by `SetVenueParam`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VenueParams {
    /// The engine liquidates every pool below maintenance after each price change.
    pub native_liquidation: bool,
    /// Most liquidations one command carries out; the rest stay queued for the next one.
    pub max_liquidations_per_step: u32,
    pub vault_withdrawal_delay_ms: u64,
    /// The vault keeps its equity at or above this multiple of its maintenance requirement.
    pub vault_margin_multiplier: Ppm,
}

impl Default for VenueParams {
    fn default() -> Self {
        VenueParams {
            native_liquidation: true,
            max_liquidations_per_step: 256,
            vault_withdrawal_delay_ms: 24 * 3_600_000,
            // 20 x a 0.5% maintenance = 10% of notional: the vault runs at 10x at most.
            vault_margin_multiplier: Ppm::from_raw(20_000_000),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalRequest {
    pub shares: u64,
    pub claimable_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vault {
    pub account: Account,
    pub total_shares: u64,
    pub shares: BTreeMap<AccountId, u64>,
    pub requests: BTreeMap<AccountId, WithdrawalRequest>,
}

impl Default for Vault {
    fn default() -> Self {
        Vault {
            account: Account {
                active: true,
                ..Account::default()
            },
            total_shares: 0,
            shares: BTreeMap::new(),
            requests: BTreeMap::new(),
        }
    }
}

/// The vault as a query returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultState {
    pub health: Health,
    pub total_shares: u64,
    /// Micro-USD of equity per share, scaled by 1e6 (1.0 = 1_000_000); 0 when no shares.
    pub share_price_ppm: i64,
    pub positions: usize,
}

impl Engine {
    pub fn insurance_usd(&self) -> Usd {
        self.insurance_usd
    }
    /// Loss that no stage of the waterfall covered.
    pub fn bad_debt_usd(&self) -> Usd {
        self.bad_debt_usd
    }
    pub fn venue_params(&self) -> &VenueParams {
        &self.venue
    }
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The vault's health and share price. A query cannot fail: should the vault's health
    /// overflow (which the bounds in [`limits`] rule out), `health` is all zero and the share
    /// price 0.
    pub fn vault_state(&self) -> VaultState {
        let health = self
            .pool_health(&self.vault.account, Scope::Cross, None)
            .unwrap_or_default();
        VaultState {
            health,
            total_shares: self.vault.total_shares,
            share_price_ppm: self.share_price_ppm(health.equity_usd),
            positions: self.vault.account.positions.len(),
        }
    }

    /// Equity per share in ppm (0 without shares, or if it does not fit).
    fn share_price_ppm(&self, equity: Usd) -> i64 {
        if self.vault.total_shares == 0 {
            return 0;
        }
        let shares = self.vault.total_shares.min(i64::MAX as u64) as i64;
        mul_div(equity.micros(), PPM_ONE, shares, Round::Floor).unwrap_or(0)
    }

    fn vault_equity(&self) -> Bounded<Usd> {
        Ok(bounded(self.pool_health(&self.vault.account, Scope::Cross, None))?.equity_usd)
    }

    /// Vault shares are priced at the vault's equity; while a loss sits unbooked in some pool
    /// (which the vault may yet have to take over, or pay through ADL or socialization), that
    /// price is not the truth, so nobody buys or redeems at it.
    fn refuse_while_loss_unbooked(&self) -> Result<(), Reject> {
        match self.unbooked_loss_pools() {
            0 => Ok(()),
            pools => Err(Reject::UnbookedLoss { pools }),
        }
    }

    pub(super) fn vault_deposit(&mut self, account: AccountId, amount: Usd) -> Result<(), Reject> {
        self.refuse_while_loss_unbooked()?;
        let collateral = self.debit_free_cross(account, amount)?;
        let equity = self.vault_equity()?;
        // The first deposit (or one into a wiped-out vault) sets 1 share = 1 micro-USD. In
        // i128: a vault with little equity left mints many shares per micro-USD, and the
        // share bound (not an overflow) is what refuses too many.
        let shares: i128 = if self.vault.total_shares == 0 || !equity.is_positive() {
            amount.micros() as i128
        } else {
            // Rounded down (both factors and the divisor are positive): the vault keeps the fraction.
            bounded(div_i128(
                amount.micros() as i128 * self.vault.total_shares as i128,
                equity.micros() as i128,
                Round::Floor,
            ))?
        };
        if shares <= 0 {
            return Err(Reject::AmountNotPositive(amount));
        }
        let total = self.vault.total_shares as i128 + shares;
        if total > limits::MAX_VAULT_SHARES as i128 {
            return Err(Reject::VaultSharesBound {
                max: limits::MAX_VAULT_SHARES,
            });
        }
        // Both fit: at most `MAX_VAULT_SHARES`, which fits `u64` and `i64`.
        let (shares, total) = (shares as u64, total as u64);
        let vault_collateral = self.vault.account.collateral_usd.checked_add(amount)?;
        let held = self.vault.shares.get(&account).copied().unwrap_or(0);
        // At most the bound on the supply (checked above), so it fits.
        let held = held + shares;
        // Commit.
        self.acct_mut(account).collateral_usd = collateral;
        self.acct_mut(VAULT).collateral_usd = vault_collateral;
        self.set_vault_total_shares(total);
        self.set_vault_shares(account, Some(held));
        self.events.push(Event::VaultDeposited {
            account,
            amount_usd: amount,
            shares,
        });
        Ok(self.reevaluate(account)?)
    }

    pub(super) fn vault_request_withdrawal(
        &mut self,
        account: AccountId,
        shares: u64,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        if shares > limits::MAX_VAULT_SHARES {
            return Err(Reject::SharesOutOfRange {
                requested: shares,
                max: limits::MAX_VAULT_SHARES,
            });
        }
        self.active_account(account)?;
        let held = self.vault.shares.get(&account).copied().unwrap_or(0);
        if shares == 0 || shares > held {
            return Err(Reject::NotEnoughShares {
                held,
                requested: shares,
            });
        }
        let claimable_at_ms = now.0.saturating_add(self.venue.vault_withdrawal_delay_ms);
        // A new request replaces an earlier one (and restarts the delay).
        let req = WithdrawalRequest {
            shares,
            claimable_at_ms,
        };
        self.set_vault_request(account, Some(req));
        self.events.push(Event::VaultWithdrawalRequested {
            account,
            shares,
            claimable_at_ms,
        });
        Ok(())
    }

    pub(super) fn vault_claim(
        &mut self,
        account: AccountId,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        self.active_account(account)?;
        self.refuse_while_loss_unbooked()?;
        let req = *self
            .vault
            .requests
            .get(&account)
            .ok_or(Reject::NoWithdrawalRequest)?;
        if now.0 < req.claimable_at_ms {
            return Err(Reject::WithdrawalNotYetClaimable {
                claimable_at_ms: req.claimable_at_ms,
            });
        }
        let held = self.vault.shares.get(&account).copied().unwrap_or(0);
        let shares = req.shares.min(held);
        let h = self.pool_health(&self.vault.account, Scope::Cross, None)?;
        let total = self.vault.total_shares as i64;
        let value = mul_div(h.equity_usd.micros(), shares as i64, total, Round::Floor)?.max(0);
        let amount = Usd::from_micros(value);
        // LPs cannot pull out collateral the vault's open positions need.
        let free = self
            .vault
            .account
            .collateral_usd
            .min(h.free_usd()?)
            .max(Usd::ZERO);
        if amount > free {
            return Err(Reject::InsufficientCollateral {
                available: free,
                requested: amount,
            });
        }
        let vault_collateral = self.vault.account.collateral_usd.checked_sub(amount)?;
        let collateral = self.accounts[account.0 as usize]
            .collateral_usd
            .checked_add(amount)?;
        // Commit.
        self.acct_mut(VAULT).collateral_usd = vault_collateral;
        self.acct_mut(account).collateral_usd = collateral;
        self.set_vault_total_shares(self.vault.total_shares - shares);
        let left = held - shares;
        self.set_vault_shares(account, (left > 0).then_some(left));
        self.set_vault_request(account, None);
        self.events.push(Event::VaultWithdrawn {
            account,
            shares,
            amount_usd: amount,
        });
        Ok(self.reevaluate(account)?)
    }

    pub(super) fn insurance_deposit(
        &mut self,
        account: AccountId,
        amount: Usd,
    ) -> Result<(), Reject> {
        let collateral = self.debit_free_cross(account, amount)?;
        let fund = self.insurance_usd.checked_add(amount)?;
        // Commit.
        self.acct_mut(account).collateral_usd = collateral;
        self.insurance_usd = fund;
        self.events.push(Event::InsuranceDeposited {
            account,
            amount_usd: amount,
            fund_after_usd: fund,
        });
        Ok(self.reevaluate(account)?)
    }

    /// Whether the vault's equity is below its own margin limit.
    pub(super) fn vault_over_limit(&self) -> Bounded<bool> {
        let h = bounded(self.pool_health(&self.vault.account, Scope::Cross, None))?;
        let limit = bounded(
            h.maintenance_usd
                .mul_ppm(self.venue.vault_margin_multiplier, Round::Ceil),
        )?;
        Ok(h.equity_usd < limit)
    }
}

/// Most rounds the vault spends reducing itself in one command.
pub const MAX_VAULT_REDUCE_ROUNDS: usize = 4;

impl Engine {
    /// Would the vault stay within its margin limit after taking these positions at the mark
    /// and the pool's equity (negative: a loss) with them?
    pub(super) fn vault_accepts(&self, positions: &[(usize, Position)], equity: Usd) -> bool {
        let mut v: Account = self.vault.account.clone();
        for (mi, p) in positions {
            let m = &self.markets[*mi];
            let side = if p.qty.is_positive() {
                Side::Buy
            } else {
                Side::Sell
            };
            let Ok(notional) =
                margin::fill_notional_usd(p.qty.abs(), m.mark, m.params.lots_per_unit)
            else {
                return false;
            };
            let i = match v.position_index(m.id) {
                Ok(i) => i,
                Err(i) => {
                    v.positions
                        .insert(i, Position::new(m.id, MarginMode::Cross));
                    i
                }
            };
            // Settle what the vault's position has pending first, as the takeover will.
            let pos = &mut v.positions[i];
            if super::index::settle(m, pos, &mut v.collateral_usd).is_err() {
                return false;
            }
            let Ok(realized) = pos.apply_fill(side, p.qty.abs(), notional) else {
                return false;
            };
            super::index::snap(m, pos);
            let Ok(c) = v.collateral_usd.checked_add(realized) else {
                return false;
            };
            v.collateral_usd = c;
        }
        let Ok(c) = v.collateral_usd.checked_add(equity) else {
            return false;
        };
        v.collateral_usd = c;
        let Ok(h) = self.pool_health(&v, Scope::Cross, None) else {
            return false;
        };
        let Ok(limit) = h
            .maintenance_usd
            .mul_ppm(self.venue.vault_margin_multiplier, Round::Ceil)
        else {
            return false;
        };
        h.equity_usd.is_positive() && h.equity_usd >= limit
    }

    pub(super) fn vault_takeover(
        &mut self,
        account: AccountId,
        scope: Scope,
        positions: &[(usize, Position)],
        equity: Usd,
    ) -> Bounded {
        let notionals = positions
            .iter()
            .map(|(mi, p)| {
                let m = &self.markets[*mi];
                let n = margin::notional_ceil_usd(p.qty, m.mark, m.params.lots_per_unit);
                Ok(bounded(n)?.micros().max(1))
            })
            .collect::<Bounded<Vec<i64>>>()?;
        // The equity handed over with each position, in proportion to notional, split exactly.
        let shares = bounded(allocate(equity.micros(), &notionals))?;
        for ((mi, p), &share) in positions.iter().zip(&shares) {
            let m = &self.markets[*mi];
            let (mark, lots, market) = (m.mark, m.params.lots_per_unit, m.id);
            let share = share as i128;
            let side = if p.qty.is_positive() {
                Side::Sell
            } else {
                Side::Buy
            };
            self.direct_fill(*mi, account, side, VAULT, p.qty.abs(), mark)?;
            self.release_if_idle(VAULT, market, true)?;
            // Bankruptcy price: where this position's share of equity would be zero (the
            // equity per lot rounded down: the price errs toward the vault's side of zero).
            let per_lot = bounded(div_i128(
                share * lots as i128,
                p.qty.lots() as i128,
                Round::Floor,
            ))?;
            let bankruptcy_price = Price::from_micros(
                (mark.micros() as i128 - per_lot).clamp(1, i64::MAX as i128) as i64,
            );
            self.events.push(Event::VaultTakeover {
                account,
                market,
                qty: p.qty,
                bankruptcy_price,
                equity_usd: Usd::from_micros(share as i64),
                loss_usd: Usd::from_micros((-share).max(0) as i64),
            });
        }
        // Whatever the pool holds now (its equity, realized at the mark) goes to the vault.
        let left = self.pool_health_of(account, scope)?.equity_usd;
        self.add_to_pool(account, scope, bounded(left.checked_neg())?)?;
        self.add_to_pool(VAULT, Scope::Cross, left)?;
        for (mi, _) in positions {
            let market = self.markets[*mi].id;
            self.release_if_idle(account, market, false)?;
        }
        Ok(())
    }

    /// Keep the vault inside its own margin limit by reducing its largest position through the
    /// book, within the liquidation band.
    pub(super) fn reduce_vault(&mut self) -> Bounded {
        for _ in 0..MAX_VAULT_REDUCE_ROUNDS {
            if self.vault.account.positions.is_empty() || !self.vault_over_limit()? {
                break;
            }
            let h = self.pool_health_of(VAULT, Scope::Cross)?;
            let k = Some(self.venue.vault_margin_multiplier);
            let Some((mi, side, qty)) = self.liquidation_slice(VAULT, Scope::Cross, h, k)? else {
                break;
            };
            let filled = self.close_through_book(VAULT, mi, side, qty, Close::VaultReduce)?;
            if filled.is_zero() {
                break;
            }
            let market = self.markets[mi].id;
            self.events.push(Event::VaultReduced {
                market,
                qty: filled,
            });
        }
        // A vault the book could not bring back above its own maintenance is liquidated like
        // any account: its LPs' equity absorbs the loss first, then the rest of the waterfall
        // (without the vault stage). Its equity never stays negative.
        let h = self.pool_health_of(VAULT, Scope::Cross)?;
        if h.below_maintenance() {
            self.events.push(Event::LiquidationStarted {
                account: VAULT,
                scope: Scope::Cross,
                keeper: None,
                equity_usd: h.equity_usd,
                maintenance_usd: h.maintenance_usd,
            });
            self.waterfall(VAULT, Scope::Cross, &[])?;
            let h = self.pool_health_of(VAULT, Scope::Cross)?;
            self.events.push(Event::LiquidationEnded {
                account: VAULT,
                scope: Scope::Cross,
                equity_usd: h.equity_usd,
                maintenance_usd: h.maintenance_usd,
                in_waterfall: true,
            });
        }
        Ok(())
    }
}
