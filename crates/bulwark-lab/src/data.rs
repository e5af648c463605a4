//! Market data import: OHLCV bars from Binance's public kline archive or the project's simple
//! CSV, a cleaning step for obviously bad prints, and Etherscan's daily gas price export.
//!
//! Loading is strict: a file that breaks an OHLC rule is an error naming the file, the 1-based
//! line and the field, and nothing is silently repaired. Repairs are a separate, explicit step
//! ([`clip_bad_prints`]) that reports every change it made, so a user can see what was altered.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

mod quality;

pub use quality::{
    bar_interval, body_outliers, drop_outliers, Outlier, QualityError, DEFAULT_OUTLIER_FRAC,
    OUTLIER_NEIGHBOURS,
};

/// Header of the project's simple bar CSV.
pub const SIMPLE_HEADER: [&str; 6] = ["open_time_ms", "open", "high", "low", "close", "volume"];

/// Open times at or above this are microseconds, not milliseconds: 1e15 ms is the year 33658,
/// while 1e15 us is 2001. Newer Binance spot archives (from 2025) write 16-digit microseconds.
const MICROS_THRESHOLD: u64 = 1_000_000_000_000_000;

/// A suggested `max_wick_frac` for [`clip_bad_prints`] on daily or hourly bars. Real daily wicks
/// of the worst crashes stay well under it (BTC 2020-03-13: 21% below the body), while a stray
/// print such as Coinbase's 0.06 USD low on 2017-04-15 is a 99.99% wick. Minute bars of thin
/// altcoins can have real wicks beyond 50% (10 Oct 2025), so pick the threshold per data set.
pub const DEFAULT_MAX_WICK_FRAC: f64 = 0.5;

/// One OHLCV bar. `open_time_ms` is the bar's open time in UTC epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub open_time_ms: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Bar {
    /// Checks the OHLC rules every bar must satisfy. On failure returns the offending field
    /// and what is wrong with it.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in self.named_prices() {
            check_price(field, value)?;
        }
        if !self.volume.is_finite() || self.volume < 0.0 {
            return Err((
                "volume",
                format!("must be a finite number >= 0, got {}", self.volume),
            ));
        }
        let body_high = self.open.max(self.close);
        let body_low = self.open.min(self.close);
        if self.high < body_high {
            return Err((
                "high",
                format!("high {} is below max(open, close) = {body_high}", self.high),
            ));
        }
        if self.low > body_low {
            return Err((
                "low",
                format!("low {} is above min(open, close) = {body_low}", self.low),
            ));
        }
        Ok(())
    }

    fn named_prices(&self) -> [(&'static str, f64); 4] {
        [
            ("open", self.open),
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
        ]
    }
}

fn check_price(field: &'static str, value: f64) -> Result<(), (&'static str, String)> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err((field, format!("price must be finite and > 0, got {value}")))
    }
}

/// Errors from loading or writing market data. Every message names the file; row errors also
/// name the 1-based line and the field so the user can open the file and fix that cell.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("could not read {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: line {line}: field `{field}`: {problem}")]
    Row {
        file: String,
        line: u64,
        field: &'static str,
        problem: String,
    },
    #[error("{file}: line {line}: malformed CSV: {cause}")]
    Csv {
        file: String,
        line: u64,
        cause: String,
    },
    #[error(
        "{file}: unrecognised header `{header}`; expected Binance kline rows (with or without \
         an `open_time,open,high,low,close,volume,...` header) or the simple header \
         `open_time_ms,open,high,low,close,volume`"
    )]
    UnknownFormat { file: String, header: String },
    #[error("{file}: no data rows; the file is empty or has only a header")]
    Empty { file: String },
    #[error(
        "{file}: the data has a gap of {length_s} s starting {start} ({start_ms} ms), longer \
         than max_gap_s = {max_gap_s}{}; fill the data (e.g. `bulwark data fetch` the missing \
         days) or raise path.historical.max_gap_s",
        if *more > 0 { format!(" (and {more} more such gaps)") } else { String::new() }
    )]
    GapTooLong {
        file: String,
        start: String,
        start_ms: u64,
        length_s: f64,
        max_gap_s: u64,
        more: usize,
    },
    #[error(
        "{file} starts at {first_ms} ms, which is not after the last bar of {prev_file} \
         ({prev_last_ms} ms); the files overlap or are out of order"
    )]
    Overlap {
        file: String,
        first_ms: u64,
        prev_file: String,
        prev_last_ms: u64,
    },
}

/// Which of the two accepted bar layouts a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BarFormat {
    /// Binance kline archive rows; open times may be microseconds.
    Binance,
    /// The project's simple CSV; open times are milliseconds.
    Simple,
}

impl BarFormat {
    fn time_field(self) -> &'static str {
        match self {
            BarFormat::Binance => "open_time",
            BarFormat::Simple => "open_time_ms",
        }
    }
}

/// Loads bars from a file, autodetecting Binance kline archive rows or the simple CSV.
pub fn load_bars(path: &Path) -> Result<Vec<Bar>, DataError> {
    let file_name = path.display().to_string();
    let file = File::open(path).map_err(|source| DataError::Io {
        file: file_name.clone(),
        source,
    })?;
    load_bars_from_reader(file, &file_name)
}

/// Loads bars from any reader; `source_name` is used in error messages in place of a file name.
pub fn load_bars_from_reader<R: Read>(reader: R, source_name: &str) -> Result<Vec<Bar>, DataError> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut format = None;
    let mut bars: Vec<Bar> = Vec::new();
    for result in csv_reader.records() {
        let record = result.map_err(|e| csv_error(source_name, e))?;
        let line = record.position().map_or(0, |p| p.line());
        if is_blank(&record) {
            continue;
        }
        let row_format = match format {
            Some(f) => f,
            None => {
                let detected = detect_format(&record, source_name)?;
                format = Some(detected.0);
                if detected.1 {
                    continue; // the header row itself carries no bar
                }
                detected.0
            }
        };
        let bar = parse_bar_row(&record, row_format, source_name, line)?;
        check_order(&bars, &bar, row_format, source_name, line)?;
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(DataError::Empty {
            file: source_name.to_string(),
        });
    }
    Ok(bars)
}

fn csv_error(source_name: &str, e: csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    DataError::Csv {
        file: source_name.to_string(),
        line,
        cause: e.to_string(),
    }
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// Returns the format and whether this first row is a header.
fn detect_format(
    record: &csv::StringRecord,
    source_name: &str,
) -> Result<(BarFormat, bool), DataError> {
    let first = record.get(0).unwrap_or("");
    if first.parse::<u64>().is_ok() {
        return Ok((BarFormat::Binance, false));
    }
    let names: Vec<&str> = record.iter().take(6).collect();
    if names == SIMPLE_HEADER {
        return Ok((BarFormat::Simple, true));
    }
    let binance_header = ["open_time", "open", "high", "low", "close", "volume"];
    if names == binance_header {
        return Ok((BarFormat::Binance, true));
    }
    Err(DataError::UnknownFormat {
        file: source_name.to_string(),
        header: record.iter().collect::<Vec<_>>().join(","),
    })
}

fn parse_bar_row(
    record: &csv::StringRecord,
    format: BarFormat,
    source_name: &str,
    line: u64,
) -> Result<Bar, DataError> {
    let row_error = |field: &'static str, problem: String| DataError::Row {
        file: source_name.to_string(),
        line,
        field,
        problem,
    };
    if record.len() < 6 {
        return Err(row_error(
            "volume",
            format!("row has {} columns; at least 6 are needed", record.len()),
        ));
    }
    let time_field = format.time_field();
    let raw_time: u64 = record[0]
        .parse()
        .map_err(|_| row_error(time_field, format!("`{}` is not an integer", &record[0])))?;
    let open_time_ms = normalize_time(raw_time, format).map_err(|p| row_error(time_field, p))?;
    let number = |index: usize, field: &'static str| -> Result<f64, DataError> {
        record[index]
            .parse::<f64>()
            .map_err(|_| row_error(field, format!("`{}` is not a number", &record[index])))
    };
    let bar = Bar {
        open_time_ms,
        open: number(1, "open")?,
        high: number(2, "high")?,
        low: number(3, "low")?,
        close: number(4, "close")?,
        volume: number(5, "volume")?,
    };
    bar.check()
        .map_err(|(field, problem)| row_error(field, problem))?;
    Ok(bar)
}

fn normalize_time(raw: u64, format: BarFormat) -> Result<u64, String> {
    match format {
        BarFormat::Binance if raw >= MICROS_THRESHOLD => Ok(raw / 1000),
        BarFormat::Simple if raw >= MICROS_THRESHOLD => Err(format!(
            "{raw} looks like microseconds; the simple format's open_time_ms is milliseconds"
        )),
        _ => Ok(raw),
    }
}

fn check_order(
    bars: &[Bar],
    bar: &Bar,
    format: BarFormat,
    source_name: &str,
    line: u64,
) -> Result<(), DataError> {
    match bars.last() {
        Some(prev) if bar.open_time_ms <= prev.open_time_ms => Err(DataError::Row {
            file: source_name.to_string(),
            line,
            field: format.time_field(),
            problem: format!(
                "open time {} ms is not after the previous row's {} ms; times must be \
                 strictly increasing",
                bar.open_time_ms, prev.open_time_ms
            ),
        }),
        _ => Ok(()),
    }
}

/// Loads several bar files (e.g. one per day from the archive) and concatenates them in the
/// given order, checking that each file starts after the previous one ends.
pub fn load_concatenated(paths: &[PathBuf]) -> Result<Vec<Bar>, DataError> {
    let mut all: Vec<Bar> = Vec::new();
    let mut prev_file = String::new();
    for path in paths {
        let bars = load_bars(path)?;
        if let (Some(last), Some(first)) = (all.last(), bars.first()) {
            if first.open_time_ms <= last.open_time_ms {
                return Err(DataError::Overlap {
                    file: path.display().to_string(),
                    first_ms: first.open_time_ms,
                    prev_file,
                    prev_last_ms: last.open_time_ms,
                });
            }
        }
        all.extend(bars);
        prev_file = path.display().to_string();
    }
    Ok(all)
}

/// Writes bars in the simple CSV format (with header). Prices use Rust's shortest round-trip
/// formatting, so reading the file back yields the very same `f64` values.
pub fn write_simple_csv_to<W: Write>(mut writer: W, bars: &[Bar]) -> io::Result<()> {
    writeln!(writer, "{}", SIMPLE_HEADER.join(","))?;
    for b in bars {
        writeln!(
            writer,
            "{},{},{},{},{},{}",
            b.open_time_ms, b.open, b.high, b.low, b.close, b.volume
        )?;
    }
    writer.flush()
}

/// Writes bars in the simple CSV format to `path`, replacing any existing file.
pub fn write_simple_csv(path: &Path, bars: &[Bar]) -> Result<(), DataError> {
    let io_error = |source| DataError::Io {
        file: path.display().to_string(),
        source,
    };
    let file = File::create(path).map_err(io_error)?;
    write_simple_csv_to(io::BufWriter::new(file), bars).map_err(io_error)
}

/// One change made by [`clip_bad_prints`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Repair {
    pub open_time_ms: u64,
    /// `"low"` or `"high"`.
    pub field: &'static str,
    pub was: f64,
    pub now: f64,
}

/// Clips wicks that are too far from the bar's body to be real trades.
///
/// A wick's size is measured as `1 - smaller/larger` of the wick's extreme and the nearest body
/// price (`min(open, close)` for the low, `max(open, close)` for the high). This is symmetric in
/// log terms: a low at half the body and a high at twice the body both measure 0.5. A wick
/// larger than `max_wick_frac` is clipped to the body, so the bar stays (the path keeps no gap)
/// but its impossible extreme is gone. Bars are never dropped: dropping one would leave a hole
/// in time that every consumer would have to handle. Returns the cleaned bars and the list of
/// repairs, so callers can log exactly what was changed.
pub fn clip_bad_prints(bars: &[Bar], max_wick_frac: f64) -> (Vec<Bar>, Vec<Repair>) {
    let mut repairs = Vec::new();
    let cleaned = bars
        .iter()
        .map(|bar| clip_bar(bar, max_wick_frac, &mut repairs))
        .collect();
    (cleaned, repairs)
}

fn clip_bar(bar: &Bar, max_wick_frac: f64, repairs: &mut Vec<Repair>) -> Bar {
    let mut out = *bar;
    let body_low = bar.open.min(bar.close);
    let body_high = bar.open.max(bar.close);
    if 1.0 - bar.low / body_low > max_wick_frac {
        out.low = body_low;
        repairs.push(repair(bar, "low", bar.low, body_low));
    }
    if 1.0 - body_high / bar.high > max_wick_frac {
        out.high = body_high;
        repairs.push(repair(bar, "high", bar.high, body_high));
    }
    out
}

fn repair(bar: &Bar, field: &'static str, was: f64, now: f64) -> Repair {
    Repair {
        open_time_ms: bar.open_time_ms,
        field,
        was,
        now,
    }
}

/// Time with no bar: from the end of one bar to the open of the next (an exchange outage, or
/// a hole in the archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DataGap {
    /// End of the last bar before the gap (its open time plus the bar length), UTC epoch ms.
    pub start_ms: u64,
    /// Open time of the first bar after the gap, UTC epoch ms.
    pub end_ms: u64,
}

impl DataGap {
    pub fn length_ms(&self) -> u64 {
        self.end_ms - self.start_ms
    }
}

/// Every gap between consecutive bars of length `bar_ms`, in time order. Bars that overlap
/// are not a gap (the path refuses them separately).
pub fn find_gaps(bars: &[Bar], bar_ms: u64) -> Vec<DataGap> {
    bars.windows(2)
        .filter_map(|w| {
            let start_ms = w[0].open_time_ms.saturating_add(bar_ms);
            (w[1].open_time_ms > start_ms).then_some(DataGap {
                start_ms,
                end_ms: w[1].open_time_ms,
            })
        })
        .collect()
}

/// The first gap longer than `max_gap_s`, as an error naming its start and length.
pub fn check_max_gap(gaps: &[DataGap], max_gap_s: u64, file: &str) -> Result<(), DataError> {
    let too_long = |g: &&DataGap| g.length_ms() > max_gap_s.saturating_mul(1000);
    let Some(first) = gaps.iter().find(too_long) else {
        return Ok(());
    };
    Err(DataError::GapTooLong {
        file: file.to_string(),
        start: format_utc_ms(first.start_ms),
        start_ms: first.start_ms,
        length_s: first.length_ms() as f64 / 1000.0,
        max_gap_s,
        more: gaps.iter().filter(too_long).count() - 1,
    })
}

/// `YYYY-MM-DD HH:MM:SS UTC` for an epoch time in ms (milliseconds dropped).
pub fn format_utc_ms(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let secs = (ms % 86_400_000) / 1000;
    let date = crate::fetch::CivilDate::from_days_since_epoch(days)
        .map_or_else(|| format!("day {days}"), |d| d.to_string());
    format!(
        "{date} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One day of Etherscan's "average gas price" export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasPrice {
    /// Start of the UTC day, epoch milliseconds.
    pub day_start_ms: u64,
    /// Average gas price over the day, in wei.
    pub avg_wei: u64,
}

impl GasPrice {
    /// The average gas price in gwei (1 gwei = 1e9 wei), the unit people quote.
    pub fn avg_gwei(&self) -> f64 {
        self.avg_wei as f64 / 1e9
    }
}

const GAS_HEADER: [&str; 3] = ["Date(UTC)", "UnixTimeStamp", "Value (Wei)"];

/// Loads Etherscan's daily average gas price CSV (`"Date(UTC)","UnixTimeStamp","Value (Wei)"`).
/// The timestamp column (seconds) is authoritative; the date text is not parsed.
pub fn load_gas_prices(path: &Path) -> Result<Vec<GasPrice>, DataError> {
    let file_name = path.display().to_string();
    let file = File::open(path).map_err(|source| DataError::Io {
        file: file_name.clone(),
        source,
    })?;
    load_gas_prices_from_reader(file, &file_name)
}

/// Reader variant of [`load_gas_prices`].
pub fn load_gas_prices_from_reader<R: Read>(
    reader: R,
    source_name: &str,
) -> Result<Vec<GasPrice>, DataError> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv_reader
        .headers()
        .map_err(|e| csv_error(source_name, e))?
        .clone();
    if headers.iter().collect::<Vec<_>>() != GAS_HEADER {
        return Err(DataError::UnknownFormat {
            file: source_name.to_string(),
            header: headers.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut days: Vec<GasPrice> = Vec::new();
    for result in csv_reader.records() {
        let record = result.map_err(|e| csv_error(source_name, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let day = parse_gas_row(&record, source_name, line)?;
        if let Some(prev) = days.last() {
            if day.day_start_ms <= prev.day_start_ms {
                return Err(DataError::Row {
                    file: source_name.to_string(),
                    line,
                    field: "UnixTimeStamp",
                    problem: "timestamps must be strictly increasing".to_string(),
                });
            }
        }
        days.push(day);
    }
    if days.is_empty() {
        return Err(DataError::Empty {
            file: source_name.to_string(),
        });
    }
    Ok(days)
}

fn parse_gas_row(
    record: &csv::StringRecord,
    source_name: &str,
    line: u64,
) -> Result<GasPrice, DataError> {
    let parse = |index: usize, field: &'static str| -> Result<u64, DataError> {
        record[index].parse::<u64>().map_err(|_| DataError::Row {
            file: source_name.to_string(),
            line,
            field,
            problem: format!("`{}` is not a non-negative integer", &record[index]),
        })
    };
    let seconds = parse(1, "UnixTimeStamp")?;
    Ok(GasPrice {
        day_start_ms: seconds.saturating_mul(1000),
        avg_wei: parse(2, "Value (Wei)")?,
    })
}

#[cfg(test)]
mod tests;
