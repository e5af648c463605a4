//! The venue state machine: `apply(command, now) -> events`.
//!
//! Every command is validated and planned first, on copies, with checked arithmetic; only a
//! plan that passed every check is committed. A rejected command therefore changes nothing,
//! and the commit phase cannot fail on an operating error.
//!
//! The commit's own arithmetic goes through [`bounded`]: the bounds in [`limits`] make it
//! infallible, so a failure there is an engine bug. It is still not a panic: it is a
//! [`Breach`] that `?` carries up to `Engine::apply`, which rolls the command back with the
//! undo journal (`journal.rs`: every change of the commit phase is recorded as it happens,
//! and undone newest first) and rejects it with `Reject::Internal`. The state is then exactly
//! as before the command, hash and every derived structure alike; the venue goes on.
//! With the `testing` feature (this crate's own tests) a fault can be injected into any
//! arithmetic step of a command, and each rollback is checked against a copy of the engine.

use crate::account::{Account, Position};
use crate::command::{Command, MarginMode};
use crate::event::{Event, Scope};
use crate::market::Market;
use crate::reject::Reject;
use bulwark_core::{
    ok_or_overflow, AccountId, ArithError, ArithResult, MarketId, OrderId, TimestampMs, Usd,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

// One module per mechanism; each adds its part of `impl Engine`.
mod adl;
mod collateral;
mod copy;
mod defences;
mod flags;
mod funding;
mod genesis;
mod index;
mod journal;
mod liquidation;
mod orders;
mod params;
mod prices;
mod proactive;
mod queries;
mod requote;
mod socialize;
#[cfg(feature = "testing")]
mod testing;
mod vault;
mod watch;
mod waterfall;
pub use defences::FeeSchedule;
pub(crate) use index::pending_exact;
pub use index::Pending;
pub use liquidation::QueueEntry;
use orders::{Draft, PlanEnd, Step};
pub use proactive::CascadeRisk;
pub use requote::Part;
pub use vault::{
    Vault, VaultInventory, VaultPolicy, VaultRefusal, VaultState, VenueParams, WithdrawalRequest,
};
pub use watch::AtRisk;
use waterfall::LossOrigin;

/// Hard bounds on every numeric input, checked at the edge of [`Engine::apply`] before any
/// state changes, and the arithmetic facts they guarantee (checked by the compiler below).
/// A value outside them is a typed rejection that says which bound it broke.
pub mod limits {
    use bulwark_core::PPM_ONE;

    /// Latest timestamp a command may carry: 9999-12-31T23:59:59.999Z, in ms since the Unix
    /// epoch. Keeps every time sum (a timestamp plus a funding interval or a delay) far inside
    /// `u64`.
    pub const MAX_TIMESTAMP_MS: u64 = 253_402_300_799_999;
    /// Longest duration parameter (oracle staleness, vault withdrawal delay): 365 days.
    pub const MAX_DURATION_MS: u64 = 365 * 86_400_000;
    /// Longest funding interval: one week.
    pub const MAX_FUNDING_INTERVAL_MS: u64 = 7 * 86_400_000;
    /// Highest `max_price` any market may set: 1e9 USD per base unit, in micro-USD.
    pub const MAX_PRICE_MICROS: i64 = 1_000_000_000_000_000;
    /// Most lots in one whole base unit.
    pub const MAX_LOTS_PER_UNIT: i64 = 1_000_000_000;
    /// Largest notional one position may reach at its market's `max_price`: 1e11 USD.
    pub const MAX_POSITION_NOTIONAL_MICROS: i64 = 100_000_000_000_000_000;
    /// Largest notional of one order at `max_price`: two full positions, so one order can
    /// turn a full long into a full short.
    pub const MAX_ORDER_NOTIONAL_MICROS: i64 = 2 * MAX_POSITION_NOTIONAL_MICROS;
    /// Largest total of deposits net of withdrawals: 1e12 USD.
    pub const MAX_TOTAL_COLLATERAL_MICROS: i64 = 1_000_000_000_000_000_000;
    /// Largest amount one command may move (deposit, withdrawal, isolated-margin change, vault
    /// or insurance deposit): no balance can ever hold more than the total collateral bound.
    pub const MAX_AMOUNT_MICROS: i64 = MAX_TOTAL_COLLATERAL_MICROS;
    /// Largest `impact_notional_usd`: a book deeper than all collateral cannot exist.
    pub const MAX_IMPACT_NOTIONAL_MICROS: i64 = MAX_TOTAL_COLLATERAL_MICROS;
    /// Most markets one account may hold positions in (`EngineConfig` may set fewer).
    pub const MAX_POSITIONS_PER_ACCOUNT: usize = 32;
    /// Account ids are dense and below this (`EngineConfig` may set fewer); the vault's id
    /// (`u32::MAX`) is never a user's.
    pub const MAX_ACCOUNTS: u32 = 1 << 31;
    /// Largest supply of vault shares (the first deposit mints one share per micro-USD).
    /// Share counts are cast to `i64` in the share-price arithmetic.
    pub const MAX_VAULT_SHARES: u64 = 4 * MAX_TOTAL_COLLATERAL_MICROS as u64;
    /// Largest premium sample of mark over oracle, 1000x (1e9 ppm). The rate is clamped to
    /// `funding_clamp` <= 100% when settled, so a larger sample only weighs more in the mean:
    /// at this bound one sample still outweighs 1,000 samples at the most negative premium
    /// possible (-100%, a mark near zero), which is already a broken oracle or a broken mark.
    /// The bound keeps the sum of samples inside `i64` (below).
    pub const MAX_PREMIUM_PPM: i64 = 1_000 * PPM_ONE;
    /// Most premium samples one funding interval counts; later ticks in the same interval
    /// are not sampled (4e9 ticks in one interval is no real venue).
    pub const MAX_PREMIUM_SAMPLES: u32 = u32::MAX;
    /// Most orders one requote may carry (`Command::Requote`): bounds the work of one command,
    /// as `EngineConfig::max_fills_per_order` bounds an order's. A lab market maker quotes at
    /// most 2 x 100 levels and an unload order.
    pub const MAX_REQUOTE_ORDERS: usize = 256;
    /// Most liquidations one command may carry out (`max_liquidations_per_step`).
    pub const MAX_LIQUIDATIONS_PER_STEP: u32 = 100_000;
    /// Largest `vault_margin_multiplier`: 1000x the vault's maintenance.
    pub const MAX_VAULT_MARGIN_MULTIPLIER_PPM: i64 = 1_000 * PPM_ONE;

    // Time: the latest timestamp plus the longest interval or delay fits `u64` (no time sum
    // can overflow), and so does the latest funding deadline.
    const _: () = assert!(MAX_TIMESTAMP_MS < u64::MAX - MAX_DURATION_MS - MAX_FUNDING_INTERVAL_MS);
    const _: () = assert!(MAX_FUNDING_INTERVAL_MS <= MAX_DURATION_MS);
    // An account's equity: collateral (at most the total bound) plus, per position, value
    // minus cost basis (each at most one full notional), fits `i64`.
    const _: () = assert!(
        MAX_TOTAL_COLLATERAL_MICROS as i128
            + 2 * MAX_POSITIONS_PER_ACCOUNT as i128 * MAX_POSITION_NOTIONAL_MICROS as i128
            <= i64::MAX as i128
    );
    // Requirements: the initial fraction is at most 100% (validation and the size-premium
    // cap), so a pool's initial requirement is at most its positions' notional.
    const _: () = assert!(
        MAX_POSITIONS_PER_ACCOUNT as i128 * MAX_POSITION_NOTIONAL_MICROS as i128
            <= i64::MAX as i128
    );
    // A notional: at most `MAX_PRICE_MICROS` x lots / lots_per_unit, checked at validation;
    // an order's notional fits too.
    const _: () = assert!(MAX_ORDER_NOTIONAL_MICROS < i64::MAX);
    // Funding premium: the sum of the most samples at the largest premium fits `i64`.
    const _: () =
        assert!(MAX_PREMIUM_PPM as i128 * MAX_PREMIUM_SAMPLES as i128 <= i64::MAX as i128);
    // Amounts: two of the largest amounts added to the total bound still fit (a deposit is
    // added to deposits net of withdrawals before the bound is checked).
    const _: () = assert!(
        MAX_TOTAL_COLLATERAL_MICROS as i128 + 2 * MAX_AMOUNT_MICROS as i128 <= i64::MAX as i128
    );
    // Vault shares fit `i64`, with room for one more maximal mint.
    const _: () = assert!(2 * MAX_VAULT_SHARES <= i64::MAX as u64);
    // User ids stay below the vault's.
    const _: () = assert!(MAX_ACCOUNTS < u32::MAX);
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

/// `Clone` is written out in `engine/copy.rs`: `clone_from` reuses the target's allocations.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    markets: Vec<Market>,
    accounts: Vec<Account>,
    fee_pool_usd: Usd,
    deposited_usd: Usd,
    withdrawn_usd: Usd,
    last_ms: TimestampMs,
    next_order_seq: u64,
    commands_applied: u64,
    flags: BTreeMap<(AccountId, Scope), Flag>,
    events: Vec<Event>,
    /// What each part of the last command did, if it had parts (a requote; scratch, cleared
    /// by every command).
    parts: Vec<Part>,
    steps: Vec<Step>,
    /// `cancel_all`'s targets (scratch: refilled by every call, so no allocation per call).
    cancel_targets: Vec<(MarketId, OrderId)>,
    /// The pools a mark move or an index step reached (scratch of `watch.rs`: refilled by
    /// every move, so no allocation per move).
    recheck_hits: Vec<(AccountId, Scope)>,
    drafts: Vec<Draft>,
    plan_end: PlanEnd,
    /// Set while a liquidation's order is committed, so its fills are marked.
    liquidating: bool,
    /// The pool being liquidated: its isolated entry stays until the waterfall is done.
    liquidating_pool: Option<(AccountId, Scope)>,
    /// How many flags have `negative_equity` (derived from `flags`, kept with it): lets the
    /// order path skip the map lookup when no pool is bankrupt.
    negative_pools: usize,
    /// Pools in the waterfall whose positions the book could not take yet: owned by the
    /// liquidation process and retried at every price change (state: hashed).
    waterfall_pending: BTreeSet<(AccountId, Scope)>,
    /// Deficits realized outside a liquidation during this command, booked before it ends
    /// (scratch: always empty between commands).
    realized_deficits: Vec<(AccountId, Scope, LossOrigin)>,
    /// Set while a bankrupt position is closed through the book: no taker fee, no rebate.
    bankrupt_close: bool,
    /// ADL rankings made in this command, kept up to date incrementally (scratch, not state).
    adl_cache: adl::AdlCache,
    /// The time of the command being applied (scratch: set by `apply` before anything else).
    now_ms: TimestampMs,
    /// The insurance fund: a share of fees and liquidation penalties, explicit deposits.
    insurance_usd: Usd,
    /// Loss no waterfall stage covered, recorded (never a silent negative balance).
    bad_debt_usd: Usd,
    vault: Vault,
    venue: VenueParams,
    /// Genesis is open: positions booked from a snapshot may not balance yet, so live
    /// commands wait (see `engine/genesis.rs`).
    genesis_open: bool,
    /// The signed total cost basis of the positions booked at genesis: the cash that paid for
    /// them lies outside the ledger, so conservation carries it as a line of its own.
    genesis_cost_usd: Usd,
    /// Check the invariants after every n-th applied command (debug and test builds, or the
    /// `invariants` feature). Not state: it is not hashed.
    invariant_check_interval: u64,
    /// Pools rechecked because an index step moved their triggers (a statistic for benchmarks
    /// and reports; not state: it is not hashed).
    index_rechecks: u64,
    /// The undo journal of the command being applied (scratch, see `journal.rs`).
    journal: journal::Journal,
    /// Fault injection and rollback verification (the `testing` feature; empty without it).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    hooks: Hooks,
}

/// The test hooks an engine carries: with the `testing` feature, an armed fault for the next
/// command and what the last armed command counted; without it, nothing. Not state: a clone
/// starts without them.
#[derive(Debug, Default)]
struct Hooks {
    #[cfg(feature = "testing")]
    fail_at: Option<u64>,
    #[cfg(feature = "testing")]
    last_steps: u64,
    /// Plan every order, the ones that can only rest included (`Engine::plan_every_order`).
    #[cfg(feature = "testing")]
    plan_every_order: bool,
    /// Whether the armed command runs in a what-if session, whose failed commit takes back
    /// more than the command (the session), so the pair check against the copy taken before
    /// the command does not apply.
    #[cfg(feature = "testing")]
    armed_in_session: bool,
}

impl Clone for Hooks {
    fn clone(&self) -> Self {
        Hooks::default()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineConfig::default())
    }
}

impl Engine {
    /// A fresh engine. A configuration beyond [`limits`] is a programmer error and stops the
    /// program: the arithmetic bounds depend on it.
    pub fn new(config: EngineConfig) -> Engine {
        assert!(
            config.max_positions_per_account <= limits::MAX_POSITIONS_PER_ACCOUNT,
            "EngineConfig::max_positions_per_account above limits::MAX_POSITIONS_PER_ACCOUNT"
        );
        assert!(
            config.max_accounts <= limits::MAX_ACCOUNTS,
            "EngineConfig::max_accounts above limits::MAX_ACCOUNTS"
        );
        Engine {
            config,
            markets: Vec::new(),
            accounts: Vec::new(),
            fee_pool_usd: Usd::ZERO,
            deposited_usd: Usd::ZERO,
            withdrawn_usd: Usd::ZERO,
            last_ms: TimestampMs(0),
            next_order_seq: 1,
            commands_applied: 0,
            flags: BTreeMap::new(),
            events: Vec::with_capacity(64),
            parts: Vec::new(),
            steps: Vec::with_capacity(64),
            cancel_targets: Vec::new(),
            recheck_hits: Vec::new(),
            drafts: Vec::with_capacity(8),
            plan_end: PlanEnd::Exhausted,
            liquidating: false,
            liquidating_pool: None,
            negative_pools: 0,
            waterfall_pending: BTreeSet::new(),
            realized_deficits: Vec::new(),
            bankrupt_close: false,
            adl_cache: adl::AdlCache::default(),
            now_ms: TimestampMs(0),
            insurance_usd: Usd::ZERO,
            bad_debt_usd: Usd::ZERO,
            vault: Vault::default(),
            venue: VenueParams::default(),
            genesis_open: false,
            genesis_cost_usd: Usd::ZERO,
            invariant_check_interval: 1,
            index_rechecks: 0,
            journal: journal::Journal::default(),
            hooks: Hooks::default(),
        }
    }

    /// Apply one command at time `now`. On success returns the events it produced (valid until
    /// the next call); on rejection returns why, and the state is exactly as before.
    ///
    /// A command is validated and planned before it changes anything, so an operating error
    /// (insufficient margin, an unknown order, ...) is a rejection with nothing to undo. The
    /// commit that follows is recorded in the undo journal; should its arithmetic fail (an
    /// engine bug: the bounds in [`limits`] rule it out), the command is rolled back and
    /// rejected with [`Reject::Internal`]. A requote (`Command::Requote`) is refused whole only
    /// before anything changed; its parts are accepted or refused one by one, each as its own
    /// command would be ([`Engine::last_parts`]).
    pub fn apply(&mut self, cmd: &Command, now: TimestampMs) -> Result<&[Event], Reject> {
        #[cfg(feature = "testing")]
        let armed = self.hooks.fail_at.is_some().then(|| self.arm_fault());
        #[cfg(any(debug_assertions, feature = "invariants"))]
        let applied_before = self.commands_applied;
        let result = self.apply_journaled(cmd, now);
        #[cfg(feature = "testing")]
        self.disarm_fault(armed, cmd, &result);
        result?;
        // Every n-th applied command: a requote counts one per part applied, and the check
        // runs after it when its parts passed a multiple of n.
        #[cfg(any(debug_assertions, feature = "invariants"))]
        if self.commands_applied / self.invariant_check_interval
            != applied_before / self.invariant_check_interval
        {
            if let Err(breach) = self.check_invariants() {
                let msg = format!("invariant broken after {} at {now:?}: {breach}", cmd.name());
                panic!("{msg}"); // ok: debug and test builds only; an engine bug to stop on
            }
        }
        Ok(&self.events)
    }

    /// `apply` but for its checks: the command recorded in the undo journal, and rolled back
    /// if its commit fails.
    #[inline(always)]
    fn apply_journaled(&mut self, cmd: &Command, now: TimestampMs) -> Result<(), Reject> {
        self.events.clear();
        self.parts.clear();
        self.adl_cache.clear();
        if now.0 > limits::MAX_TIMESTAMP_MS {
            return Err(Reject::TimestampOutOfRange {
                now,
                max: TimestampMs(limits::MAX_TIMESTAMP_MS),
            });
        }
        if now < self.last_ms {
            return Err(Reject::TimeWentBackwards {
                last: self.last_ms,
                now,
            });
        }
        self.now_ms = now;
        self.begin_journal();
        let result = self.dispatch(cmd, now);
        // A realized deficit is booked whatever the command (stages c-e of the waterfall).
        let result = result.and_then(|()| Ok(self.book_realized_deficits()?));
        // The rankings die with the command (a clone of the engine carries none).
        self.adl_cache.clear();
        if let Err(e) = result {
            let internal = matches!(e, Reject::Internal { .. });
            // A typed rejection is decided before anything changes; only an internal failure
            // has something to undo.
            debug_assert!(
                internal || self.events.is_empty(),
                "a rejected command emitted events"
            );
            debug_assert!(
                internal || self.journal.is_clean(),
                "a rejected command changed state"
            );
            debug_assert!(internal || self.realized_deficits.is_empty());
            if internal || !self.journal.in_session() {
                self.roll_back();
            } else {
                // In a what-if session a rollback would take back the whole session: a typed
                // refusal, which changed nothing, only drops its scratch.
                self.events.clear();
                self.parts.clear();
            }
            // The rollback's pair assertion: with the `testing` feature an armed command is
            // compared field by field with a copy taken before it; in every debug build the
            // restored state must at least keep every invariant.
            #[cfg(debug_assertions)]
            if internal {
                if let Err(breach) = self.check_invariants() {
                    let msg = format!(
                        "invariant broken by the rollback of {}: {breach}",
                        cmd.name()
                    );
                    panic!("{msg}"); // ok: debug builds only; a rollback that broke state is a bug
                }
            }
            return Err(e.in_command(cmd.name()));
        }
        self.last_ms = now;
        self.commands_applied += self.parts_applied(cmd);
        Ok(())
    }

    /// Validate, plan and commit one command (the time checks are done).
    #[inline(always)]
    fn dispatch(&mut self, cmd: &Command, now: TimestampMs) -> Result<(), Reject> {
        if self.genesis_open && cmd.is_live() {
            return Err(Reject::GenesisOpen);
        }
        match cmd {
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
            Command::Requote(r) => self.requote(r),
            Command::AdjustIsolatedMargin {
                account,
                market,
                delta_usd,
            } => self.adjust_isolated(*account, *market, *delta_usd),
            Command::OraclePrice { market, price } => self.oracle_price(*market, *price, now),
            Command::OracleSource {
                market,
                source,
                price,
                confidence,
                published_ms,
            } => self.oracle_source(
                *market,
                *source,
                crate::defence::SourceReading {
                    price: *price,
                    confidence: *confidence,
                    published: TimestampMs(*published_ms),
                },
                now,
            ),
            Command::Volatility {
                market,
                short,
                long,
            } => self.set_volatility(*market, *short, *long, now),
            Command::Tick => Ok(self.tick(now)?),
            Command::SetParam { market, param } => self.set_param(*market, param, now),
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
            Command::GenesisPosition(g) => self.genesis_position(g),
            Command::EndGenesis => self.end_genesis(),
        }
    }

    /// Open a what-if session: the commands applied from now on are recorded in the undo
    /// journal across commands, and [`Engine::end_what_if`] takes them all back, leaving the
    /// engine exactly as it is now (the same state hash). A forward simulation runs its paths
    /// on one copy of the live engine this way: taking a path back costs what the path
    /// changed, where refreshing the copy costs every account, order and recheck entry.
    ///
    /// Within a session commands behave as they always do; the only difference is what a
    /// failed commit (`Reject::Internal`, an engine bug) takes back: the whole session, which
    /// it then ends. A session already open is left as it is.
    pub fn begin_what_if(&mut self) {
        if self.journal.in_session() {
            return;
        }
        self.begin_journal();
        self.journal
            .open_session(self.last_ms, self.commands_applied);
        self.adl_cache.begin_session();
    }

    /// End the what-if session: every command applied since [`Engine::begin_what_if`] taken
    /// back, newest change first. Nothing happens without an open session.
    pub fn end_what_if(&mut self) {
        if self.journal.in_session() {
            self.roll_back();
        }
    }

    /// In a what-if session only: move every resting order of `market` by `ticks` ticks, as
    /// if its makers had requoted the same ladder around a price that moved by that much. A
    /// forward simulation's depth model: without it a path's book stays at the prices of the
    /// moment it began, its impact mid holds the mark back (the mark is a median with it) and
    /// liquidations fill against bids the price has left behind. Nothing else changes (no
    /// event, no recheck: resting orders' margin does not depend on their prices), and
    /// `end_what_if` takes it back with the rest. Refused outside a session, and when a price
    /// would leave (0, max_price] or fall off the tick grid's range.
    pub fn what_if_shift_book(&mut self, market: MarketId, ticks: i64) -> Result<(), Reject> {
        if !self.journal.in_session() {
            return Err(Reject::InvalidParam {
                name: "what_if_shift_book",
                reason: "only in a what-if session (Engine::begin_what_if)".into(),
            });
        }
        let mi = self.market_index(market)?;
        let m = &self.markets[mi];
        let tick = m.params.tick_size.micros();
        let delta = ticks.checked_mul(tick).ok_or(Reject::PriceOutOfRange {
            price: bulwark_core::Price::from_micros(i64::MAX),
            max: m.params.max_price,
        })?;
        let Some((lowest, highest)) = m.book.price_range() else {
            return Ok(()); // nothing rests
        };
        if delta == 0 {
            return Ok(());
        }
        let low = lowest.micros().checked_add(delta);
        let high = highest.micros().checked_add(delta);
        match (low, high) {
            (Some(low), _) if low <= 0 => {
                return Err(Reject::PriceNotPositive(bulwark_core::Price::from_micros(
                    low,
                )))
            }
            (Some(_), Some(high)) if high <= m.params.max_price.micros() => {}
            _ => {
                return Err(Reject::PriceOutOfRange {
                    price: bulwark_core::Price::from_micros(high.unwrap_or(i64::MAX)),
                    max: m.params.max_price,
                })
            }
        }
        self.shift_book(mi, delta);
        Ok(())
    }

    /// Whether a what-if session is open (a failed commit within one ends it).
    pub fn in_what_if(&self) -> bool {
        self.journal.in_session()
    }

    /// Check the invariants after every `n`-th command instead of every one (n >= 1). The full
    /// check is O(accounts + orders); long simulations sample it and check once at the end.
    pub fn set_invariant_check_interval(&mut self, n: u64) {
        self.invariant_check_interval = n.max(1);
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
    pub deposited_usd: Usd,
    pub withdrawn_usd: Usd,
    pub flags: &'a BTreeMap<(AccountId, Scope), Flag>,
    pub negative_pools: usize,
    pub waterfall_pending: &'a BTreeSet<(AccountId, Scope)>,
    pub last_ms: TimestampMs,
    pub next_order_seq: u64,
    pub commands_applied: u64,
    pub genesis_open: bool,
    pub genesis_cost_usd: Usd,
}

/// The id under which the backstop vault's account trades. Never a user's: user ids are
/// below `EngineConfig::max_accounts`, which is at most 2^31.
pub const VAULT: AccountId = AccountId(u32::MAX);

/// An arithmetic failure where the bounds in [`limits`] say none can happen (the commit
/// phase, and the few checks that rest on the same bounds): an engine bug. `Engine::apply`
/// rolls the command back and rejects it with `Reject::Internal`. Boxed, so that a `Bounded`
/// result is one word wider than its value (the commit phase returns many) and the failure,
/// which never happens, pays for the allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Breach(pub(crate) Box<ArithError>);

/// The result of commit-phase work: `?` carries a [`Breach`] up to `Engine::apply`.
pub(crate) type Bounded<T = ()> = Result<T, Breach>;

/// A postcondition of the commit phase: when it fails (an engine bug), the command is rolled
/// back and rejected as [`Reject::Internal`](crate::Reject) like a broken arithmetic bound,
/// rather than the engine stopping for every user. Debug builds also stop at once, so tests
/// see the bug where it happens.
#[inline(always)]
#[track_caller]
pub(crate) fn ensure(holds: bool, what: &str) -> Bounded {
    debug_assert!(holds, "engine postcondition broken: {what}");
    // With the `testing` feature a check is a step the fault hook can fail like any bounded
    // arithmetic, so the rollback tests also take the path a broken postcondition takes.
    #[cfg(feature = "testing")]
    let holds = holds && !testing::fault_due();
    if holds {
        Ok(())
    } else {
        Err(breach(ArithError::postcondition()))
    }
}

/// Arithmetic that the input bounds make infallible. A failure is a [`Breach`] (with the
/// caller's location), which rolls the command back. With the `testing` feature, a test can
/// make the n-th call of a command fail (`Engine::fail_commit_arithmetic_at`; a call counts
/// when its arithmetic succeeded, which in a correct engine is every call).
#[inline(always)]
#[track_caller]
pub(crate) fn bounded<T>(r: ArithResult<T>) -> Bounded<T> {
    match r {
        // The hook after the arithmetic's own check, not before: the overflow flag is then
        // branched on at once instead of kept across the hook (measured: 1.7 M instructions
        // of the fixed workload's 4.3 M for the hook).
        #[cfg(feature = "testing")]
        Ok(_) if testing::fault_due() => Err(breach(ArithError::overflow())),
        Ok(v) => Ok(v),
        Err(e) => Err(breach(e)),
    }
}

#[cold]
#[inline(never)]
fn breach(e: ArithError) -> Breach {
    Breach(Box::new(e))
}

/// Whether a position belongs to a pool.
pub(crate) fn in_scope(p: &Position, scope: Scope) -> bool {
    match scope {
        Scope::Cross => p.mode == MarginMode::Cross,
        Scope::Isolated(m) => p.mode == MarginMode::Isolated && p.market == m,
    }
}

/// The pool a position of this mode belongs to.
pub(crate) fn scope_of(mode: MarginMode, market: MarketId) -> Scope {
    match mode {
        MarginMode::Cross => Scope::Cross,
        MarginMode::Isolated => Scope::Isolated(market),
    }
}
