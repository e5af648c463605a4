//! Queries: health of a pool at the marks (or a counterfactual mark), lookups, read-only views.
//! A query never changes state.

use super::*;
use crate::account::{Account, Position};
use crate::command::MarginMode;
use crate::event::Scope;
use crate::margin::{self, Health};
use crate::market::Market;
use crate::reject::Reject;
use bulwark_core::{AccountId, ArithResult, MarketId, Price, TimestampMs, Usd};

impl Engine {
    /// Health of a pool as if `market`'s mark were `mark` (other marks unchanged): the lab's
    /// counterfactual for cascades ("would this account be liquidated at the outside price?").
    pub fn health_with_mark(
        &self,
        account: AccountId,
        scope: Scope,
        market: MarketId,
        mark: Price,
    ) -> Result<Health, Reject> {
        self.market_index(market)?;
        let a = self.active_account(account)?;
        Ok(self.pool_health_inner(a, scope, None, Some((market, mark)), false)?)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn markets(&self) -> &[Market] {
        &self.markets
    }

    pub fn market(&self, id: MarketId) -> Option<&Market> {
        self.markets.get(id.0 as usize)
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(id.0 as usize).filter(|a| a.active)
    }

    pub fn fee_pool_usd(&self) -> Usd {
        self.fee_pool_usd
    }

    pub fn deposited_usd(&self) -> Usd {
        self.deposited_usd
    }

    pub fn withdrawn_usd(&self) -> Usd {
        self.withdrawn_usd
    }

    pub fn last_ms(&self) -> TimestampMs {
        self.last_ms
    }

    /// Commands applied so far (rejected ones not counted). A requote counts as the commands
    /// it stands for: one per part applied (its cancel, and each order not refused).
    pub fn commands_applied(&self) -> u64 {
        self.commands_applied
    }

    /// The events the last applied command emitted (what [`Engine::apply`] returned), or none
    /// after a rejection. Lets a caller read them beside other queries without copying them
    /// out first.
    pub fn last_events(&self) -> &[Event] {
        &self.events
    }

    /// The parts of the last applied command, if it had parts (a requote: its cancel, then
    /// each of its orders): where each part's events end in [`Engine::last_events`] and why a
    /// part was refused. Empty after any other command and after a rejection.
    pub fn last_parts(&self) -> &[Part] {
        &self.parts
    }

    pub fn next_order_seq(&self) -> u64 {
        self.next_order_seq
    }

    /// Pools currently below maintenance or with negative equity, in (account, pool) order.
    pub fn flags(&self) -> &BTreeMap<(AccountId, Scope), Flag> {
        &self.flags
    }

    /// Pools in the waterfall whose positions could not be closed yet (retried every step).
    pub fn deferred_bankruptcies(&self) -> &BTreeSet<(AccountId, Scope)> {
        &self.waterfall_pending
    }

    /// Whether a pool has negative equity: a loss not yet booked, so its owner may not trade
    /// it or take money out of it (flags are exact after every command).
    pub(crate) fn pool_in_bankruptcy(&self, account: AccountId, scope: Scope) -> bool {
        self.negative_pools > 0
            && self
                .flags
                .get(&(account, scope))
                .is_some_and(|f| f.negative_equity)
    }

    /// Pools holding a loss the waterfall has not booked: negative equity with positions
    /// still open (including the vault's own, while it waits in the waterfall).
    pub fn unbooked_loss_pools(&self) -> usize {
        self.negative_pools + usize::from(self.waterfall_pending.contains(&(VAULT, Scope::Cross)))
    }

    /// Health of one pool of an account at current marks.
    /// A pool's health as the initial-margin checks see it (orders that add exposure,
    /// withdrawals): with the stable price on, each position at the worse of mark and stable
    /// price. Equity minus its initial requirement is what a withdrawal may take.
    pub fn health_for_initial(&self, account: AccountId, scope: Scope) -> Result<Health, Reject> {
        let a = self
            .account(account)
            .ok_or(Reject::UnknownAccount(account))?;
        Ok(self.pool_health_for_initial(a, scope, None)?)
    }

    pub fn health(&self, account: AccountId, scope: Scope) -> Result<Health, Reject> {
        let a = self
            .account(account)
            .ok_or(Reject::UnknownAccount(account))?;
        Ok(self.pool_health(a, scope, None)?)
    }

    /// A pool's equity alone: the `equity_usd` of [`Engine::health`], the same sum in the
    /// same checked arithmetic, without the requirements (for a caller that decides from its
    /// equity only, such as an agent checking what it has left).
    pub fn equity(&self, account: AccountId, scope: Scope) -> Result<Usd, Reject> {
        let a = self
            .account(account)
            .ok_or(Reject::UnknownAccount(account))?;
        let mut equity = match scope {
            Scope::Cross => a.collateral_usd,
            Scope::Isolated(_) => Usd::ZERO,
        };
        for p in a.positions.iter().filter(|p| in_scope(p, scope)) {
            let m = &self.markets[p.market.0 as usize];
            if p.mode == MarginMode::Isolated {
                equity = equity.checked_add(p.isolated_usd)?;
            }
            if p.qty.is_zero() {
                continue;
            }
            let (value, _) = margin::value_and_notional_usd(p.qty, m.mark, m.params.lots_per_unit)?;
            equity = equity.checked_add(value)?.checked_sub(p.cost_usd)?;
            if !super::index::is_current(m, p) {
                let (funding, loss) = super::index::pending_usd(m, p)?;
                equity = equity.checked_sub(funding)?.checked_sub(loss)?;
            }
        }
        Ok(equity)
    }

    /// The pools an account has: cross, and one per isolated position.
    pub fn scopes(a: &Account) -> impl Iterator<Item = Scope> + '_ {
        std::iter::once(Scope::Cross).chain(
            a.positions
                .iter()
                .filter(|p| p.mode == MarginMode::Isolated)
                .map(|p| Scope::Isolated(p.market)),
        )
    }

    /// Equity and requirements of a pool. `with` replaces (or adds) the position of its market,
    /// so a hypothetical order can be checked without touching state.
    pub fn pool_health(
        &self,
        a: &Account,
        scope: Scope,
        with: Option<&Position>,
    ) -> ArithResult<Health> {
        self.pool_health_inner(a, scope, with, None, false)
    }

    /// A pool's health for the initial-margin checks (an order that adds exposure, collateral
    /// leaving the pool): with the stable price on, each position is valued and its
    /// requirement taken at the worse of the mark and the stable price for its side, so a
    /// price that just jumped cannot be borrowed against (mango-v4's init health). Maintenance
    /// and liquidation stay on the mark.
    pub(super) fn pool_health_for_initial(
        &self,
        a: &Account,
        scope: Scope,
        with: Option<&Position>,
    ) -> ArithResult<Health> {
        self.pool_health_inner(a, scope, with, None, true)
    }

    pub(super) fn pool_health_inner(
        &self,
        a: &Account,
        scope: Scope,
        with: Option<&Position>,
        mark_override: Option<(MarketId, Price)>,
        initial_check: bool,
    ) -> ArithResult<Health> {
        let mut h = match scope {
            Scope::Cross => Health {
                equity_usd: a.collateral_usd,
                ..Health::default()
            },
            Scope::Isolated(_) => Health::default(),
        };
        let mut substituted = false;
        for stored in &a.positions {
            let p = match with {
                Some(w) if w.market == stored.market => {
                    substituted = true;
                    w
                }
                _ => stored,
            };
            self.add_position_health(&mut h, p, scope, mark_override, initial_check, true)?;
        }
        if let Some(w) = with.filter(|_| !substituted) {
            self.add_position_health(&mut h, w, scope, mark_override, initial_check, true)?;
        }
        Ok(h)
    }

    /// A pool's equity and maintenance requirement at the marks, with its initial
    /// requirement left at zero, not computed: what its flags, its recheck triggers, the
    /// liquidation queue and a liquidation's steps need (they run at every trigger a mark
    /// crosses; an order's or a withdrawal's check takes the whole `pool_health`).
    pub(crate) fn pool_maintenance_health(&self, a: &Account, scope: Scope) -> ArithResult<Health> {
        let mut h = match scope {
            Scope::Cross => Health {
                equity_usd: a.collateral_usd,
                ..Health::default()
            },
            Scope::Isolated(_) => Health::default(),
        };
        for p in &a.positions {
            self.add_position_health(&mut h, p, scope, None, false, false)?;
        }
        Ok(h)
    }

    /// Add one position's equity and requirements to `h`; the initial requirement only if
    /// `with_initial`.
    #[inline]
    pub(super) fn add_position_health(
        &self,
        h: &mut Health,
        p: &Position,
        scope: Scope,
        mark_override: Option<(MarketId, Price)>,
        initial_check: bool,
        with_initial: bool,
    ) -> ArithResult<()> {
        let in_scope = match scope {
            Scope::Cross => p.mode == MarginMode::Cross,
            Scope::Isolated(m) => p.mode == MarginMode::Isolated && p.market == m,
        };
        if !in_scope {
            return Ok(());
        }
        let m = &self.markets[p.market.0 as usize];
        let mark = match mark_override {
            Some((market, price)) if market == p.market => price,
            _ => m.mark,
        };
        // For the initial check a position is valued at its side's margin price (with the
        // stable price on, the worse of it and the mark); resting orders alone at the mark.
        let mark = if initial_check && !p.qty.is_zero() {
            m.margin_price_at(mark, p.qty.is_positive())
        } else {
            mark
        };
        let lots = m.params.lots_per_unit;
        if p.mode == MarginMode::Isolated {
            h.equity_usd = h.equity_usd.checked_add(p.isolated_usd)?;
        }
        let worst = margin::worst_case_qty(p.qty, p.open_buy, p.open_sell);
        let (mut maintenance, mut notional) = (Usd::ZERO, Usd::ZERO);
        if !p.qty.is_zero() {
            let value;
            (value, notional) = margin::value_and_notional_usd(p.qty, mark, lots)?;
            h.equity_usd = h.equity_usd.checked_add(value)?.checked_sub(p.cost_usd)?;
            // Pending funding and socialized loss, rounded exactly as settlement will round
            // them, so that settling never changes a pool's health (nothing to add while the
            // position's snapshots are current, the common case).
            if !super::index::is_current(m, p) {
                let (funding, loss) = super::index::pending_usd(m, p)?;
                h.equity_usd = h.equity_usd.checked_sub(funding)?.checked_sub(loss)?;
            }
            maintenance = margin::maintenance_usd(&m.params, notional)?;
            h.maintenance_usd = h.maintenance_usd.checked_add(maintenance)?;
        }
        if !with_initial {
            return Ok(());
        }
        let initial = if worst == p.qty.abs() {
            // No resting order adds risk: the initial requirement is the maintenance one scaled.
            margin::initial_from_maintenance(&m.params, maintenance, notional)?
        } else {
            let notional = margin::notional_ceil_usd(worst, mark, lots)?;
            margin::initial_usd(&m.params, notional)?
        };
        h.initial_usd = h.initial_usd.checked_add(initial)?;
        Ok(())
    }

    pub(super) fn market_index(&self, id: MarketId) -> Result<usize, Reject> {
        let i = id.0 as usize;
        if i < self.markets.len() {
            Ok(i)
        } else {
            Err(Reject::UnknownMarket(id))
        }
    }

    /// Any trading account, the vault included.
    #[inline]
    pub(crate) fn acct(&self, id: AccountId) -> &Account {
        if id == VAULT {
            &self.vault.account
        } else {
            &self.accounts[id.0 as usize]
        }
    }

    pub(super) fn active_account(&self, id: AccountId) -> Result<&Account, Reject> {
        self.account(id).ok_or(Reject::UnknownAccount(id))
    }

    /// Check every invariant from scratch; returns a description of the first breach.
    /// Runs after every command in debug and test builds (and with the `invariants` feature).
    pub fn check_invariants(&self) -> Result<(), String> {
        crate::invariants::check(self)
    }

    pub(crate) fn parts(&self) -> EngineParts<'_> {
        EngineParts {
            markets: &self.markets,
            accounts: &self.accounts,
            vault: &self.vault,
            venue: &self.venue,
            insurance_usd: self.insurance_usd,
            bad_debt_usd: self.bad_debt_usd,
            fee_pool_usd: self.fee_pool_usd,
            deposited_usd: self.deposited_usd,
            withdrawn_usd: self.withdrawn_usd,
            flags: &self.flags,
            negative_pools: self.negative_pools,
            waterfall_pending: &self.waterfall_pending,
            last_ms: self.last_ms,
            next_order_seq: self.next_order_seq,
            commands_applied: self.commands_applied,
            genesis_open: self.genesis_open,
            genesis_cost_usd: self.genesis_cost_usd,
        }
    }
}
