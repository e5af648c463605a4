//! Events: what a command did. Reports, journals and streams read only these.

use crate::book::Side;
use crate::command::{MarginMode, OrderKind, Param, VenueParam};
use crate::defence::{HaltReason, SourceStatus, MAX_ORACLE_SOURCES};
use crate::engine::VaultRefusal;
use bulwark_core::TimestampMs;
use bulwark_core::{AccountId, MarketId, OrderId, Ppm, Price, Qty, Usd};
use serde::{Deserialize, Serialize};

/// Why an order left the book (or never reached it) without filling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The owner asked.
    User,
    /// Self-trade prevention.
    SelfTrade,
    /// An IOC or market order's unfilled rest.
    Unfilled,
    /// A reduce-only order that would now increase the position.
    ReduceOnly,
    /// The account is being liquidated.
    Liquidation,
}

/// The side of a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    Long,
    Short,
}

/// Index values cross JSON as decimal strings (like money): `i128` does not survive every
/// serde path (internally tagged enums), and a string keeps it exact.
pub(crate) mod i128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which collateral pool a health figure is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "market", rename_all = "snake_case")]
pub enum Scope {
    Cross,
    Isolated(MarketId),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    MarketCreated {
        market: MarketId,
        symbol: String,
    },
    Deposited {
        account: AccountId,
        amount_usd: Usd,
        collateral_usd: Usd,
    },
    Withdrawn {
        account: AccountId,
        amount_usd: Usd,
        collateral_usd: Usd,
    },
    OrderAccepted {
        order: OrderId,
        account: AccountId,
        market: MarketId,
        side: Side,
        kind: OrderKind,
        price: Price,
        qty: Qty,
    },
    /// The order's unfilled rest now rests in the book.
    OrderRested {
        order: OrderId,
        market: MarketId,
        price: Price,
        qty: Qty,
    },
    Fill {
        market: MarketId,
        maker_order: OrderId,
        taker_order: OrderId,
        maker: AccountId,
        taker: AccountId,
        taker_side: Side,
        price: Price,
        qty: Qty,
        notional_usd: Usd,
        maker_fee_usd: Usd,
        taker_fee_usd: Usd,
        maker_realized_pnl_usd: Usd,
        taker_realized_pnl_usd: Usd,
        /// The taker was being liquidated (the lab counts liquidation volume from this).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        liquidation: bool,
    },
    OrderCancelled {
        order: OrderId,
        account: AccountId,
        market: MarketId,
        qty: Qty,
        reason: CancelReason,
    },
    IsolatedMarginAdjusted {
        account: AccountId,
        market: MarketId,
        delta_usd: Usd,
        isolated_collateral_usd: Usd,
    },
    /// Isolated collateral returned to the cross pool when an isolated position closed.
    IsolatedMarginReleased {
        account: AccountId,
        market: MarketId,
        amount_usd: Usd,
    },
    OraclePrice {
        market: MarketId,
        price: Price,
    },
    MarkPrice {
        market: MarketId,
        mark: Price,
        oracle: Option<Price>,
        impact_mid: Option<Price>,
        trade_ema: Option<Price>,
    },
    /// A funding interval ended: the longs' funding index rose by `index_step` = `price x
    /// rate` (micro-USD x ppm per whole base unit; negative: it fell) and the shorts' fell by
    /// as much, over `open_interest` lots a side. No money moved yet: each position settles
    /// `ceil(|qty| x step / (lots_per_unit x 1e6))` (paid, or received when negative) when it
    /// is next touched; queries and health count it at once. Longs owe about
    /// `open_interest x step / (lots_per_unit x 1e6)` micro-USD in all, shorts receive as much.
    FundingSettled {
        market: MarketId,
        rate: Ppm,
        /// The price the rate applied to: the fresh oracle, else the mark.
        price: Price,
        #[serde(with = "i128_string")]
        index_step: i128,
        open_interest: Qty,
    },
    ParamSet {
        market: MarketId,
        param: Param,
    },
    /// An account's pool fell below maintenance (the liquidation waterfall's input).
    BelowMaintenance {
        account: AccountId,
        scope: Scope,
        equity_usd: Usd,
        maintenance_usd: Usd,
    },
    /// An account's pool has negative equity: a loss the venue has not yet covered.
    NegativeEquity {
        account: AccountId,
        scope: Scope,
        equity_usd: Usd,
    },
    /// An account's pool is back at or above maintenance.
    BackAboveMaintenance {
        account: AccountId,
        scope: Scope,
        equity_usd: Usd,
    },
    /// A liquidation began: the pool's orders are cancelled, then positions are closed.
    /// `keeper` is None for a protocol-native liquidation.
    LiquidationStarted {
        account: AccountId,
        scope: Scope,
        keeper: Option<AccountId>,
        equity_usd: Usd,
        maintenance_usd: Usd,
    },
    /// The penalty charged on what a liquidation closed through the book.
    LiquidationPenalty {
        account: AccountId,
        market: MarketId,
        closed_notional_usd: Usd,
        penalty_usd: Usd,
        to_insurance_usd: Usd,
        to_keeper_usd: Usd,
    },
    /// A liquidation finished; `in_waterfall` when positions were left for the waterfall.
    LiquidationEnded {
        account: AccountId,
        scope: Scope,
        equity_usd: Usd,
        maintenance_usd: Usd,
        in_waterfall: bool,
    },
    /// Stage a: the account's own collateral was exhausted; `deficit_usd` (> 0) is the loss
    /// actually realized (positions closed or taken over), which the stages that follow pay
    /// to the micro-USD.
    Bankrupt {
        account: AccountId,
        scope: Scope,
        deficit_usd: Usd,
    },
    /// Stage b: the vault took a position over at the bankruptcy price.
    VaultTakeover {
        account: AccountId,
        market: MarketId,
        qty: Qty,
        bankruptcy_price: Price,
        /// The account's equity handed to the vault: negative when the vault absorbed a loss.
        equity_usd: Usd,
        /// What this stage paid: the loss the vault absorbed with this position (the negative
        /// part of `equity_usd`).
        loss_usd: Usd,
    },
    /// A bankrupt pool's position could not be closed (no vault capacity, ADL off, no bid):
    /// nothing was charged for it; the pool keeps it, stays flagged and is retried at every
    /// price change.
    BankruptcyDeferred {
        account: AccountId,
        scope: Scope,
        market: MarketId,
        qty_left: Qty,
    },
    /// Stage c: the insurance fund paid bad debt.
    InsurancePayout {
        account: AccountId,
        amount_usd: Usd,
        fund_after_usd: Usd,
    },
    /// Stage d: an opposite position was closed at the bankruptcy price.
    Deleveraged {
        bankrupt: AccountId,
        counterparty: AccountId,
        market: MarketId,
        /// Lots closed, signed as the counterparty's position was (positive: it was long).
        qty: Qty,
        price: Price,
        /// What closing at the bankruptcy price instead of the mark cost the counterparty.
        haircut_usd: Usd,
        /// Why ADL fired: why the vault did not take the bankrupt position over. A haircut
        /// above zero means the insurance fund (stage c) was off or exhausted as well.
        reason: VaultRefusal,
    },
    /// Stage e: `amount_usd` of a bankrupt pool's deficit, charged to every holder of a
    /// position on `side` of `market` in proportion to its size, through the side's loss index
    /// (it rose by `index_step` = ceil(amount x lots_per_unit x 1e6 / open_interest)); the
    /// bankrupt pool was paid `amount_usd` at once. Each holder settles its share
    /// (`ceil(|qty| x step / (lots_per_unit x 1e6))`) when next touched.
    SocializedLoss {
        market: MarketId,
        side: PositionSide,
        amount_usd: Usd,
        #[serde(with = "i128_string")]
        index_step: i128,
        open_interest: Qty,
    },
    /// A loss no stage could cover (every stage off or exhausted); it stays recorded as bad debt.
    UncoveredLoss {
        account: AccountId,
        amount_usd: Usd,
    },
    VaultDeposited {
        account: AccountId,
        amount_usd: Usd,
        shares: u64,
    },
    VaultWithdrawalRequested {
        account: AccountId,
        shares: u64,
        claimable_at_ms: u64,
    },
    VaultWithdrawn {
        account: AccountId,
        shares: u64,
        amount_usd: Usd,
    },
    /// The vault reduced its own positions through the book to stay within its margin limit.
    VaultReduced {
        market: MarketId,
        qty: Qty,
    },
    /// The vault unwound part of its inventory into the book at its policy's bounded rate
    /// (`VaultPolicy`).
    VaultUnwound {
        market: MarketId,
        /// Lots closed, signed as the vault's position was (positive: it sold longs).
        qty: Qty,
        /// PnL the unwind realized against the vault's cost basis (negative: a loss).
        realized_pnl_usd: Usd,
        fees_usd: Usd,
        /// How long the vault had held inventory in this market.
        held_ms: u64,
        /// The share of in-band depth this unwind was allowed (rises past `max_hold_ms`).
        depth_share: Ppm,
        /// What the vault still holds in the market, signed.
        qty_left: Qty,
    },
    InsuranceDeposited {
        account: AccountId,
        amount_usd: Usd,
        fund_after_usd: Usd,
    },
    VenueParamSet {
        param: VenueParam,
    },
    /// An oracle source's report was recorded.
    OracleSourceReported {
        market: MarketId,
        source: u8,
        price: Price,
        confidence: Price,
        published: TimestampMs,
    },
    /// Too few valid oracle sources: the market runs on its internal mark, accepts only
    /// orders that reduce exposure, pauses funding and liquidates with a wider band.
    OracleDegraded {
        market: MarketId,
        valid: u8,
        status: [SourceStatus; MAX_ORACLE_SOURCES],
    },
    /// Enough sources were valid for long enough: the oracle is used again.
    OracleRecovered {
        market: MarketId,
        valid: u8,
        degraded_ms: u64,
    },
    /// A circuit breaker halted the market until `until`.
    HaltStarted {
        market: MarketId,
        reason: HaltReason,
        mode: crate::defence::HaltMode,
        liquidations: bool,
        until: TimestampMs,
    },
    HaltEnded {
        market: MarketId,
        reason: HaltReason,
        started: TimestampMs,
    },
    /// The driver reported the market's volatility (one-hour standard deviations).
    VolatilitySet {
        market: MarketId,
        short: Ppm,
        long: Ppm,
    },
    /// Dynamic margin announced a change: maintenance moves from `in_force` toward `target`
    /// by at most `step` per step, the next at `next_step`, reaching it at `reaches_target`.
    MarginScheduled {
        market: MarketId,
        in_force: Ppm,
        target: Ppm,
        step: Ppm,
        next_step: TimestampMs,
        reaches_target: TimestampMs,
    },
    /// Dynamic margin applied a step.
    MaintenanceChanged {
        market: MarketId,
        old: Ppm,
        new: Ppm,
        target: Ppm,
    },
    /// The adaptive taker fee changed.
    TakerFeeChanged {
        market: MarketId,
        old: Ppm,
        new: Ppm,
    },
    /// A position booked at genesis at its entry (`cost_usd`: its signed cost basis, added to
    /// the genesis balance); `isolated_usd` moved from the cross pool into it.
    GenesisPosition {
        account: AccountId,
        market: MarketId,
        qty: Qty,
        entry_price: Price,
        cost_usd: Usd,
        mode: MarginMode,
        isolated_usd: Usd,
    },
    /// Genesis closed with every market balanced; `genesis_cost_usd` is the genesis balance.
    GenesisEnded {
        genesis_cost_usd: Usd,
    },
}
