//! Downloading Binance's public kline archive, for `bulwark data fetch`.
//!
//! The archive serves one zip per day at
//! `{base_url}/data/{market}/daily/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{YYYY-MM-DD}.zip`,
//! each holding a single CSV, with a `.CHECKSUM` file (sha256) beside it. Each day's CSV is
//! extracted verbatim into a cache, `cache_dir/{market}/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{date}.csv`,
//! and days already cached (and still parsing) are not downloaded again, so an interrupted
//! fetch resumes where it stopped.

use std::fmt;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::data::{self, Bar, DataError};

/// The public archive's address.
pub const DEFAULT_BASE_URL: &str = "https://data.binance.vision";

/// Kline intervals the archive publishes.
pub const INTERVALS: [&str; 16] = [
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1mo",
];

/// A daily zip of 1-second klines is a few MB; anything far larger is not a kline file.
const MAX_DOWNLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// Longest range one request may cover (about 27 years, more than the archive holds); guards
/// against a typo in a year turning into tens of thousands of requests.
const MAX_DAYS: i64 = 10_000;

const MS_PER_DAY: i64 = 86_400_000;

/// Errors from fetching. Messages say what to check or which flag to change.
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("invalid {field}: {problem}")]
    BadRequest {
        field: &'static str,
        problem: String,
    },
    #[error(
        "could not reach {base_url}: {cause}; check your network or pass --base-url to a mirror"
    )]
    Unreachable { base_url: String, cause: String },
    #[error(
        "no archive file for {symbol} {interval} on {date} (the archive publishes daily files \
         one day late; check the symbol and market) [{url}]"
    )]
    NotFound {
        symbol: String,
        interval: String,
        date: CivilDate,
        url: String,
    },
    #[error("{url} answered HTTP {status}; try again later or pass --base-url to a mirror")]
    Http { url: String, status: u16 },
    #[error("download of {url} failed midway: {cause}; run the fetch again to resume")]
    Download { url: String, cause: String },
    #[error("{url} is larger than {limit} bytes; this is not a daily kline archive file")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} is not a usable kline zip: {problem}")]
    BadZip { url: String, problem: String },
    #[error("{url} has no usable checksum file: {problem}; pass --no-verify to skip the check")]
    BadChecksumFile { url: String, problem: String },
    #[error(
        "{url} does not match its published sha256 (expected {expected}, got {actual}); the \
         download is corrupt, run the fetch again"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("the archive file for {date} does not hold valid klines: {source}")]
    BadData {
        date: CivilDate,
        #[source]
        source: DataError,
    },
    #[error("could not write the cache file {path}: {source}; check that --cache-dir is writable")]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A calendar date (proleptic Gregorian, UTC), without pulling in a date crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    year: i32,
    month: u32,
    day: u32,
}

impl CivilDate {
    /// A date, if it exists (years 1970 to 9999; the archive starts in 2017).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let valid = (1970..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Self { year, month, day })
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    pub fn day(&self) -> u32 {
        self.day
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(&self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`); `None` outside
    /// the supported years.
    pub fn from_days_since_epoch(days: i64) -> Option<Self> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self::new(i32::try_from(year).ok()?, month, day)
    }

    /// Midnight UTC at the start of this date, in epoch ms.
    pub fn start_ms(&self) -> u64 {
        // Years from 1970 on only, so this is never negative.
        (self.days_since_epoch() * MS_PER_DAY) as u64
    }

    /// The following day (`None` after 9999-12-31).
    pub fn next(&self) -> Option<Self> {
        Self::from_days_since_epoch(self.days_since_epoch() + 1)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for CivilDate {
    type Err = FetchError;

    /// Parses `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FetchError::BadRequest {
            field: "date",
            problem: format!("`{s}` is not a date in YYYY-MM-DD form between 1970 and 9999"),
        };
        let parts: Vec<&str> = s.trim().split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (y, m, d) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            d.parse().map_err(|_| bad())?,
        );
        Self::new(y, m, d).ok_or_else(bad)
    }
}

/// Which part of the archive to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    Spot,
    /// USDT-margined futures.
    FuturesUm,
    /// Coin-margined futures.
    FuturesCm,
}

impl Market {
    /// The market's folder in the archive (and in the cache).
    pub fn archive_path(&self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::FuturesUm => "futures/um",
            Market::FuturesCm => "futures/cm",
        }
    }
}

impl FromStr for Market {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "spot" => Ok(Market::Spot),
            "um" | "futures/um" => Ok(Market::FuturesUm),
            "cm" | "futures/cm" => Ok(Market::FuturesCm),
            _ => Err(FetchError::BadRequest {
                field: "market",
                problem: format!("`{s}` is not one of spot, futures/um (um), futures/cm (cm)"),
            }),
        }
    }
}

/// What to fetch. `from` and `to` are inclusive UTC dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub base_url: String,
    pub market: Market,
    /// Exchange symbol, e.g. `BTCUSDT` or `BTCUSD_PERP`; upper-cased before use, as the
    /// archive's paths are.
    pub symbol: String,
    /// One of [`INTERVALS`], e.g. `1m`.
    pub interval: String,
    pub from: CivilDate,
    pub to: CivilDate,
    pub cache_dir: PathBuf,
    /// Check each zip against the archive's `.CHECKSUM` file (one extra small request a day).
    pub verify_checksum: bool,
}

impl FetchRequest {
    /// A request against [`DEFAULT_BASE_URL`] with checksum verification on.
    pub fn new(
        market: Market,
        symbol: &str,
        interval: &str,
        from: CivilDate,
        to: CivilDate,
        cache_dir: &Path,
    ) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            market,
            symbol: symbol.to_string(),
            interval: interval.to_string(),
            from,
            to,
            cache_dir: cache_dir.to_path_buf(),
            verify_checksum: true,
        }
    }

    /// The file name of one day's data, without extension: `{SYMBOL}-{interval}-{date}`.
    fn day_stem(&self, date: CivilDate) -> String {
        format!("{}-{}-{date}", self.symbol_upper(), self.interval)
    }

    fn symbol_upper(&self) -> String {
        self.symbol.trim().to_ascii_uppercase()
    }

    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// Address of one day's zip.
    pub fn day_url(&self, date: CivilDate) -> String {
        format!(
            "{}/data/{}/daily/klines/{}/{}/{}.zip",
            self.base(),
            self.market.archive_path(),
            self.symbol_upper(),
            self.interval,
            self.day_stem(date)
        )
    }

    /// Where one day's CSV is cached.
    pub fn cache_path(&self, date: CivilDate) -> PathBuf {
        self.cache_dir
            .join(self.market.archive_path())
            .join(self.symbol_upper())
            .join(&self.interval)
            .join(format!("{}.csv", self.day_stem(date)))
    }

    /// The inclusive list of dates, after checking every field of the request.
    pub fn dates(&self) -> Result<Vec<CivilDate>, FetchError> {
        self.check_fields()?;
        let first = self.from.days_since_epoch();
        let days = self.to.days_since_epoch() - first + 1;
        if days < 1 {
            return bad_request(
                "date range",
                format!("from {} is after to {}", self.from, self.to),
            );
        }
        if days > MAX_DAYS {
            return bad_request(
                "date range",
                format!("{days} days is more than the limit of {MAX_DAYS}; check the years"),
            );
        }
        Ok((0..days)
            .filter_map(|d| CivilDate::from_days_since_epoch(first + d))
            .collect())
    }

    fn check_fields(&self) -> Result<(), FetchError> {
        let base = self.base();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return bad_request(
                "base url",
                format!("`{}` must start with http:// or https://", self.base_url),
            );
        }
        let symbol = self.symbol_upper();
        if symbol.is_empty()
            || !symbol
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return bad_request(
                "symbol",
                format!(
                    "`{}` must be letters, digits or `_`, e.g. BTCUSDT or BTCUSD_PERP",
                    self.symbol
                ),
            );
        }
        if !INTERVALS.contains(&self.interval.as_str()) {
            return bad_request(
                "interval",
                format!("`{}` is not one of {}", self.interval, INTERVALS.join(", ")),
            );
        }
        Ok(())
    }
}

fn bad_request<T>(field: &'static str, problem: String) -> Result<T, FetchError> {
    Err(FetchError::BadRequest { field, problem })
}

/// What a fetch did. `files` lists one cached CSV per day, in date order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOutcome {
    pub files: Vec<PathBuf>,
    /// Days downloaded by this call.
    pub downloaded: usize,
    /// Days found valid in the cache and not downloaded.
    pub cached: usize,
    /// Bytes of zip (and checksum) received.
    pub bytes_downloaded: u64,
}

impl FetchOutcome {
    /// All days' bars, concatenated and checked to be in strictly increasing time order.
    pub fn load_bars(&self) -> Result<Vec<Bar>, DataError> {
        data::load_concatenated(&self.files)
    }

    /// Concatenates all days into one file in the simple CSV format; returns the bar count.
    pub fn write_simple_csv(&self, out: &Path) -> Result<usize, DataError> {
        let bars = self.load_bars()?;
        data::write_simple_csv(out, &bars)?;
        Ok(bars.len())
    }
}

/// Downloads every day of the request that is not already cached.
///
/// `progress(done, total)` is called once with `done = 0` before the first day and then after
/// each day. Stops at the first failing day; days fetched before it stay cached, so running
/// the same request again resumes.
pub fn fetch_klines(
    req: &FetchRequest,
    mut progress: impl FnMut(usize, usize),
) -> Result<FetchOutcome, FetchError> {
    let dates = req.dates()?;
    let agent = http_agent();
    let mut outcome = FetchOutcome::default();
    progress(0, dates.len());
    for (i, &date) in dates.iter().enumerate() {
        let path = req.cache_path(date);
        if is_valid_cache_file(&path) {
            outcome.cached += 1;
        } else {
            outcome.bytes_downloaded += fetch_day(&agent, req, date, &path)?;
            outcome.downloaded += 1;
        }
        outcome.files.push(path);
        progress(i + 1, dates.len());
    }
    Ok(outcome)
}

fn http_agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .user_agent(concat!("bulwark-lab/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A cached file counts only if it still parses: a half-written or hand-edited file is fetched
/// again rather than trusted.
fn is_valid_cache_file(path: &Path) -> bool {
    path.is_file() && data::load_bars(path).is_ok()
}

/// Downloads, verifies, extracts and caches one day; returns the bytes received.
fn fetch_day(
    agent: &ureq::Agent,
    req: &FetchRequest,
    date: CivilDate,
    path: &Path,
) -> Result<u64, FetchError> {
    let url = req.day_url(date);
    let zip_bytes = get(agent, req, &url).map_err(|e| e.for_day(req, date, &url))?;
    let mut received = zip_bytes.len() as u64;
    if req.verify_checksum {
        received += verify_checksum(agent, req, &url, &zip_bytes)?;
    }
    let csv = extract_single_csv(&zip_bytes, &url)?;
    data::load_bars_from_reader(csv.as_slice(), &url)
        .map_err(|source| FetchError::BadData { date, source })?;
    write_atomically(path, &csv)?;
    Ok(received)
}

/// Why a GET failed, before we know whether a 404 means "no such day" or "no checksum".
enum GetError {
    NotFound,
    Other(FetchError),
}

impl GetError {
    fn for_day(self, req: &FetchRequest, date: CivilDate, url: &str) -> FetchError {
        match self {
            GetError::NotFound => FetchError::NotFound {
                symbol: req.symbol_upper(),
                interval: req.interval.clone(),
                date,
                url: url.to_string(),
            },
            GetError::Other(e) => e,
        }
    }
}

fn get(agent: &ureq::Agent, req: &FetchRequest, url: &str) -> Result<Vec<u8>, GetError> {
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(404, _)) => return Err(GetError::NotFound),
        Err(ureq::Error::Status(status, _)) => {
            return Err(GetError::Other(FetchError::Http {
                url: url.to_string(),
                status,
            }))
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(GetError::Other(FetchError::Unreachable {
                base_url: req.base().to_string(),
                cause: transport_cause(&t),
            }))
        }
    };
    read_limited(response.into_reader(), url).map_err(GetError::Other)
}

/// The failure without the URL (the message already names the base URL): e.g.
/// "Dns Failed: failed to lookup address information: Name or service not known".
fn transport_cause(t: &ureq::Transport) -> String {
    let detail = std::error::Error::source(t)
        .map(|source| source.to_string())
        .or_else(|| t.message().map(str::to_string));
    match detail {
        Some(detail) => format!("{}: {detail}", t.kind()),
        None => t.kind().to_string(),
    }
}

fn read_limited(reader: impl Read, url: &str) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOWNLOAD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FetchError::Download {
            url: url.to_string(),
            cause: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_DOWNLOAD_BYTES {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit: MAX_DOWNLOAD_BYTES,
        });
    }
    Ok(bytes)
}

/// Fetches `{url}.CHECKSUM` (`<sha256 hex>  <file name>`) and compares; returns bytes received.
fn verify_checksum(
    agent: &ureq::Agent,
    req: &FetchRequest,
    url: &str,
    zip_bytes: &[u8],
) -> Result<u64, FetchError> {
    let checksum_url = format!("{url}.CHECKSUM");
    let bad_file = |problem: &str| FetchError::BadChecksumFile {
        url: checksum_url.clone(),
        problem: problem.to_string(),
    };
    let text = match get(agent, req, &checksum_url) {
        Ok(text) => text,
        Err(GetError::NotFound) => return Err(bad_file("it does not exist (HTTP 404)")),
        Err(GetError::Other(e)) => return Err(e),
    };
    let expected = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.split_whitespace().next())
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| bad_file("it does not start with a sha256 in hex"))?
        .to_ascii_lowercase();
    let actual = sha256_hex(zip_bytes);
    if actual != expected {
        return Err(FetchError::ChecksumMismatch {
            url: url.to_string(),
            expected,
            actual,
        });
    }
    Ok(text.len() as u64)
}

/// Lower-case hex sha256 of `bytes`, as the archive's `.CHECKSUM` files write it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The contents of the one CSV file in an archive zip.
fn extract_single_csv(zip_bytes: &[u8], url: &str) -> Result<Vec<u8>, FetchError> {
    let bad_zip = |problem: String| FetchError::BadZip {
        url: url.to_string(),
        problem,
    };
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip_bytes)).map_err(|e| bad_zip(e.to_string()))?;
    let files: Vec<String> = archive
        .file_names()
        .filter(|name| !name.ends_with('/'))
        .map(str::to_string)
        .collect();
    let [name] = files.as_slice() else {
        return Err(bad_zip(format!(
            "expected exactly one file inside, found {}: {}",
            files.len(),
            files.join(", ")
        )));
    };
    if !name.ends_with(".csv") {
        return Err(bad_zip(format!("the file inside, `{name}`, is not a .csv")));
    }
    let entry = archive.by_name(name).map_err(|e| bad_zip(e.to_string()))?;
    let mut csv = Vec::new();
    entry
        .take(MAX_DOWNLOAD_BYTES + 1)
        .read_to_end(&mut csv)
        .map_err(|e| bad_zip(format!("cannot decompress `{name}`: {e}")))?;
    if csv.len() as u64 > MAX_DOWNLOAD_BYTES {
        return Err(bad_zip(format!(
            "`{name}` unpacks to more than {MAX_DOWNLOAD_BYTES} bytes"
        )));
    }
    Ok(csv)
}

/// Writes to a `.part` file and renames it into place, so an interrupted fetch never leaves a
/// truncated file under the final name.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let cache_error = |source| FetchError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(cache_error)?;
    }
    let part = path.with_extension("csv.part");
    fs::write(&part, bytes).map_err(cache_error)?;
    fs::rename(&part, path).map_err(cache_error)
}

#[cfg(test)]
mod tests;
