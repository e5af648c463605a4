//! Commands: everything that can change the venue. Serde-friendly for JSON lines:
//! `{"cmd":"deposit","account":1,"amount_usd":"1000"}`.

use crate::book::Side;
use crate::defence::{
    AdaptiveFee, Defences, DivergenceBreaker, DynamicMargin, HaltBreaker, OiCap, OracleGuard,
    PriceBand, ProactiveBreaker, StablePrice,
};
use crate::event::Scope;
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
    /// Liquidation stops once equity is back to this multiple of maintenance (hysteresis:
    /// between 1x and `initial_multiplier`, so an account is not liquidated again at once).
    pub liquidation_end_multiplier: Ppm,
    /// Penalty on the notional a liquidation closes; never more than the equity left.
    pub liquidation_penalty: Ppm,
    /// Share of the penalty paid to the keeper who called the liquidation (the rest, and all
    /// of it in a protocol-native liquidation, goes to the insurance fund).
    pub keeper_reward_share: Ppm,
    /// Liquidation orders fill no farther than this fraction from the mark.
    pub liquidation_band: Ppm,
    /// Share of every trading fee credited to the insurance fund.
    pub insurance_fee_share: Ppm,
    /// Which stages of the loss waterfall are on.
    pub waterfall: Waterfall,
    pub adl_policy: AdlPolicy,
    /// The oracle guard, circuit breakers, dynamic margin, adaptive fees and open-interest
    /// caps (all off unless turned on; see `defence`). Boxed: a command that creates a market
    /// is rare, and every other command stays small.
    pub defences: Box<Defences>,
}

/// Stages of the loss waterfall after the account's own collateral. Each can be switched off
/// so the lab can compare waterfalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Waterfall {
    /// The backstop vault takes positions over at the bankruptcy price.
    pub vault: bool,
    /// The insurance fund pays remaining bad debt.
    pub insurance: bool,
    /// Auto-deleveraging closes opposite positions at the bankruptcy price.
    pub adl: bool,
    /// Remaining loss is shared pro rata across the opposite side's open positions.
    pub socialize: bool,
}

impl Default for Waterfall {
    fn default() -> Self {
        Waterfall {
            vault: true,
            insurance: true,
            adl: true,
            socialize: true,
        }
    }
}

/// How auto-deleveraging picks the positions it closes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdlPolicy {
    /// Highest (profit % x effective leverage) first.
    #[default]
    Ranked,
    /// Every opposite position in proportion to its size.
    ProRata,
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
            maintenance: Ppm::from_raw(5_000),
            initial_multiplier: Ppm::from_raw(2_000_000),
            size_premium: Ppm::from_raw(10),
            maker_fee: Ppm::from_raw(200),
            taker_fee: Ppm::from_raw(500),
            funding_interval_ms: 3_600_000,
            funding_clamp: Ppm::from_raw(7_500),
            trade_ema_alpha: Ppm::from_raw(100_000),
            impact_notional_usd: Usd::from_micros(10_000 * 1_000_000),
            oracle_stale_ms: 60_000,
            market_order_band: Ppm::from_raw(50_000),
            max_order_qty: Qty::from_lots(1_000_000),
            max_position_qty: Qty::from_lots(10_000_000),
            initial_price,
            max_price: Price::from_micros(10_000_000 * 1_000_000),
            liquidation_end_multiplier: Ppm::from_raw(1_500_000),
            liquidation_penalty: Ppm::from_raw(10_000),
            keeper_reward_share: Ppm::from_raw(200_000),
            liquidation_band: Ppm::from_raw(20_000),
            insurance_fee_share: Ppm::from_raw(500_000),
            waterfall: Waterfall::default(),
            adl_policy: AdlPolicy::Ranked,
            defences: Box::default(),
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

/// One order of a requote's ladder (`Command::Requote`): a [`PlaceOrder`] without the account
/// and the market, which the requote names once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteOrder {
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

impl QuoteOrder {
    /// The order as `account` would send it alone in `market`.
    #[inline]
    pub fn place(&self, account: AccountId, market: MarketId) -> PlaceOrder {
        PlaceOrder {
            account,
            market,
            side: self.side,
            kind: self.kind,
            price: self.price,
            qty: self.qty,
            reduce_only: self.reduce_only,
            self_trade: self.self_trade,
            margin: self.margin,
        }
    }
}

/// A market maker's requote in one command (`Command::Requote`): cancel every resting order
/// of `account` in `market`, then place each order of `orders` in turn. It does exactly what
/// the commands it stands for ([`Requote::commands`]: `CancelAll` for the market, then one
/// `PlaceOrder` per order) do when applied one after another at the same time: each order is
/// checked and refused on its own (a refused order undoes neither the cancel nor the other
/// orders), with the same events in the same order, and the engine counts one applied command
/// per part that was applied (`Engine::commands_applied`). What each part did:
/// `Engine::last_parts`.
///
/// The whole requote is refused, and nothing changes, when the cancel would be (an unknown
/// market or account, genesis open, a time out of range: every order would be refused alike),
/// or when it holds more than [`limits::MAX_REQUOTE_ORDERS`](crate::limits::MAX_REQUOTE_ORDERS)
/// orders. An empty ladder is a cancel alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requote {
    pub account: AccountId,
    pub market: MarketId,
    /// The ladder, placed in this order (after the cancel).
    #[serde(default)]
    pub orders: Vec<QuoteOrder>,
}

impl Requote {
    /// The commands the requote stands for, in the order it applies them: the cancel of every
    /// resting order of the account in the market, then one `PlaceOrder` per order.
    pub fn commands(&self) -> impl Iterator<Item = Command> + '_ {
        let cancel = Command::CancelAll {
            account: self.account,
            market: Some(self.market),
        };
        std::iter::once(cancel).chain(
            self.orders
                .iter()
                .map(|q| Command::PlaceOrder(q.place(self.account, self.market))),
        )
    }
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
    LiquidationEndMultiplier(Ppm),
    LiquidationPenalty(Ppm),
    KeeperRewardShare(Ppm),
    LiquidationBand(Ppm),
    InsuranceFeeShare(Ppm),
    Waterfall(Waterfall),
    AdlPolicy(AdlPolicy),
    /// Each defence as a whole (every field at once, validated together).
    OracleGuard(OracleGuard),
    StablePrice(StablePrice),
    PriceBand(PriceBand),
    Halt(HaltBreaker),
    Divergence(DivergenceBreaker),
    Proactive(ProactiveBreaker),
    DynamicMargin(DynamicMargin),
    AdaptiveFee(AdaptiveFee),
    OiCap(OiCap),
    /// A risk manager's floor on the maintenance dynamic margin sets (`null` lifts it);
    /// refused unless dynamic margin is on.
    MaintenanceOverride(Option<Ppm>),
}

/// Venue-wide parameters (not per market).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", content = "value", rename_all = "snake_case")]
pub enum VenueParam {
    /// The engine itself liquidates every account below maintenance after each price change
    /// (protocol-native liquidation); otherwise only keepers' `liquidate` commands do.
    NativeLiquidation(bool),
    /// Most liquidations one command may carry out (the rest wait for the next command).
    MaxLiquidationsPerStep(u32),
    /// Delay between an LP's withdrawal request and when it can be claimed.
    VaultWithdrawalDelayMs(u64),
    /// The vault takes no position that would bring its equity below this multiple of its
    /// maintenance requirement, and reduces itself through the book when it falls below it.
    VaultMarginMultiplier(Ppm),
    /// How the vault unwinds its inventory and when it stops taking over (every field at
    /// once, validated together).
    VaultPolicy(crate::engine::VaultPolicy),
}

/// Every input the engine accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Boxed: the parameters are the largest payload by far, and every command a run sends
    /// (a million, most of them orders) is moved as a whole `Command`.
    CreateMarket {
        params: Box<MarketParams>,
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
    /// Cancel every resting order of the account in one market and place a ladder of orders
    /// there, each as if sent alone right after the cancel (see [`Requote`]).
    Requote(Requote),
    /// Move collateral between the cross pool and an isolated position (positive: into the
    /// position).
    AdjustIsolatedMargin {
        account: AccountId,
        market: MarketId,
        delta_usd: Usd,
    },
    /// One price for the market's oracle: source 0's report, published now, with no
    /// confidence interval (a venue with one feed).
    OraclePrice {
        market: MarketId,
        price: Price,
    },
    /// One oracle source's report: its price, the half-width of its confidence interval and
    /// when it observed the price (at most now; the guard judges its age from it).
    OracleSource {
        market: MarketId,
        source: u8,
        price: Price,
        #[serde(default)]
        confidence: Price,
        published_ms: u64,
    },
    /// The market's volatility as the driver estimates it (EWMA, GARCH): one-hour standard
    /// deviations of returns over a short and a long horizon. Drives dynamic margin and the
    /// adaptive taker fee.
    Volatility {
        market: MarketId,
        short: Ppm,
        long: Ppm,
    },
    /// Time passes: marks refresh, funding premiums are sampled and, when due, settled.
    /// (A unit variant: serde's `deny_unknown_fields` does not reach the unit variants of an
    /// internally tagged enum, so `tick` refuses unknown fields through its own function.)
    #[serde(deserialize_with = "no_fields")]
    Tick,
    SetParam {
        market: MarketId,
        /// `{"name": "taker_fee", "value": 500}`
        param: Param,
    },
    SetVenueParam {
        param: VenueParam,
    },
    /// A keeper asks the engine to liquidate a pool below maintenance; it earns a share of the
    /// penalty.
    Liquidate {
        keeper: AccountId,
        account: AccountId,
        scope: Scope,
    },
    /// An LP moves collateral from its cross pool into the backstop vault for shares.
    VaultDeposit {
        account: AccountId,
        amount_usd: Usd,
    },
    /// An LP asks to redeem shares; claimable after the withdrawal delay.
    VaultRequestWithdrawal {
        account: AccountId,
        shares: u64,
    },
    /// Redeem a matured withdrawal request at the share price of the moment.
    VaultClaimWithdrawal {
        account: AccountId,
    },
    /// Move collateral from an account's cross pool into the insurance fund.
    InsuranceDeposit {
        account: AccountId,
        amount_usd: Usd,
    },
    /// Book a position that already exists outside the engine (a snapshot of a live venue) at
    /// its entry price, without the book and without moving cash: its cost basis is what a
    /// fill at `entry_price` would book, and the engine's genesis balance carries it (see
    /// `engine/genesis.rs`). Accepted only in a market never priced by an oracle or a trade;
    /// opens genesis, during which trading, prices and liquidations wait for `EndGenesis`.
    GenesisPosition(GenesisPosition),
    /// Close genesis: refused unless every market's long and short lots are equal.
    #[serde(deserialize_with = "no_fields")]
    EndGenesis,
}

/// A position booked at genesis (`Command::GenesisPosition`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisPosition {
    pub account: AccountId,
    pub market: MarketId,
    /// Signed lots: positive long, negative short.
    pub qty: Qty,
    /// The position's average entry price (need not be on the tick grid).
    pub entry_price: Price,
    #[serde(default)]
    pub margin: MarginMode,
    /// An isolated position's collateral, moved from the account's cross pool; zero for cross.
    #[serde(default)]
    pub isolated_usd: Usd,
}

/// The (empty) field list of `tick`: every field but `cmd` is unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

fn no_fields<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    NoFields::deserialize(d).map(|_| ())
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
            Command::Requote(_) => "requote",
            Command::AdjustIsolatedMargin { .. } => "adjust_isolated_margin",
            Command::OraclePrice { .. } => "oracle_price",
            Command::OracleSource { .. } => "oracle_source",
            Command::Volatility { .. } => "volatility",
            Command::Tick => "tick",
            Command::SetParam { .. } => "set_param",
            Command::SetVenueParam { .. } => "set_venue_param",
            Command::Liquidate { .. } => "liquidate",
            Command::VaultDeposit { .. } => "vault_deposit",
            Command::VaultRequestWithdrawal { .. } => "vault_request_withdrawal",
            Command::VaultClaimWithdrawal { .. } => "vault_claim_withdrawal",
            Command::InsuranceDeposit { .. } => "insurance_deposit",
            Command::GenesisPosition(_) => "genesis_position",
            Command::EndGenesis => "end_genesis",
        }
    }

    /// Whether the command trades, prices or liquidates: refused while genesis is open (the
    /// open interest may not balance yet). The others set the venue up.
    pub fn is_live(&self) -> bool {
        match self {
            Command::PlaceOrder(_)
            | Command::Cancel { .. }
            | Command::CancelAll { .. }
            | Command::Requote(_)
            | Command::OraclePrice { .. }
            | Command::OracleSource { .. }
            | Command::Volatility { .. }
            | Command::Tick
            | Command::Liquidate { .. }
            | Command::VaultRequestWithdrawal { .. }
            | Command::VaultClaimWithdrawal { .. } => true,
            Command::CreateMarket { .. }
            | Command::Deposit { .. }
            | Command::Withdraw { .. }
            | Command::AdjustIsolatedMargin { .. }
            | Command::SetParam { .. }
            | Command::SetVenueParam { .. }
            | Command::VaultDeposit { .. }
            | Command::InsuranceDeposit { .. }
            | Command::GenesisPosition(_)
            | Command::EndGenesis => false,
        }
    }
}

impl Command {
    /// The account acting (the keeper for a liquidation), if the command has one.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Command::Deposit { account, .. }
            | Command::Withdraw { account, .. }
            | Command::Cancel { account, .. }
            | Command::CancelAll { account, .. }
            | Command::AdjustIsolatedMargin { account, .. }
            | Command::VaultDeposit { account, .. }
            | Command::VaultRequestWithdrawal { account, .. }
            | Command::VaultClaimWithdrawal { account }
            | Command::InsuranceDeposit { account, .. } => Some(*account),
            Command::PlaceOrder(o) => Some(o.account),
            Command::Requote(r) => Some(r.account),
            Command::GenesisPosition(g) => Some(g.account),
            Command::Liquidate { keeper, .. } => Some(*keeper),
            Command::CreateMarket { .. }
            | Command::OraclePrice { .. }
            | Command::OracleSource { .. }
            | Command::Volatility { .. }
            | Command::Tick
            | Command::SetParam { .. }
            | Command::SetVenueParam { .. }
            | Command::EndGenesis => None,
        }
    }
}
