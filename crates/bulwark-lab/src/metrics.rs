//! What a run measures, read from engine events (and a few lab observations).
//!
//! Waterfall accounting, from the engine's events:
//! - bad debt (total) = the sum of what the stages paid (vault + insurance + ADL + socialized +
//!   uncovered): losses beyond an account's own collateral, counted from the stage events only
//!   (the engine asserts that they add up to each `Bankrupt.deficit_usd`, the deficit actually
//!   realized, and the lab checks it again at the end of a run);
//! - vault = losses the vault absorbed (`VaultTakeover.loss_usd`);
//! - insurance = `InsurancePayout.amount_usd`; ADL = `Deleveraged.haircut_usd` (with the count and
//!   notional closed); socialized = `SocializedLoss.amount_usd` (one event per socialization,
//!   the amount charged to the paying side through its loss index); uncovered = `UncoveredLoss`;
//! - penalties = `LiquidationPenalty.penalty_usd` (paid from the liquidated account's collateral);
//! - unresolved negative equity at the end: accounts still below zero that no liquidation
//!   reached (a venue with no working liquidation shows its hidden insolvency here).
//!
//! **Cascade depth.** A liquidation is *endogenous* when, at the moment it happens, the account
//! would have stayed at or above maintenance had the mark equalled the outside price: the
//! venue's own price (pushed by earlier liquidations, thin books, a stale oracle) killed it,
//! not the market. For keeper liquidations the lab asks the engine
//! (`Engine::health_with_mark(account, scope, market, outside_price)`) just before the
//! `Liquidate` command is applied. For protocol-native liquidations, which happen inside a
//! price update, it reconstructs the same test from the `LiquidationStarted` event: equity at
//! the outside price = equity + q (outside - mark), maintenance scaled by outside / mark, with
//! the position q recovered from maintenance / (mark x maintenance fraction) and the side of
//! the liquidation fills (exact without a size premium). The *endogenous share* is the
//! endogenous part of liquidation volume. The *longest chain* is the largest number of
//! liquidations in a row each starting within `cascade_window_s` of the previous one.

use std::collections::BTreeMap;

use bulwark_engine::{
    AccountId, Engine, Event, MarketId, PositionSide, Price, Reject, Scope, Side,
};
use serde::Serialize;

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
}

/// A liquidation as the cascade metrics see it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidationRecord {
    pub t_ms: u64,
    pub account: AccountId,
    pub price: f64,
    pub volume_usd: f64,
    pub endogenous: bool,
    pub native: bool,
    /// Where its loss landed last: "book", "vault", "insurance", "adl", "socialized".
    pub stage: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub start_ms: u64,
    /// What the waterfall's stages paid, in total (vault + insurance + ADL + socialized +
    /// uncovered).
    pub bad_debt_usd: f64,
    /// The same two totals in exact micro-USD: what `Bankrupt` events announced and what the
    /// stage events paid. They must be equal (`Metrics::stages_match_deficits`).
    pub announced_deficit_micros: i128,
    pub stage_paid_micros: i128,
    pub penalties_usd: f64,
    pub vault_absorbed_usd: f64,
    pub insurance_paid_usd: f64,
    pub adl_haircut_usd: f64,
    pub adl_count: u64,
    pub adl_notional_usd: f64,
    pub socialized_usd: f64,
    pub uncovered_usd: f64,
    /// The vault's discretionary unwinds (count, lots) and its reductions inside its margin
    /// limit (lots).
    pub vault_unwind_count: u64,
    pub vault_unwound_lots: u64,
    pub vault_reduced_lots: u64,
    pub liquidations: Vec<LiquidationRecord>,
    pub liquidation_volume_usd: f64,
    pub below_maintenance_events: u64,
    /// Rejections by `origin/command:reason`.
    pub rejections: BTreeMap<String, u64>,
    pub events: Vec<EventRow>,
    /// Verdict computed by the lab just before a keeper's `Liquidate` is applied.
    pub pending_verdict: Option<(AccountId, Scope, bool)>,
    /// Outside price at the current command, for native verdicts.
    pub outside_price: f64,
    pub market: MarketId,
    /// Lots in one base unit, to turn lot quantities into notional.
    pub lots_per_unit: f64,
    current: Option<usize>,
}

fn usd(v: bulwark_engine::Usd) -> f64 {
    v.to_f64_lossy()
}

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

/// `InsufficientMargin { .. }` -> `InsufficientMargin`: the variant, for counting.
pub fn reject_kind(r: &Reject) -> String {
    let text = format!("{r:?}");
    text.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("Unknown")
        .to_string()
}

impl Metrics {
    pub fn new(start_ms: u64, market: MarketId, lots_per_unit: i64) -> Metrics {
        Metrics {
            start_ms,
            market,
            lots_per_unit: lots_per_unit as f64,
            ..Metrics::default()
        }
    }

    fn t_s(&self, t_ms: u64) -> f64 {
        (t_ms.saturating_sub(self.start_ms)) as f64 / 1000.0
    }

    pub fn reject(&mut self, origin: &str, command: &str, r: &Reject) {
        *self
            .rejections
            .entry(format!("{origin}/{command}:{}", reject_kind(r)))
            .or_default() += 1;
    }

    /// A lab-side event (market maker pulled its quotes, top-up, chain halt...).
    pub fn note(&mut self, t_ms: u64, event: &'static str, account: Option<AccountId>) {
        let row = EventRow {
            t_s: self.t_s(t_ms),
            event,
            account: account.map(|a| a.0),
            ..EventRow::default()
        };
        self.events.push(row);
    }

    /// Reads the events of one applied command.
    pub fn on_events(&mut self, t_ms: u64, events: &[Event], engine: &Engine) {
        self.current = None;
        for ev in events {
            self.on_event(t_ms, ev, engine);
        }
        self.current = None;
        self.pending_verdict = None;
    }

    fn push(&mut self, row: EventRow) {
        self.events.push(row);
    }

    /// One arm per event kind, each a flat record: long, but a table rather than logic, so it
    /// reads best in one place (likewise [`Metrics::on_waterfall_event`]).
    fn on_event(&mut self, t_ms: u64, ev: &Event, engine: &Engine) {
        let t_s = self.t_s(t_ms);
        let base = EventRow {
            t_s,
            ..EventRow::default()
        };
        match *ev {
            Event::BelowMaintenance {
                account,
                scope,
                equity_usd,
                maintenance_usd,
            } => {
                self.below_maintenance_events += 1;
                self.push(EventRow {
                    event: "below_maintenance",
                    account: Some(account.0),
                    scope: Some(scope_name(scope)),
                    equity_usd: Some(usd(equity_usd)),
                    maintenance_usd: Some(usd(maintenance_usd)),
                    ..base
                });
            }
            Event::NegativeEquity {
                account,
                scope,
                equity_usd,
            } => self.push(EventRow {
                event: "negative_equity",
                account: Some(account.0),
                scope: Some(scope_name(scope)),
                equity_usd: Some(usd(equity_usd)),
                ..base
            }),
            Event::LiquidationStarted {
                account,
                scope,
                keeper,
                equity_usd,
                maintenance_usd,
            } => self.liquidation_started(
                t_ms,
                ev,
                engine,
                account,
                scope,
                keeper,
                equity_usd,
                maintenance_usd,
            ),
            Event::Fill {
                taker,
                taker_side,
                price,
                qty,
                notional_usd,
                liquidation: true,
                ..
            } => {
                let n = usd(notional_usd);
                self.liquidation_volume_usd += n;
                if let Some(i) = self.current {
                    self.liquidations[i].volume_usd += n;
                    self.liquidations[i].price = price.to_f64_lossy();
                }
                let endogenous = self.current.map(|i| self.liquidations[i].endogenous);
                self.push(EventRow {
                    event: "liquidation_fill",
                    account: Some(taker.0),
                    side: Some(side_name(taker_side)),
                    price: Some(price.to_f64_lossy()),
                    qty_lots: Some(qty.lots()),
                    notional_usd: Some(n),
                    endogenous,
                    ..base
                });
            }
            Event::LiquidationPenalty {
                account,
                closed_notional_usd,
                penalty_usd,
                to_keeper_usd,
                ..
            } => {
                self.penalties_usd += usd(penalty_usd);
                self.push(EventRow {
                    event: "liquidation_penalty",
                    account: Some(account.0),
                    notional_usd: Some(usd(closed_notional_usd)),
                    amount_usd: Some(usd(penalty_usd)),
                    equity_usd: Some(usd(to_keeper_usd)),
                    ..base
                });
            }
            Event::LiquidationEnded {
                account,
                scope,
                equity_usd,
                maintenance_usd,
                in_waterfall,
            } => self.push(EventRow {
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
            }),
            _ => self.on_waterfall_event(ev, base),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn liquidation_started(
        &mut self,
        t_ms: u64,
        _ev: &Event,
        engine: &Engine,
        account: AccountId,
        scope: Scope,
        keeper: Option<AccountId>,
        equity: bulwark_engine::Usd,
        maintenance: bulwark_engine::Usd,
    ) {
        let mark = engine
            .market(self.market)
            .map_or(Price::ZERO, |m| m.mark)
            .to_f64_lossy();
        let endogenous = match self.pending_verdict {
            Some((a, s, v)) if a == account && s == scope => v,
            _ => self.native_verdict(engine, account, usd(equity), usd(maintenance), mark),
        };
        self.liquidations.push(LiquidationRecord {
            t_ms,
            account,
            price: mark,
            volume_usd: 0.0,
            endogenous,
            native: keeper.is_none(),
            stage: "book",
        });
        self.current = Some(self.liquidations.len() - 1);
        self.push(EventRow {
            t_s: self.t_s(t_ms),
            event: "liquidation_started",
            account: Some(account.0),
            scope: Some(scope_name(scope)),
            keeper: keeper.map(|k| k.0),
            price: Some(mark),
            equity_usd: Some(usd(equity)),
            maintenance_usd: Some(usd(maintenance)),
            endogenous: Some(endogenous),
            ..EventRow::default()
        });
    }

    /// The counterfactual for a native liquidation, reconstructed from the event (see the
    /// module docs): would equity have covered maintenance at the outside price?
    fn native_verdict(
        &self,
        engine: &Engine,
        account: AccountId,
        equity: f64,
        maintenance: f64,
        mark: f64,
    ) -> bool {
        let outside = self.outside_price;
        let Some(m) = engine.market(self.market) else {
            return false;
        };
        if mark <= 0.0 || outside <= 0.0 {
            return false;
        }
        let mm = bulwark_engine::margin::maintenance_fraction(
            &m.params,
            bulwark_engine::Usd::from_micros(
                (maintenance / m.params.maintenance.to_f64_lossy() * 1e6) as i64,
            ),
        )
        .to_f64_lossy();
        let units = maintenance / (mark * mm.max(1e-9));
        // The side: what is left of the position, or the direction of its liquidation fills.
        let left = engine
            .account(account)
            .and_then(|a| a.position(self.market))
            .map_or(0, |p| p.qty.lots());
        let sign = if left != 0 {
            left.signum() as f64
        } else {
            self.last_fill_sign(account)
        };
        let equity_out = equity + sign * units * (outside - mark);
        let maintenance_out = maintenance * outside / mark;
        equity_out >= maintenance_out
    }

    /// +1 if the account's latest liquidation fill sold (it was long), -1 if it bought.
    fn last_fill_sign(&self, account: AccountId) -> f64 {
        self.events
            .iter()
            .rev()
            .take(64)
            .find(|r| r.event == "liquidation_fill" && r.account == Some(account.0))
            .map_or(1.0, |r| if r.side == Some("sell") { 1.0 } else { -1.0 })
    }

    fn mark_stage(&mut self, stage: &'static str) {
        if let Some(i) = self.current {
            self.liquidations[i].stage = stage;
        }
    }

    fn on_waterfall_event(&mut self, ev: &Event, base: EventRow) {
        match *ev {
            Event::Bankrupt {
                account,
                scope,
                deficit_usd,
            } => {
                self.announced_deficit_micros += deficit_usd.micros() as i128;
                self.push(EventRow {
                    event: "bankrupt",
                    account: Some(account.0),
                    scope: Some(scope_name(scope)),
                    amount_usd: Some(usd(deficit_usd)),
                    ..base
                });
            }
            Event::VaultTakeover {
                account,
                qty,
                bankruptcy_price,
                equity_usd,
                loss_usd,
                ..
            } => {
                let absorbed = usd(loss_usd);
                self.vault_absorbed_usd += absorbed;
                self.bad_debt_usd += absorbed;
                self.stage_paid_micros += loss_usd.micros() as i128;
                let px = bankruptcy_price.to_f64_lossy();
                let notional = px * (qty.lots() as f64).abs() / self.lots_per_unit;
                self.mark_stage("vault");
                if let Some(i) = self.current {
                    self.liquidations[i].volume_usd += notional;
                }
                self.liquidation_volume_usd += notional;
                self.push(EventRow {
                    event: "vault_takeover",
                    account: Some(account.0),
                    price: Some(px),
                    qty_lots: Some(qty.lots()),
                    notional_usd: Some(notional),
                    amount_usd: Some(absorbed),
                    equity_usd: Some(usd(equity_usd)),
                    ..base
                });
            }
            Event::InsurancePayout {
                account,
                amount_usd,
                fund_after_usd,
            } => {
                self.insurance_paid_usd += usd(amount_usd);
                self.bad_debt_usd += usd(amount_usd);
                self.stage_paid_micros += amount_usd.micros() as i128;
                self.mark_stage("insurance");
                self.push(EventRow {
                    event: "insurance_payout",
                    account: Some(account.0),
                    amount_usd: Some(usd(amount_usd)),
                    equity_usd: Some(usd(fund_after_usd)),
                    ..base
                });
            }
            Event::Deleveraged {
                bankrupt,
                counterparty,
                qty,
                price,
                haircut_usd,
                ..
            } => {
                self.adl_count += 1;
                let px = price.to_f64_lossy();
                let notional = px * (qty.lots() as f64).abs() / self.lots_per_unit;
                self.adl_notional_usd += notional;
                self.adl_haircut_usd += usd(haircut_usd);
                self.bad_debt_usd += usd(haircut_usd);
                self.stage_paid_micros += haircut_usd.micros() as i128;
                self.mark_stage("adl");
                self.push(EventRow {
                    event: "deleveraged",
                    account: Some(bankrupt.0),
                    counterparty: Some(counterparty.0),
                    price: Some(px),
                    qty_lots: Some(qty.lots()),
                    notional_usd: Some(notional),
                    amount_usd: Some(usd(haircut_usd)),
                    ..base
                });
            }
            Event::SocializedLoss {
                side,
                amount_usd,
                open_interest,
                ..
            } => {
                // One event per socialization: the amount the paying side owes in all (each
                // holder settles its share through the market's loss index).
                self.socialized_usd += usd(amount_usd);
                self.bad_debt_usd += usd(amount_usd);
                self.stage_paid_micros += amount_usd.micros() as i128;
                self.mark_stage("socialized");
                self.push(EventRow {
                    event: "socialized_loss",
                    side: Some(match side {
                        PositionSide::Long => "long",
                        PositionSide::Short => "short",
                    }),
                    qty_lots: Some(open_interest.lots()),
                    amount_usd: Some(usd(amount_usd)),
                    ..base
                });
            }
            Event::UncoveredLoss {
                account,
                amount_usd,
            } => {
                self.uncovered_usd += usd(amount_usd);
                self.bad_debt_usd += usd(amount_usd);
                self.stage_paid_micros += amount_usd.micros() as i128;
                self.push(EventRow {
                    event: "uncovered_loss",
                    account: Some(account.0),
                    amount_usd: Some(usd(amount_usd)),
                    ..base
                });
            }
            Event::VaultUnwound {
                qty,
                realized_pnl_usd,
                ..
            } => {
                self.vault_unwound_lots += qty.lots().unsigned_abs();
                self.vault_unwind_count += 1;
                self.push(EventRow {
                    event: "vault_unwound",
                    account: Some(bulwark_engine::VAULT.0),
                    side: Some(if qty.is_positive() { "sell" } else { "buy" }),
                    qty_lots: Some(qty.lots()),
                    amount_usd: Some(usd(realized_pnl_usd)),
                    ..base
                });
            }
            Event::VaultReduced { qty, .. } => {
                self.vault_reduced_lots += qty.lots().unsigned_abs();
                self.push(EventRow {
                    event: "vault_reduced",
                    account: Some(bulwark_engine::VAULT.0),
                    qty_lots: Some(qty.lots()),
                    ..base
                });
            }
            _ => {}
        }
    }

    /// Whether the stage events paid exactly the deficits the `Bankrupt` events announced.
    pub fn stages_match_deficits(&self) -> bool {
        self.announced_deficit_micros == self.stage_paid_micros
    }

    /// Share of liquidation volume that was endogenous (0 with no liquidations).
    pub fn endogenous_share(&self) -> (f64, f64) {
        let endo: f64 = self
            .liquidations
            .iter()
            .filter(|l| l.endogenous)
            .map(|l| l.volume_usd)
            .fold(0.0, |a, b| a + b);
        let total: f64 = self
            .liquidations
            .iter()
            .map(|l| l.volume_usd)
            .fold(0.0, |a, b| a + b);
        (endo, if total > 0.0 { endo / total } else { 0.0 })
    }
}

/// The longest run of liquidations each starting within `window_ms` of the previous one:
/// (length, start ms, end ms). Times must be sorted (the run loop records them in order).
pub fn longest_chain(times_ms: &[u64], window_ms: u64) -> (usize, u64, u64) {
    let Some(&first) = times_ms.first() else {
        return (0, 0, 0);
    };
    let (mut best, mut best_start, mut best_end) = (1, first, first);
    let (mut len, mut start) = (1, first);
    for w in times_ms.windows(2) {
        if w[1] - w[0] <= window_ms {
            len += 1;
        } else {
            len = 1;
            start = w[1];
        }
        if len > best {
            (best, best_start, best_end) = (len, start, w[1]);
        }
    }
    (best, best_start, best_end)
}
