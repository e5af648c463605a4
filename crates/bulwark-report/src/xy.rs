//! Charts of one quantity against another (not against time): scatter plots with optional
//! connecting lines and error bars, for sweep results (loss against margin, bad debt against
//! peak gas) and distributions drawn as empirical CDFs.

use crate::charts::palette;
use crate::svg::{
    fmt_tick, nice_ticks_expanded, text_width_px, Anchor, Scale, SvgWriter, CHART_WIDTH_PX,
};

const MARGIN_LEFT_PX: f64 = 78.0;
const MARGIN_RIGHT_PX: f64 = 24.0;
const MARGIN_BOTTOM_PX: f64 = 44.0;
const LEGEND_TOP_PX: f64 = 14.0;
const LEGEND_ROW_PX: f64 = 18.0;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XyStyle {
    /// Dots only.
    Points,
    /// Dots joined in the order given.
    LinePoints,
    /// A staircase through the points (an empirical CDF), no dots.
    Steps,
}

/// One point, with an optional vertical interval drawn as an error bar.
#[derive(Debug, Clone, PartialEq)]
pub struct XyPoint {
    pub x: f64,
    pub y: f64,
    pub y_interval: Option<(f64, f64)>,
    /// Shown on hover.
    pub tooltip: Option<String>,
}

impl XyPoint {
    pub fn new(x: f64, y: f64) -> XyPoint {
        XyPoint {
            x,
            y,
            y_interval: None,
            tooltip: None,
        }
    }

    pub fn with_interval(mut self, lo: f64, hi: f64) -> XyPoint {
        self.y_interval = Some((lo, hi));
        self
    }

    pub fn with_tooltip(mut self, text: impl Into<String>) -> XyPoint {
        self.tooltip = Some(text.into());
        self
    }
}

/// One series of an [`XyChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct XySeries {
    pub label: String,
    /// `None`: the next colour of [`palette::CYCLE`] after the named ones.
    pub color: Option<&'static str>,
    pub style: XyStyle,
    pub points: Vec<XyPoint>,
}

/// An axis: its title and whether its ticks are USD.
#[derive(Debug, Clone, PartialEq)]
pub struct XyAxis {
    pub title: String,
    pub usd: bool,
    pub include_zero: bool,
}

/// A chart of y against x.
#[derive(Debug, Clone, PartialEq)]
pub struct XyChart {
    pub aria_label: String,
    pub height_px: f64,
    pub x: XyAxis,
    pub y: XyAxis,
    pub series: Vec<XySeries>,
}

const SERIES_COLORS: [&str; 10] = [
    palette::BLUE,
    palette::ORANGE,
    palette::GREEN,
    palette::MAGENTA,
    palette::VIOLET,
    palette::TEAL,
    palette::AMBER,
    palette::GREY,
    palette::BROWN,
    palette::NAVY,
];

fn color_of(series: &XySeries, index: usize) -> &'static str {
    series
        .color
        .unwrap_or(SERIES_COLORS[index % SERIES_COLORS.len()])
}

/// Renders the chart as inline SVG. Non-finite values are left out.
pub fn render_xy_chart(chart: &XyChart) -> String {
    let legend_rows = legend_layout(&chart.series).last().map_or(1, |r| r.1 + 1);
    let top = LEGEND_TOP_PX + legend_rows as f64 * LEGEND_ROW_PX + 6.0;
    let (left, right, bottom) = (
        MARGIN_LEFT_PX,
        CHART_WIDTH_PX - MARGIN_RIGHT_PX,
        chart.height_px - MARGIN_BOTTOM_PX,
    );
    let finite = |v: &f64| v.is_finite();
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .filter(finite);
    let ys = chart
        .series
        .iter()
        .flat_map(|s| {
            s.points.iter().flat_map(|p| {
                let (lo, hi) = p.y_interval.unwrap_or((p.y, p.y));
                [p.y, lo, hi]
            })
        })
        .filter(finite);
    let range = |it: &mut dyn Iterator<Item = f64>, zero: bool| {
        let init = if zero {
            (0.0, 0.0)
        } else {
            (f64::INFINITY, f64::NEG_INFINITY)
        };
        it.fold(init, |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (x_lo, x_hi) = range(&mut { xs }, chart.x.include_zero);
    let (y_lo, y_hi) = range(&mut { ys }, chart.y.include_zero);
    let x_ticks = nice_ticks_expanded(x_lo, x_hi, 8);
    let y_ticks = nice_ticks_expanded(y_lo, y_hi, 5);
    let xs = Scale::new((x_ticks.lo, x_ticks.hi), (left, right));
    let ys = Scale::new((y_ticks.lo, y_ticks.hi), (bottom, top));

    let mut svg = SvgWriter::new(chart.height_px, &chart.aria_label);
    let y_max_abs = y_ticks.lo.abs().max(y_ticks.hi.abs());
    for &v in &y_ticks.values {
        let y = ys.map(v);
        svg.line((left, y), (right, y), "grid");
        svg.line((left - 4.0, y), (left, y), "axis");
        let label = fmt_tick(v, y_ticks.step, y_max_abs, chart.y.usd);
        svg.text((left - 6.0, y + 4.0), Anchor::End, "tick", &label);
    }
    svg.line((left, top), (left, bottom), "axis");
    svg.text_vertical((16.0, (top + bottom) / 2.0), "axis-title", &chart.y.title);
    svg.line((left, bottom), (right, bottom), "axis");
    let x_max_abs = x_ticks.lo.abs().max(x_ticks.hi.abs());
    for &v in &x_ticks.values {
        let x = xs.map(v);
        svg.line((x, bottom), (x, bottom + 4.0), "axis");
        let label = fmt_tick(v, x_ticks.step, x_max_abs, chart.x.usd);
        svg.text((x, bottom + 16.0), Anchor::Middle, "tick", &label);
    }
    svg.text(
        ((left + right) / 2.0, bottom + 36.0),
        Anchor::Middle,
        "axis-title",
        &chart.x.title,
    );
    for (i, s) in chart.series.iter().enumerate() {
        draw_series(&mut svg, s, color_of(s, i), &xs, &ys);
    }
    draw_legend(&mut svg, &chart.series);
    svg.finish()
}

fn draw_series(svg: &mut SvgWriter, s: &XySeries, color: &str, xs: &Scale, ys: &Scale) {
    let pts: Vec<&XyPoint> = s
        .points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let line = format!(r#"stroke="{color}" stroke-width="1.8" stroke-linejoin="round""#);
    match s.style {
        XyStyle::Steps => {
            let mut px = Vec::with_capacity(pts.len() * 2);
            for (i, p) in pts.iter().enumerate() {
                if i > 0 {
                    px.push((xs.map(p.x), ys.map(pts[i - 1].y)));
                }
                px.push((xs.map(p.x), ys.map(p.y)));
            }
            svg.polyline(px, &line);
            return;
        }
        XyStyle::LinePoints => {
            svg.polyline(pts.iter().map(|p| (xs.map(p.x), ys.map(p.y))), &line);
        }
        XyStyle::Points => {}
    }
    let bar = format!(r#"stroke="{color}" stroke-width="1.2""#);
    for p in pts {
        let (x, y) = (xs.map(p.x), ys.map(p.y));
        if let Some((lo, hi)) = p.y_interval {
            if lo.is_finite() && hi.is_finite() {
                let (ylo, yhi) = (ys.map(lo), ys.map(hi));
                svg.raw(&format!(
                    r#"<line x1="{x:.1}" y1="{ylo:.1}" x2="{x:.1}" y2="{yhi:.1}" {bar}/>"#
                ));
                for yy in [ylo, yhi] {
                    svg.raw(&format!(
                        r#"<line x1="{:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" {bar}/>"#,
                        x - 4.0,
                        x + 4.0
                    ));
                }
            }
        }
        let style =
            format!(r#"fill="{color}" fill-opacity="0.8" stroke="white" stroke-width="0.8""#);
        svg.circle((x, y), 3.5, &style, p.tooltip.as_deref());
    }
}

/// (x offset, row) of each legend entry, wrapping at the chart's width.
fn legend_layout(series: &[XySeries]) -> Vec<(f64, usize)> {
    let mut out = Vec::with_capacity(series.len());
    let (mut x, mut row) = (MARGIN_LEFT_PX, 0usize);
    for s in series {
        let w = 22.0 + text_width_px(&s.label) + 18.0;
        if x + w > CHART_WIDTH_PX - MARGIN_RIGHT_PX && x > MARGIN_LEFT_PX {
            x = MARGIN_LEFT_PX;
            row += 1;
        }
        out.push((x, row));
        x += w;
    }
    out
}

fn draw_legend(svg: &mut SvgWriter, series: &[XySeries]) {
    for (i, (s, (x, row))) in series.iter().zip(legend_layout(series)).enumerate() {
        let y = LEGEND_TOP_PX + row as f64 * LEGEND_ROW_PX;
        let color = color_of(s, i);
        svg.raw(&format!(
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"/>"#,
            x + 16.0
        ));
        svg.text((x + 22.0, y + 4.0), Anchor::Start, "legend", &s.label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<XySeries>) -> XyChart {
        XyChart {
            aria_label: "test".into(),
            height_px: 300.0,
            x: XyAxis {
                title: "margin per OI".into(),
                usd: false,
                include_zero: false,
            },
            y: XyAxis {
                title: "loss".into(),
                usd: true,
                include_zero: true,
            },
            series,
        }
    }

    #[test]
    fn draws_points_bars_and_steps_and_skips_non_finite_values() {
        let svg = render_xy_chart(&chart(vec![
            XySeries {
                label: "sets".into(),
                color: None,
                style: XyStyle::Points,
                points: vec![
                    XyPoint::new(0.02, 1e5).with_interval(5e4, 2e5),
                    XyPoint::new(0.04, 5e4),
                    XyPoint::new(f64::NAN, 1.0),
                ],
            },
            XySeries {
                label: "ECDF".into(),
                color: Some(palette::RED),
                style: XyStyle::Steps,
                points: vec![XyPoint::new(0.01, 0.0), XyPoint::new(0.05, 1.0)],
            },
        ]));
        assert_eq!(
            svg.matches("<circle").count(),
            2,
            "the NaN point is left out"
        );
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("margin per OI") && svg.contains("ECDF"));
        assert!(
            svg.contains("$200k") || svg.contains("$250k"),
            "USD ticks on y"
        );
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn an_empty_chart_still_renders_axes() {
        let svg = render_xy_chart(&chart(Vec::new()));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
