//! A small SVG writer: scales, "nice" ticks, and the handful of shapes the
//! charts need. Written by hand rather than with plotters so the output is
//! compact, deterministic, styled by the page's CSS (fonts come from the
//! reader's system, nothing is embedded or fetched) and can shade intervals,
//! draw a second y axis and label a stacked bar without fighting a layout
//! engine.

use std::fmt::Write as _;

use crate::format::fmt_number;
use crate::html::escape_html;

/// Width of every chart's coordinate system; the page scales it to fit.
pub const CHART_WIDTH_PX: f64 = 960.0;
/// Rough width of one character of the 11 px chart font, for layout only.
pub const CHAR_WIDTH_PX: f64 = 6.4;

/// Maps a data interval onto a pixel interval, linearly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub domain: (f64, f64),
    pub range_px: (f64, f64),
}

impl Scale {
    pub fn new(domain: (f64, f64), range_px: (f64, f64)) -> Self {
        Self { domain, range_px }
    }

    pub fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range_px;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// A tick step of 1, 2 or 5 times a power of ten giving about `target_ticks`
/// intervals over `span` (people read 0, 5, 10 faster than 0, 3.7, 7.4).
pub fn nice_step(span: f64, target_ticks: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / target_ticks.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Axis bounds and ticks at multiples of a nice step.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
    pub values: Vec<f64>,
}

/// Widens `[min, max]` outward to whole steps, so the data never touches an
/// unlabelled edge. A flat or empty range is padded so it still has a height.
pub fn nice_ticks_expanded(min: f64, max: f64, target_ticks: usize) -> Ticks {
    let (min, max) = padded_range(min, max);
    let step = nice_step(max - min, target_ticks);
    let lo = (min / step).floor() * step;
    let hi = (max / step).ceil() * step;
    Ticks {
        lo,
        hi,
        step,
        values: multiples_between(lo, hi, step),
    }
}

/// Ticks inside `[min, max]` without moving the bounds (for the time axis,
/// which should start and end with the run).
pub fn nice_ticks_within(min: f64, max: f64, target_ticks: usize) -> Ticks {
    let (min, max) = padded_range(min, max);
    let step = nice_step(max - min, target_ticks);
    Ticks {
        lo: min,
        hi: max,
        step,
        values: multiples_between(min, max, step),
    }
}

fn padded_range(min: f64, max: f64) -> (f64, f64) {
    if !(min.is_finite() && max.is_finite()) || min > max {
        return (0.0, 1.0);
    }
    if max > min {
        return (min, max);
    }
    let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.05 };
    (min - pad, max + pad)
}

/// Multiples of `step` in `[lo, hi]`, computed from integers so that
/// accumulated float error never adds or drops a tick.
fn multiples_between(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            if v == 0.0 {
                0.0 // no "-0"
            } else {
                v
            }
        })
        .collect()
}

/// Decimals needed to tell ticks `step` apart.
pub fn decimals_for_step(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    (-step.log10() + 1e-9).ceil().clamp(0.0, 8.0) as usize
}

/// Formats one axis tick. All ticks of an axis share `scale_of_axis` (from its
/// largest tick) so an axis never mixes "900" and "1.2k".
pub fn fmt_tick(value: f64, step: f64, max_abs_tick: f64, usd: bool) -> String {
    // (divisor, suffix, smallest axis maximum that uses it): "k" only from
    // 10,000 up, since "$2,000" reads better than "$2k"; "$1.5B" beats "$1,500M".
    const SCALES: [(f64, &str, f64); 3] = [(1e9, "B", 1e9), (1e6, "M", 1e6), (1e3, "k", 1e4)];
    let dollar = if usd { "$" } else { "" };
    if value == 0.0 {
        return format!("{dollar}0");
    }
    let (divisor, suffix) = SCALES
        .iter()
        .copied()
        .find(|&(_, _, from)| max_abs_tick >= from)
        .map_or((1.0, ""), |(divisor, suffix, _)| (divisor, suffix));
    let digits = fmt_number(value.abs() / divisor, decimals_for_step(step / divisor));
    let sign = if value < 0.0 && digits.chars().any(|c| matches!(c, '1'..='9')) {
        "-"
    } else {
        ""
    };
    format!("{sign}{dollar}{digits}{suffix}")
}

/// Estimated rendered width of a label in the chart font.
pub fn text_width_px(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH_PX
}

/// Text anchoring, as SVG's `text-anchor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// Accumulates the markup of one `<svg>` element.
pub struct SvgWriter {
    buf: String,
}

// Writing into a String cannot fail, so the `fmt::Result`s below are dropped.
impl SvgWriter {
    /// Opens an SVG sized to the page width with a fixed coordinate system.
    /// No `xmlns`: inline SVG in HTML does not need it, and the page must
    /// contain no URLs at all.
    pub fn new(height_px: f64, aria_label: &str) -> Self {
        let mut buf = String::with_capacity(64 * 1024);
        let _ = write!(
            buf,
            r#"<svg class="chart" viewBox="0 0 {w} {h:.0}" width="100%" role="img" aria-label="{label}">"#,
            w = CHART_WIDTH_PX,
            h = height_px,
            label = escape_html(aria_label),
        );
        Self { buf }
    }

    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }

    pub fn raw(&mut self, markup: &str) {
        self.buf.push_str(markup);
    }

    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), class: &str) {
        let _ = write!(
            self.buf,
            r#"<line class="{class}" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            from.0, from.1, to.0, to.1
        );
    }

    /// A rectangle; `tooltip` becomes a native hover title.
    pub fn rect(
        &mut self,
        origin: (f64, f64),
        size: (f64, f64),
        style: &str,
        tooltip: Option<&str>,
    ) {
        let _ = write!(
            self.buf,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" {style}"#,
            origin.0,
            origin.1,
            size.0.max(0.0),
            size.1.max(0.0)
        );
        self.close_with_tooltip("rect", tooltip);
    }

    pub fn circle(
        &mut self,
        center: (f64, f64),
        radius_px: f64,
        style: &str,
        tooltip: Option<&str>,
    ) {
        let _ = write!(
            self.buf,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{:.1}" {style}"#,
            center.0, center.1, radius_px
        );
        self.close_with_tooltip("circle", tooltip);
    }

    /// Text, escaped. `class` selects a CSS rule (font size, weight, colour).
    pub fn text(&mut self, at: (f64, f64), anchor: Anchor, class: &str, content: &str) {
        let _ = write!(
            self.buf,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="{}" class="{class}">{}</text>"#,
            at.0,
            at.1,
            anchor.as_str(),
            escape_html(content)
        );
    }

    /// Text rotated a quarter turn counter-clockwise, for y-axis titles.
    pub fn text_vertical(&mut self, at: (f64, f64), class: &str, content: &str) {
        let _ = write!(
            self.buf,
            r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle" class="{class}">{}</text>"#,
            at.0,
            at.1,
            escape_html(content)
        );
    }

    /// An open polyline through pixel points.
    pub fn polyline(&mut self, points_px: impl IntoIterator<Item = (f64, f64)>, style: &str) {
        self.buf.push_str(r#"<polyline fill="none" points=""#);
        for (i, (x, y)) in points_px.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(' ');
            }
            let _ = write!(self.buf, "{x:.1},{y:.1}");
        }
        let _ = write!(self.buf, r#"" {style}/>"#);
    }

    fn close_with_tooltip(&mut self, element: &str, tooltip: Option<&str>) {
        match tooltip {
            Some(tip) => {
                let _ = write!(self.buf, "><title>{}</title></{element}>", escape_html(tip));
            }
            None => self.buf.push_str("/>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_or_five() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(72.0, 8), 10.0);
        assert_eq!(nice_step(3.3e6, 5), 1e6);
        assert_eq!(nice_step(0.9, 4), 0.5);
        assert_eq!(nice_step(0.0, 5), 1.0);
    }

    #[test]
    fn expanded_ticks_cover_the_data_with_round_values() {
        let ticks = nice_ticks_expanded(3_812.0, 7_943.0, 5);
        assert_eq!(ticks.step, 1_000.0);
        assert_eq!((ticks.lo, ticks.hi), (3_000.0, 8_000.0));
        assert_eq!(ticks.values, vec![3e3, 4e3, 5e3, 6e3, 7e3, 8e3]);
    }

    #[test]
    fn ticks_within_keep_the_bounds() {
        let ticks = nice_ticks_within(0.0, 72.0, 8);
        assert_eq!((ticks.lo, ticks.hi), (0.0, 72.0));
        assert_eq!(
            ticks.values,
            vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
        );
        let fractional = nice_ticks_within(0.0, 0.3, 5);
        assert_eq!(fractional.step, 0.1);
        assert_eq!(fractional.values.len(), 4, "{:?}", fractional.values);
    }

    #[test]
    fn flat_and_empty_ranges_still_get_ticks() {
        let flat = nice_ticks_expanded(100.0, 100.0, 5);
        assert!(flat.lo < 100.0 && flat.hi > 100.0);
        let empty = nice_ticks_expanded(f64::INFINITY, f64::NEG_INFINITY, 5);
        assert_eq!((empty.lo, empty.hi), (0.0, 1.0));
    }

    #[test]
    fn tick_labels_share_one_suffix_per_axis() {
        assert_eq!(fmt_tick(30_500.0, 500.0, 32_000.0, false), "30.5k");
        assert_eq!(fmt_tick(2_000.0, 1_000.0, 9_000.0, true), "$2,000");
        assert_eq!(fmt_tick(-2.5e6, 5e5, 1e7, true), "-$2.5M");
        assert_eq!(fmt_tick(0.0, 5e5, 1e7, true), "$0");
        assert_eq!(fmt_tick(1.05, 0.05, 1.1, false), "1.05");
        assert_eq!(fmt_tick(1.5e9, 5e8, 1.5e9, true), "$1.5B");
        assert_eq!(fmt_tick(5e8, 5e8, 1.5e9, true), "$0.5B");
    }

    #[test]
    fn scale_maps_linearly_and_handles_flat_domains() {
        let scale = Scale::new((0.0, 10.0), (100.0, 0.0));
        assert_eq!(scale.map(2.5), 75.0);
        assert_eq!(Scale::new((5.0, 5.0), (0.0, 10.0)).map(5.0), 5.0);
    }
}
