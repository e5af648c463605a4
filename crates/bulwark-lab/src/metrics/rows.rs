//! `events.csv`: one flat row per engine event the lab reports (and per lab-side note), empty
//! columns where a field does not apply.

use bulwark_engine::{Event, PositionSide, Scope, Side};
use serde::Serialize;

use super::cascade::LiquidationRecord;
use super::units::{notional, usd, LotsPerUnit};

/// One line of `events.csv`: flat columns, empty when not applicable.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventRow {
    pub t_s: f64,
    pub event: &'static str,
    pub account: Option<u32>,
    pub scope: Option<String>,
    pub counterparty: Option<u32>,
    pub keeper: Option<u32>,
    pub side: Option<&'static str>,
    pub price: Option<f64>,
    pub qty_lots: Option<i64>,
    pub notional_usd: Option<f64>,
    pub amount_usd: Option<f64>,
    pub equity_usd: Option<f64>,
    pub maintenance_usd: Option<f64>,
    pub endogenous: Option<bool>,
    /// Free text where a row needs it: a rejected command's `origin/command:reason`.
    pub detail: Option<String>,
}

/// The header of `events.csv`, in [`EventRow`]'s field order.
pub const EVENT_COLUMNS: [&str; 15] = [
    "t_s",
    "event",
    "account",
    "scope",
    "counterparty",
    "keeper",
    "side",
    "price",
    "qty_lots",
    "notional_usd",
    "amount_usd",
    "equity_usd",
    "maintenance_usd",
    "endogenous",
    "detail",
];

fn scope_name(s: Scope) -> String {
    match s {
        Scope::Cross => "cross".to_string(),
        Scope::Isolated(m) => format!("isolated:{}", m.0),
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// The row of one engine event at `t_s`, if the lab reports that kind. `liquidation` is the
/// liquidation in progress (after the event was counted): its verdict marks its fills.
/// One arm per event kind, each a flat record: long, but a table rather than logic.
pub fn row(
    ev: &Event,
    t_s: f64,
    lots: &LotsPerUnit,
    liquidation: Option<&LiquidationRecord>,
) -> Option<EventRow> {
    let base = EventRow {
        t_s,
        ..EventRow::default()
    };
    let endogenous = liquidation.map(|l| l.endogenous);
    let row = match *ev {
        Event::BelowMaintenance {
            account,
            scope,
            equity_usd,
            maintenance_usd,
        } => EventRow {
            event: "below_maintenance",
            account: Some(account.0),
            scope: Some(scope_name(scope)),
            equity_usd: Some(usd(equity_usd)),
            maintenance_usd: Some(usd(maintenance_usd)),
            ..base
        },
        Event::NegativeEquity {
            account,
            scope,
            equity_usd,
        } => EventRow {
            event: "negative_equity",
            account: Some(account.0),
            scope: Some(scope_name(scope)),
            equity_usd: Some(usd(equity_usd)),
            ..base
        },
        Event::LiquidationStarted {
            account,
            scope,
            keeper,
            equity_usd,
            maintenance_usd,
        } => EventRow {
            event: "liquidation_started",
            account: Some(account.0),
            scope: Some(scope_name(scope)),
            keeper: keeper.map(|k| k.0),
            price: liquidation.map(|l| l.price),
            equity_usd: Some(usd(equity_usd)),
            maintenance_usd: Some(usd(maintenance_usd)),
            endogenous,
            ..base
        },
        Event::Fill {
            taker,
            taker_side,
            price,
            qty,
            notional_usd,
            liquidation: true,
            ..
        } => EventRow {
            event: "liquidation_fill",
            account: Some(taker.0),
            side: Some(side_name(taker_side)),
            price: Some(price.to_f64_lossy()),
            qty_lots: Some(qty.lots()),
            notional_usd: Some(usd(notional_usd)),
            endogenous,
            ..base
        },
        Event::LiquidationPenalty {
            account,
            closed_notional_usd,
            penalty_usd,
            to_keeper_usd,
            ..
        } => EventRow {
            event: "liquidation_penalty",
            account: Some(account.0),
            notional_usd: Some(usd(closed_notional_usd)),
            amount_usd: Some(usd(penalty_usd)),
            equity_usd: Some(usd(to_keeper_usd)),
            ..base
        },
        Event::LiquidationEnded {
            account,
            scope,
            equity_usd,
            maintenance_usd,
            in_waterfall,
        } => EventRow {
            event: if in_waterfall {
                "liquidation_ended_in_waterfall"
            } else {
                "liquidation_ended"
            },
            account: Some(account.0),
            scope: Some(scope_name(scope)),
            equity_usd: Some(usd(equity_usd)),
            maintenance_usd: Some(usd(maintenance_usd)),
            ..base
        },
        _ => return waterfall_row(ev, base, lots),
    };
    Some(row)
}

/// The rows of the waterfall's stages (see [`row`]).
fn waterfall_row(ev: &Event, base: EventRow, lots: &LotsPerUnit) -> Option<EventRow> {
    let row = match *ev {
        Event::Bankrupt {
            account,
            scope,
            deficit_usd,
        } => EventRow {
            event: "bankrupt",
            account: Some(account.0),
            scope: Some(scope_name(scope)),
            amount_usd: Some(usd(deficit_usd)),
            ..base
        },
        Event::VaultTakeover {
            account,
            qty,
            bankruptcy_price,
            equity_usd,
            loss_usd,
            market,
        } => {
            let px = bankruptcy_price.to_f64_lossy();
            let lots_per_unit = lots.of(market);
            EventRow {
                event: "vault_takeover",
                account: Some(account.0),
                price: Some(px),
                qty_lots: Some(qty.lots()),
                notional_usd: Some(notional(px, qty.lots(), lots_per_unit)),
                amount_usd: Some(usd(loss_usd)),
                equity_usd: Some(usd(equity_usd)),
                ..base
            }
        }
        Event::InsurancePayout {
            account,
            amount_usd,
            fund_after_usd,
        } => EventRow {
            event: "insurance_payout",
            account: Some(account.0),
            amount_usd: Some(usd(amount_usd)),
            equity_usd: Some(usd(fund_after_usd)),
            ..base
        },
        Event::Deleveraged {
            bankrupt,
            counterparty,
            qty,
            price,
            haircut_usd,
            market,
            ..
        } => {
            let px = price.to_f64_lossy();
            let lots_per_unit = lots.of(market);
            EventRow {
                event: "deleveraged",
                account: Some(bankrupt.0),
                counterparty: Some(counterparty.0),
                price: Some(px),
                qty_lots: Some(qty.lots()),
                notional_usd: Some(notional(px, qty.lots(), lots_per_unit)),
                amount_usd: Some(usd(haircut_usd)),
                ..base
            }
        }
        Event::SocializedLoss {
            side,
            amount_usd,
            open_interest,
            ..
        } => EventRow {
            event: "socialized_loss",
            side: Some(match side {
                PositionSide::Long => "long",
                PositionSide::Short => "short",
            }),
            qty_lots: Some(open_interest.lots()),
            amount_usd: Some(usd(amount_usd)),
            ..base
        },
        Event::UncoveredLoss {
            account,
            amount_usd,
        } => EventRow {
            event: "uncovered_loss",
            account: Some(account.0),
            amount_usd: Some(usd(amount_usd)),
            ..base
        },
        // The vault's own trades: `amount_usd` is the PnL the unwind realized.
        Event::VaultUnwound {
            qty,
            realized_pnl_usd,
            ..
        } => EventRow {
            event: "vault_unwound",
            account: Some(bulwark_engine::VAULT.0),
            side: Some(if qty.is_positive() { "sell" } else { "buy" }),
            qty_lots: Some(qty.lots()),
            amount_usd: Some(usd(realized_pnl_usd)),
            ..base
        },
        // LPs' withdrawals: `qty_lots` carries vault shares (1e6 per unit, worth the share
        // price); a payout's `amount_usd` is what it paid.
        Event::VaultWithdrawalRequested {
            account,
            shares,
            claimable_at_ms,
        } => EventRow {
            event: "vault_withdrawal_requested",
            account: Some(account.0),
            qty_lots: Some(i64::try_from(shares).unwrap_or(i64::MAX)),
            detail: Some(format!("claimable_at_ms={claimable_at_ms}")),
            ..base
        },
        Event::VaultWithdrawn {
            account,
            shares,
            amount_usd,
        } => EventRow {
            event: "vault_withdrawn",
            account: Some(account.0),
            qty_lots: Some(i64::try_from(shares).unwrap_or(i64::MAX)),
            amount_usd: Some(usd(amount_usd)),
            ..base
        },
        Event::VaultReduced { qty, .. } => EventRow {
            event: "vault_reduced",
            account: Some(bulwark_engine::VAULT.0),
            qty_lots: Some(qty.lots()),
            ..base
        },
        _ => return None,
    };
    Some(row)
}
