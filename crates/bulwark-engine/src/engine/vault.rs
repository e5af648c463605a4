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
    allocate, div_i128, mul_div, AccountId, Ppm, Price, Qty, Round, TimestampMs, Usd, PPM_ONE,
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
    /// How the vault unwinds what it took over, and when it stops taking over.
    pub vault_policy: VaultPolicy,
}

/// How the backstop vault manages its inventory (venue-wide, `VenueParam::VaultPolicy`).
///
/// A liquidator vault is a market maker of last resort, not an investor: it takes bankrupt
/// positions over at the bankruptcy price and sells them back into the book as fast as the
/// book can absorb without the vault itself crashing the price. Three rules:
///
/// * **Unwind at a bounded rate.** At every price change, at most once per
///   `unwind_interval_ms` per market, the vault closes up to `unwind_depth_share` of the
///   resting depth on the opposite side within `unwind_band` of the mark (an IOC limited to
///   the band's edge). Past `max_hold_ms` of holding, the share rises linearly (one more
///   `unwind_depth_share` per further `max_hold_ms`, up to the whole in-band depth), so old
///   inventory goes faster. The rate binds only this discretionary unwinding, never the
///   vault's reduction back inside its own margin limit (`reduce_vault`).
/// * **Exposure limits.** The vault takes no position that would make its notional in one
///   market exceed `max_market_exposure` times its equity, or its total notional exceed
///   `max_total_exposure` times its equity (both after the takeover).
/// * **When it stops.** A takeover that breaks the margin limit or either exposure limit is
///   refused; the waterfall goes on to ADL, whose events name the refusal. Because the limits
///   scale with the vault's equity, a vault that has lost money takes less.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultPolicy {
    /// Share of the in-band opposite depth one unwind may take (ppm; 0 = never unwind).
    pub unwind_depth_share: Ppm,
    /// Half-width of the band around the mark whose depth counts and where the unwind's IOC
    /// is limited (ppm of the mark).
    pub unwind_band: Ppm,
    /// Least time between two unwinds in one market.
    pub unwind_interval_ms: u64,
    /// Holding time after which the unwind share rises (0 = it never rises).
    pub max_hold_ms: u64,
    /// Largest notional in one market, as a multiple of the vault's equity (ppm of 1x).
    pub max_market_exposure: Ppm,
    /// Largest total notional, as a multiple of the vault's equity (ppm of 1x).
    pub max_total_exposure: Ppm,
}

impl Default for VaultPolicy {
    /// From the lab (`scripts/vault_policy_seeds.py`, the default scenario with its LP runs and
    /// gas spikes, medians over seeds 1-20). With no policy (no unwinding, no exposure limit)
    /// the vault loses 33.9% of its capital and ADL closes 4.87 M USD. The exposure limit
    /// trades one for the other: with a slow unwind (25% of the depth within 0.5% of the mark,
    /// once a minute) 1x gives 15.9% and 5.39 M, 1.25x 19.1% and 4.93 M, 1.5x 21.9% and
    /// 4.48 M, 3x 30.2% and 2.93 M. Unwinding faster (50% of the depth within 1%, every 20 s)
    /// moves the whole curve: 16.8% and 4.02 M at 1x, **18.1% and 3.77 M at 1.1x** (bad debt
    /// 191 k against 194 k with no policy), 20.0% and 3.39 M at 1.25x. The defaults are that
    /// 1.1x point: under 20% of capital with room, and a fifth less ADL than no policy.
    fn default() -> Self {
        VaultPolicy {
            unwind_depth_share: Ppm::from_raw(500_000),
            unwind_band: Ppm::from_raw(10_000),
            unwind_interval_ms: 20_000,
            max_hold_ms: 3_600_000,
            max_market_exposure: Ppm::from_raw(1_100_000),
            max_total_exposure: Ppm::from_raw(2_000_000),
        }
    }
}

impl VaultPolicy {
    /// Check every field; the error names the first field out of range.
    pub fn validate(&self) -> Result<(), Reject> {
        let bad = |name: &'static str, reason: &str| {
            Err(Reject::InvalidParam {
                name,
                reason: reason.into(),
            })
        };
        if !(0..=PPM_ONE).contains(&self.unwind_depth_share.raw()) {
            return bad(
                "vault_policy.unwind_depth_share",
                "must be between 0 and 1000000 ppm (100%)",
            );
        }
        if !(1..=PPM_ONE / 2).contains(&self.unwind_band.raw()) {
            return bad(
                "vault_policy.unwind_band",
                "must be between 1 and 500000 ppm (50%)",
            );
        }
        if self.unwind_interval_ms > limits::MAX_DURATION_MS {
            return bad(
                "vault_policy.unwind_interval_ms",
                "must be at most 31536000000 (365 days)",
            );
        }
        if self.max_hold_ms > limits::MAX_DURATION_MS {
            return bad(
                "vault_policy.max_hold_ms",
                "must be at most 31536000000 (365 days)",
            );
        }
        let max = limits::MAX_VAULT_MARGIN_MULTIPLIER_PPM;
        if !(1..=max).contains(&self.max_market_exposure.raw()) {
            return bad(
                "vault_policy.max_market_exposure",
                "must be above 0 and at most 1000x (1000000000 ppm)",
            );
        }
        if !(1..=max).contains(&self.max_total_exposure.raw()) {
            return bad(
                "vault_policy.max_total_exposure",
                "must be above 0 and at most 1000x (1000000000 ppm)",
            );
        }
        Ok(())
    }
}

/// Why the vault did not take a bankrupt pool's positions over (carried by ADL events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaultRefusal {
    /// The market carrying most of the loss has the vault stage off.
    StageOff,
    /// The bankrupt pool is the vault's own.
    VaultItself,
    /// The vault's equity would fall below its margin limit (or to zero).
    MarginLimit,
    /// The vault's notional in one market would exceed `max_market_exposure` x equity.
    MarketExposure,
    /// The vault's total notional would exceed `max_total_exposure` x equity.
    TotalExposure,
}

/// The vault's inventory in one market: since when it has held a position there, and when it
/// last unwound (state: hashed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultInventory {
    pub since_ms: u64,
    pub last_unwind_ms: u64,
}

impl Default for VenueParams {
    fn default() -> Self {
        VenueParams {
            native_liquidation: true,
            max_liquidations_per_step: 256,
            vault_withdrawal_delay_ms: 24 * 3_600_000,
            // 20 x a 0.5% maintenance = 10% of notional: the vault runs at 10x at most.
            vault_margin_multiplier: Ppm::from_raw(20_000_000),
            vault_policy: VaultPolicy::default(),
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
    /// Per market where the vault holds (or held) a position: its age and last unwind.
    pub inventory: BTreeMap<MarketId, VaultInventory>,
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
            inventory: BTreeMap::new(),
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
    /// May the vault take these positions at the mark, and the pool's equity (negative: a
    /// loss) with them? It must stay within its margin limit and its exposure limits
    /// ([`VaultPolicy`]) afterwards; the error says which limit refused.
    pub(super) fn vault_accepts(
        &self,
        positions: &[(usize, Position)],
        equity: Usd,
    ) -> Result<(), VaultRefusal> {
        let v = self
            .vault_after_takeover(positions, equity)
            .ok_or(VaultRefusal::MarginLimit)?;
        let h = self
            .pool_health(&v, Scope::Cross, None)
            .map_err(|_| VaultRefusal::MarginLimit)?;
        let limit = h
            .maintenance_usd
            .mul_ppm(self.venue.vault_margin_multiplier, Round::Ceil)
            .map_err(|_| VaultRefusal::MarginLimit)?;
        if !h.equity_usd.is_positive() || h.equity_usd < limit {
            return Err(VaultRefusal::MarginLimit);
        }
        let policy = &self.venue.vault_policy;
        let cap = |multiple: Ppm| h.equity_usd.mul_ppm(multiple, Round::Floor);
        let market_cap = cap(policy.max_market_exposure).map_err(|_| VaultRefusal::MarginLimit)?;
        let total_cap = cap(policy.max_total_exposure).map_err(|_| VaultRefusal::MarginLimit)?;
        let mut total = 0i128;
        for p in v.positions.iter().filter(|p| !p.qty.is_zero()) {
            let m = &self.markets[p.market.0 as usize];
            let notional = margin::notional_ceil_usd(p.qty, m.mark, m.params.lots_per_unit)
                .map_err(|_| VaultRefusal::MarketExposure)?;
            let taken = positions.iter().any(|(mi, _)| *mi == p.market.0 as usize);
            if taken && notional > market_cap {
                return Err(VaultRefusal::MarketExposure);
            }
            total += notional.micros() as i128;
        }
        if total > total_cap.micros() as i128 {
            return Err(VaultRefusal::TotalExposure);
        }
        Ok(())
    }

    /// The vault's account as it would be after taking `positions` at the mark with `equity`
    /// (`None` if the arithmetic says it cannot be).
    fn vault_after_takeover(
        &self,
        positions: &[(usize, Position)],
        equity: Usd,
    ) -> Option<Account> {
        let mut v: Account = self.vault.account.clone();
        for (mi, p) in positions {
            let m = &self.markets[*mi];
            let side = if p.qty.is_positive() {
                Side::Buy
            } else {
                Side::Sell
            };
            let notional =
                margin::fill_notional_usd(p.qty.abs(), m.mark, m.params.lots_per_unit).ok()?;
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
            super::index::settle(m, pos, &mut v.collateral_usd).ok()?;
            let realized = pos.apply_fill(side, p.qty.abs(), notional).ok()?;
            super::index::snap(m, pos);
            v.collateral_usd = v.collateral_usd.checked_add(realized).ok()?;
        }
        v.collateral_usd = v.collateral_usd.checked_add(equity).ok()?;
        Some(v)
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
            self.note_vault_inventory(market);
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

    /// Start the clock of the vault's inventory in `market` if it holds nothing there yet.
    fn note_vault_inventory(&mut self, market: MarketId) {
        let holds = self
            .vault
            .account
            .position(market)
            .is_some_and(|p| !p.qty.is_zero());
        if holds {
            return;
        }
        let last_unwind_ms = self
            .vault
            .inventory
            .get(&market)
            .map_or(0, |i| i.last_unwind_ms);
        let inv = VaultInventory {
            since_ms: self.now_ms.0,
            last_unwind_ms,
        };
        self.set_vault_inventory(market, Some(inv));
    }

    /// The vault's management after every price change and liquidation: first back inside
    /// its margin limit (not rate-limited), then the discretionary unwind of its inventory at
    /// the policy's bounded rate.
    pub(super) fn manage_vault(&mut self) -> Bounded {
        self.reduce_vault()?;
        if self.vault.inventory.is_empty() {
            return Ok(());
        }
        let markets: Vec<MarketId> = self.vault.inventory.keys().copied().collect();
        for market in markets {
            self.unwind_vault(market)?;
        }
        Ok(())
    }

    /// Unwind part of the vault's position in `market` into the book (see [`VaultPolicy`]).
    fn unwind_vault(&mut self, market: MarketId) -> Bounded {
        let now = self.now_ms.0;
        let policy = self.venue.vault_policy;
        let Some(inv) = self.vault.inventory.get(&market).copied() else {
            return Ok(());
        };
        let qty = match self.vault.account.position(market) {
            Some(p) if !p.qty.is_zero() => p.qty,
            _ => {
                // Flat (reduced, unwound or deleveraged): the clock stops.
                self.set_vault_inventory(market, None);
                return Ok(());
            }
        };
        let due = inv.last_unwind_ms.saturating_add(policy.unwind_interval_ms);
        if inv.last_unwind_ms != 0 && now < due {
            return Ok(());
        }
        let held_ms = now.saturating_sub(inv.since_ms);
        let share = unwind_share_ppm(&policy, held_ms);
        if share == 0 {
            return Ok(());
        }
        let mi = market.0 as usize;
        let side = super::waterfall::closing_side(qty);
        let m = &self.markets[mi];
        if !m.mark.is_positive() {
            return Ok(());
        }
        let edge = super::liquidation::band_edge(
            m.mark,
            policy.unwind_band,
            m.params.tick_size,
            m.params.max_price,
            side,
        )?;
        let depth: i64 = m
            .book
            .crossing(side, edge)
            .map(|o| o.remaining.lots())
            .fold(0i64, |a, b| a.saturating_add(b));
        // Rounded down: the vault never takes more than its share of the depth.
        let allowed = bounded(mul_div(depth, share, PPM_ONE, Round::Floor))?;
        let lots = allowed.min(qty.abs().lots());
        if lots <= 0 {
            return Ok(());
        }
        let first_event = self.events.len();
        let filled = self.close_through_book(
            VAULT,
            mi,
            side,
            Qty::from_lots(lots),
            Close::VaultUnwind {
                band: policy.unwind_band,
            },
        )?;
        let left = self
            .vault
            .account
            .position(market)
            .map_or(Qty::ZERO, |p| p.qty);
        let next = (!left.is_zero()).then_some(VaultInventory {
            since_ms: inv.since_ms,
            last_unwind_ms: now.max(1),
        });
        self.set_vault_inventory(market, next);
        if filled.is_zero() {
            return Ok(());
        }
        let (realized, fees) = self.vault_fill_totals(first_event)?;
        self.events.push(Event::VaultUnwound {
            market,
            qty: Qty::from_lots(filled.lots() * qty.signum()),
            realized_pnl_usd: realized,
            fees_usd: fees,
            held_ms,
            depth_share: Ppm::from_raw(share),
            qty_left: left,
        });
        Ok(())
    }

    /// The PnL the vault realized and the fees it paid as the taker of the fills emitted
    /// since `first_event` (its position may be gone afterwards, so not read from it).
    fn vault_fill_totals(&self, first_event: usize) -> Bounded<(Usd, Usd)> {
        let (mut realized, mut fees) = (Usd::ZERO, Usd::ZERO);
        for e in &self.events[first_event..] {
            if let Event::Fill {
                taker: VAULT,
                taker_realized_pnl_usd,
                taker_fee_usd,
                ..
            } = e
            {
                realized = bounded(realized.checked_add(*taker_realized_pnl_usd))?;
                fees = bounded(fees.checked_add(*taker_fee_usd))?;
            }
        }
        Ok((realized, fees))
    }

    /// Keep the vault inside its own margin limit by reducing its largest position through the
    /// book, within the liquidation band.
    fn reduce_vault(&mut self) -> Bounded {
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

/// The share of in-band depth one unwind may take after holding for `held_ms`: the policy's
/// share, plus one more share per `max_hold_ms` held past `max_hold_ms`, at most 100% (ppm).
pub(super) fn unwind_share_ppm(policy: &VaultPolicy, held_ms: u64) -> i64 {
    let base = policy.unwind_depth_share.raw();
    if policy.max_hold_ms == 0 || held_ms <= policy.max_hold_ms {
        return base;
    }
    let overdue = (held_ms - policy.max_hold_ms) as i128;
    let extra = base as i128 * overdue / policy.max_hold_ms as i128;
    (base as i128 + extra).min(PPM_ONE as i128) as i64
}
