use super::*;

fn date(s: &str) -> CivilDate {
    s.parse().unwrap()
}

#[test]
fn civil_dates_hand_checked() {
    assert_eq!(date("1970-01-01").days_since_epoch(), 0);
    // 2020-03-12 00:00 UTC = 1,583,971,200,000 ms = 18,333 days.
    assert_eq!(date("2020-03-12").days_since_epoch(), 18_333);
    assert_eq!(date("2020-03-12").start_ms(), 1_583_971_200_000);
    assert_eq!(
        CivilDate::from_days_since_epoch(18_333),
        Some(date("2020-03-12"))
    );
    assert_eq!(date("2020-02-28").next(), Some(date("2020-02-29")));
    assert_eq!(date("2021-02-28").next(), Some(date("2021-03-01")));
    assert_eq!(date("2020-12-31").next(), Some(date("2021-01-01")));
    assert_eq!(date("2000-02-29").to_string(), "2000-02-29");
    assert_eq!(date("9999-12-31").next(), None);
}

#[test]
fn civil_dates_round_trip_over_a_century() {
    let start = date("1970-01-01").days_since_epoch();
    let mut d = date("1970-01-01");
    for offset in 0..36_600 {
        assert_eq!(d.days_since_epoch(), start + offset);
        assert_eq!(CivilDate::from_days_since_epoch(start + offset), Some(d));
        d = d.next().unwrap();
    }
    // Checked against Python: date(1970, 1, 1) + timedelta(36600).
    assert_eq!(d, date("2070-03-17"));
}

#[test]
fn bad_dates_are_rejected() {
    for text in [
        "2021-02-29",
        "1900-02-29",
        "2020-13-01",
        "2020-3-1",
        "20200301",
        "1969-12-31",
    ] {
        let err = text.parse::<CivilDate>().unwrap_err();
        assert!(err.to_string().contains(text), "{err}");
    }
}

fn request() -> FetchRequest {
    FetchRequest::new(
        Market::FuturesUm,
        "btcusdt",
        "1m",
        date("2020-03-12"),
        date("2020-03-13"),
        Path::new("/cache"),
    )
}

#[test]
fn urls_and_cache_paths_follow_the_archive_layout() {
    let req = request();
    assert_eq!(
        req.day_url(date("2020-03-12")),
        "https://data.binance.vision/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-03-12.zip"
    );
    assert_eq!(
        req.cache_path(date("2020-03-12")),
        Path::new("/cache/futures/um/BTCUSDT/1m/BTCUSDT-1m-2020-03-12.csv")
    );
    let spot = FetchRequest {
        market: Market::Spot,
        base_url: "http://mirror.example/".to_string(),
        ..req
    };
    assert_eq!(
        spot.day_url(date("2020-03-13")),
        "http://mirror.example/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-03-13.zip"
    );
}

#[test]
fn markets_parse() {
    assert_eq!("spot".parse::<Market>().unwrap(), Market::Spot);
    assert_eq!("um".parse::<Market>().unwrap(), Market::FuturesUm);
    assert_eq!("futures/cm".parse::<Market>().unwrap(), Market::FuturesCm);
    assert!("options".parse::<Market>().is_err());
}

#[test]
fn request_validation() {
    assert_eq!(
        request().dates().unwrap(),
        vec![date("2020-03-12"), date("2020-03-13")]
    );
    let field_of = |req: FetchRequest| match req.dates() {
        Err(FetchError::BadRequest { field, .. }) => field,
        other => panic!("expected BadRequest, got {other:?}"),
    };
    let reversed = FetchRequest {
        from: date("2020-03-14"),
        ..request()
    };
    assert_eq!(field_of(reversed), "date range");
    let interval = FetchRequest {
        interval: "7m".to_string(),
        ..request()
    };
    assert_eq!(field_of(interval), "interval");
    let symbol = FetchRequest {
        symbol: "BTC/USDT".to_string(),
        ..request()
    };
    assert_eq!(field_of(symbol), "symbol");
    let base = FetchRequest {
        base_url: "data.binance.vision".to_string(),
        ..request()
    };
    assert_eq!(field_of(base), "base url");
}

#[test]
fn sha256_hex_known_value() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn extract_rejects_zips_without_a_single_csv() {
    let err = extract_single_csv(b"not a zip", "u").unwrap_err();
    assert!(matches!(err, FetchError::BadZip { .. }), "{err:?}");
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for name in ["a.csv", "b.csv"] {
        writer.start_file(name, options).unwrap();
    }
    let bytes = writer.finish().unwrap().into_inner();
    let err = extract_single_csv(&bytes, "u").unwrap_err();
    assert!(err.to_string().contains("exactly one file"), "{err}");
}
