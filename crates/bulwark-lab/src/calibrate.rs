//! Calibrating market makers from order-book depth snapshots.
//!
//! Binance's `bookDepth` files give, about every 30 s, the cumulative depth within +/-1..5%
//! of the mid. On 2025-10-10 depth within 1% fell from a median of about 490 M USD to about
//! 59 M USD (12%) at 21:22 UTC, in the minute of the cascade. The lab's makers scale their
//! depth by `(ref_vol / vol)^elasticity`; [`depth_vs_vol`] measures that elasticity two ways:
//! a least-squares slope of ln(depth) on ln(realized vol) over the day (the everyday relation),
//! and the elasticity that takes the median depth at the median vol to the day's minimum depth
//! at the day's peak vol (the tail, which is what a crash lab needs).

use std::path::Path;

use crate::data::DataError;

/// Depth within 1% against realized volatility over one file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthCalibration {
    pub snapshots: usize,
    pub median_depth_usd: f64,
    pub min_depth_usd: f64,
    /// `min_depth_usd / median_depth_usd`.
    pub min_ratio: f64,
    pub median_vol_annual: f64,
    pub max_vol_annual: f64,
    /// Least-squares slope of ln(depth) on ln(vol), negated (positive: depth thins with vol).
    pub ols_elasticity: f64,
    /// ln(min_ratio) / ln(median_vol / max_vol): the elasticity that reproduces the tail.
    pub tail_elasticity: f64,
}

/// One snapshot: seconds, depth within 1% (both sides, USD), mid proxy.
type Snapshot = (f64, f64, f64);

/// Reads a `timestamp,percentage,depth,notional,weighted_avg_price` file and fits the
/// depth-volatility relation; realized vol is over `window` consecutive snapshots.
pub fn depth_vs_vol(path: &Path, window: usize) -> Result<DepthCalibration, DataError> {
    let snaps = load_depth_1pct(path)?;
    let file = path.display().to_string();
    if snaps.len() <= window + 2 || window == 0 {
        return Err(DataError::Empty { file });
    }
    let mut points = Vec::new(); // (vol, depth)
    for i in window..snaps.len() {
        let var_per_s = (i + 1 - window..=i)
            .map(|j| {
                let r = libm::log(snaps[j].2 / snaps[j - 1].2);
                r * r / (snaps[j].0 - snaps[j - 1].0).max(1.0)
            })
            .sum::<f64>()
            / window as f64;
        let vol = (var_per_s * 365.0 * 86_400.0).sqrt();
        if vol > 0.0 && snaps[i].1 > 0.0 {
            points.push((vol, snaps[i].1));
        }
    }
    Ok(fit(&points))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fit(points: &[(f64, f64)]) -> DepthCalibration {
    let n = points.len() as f64;
    let (xs, ys): (Vec<f64>, Vec<f64>) = points
        .iter()
        .map(|(v, d)| (libm::log(*v), libm::log(*d)))
        .unzip();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let median_depth_usd = median(points.iter().map(|p| p.1).collect());
    let min_depth_usd = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let median_vol_annual = median(points.iter().map(|p| p.0).collect());
    let max_vol_annual = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let min_ratio = min_depth_usd / median_depth_usd;
    DepthCalibration {
        snapshots: points.len(),
        median_depth_usd,
        min_depth_usd,
        min_ratio,
        median_vol_annual,
        max_vol_annual,
        ols_elasticity: -sxy / sxx,
        tail_elasticity: libm::log(min_ratio) / libm::log(median_vol_annual / max_vol_annual),
    }
}

fn load_depth_1pct(path: &Path) -> Result<Vec<Snapshot>, DataError> {
    let file = path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| DataError::Csv {
        file: file.clone(),
        line: 0,
        cause: e.to_string(),
    })?;
    // Rows come grouped by timestamp; keep the -1% and +1% rows of each.
    let mut out: Vec<Snapshot> = Vec::new();
    let mut current: Option<(String, f64, f64, u8)> = None; // (ts, notional, price sum, sides)
    for record in reader.records() {
        let r = record.map_err(|e| DataError::Csv {
            file: file.clone(),
            line: e.position().map_or(0, |p| p.line()),
            cause: e.to_string(),
        })?;
        let line = r.position().map_or(0, |p| p.line());
        let bad = |field: &'static str| DataError::Row {
            file: file.clone(),
            line,
            field,
            problem: "not a number".into(),
        };
        let pct: i32 = r[1].trim().parse().map_err(|_| bad("percentage"))?;
        if pct.abs() != 1 {
            continue;
        }
        let notional: f64 = r[3].trim().parse().map_err(|_| bad("notional"))?;
        let price: f64 = r[4].trim().parse().map_err(|_| bad("weighted_avg_price"))?;
        let ts = r[0].to_string();
        match &mut current {
            Some(c) if c.0 == ts => {
                c.1 += notional;
                c.2 += price;
                c.3 += 1;
            }
            _ => {
                flush(&mut out, current.take());
                current = Some((ts, notional, price, 1));
            }
        }
    }
    flush(&mut out, current);
    Ok(out)
}

fn flush(out: &mut Vec<Snapshot>, c: Option<(String, f64, f64, u8)>) {
    let Some((ts, notional, price_sum, 2)) = c else {
        return;
    };
    if let Some(s) = seconds_of(&ts) {
        out.push((s, notional, price_sum / 2.0));
    }
}

/// `YYYY-MM-DD HH:MM:SS` as seconds within the file's day sequence (days since epoch x 86400
/// plus the time of day).
fn seconds_of(ts: &str) -> Option<f64> {
    let (date, time) = ts.trim().split_once(' ')?;
    let day: crate::fetch::CivilDate = date.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    Some(day.days_since_epoch() as f64 * 86_400.0 + f64::from(h * 3600 + m * 60 + s))
}
