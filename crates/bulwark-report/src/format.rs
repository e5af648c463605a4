//! Number formatting shared by the HTML page and the console table, so both
//! show the same strings.

/// Shown for NaN and infinities: a report must never print "NaN" as money.
pub const NOT_AVAILABLE: &str = "n/a";

/// US dollars with thousands separators: whole dollars from $1,000 up
/// ("$1,234,567", "-$12,300"), cents below ("$999.50", "-$0.43") so a small
/// non-zero loss never reads as "$0".
pub fn fmt_usd(amount_usd: f64) -> String {
    if !amount_usd.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let decimals = if amount_usd.abs() < 999.995 { 2 } else { 0 };
    let digits = group_thousands(&format!("{:.*}", decimals, amount_usd.abs()));
    if is_negative_after_rounding(amount_usd, decimals) {
        format!("-${digits}")
    } else {
        format!("${digits}")
    }
}

/// Short dollars for axis ticks and tight labels: "$950", "$12.3k", "-$4.5M",
/// "$1.2B". Three significant digits at most.
pub fn fmt_usd_compact(amount_usd: f64) -> String {
    if !amount_usd.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let body = fmt_compact_abs(amount_usd.abs());
    if amount_usd < 0.0 && body.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("-${body}")
    } else {
        format!("${body}")
    }
}

/// A ratio as a percentage with two decimals: `fmt_pct(0.1234)` is "12.34%".
pub fn fmt_pct(ratio: f64) -> String {
    if !ratio.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let pct = ratio * 100.0;
    // Avoid "-0.00%" for tiny negatives.
    let pct = if pct.abs() < 0.005 { 0.0 } else { pct };
    format!("{pct:.2}%")
}

/// A duration for people: "850 ms", "12.3 s", "4m 05s", "3h 12m", "2d 03h 12m".
pub fn fmt_duration_s(duration_s: f64) -> String {
    if !duration_s.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let sign = if duration_s < 0.0 { "-" } else { "" };
    let abs_s = duration_s.abs();
    // Thresholds sit just below the unit boundary so rounding never prints
    // "1000 ms" or "60.0 s".
    if abs_s < 0.9995 {
        return format!("{sign}{:.0} ms", abs_s * 1000.0);
    }
    if abs_s < 59.95 {
        return format!("{sign}{abs_s:.1} s");
    }
    // Whole seconds from here on; rounding first keeps "59.6 s" from turning
    // into "0m 60s".
    let total_s = abs_s.round() as u64;
    let (days, hours, minutes, seconds) = (
        total_s / 86_400,
        total_s % 86_400 / 3_600,
        total_s % 3_600 / 60,
        total_s % 60,
    );
    if total_s < 3_600 {
        format!("{sign}{minutes}m {seconds:02}s")
    } else if days == 0 {
        format!("{sign}{hours}h {minutes:02}m")
    } else {
        format!("{sign}{days}d {hours:02}h {minutes:02}m")
    }
}

/// A plain number with thousands separators and a fixed number of decimals:
/// `fmt_number(1234.5, 1)` is "1,234.5".
pub fn fmt_number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let digits = group_thousands(&format!("{:.*}", decimals, value.abs()));
    if is_negative_after_rounding(value, decimals) {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A plain number with k/M/B suffixes, three significant digits at most.
pub fn fmt_compact(value: f64) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.to_owned();
    }
    let body = fmt_compact_abs(value.abs());
    if value < 0.0 && body.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("-{body}")
    } else {
        body
    }
}

fn fmt_compact_abs(abs: f64) -> String {
    const SUFFIXES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")];
    for (scale, suffix) in SUFFIXES {
        // Compare after rounding so 999,999 shows as "1M", not "1000k".
        if round_sig3(abs) >= scale {
            return format!("{}{suffix}", trim_sig3(round_sig3(abs) / scale));
        }
    }
    trim_sig3(abs)
}

/// Rounds to three significant digits.
fn round_sig3(abs: f64) -> f64 {
    if abs == 0.0 {
        return 0.0;
    }
    let magnitude = 10f64.powi(abs.log10().floor() as i32 - 2);
    (abs / magnitude).round() * magnitude
}

/// Three significant digits without trailing zeros: 12.3, 950, 0.0125.
fn trim_sig3(abs: f64) -> String {
    if abs == 0.0 {
        return "0".to_owned();
    }
    let decimals = (2 - abs.log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{:.*}", decimals, abs);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Inserts commas into the integer part of an unsigned decimal string.
fn group_thousands(unsigned: &str) -> String {
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let mut grouped = String::with_capacity(unsigned.len() + int_part.len() / 3);
    for (i, ch) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if let Some(frac) = frac_part {
        grouped.push('.');
        grouped.push_str(frac);
    }
    grouped
}

/// True when the value is below zero and stays non-zero at this precision,
/// so -0.001 prints as "0.00" rather than "-0.00".
fn is_negative_after_rounding(value: f64, decimals: usize) -> bool {
    value < 0.0 && (value.abs() * 10f64.powi(decimals as i32)).round() > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_uses_separators_and_cents_only_below_a_thousand() {
        assert_eq!(fmt_usd(1_234_567.4), "$1,234,567");
        assert_eq!(fmt_usd(-12_300.0), "-$12,300");
        assert_eq!(fmt_usd(999.5), "$999.50");
        assert_eq!(fmt_usd(999.999), "$1,000");
        assert_eq!(fmt_usd(-0.43), "-$0.43");
        assert_eq!(fmt_usd(-0.001), "$0.00");
        assert_eq!(fmt_usd(0.0), "$0.00");
        assert_eq!(fmt_usd(f64::NAN), "n/a");
    }

    #[test]
    fn compact_usd_keeps_three_significant_digits() {
        assert_eq!(fmt_usd_compact(950.0), "$950");
        assert_eq!(fmt_usd_compact(12_345.0), "$12.3k");
        assert_eq!(fmt_usd_compact(-4_500_000.0), "-$4.5M");
        assert_eq!(fmt_usd_compact(999_999.0), "$1M");
        assert_eq!(fmt_usd_compact(1.2e9), "$1.2B");
        assert_eq!(fmt_usd_compact(0.0), "$0");
        assert_eq!(fmt_usd_compact(0.0125), "$0.0125");
        assert_eq!(fmt_compact(-2500.0), "-2.5k");
    }

    #[test]
    fn pct_takes_a_ratio() {
        assert_eq!(fmt_pct(0.1234), "12.34%");
        assert_eq!(fmt_pct(-0.5), "-50.00%");
        assert_eq!(fmt_pct(-0.000_01), "0.00%");
        assert_eq!(fmt_pct(f64::INFINITY), "n/a");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(fmt_duration_s(0.85), "850 ms");
        assert_eq!(fmt_duration_s(12.34), "12.3 s");
        assert_eq!(fmt_duration_s(245.0), "4m 05s");
        assert_eq!(fmt_duration_s(59.96), "1m 00s");
        assert_eq!(fmt_duration_s(3.0 * 3600.0 + 12.0 * 60.0 + 7.0), "3h 12m");
        assert_eq!(fmt_duration_s(72.0 * 3600.0), "3d 00h 00m");
        assert_eq!(fmt_duration_s(-90.0), "-1m 30s");
    }

    #[test]
    fn plain_numbers_group_thousands() {
        assert_eq!(fmt_number(1234.5, 1), "1,234.5");
        assert_eq!(fmt_number(-1_000_000.0, 0), "-1,000,000");
        assert_eq!(fmt_number(12.0, 0), "12");
        assert_eq!(fmt_number(123.0, 0), "123");
    }
}
