//! Events: what a command did. Reports, journals and streams read only these.

use crate::book::Side;
use crate::command::{OrderKind, Param};
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
    /// Funding settled for a market: longs paid `paid_usd` in total (negative rate: shorts
    /// paid), the other side received `received_usd`; the rounding residue went to the
    /// funding residue pool, never to a trader.
    FundingSettled {
        market: MarketId,
        rate: Ppm,
        paid_usd: Usd,
        received_usd: Usd,
        residue_usd: Usd,
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
}
