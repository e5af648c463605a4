//! The plain data a report is rendered from.
//!
//! The lab fills these structs from a run; this crate never looks at engine or
//! lab types, so everything here is display data: `f64` amounts in USD, seconds
//! since an arbitrary epoch, and preformatted strings.

use serde::{Deserialize, Serialize};

use crate::error::ReportError;

/// Everything one crash-lab run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Page title, e.g. "BTC 12 Mar 2020 replay".
    pub title: String,
    /// Scenario name as given to the lab.
    pub scenario: String,
    /// Run seed; with the scenario it reproduces the run.
    pub seed: u64,
    /// Engine state hash at the end of the run, as hex.
    pub state_hash_hex: String,
    /// Wall-clock time the run took, in seconds.
    pub run_wall_time_s: f64,
    /// Headline numbers, shown at the top of the page and in the console.
    #[serde(default)]
    pub headline: Vec<HeadlineRow>,
    /// Time series sampled on a common clock.
    #[serde(default)]
    pub series: TimeSeries,
    /// One mark per liquidation (or per lab-aggregated batch).
    #[serde(default)]
    pub liquidations: Vec<LiquidationMark>,
    /// Who paid for losses, in waterfall order.
    #[serde(default)]
    pub waterfall: Vec<WaterfallStage>,
    /// Breakers, halts and degraded-oracle intervals.
    #[serde(default)]
    pub periods: Vec<Period>,
    /// Same scenario with mechanisms switched on and off, when the lab ran it.
    #[serde(default)]
    pub comparison: Option<ComparisonTable>,
}

/// One line of the headline table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadlineRow {
    pub label: String,
    /// Already formatted for display (use the `fmt_*` helpers).
    pub value: String,
    #[serde(default)]
    pub detail: Option<String>,
}

impl HeadlineRow {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Names of the columns the standard charts read. Any other column is still
/// drawn, in its own chart under "Other series".
pub mod col {
    pub const OUTSIDE_PRICE: &str = "outside_price";
    pub const ORACLE_PRICE: &str = "oracle_price";
    pub const MARK_PRICE: &str = "mark_price";
    pub const INSURANCE_FUND_USD: &str = "insurance_fund_usd";
    pub const VAULT_EQUITY_USD: &str = "vault_equity_usd";
    pub const VAULT_SHARE_PRICE: &str = "vault_share_price";
    pub const VAULT_INVENTORY_USD: &str = "vault_inventory_usd";
    pub const VAULT_REALIZED_LOSS_USD: &str = "vault_realized_loss_usd";
    pub const VAULT_MARKED_LOSS_USD: &str = "vault_marked_loss_usd";
    pub const OPEN_INTEREST_USD: &str = "open_interest_usd";
    pub const BAD_DEBT_CUM_USD: &str = "bad_debt_cum_usd";

    /// Every column a standard chart consumes.
    pub const STANDARD: [&str; 11] = [
        OUTSIDE_PRICE,
        ORACLE_PRICE,
        MARK_PRICE,
        INSURANCE_FUND_USD,
        VAULT_EQUITY_USD,
        VAULT_SHARE_PRICE,
        VAULT_INVENTORY_USD,
        VAULT_REALIZED_LOSS_USD,
        VAULT_MARKED_LOSS_USD,
        OPEN_INTEREST_USD,
        BAD_DEBT_CUM_USD,
    ];
}

/// Unit strings with special formatting; any other unit is shown verbatim.
pub mod unit {
    /// Axis ticks get a `$` and compact suffixes (k, M, B).
    pub const USD: &str = "USD";
    /// Unitless ratio, e.g. a vault share price relative to its start.
    pub const RATIO: &str = "ratio";
}

/// A named column of values, one per entry of [`TimeSeries::t_s`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Display unit, e.g. "USD", "USD/BTC", "ratio".
    pub unit: String,
    /// Non-finite values (NaN) mean "no data" and break the line.
    pub values: Vec<f64>,
}

/// Columns sampled on one clock. Columns are a list rather than fixed fields so
/// the lab can add a metric without changing this crate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeSeries {
    /// Sample times in seconds, non-decreasing.
    pub t_s: Vec<f64>,
    pub columns: Vec<Column>,
}

impl TimeSeries {
    pub fn new(t_s: Vec<f64>) -> Self {
        Self {
            t_s,
            columns: Vec::new(),
        }
    }

    /// Adds a column, refusing one of the wrong length or a duplicate name, so
    /// misaligned data fails where it is produced rather than in a chart.
    pub fn push_column(
        &mut self,
        name: &str,
        unit: &str,
        values: Vec<f64>,
    ) -> Result<&mut Self, ReportError> {
        if self.column(name).is_some() {
            return Err(ReportError::DuplicateColumn {
                name: name.to_owned(),
            });
        }
        if values.len() != self.t_s.len() {
            return Err(ReportError::ColumnLength {
                name: name.to_owned(),
                len: values.len(),
                expected: self.t_s.len(),
            });
        }
        self.columns.push(Column {
            name: name.to_owned(),
            unit: unit.to_owned(),
            values,
        });
        Ok(self)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn values(&self, name: &str) -> Option<&[f64]> {
        self.column(name).map(|c| c.values.as_slice())
    }

    pub fn outside_price(&self) -> Option<&[f64]> {
        self.values(col::OUTSIDE_PRICE)
    }
    pub fn oracle_price(&self) -> Option<&[f64]> {
        self.values(col::ORACLE_PRICE)
    }
    pub fn mark_price(&self) -> Option<&[f64]> {
        self.values(col::MARK_PRICE)
    }
    pub fn insurance_fund_usd(&self) -> Option<&[f64]> {
        self.values(col::INSURANCE_FUND_USD)
    }
    pub fn vault_equity_usd(&self) -> Option<&[f64]> {
        self.values(col::VAULT_EQUITY_USD)
    }
    pub fn vault_share_price(&self) -> Option<&[f64]> {
        self.values(col::VAULT_SHARE_PRICE)
    }
    pub fn open_interest_usd(&self) -> Option<&[f64]> {
        self.values(col::OPEN_INTEREST_USD)
    }
    pub fn bad_debt_cum_usd(&self) -> Option<&[f64]> {
        self.values(col::BAD_DEBT_CUM_USD)
    }

    /// Columns no standard chart draws, in insertion order.
    pub fn extra_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| !col::STANDARD.contains(&c.name.as_str()))
    }

    /// Seconds from the first sample to the last; 0 for fewer than two samples.
    pub fn duration_s(&self) -> f64 {
        match (self.t_s.first(), self.t_s.last()) {
            (Some(first), Some(last)) if last > first => last - first,
            _ => 0.0,
        }
    }

    /// Every inconsistency, so the page can list them all instead of stopping
    /// at the first (a report of a broken run is still worth reading).
    pub fn problems(&self) -> Vec<ReportError> {
        let mut problems = Vec::new();
        if let Some(index) = self
            .t_s
            .windows(2)
            .position(|w| w[1].partial_cmp(&w[0]).is_none_or(|o| o.is_lt()))
        {
            problems.push(ReportError::TimeDecreasing { index: index + 1 });
        }
        for (i, column) in self.columns.iter().enumerate() {
            if column.values.len() != self.t_s.len() {
                problems.push(ReportError::ColumnLength {
                    name: column.name.clone(),
                    len: column.values.len(),
                    expected: self.t_s.len(),
                });
            }
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                problems.push(ReportError::DuplicateColumn {
                    name: column.name.clone(),
                });
            }
        }
        problems
    }
}

/// One liquidation, placed on the price chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiquidationMark {
    pub t_s: f64,
    /// Price the position was closed at (or the mark at that time).
    pub price: f64,
    pub notional_usd: f64,
    /// Where the loss landed: "book", "vault", "insurance", "adl", "socialized".
    pub stage: String,
}

/// One stage of the loss waterfall and what it absorbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaterfallStage {
    /// E.g. "Own collateral", "Backstop vault", "Insurance fund", "ADL",
    /// "Socialized loss".
    pub stage: String,
    pub amount_usd: f64,
}

/// What kind of interval a [`Period`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Breaker,
    Halt,
    ChainHalt,
    OracleDegraded,
    /// A gap in the historical data the outside price was bridged across.
    DataGap,
    /// The online risk controller held margin or fees above where the run started.
    Controller,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 6] = [
        PeriodKind::Breaker,
        PeriodKind::Halt,
        PeriodKind::ChainHalt,
        PeriodKind::OracleDegraded,
        PeriodKind::DataGap,
        PeriodKind::Controller,
    ];

    pub fn display_name(self) -> &'static str {
        match self {
            PeriodKind::Breaker => "Circuit breaker",
            PeriodKind::Halt => "Venue halt",
            PeriodKind::ChainHalt => "Chain halt",
            PeriodKind::OracleDegraded => "Oracle degraded",
            PeriodKind::DataGap => "Data gap (bridged)",
            PeriodKind::Controller => "Risk controller tightened",
        }
    }
}

/// An interval shaded on every time chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    pub start_s: f64,
    pub end_s: f64,
    pub kind: PeriodKind,
    pub label: String,
}

/// A generic table of preformatted strings, e.g. one row per variant of the
/// scenario with a mechanism switched on or off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparisonTable {
    /// Optional sentence shown above the table.
    #[serde(default)]
    pub caption: Option<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl ComparisonTable {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            caption: None,
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; a row shorter than the header is padded with empty cells
    /// when rendered, a longer one shows all its cells.
    pub fn push_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }
}

impl RunReport {
    /// A report with the identifying fields set and everything else empty.
    pub fn new(title: &str, scenario: &str, seed: u64, state_hash_hex: &str) -> Self {
        Self {
            title: title.to_owned(),
            scenario: scenario.to_owned(),
            seed,
            state_hash_hex: state_hash_hex.to_owned(),
            run_wall_time_s: 0.0,
            headline: Vec::new(),
            series: TimeSeries::default(),
            liquidations: Vec::new(),
            waterfall: Vec::new(),
            periods: Vec::new(),
            comparison: None,
        }
    }

    /// Data problems worth showing on the page; empty for a consistent report.
    pub fn problems(&self) -> Vec<ReportError> {
        let mut problems = self.series.problems();
        for (index, period) in self.periods.iter().enumerate() {
            if period
                .end_s
                .partial_cmp(&period.start_s)
                .is_none_or(|o| o.is_lt())
            {
                problems.push(ReportError::PeriodReversed { index });
            }
        }
        problems
    }
}
