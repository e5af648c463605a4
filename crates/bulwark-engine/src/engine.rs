//! The venue state machine: `apply(command, now) -> events`.
//!
//! Every command is validated and planned first, on copies, with checked arithmetic; only a
//! plan that passed every check is committed. A rejected command therefore changes nothing,
//! and the commit phase cannot fail on an operating error. The bounds in [`limits`] make
//! overflow in the commit phase impossible; if it happened anyway it would be a bug, and the
//! engine stops rather than continue with corrupt state (the journal recovers it).

use crate::account::{Account, Position};
use crate::book::{NewOrder, Side};
use crate::command::{Command, MarginMode, MarketParams, OrderKind, Param, PlaceOrder, SelfTrade};
use crate::event::{CancelReason, Event, Scope};
use crate::margin::{self, Health};
use crate::market::{Market, OracleReading};
use crate::reject::Reject;
use bulwark_core::{
    mul_div, mul_mul_div, AccountId, ArithResult, MarketId, OrderId, Ppm, Price, Qty, Round,
    TimestampMs, Usd, PPM_ONE,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod liquidation;
mod vault;
mod watch;
pub use vault::{Vault, VaultState, VenueParams, WithdrawalRequest};

/// Hard bounds that keep every product and sum inside `i64` (see the module docs).
pub mod limits {
    /// Highest `max_price` any market may set: 1e9 USD per base unit, in micro-USD.
    pub const MAX_PRICE_MICROS: i64 = 1_000_000_000_000_000;
    /// Largest notional one position may reach at its market's `max_price`: 1e11 USD. With at
    /// most 32 positions and 1e12 USD of collateral, an account's equity stays inside `i64`.
    pub const MAX_POSITION_NOTIONAL_MICROS: i64 = 100_000_000_000_000_000;
    /// Largest total of deposits net of withdrawals: 1e12 USD.
    pub const MAX_TOTAL_COLLATERAL_MICROS: i64 = 1_000_000_000_000_000_000;
}

/// Engine-wide limits: every loop and table has a named bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub max_markets: usize,
    /// Account ids are dense indices below this.
    pub max_accounts: u32,
    pub max_open_orders_per_account: u32,
    /// Markets one account may hold positions or orders in. With the notional bound this keeps
    /// an account's equity inside `i64`.
    pub max_positions_per_account: usize,
    /// Resting orders one incoming order may meet (fills plus self-trade cancels); the rest of
    /// the order is cancelled (or, for a limit order, rests). Bounds the work of one command.
    pub max_fills_per_order: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_markets: 64,
            max_accounts: 1 << 24,
            max_open_orders_per_account: 256,
            max_positions_per_account: 32,
            max_fills_per_order: 512,
        }
    }
}

/// Health flags kept per (account, pool). The invariant checker recomputes them from scratch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub below_maintenance: bool,
    pub negative_equity: bool,
}

/// One planned step of matching an incoming order.
#[derive(Clone, Copy, Debug)]
enum Step {
    Fill {
        maker: OrderId,
        maker_account: AccountId,
        price: Price,
        qty: Qty,
        notional: Usd,
        maker_fee: Usd,
        taker_fee: Usd,
        maker_realized: Usd,
        taker_realized: Usd,
    },
    CancelMaker {
        order: OrderId,
        account: AccountId,
        qty: Qty,
        reason: CancelReason,
    },
}

/// Why matching stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlanEnd {
    /// Filled, or nothing crosses any more: a limit order's rest may rest.
    Exhausted,
    /// Met the account's own order with cancel-taker or cancel-both.
    SelfTrade,
    /// Met `max_fills_per_order` orders; the rest is cancelled so the book never crosses.
    WorkLimit,
}

/// An account's state for one market while an order is planned.
#[derive(Clone, Copy, Debug)]
struct Draft {
    account: AccountId,
    collateral: Usd,
    pos: Position,
    /// Where the position sits (Ok) or would be inserted (Err) in the account's list.
    index: Result<usize, usize>,
    /// Whether anything that maintenance depends on changed (set at write-back).
    changed: bool,
    /// Whether the order closed the position (set at write-back).
    closed_now: bool,
}

impl Draft {
    /// The pool that pays this position's fees and receives its PnL.
    fn pool(&mut self) -> &mut Usd {
        match self.pos.mode {
            MarginMode::Cross => &mut self.collateral,
            MarginMode::Isolated => &mut self.pos.isolated_usd,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    markets: Vec<Market>,
    accounts: Vec<Account>,
    fee_pool_usd: Usd,
    funding_residue_usd: Usd,
    deposited_usd: Usd,
    withdrawn_usd: Usd,
    last_ms: TimestampMs,
    next_order_seq: u64,
    commands_applied: u64,
    flags: BTreeMap<(AccountId, Scope), Flag>,
    events: Vec<Event>,
    steps: Vec<Step>,
    drafts: Vec<Draft>,
    plan_end: PlanEnd,
    /// Set while a liquidation's order is committed, so its fills are marked.
    liquidating: bool,
    /// The pool being liquidated: its isolated entry stays until the waterfall is done.
    liquidating_pool: Option<(AccountId, Scope)>,
    /// ADL candidates per (market, side), ranked once per command (scratch, not state).
    adl_cache: Vec<((MarketId, i64), Vec<AccountId>)>,
    /// The insurance fund: a share of fees and liquidation penalties, explicit deposits.
    insurance_usd: Usd,
    /// Loss no waterfall stage covered, recorded (never a silent negative balance).
    bad_debt_usd: Usd,
    vault: Vault,
    venue: VenueParams,
    /// Check the invariants after every n-th applied command (debug and test builds, or the
    /// `invariants` feature). Not state: it is not hashed.
    invariant_check_interval: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineConfig::default())
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            markets: Vec::new(),
            accounts: Vec::new(),
            fee_pool_usd: Usd::ZERO,
            funding_residue_usd: Usd::ZERO,
            deposited_usd: Usd::ZERO,
            withdrawn_usd: Usd::ZERO,
            last_ms: TimestampMs(0),
            next_order_seq: 1,
            commands_applied: 0,
            flags: BTreeMap::new(),
            events: Vec::with_capacity(64),
            steps: Vec::with_capacity(64),
            drafts: Vec::with_capacity(8),
            plan_end: PlanEnd::Exhausted,
            liquidating: false,
            liquidating_pool: None,
            adl_cache: Vec::new(),
            insurance_usd: Usd::ZERO,
            bad_debt_usd: Usd::ZERO,
            vault: Vault::default(),
            venue: VenueParams::default(),
            invariant_check_interval: 1,
        }
    }

    /// Apply one command at time `now`. On success returns the events it produced (valid until
    /// the next call); on rejection returns why, and the state is exactly as before.
    pub fn apply(&mut self, cmd: &Command, now: TimestampMs) -> Result<&[Event], Reject> {
        self.events.clear();
        self.adl_cache.clear();
        if now < self.last_ms {
            return Err(Reject::TimeWentBackwards {
                last: self.last_ms,
                now,
            });
        }
        let result = match cmd {
            Command::CreateMarket { params } => self.create_market(params, now),
            Command::Deposit {
                account,
                amount_usd,
            } => self.deposit(*account, *amount_usd),
            Command::Withdraw {
                account,
                amount_usd,
            } => self.withdraw(*account, *amount_usd),
            Command::PlaceOrder(o) => self.place_order(o),
            Command::Cancel {
                account,
                market,
                order,
            } => self.cancel(*account, *market, *order),
            Command::CancelAll { account, market } => self.cancel_all(*account, *market),
            Command::AdjustIsolatedMargin {
                account,
                market,
                delta_usd,
            } => self.adjust_isolated(*account, *market, *delta_usd),
            Command::OraclePrice { market, price } => self.oracle_price(*market, *price, now),
            Command::Tick => {
                self.tick(now);
                Ok(())
            }
            Command::SetParam { market, param } => self.set_param(*market, param),
            Command::SetVenueParam { param } => self.set_venue_param(param),
            Command::Liquidate {
                keeper,
                account,
                scope,
            } => self.liquidate_command(*keeper, *account, *scope),
            Command::VaultDeposit {
                account,
                amount_usd,
            } => self.vault_deposit(*account, *amount_usd),
            Command::VaultRequestWithdrawal { account, shares } => {
                self.vault_request_withdrawal(*account, *shares, now)
            }
            Command::VaultClaimWithdrawal { account } => self.vault_claim(*account, now),
            Command::InsuranceDeposit {
                account,
                amount_usd,
            } => self.insurance_deposit(*account, *amount_usd),
        };
        if let Err(e) = result {
            debug_assert!(self.events.is_empty(), "a rejected command emitted events");
            return Err(e);
        }
        self.last_ms = now;
        self.commands_applied += 1;
        #[cfg(any(debug_assertions, feature = "invariants"))]
        if self
            .commands_applied
            .is_multiple_of(self.invariant_check_interval)
        {
            if let Err(breach) = self.check_invariants() {
                panic!("invariant broken after {} at {now:?}: {breach}", cmd.name());
            }
        }
        Ok(&self.events)
    }

    /// Check the invariants after every `n`-th command instead of every one (n >= 1). The full
    /// check is O(accounts + orders); long simulations sample it and check once at the end.
    pub fn set_invariant_check_interval(&mut self, n: u64) {
        self.invariant_check_interval = n.max(1);
    }

    // ----- queries -------------------------------------------------------------------------

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
        Ok(self.pool_health_inner(a, scope, None, Some((market, mark)))?)
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
    pub fn funding_residue_usd(&self) -> Usd {
        self.funding_residue_usd
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
    pub fn commands_applied(&self) -> u64 {
        self.commands_applied
    }
    pub fn next_order_seq(&self) -> u64 {
        self.next_order_seq
    }
    /// Pools currently below maintenance or with negative equity, in (account, pool) order.
    pub fn flags(&self) -> &BTreeMap<(AccountId, Scope), Flag> {
        &self.flags
    }

    /// Health of one pool of an account at current marks.
    pub fn health(&self, account: AccountId, scope: Scope) -> Result<Health, Reject> {
        let a = self
            .account(account)
            .ok_or(Reject::UnknownAccount(account))?;
        Ok(self.pool_health(a, scope, None)?)
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
        self.pool_health_inner(a, scope, with, None)
    }

    fn pool_health_inner(
        &self,
        a: &Account,
        scope: Scope,
        with: Option<&Position>,
        mark_override: Option<(MarketId, Price)>,
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
            self.add_position_health(&mut h, p, scope, mark_override)?;
        }
        if let Some(w) = with.filter(|_| !substituted) {
            self.add_position_health(&mut h, w, scope, mark_override)?;
        }
        Ok(h)
    }

    #[inline]
    fn add_position_health(
        &self,
        h: &mut Health,
        p: &Position,
        scope: Scope,
        mark_override: Option<(MarketId, Price)>,
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
        let lots = m.params.lots_per_unit;
        if p.mode == MarginMode::Isolated {
            h.equity_usd = h.equity_usd.checked_add(p.isolated_usd)?;
        }
        let worst = margin::worst_case_qty(p.qty, p.open_buy, p.open_sell);
        let mut maintenance = Usd::ZERO;
        if !p.qty.is_zero() {
            let (value, notional) = margin::value_and_notional_usd(p.qty, mark, lots)?;
            h.equity_usd = h.equity_usd.checked_add(value)?.checked_sub(p.cost_usd)?;
            maintenance = margin::maintenance_usd(&m.params, notional)?;
            h.maintenance_usd = h.maintenance_usd.checked_add(maintenance)?;
        }
        let initial = if worst == p.qty.abs() {
            // No resting order adds risk: the initial requirement is the maintenance one scaled.
            maintenance.mul_ppm(m.params.initial_multiplier, Round::Ceil)?
        } else {
            let notional = margin::notional_ceil_usd(worst, mark, lots)?;
            margin::initial_usd(&m.params, notional)?
        };
        h.initial_usd = h.initial_usd.checked_add(initial)?;
        Ok(())
    }

    // ----- markets and collateral ----------------------------------------------------------

    fn create_market(&mut self, params: &MarketParams, now: TimestampMs) -> Result<(), Reject> {
        if self.markets.len() >= self.config.max_markets {
            return Err(Reject::TooManyMarkets {
                limit: self.config.max_markets,
            });
        }
        validate_params(params)?;
        let id = MarketId(self.markets.len() as u16);
        self.markets.push(Market::new(id, params.clone(), now));
        self.events.push(Event::MarketCreated {
            market: id,
            symbol: params.symbol.clone(),
        });
        Ok(())
    }

    fn market_index(&self, id: MarketId) -> Result<usize, Reject> {
        let i = id.0 as usize;
        if i < self.markets.len() {
            Ok(i)
        } else {
            Err(Reject::UnknownMarket(id))
        }
    }

    /// Remove the order at `slot` of an account's order list; the order moved into its place
    /// learns its new index.
    fn unlist_order(&mut self, account: AccountId, slot: u32) {
        let list = &mut self.acct_mut(account).orders;
        list.swap_remove(slot as usize);
        if let Some(&(m, moved)) = list.get(slot as usize) {
            self.markets[m.0 as usize].book.set_acct_slot(moved, slot);
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

    #[inline]
    pub(crate) fn acct_mut(&mut self, id: AccountId) -> &mut Account {
        if id == VAULT {
            &mut self.vault.account
        } else {
            &mut self.accounts[id.0 as usize]
        }
    }

    fn active_account(&self, id: AccountId) -> Result<&Account, Reject> {
        self.account(id).ok_or(Reject::UnknownAccount(id))
    }

    fn deposit(&mut self, account: AccountId, amount: Usd) -> Result<(), Reject> {
        if !amount.is_positive() {
            return Err(Reject::AmountNotPositive(amount));
        }
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
            self.accounts.resize_with(i + 1, Account::default);
        }
        let a = &mut self.accounts[i];
        a.active = true;
        a.collateral_usd = collateral;
        self.deposited_usd = deposited;
        self.events.push(Event::Deposited {
            account,
            amount_usd: amount,
            collateral_usd: collateral,
        });
        self.reevaluate(account);
        Ok(())
    }

    /// Collateral the cross pool can release: not more than it holds, and not so much that
    /// equity falls below the initial requirement.
    fn free_cross_collateral(&self, a: &Account) -> ArithResult<Usd> {
        let h = self.pool_health(a, Scope::Cross, None)?;
        Ok(a.collateral_usd.min(h.free_usd()?).max(Usd::ZERO))
    }

    /// Check that `amount` (> 0) may leave the account's cross pool (withdrawal, vault or
    /// insurance deposit); returns the pool's collateral after it left.
    pub(crate) fn debit_free_cross(&self, account: AccountId, amount: Usd) -> Result<Usd, Reject> {
        if !amount.is_positive() {
            return Err(Reject::AmountNotPositive(amount));
        }
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

    fn withdraw(&mut self, account: AccountId, amount: Usd) -> Result<(), Reject> {
        let collateral = self.debit_free_cross(account, amount)?;
        let withdrawn = self.withdrawn_usd.checked_add(amount)?;
        self.accounts[account.0 as usize].collateral_usd = collateral;
        self.withdrawn_usd = withdrawn;
        self.events.push(Event::Withdrawn {
            account,
            amount_usd: amount,
            collateral_usd: collateral,
        });
        self.reevaluate(account);
        Ok(())
    }

    fn adjust_isolated(
        &mut self,
        account: AccountId,
        market: MarketId,
        delta: Usd,
    ) -> Result<(), Reject> {
        self.market_index(market)?;
        if delta.is_zero() {
            return Err(Reject::AmountNotPositive(delta));
        }
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
            let h = self.pool_health(a, Scope::Isolated(market), None)?;
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
        let a = &mut self.accounts[account.0 as usize];
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
        self.release_if_idle(account, market, false);
        self.reevaluate(account);
        Ok(())
    }

    // ----- orders --------------------------------------------------------------------------

    fn place_order(&mut self, o: &PlaceOrder) -> Result<(), Reject> {
        let mi = self.market_index(o.market)?;
        let a = self.active_account(o.account)?;
        let m = &self.markets[mi];
        let p = &m.params;
        if !o.qty.is_positive() {
            return Err(Reject::QtyNotPositive(o.qty));
        }
        if o.qty > p.max_order_qty {
            return Err(Reject::QtyTooLarge {
                qty: o.qty,
                limit: p.max_order_qty,
            });
        }
        let limit = self.order_limit_price(m, o)?;
        let index = a.position_index(o.market);
        let pos = match index {
            Ok(i) => a.positions[i],
            Err(_) => {
                if a.positions.len() >= self.config.max_positions_per_account {
                    return Err(Reject::TooManyPositions {
                        limit: self.config.max_positions_per_account,
                    });
                }
                Position::new(o.market, o.margin)
            }
        };
        if pos.mode != o.margin {
            let current = match pos.mode {
                MarginMode::Cross => "cross",
                MarginMode::Isolated => "isolated",
            };
            return Err(Reject::MarginModeConflict {
                market: o.market,
                current,
            });
        }
        let mut qty = o.qty;
        if o.reduce_only {
            let reducible = pos.reducible_by(o.side);
            if reducible.is_zero() {
                return Err(Reject::ReduceOnlyWouldIncrease);
            }
            qty = qty.min(reducible);
        }
        let may_rest = matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly);
        if o.kind == OrderKind::PostOnly {
            if let Some(best) = m.book.best(o.side.opposite()) {
                if o.side.crosses(limit, best) {
                    return Err(Reject::PostOnlyWouldCross { price: limit });
                }
            }
        }
        if may_rest {
            if a.orders.len() as u32 >= self.config.max_open_orders_per_account {
                return Err(Reject::TooManyOrders {
                    limit: self.config.max_open_orders_per_account,
                });
            }
            if !m.book.has_capacity() {
                return Err(Reject::BookFull);
            }
        }
        self.plan_matching(mi, o, &pos, index, qty, limit)?;
        let a = self.active_account(o.account)?;
        self.check_order_risk(a, &pos, o, qty, limit)?;
        self.commit_order(mi, o, qty, limit);
        Ok(())
    }

    /// The order's limit: its own price (validated), or for a market order the edge of the
    /// market-order band around the mark, on the tick grid.
    fn order_limit_price(&self, m: &Market, o: &PlaceOrder) -> Result<Price, Reject> {
        let p = &m.params;
        if o.kind == OrderKind::Market {
            return Ok(liquidation::band_edge(
                m.mark,
                p.market_order_band,
                p.tick_size,
                p.max_price,
                o.side,
            ));
        }
        let price = o.price.ok_or(Reject::PriceMissing(kind_name(o.kind)))?;
        validate_price(price, p)?;
        Ok(price)
    }

    /// Pre-trade risk, on the plan of the order: the position limit and the initial margin of
    /// the pool, counting the worse side of all resting orders plus this one, the loss against
    /// the mark of the planned fills and of the resting rest at its limit, and the fees (taker
    /// on the fills, maker on the rest). An order that does not increase the worst case (it
    /// only reduces exposure) passes without a margin check.
    fn check_order_risk(
        &self,
        a: &Account,
        pos: &Position,
        o: &PlaceOrder,
        qty: Qty,
        limit: Price,
    ) -> Result<(), Reject> {
        let m = &self.markets[pos.market.0 as usize];
        let old_worst = margin::worst_case_qty(pos.qty, pos.open_buy, pos.open_sell);
        let mut with = *pos;
        let open = with.open_on(o.side);
        *open = open.checked_add(qty)?;
        let new_worst = margin::worst_case_qty(with.qty, with.open_buy, with.open_sell);
        if o.reduce_only || new_worst <= old_worst {
            return Ok(());
        }
        if new_worst > m.params.max_position_qty {
            return Err(Reject::PositionLimit {
                qty: new_worst,
                limit: m.params.max_position_qty,
            });
        }
        let scope = match pos.mode {
            MarginMode::Cross => Scope::Cross,
            MarginMode::Isolated => Scope::Isolated(pos.market),
        };
        let h = self.pool_health(a, scope, Some(&with))?;
        let lots = m.params.lots_per_unit;
        let mark = m.mark.micros();
        let against = |price: Price| -> i64 {
            match o.side {
                Side::Buy => price.micros().saturating_sub(mark),
                Side::Sell => mark.saturating_sub(price.micros()),
            }
            .max(0)
        };
        let mut cost = Usd::ZERO;
        let mut filled = Qty::ZERO;
        for step in &self.steps {
            if let Step::Fill {
                price,
                qty: q,
                taker_fee,
                ..
            } = *step
            {
                let loss = Usd::from_micros(mul_div(q.0, against(price), lots, Round::Ceil)?);
                cost = cost
                    .checked_add(loss)?
                    .checked_add(taker_fee.max(Usd::ZERO))?;
                filled = filled.checked_add(q)?;
            }
        }
        let rests = matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly)
            && self.plan_end == PlanEnd::Exhausted;
        if rests {
            let rest = qty.checked_sub(filled)?;
            let loss = Usd::from_micros(mul_div(rest.0, against(limit), lots, Round::Ceil)?);
            let notional = margin::notional_ceil_usd(rest, limit, lots)?;
            let fee = margin::fee_usd(notional, m.params.maker_fee)?.max(Usd::ZERO);
            cost = cost.checked_add(loss)?.checked_add(fee)?;
        }
        let required = h.initial_usd.checked_add(cost)?;
        if h.equity_usd < required {
            return Err(Reject::InsufficientMargin {
                equity: h.equity_usd,
                required,
            });
        }
        Ok(())
    }

    fn draft_of(&self, account: AccountId, market: MarketId) -> Draft {
        let a = &self.accounts[account.0 as usize];
        let index = a.position_index(market);
        let pos = match index {
            Ok(i) => a.positions[i],
            Err(_) => unreachable!("a resting order's account has a position entry in its market"),
        };
        Draft {
            account,
            collateral: a.collateral_usd,
            pos,
            index,
            changed: false,
            closed_now: false,
        }
    }

    /// Walk the opposite side and plan every fill and maker cancel on copies of the accounts
    /// involved. Nothing is changed; an arithmetic failure or an unfillable FOK rejects.
    fn plan_matching(
        &mut self,
        mi: usize,
        o: &PlaceOrder,
        pos: &Position,
        index: Result<usize, usize>,
        qty: Qty,
        limit: Price,
    ) -> Result<(), Reject> {
        self.steps.clear();
        self.drafts.clear();
        let taker_collateral = self.acct(o.account).collateral_usd;
        self.drafts.push(Draft {
            account: o.account,
            collateral: taker_collateral,
            pos: *pos,
            index,
            changed: false,
            closed_now: false,
        });
        self.plan_end = PlanEnd::Exhausted;
        if o.kind == OrderKind::PostOnly {
            return Ok(());
        }
        let m = &self.markets[mi];
        let p = &m.params;
        let mut remaining = qty;
        let mut met = 0usize;
        let mut end = PlanEnd::Exhausted;
        let mut steps = std::mem::take(&mut self.steps);
        let mut drafts = std::mem::take(&mut self.drafts);
        let result = (|| -> Result<(), Reject> {
            for maker in m.book.crossing(o.side, limit) {
                if remaining.is_zero() {
                    break;
                }
                if met >= self.config.max_fills_per_order {
                    end = PlanEnd::WorkLimit;
                    break;
                }
                met += 1;
                if maker.account == o.account {
                    let cancel_maker =
                        matches!(o.self_trade, SelfTrade::CancelMaker | SelfTrade::CancelBoth);
                    if cancel_maker {
                        let d = &mut drafts[0];
                        let open = d.pos.open_on(maker.side);
                        *open = open.checked_sub(maker.remaining)?;
                        steps.push(Step::CancelMaker {
                            order: maker.id,
                            account: maker.account,
                            qty: maker.remaining,
                            reason: CancelReason::SelfTrade,
                        });
                    }
                    if o.self_trade == SelfTrade::CancelMaker {
                        continue;
                    }
                    end = PlanEnd::SelfTrade;
                    break;
                }
                let di = match drafts.iter().position(|d| d.account == maker.account) {
                    Some(di) => di,
                    None => {
                        drafts.push(self.draft_of(maker.account, o.market));
                        drafts.len() - 1
                    }
                };
                let mut fill_qty = remaining.min(maker.remaining);
                if maker.reduce_only {
                    fill_qty = fill_qty.min(drafts[di].pos.reducible_by(maker.side));
                    if fill_qty.is_zero() {
                        let open = drafts[di].pos.open_on(maker.side);
                        *open = open.checked_sub(maker.remaining)?;
                        steps.push(Step::CancelMaker {
                            order: maker.id,
                            account: maker.account,
                            qty: maker.remaining,
                            reason: CancelReason::ReduceOnly,
                        });
                        continue;
                    }
                }
                let notional = margin::fill_notional_usd(fill_qty, maker.price, p.lots_per_unit)?;
                let maker_fee = margin::fee_usd(notional, p.maker_fee)?;
                let taker_fee = margin::fee_usd(notional, p.taker_fee)?;
                let md = &mut drafts[di];
                let maker_realized = md.pos.apply_fill(maker.side, fill_qty, notional)?;
                let open = md.pos.open_on(maker.side);
                *open = open.checked_sub(fill_qty)?;
                md.pos.fees_paid_usd = md.pos.fees_paid_usd.checked_add(maker_fee)?;
                let pool = md.pool();
                *pool = pool.checked_add(maker_realized)?.checked_sub(maker_fee)?;
                let td = &mut drafts[0];
                let taker_realized = td.pos.apply_fill(o.side, fill_qty, notional)?;
                td.pos.fees_paid_usd = td.pos.fees_paid_usd.checked_add(taker_fee)?;
                let pool = td.pool();
                *pool = pool.checked_add(taker_realized)?.checked_sub(taker_fee)?;
                steps.push(Step::Fill {
                    maker: maker.id,
                    maker_account: maker.account,
                    price: maker.price,
                    qty: fill_qty,
                    notional,
                    maker_fee,
                    taker_fee,
                    maker_realized,
                    taker_realized,
                });
                remaining = remaining.checked_sub(fill_qty)?;
                // A reduce-only maker clipped by its position cannot fill the rest of its order
                // any more: cancel that rest now, or it would rest crossed with the taker.
                let left = maker.remaining.checked_sub(fill_qty)?;
                if maker.reduce_only && left.is_positive() && remaining.is_positive() {
                    let open = drafts[di].pos.open_on(maker.side);
                    *open = open.checked_sub(left)?;
                    steps.push(Step::CancelMaker {
                        order: maker.id,
                        account: maker.account,
                        qty: left,
                        reason: CancelReason::ReduceOnly,
                    });
                }
            }
            if o.kind == OrderKind::Fok && remaining.is_positive() {
                return Err(Reject::FokNotFillable {
                    requested: qty,
                    available: qty.checked_sub(remaining)?,
                });
            }
            // The fee pool and the trade EMA must not overflow either.
            let mut pool = self.fee_pool_usd;
            for s in &steps {
                if let Step::Fill {
                    maker_fee,
                    taker_fee,
                    ..
                } = s
                {
                    pool = pool.checked_add(*maker_fee)?.checked_add(*taker_fee)?;
                }
            }
            Ok(())
        })();
        self.steps = steps;
        self.drafts = drafts;
        self.plan_end = end;
        result
    }

    /// Apply a plan that passed every check. Cannot fail.
    fn commit_order(&mut self, mi: usize, o: &PlaceOrder, qty: Qty, limit: Price) {
        let seq = self.next_order_seq;
        self.next_order_seq += 1;
        let market = o.market;
        let id = self.markets[mi].book.reserve(seq);
        self.events.push(Event::OrderAccepted {
            order: id,
            account: o.account,
            market,
            side: o.side,
            kind: o.kind,
            price: limit,
            qty,
        });
        let mut filled = Qty::ZERO;
        let steps = std::mem::take(&mut self.steps);
        for step in &steps {
            match *step {
                Step::Fill {
                    maker,
                    maker_account,
                    price,
                    qty: q,
                    notional,
                    maker_fee,
                    taker_fee,
                    maker_realized,
                    taker_realized,
                } => {
                    let m = &mut self.markets[mi];
                    let acct_slot = m.book.get(maker).expect("planned maker rests").acct_slot;
                    if m.book.fill(maker, q).is_zero() {
                        self.unlist_order(maker_account, acct_slot);
                    }
                    let m = &mut self.markets[mi];
                    bounded(m.record_trade(price));
                    // A share of every fee funds the insurance fund; the rest stays in the pool.
                    let fees = bounded(maker_fee.checked_add(taker_fee));
                    let share = m.params.insurance_fee_share;
                    let to_insurance = bounded(fees.mul_ppm(share, Round::Floor)).max(Usd::ZERO);
                    self.insurance_usd = bounded(self.insurance_usd.checked_add(to_insurance));
                    self.fee_pool_usd = bounded(
                        self.fee_pool_usd
                            .checked_add(fees)
                            .and_then(|p| p.checked_sub(to_insurance)),
                    );
                    filled.0 += q.0;
                    self.events.push(Event::Fill {
                        market,
                        maker_order: maker,
                        taker_order: id,
                        maker: maker_account,
                        taker: o.account,
                        taker_side: o.side,
                        price,
                        qty: q,
                        notional_usd: notional,
                        maker_fee_usd: maker_fee,
                        taker_fee_usd: taker_fee,
                        maker_realized_pnl_usd: maker_realized,
                        taker_realized_pnl_usd: taker_realized,
                        liquidation: self.liquidating,
                    });
                }
                Step::CancelMaker {
                    order,
                    account,
                    qty: q,
                    reason,
                } => {
                    let gone = self.markets[mi]
                        .book
                        .remove(order)
                        .expect("planned maker rests");
                    self.unlist_order(account, gone.acct_slot);
                    self.events.push(Event::OrderCancelled {
                        order,
                        account,
                        market,
                        qty: q,
                        reason,
                    });
                }
            }
        }
        self.steps = steps;
        let remaining = Qty(qty.0 - filled.0);
        let rests = remaining.is_positive()
            && self.plan_end == PlanEnd::Exhausted
            && matches!(o.kind, OrderKind::Limit | OrderKind::PostOnly);
        if rests {
            let d = &mut self.drafts[0];
            let open = d.pos.open_on(o.side);
            open.0 += remaining.0;
            self.markets[mi].book.insert(
                id,
                NewOrder {
                    account: o.account,
                    side: o.side,
                    price: limit,
                    qty: remaining,
                    reduce_only: o.reduce_only,
                },
            );
            let list = &mut self.acct_mut(o.account).orders;
            list.push((market, id));
            let acct_slot = (list.len() - 1) as u32;
            self.markets[mi].book.set_acct_slot(id, acct_slot);
            self.events.push(Event::OrderRested {
                order: id,
                market,
                price: limit,
                qty: remaining,
            });
        } else {
            self.markets[mi].book.release(id);
            if remaining.is_positive() {
                let reason = match self.plan_end {
                    PlanEnd::SelfTrade => CancelReason::SelfTrade,
                    PlanEnd::Exhausted | PlanEnd::WorkLimit => CancelReason::Unfilled,
                };
                self.events.push(Event::OrderCancelled {
                    order: id,
                    account: o.account,
                    market,
                    qty: remaining,
                    reason,
                });
            }
        }
        self.write_back_drafts(mi);
    }

    /// Store the planned accounts, update open interest, drop idle positions and re-check the
    /// health of every account the order touched.
    fn write_back_drafts(&mut self, mi: usize) {
        let market = self.markets[mi].id;
        let mut drafts = std::mem::take(&mut self.drafts);
        let mut oi_delta = 0i64;
        for d in drafts.iter_mut() {
            let a = self.acct_mut(d.account);
            // The taker's index may point at an insertion place; it is still valid because
            // nothing else changed this account's positions during the command.
            let old = match d.index {
                Ok(i) => std::mem::replace(&mut a.positions[i], d.pos),
                Err(i) => {
                    a.positions.insert(i, d.pos);
                    Position::new(market, d.pos.mode)
                }
            };
            oi_delta += d.pos.qty.0.max(0) - old.qty.0.max(0);
            d.closed_now = !old.qty.is_zero() && d.pos.qty.is_zero();
            d.changed = (old.qty, old.cost_usd, old.isolated_usd)
                != (d.pos.qty, d.pos.cost_usd, d.pos.isolated_usd)
                || a.collateral_usd != d.collateral;
            a.collateral_usd = d.collateral;
        }
        let m = &mut self.markets[mi];
        m.open_interest = Qty(m.open_interest.0 + oi_delta);
        for d in &drafts {
            self.release_if_idle(d.account, market, d.closed_now);
        }
        for d in &drafts {
            // Resting an order changes no maintenance flag: only a changed position or pool
            // needs a recheck.
            if d.changed {
                self.reevaluate(d.account);
            }
        }
        self.drafts = drafts;
    }

    /// Drop a position entry with nothing open or resting. An isolated position that has just
    /// closed (`closed_now`) returns its remaining collateral to the cross pool; one funded in
    /// advance of trading keeps it until the owner moves it. A negative remainder stays,
    /// recorded, for the waterfall; the pool being liquidated keeps its entry until the end.
    fn release_if_idle(&mut self, account: AccountId, market: MarketId, closed_now: bool) {
        if self.liquidating_pool == Some((account, Scope::Isolated(market))) {
            return;
        }
        let a = self.acct_mut(account);
        let Ok(i) = a.position_index(market) else {
            return;
        };
        let p = a.positions[i];
        let keeps_funds = p.isolated_usd.is_positive() && !closed_now;
        if !p.is_idle() || p.isolated_usd.is_negative() || keeps_funds {
            return;
        }
        a.positions.remove(i);
        if p.mode == MarginMode::Isolated {
            self.unwatch_isolated(account, &p);
        }
        let scope = Scope::Isolated(market);
        if p.mode == MarginMode::Isolated && self.flags.remove(&(account, scope)).is_some() {
            let equity_usd = p.isolated_usd;
            self.events.push(Event::BackAboveMaintenance {
                account,
                scope,
                equity_usd,
            });
        }
        if p.isolated_usd.is_positive() {
            let a = self.acct_mut(account);
            a.collateral_usd = bounded(a.collateral_usd.checked_add(p.isolated_usd));
            self.events.push(Event::IsolatedMarginReleased {
                account,
                market,
                amount_usd: p.isolated_usd,
            });
            // The cross pool just gained collateral: its flags may clear.
            self.reevaluate(account);
        }
    }

    fn cancel(
        &mut self,
        account: AccountId,
        market: MarketId,
        order: OrderId,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        self.active_account(account)?;
        let o = self.markets[mi]
            .book
            .get(order)
            .ok_or(Reject::UnknownOrder(order))?;
        if o.account != account {
            return Err(Reject::NotOrderOwner { order });
        }
        self.cancel_resting(mi, order, CancelReason::User);
        self.release_if_idle(account, market, false);
        Ok(())
    }

    fn cancel_resting(&mut self, mi: usize, order: OrderId, reason: CancelReason) {
        let m = &mut self.markets[mi];
        let o = m
            .book
            .remove(order)
            .expect("caller checked the order rests");
        let market = m.id;
        self.unlist_order(o.account, o.acct_slot);
        let a = &mut self.accounts[o.account.0 as usize];
        let i = a
            .position_index(market)
            .expect("resting order has a position entry");
        let open = a.positions[i].open_on(o.side);
        open.0 -= o.remaining.0;
        self.events.push(Event::OrderCancelled {
            order,
            account: o.account,
            market,
            qty: o.remaining,
            reason,
        });
    }

    fn cancel_all(&mut self, account: AccountId, market: Option<MarketId>) -> Result<(), Reject> {
        if let Some(m) = market {
            self.market_index(m)?;
        }
        let a = self.active_account(account)?;
        let mut targets: Vec<(MarketId, OrderId)> = a
            .orders
            .iter()
            .copied()
            .filter(|(m, _)| market.is_none_or(|want| *m == want))
            .collect();
        // Cancel oldest first so the event order does not depend on the list's internal order.
        targets.sort_unstable_by_key(|(m, id)| (*m, *id));
        for (m, id) in &targets {
            self.cancel_resting(m.0 as usize, *id, CancelReason::User);
        }
        targets.dedup_by_key(|(m, _)| *m);
        for (m, _) in targets {
            self.release_if_idle(account, m, false);
        }
        Ok(())
    }

    // ----- prices, time, funding -------------------------------------------------------------

    fn oracle_price(
        &mut self,
        market: MarketId,
        price: Price,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        let max = self.markets[mi].params.max_price;
        if !price.is_positive() || price > max {
            return Err(Reject::PriceOutOfRange { price, max });
        }
        self.markets[mi].oracle = Some(OracleReading { price, at: now });
        self.events.push(Event::OraclePrice { market, price });
        self.refresh_mark(mi, now);
        self.native_sweep();
        Ok(())
    }

    /// Recompute a market's mark; on a change, emit it and re-check the market's accounts.
    fn refresh_mark(&mut self, mi: usize, now: TimestampMs) {
        let m = &mut self.markets[mi];
        let (mark, inputs) = m.compute_mark(now);
        if mark == m.mark {
            return;
        }
        let old = m.mark;
        m.mark = mark;
        self.events.push(Event::MarkPrice {
            market: m.id,
            mark,
            oracle: inputs.oracle,
            impact_mid: inputs.impact_mid,
            trade_ema: inputs.trade_ema,
        });
        self.recheck_after_move(mi, old, mark);
    }

    fn tick(&mut self, now: TimestampMs) {
        for mi in 0..self.markets.len() {
            self.refresh_mark(mi, now);
            let m = &mut self.markets[mi];
            if let Some(premium) = bounded(m.premium_ppm(now)) {
                m.premium_sum_ppm = m.premium_sum_ppm.saturating_add(premium);
                m.premium_samples += 1;
            }
            if now.0 >= m.next_funding_ms {
                // Missed intervals (a long gap between ticks) collapse into one settlement.
                let interval = m.params.funding_interval_ms;
                let behind = (now.0 - m.next_funding_ms) / interval + 1;
                m.next_funding_ms += behind * interval;
                self.settle_funding(mi, now);
            }
        }
        self.native_sweep();
    }

    /// Settle funding for one market: every position pays (or receives) value x rate, rounded
    /// up, so payers pay at least what receivers get; the difference is booked to the funding
    /// residue pool. Zero-sum up to that explicit residue.
    fn settle_funding(&mut self, mi: usize, now: TimestampMs) {
        let m = &mut self.markets[mi];
        let rate = m.funding_rate();
        m.premium_sum_ppm = 0;
        m.premium_samples = 0;
        let market = m.id;
        let price = m.funding_price(now);
        let lots = m.params.lots_per_unit;
        let (mut paid, mut received) = (Usd::ZERO, Usd::ZERO);
        if rate.raw() != 0 {
            let denom = bounded(bulwark_core::ok_or_overflow(lots.checked_mul(PPM_ONE)));
            // Every position pays or receives, the vault's included.
            let holders = self
                .accounts
                .iter_mut()
                .chain(std::iter::once(&mut self.vault.account));
            for a in holders.filter(|a| a.active) {
                let Ok(i) = a.position_index(market) else {
                    continue;
                };
                let p = &mut a.positions[i];
                if p.qty.is_zero() {
                    continue;
                }
                let due = Usd::from_micros(bounded(mul_mul_div(
                    p.qty.0,
                    price.micros(),
                    rate.raw(),
                    denom,
                    Round::Ceil,
                )));
                if due.is_positive() {
                    paid = bounded(paid.checked_add(due));
                } else {
                    received = bounded(received.checked_sub(due));
                }
                p.funding_paid_usd = bounded(p.funding_paid_usd.checked_add(due));
                match p.mode {
                    MarginMode::Cross => {
                        a.collateral_usd = bounded(a.collateral_usd.checked_sub(due))
                    }
                    MarginMode::Isolated => {
                        p.isolated_usd = bounded(p.isolated_usd.checked_sub(due))
                    }
                }
            }
        }
        let residue = bounded(paid.checked_sub(received));
        assert!(
            !residue.is_negative(),
            "funding paid out more than it collected"
        );
        self.funding_residue_usd = bounded(self.funding_residue_usd.checked_add(residue));
        self.events.push(Event::FundingSettled {
            market,
            rate,
            paid_usd: paid,
            received_usd: received,
            residue_usd: residue,
        });
        self.reevaluate_market(market);
    }

    fn set_param(&mut self, market: MarketId, param: &Param) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        let mut p = self.markets[mi].params.clone();
        match param.clone() {
            Param::Maintenance(v) => p.maintenance = v,
            Param::InitialMultiplier(v) => p.initial_multiplier = v,
            Param::SizePremium(v) => p.size_premium = v,
            Param::MakerFee(v) => p.maker_fee = v,
            Param::TakerFee(v) => p.taker_fee = v,
            Param::FundingClamp(v) => p.funding_clamp = v,
            Param::FundingIntervalMs(v) => p.funding_interval_ms = v,
            Param::TradeEmaAlpha(v) => p.trade_ema_alpha = v,
            Param::ImpactNotionalUsd(v) => p.impact_notional_usd = v,
            Param::OracleStaleMs(v) => p.oracle_stale_ms = v,
            Param::MarketOrderBand(v) => p.market_order_band = v,
            Param::MaxOrderQty(v) => p.max_order_qty = v,
            Param::MaxPositionQty(v) => p.max_position_qty = v,
            Param::MaxPrice(v) => p.max_price = v,
            Param::LiquidationEndMultiplier(v) => p.liquidation_end_multiplier = v,
            Param::LiquidationPenalty(v) => p.liquidation_penalty = v,
            Param::KeeperRewardShare(v) => p.keeper_reward_share = v,
            Param::LiquidationBand(v) => p.liquidation_band = v,
            Param::InsuranceFeeShare(v) => p.insurance_fee_share = v,
            Param::Waterfall(v) => p.waterfall = v,
            Param::AdlPolicy(v) => p.adl_policy = v,
        }
        validate_params(&p)?;
        self.markets[mi].params = p;
        self.events.push(Event::ParamSet {
            market,
            param: param.clone(),
        });
        self.reevaluate_market(market);
        self.native_sweep();
        Ok(())
    }

    // ----- health flags ----------------------------------------------------------------------

    /// Re-check every pool of one account and emit the transitions of its flags.
    fn reevaluate(&mut self, account: AccountId) {
        if account == VAULT {
            // The vault is not liquidated like an account; `reduce_vault` keeps it in bounds.
            return;
        }
        let i = account.0 as usize;
        self.reevaluate_scope(account, Scope::Cross);
        for k in 0..self.accounts[i].positions.len() {
            let p = &self.accounts[i].positions[k];
            if p.mode == MarginMode::Isolated {
                let scope = Scope::Isolated(p.market);
                self.reevaluate_scope(account, scope);
            }
        }
    }

    fn reevaluate_scope(&mut self, account: AccountId, scope: Scope) {
        if account == VAULT {
            return;
        }
        let h = bounded(self.pool_health(self.acct(account), scope, None));
        self.update_flag(account, scope, &h);
        self.rewatch(account, scope, &h);
    }

    fn update_flag(&mut self, account: AccountId, scope: Scope, h: &Health) {
        let now = Flag {
            below_maintenance: h.below_maintenance(),
            negative_equity: h.is_negative(),
        };
        let key = (account, scope);
        let before = self.flags.get(&key).copied().unwrap_or_default();
        if now == before {
            return;
        }
        if now.below_maintenance && !before.below_maintenance {
            self.events.push(Event::BelowMaintenance {
                account,
                scope,
                equity_usd: h.equity_usd,
                maintenance_usd: h.maintenance_usd,
            });
        }
        if now.negative_equity && !before.negative_equity {
            self.events.push(Event::NegativeEquity {
                account,
                scope,
                equity_usd: h.equity_usd,
            });
        }
        if !now.below_maintenance && before.below_maintenance {
            self.events.push(Event::BackAboveMaintenance {
                account,
                scope,
                equity_usd: h.equity_usd,
            });
        }
        if now == Flag::default() {
            self.flags.remove(&key);
        } else {
            self.flags.insert(key, now);
        }
    }

    /// Re-check every account with a position entry in `market`.
    fn reevaluate_market(&mut self, market: MarketId) {
        for i in 0..self.accounts.len() {
            let a = &self.accounts[i];
            if a.active && a.position_index(market).is_ok() {
                self.reevaluate(AccountId(i as u32));
            }
        }
    }

    // ----- invariants ------------------------------------------------------------------------

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
            funding_residue_usd: self.funding_residue_usd,
            deposited_usd: self.deposited_usd,
            withdrawn_usd: self.withdrawn_usd,
            flags: &self.flags,
            last_ms: self.last_ms,
            next_order_seq: self.next_order_seq,
            commands_applied: self.commands_applied,
        }
    }
}

/// Read-only view of the engine for the invariant checker and the state hash.
pub(crate) struct EngineParts<'a> {
    pub markets: &'a [Market],
    pub accounts: &'a [Account],
    pub vault: &'a Vault,
    pub venue: &'a VenueParams,
    pub insurance_usd: Usd,
    pub bad_debt_usd: Usd,
    pub fee_pool_usd: Usd,
    pub funding_residue_usd: Usd,
    pub deposited_usd: Usd,
    pub withdrawn_usd: Usd,
    pub flags: &'a BTreeMap<(AccountId, Scope), Flag>,
    pub last_ms: TimestampMs,
    pub next_order_seq: u64,
    pub commands_applied: u64,
}

/// The id under which the backstop vault's account trades. Never a user's: user ids are
/// below `EngineConfig::max_accounts`, which is at most 2^31.
pub const VAULT: AccountId = AccountId(u32::MAX);

/// Unwrap arithmetic in the commit phase, where validation bounds make failure impossible.
#[track_caller]
fn bounded<T>(r: ArithResult<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("arithmetic bound breached in the commit phase ({e}); see engine::limits"),
    }
}

fn kind_name(k: OrderKind) -> &'static str {
    match k {
        OrderKind::Limit => "limit",
        OrderKind::Market => "market",
        OrderKind::Ioc => "ioc",
        OrderKind::Fok => "fok",
        OrderKind::PostOnly => "post_only",
    }
}

fn validate_price(price: Price, p: &MarketParams) -> Result<(), Reject> {
    let tick = p.tick_size.micros();
    if !price.is_positive() || price.micros() % tick != 0 {
        return Err(Reject::PriceNotOnTick {
            price,
            tick: p.tick_size,
        });
    }
    if price > p.max_price {
        return Err(Reject::PriceOutOfRange {
            price,
            max: p.max_price,
        });
    }
    Ok(())
}

fn invalid(name: &'static str, reason: impl Into<String>) -> Reject {
    Reject::InvalidParam {
        name,
        reason: reason.into(),
    }
}

/// Check a market's parameters for sense and for the arithmetic bounds.
pub fn validate_params(p: &MarketParams) -> Result<(), Reject> {
    let frac = |v: Ppm| v.raw() > 0 && v.raw() <= PPM_ONE;
    if p.symbol.is_empty() || p.symbol.len() > 32 {
        return Err(invalid("symbol", "must be 1 to 32 characters"));
    }
    if !p.tick_size.is_positive() || p.tick_size.micros() > limits::MAX_PRICE_MICROS {
        return Err(invalid("tick_size", "must be positive"));
    }
    if p.lots_per_unit <= 0 || p.lots_per_unit > 1_000_000_000 {
        return Err(invalid("lots_per_unit", "must be in 1..=1e9"));
    }
    if !frac(p.maintenance) {
        return Err(invalid(
            "maintenance",
            "must be in (0, 1] (ppm in 1..=1000000)",
        ));
    }
    if p.initial_multiplier.raw() < PPM_ONE || p.initial_multiplier.raw() > 100 * PPM_ONE {
        return Err(invalid(
            "initial_multiplier",
            "must be between 1x and 100x (1000000..=100000000 ppm)",
        ));
    }
    if p.size_premium.raw() < 0 || p.size_premium.raw() > PPM_ONE {
        return Err(invalid("size_premium", "must be in [0, 1000000] ppm"));
    }
    if p.taker_fee.raw() < 0 || p.taker_fee.raw() > 100_000 {
        return Err(invalid("taker_fee", "must be in [0, 10%]"));
    }
    if p.maker_fee.raw() < -p.taker_fee.raw() || p.maker_fee.raw() > 100_000 {
        return Err(invalid(
            "maker_fee",
            "must be in [-taker_fee, 10%]: a rebate never exceeds the taker fee",
        ));
    }
    if p.funding_interval_ms == 0 || p.funding_interval_ms > 7 * 86_400_000 {
        return Err(invalid(
            "funding_interval_ms",
            "must be in 1..=604800000 (one week)",
        ));
    }
    if p.funding_clamp.raw() < 0 || p.funding_clamp.raw() > PPM_ONE {
        return Err(invalid("funding_clamp", "must be in [0, 1000000] ppm"));
    }
    if !frac(p.trade_ema_alpha) {
        return Err(invalid("trade_ema_alpha", "must be in (0, 1]"));
    }
    if !p.impact_notional_usd.is_positive() {
        return Err(invalid("impact_notional_usd", "must be positive"));
    }
    if !frac(p.market_order_band) || p.market_order_band.raw() >= PPM_ONE {
        return Err(invalid("market_order_band", "must be in (0, 1)"));
    }
    if !p.max_order_qty.is_positive() || !p.max_position_qty.is_positive() {
        return Err(invalid(
            "max_order_qty",
            "order and position limits must be positive",
        ));
    }
    let k = p.liquidation_end_multiplier.raw();
    if k < PPM_ONE || k > p.initial_multiplier.raw() {
        return Err(invalid(
            "liquidation_end_multiplier",
            "must be between 1x and the initial multiplier: liquidation starts at maintenance and must not demand more than initial margin",
        ));
    }
    if p.liquidation_penalty.raw() < 0 || p.liquidation_penalty.raw() > 100_000 {
        return Err(invalid("liquidation_penalty", "must be in [0, 10%]"));
    }
    if !frac(p.liquidation_band) || p.liquidation_band.raw() > 500_000 {
        return Err(invalid("liquidation_band", "must be in (0, 50%]"));
    }
    for (name, v) in [
        ("keeper_reward_share", p.keeper_reward_share),
        ("insurance_fee_share", p.insurance_fee_share),
    ] {
        if v.raw() < 0 || v.raw() > PPM_ONE {
            return Err(invalid(name, "must be in [0, 100%]"));
        }
    }
    if !p.max_price.is_positive() || p.max_price.micros() > limits::MAX_PRICE_MICROS {
        return Err(invalid("max_price", "must be in (0, 1e9] USD"));
    }
    let max_notional = mul_div(
        p.max_position_qty.0,
        p.max_price.micros(),
        p.lots_per_unit,
        Round::Ceil,
    );
    if !matches!(max_notional, Ok(n) if n <= limits::MAX_POSITION_NOTIONAL_MICROS) {
        return Err(invalid(
            "max_position_qty",
            "max_position_qty at max_price must stay within 1e11 USD of notional",
        ));
    }
    if !p.initial_price.is_positive() || p.initial_price > p.max_price {
        return Err(invalid("initial_price", "must be in (0, max_price]"));
    }
    Ok(())
}
