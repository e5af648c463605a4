//! Opening the venue: the market, the venue's parameters, the money the insurance fund and
//! the vault's passive stake start with, and the first oracle price; then each further market
//! with its first oracle price. The run loop applies these
//! commands in order; one the engine rejects stops the run with a message naming it.

use bulwark_core::Round;
use bulwark_engine::{AccountId, Command, MarketId, MarketParams, Price, VenueParam};

use crate::scenario::Scenario;

/// Account that funds the insurance fund at the start.
pub const TREASURY: AccountId = AccountId(0);
/// Account of the passive stake that seeds the backstop vault (`venue.vault_seed_usd`, 0 by
/// default: the vault's liquidity providers are agents, `[agents.lps]`).
pub const LP: AccountId = AccountId(1);

/// `price` on the grid of `tick`: rounded down, never below one tick; `None` when the price
/// is not representable.
pub fn tick_price(price: f64, tick: Price) -> Option<Price> {
    let tick = tick.micros();
    let p = Price::from_f64(price, Round::Floor)?;
    Some(Price::from_micros(
        (p.micros() - p.micros().rem_euclid(tick)).max(tick),
    ))
}

/// The commands that open the venue, in order. `params` is the market as created (its
/// initial price already chosen), `market` the id the engine gives it.
pub fn venue_commands(s: &Scenario, params: MarketParams, market: MarketId) -> Vec<Command> {
    let first = params.initial_price;
    let mut cmds = vec![
        Command::CreateMarket {
            params: Box::new(params),
        },
        Command::SetVenueParam {
            param: VenueParam::NativeLiquidation(s.venue.native_liquidation),
        },
    ];
    let optional = [
        s.venue
            .max_liquidations_per_step
            .map(VenueParam::MaxLiquidationsPerStep),
        s.venue
            .vault_withdrawal_delay_ms
            .map(VenueParam::VaultWithdrawalDelayMs),
        s.venue
            .vault_margin_multiplier
            .map(VenueParam::VaultMarginMultiplier),
        Some(VenueParam::VaultPolicy(s.venue.vault_policy)),
    ];
    cmds.extend(
        optional
            .into_iter()
            .flatten()
            .map(|param| Command::SetVenueParam { param }),
    );
    let (ins, vault) = (s.venue.insurance_seed_usd, s.venue.vault_seed_usd);
    if ins.is_positive() {
        cmds.push(Command::Deposit {
            account: TREASURY,
            amount_usd: ins,
        });
        cmds.push(Command::InsuranceDeposit {
            account: TREASURY,
            amount_usd: ins,
        });
    }
    if vault.is_positive() {
        cmds.push(Command::Deposit {
            account: LP,
            amount_usd: vault,
        });
        cmds.push(Command::VaultDeposit {
            account: LP,
            amount_usd: vault,
        });
    }
    cmds.push(Command::OraclePrice {
        market,
        price: first,
    });
    cmds
}

/// The commands that open a further market: created (its initial price already chosen), then
/// its first oracle price. `market` is the id the engine gives it.
pub fn more_market_commands(params: MarketParams, market: MarketId) -> Vec<Command> {
    let first = params.initial_price;
    vec![
        Command::CreateMarket {
            params: Box::new(params),
        },
        Command::OraclePrice {
            market,
            price: first,
        },
    ]
}
