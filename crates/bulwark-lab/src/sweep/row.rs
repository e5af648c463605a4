//! One CSV row per run: which run, the swept values, and every headline metric with each
//! stage's loss. Cells are text made once, when the run ends, so the file's bytes depend on
//! the runs alone (not on the thread that ran them or on a parse and re-format).

use crate::output::Summary;

/// The metric columns, after `run,set,seed_index,seed` and the swept keys. Units in the
/// names; `_share` columns are ratios in [0, 1].
pub const METRIC_COLUMNS: &[&str] = &[
    "loss_total_usd",
    "bad_debt_usd",
    "loss_penalties_usd",
    "loss_vault_usd",
    "loss_insurance_usd",
    "loss_adl_usd",
    "loss_socialized_usd",
    "loss_uncovered_usd",
    "unresolved_negative_equity_usd",
    "vault_realized_loss_usd",
    "vault_marked_loss_usd",
    "vault_share_price_end",
    "insurance_start_usd",
    "insurance_min_usd",
    "insurance_end_usd",
    "liquidations",
    "liquidation_volume_usd",
    "adl_count",
    "adl_notional_usd",
    "adl_overshoot_notional_usd",
    "cascade_longest_chain",
    "cascade_endogenous_share",
    "outside_min",
    "mark_min",
    "mark_vs_outside_max_bp",
    "oracle_max_lag_s",
    "gas_max_gwei",
    "keeper_delay_max_s",
    "margin_per_oi",
    "volume_refused_share",
    "halted_s",
    "halts",
    "proactive_trips",
    "proactive_false_trips",
    "controller_actions",
    "controller_hours",
    "controller_exceedances",
    "controller_pit_exceedances",
    "controller_pit_deciles",
    "degraded_s",
    "maintenance_max_ppm",
    "taker_fee_max_ppm",
    "commands_rejected",
    "conservation_ok",
    "state_hash",
];

/// The metric cells of a run, in [`METRIC_COLUMNS`] order.
pub fn metric_cells(s: &Summary) -> Vec<String> {
    let st = &s.losses.by_stage;
    let f = |x: f64| x.to_string();
    let cells = vec![
        f(s.losses.total_usd),
        f(s.bad_debt.total_usd),
        f(st.penalties_usd),
        f(st.vault_usd),
        f(st.insurance_usd),
        f(st.adl_usd),
        f(st.socialized_usd),
        f(st.uncovered_usd),
        f(s.bad_debt.unresolved_negative_equity_usd),
        f(s.losses.vault_realized_loss_usd),
        f(s.losses.vault_marked_loss_usd),
        f(s.vault.share_price_end),
        f(s.insurance_fund.start_usd),
        f(s.insurance_fund.min_usd),
        f(s.insurance_fund.end_usd),
        s.liquidations.count.to_string(),
        f(s.liquidations.volume_usd),
        s.adl.count.to_string(),
        f(s.adl.notional_usd),
        f(s.adl.overshoot_notional_usd),
        s.cascade.longest_chain.to_string(),
        f(s.cascade.endogenous_volume_share),
        f(s.price.outside_min),
        f(s.price.mark_min),
        f(s.mark_vs_outside.max_abs_bp),
        f(s.oracle.max_lag_s),
        f(s.chain.max_gas_gwei),
        f(s.chain.keeper_delay_max_s),
        f(s.capital_efficiency.margin_per_oi),
        f(s.capital_efficiency.volume_refused_share),
        f(s.capital_efficiency.halted_s),
        s.defences.halts.to_string(),
        s.defences.proactive_trips.to_string(),
        s.defences.proactive_false_trips.to_string(),
        s.controller.as_ref().map_or(0, |c| c.actions).to_string(),
        s.controller
            .as_ref()
            .map_or(0, |c| c.backtest.hours)
            .to_string(),
        s.controller
            .as_ref()
            .map_or(0, |c| c.backtest.exceedances)
            .to_string(),
        s.controller
            .as_ref()
            .map_or(0, |c| c.backtest.pit_exceedances)
            .to_string(),
        s.controller.as_ref().map_or(String::new(), |c| {
            crate::controller::deciles_cell(&c.backtest.pit_deciles)
        }),
        f(s.defences.degraded_s),
        s.defences.maintenance_max_ppm.to_string(),
        s.defences.taker_fee_max_ppm.to_string(),
        s.commands_rejected.values().sum::<u64>().to_string(),
        s.conservation.ok.to_string(),
        s.final_state_hash.clone(),
    ];
    debug_assert_eq!(cells.len(), METRIC_COLUMNS.len());
    cells
}
