//! `timeseries.csv`: a snapshot of the venue every `metrics.sample_every_s`, one value per
//! column of [`SAMPLE_COLUMNS`].
//!
//! The run loop gathers what a sample needs into a [`SampleInputs`] (the engine, the metrics,
//! and a few figures only the loop knows) and [`take`] turns it into a row, so sampling knows
//! nothing of the loop and the output files know nothing of how samples were taken.

use bulwark_engine::{Engine, MarketId, Side};
use bulwark_report::unit;

use crate::metrics::Metrics;
use crate::venue::Venue;
use crate::venue_state;

/// Columns of `timeseries.csv` (after `t_s`), with their report units.
pub const SAMPLE_COLUMNS: [(&str, &str); 24] = [
    ("outside_price", unit::USD),
    ("oracle_price", unit::USD),
    ("mark_price", unit::USD),
    ("insurance_fund_usd", unit::USD),
    ("vault_equity_usd", unit::USD),
    ("vault_share_price", unit::RATIO),
    // Signed notional of what the vault holds at the mark, and its loss against the capital
    // LPs put in: realized (collateral short of that capital) and marked (equity short of it;
    // the difference is the inventory's unrealized PnL).
    ("vault_inventory_usd", unit::USD),
    ("vault_realized_loss_usd", unit::USD),
    ("vault_marked_loss_usd", unit::USD),
    ("open_interest_usd", unit::USD),
    ("bad_debt_cum_usd", unit::USD),
    ("liquidations_cum", "count"),
    ("liquidation_volume_cum_usd", unit::USD),
    ("negative_equity_usd", unit::USD),
    ("accounts_below_maintenance", "count"),
    ("depth_1pct_usd", unit::USD),
    ("mms_quoting", "count"),
    ("gas_gwei", "gwei"),
    ("mempool_txs", "count"),
    ("oracle_lag_s", "s"),
    // LPs' vault withdrawals so far: requested (units of 1e6 shares, and their USD value at
    // the share price when requested) and paid (at the share price when claimed).
    ("lp_requested_units_cum", "units"),
    ("lp_requested_usd_cum", unit::USD),
    ("lp_paid_units_cum", "units"),
    ("lp_paid_usd_cum", unit::USD),
];

/// One snapshot: seconds since the start and one value per column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub t_s: f64,
    pub values: Vec<f64>,
}

/// Every snapshot of a run, with its columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// (name, unit) of each value of a row.
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Sample>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            columns: SAMPLE_COLUMNS.to_vec(),
            rows: Vec::new(),
        }
    }
}

impl Samples {
    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.0 == name)
    }
}

/// What one sample reads.
pub struct SampleInputs<'a> {
    pub t_s: f64,
    pub engine: &'a Engine,
    pub market: MarketId,
    pub metrics: &'a Metrics,
    pub outside_price: f64,
    /// Market makers with quotes in the book.
    pub mms_quoting: usize,
    pub gas_gwei: f64,
    pub mempool_txs: usize,
    pub oracle_lag_s: f64,
}

/// One row, in [`SAMPLE_COLUMNS`] order.
pub fn take(i: &SampleInputs) -> Sample {
    let venue = Venue::new(i.engine, i.market);
    let mark = venue.mark();
    let (vault_equity, share) = venue_state::vault(i.engine);
    let oi_usd = venue.open_interest_lots() as f64 / venue.lots_per_unit() * mark;
    let below = venue.flagged().count() as f64;
    let depth = venue.depth_usd(Side::Buy, mark, 0.01) + venue.depth_usd(Side::Sell, mark, 0.01);
    let m = i.metrics;
    let (vault_collateral, vault_inventory) = venue_state::vault_book(i.engine);
    let capital = m.losses.vault_lp_net_usd;
    let values = vec![
        i.outside_price,
        venue.oracle().unwrap_or(f64::NAN),
        mark,
        venue_state::insurance_fund_usd(i.engine),
        vault_equity,
        share,
        vault_inventory,
        capital - vault_collateral,
        capital - vault_equity,
        oi_usd,
        m.losses.bad_debt_usd,
        m.liquidations.records.len() as f64,
        m.liquidations.volume_usd,
        venue_state::negative_equity_usd(i.engine),
        below,
        depth,
        i.mms_quoting as f64,
        i.gas_gwei,
        i.mempool_txs as f64,
        i.oracle_lag_s,
        m.lp_flows.requested.units,
        m.lp_flows.requested.usd,
        m.lp_flows.paid.units,
        m.lp_flows.paid.usd,
    ];
    debug_assert_eq!(values.len(), SAMPLE_COLUMNS.len());
    Sample { t_s: i.t_s, values }
}
