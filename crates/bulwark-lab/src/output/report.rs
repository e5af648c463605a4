//! What people read: the console's headline table, the HTML report's data, and the
//! comparison table of `--compare`.

use bulwark_report::{
    fmt_duration_s, fmt_number, fmt_pct, fmt_usd, ComparisonTable, HeadlineRow, LiquidationMark,
    Period, PeriodKind, RunReport, TimeSeries, WaterfallStage,
};

use super::summary::Summary;
use crate::sim::Sim;

/// The headline numbers, shared by the console and the report.
pub fn headline(summary: &Summary, wall_time_s: Option<f64>) -> Vec<HeadlineRow> {
    let b = &summary.bad_debt;
    let l = &summary.liquidations;
    let loss = &summary.losses;
    let st = &loss.by_stage;
    let v = &summary.vault;
    let a = &summary.adl;
    let mut rows = vec![
        HeadlineRow::new("Loss (total)", fmt_usd(loss.total_usd)).with_detail(format!(
            "borne by: penalties {}, vault {}, insurance {}, ADL {}, socialized {}, uncovered {}",
            fmt_usd(st.penalties_usd),
            fmt_usd(st.vault_usd),
            fmt_usd(st.insurance_usd),
            fmt_usd(st.adl_usd),
            fmt_usd(st.socialized_usd),
            fmt_usd(st.uncovered_usd),
        )),
        HeadlineRow::new("Bad debt (total)", fmt_usd(b.total_usd)).with_detail(format!(
            "the loss past liquidated accounts' own collateral; unresolved negative equity {}",
            fmt_usd(b.unresolved_negative_equity_usd)
        )),
        HeadlineRow::new(
            "Insurance fund minimum",
            fmt_usd(summary.insurance_fund.min_usd),
        )
        .with_detail(format!("paid out {}", fmt_usd(b.insurance_usd))),
        HeadlineRow::new("Vault loss (marked)", fmt_usd(v.marked_loss_usd)).with_detail(format!(
            "{} of what LPs put in; realized {}; {} unwinds; share price end {:.4}",
            fmt_pct(if v.deposited_usd > 0.0 {
                v.marked_loss_usd / v.deposited_usd
            } else {
                0.0
            }),
            fmt_usd(v.realized_loss_usd),
            v.unwinds,
            v.share_price_end
        )),
        lp_row(&summary.lps),
        HeadlineRow::new("Liquidations", fmt_number(l.count as f64, 0))
            .with_detail(format!("{} volume", fmt_usd(l.volume_usd))),
        HeadlineRow::new("ADL", fmt_number(a.count as f64, 0)).with_detail(format!(
            "{} notional, overshoot {}; why: {}",
            fmt_usd(a.notional_usd),
            fmt_usd(a.overshoot_notional_usd),
            adl_reasons(a)
        )),
        HeadlineRow::new("Socialized loss", fmt_usd(b.socialized_usd)),
        HeadlineRow::new(
            "Cascade: endogenous share",
            fmt_pct(summary.cascade.endogenous_volume_share),
        )
        .with_detail(format!(
            "longest chain {} ({} s window)",
            summary.cascade.longest_chain, summary.cascade.window_s
        )),
        HeadlineRow::new(
            "Mark vs outside (max)",
            format!("{:.1} bp", summary.mark_vs_outside.max_abs_bp),
        )
        .with_detail(format!(
            "mean {:.1} bp",
            summary.mark_vs_outside.mean_abs_bp
        )),
        HeadlineRow::new("Oracle lag (max)", fmt_duration_s(summary.oracle.max_lag_s)).with_detail(
            format!(
                "mean {:.1} s, {} updates",
                summary.oracle.mean_lag_s, summary.oracle.updates
            ),
        ),
        HeadlineRow::new("Breaker time", fmt_duration_s(summary.defences.halted_s)).with_detail(
            format!(
                "{} halts, {} refused orders; oracle degraded {} ({} periods)",
                summary.defences.halts,
                summary.defences.orders_refused_in_periods,
                fmt_duration_s(summary.defences.degraded_s),
                summary.defences.degraded_periods
            ),
        ),
        HeadlineRow::new(
            "Gas (max)",
            format!("{:.1} gwei", summary.chain.max_gas_gwei),
        )
        .with_detail(format!(
            "keeper delay max {:.0} s",
            summary.chain.keeper_delay_max_s
        )),
        HeadlineRow::new(
            "Conservation",
            if summary.conservation.ok {
                "holds"
            } else {
                "BROKEN"
            },
        )
        .with_detail(format!("{} checks", summary.conservation.checks)),
        HeadlineRow::new(
            "Rejected commands",
            fmt_number(summary.commands_rejected.values().sum::<u64>() as f64, 0),
        ),
    ];
    if let Some(c) = &summary.controller {
        rows.push(controller_row(c));
    }
    rows.extend(market_rows(summary));
    if let Some(w) = wall_time_s {
        rows.push(HeadlineRow::new("Run time", format!("{w:.2} s")));
    }
    rows
}

/// The online controller: its actions, and its forecasts' hourly VaR backtest.
fn controller_row(c: &crate::controller::ControllerSummary) -> HeadlineRow {
    let b = &c.backtest;
    let verdict = |within: Option<bool>| match within {
        Some(true) => "within Kupiec's 95% interval",
        Some(false) => "outside Kupiec's 95% interval",
        None => "too few hours to judge",
    };
    let mode = if c.shadow_actions > 0 {
        " (shadow)"
    } else {
        ""
    };
    HeadlineRow::new(
        "Risk controller",
        format!("{} actions{mode}", c.actions + c.shadow_actions),
    )
    .with_detail(format!(
        "{} forecasts, {} paths through the engine; VaR 95% exceeded in {} of {} hours ({}); \
         randomized transform at or above 0.95 in {} hours ({}){}{}{}",
        c.forecasts,
        c.paths_simulated,
        b.exceedances,
        b.hours,
        verdict(b.within),
        b.pit_exceedances,
        verdict(b.pit_within),
        if c.vol_multiplier_max > 1.0 {
            format!(
                "; the backtest's correction raised the paths' volatility up to x{:.2}",
                c.vol_multiplier_max
            )
        } else {
            String::new()
        },
        gap_rate_note(c),
        if c.killed {
            "; stopped by its kill switch"
        } else {
            ""
        }
    ))
}

/// What the paths believed of gaps no recent move announces: a fixed prior's rate, or the
/// range a learned one moved over (what a risk manager reads the controller's margin by).
fn gap_rate_note(c: &crate::controller::ControllerSummary) -> String {
    let (lo, hi) = (c.gaps_per_day_min, c.gaps_per_day_max);
    if hi <= 0.0 {
        String::new()
    } else if lo == hi {
        format!("; the paths drew gaps at a prior {hi:.2} a day")
    } else {
        format!("; the paths' gap rate, learned from the venue's own gaps, moved between {lo:.2} and {hi:.2} a day")
    }
}

/// LP withdrawals: paid (count, USD) with what was requested, pending and refused beside.
fn lp_row(lp: &super::summary::LpSummary) -> HeadlineRow {
    let refused: u64 = lp.claims_refused.values().sum();
    HeadlineRow::new("LP withdrawals paid", fmt_usd(lp.paid.usd)).with_detail(format!(
        "{} of {} LPs paid at mean share price {:.4} (stayers end at {:.4}); requested {} \
         ({:.0} units, {} when asked); pending {}; {} claims refused",
        lp.paid.count,
        lp.count,
        lp.paid_share_price_mean,
        lp.stayers_share_price_end,
        lp.requested.count,
        lp.requested.units,
        fmt_usd(lp.requested.usd),
        lp.pending_end.count,
        refused,
    ))
}

/// With several markets: one row per market (its loss where the events name it) and one for
/// what links them. None with one market.
fn market_rows(summary: &Summary) -> Vec<HeadlineRow> {
    let Some(cross) = &summary.cross_market else {
        return Vec::new();
    };
    let mut rows: Vec<HeadlineRow> = summary
        .markets
        .iter()
        .map(|m| {
            let st = &m.losses_by_stage;
            let loss = st.penalties_usd + st.vault_usd + st.adl_usd + st.socialized_usd;
            HeadlineRow::new(format!("{}: loss", m.symbol), fmt_usd(loss)).with_detail(format!(
                "penalties {}, vault {}, ADL {}, socialized {} (insurance and uncovered are \
                 venue-wide); outside {} -> min {}; OI max {}, end {}; {} liquidations ({} \
                 contagion); ADL {} ({} notional)",
                fmt_usd(st.penalties_usd),
                fmt_usd(st.vault_usd),
                fmt_usd(st.adl_usd),
                fmt_usd(st.socialized_usd),
                fmt_number(m.price.outside_start, 2),
                fmt_number(m.price.outside_min, 2),
                fmt_usd(m.open_interest_max_usd),
                fmt_usd(m.open_interest_end_usd),
                m.liquidations,
                m.contagion_liquidations,
                m.adl_count,
                fmt_usd(m.adl_notional_usd),
            ))
        })
        .collect();
    let calm = cross
        .correlation_calm
        .iter()
        .map(|r| format!("{r}"))
        .collect::<Vec<_>>()
        .join(", ");
    rows.push(
        HeadlineRow::new(
            "Cross-market contagion",
            fmt_number(cross.contagion_liquidations as f64, 0),
        )
        .with_detail(format!(
            "liquidations that closed a position at a profit because the pool went under in \
             another market ({} volume), of {} liquidations of pools holding several markets; \
             {} cross-margin accounts; correlation calm [{calm}], crisis weight {}",
            fmt_usd(cross.contagion_volume_usd),
            cross.multi_market_liquidations,
            cross.cross_margin_accounts,
            cross.correlation_crisis_weight,
        )),
    );
    rows
}

/// "vault_margin_limit 12, vault_market_exposure 140", or "none".
fn adl_reasons(a: &super::summary::AdlSummary) -> String {
    if a.by_reason.is_empty() {
        return "none".to_string();
    }
    a.by_reason
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the HTML report's data.
pub fn report(sim: &Sim, summary: &Summary, wall_time_s: f64) -> RunReport {
    let title = if sim.scenario.description.is_empty() {
        format!("Crash lab: {}", sim.scenario.name)
    } else {
        sim.scenario.description.clone()
    };
    let mut r = RunReport::new(
        &title,
        &sim.scenario.name,
        sim.scenario.seed,
        &summary.final_state_hash,
    );
    r.run_wall_time_s = wall_time_s;
    r.headline = headline(summary, Some(wall_time_s));
    let rows = &sim.samples.rows;
    let mut series = TimeSeries::new(rows.iter().map(|s| s.t_s).collect());
    for (i, (name, unit_name)) in sim.samples.columns.iter().enumerate() {
        let values = rows.iter().map(|s| s.values[i]).collect();
        series
            .push_column(name, unit_name, values)
            .expect("columns are distinct and aligned");
    }
    r.series = series;
    r.liquidations = sim
        .metrics
        .liquidations
        .records
        .iter()
        .map(|l| LiquidationMark {
            t_s: (l.t_ms - sim.start_ms) as f64 / 1000.0,
            price: l.price,
            notional_usd: l.volume_usd,
            stage: l.stage.to_string(),
        })
        .collect();
    let b = &summary.bad_debt;
    // What the vault's LPs lost in all: the deficits it absorbed at takeover, or, when larger,
    // its whole loss (the positions it took over can lose more after the takeover).
    let vault_loss_usd = b.vault_usd.max(-summary.vault.pnl_usd);
    r.waterfall = [
        (
            "Liquidation penalties (own collateral)",
            b.liquidation_penalties_usd,
        ),
        ("Backstop vault (LP loss)", vault_loss_usd),
        ("Insurance fund", b.insurance_usd),
        ("ADL", b.adl_usd),
        ("Socialized loss", b.socialized_usd),
        ("Uncovered", b.uncovered_usd),
        (
            "Unresolved negative equity",
            b.unresolved_negative_equity_usd,
        ),
    ]
    .into_iter()
    .map(|(stage, amount_usd)| WaterfallStage {
        stage: stage.to_string(),
        amount_usd,
    })
    .collect();
    if let Some(h) = sim.scenario.chain.halt {
        r.periods.push(Period {
            start_s: h.start_s as f64,
            end_s: (h.start_s + h.duration_s) as f64,
            kind: PeriodKind::ChainHalt,
            label: "chain halt (scenario)".to_string(),
        });
    }
    r.periods.extend(stale_oracle_periods(sim));
    let run_end_s = summary.duration_s;
    r.periods
        .extend(sim.metrics.defences.periods.iter().map(|p| {
            let kind = if p.kind == "halt" {
                PeriodKind::Breaker
            } else {
                PeriodKind::OracleDegraded
            };
            let what = match p.reason {
                "price_move" => format!("halt: the mark moved {:.1}%", p.trigger as f64 / 1e4),
                "divergence" => {
                    format!("halt: book {:.1}% from the oracle", p.trigger as f64 / 1e4)
                }
                "cascade" => format!(
                    "proactive halt: liquidations at risk {:.1}x the depth{}",
                    p.trigger as f64 / 1e6,
                    match p.confirmed {
                        Some(true) => ", the move came",
                        Some(false) => ", a false trip",
                        None => "",
                    }
                ),
                _ => format!("oracle degraded: {} valid sources", p.trigger),
            };
            Period {
                start_s: p.start_s,
                end_s: p.end_s.unwrap_or(run_end_s),
                kind,
                label: format!("{what} ({} orders refused)", p.orders_refused),
            }
        }));
    if let Some(c) = &sim.controller {
        r.periods.extend(controller_periods(&c.rows, run_end_s));
    }
    r.periods.extend(sim.path().gaps.iter().map(|g| Period {
        start_s: g.start_ms.saturating_sub(sim.start_ms) as f64 / 1000.0,
        end_s: g.end_ms.saturating_sub(sim.start_ms) as f64 / 1000.0,
        kind: PeriodKind::DataGap,
        label: format!(
            "no data from {} for {} (bridged)",
            crate::data::format_utc_ms(g.start_ms),
            fmt_duration_s(g.length_ms() as f64 / 1000.0)
        ),
    }));
    r
}

/// Intervals where the venue's oracle price was older than the market's staleness limit
/// (the mark then ignores it): the report's "oracle degraded" shading.
fn stale_oracle_periods(sim: &Sim) -> Vec<Period> {
    let limit_s = sim.scenario.market.oracle_stale_ms as f64 / 1000.0;
    let lag_col = sim.samples.column("oracle_lag_s").expect("column exists");
    let mut out = Vec::new();
    let mut open: Option<f64> = None;
    for s in &sim.samples.rows {
        let stale = s.values[lag_col] > limit_s;
        match (stale, open) {
            (true, None) => open = Some(s.t_s),
            (false, Some(from)) => {
                out.push(Period {
                    start_s: from,
                    end_s: s.t_s,
                    kind: PeriodKind::OracleDegraded,
                    label: "oracle stale".into(),
                });
                open = None;
            }
            _ => {}
        }
    }
    if let (Some(from), Some(last)) = (open, sim.samples.rows.last()) {
        out.push(Period {
            start_s: from,
            end_s: last.t_s,
            kind: PeriodKind::OracleDegraded,
            label: "oracle stale".into(),
        });
    }
    out
}

/// One table row per variant of a scenario (a mechanism switched on or off): what each
/// variant lost and who paid.
pub fn comparison_table(caption: &str, variants: &[(String, &Summary)]) -> ComparisonTable {
    let mut t = ComparisonTable::new([
        "variant",
        "total loss",
        "penalties",
        "vault (takeovers)",
        "insurance paid",
        "ADL haircuts",
        "socialized",
        "uncovered",
        "vault loss realized",
        "vault loss marked",
        "ADL notional",
        "liquidations",
        "endogenous share",
        "longest chain",
        "max mark dev",
    ]);
    t.caption = Some(caption.to_string());
    for (name, s) in variants {
        let st = &s.losses.by_stage;
        t.push_row([
            name.clone(),
            fmt_usd(s.losses.total_usd),
            fmt_usd(st.penalties_usd),
            fmt_usd(st.vault_usd),
            fmt_usd(st.insurance_usd),
            fmt_usd(st.adl_usd),
            fmt_usd(st.socialized_usd),
            fmt_usd(st.uncovered_usd),
            fmt_usd(s.losses.vault_realized_loss_usd),
            fmt_usd(s.losses.vault_marked_loss_usd),
            fmt_usd(s.adl.notional_usd),
            fmt_number(s.liquidations.count as f64, 0),
            fmt_pct(s.cascade.endogenous_volume_share),
            s.cascade.longest_chain.to_string(),
            format!("{:.1} bp", s.mark_vs_outside.max_abs_bp),
        ]);
    }
    t
}

/// The stretches in which the online controller held maintenance above where the run started
/// (from its first tightening to the action that brought it back), each labelled with the
/// highest maintenance and fee it set and the forecast that first called for it. With
/// `maintenance_on_the_hour` a step is applied on the hour with no forecast of its own: the
/// forecast that called for it is the one whose `announce` row chose it.
fn controller_periods(rows: &[crate::controller::ControllerRow], run_end_s: f64) -> Vec<Period> {
    let mut out = Vec::new();
    let mut base: Option<i64> = None;
    let mut open: Option<(f64, i64, i64, f64)> = None;
    let mut fee_max = 0i64;
    let mut announced: Option<(Option<i64>, f64)> = None;
    for r in rows {
        if r.kind == "announce" && r.lever == "maintenance" {
            announced = Some((r.new, r.es95_usd));
            continue;
        }
        if r.kind != "action" {
            continue;
        }
        let (Some(old), Some(new)) = (r.old, r.new) else {
            continue;
        };
        if r.lever == "taker_fee" {
            fee_max = fee_max.max(new);
            continue;
        }
        if r.lever != "maintenance" {
            continue;
        }
        let es95_usd = match announced.take() {
            Some((step, es)) if step == r.new => es,
            _ => r.es95_usd,
        };
        let base = *base.get_or_insert(old);
        match open.as_mut() {
            None if new > base => open = Some((r.t_s, new, fee_max, es95_usd)),
            Some(o) if new > base => o.1 = o.1.max(new),
            Some(&mut (start, top, _, es)) => {
                out.push(controller_period(start, r.t_s, top, fee_max, es));
                open = None;
                fee_max = 0;
            }
            None => {}
        }
    }
    if let Some((start, top, _, es)) = open {
        out.push(controller_period(start, run_end_s, top, fee_max, es));
    }
    out
}

fn controller_period(start_s: f64, end_s: f64, top_ppm: i64, fee_ppm: i64, es_usd: f64) -> Period {
    let fee = if fee_ppm > 0 {
        format!(", taker fee up to {:.1} bp", fee_ppm as f64 / 100.0)
    } else {
        String::new()
    };
    Period {
        start_s,
        end_s,
        kind: PeriodKind::Controller,
        label: format!(
            "controller: maintenance up to {:.2}%{fee} (called for by a forecast ES95 of {:.0} USD)",
            top_ppm as f64 / 1e4,
            es_usd
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::ControllerRow;

    fn row(
        t_s: f64,
        kind: &'static str,
        lever: &'static str,
        old: i64,
        new: i64,
        es: f64,
    ) -> ControllerRow {
        ControllerRow {
            t_s,
            market: 0,
            kind,
            lever,
            old: Some(old),
            new: Some(new),
            sigma_1h: 0.0,
            sigma_run_1h: 0.0,
            vol_multiplier: 1.0,
            gaps_per_day: 0.0,
            var95_usd: 0.0,
            es95_usd: es,
            p_loss: 0.0,
            budget_usd: 0.0,
            paths_simulated: 0,
            oi_lots: 0,
            oi_top_share: 0.0,
            depth_2pct_usd: 0.0,
            liquidation_queue: 0,
            oracle_degraded: false,
            insurance_usd: 0.0,
            reason: String::new(),
        }
    }

    /// A step announced at 13,500 s on a forecast of ES95 10,964 USD and applied on the hour
    /// (an action row with no forecast of its own, ES95 0), raised again at 18,000 s on its own
    /// forecast, and brought back at 36,000 s: one period from 14,400 s to 36,000 s, at the
    /// highest step, labelled with the announcing forecast's ES95, the fee's highest step too.
    #[test]
    fn a_period_names_the_forecast_that_announced_its_first_step() {
        let rows = [
            row(13_500.0, "announce", "maintenance", 5_000, 7_500, 10_964.0),
            row(13_500.0, "action", "taker_fee", 1_250, 1_500, 10_964.0),
            row(14_400.0, "action", "maintenance", 5_000, 7_500, 0.0),
            row(18_000.0, "action", "maintenance", 7_500, 10_000, 20_000.0),
            row(36_000.0, "action", "maintenance", 10_000, 5_000, 100.0),
        ];
        let p = controller_periods(&rows, 86_400.0);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].start_s, p[0].end_s), (14_400.0, 36_000.0));
        assert_eq!(
            p[0].label,
            "controller: maintenance up to 1.00%, taker fee up to 15.0 bp \
             (called for by a forecast ES95 of 10964 USD)"
        );
        // Without the announcement, the action's own forecast names it.
        let p = controller_periods(&rows[2..], 86_400.0);
        assert!(p[0].label.ends_with("ES95 of 0 USD)"), "{}", p[0].label);
    }

    /// The headline says what the paths believed of gaps: nothing without a prior, the
    /// prior's rate when fixed, the range a learned rate moved over.
    #[test]
    fn the_headline_names_the_paths_gap_rate() {
        let with = |lo: f64, hi: f64| crate::controller::ControllerSummary {
            gaps_per_day_min: lo,
            gaps_per_day_max: hi,
            ..Default::default()
        };
        assert_eq!(gap_rate_note(&with(0.0, 0.0)), "");
        assert_eq!(
            gap_rate_note(&with(0.5, 0.5)),
            "; the paths drew gaps at a prior 0.50 a day"
        );
        let learned = gap_rate_note(&with(0.29, 5.127));
        assert!(
            learned.ends_with("between 0.29 and 5.13 a day"),
            "{learned}"
        );
        let detail = controller_row(&with(0.29, 5.127))
            .detail
            .unwrap_or_default();
        assert!(detail.contains("between 0.29 and 5.13 a day"), "{detail}");
    }
}
