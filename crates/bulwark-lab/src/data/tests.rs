use super::*;

/// Three rows exactly as Binance's archive writes them (12 columns, no header).
const BINANCE_3: &str = "\
1584057600000,4800.00,4900.50,4750.25,4850.00,1234.567,1584057659999,5987000.12,3456,600.1,2900000.5,0
1584057660000,4850.00,4860.00,4700.00,4710.10,2000.000,1584057719999,9500000.00,5000,900.0,4200000.0,0
1584057720000,4710.10,4800.00,4705.00,4790.00,100.5,1584057779999,480000.00,300,50.0,240000.0,0
";

fn load_str(text: &str) -> Result<Vec<Bar>, DataError> {
    load_bars_from_reader(text.as_bytes(), "snippet.csv")
}

fn row_error(text: &str) -> (u64, &'static str, String) {
    match load_str(text) {
        Err(DataError::Row {
            line,
            field,
            problem,
            ..
        }) => (line, field, problem),
        other => panic!("expected a row error, got {other:?}"),
    }
}

#[test]
fn loads_binance_archive_rows() {
    let bars = load_str(BINANCE_3).unwrap();
    assert_eq!(bars.len(), 3);
    assert_eq!(
        bars[0],
        Bar {
            open_time_ms: 1_584_057_600_000,
            open: 4800.0,
            high: 4900.5,
            low: 4750.25,
            close: 4850.0,
            volume: 1234.567,
        }
    );
    assert_eq!(bars[1].low, 4700.0);
    assert_eq!(bars[2].open_time_ms, 1_584_057_720_000);
    assert_eq!(bars[2].volume, 100.5);
}

#[test]
fn loads_binance_rows_with_header_and_six_columns() {
    let text = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
taker_buy_volume,taker_buy_quote_volume,ignore
1584057600000,4800.00,4900.50,4750.25,4850.00,1234.567
";
    let bars = load_str(text).unwrap();
    assert_eq!(bars.len(), 1);
    assert_eq!(bars[0].high, 4900.5);
}

#[test]
fn normalizes_microsecond_open_times() {
    let text = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689659999999,769057.1,1511,3.6,340000.0,0\n";
    let bars = load_str(text).unwrap();
    assert_eq!(bars[0].open_time_ms, 1_735_689_600_000);
}

#[test]
fn loads_simple_csv() {
    let text = "open_time_ms,open,high,low,close,volume
1583971200000,7938.05,7969.45,4644.0,4857.1,113902.20332904
1584057600000,4857.1,5995.0,3858.0,5637.6,130316.64684438
";
    let bars = load_str(text).unwrap();
    assert_eq!(bars.len(), 2);
    assert_eq!(bars[1].low, 3858.0);
    assert_eq!(bars[0].close, 4857.1);
}

#[test]
fn simple_csv_rejects_microseconds() {
    let text = "open_time_ms,open,high,low,close,volume\n1735689600000000,1,1,1,1,0\n";
    let (line, field, problem) = row_error(text);
    assert_eq!((line, field), (2, "open_time_ms"));
    assert!(problem.contains("microseconds"), "{problem}");
}

#[test]
fn error_names_line_and_field_for_high_below_body() {
    let text = "open_time_ms,open,high,low,close,volume
1000,10,11,9,10.5,1
2000,10,10.2,9,10.5,1
";
    let (line, field, problem) = row_error(text);
    assert_eq!((line, field), (3, "high"));
    assert!(problem.contains("10.5"), "{problem}");
}

#[test]
fn error_names_line_and_field_for_low_above_body() {
    let (line, field, _) = row_error("1000,10,11,10.1,10.5,1\n");
    assert_eq!((line, field), (1, "low"));
}

#[test]
fn error_names_line_and_field_for_non_positive_price() {
    let (line, field, _) = row_error("1000,10,11,9,10.5,1\n2000,0,11,0,10.5,1\n");
    assert_eq!((line, field), (2, "open"));
}

#[test]
fn error_names_line_and_field_for_non_finite_price() {
    let (line, field, _) = row_error("1000,10,inf,9,10.5,1\n");
    assert_eq!((line, field), (1, "high"));
}

#[test]
fn error_names_line_and_field_for_unparsable_number() {
    let (line, field, problem) = row_error("1000,10,11,9,abc,1\n");
    assert_eq!((line, field), (1, "close"));
    assert!(problem.contains("abc"), "{problem}");
}

#[test]
fn error_names_line_and_field_for_negative_volume() {
    let (line, field, _) = row_error("1000,10,11,9,10,-1\n");
    assert_eq!((line, field), (1, "volume"));
}

#[test]
fn error_names_line_for_non_increasing_time() {
    let (line, field, _) = row_error("2000,10,11,9,10,1\n2000,10,11,9,10,1\n");
    assert_eq!((line, field), (2, "open_time"));
}

#[test]
fn error_for_short_row() {
    let (line, _, problem) = row_error("1000,10,11,9,10,1\n2000,10,11\n");
    assert_eq!(line, 2);
    assert!(problem.contains("3 columns"), "{problem}");
}

#[test]
fn error_message_names_file_line_and_field() {
    let err = load_str("1000,10,11,9,abc,1\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "snippet.csv: line 1: field `close`: `abc` is not a number"
    );
}

#[test]
fn unknown_header_and_empty_file_are_errors() {
    let err = load_str("timestamp,percentage,depth\n1,2,3\n").unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }), "{err:?}");
    let err = load_str("open_time_ms,open,high,low,close,volume\n").unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
}

#[test]
fn missing_file_error_names_the_file() {
    let err = load_bars(Path::new("/nonexistent/bars.csv")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/bars.csv"), "{err}");
}

#[test]
fn clip_bad_prints_fixes_the_coinbase_2017_print_only() {
    let bars = [
        Bar {
            open_time_ms: 1_492_214_400_000,
            open: 1173.13,
            high: 1190.99,
            low: 0.06,
            close: 1178.85,
            volume: 3972.0,
        },
        // 2020-03-13: a real 21% wick below the body must survive.
        Bar {
            open_time_ms: 1_584_057_600_000,
            open: 4857.1,
            high: 5995.0,
            low: 3858.0,
            close: 5637.6,
            volume: 1.0,
        },
    ];
    let (cleaned, repairs) = clip_bad_prints(&bars, DEFAULT_MAX_WICK_FRAC);
    assert_eq!(
        repairs,
        vec![Repair {
            open_time_ms: 1_492_214_400_000,
            field: "low",
            was: 0.06,
            now: 1173.13,
        }]
    );
    assert_eq!(cleaned[0].low, 1173.13);
    assert_eq!(cleaned[1], bars[1]);
    assert!(cleaned.iter().all(|b| b.check().is_ok()));
}

#[test]
fn clip_bad_prints_clips_high_symmetrically() {
    // A high at exactly twice the body measures 0.5: kept at 0.5, clipped at 0.49.
    let bar = Bar {
        open_time_ms: 0,
        open: 100.0,
        high: 200.0,
        low: 100.0,
        close: 100.0,
        volume: 0.0,
    };
    assert!(clip_bad_prints(&[bar], 0.5).1.is_empty());
    let (cleaned, repairs) = clip_bad_prints(&[bar], 0.49);
    assert_eq!(repairs.len(), 1);
    assert_eq!(cleaned[0].high, 100.0);
}

#[test]
fn simple_csv_round_trips_exactly() {
    let bars = load_str(BINANCE_3).unwrap();
    let mut out = Vec::new();
    write_simple_csv_to(&mut out, &bars).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("open_time_ms,open,high,low,close,volume\n1584057600000,4800,4900.5,"));
    assert_eq!(load_str(&text).unwrap(), bars);
}

#[test]
fn load_concatenated_rejects_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    std::fs::write(&a, "1000,10,11,9,10,1\n2000,10,11,9,10,1\n").unwrap();
    std::fs::write(&b, "3000,10,11,9,10,1\n").unwrap();
    let bars = load_concatenated(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(bars.len(), 3);
    let err = load_concatenated(&[b, a]).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Overlap {
                first_ms: 1000,
                prev_last_ms: 3000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn loads_gas_prices() {
    let text = "\"Date(UTC)\",\"UnixTimeStamp\",\"Value (Wei)\"
\"3/11/2020\",\"1583884800\",\"12900000000\"
\"3/12/2020\",\"1583971200\",\"77900000000\"
";
    let days = load_gas_prices_from_reader(text.as_bytes(), "gas.csv").unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[1].day_start_ms, 1_583_971_200_000);
    assert_eq!(days[1].avg_wei, 77_900_000_000);
    assert_eq!(days[1].avg_gwei(), 77.9);
}

#[test]
fn gas_price_errors_name_line_and_field() {
    let text = "\"Date(UTC)\",\"UnixTimeStamp\",\"Value (Wei)\"
\"3/11/2020\",\"1583884800\",\"12.9 gwei\"
";
    let err = load_gas_prices_from_reader(text.as_bytes(), "gas.csv").unwrap_err();
    assert_eq!(
        err.to_string(),
        "gas.csv: line 2: field `Value (Wei)`: `12.9 gwei` is not a non-negative integer"
    );
}

#[test]
fn gaps_are_found_and_a_long_one_is_refused_by_time_and_length() {
    let flat = |t: u64| Bar {
        open_time_ms: t,
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 0.0,
    };
    // 2025-10-10 21:00 UTC, then minute bars with a 13-minute hole after 21:01 and a
    // 2-minute one after 21:15.
    let t0 = 1_760_130_000_000;
    let m = 60_000;
    let bars = [flat(t0), flat(t0 + m), flat(t0 + 15 * m), flat(t0 + 18 * m)];
    let gaps = find_gaps(&bars, m);
    assert_eq!(
        gaps,
        vec![
            DataGap {
                start_ms: t0 + 2 * m,
                end_ms: t0 + 15 * m
            },
            DataGap {
                start_ms: t0 + 16 * m,
                end_ms: t0 + 18 * m
            },
        ]
    );
    assert_eq!(gaps[0].length_ms(), 13 * m);
    assert!(check_max_gap(&gaps, 780, "f.csv").is_ok());
    let err = check_max_gap(&gaps, 60, "f.csv").unwrap_err().to_string();
    assert!(
        err.contains("gap of 780 s starting 2025-10-10 21:02:00 UTC (1760130120000 ms)")
            && err.contains("max_gap_s = 60")
            && err.contains("(and 1 more such gaps)")
            && err.starts_with("f.csv"),
        "{err}"
    );
    assert_eq!(format_utc_ms(0), "1970-01-01 00:00:00 UTC");
}
