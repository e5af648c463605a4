//! Bulwark's venue state machine.
//!
//! [`Engine::apply`] takes a [`Command`] and the driver's timestamp and returns the
//! [`Event`]s it produced, or a [`Reject`] that left the state unchanged. The engine does no
//! I/O, reads no clock, starts no thread and keeps no float in a balance: the lab and the
//! server drive the very same code.
//!
//! Module map: [`book`] (price-time order book), [`account`] (positions, cost basis),
//! [`margin`] (pure requirement arithmetic), [`market`] (mark price, funding state),
//! [`engine`] (the state machine), [`invariants`] (checked after every command in debug and
//! test builds), [`hash`] (canonical state hash).

pub mod account;
pub mod book;
pub mod command;
pub mod engine;
pub mod event;
pub mod hash;
pub mod invariants;
pub mod margin;
pub mod market;
pub mod reject;

pub use account::{Account, Position};
pub use book::{Book, Side};
pub use bulwark_core::{AccountId, MarketId, OrderId, Ppm, Price, Qty, TimestampMs, Usd};
pub use command::{
    AdlPolicy, Command, MarginMode, MarketParams, OrderKind, Param, PlaceOrder, SelfTrade,
    VenueParam, Waterfall,
};
pub use engine::{Engine, EngineConfig, Flag, Pending};
pub use event::{CancelReason, Event, PositionSide, Scope};
pub use hash::{state_hash, state_hash_hex};
pub use margin::Health;
pub use reject::Reject;
