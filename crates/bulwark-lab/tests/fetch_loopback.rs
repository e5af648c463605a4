//! `fetch_klines` against a tiny HTTP/1.1 server on loopback that imitates the archive.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bulwark_lab::data::load_bars;
use bulwark_lab::fetch::{fetch_klines, sha256_hex, CivilDate, FetchError, FetchRequest, Market};

/// The server gives up by itself after this long, even if a test forgets to stop it.
const SERVER_LIFETIME: Duration = Duration::from_secs(30);

struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    zip_requests: Arc<AtomicUsize>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(routes: HashMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let zip_requests = Arc::new(AtomicUsize::new(0));
        let routes = Arc::new(routes);
        let (stop2, count2) = (stop.clone(), zip_requests.clone());
        let handle = thread::spawn(move || serve(listener, &routes, &stop2, &count2));
        Self {
            addr,
            stop,
            zip_requests,
            handle: Some(handle),
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            handle.join().unwrap();
        }
    }
}

fn serve(
    listener: TcpListener,
    routes: &HashMap<String, Vec<u8>>,
    stop: &AtomicBool,
    zip_requests: &AtomicUsize,
) {
    let deadline = Instant::now() + SERVER_LIFETIME;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, routes, zip_requests),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("test server accept failed: {e}"),
        }
    }
}

fn answer(mut stream: TcpStream, routes: &HashMap<String, Vec<u8>>, zips: &AtomicUsize) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let Some(path) = read_request_path(&mut stream) else {
        return;
    };
    if path.ends_with(".zip") {
        zips.fetch_add(1, Ordering::SeqCst);
    }
    let body = routes.get(&path).cloned();
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => (
            "404 Not Found",
            b"<Error><Code>NoSuchKey</Code></Error>".to_vec(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The client may hang up early; that is its business.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// Reads the request head (bounded) and returns the path of `GET <path> HTTP/1.1`.
fn read_request_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace().nth(1).map(str::to_string)
}

fn date(s: &str) -> CivilDate {
    s.parse().unwrap()
}

/// Three one-minute rows at the day's midnight, in the archive's exact 12-column format.
fn day_rows(day: CivilDate) -> String {
    (0..3u64)
        .map(|i| {
            let open_ms = day.start_ms() + i * 60_000;
            let p = 5000.0 + i as f64;
            format!(
                "{open_ms},{p:.2},{:.2},{:.2},{:.2},12.345,{},61725.00,42,6.1,30500.00,0\n",
                p + 1.0,
                p - 1.0,
                p + 0.5,
                open_ms + 59_999
            )
        })
        .collect()
}

fn zip_of(name: &str, contents: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer.start_file(name, options).unwrap();
    writer.write_all(contents.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

const PREFIX: &str = "/data/futures/um/daily/klines/BTCUSDT/1m";

/// Routes for the given days: each day's zip and its `.CHECKSUM`.
fn archive_routes(days: &[&str]) -> HashMap<String, Vec<u8>> {
    let mut routes = HashMap::new();
    for day in days {
        let stem = format!("BTCUSDT-1m-{day}");
        let zip = zip_of(&format!("{stem}.csv"), &day_rows(date(day)));
        let checksum = format!("{}  {stem}.zip\n", sha256_hex(&zip));
        routes.insert(
            format!("{PREFIX}/{stem}.zip.CHECKSUM"),
            checksum.into_bytes(),
        );
        routes.insert(format!("{PREFIX}/{stem}.zip"), zip);
    }
    routes
}

fn request(base_url: String, from: &str, to: &str, cache_dir: &Path) -> FetchRequest {
    FetchRequest {
        base_url,
        ..FetchRequest::new(
            Market::FuturesUm,
            "BTCUSDT",
            "1m",
            date(from),
            date(to),
            cache_dir,
        )
    }
}

#[test]
fn fetches_caches_and_skips_cached_days() {
    let server = TestServer::start(archive_routes(&["2020-03-11", "2020-03-12", "2020-03-13"]));
    let cache = tempfile::tempdir().unwrap();
    let req = request(server.base_url(), "2020-03-11", "2020-03-13", cache.path());

    let mut calls = Vec::new();
    let first = fetch_klines(&req, |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls, vec![(0, 3), (1, 3), (2, 3), (3, 3)]);
    assert_eq!((first.downloaded, first.cached), (3, 0));
    assert!(first.bytes_downloaded > 0);
    let expected = cache
        .path()
        .join("futures/um/BTCUSDT/1m/BTCUSDT-1m-2020-03-12.csv");
    assert_eq!(first.files[1], expected);
    // The cached file is the archive's CSV, verbatim.
    let cached = std::fs::read_to_string(&expected).unwrap();
    assert_eq!(cached, day_rows(date("2020-03-12")));
    let bars = load_bars(&expected).unwrap();
    assert_eq!(bars[0].open_time_ms, 1_583_971_200_000);
    assert_eq!((bars[2].open, bars[2].high), (5002.0, 5003.0));
    assert_eq!(server.zip_requests.load(Ordering::SeqCst), 3);

    let second = fetch_klines(&req, |_, _| {}).unwrap();
    assert_eq!((second.downloaded, second.cached), (0, 3));
    assert_eq!(second.files, first.files);
    assert_eq!(
        server.zip_requests.load(Ordering::SeqCst),
        3,
        "nothing downloaded again"
    );

    // A damaged cache file is fetched again rather than trusted.
    std::fs::write(&expected, "garbage\n").unwrap();
    let third = fetch_klines(&req, |_, _| {}).unwrap();
    assert_eq!((third.downloaded, third.cached), (1, 2));

    let out = cache.path().join("all.csv");
    assert_eq!(third.write_simple_csv(&out).unwrap(), 9);
    let all = load_bars(&out).unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(all[3].open_time_ms, 1_583_971_200_000);
}

#[test]
fn missing_day_is_a_clear_404_error() {
    let server = TestServer::start(archive_routes(&["2020-03-12"]));
    let cache = tempfile::tempdir().unwrap();
    let req = request(server.base_url(), "2020-03-12", "2020-03-13", cache.path());
    let err = fetch_klines(&req, |_, _| {}).unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "no archive file for BTCUSDT 1m on 2020-03-13 (the archive publishes daily files \
             one day late; check the symbol and market)"
        ),
        "{message}"
    );
    // The day before the missing one stays cached for the next try.
    assert!(req.cache_path(date("2020-03-12")).is_file());
}

#[test]
fn closed_port_is_unreachable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let cache = tempfile::tempdir().unwrap();
    let base_url = format!("http://127.0.0.1:{port}");
    let req = request(base_url.clone(), "2020-03-12", "2020-03-12", cache.path());
    let err = fetch_klines(&req, |_, _| {}).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    assert!(
        message.starts_with(&format!("could not reach {base_url}: ")),
        "{message}"
    );
    assert!(
        message.ends_with("; check your network or pass --base-url to a mirror"),
        "{message}"
    );
}

#[test]
fn wrong_checksum_is_rejected_and_nothing_is_cached() {
    let mut routes = archive_routes(&["2020-03-12"]);
    let key = format!("{PREFIX}/BTCUSDT-1m-2020-03-12.zip.CHECKSUM");
    routes.insert(key, format!("{}  x.zip\n", "0".repeat(64)).into_bytes());
    let server = TestServer::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let mut req = request(server.base_url(), "2020-03-12", "2020-03-12", cache.path());
    let err = fetch_klines(&req, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(!req.cache_path(date("2020-03-12")).exists());
    // With verification off the same download is accepted.
    req.verify_checksum = false;
    assert_eq!(fetch_klines(&req, |_, _| {}).unwrap().downloaded, 1);
}

#[test]
fn corrupt_zip_is_a_clear_error() {
    let mut routes = archive_routes(&[]);
    let stem = "BTCUSDT-1m-2020-03-12";
    let junk = b"PK\x03\x04 this is not really a zip".to_vec();
    let checksum = format!("{}  {stem}.zip\n", sha256_hex(&junk));
    routes.insert(format!("{PREFIX}/{stem}.zip"), junk);
    routes.insert(
        format!("{PREFIX}/{stem}.zip.CHECKSUM"),
        checksum.into_bytes(),
    );
    let server = TestServer::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let req = request(server.base_url(), "2020-03-12", "2020-03-12", cache.path());
    let err = fetch_klines(&req, |_, _| {}).unwrap_err();
    assert!(matches!(err, FetchError::BadZip { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not a usable kline zip"),
        "{err}"
    );
}

#[test]
fn zip_with_invalid_rows_is_not_cached() {
    let mut routes = HashMap::new();
    let stem = "BTCUSDT-1m-2020-03-12";
    // high below the close on line 1.
    let zip = zip_of(&format!("{stem}.csv"), "1583971200000,10,10.5,9,11,1\n");
    routes.insert(format!("{PREFIX}/{stem}.zip"), zip);
    let server = TestServer::start(routes);
    let cache = tempfile::tempdir().unwrap();
    let mut req = request(server.base_url(), "2020-03-12", "2020-03-12", cache.path());
    req.verify_checksum = false;
    let err = fetch_klines(&req, |_, _| {}).unwrap_err();
    assert!(matches!(err, FetchError::BadData { .. }), "{err:?}");
    assert!(err.to_string().contains("line 1: field `high`"), "{err}");
    assert!(!req.cache_path(date("2020-03-12")).exists());
}
