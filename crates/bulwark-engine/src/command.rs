//! Commands: everything that can change the venue. Serde-friendly for JSON lines:
//! `{"cmd":"deposit","account":1,"amount_usd":"1000"}`.

use crate::book::Side;
use bulwark_core::{AccountId, MarketId, OrderId, Ppm, Price, Qty, Usd};
use serde::{Deserialize, Serialize};

/// Parameters of a perpetual market. Fractions are parts per million (1 bp = 100 ppm).
/// Any field left out of a JSON or TOML market takes its value from [`MarketParams::default`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketParams {
    /// Display name, e.g. "BTC-PERP".
    pub symbol: String,
    /// Smallest price increment, micro-USD per base unit.
    pub tick_size: Price,
    /// Lots in one whole base unit: 1000 means a lot is 0.001 BTC.
    pub lots_per_unit: i64,
    /// Maintenance margin fraction at small size.
    pub maintenance: Ppm,
    /// Initial margin = this multiple (in ppm of 1x) of the maintenance requirement; >= 1x.
    pub initial_multiplier: Ppm,
    /// Size premium: the maintenance fraction is max(maintenance, size_premium * sqrt(notional
    /// in whole USD)), so larger positions need proportionally more margin. 0 disables it.
    pub size_premium: Ppm,
    /// Maker fee; negative is a rebate, and |maker| <= taker so fees never drain the pool.
    pub maker_fee: Ppm,
    pub taker_fee: Ppm,
    /// Funding is settled every this many milliseconds.
    pub funding_interval_ms: u64,
    /// Funding rate per interval is clamped to +/- this.
    pub funding_clamp: Ppm,
    /// Weight of each trade in the trade-price EMA used by the mark.
    pub trade_ema_alpha: Ppm,
    /// Notional walked into each side of the book for the impact mid price.
    pub impact_notional_usd: Usd,
    /// An oracle price older than this is ignored by the mark and by funding.
    pub oracle_stale_ms: u64,
    /// Market orders fill no farther than this fraction from the mark.
    pub market_order_band: Ppm,
    /// Largest single order.
    pub max_order_qty: Qty,
    /// Largest position (long or short) one account may hold.
    pub max_position_qty: Qty,
    /// Price to start the mark at, before any oracle or trade exists.
    pub initial_price: Price,
    /// Highest price an order or the oracle may carry; with `max_position_qty` it bounds every
    /// notional, so margin arithmetic cannot overflow.
    pub max_price: Price,
}

impl MarketParams {
    /// Sensible defaults for a BTC-like perpetual: 0.1 USD ticks, 0.001 lots, 0.5% maintenance,
    /// 2x initial (so 100x maximum leverage at small size), 2 bp maker, 5 bp taker, hourly
    /// funding clamped at 0.75%.
    pub fn btc_like(symbol: &str, initial_price: Price) -> MarketParams {
        MarketParams {
            symbol: symbol.to_string(),
            tick_size: Price::from_micros(100_000),
            lots_per_unit: 1_000,
            maintenance: Ppm(5_000),
            initial_multiplier: Ppm(2_000_000),
            size_premium: Ppm(10),
            maker_fee: Ppm(200),
            taker_fee: Ppm(500),
            funding_interval_ms: 3_600_000,
            funding_clamp: Ppm(7_500),
            trade_ema_alpha: Ppm(100_000),
            impact_notional_usd: Usd::from_micros(10_000 * 1_000_000),
            oracle_stale_ms: 60_000,
            market_order_band: Ppm(50_000),
            max_order_qty: Qty(1_000_000),
            max_position_qty: Qty(10_000_000),
            initial_price,
            max_price: Price::from_micros(10_000_000 * 1_000_000),
        }
    }
}

impl Default for MarketParams {
    /// A BTC-like market starting at 50,000 USD; see [`MarketParams::btc_like`].
    fn default() -> Self {
        MarketParams::btc_like("BTC-PERP", Price::from_micros(50_000 * 1_000_000))
    }
}

/// How an order behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Good till cancelled: fills what crosses, rests the rest.
    Limit,
    /// Fills what it can within the market-order band around the mark; never rests.
    Market,
    /// Immediate or cancel: fills what crosses its limit, cancels the rest.
    Ioc,
    /// Fill or kill: fills entirely at once or is rejected.
    Fok,
    /// Rests only; rejected if it would cross.
    PostOnly,
}

/// Self-trade prevention: what happens when a taker meets its own account's resting order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTrade {
    /// Cancel the rest of the incoming order (default).
    #[default]
    CancelTaker,
    /// Cancel the resting order and keep matching.
    CancelMaker,
    /// Cancel both.
    CancelBoth,
}

/// Whether an order trades the account's cross pool or an isolated position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginMode {
    #[default]
    Cross,
    Isolated,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    pub account: AccountId,
    pub market: MarketId,
    pub side: Side,
    pub kind: OrderKind,
    /// Limit price; ignored (may be absent) for market orders.
    #[serde(default)]
    pub price: Option<Price>,
    pub qty: Qty,
    #[serde(default)]
    pub reduce_only: bool,
    #[serde(default)]
    pub self_trade: SelfTrade,
    #[serde(default)]
    pub margin: MarginMode,
}

/// A change to one parameter. Market parameters name their market.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", content = "value", rename_all = "snake_case")]
pub enum Param {
    Maintenance(Ppm),
    InitialMultiplier(Ppm),
    SizePremium(Ppm),
    MakerFee(Ppm),
    TakerFee(Ppm),
    FundingClamp(Ppm),
    FundingIntervalMs(u64),
    TradeEmaAlpha(Ppm),
    ImpactNotionalUsd(Usd),
    OracleStaleMs(u64),
    MarketOrderBand(Ppm),
    MaxOrderQty(Qty),
    MaxPositionQty(Qty),
    MaxPrice(Price),
}

/// Every input the engine accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    CreateMarket {
        params: MarketParams,
    },
    Deposit {
        account: AccountId,
        amount_usd: Usd,
    },
    Withdraw {
        account: AccountId,
        amount_usd: Usd,
    },
    PlaceOrder(PlaceOrder),
    Cancel {
        account: AccountId,
        market: MarketId,
        order: OrderId,
    },
    /// Cancel every resting order of the account, in one market or (None) in all.
    CancelAll {
        account: AccountId,
        #[serde(default)]
        market: Option<MarketId>,
    },
    /// Move collateral between the cross pool and an isolated position (positive: into the
    /// position).
    AdjustIsolatedMargin {
        account: AccountId,
        market: MarketId,
        delta_usd: Usd,
    },
    OraclePrice {
        market: MarketId,
        price: Price,
    },
    /// Time passes: marks refresh, funding premiums are sampled and, when due, settled.
    Tick,
    SetParam {
        market: MarketId,
        /// `{"name": "taker_fee", "value": 500}`
        param: Param,
    },
}

impl Command {
    /// The command's name as written in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateMarket { .. } => "create_market",
            Command::Deposit { .. } => "deposit",
            Command::Withdraw { .. } => "withdraw",
            Command::PlaceOrder(_) => "place_order",
            Command::Cancel { .. } => "cancel",
            Command::CancelAll { .. } => "cancel_all",
            Command::AdjustIsolatedMargin { .. } => "adjust_isolated_margin",
            Command::OraclePrice { .. } => "oracle_price",
            Command::Tick => "tick",
            Command::SetParam { .. } => "set_param",
        }
    }
}
