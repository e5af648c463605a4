//! Fuzz target (a proptest: nightly and cargo-fuzz are not available): arbitrary command
//! sequences as JSON lines with extreme values (0, 1, -1, i64::MAX/MIN, u64::MAX, values at
//! and just past every bound in `engine::limits`, tiny and huge prices, unknown accounts,
//! markets and orders, misspelt and invented field names) are parsed into `Command` (a parse
//! error is fine) and applied to an engine set up with two markets, one of them at extreme but
//! valid parameters, deposits and resting orders, so that trades, liquidations and the
//! waterfall happen. The defences are in the mix: oracle sources (fresh, stale or from the
//! future relative to the command's time, out of range, with and without a confidence),
//! volatility reports, and every defence switched on and off with partial or out-of-range
//! parameter objects. After every command: nothing panicked, every invariant holds, and a
//! rejected command left the state hash unchanged.
//!
//! A second property throws the same lines with faults injected into the commit phase of
//! random commands (the `testing` feature): each faulted command must be rejected as an engine
//! bug with the state exactly as before, and the run must end where an engine that never saw
//! the faulted commands ends.
//!
//! `cargo test` runs 128 cases (a few seconds); hunt with many more:
//! `PROPTEST_CASES=5000 cargo test -p bulwark-engine --test fuzz_commands`.
//! Every input it ever found that panicked is a regression test in `no_panic.rs`. With
//! `FUZZ_STATS=1` (and `--nocapture`) it prints each applied command, its outcome and its
//! events, to see what a run covers (`sort | uniq -c`).

use bulwark_core::MICROS_PER_UNIT;
use bulwark_engine::limits;
use bulwark_engine::*;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[path = "fuzz_commands/setup.rs"]
mod setup;
use setup::{setup, MAX_ACCOUNTS};

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// Integers at the edges of every type and bound, and small ones.
fn int() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..12).prop_map(Value::from),
        1 => Just(json!(-1)),
        1 => Just(json!(i64::MAX)),
        1 => Just(json!(i64::MIN)),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(u32::MAX)),
        1 => Just(json!(u16::MAX)),
        1 => Just(json!(limits::MAX_TIMESTAMP_MS)),
        1 => Just(json!(limits::MAX_DURATION_MS + 1)),
        1 => Just(json!(limits::MAX_VAULT_SHARES)),
        1 => Just(json!(limits::MAX_VAULT_SHARES + 1)),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
    ]
}

/// An account id: mostly funded or unknown ones, sometimes out of range.
fn account() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => (0u32..6).prop_map(Value::from),
        2 => (6u32..10).prop_map(Value::from),
        1 => Just(json!(MAX_ACCOUNTS)),
        1 => int()
    ]
}

fn market() -> impl Strategy<Value = Value> {
    prop_oneof![8 => (0u16..2).prop_map(Value::from), 1 => Just(json!(2)), 1 => int()]
}

/// Money as JSON: a decimal string (tiny, huge, at and past the bounds, negative, malformed)
/// or a whole number.
fn money() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (1i64..200_000).prop_map(|w| json!(w.to_string())),
        2 => (1i64..1_000_000).prop_map(|m| json!(format!("0.{m:06}"))),
        1 => Just(json!("0")),
        1 => Just(json!("-1")),
        1 => Just(json!("0.000001")),
        1 => Just(json!("1000000000000")),
        1 => Just(json!("1000000000000.000001")),
        1 => Just(json!("9223372036854.775807")),
        1 => Just(json!("-9223372036854.775808")),
        1 => Just(json!("1e3")),
        1 => Just(json!(1.5)),
        1 => int(),
    ]
}

/// A price: mostly near market 0's 50,000 (jumps included, so liquidations happen), or tiny,
/// huge, at and past the maximum, off tick, zero and negative.
fn price() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (10_000i64..120_000).prop_map(|w| json!(w.to_string())),
        2 => (45_000i64..55_000).prop_map(|w| json!(w.to_string())),
        1 => Just(json!("0.000001")),
        1 => Just(json!("0.5")),
        1 => Just(json!("10000000")),
        1 => Just(json!("10000000.000001")),
        1 => Just(json!("1000000000")),
        1 => Just(json!("1000000000.000001")),
        1 => Just(json!("50000000")),
        1 => Just(json!("0")),
        1 => Just(json!("-50000")),
        1 => money(),
    ]
}

fn qty() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (1i64..300).prop_map(Value::from),
        2 => (300i64..30_000).prop_map(Value::from),
        1 => Just(json!(100_000_000_000i64)),
        1 => Just(json!(200_000_000_001i64)),
        1 => int(),
    ]
}

fn scope() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(json!({"scope": "cross"})),
        1 => market().prop_map(|m| json!({"scope": "isolated", "market": m})),
        1 => Just(json!({"scope": "nowhere"})),
    ]
}

fn param() -> impl Strategy<Value = Value> {
    let ppm_names = prop_oneof![
        Just("maintenance"),
        Just("initial_multiplier"),
        Just("size_premium"),
        Just("maker_fee"),
        Just("taker_fee"),
        Just("funding_clamp"),
        Just("trade_ema_alpha"),
        Just("market_order_band"),
        Just("liquidation_end_multiplier"),
        Just("liquidation_penalty"),
        Just("keeper_reward_share"),
        Just("liquidation_band"),
        Just("insurance_fee_share"),
    ];
    let ppm = prop_oneof![
        3 => (0i64..1_000_001).prop_map(Value::from),
        1 => Just(json!(100_000_000)),
        1 => int(),
    ];
    prop_oneof![
        4 => (ppm_names, ppm).prop_map(|(n, v)| json!({"name": n, "value": v})),
        1 => (prop_oneof![Just("funding_interval_ms"), Just("oracle_stale_ms")], int())
            .prop_map(|(n, v)| json!({"name": n, "value": v})),
        1 => (prop_oneof![Just("max_order_qty"), Just("max_position_qty")], qty())
            .prop_map(|(n, v)| json!({"name": n, "value": v})),
        1 => (prop_oneof![Just("max_price"), Just("impact_notional_usd")], price())
            .prop_map(|(n, v)| json!({"name": n, "value": v})),
        1 => (any::<[bool; 4]>()).prop_map(|b| json!({"name": "waterfall", "value":
            {"vault": b[0], "insurance": b[1], "adl": b[2], "socialize": b[3]}})),
        1 => prop_oneof![Just("ranked"), Just("pro_rata"), Just("random")]
            .prop_map(|v| json!({"name": "adl_policy", "value": v})),
    ]
}

/// A fraction in ppm: mostly in [0, 100%], sometimes past it, negative or extreme.
fn ppm() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (0i64..1_000_001).prop_map(Value::from),
        2 => (0i64..100_000).prop_map(Value::from),
        1 => (1_000_001i64..100_000_000).prop_map(Value::from),
        1 => Just(json!(-1)),
        1 => int(),
    ]
}

/// A defence's duration: mostly within a day (its bound), sometimes zero, just past it or
/// extreme.
fn defence_ms() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (1u64..120_000).prop_map(Value::from),
        1 => Just(json!(0)),
        1 => Just(json!(defence::MAX_DEFENCE_MS)),
        1 => Just(json!(defence::MAX_DEFENCE_MS + 1)),
        1 => int(),
    ]
}

fn halt_mode() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => Just(json!("full")),
        4 => Just(json!("reduce_only")),
        1 => Just(json!("partial")),
    ]
}

/// An object of `fields`, each present with probability 3/4 (the defences' structs take
/// defaults for what is left out); `enabled` is true two times in three.
fn defence_object(
    fields: Vec<(&'static str, BoxedStrategy<Value>)>,
) -> impl Strategy<Value = Value> {
    let enabled = prop_oneof![2 => Just(json!(true)), 1 => Just(json!(false))];
    let present = fields
        .into_iter()
        .map(|(k, v)| proptest::option::weighted(0.75, v).prop_map(move |v| (k, v)))
        .collect::<Vec<_>>();
    (enabled, present).prop_map(|(enabled, fields)| {
        let mut m = serde_json::Map::new();
        m.insert("enabled".into(), enabled);
        for (k, v) in fields {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        }
        Value::Object(m)
    })
}

/// One defence switched as a whole (`oracle_guard`, `price_band`, `halt`, `divergence`,
/// `dynamic_margin`, `adaptive_fee`, `oi_cap`), or the maintenance override.
fn defence_param() -> impl Strategy<Value = Value> {
    let sources = prop_oneof![6 => (0i64..=9).prop_map(Value::from), 1 => int()].boxed();
    let named = |name: &'static str, fields: Vec<(&'static str, BoxedStrategy<Value>)>| {
        defence_object(fields).prop_map(move |v| json!({"name": name, "value": v}))
    };
    prop_oneof![
        named(
            "oracle_guard",
            vec![
                ("max_confidence", ppm().boxed()),
                ("max_deviation", ppm().boxed()),
                ("min_sources", sources.clone()),
                ("recover_sources", sources),
                ("recover_ms", defence_ms().boxed()),
                ("degraded_liquidation_band", ppm().boxed()),
            ]
        ),
        named("price_band", vec![("band", ppm().boxed())]),
        named(
            "stable_price",
            vec![(
                "growth_per_hour",
                prop_oneof![3 => (1i64..100_000_001).prop_map(Value::from), 1 => ppm()].boxed()
            )]
        ),
        named(
            "halt",
            vec![
                ("max_move", ppm().boxed()),
                ("window_ms", defence_ms().boxed()),
                ("cooldown_ms", defence_ms().boxed()),
                ("mode", halt_mode().boxed()),
                ("liquidations", any::<bool>().prop_map(Value::from).boxed()),
            ]
        ),
        named(
            "proactive",
            vec![
                ("move_ppm", ppm().boxed()),
                ("z", ppm().boxed()),
                ("horizon_s", int().boxed()),
                ("max_ratio", ppm().boxed()),
                ("min_at_risk_usd", money().boxed()),
                ("check_ms", defence_ms().boxed()),
                ("cooldown_ms", defence_ms().boxed()),
                ("mode", halt_mode().boxed()),
                ("liquidations", any::<bool>().prop_map(Value::from).boxed()),
            ]
        ),
        named(
            "divergence",
            vec![
                ("max_divergence", ppm().boxed()),
                ("cooldown_ms", defence_ms().boxed()),
                ("mode", halt_mode().boxed()),
                ("liquidations", any::<bool>().prop_map(Value::from).boxed()),
            ]
        ),
        named(
            "dynamic_margin",
            vec![
                ("floor", ppm().boxed()),
                (
                    "z",
                    prop_oneof![3 => (1i64..20_000_001).prop_map(Value::from), 1 => int()].boxed()
                ),
                (
                    "horizon_s",
                    prop_oneof![3 => (1i64..86_401).prop_map(Value::from), 1 => int()].boxed()
                ),
                ("max_change_per_hour", ppm().boxed()),
                ("step_ms", defence_ms().boxed()),
                ("notice_ms", defence_ms().boxed()),
                (
                    "override_maintenance",
                    prop_oneof![Just(Value::Null), ppm()].boxed()
                ),
            ]
        ),
        named(
            "adaptive_fee",
            vec![
                (
                    "slope",
                    prop_oneof![3 => (0i64..10_000_000).prop_map(Value::from), 1 => ppm()].boxed()
                ),
                (
                    "max_taker_fee",
                    prop_oneof![3 => (0i64..10_000).prop_map(Value::from), 1 => ppm()].boxed()
                ),
                ("surcharge_insurance_share", ppm().boxed()),
            ]
        ),
        named(
            "oi_cap",
            vec![
                ("max_open_interest", qty().boxed()),
                ("max_account_share", ppm().boxed()),
                ("scale_from", ppm().boxed()),
                (
                    "scale_max",
                    prop_oneof![3 => (1_000_000i64..10_000_001).prop_map(Value::from), 1 => ppm()]
                        .boxed()
                ),
            ]
        ),
        prop_oneof![Just(Value::Null), ppm()]
            .prop_map(|v| json!({"name": "maintenance_override", "value": v})),
    ]
}

/// When an oracle source says it published: relative to the command's time (`"@now"`,
/// `"@now-N"`, `"@now+N"`, resolved by `resolve_now` before parsing: fresh, stale, frozen,
/// in the future), or an absolute time (zero, extremes).
fn published() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => Just(json!("@now")),
        3 => (1u64..40_000).prop_map(|d| json!(format!("@now-{d}"))),
        2 => prop_oneof![Just(json!("@now-100000")), Just(json!("@now-3600000"))],
        1 => (1u64..10_000).prop_map(|d| json!(format!("@now+{d}"))),
        1 => Just(json!(0)),
        1 => int(),
    ]
}

/// Replace the `"@now"`, `"@now-N"` and `"@now+N"` of a line by times relative to `now`
/// (saturating), so that a source's report can be fresh whatever the time has become.
fn resolve_now(text: &str, now: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\"@now") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 5..];
        let end = tail.find('"').unwrap_or(tail.len());
        let (sign, digits) = tail[..end].split_at(tail[..end].len().min(1));
        let d: u64 = digits.parse().unwrap_or(0);
        let t = match sign {
            "-" => now.saturating_sub(d),
            "+" => now.saturating_add(d),
            _ => now,
        };
        out.push_str(&t.to_string());
        rest = &tail[(end + 1).min(tail.len())..];
    }
    out.push_str(rest);
    out
}

fn venue_param() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(|v| json!({"name": "native_liquidation", "value": v})),
        int().prop_map(|v| json!({"name": "max_liquidations_per_step", "value": v})),
        int().prop_map(|v| json!({"name": "vault_withdrawal_delay_ms", "value": v})),
        prop_oneof![(0i64..2_000_000_000).prop_map(Value::from), int()]
            .prop_map(|v| json!({"name": "vault_margin_multiplier", "value": v})),
    ]
}

fn market_params() -> impl Strategy<Value = Value> {
    (price(), price(), money(), qty(), qty(), int(), int(), int()).prop_map(
        |(initial, max, impact, order, position, lots, interval, stale)| {
            json!({"symbol": "FUZZ", "initial_price": initial, "max_price": max,
                   "impact_notional_usd": impact, "max_order_qty": order,
                   "max_position_qty": position, "lots_per_unit": lots,
                   "funding_interval_ms": interval, "oracle_stale_ms": stale})
        },
    )
}

/// One command as a JSON object.
fn command() -> impl Strategy<Value = Value> {
    let side = prop_oneof![Just("buy"), Just("sell")];
    let kind = prop_oneof![
        4 => Just("limit"), 2 => Just("market"), 1 => Just("ioc"), 1 => Just("fok"),
        1 => Just("post_only"),
    ];
    // An order's own fields (without the account and market): a `place_order`'s, and one
    // order of a `requote`'s ladder.
    let order = (
        side,
        kind,
        proptest::option::weighted(0.9, price()),
        qty(),
        proptest::bool::weighted(0.2),
        prop_oneof![
            Just("cancel_taker"),
            Just("cancel_maker"),
            Just("cancel_both")
        ],
        prop_oneof![4 => Just("cross"), 1 => Just("isolated")],
    )
        .prop_map(|(s, k, p, q, r, st, mg)| {
            let mut v = json!({"side": s, "kind": k, "qty": q, "reduce_only": r,
                               "self_trade": st, "margin": mg});
            if let Some(p) = p {
                v["price"] = p;
            }
            v
        })
        .boxed();
    let place = (account(), market(), order.clone()).prop_map(|(a, m, mut v)| {
        v["cmd"] = json!("place_order");
        v["account"] = a;
        v["market"] = m;
        v
    });
    // A requote: mostly a short ladder, now and then one order past the most allowed.
    let ladder = prop_oneof![
        12 => proptest::collection::vec(order, 0..8).prop_map(Value::from),
        1 => Just(Value::from(vec![
            json!({"side": "buy", "kind": "limit", "price": "1", "qty": 1});
            limits::MAX_REQUOTE_ORDERS + 1
        ])),
    ];
    let requote = (account(), market(), ladder)
        .prop_map(|(a, m, l)| json!({"cmd": "requote", "account": a, "market": m, "orders": l}));
    prop_oneof![
        3 => (account(), money()).prop_map(|(a, m)| json!({"cmd": "deposit", "account": a, "amount_usd": m})),
        2 => (account(), money()).prop_map(|(a, m)| json!({"cmd": "withdraw", "account": a, "amount_usd": m})),
        10 => place,
        2 => (account(), market(), prop_oneof![(0u64..64).prop_map(Value::from), int()])
            .prop_map(|(a, m, o)| json!({"cmd": "cancel", "account": a, "market": m, "order": o})),
        1 => (account(), proptest::option::of(market()))
            .prop_map(|(a, m)| json!({"cmd": "cancel_all", "account": a, "market": m})),
        3 => requote,
        2 => (account(), market(), money()).prop_map(|(a, m, d)|
            json!({"cmd": "adjust_isolated_margin", "account": a, "market": m, "delta_usd": d})),
        6 => (market(), price()).prop_map(|(m, p)| json!({"cmd": "oracle_price", "market": m, "price": p})),
        5 => Just(json!({"cmd": "tick"})),
        2 => (market(), param()).prop_map(|(m, p)| json!({"cmd": "set_param", "market": m, "param": p})),
        1 => venue_param().prop_map(|p| json!({"cmd": "set_venue_param", "param": p})),
        2 => (account(), account(), scope()).prop_map(|(k, a, s)|
            json!({"cmd": "liquidate", "keeper": k, "account": a, "scope": s})),
        2 => (account(), money()).prop_map(|(a, m)| json!({"cmd": "vault_deposit", "account": a, "amount_usd": m})),
        1 => (account(), prop_oneof![(1u64..100_000_000_000).prop_map(Value::from), int()])
            .prop_map(|(a, s)| json!({"cmd": "vault_request_withdrawal", "account": a, "shares": s})),
        1 => account().prop_map(|a| json!({"cmd": "vault_claim_withdrawal", "account": a})),
        1 => (account(), money()).prop_map(|(a, m)| json!({"cmd": "insurance_deposit", "account": a, "amount_usd": m})),
        1 => market_params().prop_map(|p| json!({"cmd": "create_market", "params": p})),
        // The defences: oracle sources (a source id past the eight allowed now and then; a
        // price near market 0's or anywhere; a confidence often absent), volatility reports,
        // each defence switched on or off.
        5 => (
            market(),
            prop_oneof![8 => (0u64..8).prop_map(Value::from), 1 => Just(json!(8)), 1 => int()],
            price(),
            proptest::option::weighted(0.5, prop_oneof![3 => (0i64..2_000).prop_map(|w| json!(w.to_string())), 1 => price()]),
            published(),
        )
            .prop_map(|(m, src, p, c, at)| {
                let mut v = json!({"cmd": "oracle_source", "market": m, "source": src, "price": p,
                                   "published_ms": at});
                if let Some(c) = c {
                    v["confidence"] = c;
                }
                v
            }),
        2 => (market(), ppm(), ppm())
            .prop_map(|(m, short, long)| json!({"cmd": "volatility", "market": m, "short": short, "long": long})),
        3 => (market(), defence_param()).prop_map(|(m, p)| json!({"cmd": "set_param", "market": m, "param": p})),
    ]
}

/// Sometimes an invented field, a field removed, or a field renamed (misspelt).
fn mutate(v: Value, how: u8, key: &str) -> Value {
    let Value::Object(mut m) = v else { return v };
    match how {
        0 => {
            m.insert(key.to_string(), json!(1));
        }
        1 => {
            if let Some(k) = m.keys().find(|k| *k != "cmd").cloned() {
                m.remove(&k);
            }
        }
        2 => {
            if let Some(k) = m.keys().find(|k| *k != "cmd").cloned() {
                let v = m.remove(&k).unwrap();
                m.insert(format!("{k}x"), v);
            }
        }
        _ => {}
    }
    Value::Object(m)
}

/// When a command happens: mostly a little after the last one, sometimes an hour later,
/// sometimes at an extreme absolute time (the latest allowed, past it, u64::MAX, backwards).
#[derive(Clone, Copy, Debug)]
enum When {
    After(u64),
    At(u64),
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        120 => (0u64..5_000).prop_map(When::After),
        20 => (5_000u64..4_000_000).prop_map(When::After),
        3 => Just(When::At(0)),
        1 => Just(When::At(limits::MAX_TIMESTAMP_MS)),
        3 => Just(When::At(limits::MAX_TIMESTAMP_MS + 1)),
        3 => Just(When::At(u64::MAX)),
        3 => Just(When::At(u64::MAX - 1)),
    ]
}

fn line() -> impl Strategy<Value = (When, String)> {
    let key = prop_oneof![
        Just("foo".to_string()),
        Just("ts_ms".to_string()),
        Just("cmd2".to_string()),
        "[a-z_]{1,12}"
    ];
    (
        when(),
        command(),
        prop_oneof![12 => Just(9u8), 1 => 0u8..3],
        key,
    )
        .prop_map(|(w, v, how, key)| (w, mutate(v, how, &key).to_string()))
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128)
}

/// The lines so far as a command log for `bulwark replay`.
fn log(lines: &[(u64, String)]) -> String {
    lines
        .iter()
        .map(|(ts, l)| format!("{{\"ts_ms\":{ts},{}", &l[1..]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(entries: &[(When, String)]) -> Result<(), TestCaseError> {
    let mut e = setup();
    let mut seen: Vec<(u64, String)> = Vec::new();
    for (w, text) in entries {
        let now = match *w {
            // Once at the latest timestamp, time stays there (and still works).
            When::After(dt) => e
                .last_ms()
                .0
                .saturating_add(dt)
                .min(limits::MAX_TIMESTAMP_MS),
            When::At(t) => t,
        };
        let text = &resolve_now(text, now);
        seen.push((now, text.clone()));
        let Ok(cmd) = serde_json::from_str::<Command>(text) else {
            continue;
        };
        if std::env::var("FUZZ_STATS").is_ok() {
            eprintln!("APPLY {}", cmd.name());
        }
        let before = state_hash(&e);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            e.apply(&cmd, TimestampMs(now)).map(|evs| {
                if std::env::var("FUZZ_STATS").is_ok() {
                    for ev in evs {
                        let v = serde_json::to_value(ev).unwrap();
                        eprintln!("EVENT {}", v["event"]);
                    }
                }
            })
        }));
        let result = match outcome {
            Ok(r) => r,
            Err(_) => {
                return Err(TestCaseError::fail(format!(
                    "the engine panicked on the last line of:\n{}",
                    log(&seen)
                )))
            }
        };
        if std::env::var("FUZZ_STATS").is_ok() {
            eprintln!(
                "RESULT {}",
                match &result {
                    Ok(()) => "ok".to_string(),
                    Err(r) => format!("{r:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap()
                        .to_string(),
                }
            );
        }
        if let Err(r) = &result {
            prop_assert_eq!(
                state_hash(&e),
                before,
                "rejected ({}) but the state changed:\n{}",
                r,
                log(&seen)
            );
            let msg = r.to_string();
            prop_assert!(!msg.contains(".rs:"), "a source location in {:?}", msg);
        }
        if let Err(b) = e.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "invariant broken ({b}) after the last line of:\n{}",
                log(&seen)
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: cases(), max_shrink_iters: 4_000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn arbitrary_command_lines_never_panic_the_engine(entries in proptest::collection::vec(line(), 1..80)) {
        run(&entries)?;
    }
}

/// The lines of `arbitrary_command_lines_never_panic_the_engine`, a fault (`Some(pick)`) in
/// about a third of them: the `1 + pick % n`-th of the command's `n` commit-phase arithmetic
/// steps fails. A faulted command is dropped; `reference` never sees it.
fn run_faulted(entries: &[((When, String), Option<u64>)]) -> Result<(), TestCaseError> {
    let mut e = setup();
    let mut reference = setup();
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut faults = 0;
    for ((w, text), fault) in entries {
        let now = match *w {
            When::After(dt) => e
                .last_ms()
                .0
                .saturating_add(dt)
                .min(limits::MAX_TIMESTAMP_MS),
            When::At(t) => t,
        };
        let text = &resolve_now(text, now);
        seen.push((now, text.clone()));
        let Ok(cmd) = serde_json::from_str::<Command>(text) else {
            continue;
        };
        let now = TimestampMs(now);
        // A dry run on a copy counts the command's arithmetic steps; when none is faulted,
        // the real run must agree with it.
        let mut dry_accepted = None;
        if let Some(pick) = fault {
            let mut dry = e.clone();
            dry.fail_commit_arithmetic_at(u64::MAX);
            dry_accepted = Some(dry.apply(&cmd, now).is_ok());
            let n = dry.commit_arithmetic_steps();
            if n > 0 {
                let before = e.clone();
                e.fail_commit_arithmetic_at(1 + pick % n);
                let outcome = catch_unwind(AssertUnwindSafe(|| e.apply(&cmd, now).map(|_| ())));
                let Ok(result) = outcome else {
                    return Err(TestCaseError::fail(format!(
                        "a faulted command panicked, the last line of:\n{}",
                        log(&seen)
                    )));
                };
                faults += 1;
                if let Command::Requote(r) = &cmd {
                    // Each part of a requote is a transaction of its own: the faulted one is
                    // rolled back alone and refused as an engine bug; the others stand, as
                    // its commands would one after another without the faulted one's.
                    prop_assert!(result.is_ok(), "faulted: {:?}\n{}", result, log(&seen));
                    let parts = e.last_parts();
                    let internal: Vec<usize> = (0..parts.len())
                        .filter(|&i| matches!(parts[i].refused, Some(Reject::Internal { .. })))
                        .collect();
                    prop_assert_eq!(internal.len(), 1, "{:?}\n{}", parts, log(&seen));
                    for (i, c) in r.commands().enumerate() {
                        if i != internal[0] {
                            // Refusals allowed: what matters is that both engines end alike.
                            let _accepted = reference.apply(&c, now).is_ok();
                        }
                    }
                    prop_assert_eq!(e.state_diff(&reference), None, "\n{}", log(&seen));
                    continue;
                }
                prop_assert!(
                    matches!(result, Err(Reject::Internal { .. })),
                    "faulted: {:?}, the last line of:\n{}",
                    result,
                    log(&seen)
                );
                prop_assert_eq!(state_hash(&e), state_hash(&before));
                prop_assert_eq!(e.state_diff(&before), None, "\n{}", log(&seen));
                continue;
            }
        }
        let ours = e.apply(&cmd, now).map(|ev| ev.to_vec());
        if let Some(accepted) = dry_accepted {
            prop_assert_eq!(
                accepted,
                ours.is_ok(),
                "the dry run disagreed\n{}",
                log(&seen)
            );
        }
        let theirs = reference.apply(&cmd, now).map(|ev| ev.to_vec());
        prop_assert_eq!(&ours, &theirs, "\n{}", log(&seen));
        prop_assert_eq!(state_hash(&e), state_hash(&reference), "\n{}", log(&seen));
        if let Err(b) = e.check_invariants() {
            return Err(TestCaseError::fail(format!(
                "invariant broken ({b}) after the last line of:\n{}",
                log(&seen)
            )));
        }
    }
    prop_assert_eq!(e.state_diff(&reference), None);
    let _ = faults;
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: cases(), max_shrink_iters: 4_000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn arbitrary_command_lines_with_commit_faults_roll_back(
        entries in proptest::collection::vec(
            (line(), proptest::option::weighted(0.3, any::<u64>())),
            1..80,
        )
    ) {
        run_faulted(&entries)?;
    }
}

#[test]
fn resolve_now_by_hand() {
    let line = r#"{"cmd":"oracle_source","published_ms":"@now-500","x":"@now","y":"@now+7","z":"@now-9000"}"#;
    assert_eq!(
        resolve_now(line, 1_000),
        r#"{"cmd":"oracle_source","published_ms":500,"x":1000,"y":1007,"z":0}"#
    );
    assert_eq!(resolve_now("{}", 5), "{}");
}

/// The generator's lines parse, often enough, into every command and defence parameter it
/// means to send: a misspelt field name here would leave a mechanism unfuzzed.
#[test]
fn generated_lines_reach_every_defence_command() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    use std::collections::BTreeMap;
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut parsed: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..4_000 {
        let (_, text) = line().new_tree(&mut runner).unwrap().current();
        let Ok(cmd) = serde_json::from_str::<Command>(&resolve_now(&text, 1_000_000)) else {
            continue;
        };
        let name = match &cmd {
            Command::SetParam { param, .. } => {
                let v = serde_json::to_value(param).unwrap();
                format!("set_param {}", v["name"].as_str().unwrap_or_default())
            }
            other => other.name().to_string(),
        };
        *parsed.entry(name).or_default() += 1;
    }
    println!("{parsed:#?}");
    for name in [
        "oracle_source",
        "volatility",
        "set_param oracle_guard",
        "set_param price_band",
        "set_param halt",
        "set_param divergence",
        "set_param dynamic_margin",
        "set_param adaptive_fee",
        "set_param oi_cap",
        "set_param maintenance_override",
    ] {
        assert!(
            parsed.get(name).is_some_and(|n| *n >= 5),
            "{name} hardly ever parsed: {parsed:#?}"
        );
    }
}

/// The setup itself is what the property starts from: two markets, a ladder, open positions
/// that an oracle crash liquidates.
#[test]
fn the_setup_trades_and_can_liquidate() {
    let mut e = setup();
    assert_eq!(e.markets().len(), 2);
    // Account 1 bought the asks at 50,100..50,400 (4 x 2,000 lots), account 3 the one at
    // 50,500; account 2 sold the bids at 49,900..49,600, account 4 300 lots of 49,500. Left: 5
    // asks and 6 bids; long 8,000 + 2,000 lots against the maker's -1,700 and 8,000 + 300.
    assert_eq!(e.market(MarketId(0)).unwrap().book.len(), 11);
    assert_eq!(
        e.market(MarketId(0)).unwrap().open_interest,
        Qty::from_lots(10_000)
    );
    // An oracle print at 40,000 takes the mark to about 45,000 (the mean of the oracle and the
    // trade EMA): account 1's 8 BTC bought near 50,250 lose about 42,000 USD of its 20,000.
    let evs = e
        .apply(
            &Command::OraclePrice {
                market: MarketId(0),
                price: Price::from_micros(40_000 * MICROS_PER_UNIT),
            },
            TimestampMs(1),
        )
        .unwrap()
        .to_vec();
    assert!(
        evs.iter().any(|ev| matches!(
            ev,
            Event::LiquidationStarted {
                account: AccountId(1),
                ..
            }
        )),
        "{evs:?}"
    );
}
