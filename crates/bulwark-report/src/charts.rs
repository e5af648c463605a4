//! The report's charts: time charts (lines on one or two y axes, shaded
//! periods, liquidation marks) and the loss-waterfall bar.

use std::collections::BTreeMap;

use crate::downsample::downsample_segments;
use crate::format::{fmt_duration_s, fmt_number, fmt_pct, fmt_usd, fmt_usd_compact};
use crate::model::{LiquidationMark, Period, PeriodKind, WaterfallStage};
use crate::svg::{
    fmt_tick, nice_ticks_expanded, nice_ticks_within, text_width_px, Anchor, Scale, SvgWriter,
    Ticks, CHART_WIDTH_PX,
};

const SECONDS_PER_HOUR: f64 = 3_600.0;
const MARGIN_LEFT_PX: f64 = 78.0;
const MARGIN_RIGHT_AXIS_PX: f64 = 78.0;
const MARGIN_RIGHT_PLAIN_PX: f64 = 24.0;
const MARGIN_BOTTOM_PX: f64 = 44.0;
const LEGEND_ROW_PX: f64 = 18.0;
const LEGEND_TOP_PX: f64 = 14.0;
/// Liquidations closer than this on screen are drawn as one marker, which
/// keeps a day with 100,000 liquidations to a bounded page size.
const MARK_CELL_PX: f64 = 4.0;
const MARK_MIN_RADIUS_PX: f64 = 2.5;
const MARK_MAX_RADIUS_PX: f64 = 9.0;

/// Colours chosen to stay distinguishable for the common colour-vision
/// deficiencies when paired with dashes and position.
pub mod palette {
    pub const GREY: &str = "#495057";
    pub const LIGHT_GREY: &str = "#868e96";
    pub const BLUE: &str = "#1971c2";
    pub const ORANGE: &str = "#f76707";
    pub const AMBER: &str = "#e8a200";
    pub const GREEN: &str = "#2b8a3e";
    pub const MAGENTA: &str = "#c2255c";
    pub const RED: &str = "#e03131";
    pub const VIOLET: &str = "#7048e8";
    pub const TEAL: &str = "#0c8599";
    pub const BROWN: &str = "#8c5a2b";
    pub const NAVY: &str = "#1b2a59";
    /// For stages and extra series without a colour of their own.
    pub const CYCLE: [&str; 6] = [TEAL, VIOLET, "#862e9c", "#5c940d", "#a61e4d", GREY];
}

/// Colour of a liquidation or waterfall stage, matched on its name so that
/// "Insurance fund" in the waterfall and "insurance" on the price chart agree.
pub fn stage_color(stage: &str) -> &'static str {
    let name = stage.to_ascii_lowercase();
    let known = [
        ("book", palette::GREEN),
        ("own", palette::GREEN),
        ("collateral", palette::GREEN),
        ("vault", palette::BLUE),
        ("backstop", palette::BLUE),
        ("insurance", palette::AMBER),
        ("adl", palette::MAGENTA),
        ("delever", palette::MAGENTA),
        ("social", palette::RED),
    ];
    if let Some((_, color)) = known.iter().find(|(key, _)| name.contains(key)) {
        return color;
    }
    // Stable across runs: a stage keeps its colour whatever else is present.
    let hash = name
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    palette::CYCLE[hash % palette::CYCLE.len()]
}

/// Position of a liquidation stage in the loss waterfall, so legends list
/// stages in the order losses escalate; unknown stages go last.
fn waterfall_rank(stage: &str) -> usize {
    const ORDER: [&str; 5] = ["book", "vault", "insurance", "adl", "social"];
    let name = stage.to_ascii_lowercase();
    ORDER
        .iter()
        .position(|key| name.contains(key))
        .unwrap_or(ORDER.len())
}

fn period_fill(kind: PeriodKind) -> (&'static str, f64) {
    match kind {
        PeriodKind::Breaker => ("#fab005", 0.22),
        PeriodKind::Halt => (palette::RED, 0.16),
        PeriodKind::ChainHalt => (palette::VIOLET, 0.16),
        PeriodKind::OracleDegraded => ("#868e96", 0.22),
        PeriodKind::DataGap => ("#1098ad", 0.2),
        PeriodKind::Controller => ("#2f9e44", 0.14),
    }
}

/// Which y axis a line is read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// One line of a time chart.
pub struct Line<'a> {
    pub label: String,
    pub values: &'a [f64],
    pub color: &'static str,
    pub dashed: bool,
    pub width_px: f64,
    pub side: Side,
}

/// How a y axis is titled and labelled.
pub struct AxisSpec {
    pub title: String,
    /// Ticks get "$" and k/M/B suffixes.
    pub usd: bool,
    /// Balances are read against zero (is the fund empty?); prices are not.
    pub include_zero: bool,
}

/// Everything one time chart draws.
pub struct TimeChart<'a> {
    pub aria_label: String,
    pub height_px: f64,
    pub t_s: &'a [f64],
    /// Shown x range in seconds; shared by all charts so they line up.
    pub window_s: (f64, f64),
    pub lines: Vec<Line<'a>>,
    pub left: AxisSpec,
    pub right: Option<AxisSpec>,
    pub marks: &'a [LiquidationMark],
    pub periods: &'a [Period],
}

/// Plot-area rectangle in pixels.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn width(&self) -> f64 {
        self.right - self.left
    }
    fn height(&self) -> f64 {
        self.bottom - self.top
    }
}

enum Swatch {
    Line { color: &'static str, dashed: bool },
    Dot { color: &'static str },
    Band { fill: &'static str, opacity: f64 },
}

struct LegendItem {
    swatch: Swatch,
    label: String,
}

/// Liquidations that fall in the same screen cell and stage, merged.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkCluster {
    /// Notional-weighted mean time and price of the merged marks.
    pub t_s: f64,
    pub price: f64,
    pub notional_usd: f64,
    pub count: usize,
    pub stage: String,
}

#[derive(Default)]
struct ClusterSum {
    weighted_t: f64,
    weighted_price: f64,
    weight: f64,
    notional_usd: f64,
    count: usize,
}

/// Merges liquidations of one stage that fall in the same `t_cell_s` by
/// `price_cell` cell, largest notional first (so small markers are drawn last,
/// on top). Non-finite marks are dropped.
pub fn cluster_marks(
    marks: &[LiquidationMark],
    t_cell_s: f64,
    price_cell: f64,
) -> Vec<MarkCluster> {
    let mut cells: BTreeMap<(&str, i64, i64), ClusterSum> = BTreeMap::new();
    for mark in marks {
        if !(mark.t_s.is_finite() && mark.price.is_finite()) {
            continue;
        }
        let cell_index = |v: f64, cell: f64| {
            if cell > 0.0 {
                (v / cell).floor() as i64
            } else {
                0
            }
        };
        let key = (
            mark.stage.as_str(),
            cell_index(mark.t_s, t_cell_s),
            cell_index(mark.price, price_cell),
        );
        let sum = cells.entry(key).or_default();
        let notional_usd = if mark.notional_usd.is_finite() {
            mark.notional_usd.abs()
        } else {
            0.0
        };
        // Weight by notional, but give every mark a floor so zero-notional
        // marks still have a position.
        let weight = notional_usd.max(1e-9);
        sum.weighted_t += mark.t_s * weight;
        sum.weighted_price += mark.price * weight;
        sum.weight += weight;
        sum.notional_usd += notional_usd;
        sum.count += 1;
    }
    let mut clusters: Vec<MarkCluster> = cells
        .into_iter()
        .map(|((stage, _, _), sum)| MarkCluster {
            t_s: sum.weighted_t / sum.weight,
            price: sum.weighted_price / sum.weight,
            notional_usd: sum.notional_usd,
            count: sum.count,
            stage: stage.to_owned(),
        })
        .collect();
    clusters.sort_by(|a, b| b.notional_usd.total_cmp(&a.notional_usd));
    clusters
}

/// Renders one time chart as an `<svg>` element.
pub fn render_time_chart(chart: &TimeChart) -> String {
    let legend = legend_items(chart);
    let legend_rows = legend_row_count(&legend);
    let frame = Frame {
        left: MARGIN_LEFT_PX,
        right: CHART_WIDTH_PX
            - if chart.right.is_some() {
                MARGIN_RIGHT_AXIS_PX
            } else {
                MARGIN_RIGHT_PLAIN_PX
            },
        top: LEGEND_TOP_PX + legend_rows as f64 * LEGEND_ROW_PX + 6.0,
        bottom: chart.height_px - MARGIN_BOTTOM_PX,
    };
    let window_h = (
        0.0,
        (chart.window_s.1 - chart.window_s.0).max(0.0) / SECONDS_PER_HOUR,
    );
    let xs_h: Vec<f64> = chart
        .t_s
        .iter()
        .map(|t| (t - chart.window_s.0) / SECONDS_PER_HOUR)
        .collect();
    // One bucket per pixel column: the finest detail the chart can show.
    let n_buckets = frame.width() as usize;
    let segments: Vec<Vec<Vec<(f64, f64)>>> = chart
        .lines
        .iter()
        .map(|line| downsample_segments(&xs_h, line.values, n_buckets))
        .collect();

    let x_ticks = nice_ticks_within(window_h.0, window_h.1, 10);
    let x_scale = Scale::new((x_ticks.lo, x_ticks.hi), (frame.left, frame.right));
    let mark_prices = chart.marks.iter().map(|m| m.price);
    let left_ticks = y_ticks(chart, &segments, Side::Left, mark_prices);
    let right_ticks = chart
        .right
        .as_ref()
        .map(|_| y_ticks(chart, &segments, Side::Right, std::iter::empty()));
    let y_scale = |ticks: &Ticks| Scale::new((ticks.lo, ticks.hi), (frame.bottom, frame.top));

    let mut svg = SvgWriter::new(chart.height_px, &chart.aria_label);
    draw_periods(&mut svg, chart, frame, &x_scale);
    draw_y_axis(&mut svg, frame, &left_ticks, &chart.left, Side::Left);
    if let (Some(spec), Some(ticks)) = (&chart.right, &right_ticks) {
        draw_y_axis(&mut svg, frame, ticks, spec, Side::Right);
    }
    draw_x_axis(&mut svg, frame, &x_ticks, &x_scale);
    for (line, line_segments) in chart.lines.iter().zip(&segments) {
        let ticks = match (line.side, &right_ticks) {
            (Side::Right, Some(ticks)) => ticks,
            _ => &left_ticks,
        };
        draw_line(&mut svg, line, line_segments, &x_scale, &y_scale(ticks));
    }
    draw_marks(&mut svg, chart, frame, &x_scale, &y_scale(&left_ticks));
    draw_legend(&mut svg, &legend);
    svg.finish()
}

/// Nice ticks over every finite value drawn against `side`, plus `extra`
/// values (liquidation prices) that must also fit.
fn y_ticks(
    chart: &TimeChart,
    segments: &[Vec<Vec<(f64, f64)>>],
    side: Side,
    extra: impl Iterator<Item = f64>,
) -> Ticks {
    let spec = match side {
        Side::Right => chart.right.as_ref().unwrap_or(&chart.left),
        Side::Left => &chart.left,
    };
    let drawn = chart
        .lines
        .iter()
        .zip(segments)
        .filter(|(line, _)| line.side == side)
        .flat_map(|(_, segs)| segs.iter().flatten().map(|p| p.1));
    let zero = spec.include_zero.then_some(0.0);
    let (min, max) = drawn
        .chain(extra.filter(|v| v.is_finite()))
        .chain(zero)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    nice_ticks_expanded(min, max, 5)
}

fn legend_items(chart: &TimeChart) -> Vec<LegendItem> {
    let mut items: Vec<LegendItem> = chart
        .lines
        .iter()
        .map(|line| LegendItem {
            swatch: Swatch::Line {
                color: line.color,
                dashed: line.dashed,
            },
            label: match (line.side, chart.right.is_some()) {
                (Side::Right, true) => format!("{} (right axis)", line.label),
                _ => line.label.clone(),
            },
        })
        .collect();
    let mut stages: Vec<&str> = chart.marks.iter().map(|m| m.stage.as_str()).collect();
    stages.sort_unstable_by_key(|stage| (waterfall_rank(stage), *stage));
    stages.dedup();
    items.extend(stages.into_iter().map(|stage| LegendItem {
        swatch: Swatch::Dot {
            color: stage_color(stage),
        },
        label: format!("liquidation: {stage}"),
    }));
    items.extend(
        PeriodKind::ALL
            .into_iter()
            .filter(|kind| chart.periods.iter().any(|p| p.kind == *kind))
            .map(|kind| {
                let (fill, opacity) = period_fill(kind);
                LegendItem {
                    swatch: Swatch::Band { fill, opacity },
                    label: kind.display_name().to_owned(),
                }
            }),
    );
    items
}

const LEGEND_SWATCH_PX: f64 = 22.0;
const LEGEND_GAP_PX: f64 = 18.0;

fn legend_item_width(item: &LegendItem) -> f64 {
    LEGEND_SWATCH_PX + 6.0 + text_width_px(&item.label) + LEGEND_GAP_PX
}

/// Positions (x, row) of legend items, wrapping at the chart width.
fn legend_layout(items: &[LegendItem]) -> Vec<(f64, usize)> {
    let max_x = CHART_WIDTH_PX - MARGIN_RIGHT_PLAIN_PX;
    let mut positions = Vec::with_capacity(items.len());
    let (mut x, mut row) = (MARGIN_LEFT_PX, 0);
    for item in items {
        let width = legend_item_width(item);
        if x + width > max_x && x > MARGIN_LEFT_PX {
            x = MARGIN_LEFT_PX;
            row += 1;
        }
        positions.push((x, row));
        x += width;
    }
    positions
}

fn legend_row_count(items: &[LegendItem]) -> usize {
    legend_layout(items).last().map_or(0, |&(_, row)| row + 1)
}

fn draw_legend(svg: &mut SvgWriter, items: &[LegendItem]) {
    for (item, (x, row)) in items.iter().zip(legend_layout(items)) {
        let y = LEGEND_TOP_PX + row as f64 * LEGEND_ROW_PX;
        match item.swatch {
            Swatch::Line { color, dashed } => {
                let dash = if dashed {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                };
                svg.raw(&format!(
                    r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2.5"{dash}/>"#,
                    x + LEGEND_SWATCH_PX
                ));
            }
            Swatch::Dot { color } => svg.circle(
                (x + LEGEND_SWATCH_PX / 2.0, y),
                5.0,
                &format!(r#"fill="{color}" fill-opacity="0.8""#),
                None,
            ),
            Swatch::Band { fill, opacity } => svg.rect(
                (x + 3.0, y - 6.0),
                (LEGEND_SWATCH_PX - 6.0, 12.0),
                &format!(
                    r#"fill="{fill}" fill-opacity="{:.2}" stroke="{fill}""#,
                    opacity * 2.0
                ),
                None,
            ),
        }
        svg.text(
            (x + LEGEND_SWATCH_PX + 6.0, y + 4.0),
            Anchor::Start,
            "legend",
            &item.label,
        );
    }
}

fn draw_periods(svg: &mut SvgWriter, chart: &TimeChart, frame: Frame, x_scale: &Scale) {
    let to_h = |t_s: f64| (t_s - chart.window_s.0) / SECONDS_PER_HOUR;
    for period in chart.periods {
        let x0 = x_scale.map(to_h(period.start_s)).max(frame.left);
        let x1 = x_scale.map(to_h(period.end_s)).min(frame.right);
        if !(x0.is_finite() && x1.is_finite()) || x1 < x0 {
            continue;
        }
        // A zero-length halt still deserves a visible sliver.
        let width = (x1 - x0).max(1.5);
        let (fill, opacity) = period_fill(period.kind);
        let tooltip = format!(
            "{}: {} ({} from {} h)",
            period.kind.display_name(),
            period.label,
            fmt_duration_s(period.end_s - period.start_s),
            fmt_number(to_h(period.start_s), 2),
        );
        svg.rect(
            (x0, frame.top),
            (width, frame.height()),
            &format!(r#"fill="{fill}" fill-opacity="{opacity:.2}""#),
            Some(&tooltip),
        );
        if !period.label.is_empty() && text_width_px(&period.label) + 6.0 <= width {
            svg.text(
                (x0 + 3.0, frame.top + 12.0),
                Anchor::Start,
                "band-label",
                &period.label,
            );
        }
    }
}

fn draw_y_axis(svg: &mut SvgWriter, frame: Frame, ticks: &Ticks, spec: &AxisSpec, side: Side) {
    let scale = Scale::new((ticks.lo, ticks.hi), (frame.bottom, frame.top));
    let max_abs_tick = ticks.lo.abs().max(ticks.hi.abs());
    let (axis_x, label_x, anchor, title_x) = match side {
        Side::Left => (frame.left, frame.left - 6.0, Anchor::End, 16.0),
        Side::Right => (
            frame.right,
            frame.right + 6.0,
            Anchor::Start,
            CHART_WIDTH_PX - 10.0,
        ),
    };
    for &value in &ticks.values {
        let y = scale.map(value);
        // Grid lines only for the left axis; two grids would be unreadable.
        if side == Side::Left {
            svg.line((frame.left, y), (frame.right, y), "grid");
        }
        let tick_end = if side == Side::Left {
            axis_x - 4.0
        } else {
            axis_x + 4.0
        };
        svg.line((axis_x, y), (tick_end, y), "axis");
        svg.text(
            (label_x, y + 4.0),
            anchor,
            "tick",
            &fmt_tick(value, ticks.step, max_abs_tick, spec.usd),
        );
    }
    svg.line((axis_x, frame.top), (axis_x, frame.bottom), "axis");
    svg.text_vertical(
        (title_x, (frame.top + frame.bottom) / 2.0),
        "axis-title",
        &spec.title,
    );
}

fn draw_x_axis(svg: &mut SvgWriter, frame: Frame, ticks: &Ticks, scale: &Scale) {
    svg.line(
        (frame.left, frame.bottom),
        (frame.right, frame.bottom),
        "axis",
    );
    for &value in &ticks.values {
        let x = scale.map(value);
        svg.line((x, frame.bottom), (x, frame.bottom + 4.0), "axis");
        svg.text(
            (x, frame.bottom + 16.0),
            Anchor::Middle,
            "tick",
            &fmt_tick(value, ticks.step, 0.0, false),
        );
    }
    svg.text(
        ((frame.left + frame.right) / 2.0, frame.bottom + 36.0),
        Anchor::Middle,
        "axis-title",
        "Time since start (hours)",
    );
}

fn draw_line(svg: &mut SvgWriter, line: &Line, segments: &[Vec<(f64, f64)>], x: &Scale, y: &Scale) {
    let dash = if line.dashed {
        r#" stroke-dasharray="6 3""#
    } else {
        ""
    };
    let style = format!(
        r#"stroke="{}" stroke-width="{:.1}" stroke-linejoin="round"{dash}"#,
        line.color, line.width_px
    );
    for segment in segments {
        svg.polyline(segment.iter().map(|&(h, v)| (x.map(h), y.map(v))), &style);
    }
}

fn draw_marks(svg: &mut SvgWriter, chart: &TimeChart, frame: Frame, x: &Scale, y: &Scale) {
    if chart.marks.is_empty() {
        return;
    }
    let seconds_per_px = (chart.window_s.1 - chart.window_s.0) / frame.width();
    let price_per_px = (y.domain.1 - y.domain.0) / frame.height();
    let clusters = cluster_marks(
        chart.marks,
        seconds_per_px * MARK_CELL_PX,
        price_per_px * MARK_CELL_PX,
    );
    let max_notional_usd = clusters.iter().map(|c| c.notional_usd).fold(0.0, f64::max);
    for cluster in &clusters {
        let hours = (cluster.t_s - chart.window_s.0) / SECONDS_PER_HOUR;
        let center = (x.map(hours), y.map(cluster.price));
        if center.0 < frame.left - 0.5 || center.0 > frame.right + 0.5 {
            continue; // outside the run window
        }
        let size = if max_notional_usd > 0.0 {
            (cluster.notional_usd / max_notional_usd).sqrt()
        } else {
            0.0
        };
        // Area, not radius, is proportional to notional.
        let radius = MARK_MIN_RADIUS_PX + (MARK_MAX_RADIUS_PX - MARK_MIN_RADIUS_PX) * size;
        let tooltip = format!(
            "{} liquidation{} ({}) at {} h, price {}: {}",
            cluster.count,
            if cluster.count == 1 { "" } else { "s" },
            cluster.stage,
            fmt_number(hours, 2),
            fmt_number(cluster.price, 2),
            fmt_usd(cluster.notional_usd),
        );
        svg.circle(
            center,
            radius,
            &format!(
                r##"fill="{}" fill-opacity="0.7" stroke="#fff" stroke-width="0.6""##,
                stage_color(&cluster.stage)
            ),
            Some(&tooltip),
        );
    }
}

const WATERFALL_BAR_TOP_PX: f64 = 12.0;
const WATERFALL_BAR_HEIGHT_PX: f64 = 40.0;
const WATERFALL_ROW_PX: f64 = 22.0;

/// The loss waterfall as one stacked horizontal bar (segment width is the
/// share of the total loss each stage absorbed) over a labelled list.
pub fn render_waterfall(stages: &[WaterfallStage]) -> String {
    let left = MARGIN_RIGHT_PLAIN_PX;
    let bar_width = CHART_WIDTH_PX - 2.0 * left;
    let list_top = WATERFALL_BAR_TOP_PX + WATERFALL_BAR_HEIGHT_PX + 30.0;
    let height = list_top + (stages.len() + 1) as f64 * WATERFALL_ROW_PX + 8.0;
    let total_usd: f64 = stages
        .iter()
        .map(|s| s.amount_usd)
        .filter(|a| a.is_finite() && *a > 0.0)
        .sum();

    let mut svg = SvgWriter::new(height, "Loss waterfall: who absorbed the losses");
    if total_usd > 0.0 {
        draw_waterfall_bar(&mut svg, stages, total_usd, left, bar_width);
    } else {
        svg.rect(
            (left, WATERFALL_BAR_TOP_PX),
            (bar_width, WATERFALL_BAR_HEIGHT_PX),
            r##"fill="#f1f3f5" stroke="#ced4da""##,
            None,
        );
        svg.text(
            (left + bar_width / 2.0, WATERFALL_BAR_TOP_PX + 25.0),
            Anchor::Middle,
            "legend",
            "No loss reached the waterfall",
        );
    }
    draw_waterfall_list(&mut svg, stages, total_usd, left, list_top);
    svg.finish()
}

fn draw_waterfall_bar(
    svg: &mut SvgWriter,
    stages: &[WaterfallStage],
    total_usd: f64,
    left: f64,
    bar_width: f64,
) {
    let mut x = left;
    for stage in stages {
        if !(stage.amount_usd.is_finite() && stage.amount_usd > 0.0) {
            continue;
        }
        let share = stage.amount_usd / total_usd;
        let width = share * bar_width;
        let tooltip = format!(
            "{}: {} ({})",
            stage.stage,
            fmt_usd(stage.amount_usd),
            fmt_pct(share)
        );
        svg.rect(
            (x, WATERFALL_BAR_TOP_PX),
            (width, WATERFALL_BAR_HEIGHT_PX),
            &format!(
                r##"fill="{}" stroke="#fff" stroke-width="1""##,
                stage_color(&stage.stage)
            ),
            Some(&tooltip),
        );
        let label = fmt_usd_compact(stage.amount_usd);
        if text_width_px(&label) + 10.0 <= width {
            svg.text(
                (x + width / 2.0, WATERFALL_BAR_TOP_PX + 25.0),
                Anchor::Middle,
                "bar-label",
                &label,
            );
        }
        x += width;
    }
}

fn draw_waterfall_list(
    svg: &mut SvgWriter,
    stages: &[WaterfallStage],
    total_usd: f64,
    left: f64,
    top: f64,
) {
    const AMOUNT_RIGHT_PX: f64 = 420.0;
    const SHARE_RIGHT_PX: f64 = 520.0;
    svg.text(
        (left, top - 8.0),
        Anchor::Start,
        "axis-title",
        "Stage (in waterfall order)",
    );
    svg.text(
        (AMOUNT_RIGHT_PX, top - 8.0),
        Anchor::End,
        "axis-title",
        "Absorbed",
    );
    svg.text(
        (SHARE_RIGHT_PX, top - 8.0),
        Anchor::End,
        "axis-title",
        "Share",
    );
    for (i, stage) in stages.iter().enumerate() {
        let y = top + (i as f64 + 0.5) * WATERFALL_ROW_PX;
        svg.rect(
            (left, y - 7.0),
            (14.0, 14.0),
            &format!(r#"fill="{}""#, stage_color(&stage.stage)),
            None,
        );
        svg.text(
            (left + 22.0, y + 4.0),
            Anchor::Start,
            "legend",
            &stage.stage,
        );
        svg.text(
            (AMOUNT_RIGHT_PX, y + 4.0),
            Anchor::End,
            "num",
            &fmt_usd(stage.amount_usd),
        );
        let share = if total_usd > 0.0 {
            fmt_pct(stage.amount_usd / total_usd)
        } else {
            "–".to_owned()
        };
        svg.text((SHARE_RIGHT_PX, y + 4.0), Anchor::End, "num", &share);
    }
    let y = top + (stages.len() as f64 + 0.5) * WATERFALL_ROW_PX;
    svg.line((left, y - 11.0), (SHARE_RIGHT_PX, y - 11.0), "axis");
    svg.text((left + 22.0, y + 4.0), Anchor::Start, "total", "Total loss");
    svg.text(
        (AMOUNT_RIGHT_PX, y + 4.0),
        Anchor::End,
        "total",
        &fmt_usd(total_usd),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(t_s: f64, price: f64, notional_usd: f64, stage: &str) -> LiquidationMark {
        LiquidationMark {
            t_s,
            price,
            notional_usd,
            stage: stage.to_owned(),
        }
    }

    #[test]
    fn nearby_marks_of_one_stage_merge_and_keep_their_total() {
        let marks = [
            mark(10.0, 100.0, 1_000.0, "book"),
            mark(11.0, 100.5, 3_000.0, "book"),
            mark(10.5, 100.2, 500.0, "adl"),
            mark(500.0, 90.0, 200.0, "book"),
            mark(f64::NAN, 90.0, 1e9, "book"),
        ];
        let clusters = cluster_marks(&marks, 60.0, 5.0);
        assert_eq!(clusters.len(), 3);
        let merged = &clusters[0];
        assert_eq!((merged.count, merged.notional_usd), (2, 4_000.0));
        assert_eq!(merged.stage, "book");
        assert!(
            (merged.t_s - 10.75).abs() < 1e-9,
            "weighted mean time: {}",
            merged.t_s
        );
        assert!(clusters
            .windows(2)
            .all(|w| w[0].notional_usd >= w[1].notional_usd));
    }

    #[test]
    fn many_marks_collapse_to_a_bounded_count() {
        let marks: Vec<LiquidationMark> = (0..100_000)
            .map(|i| mark(i as f64, 100.0 + (i % 50) as f64, 10.0, "vault"))
            .collect();
        // 100 time cells by 10 price cells at most.
        let clusters = cluster_marks(&marks, 1_000.0, 5.0);
        assert!(clusters.len() <= 1_000, "{}", clusters.len());
        assert_eq!(clusters.iter().map(|c| c.count).sum::<usize>(), 100_000);
    }

    #[test]
    fn stage_colours_agree_between_waterfall_and_marks() {
        assert_eq!(stage_color("insurance"), stage_color("Insurance fund"));
        assert_eq!(stage_color("vault"), stage_color("Backstop vault"));
        assert_eq!(stage_color("adl"), stage_color("ADL"));
        assert_eq!(stage_color("socialized"), stage_color("Socialized loss"));
        assert_eq!(stage_color("mystery"), stage_color("Mystery"));
    }

    #[test]
    fn stages_rank_in_waterfall_order() {
        let mut stages = ["socialized", "zeta", "adl", "book", "insurance", "vault"];
        stages.sort_by_key(|s| waterfall_rank(s));
        assert_eq!(
            stages,
            ["book", "vault", "insurance", "adl", "socialized", "zeta"]
        );
    }

    #[test]
    fn waterfall_labels_every_stage_and_the_total() {
        let stages = [
            WaterfallStage {
                stage: "Own collateral".into(),
                amount_usd: 750_000.0,
            },
            WaterfallStage {
                stage: "Insurance fund".into(),
                amount_usd: 250_000.0,
            },
            WaterfallStage {
                stage: "ADL".into(),
                amount_usd: 0.0,
            },
        ];
        let svg = render_waterfall(&stages);
        for text in [
            "Own collateral",
            "$750,000",
            "75.00%",
            "$250,000",
            "ADL",
            "$0.00",
            "$1,000,000",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    #[test]
    fn empty_waterfall_says_so() {
        assert!(render_waterfall(&[]).contains("No loss reached the waterfall"));
    }
}
