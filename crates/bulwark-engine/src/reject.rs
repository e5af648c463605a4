//! Why a command was refused. A rejected command changes nothing.

use crate::event::Scope;
use bulwark_core::{AccountId, ArithError, MarketId, OrderId, Price, Qty, TimestampMs, Usd};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Reject {
    #[error("timestamp {} ms is beyond the latest the engine accepts ({} ms, the end of year 9999)", now.0, max.0)]
    TimestampOutOfRange { now: TimestampMs, max: TimestampMs },
    #[error("time went backwards: command at {now:?} after {last:?}")]
    TimeWentBackwards { last: TimestampMs, now: TimestampMs },
    #[error("unknown market {0:?}")]
    UnknownMarket(MarketId),
    #[error("too many markets (at most {limit})")]
    TooManyMarkets { limit: usize },
    #[error("account {account:?} is out of range: ids are dense and below {limit}")]
    AccountOutOfRange { account: AccountId, limit: u32 },
    #[error("unknown account {0:?}: deposit first")]
    UnknownAccount(AccountId),
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("amount must be positive, got {0}")]
    AmountNotPositive(Usd),
    #[error("amount {amount} USD is beyond the largest one command may move ({max} USD, the venue's bound on total collateral)")]
    AmountTooLarge { amount: Usd, max: Usd },
    #[error("deposits would exceed the venue's bound on total collateral")]
    CollateralBound,
    #[error("insufficient free collateral: {available} available, {requested} requested")]
    InsufficientCollateral { available: Usd, requested: Usd },
    #[error("insufficient margin: equity {equity}, initial requirement {required}")]
    InsufficientMargin { equity: Usd, required: Usd },
    #[error("quantity must be positive, got {0}")]
    QtyNotPositive(Qty),
    #[error("quantity {qty} exceeds the limit {limit}")]
    QtyTooLarge { qty: Qty, limit: Qty },
    #[error("position would be {qty} lots, beyond the limit {limit}")]
    PositionLimit { qty: Qty, limit: Qty },
    #[error("price {price} is not a positive multiple of the tick size {tick}")]
    PriceNotOnTick { price: Price, tick: Price },
    #[error("price must be positive, got {0}")]
    PriceNotPositive(Price),
    #[error("price {price} is above the market's maximum {max}")]
    PriceOutOfRange { price: Price, max: Price },
    #[error("a {0} order needs a price")]
    PriceMissing(&'static str),
    #[error("post-only order at {price} would cross the book")]
    PostOnlyWouldCross { price: Price },
    #[error("fill-or-kill order for {requested} lots: only {available} can fill")]
    FokNotFillable { requested: Qty, available: Qty },
    #[error("reduce-only order would not reduce the position")]
    ReduceOnlyWouldIncrease,
    #[error("account has {limit} open orders, the limit")]
    TooManyOrders { limit: u32 },
    #[error("a requote of {orders} orders: at most {limit} may be sent in one")]
    TooManyQuoteOrders { orders: usize, limit: usize },
    #[error("account holds positions in {limit} markets, the limit")]
    TooManyPositions { limit: usize },
    #[error("the book holds its maximum number of resting orders")]
    BookFull,
    #[error("order {0:?} is not resting")]
    UnknownOrder(OrderId),
    #[error("order {order:?} belongs to another account")]
    NotOrderOwner { order: OrderId },
    #[error("position in market {market:?} is {current}; close it and its orders before switching margin mode")]
    MarginModeConflict {
        market: MarketId,
        current: &'static str,
    },
    #[error("no isolated position in market {0:?}")]
    NoIsolatedPosition(MarketId),
    #[error("pool is not liquidatable: equity {equity} is at or above maintenance {maintenance}")]
    NotLiquidatable { equity: Usd, maintenance: Usd },
    #[error("an account cannot liquidate itself")]
    SelfLiquidation,
    #[error("{requested} vault shares is beyond the largest share count ({max})")]
    SharesOutOfRange { requested: u64, max: u64 },
    #[error("the vault's share supply would exceed its bound ({max} shares); deposit less")]
    VaultSharesBound { max: u64 },
    #[error("not enough vault shares: {held} held, {requested} requested")]
    NotEnoughShares { held: u64, requested: u64 },
    #[error("no vault withdrawal request to claim")]
    NoWithdrawalRequest,
    #[error("vault withdrawal claimable from {claimable_at_ms} ms")]
    WithdrawalNotYetClaimable { claimable_at_ms: u64 },
    #[error("pool {scope:?} of account {account:?} has negative equity and is in liquidation: only the engine trades it until the loss is booked (a deposit can top it up)")]
    PoolInBankruptcy { account: AccountId, scope: Scope },
    #[error("{pools} pool(s) hold a loss the waterfall has not booked yet; vault deposits and claims wait until it is, so shares are never priced off it")]
    UnbookedLoss { pools: usize },
    #[error("market {market:?} has been priced by an oracle or a trade: genesis positions are booked only before")]
    GenesisClosed { market: MarketId },
    #[error("genesis is open: end it (end_genesis) before trading, pricing or liquidating")]
    GenesisOpen,
    #[error("genesis is not open: nothing to end")]
    NoGenesis,
    #[error("account already has a position entry in market {market:?}: one genesis position per account and market, booked before any other")]
    GenesisPositionExists { market: MarketId },
    #[error("market {market:?} does not balance: {long} lots long, {short} lots short (difference {}); a named account must take the net", *long - *short)]
    GenesisUnbalanced {
        market: MarketId,
        long: i128,
        short: i128,
    },
    #[error("the genesis balance would exceed the venue's bound on total collateral")]
    GenesisBound,
    #[error("a cross position carries no isolated collateral (got {0})")]
    CrossWithIsolated(Usd),
    #[error("price {price} is outside the price band [{low}, {high}] around the mark")]
    OutsidePriceBand {
        price: Price,
        low: Price,
        high: Price,
    },
    #[error("market {market:?} is halted ({why}) until {} ms; {allowed}", until.0)]
    MarketHalted {
        market: MarketId,
        why: &'static str,
        until: TimestampMs,
        allowed: &'static str,
    },
    #[error("market {market:?} is in degraded mode (too few valid oracle sources): only orders that reduce exposure are accepted")]
    MarketDegraded { market: MarketId },
    #[error("open interest would reach {oi} lots, over the market's cap of {cap} lots")]
    OpenInterestCap { oi: Qty, cap: Qty },
    #[error("the position could reach {qty} lots, over the account cap of {cap} lots ({share_ppm} ppm of the market's open-interest cap)")]
    AccountOpenInterestCap { qty: Qty, cap: Qty, share_ppm: i64 },
    #[error("oracle source {source_id} is out of range: a market has at most {max} sources")]
    UnknownOracleSource { source_id: u8, max: usize },
    #[error("source {source_id}'s report published at {} ms is older than its last one ({} ms); a late report never replaces a newer one", published.0, last.0)]
    SourceReportOutOfOrder {
        source_id: u8,
        published: TimestampMs,
        last: TimestampMs,
    },
    #[error("the source's publication time {} ms is after the command's time {} ms", published.0, now.0)]
    PublishedInFuture {
        published: TimestampMs,
        now: TimestampMs,
    },
    /// A product or sum inside the engine would leave its integer range. The input bounds are
    /// meant to make this impossible, so it is an engine bug; it is still only a rejection: the
    /// command was planned on copies and nothing changed. `error` (shown by `Debug`) keeps the
    /// source location for the engine's developers; the message a user sees names none.
    #[error("{command} rejected: it would breach an internal arithmetic bound of the engine (not a limit of your input); nothing changed")]
    Arithmetic {
        /// The command's name, filled in by `Engine::apply`.
        command: &'static str,
        error: ArithError,
    },
    /// Arithmetic that the input bounds make infallible failed while the command was being
    /// committed: an engine bug. The command was rolled back (the engine's undo journal) and
    /// the state is exactly as before it. `error` (shown by `Debug`) keeps the source location
    /// for the engine's developers; the message a user sees names none.
    #[error("{command} rejected by an engine bug: an internal arithmetic bound broke while it was being committed; it was rolled back and the state is unchanged (please report it)")]
    Internal {
        /// The command's name, filled in by `Engine::apply`.
        command: &'static str,
        error: ArithError,
    },
}

impl From<crate::engine::Breach> for Reject {
    fn from(b: crate::engine::Breach) -> Self {
        Reject::Internal {
            command: "command",
            error: *b.0,
        }
    }
}

impl From<ArithError> for Reject {
    fn from(error: ArithError) -> Self {
        Reject::Arithmetic {
            command: "command",
            error,
        }
    }
}

impl Reject {
    /// Name the command an internal arithmetic failure happened in.
    pub(crate) fn in_command(self, name: &'static str) -> Reject {
        match self {
            Reject::Arithmetic { error, .. } => Reject::Arithmetic {
                command: name,
                error,
            },
            Reject::Internal { error, .. } => Reject::Internal {
                command: name,
                error,
            },
            other => other,
        }
    }
}
