//! Bulwark's venue state machine.
//!
//! [`Engine::apply`] takes a [`Command`] and the driver's timestamp and returns the
//! [`Event`]s it produced, or a [`Reject`] that left the state unchanged. The engine does no
//! I/O, reads no clock, starts no thread and keeps no float in a balance: the lab and the
//! server drive the very same code.
//!
//! API boundary: [`Engine::apply`], the query methods of [`Engine`] (and the types they
//! return), [`state_hash`] / [`state_hash_hex`], the serde types [`Command`], [`Event`],
//! [`Reject`], [`MarketParams`], and the input bounds in [`limits`]. The public modules are
//! those whose types the queries return or drivers build on: [`book`] (price-time order
//! book), [`account`] (positions, cost basis), [`margin`] (pure requirement arithmetic and
//! [`Health`]), [`market`] (mark price, funding state), [`command`], [`event`], [`reject`].
//! The state machine's mechanisms (`engine`), the invariant checker (`invariants`, run
//! through [`Engine::check_invariants`]) and the state encoding (`hash`) are private to the
//! crate; only what this file re-exports crosses the boundary.

pub mod account;
pub mod book;
pub mod command;
pub mod defence;
mod engine;
pub mod event;
pub(crate) mod hash;
pub(crate) mod invariants;
pub mod margin;
pub mod market;
pub mod reject;
pub(crate) mod trigger_set;

pub use account::{Account, Position};
pub use book::{Book, Side};
pub use bulwark_core::{AccountId, MarketId, OrderId, Ppm, Price, Qty, TimestampMs, Usd};
pub use command::{
    AdlPolicy, Command, GenesisPosition, MarginMode, MarketParams, OrderKind, Param, PlaceOrder,
    QuoteOrder, Requote, SelfTrade, VenueParam, Waterfall,
};
// What the engine's queries return, the vault's account id (it appears in events) and the
// input bounds a driver may check before sending a command.
pub use defence::{
    AdaptiveFee, Defences, DivergenceBreaker, DynamicMargin, Halt, HaltBreaker, HaltMode,
    HaltReason, OiCap, OracleGuard, PriceBand, ProactiveBreaker, SourceStatus, StablePrice,
};
pub use engine::{
    limits, AtRisk, CascadeRisk, Engine, EngineConfig, FeeSchedule, Flag, Part, Pending,
    QueueEntry, Vault, VaultInventory, VaultPolicy, VaultRefusal, VaultState, VenueParams,
    WithdrawalRequest, VAULT,
};
pub use event::{CancelReason, Event, PositionSide, Scope};
pub use hash::{state_hash, state_hash_hex};
pub use margin::Health;
pub use market::{Market, OracleReading};
pub use reject::Reject;
