//! What-if sessions (`Engine::begin_what_if`, `end_what_if`, `in_what_if`): the undo journal
//! runs across the session's commands, and its end takes every one of them back, leaving the
//! engine exactly as it was (the state hash, and every field the hash leaves out:
//! `Engine::state_diff`, the `testing` feature's).
//!
//! The properties run the random command sequences of `proptest_engine.rs` (its generator is
//! shared through `common`): a random prefix builds the venue, a session runs a random suffix
//! (trading, requotes, cancels, deposits and withdrawals, oracle jumps that liquidate, native
//! liquidation, ticks and funding, the vault, the insurance fund, parameters and the defences),
//! each command also applied to a copy of the engine outside any session, which must do
//! exactly the same; the session's end must give back the engine from before it, which must
//! then go on like the copy taken before the session. The hand-written cases below cover a
//! liquidation cascade, sessions in a row, a session begun twice and ended without one, a
//! commit fault in a session (the `testing` hook), a refusal in a session, and the command
//! count and time. The `regression_` cases are the smallest sequences of failures that these
//! found.
//!
//! The market of the hand-written cases is `common::params()` (1 lot = 1 unit, price 1,000,
//! maintenance 5%, no fees; the mark is the mean of the oracle and the trade EMA).

mod common;

use bulwark_engine::*;
use common::{params, setup_commands, step, usd, Op, Profile, Step, Venue, View};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::BTreeMap;

// =============================================================================================
// The properties
// =============================================================================================

/// How the property's commands are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Outside a session, to the engine alone (the prefix).
    Plain,
    /// To the engine and its twin: the same outcome, events and state hash after every
    /// command. `session`: the engine is in a session, which a command must not end unless it
    /// failed as an engine bug. `withhold_refused`: a command the twin refuses (past the time
    /// checks) is not sent to the engine.
    Twin {
        session: bool,
        withhold_refused: bool,
    },
}

/// The engine driven by generated steps, as `proptest_engine.rs`'s harness drives it (the
/// liquidation setup: account 0 quotes the other side of every taker order first), with a
/// twin for comparison.
struct Run {
    e: Engine,
    twin: Option<Engine>,
    now: u64,
    /// Every order id accepted, for the cancels of old ids.
    seen: Vec<(MarketId, OrderId)>,
    /// The commands sent in the current phase, with their time and outcome (a failure's
    /// message).
    log: Vec<String>,
    /// The events of the current phase, and their count by kind.
    events: Vec<Event>,
    kinds: BTreeMap<&'static str, usize>,
}

impl Run {
    fn new() -> Result<Run, TestCaseError> {
        let mut r = Run {
            e: Engine::new(EngineConfig::default()),
            twin: None,
            now: 1_000,
            seen: Vec::new(),
            log: Vec::new(),
            events: Vec::new(),
            kinds: BTreeMap::new(),
        };
        for cmd in setup_commands(true) {
            let result = r.e.apply(&cmd, TimestampMs(r.now)).map(|_| ());
            prop_assert!(result.is_ok(), "setup {:?}: {:?}", cmd, result);
        }
        Ok(r)
    }

    fn view(&self) -> View<'_> {
        View {
            engine: &self.e,
            now: self.now,
            seen: &self.seen,
        }
    }

    /// Send one generated step's commands.
    fn step(&mut self, s: &Step, mode: Mode) -> Result<(), TestCaseError> {
        self.now += s.dt_ms;
        if let Op::Tick { dt_ms } = s.op {
            self.now += dt_ms;
        }
        // A requote is sent whole (`commands_of` gives the commands it stands for).
        let cmds = match s.op {
            Op::Requote { .. } => vec![self.view().command_of(&s.op)],
            _ => self.view().commands_of(&s.op),
        };
        for cmd in cmds {
            if let Some(quote) = self.view().quote_for(&cmd) {
                self.send(quote, self.now, mode)?;
            }
            let t = if matches!(s.op, Op::Backwards) {
                // Stamped before the last command: refused before anything is journaled.
                self.e.last_ms().0.saturating_sub(1)
            } else {
                self.now
            };
            self.send(cmd, t, mode)?;
        }
        Ok(())
    }

    fn send(&mut self, cmd: Command, t: u64, mode: Mode) -> Result<(), TestCaseError> {
        let now = TimestampMs(t);
        let Mode::Twin {
            session,
            withhold_refused,
        } = mode
        else {
            let ours = self.e.apply(&cmd, now).map(|ev| ev.to_vec());
            self.note(&cmd, t, &ours, "");
            return Ok(());
        };
        let Some(twin) = self.twin.as_mut() else {
            return Err(TestCaseError::fail("no twin to compare with"));
        };
        let theirs = twin.apply(&cmd, now).map(|ev| ev.to_vec());
        let twin_hash = state_hash(twin);
        // The time checks refuse a command before its journal begins: never withheld.
        let refused_early = matches!(
            theirs,
            Err(Reject::TimeWentBackwards { .. } | Reject::TimestampOutOfRange { .. })
        );
        if withhold_refused && theirs.is_err() && !refused_early {
            self.note(&cmd, t, &theirs, " (withheld)");
            return Ok(());
        }
        let ours = self.e.apply(&cmd, now).map(|ev| ev.to_vec());
        self.note(&cmd, t, &ours, "");
        prop_assert_eq!(
            &ours,
            &theirs,
            "the engine and its twin did otherwise:\n{}",
            self.log.join("\n")
        );
        if session {
            let internal = matches!(ours, Err(Reject::Internal { .. }));
            prop_assert!(
                self.e.in_what_if() || internal,
                "the session ended at the last command of:\n{}",
                self.log.join("\n")
            );
        }
        prop_assert_eq!(
            state_hash(&self.e),
            twin_hash,
            "the engine and its twin differ after:\n{}",
            self.log.join("\n")
        );
        Ok(())
    }

    /// Log a command and its outcome; keep its order ids and count its events.
    fn note(&mut self, cmd: &Command, t: u64, r: &Result<Vec<Event>, Reject>, why: &str) {
        let outcome = match r {
            Ok(events) => {
                for ev in events {
                    if let Event::OrderAccepted { market, order, .. } = ev {
                        self.seen.push((*market, *order));
                    }
                    if let Some(k) = kind(ev) {
                        *self.kinds.entry(k).or_default() += 1;
                    }
                }
                self.events.extend_from_slice(events);
                if let Command::Requote(_) = cmd {
                    *self.kinds.entry("requote").or_default() += 1;
                }
                format!("ok, {} events", events.len())
            }
            Err(reject) => format!("refused: {reject}"),
        };
        self.log
            .push(format!("  at {t}: {cmd:?} -> {outcome}{why}"));
    }
}

/// The mechanisms a session should reach (the name of an event kind).
fn kind(ev: &Event) -> Option<&'static str> {
    Some(match ev {
        Event::Fill { .. } => "fill",
        Event::OrderRested { .. } => "rest",
        Event::OrderCancelled { .. } => "cancel",
        Event::LiquidationStarted { .. } => "liquidation",
        Event::LiquidationPenalty { .. } => "penalty",
        Event::Bankrupt { .. } => "bankruptcy",
        Event::VaultTakeover { .. } => "vault takeover",
        Event::InsurancePayout { .. } => "insurance",
        Event::Deleveraged { .. } => "adl",
        Event::SocializedLoss { .. } => "socialization",
        Event::UncoveredLoss { .. } => "bad debt",
        Event::BankruptcyDeferred { .. } => "deferred",
        Event::FundingSettled { .. } => "funding",
        Event::BelowMaintenance { .. } => "flag",
        Event::VaultDeposited { .. } | Event::VaultWithdrawn { .. } => "vault shares",
        Event::OracleSourceReported { .. } => "oracle source",
        Event::HaltStarted { .. } => "halt",
        _ => return None,
    })
}

/// A random session: the venue set up, the `prefix` applied, native liquidation switched on
/// if `native`; then in a session the `suffix`, each command also applied to a twin taken at
/// the session's start (outside any session), which must do exactly the same; the session
/// ended, the engine must be the one from before it (hash and every field, the command count
/// and time included), out of the session. A second session then runs the same suffix at the
/// same times on the same engine: the same events again, and the engine back again. Last, the
/// engine must go on with `after` exactly like the copy from before the sessions. Returns the
/// event kinds a session produced.
fn check_session(
    prefix: &[Step],
    native: bool,
    suffix: &[Step],
    after: &Step,
    withhold_refused: bool,
) -> Result<BTreeMap<&'static str, usize>, TestCaseError> {
    let mut r = Run::new()?;
    for s in prefix {
        r.step(s, Mode::Plain)?;
    }
    if native {
        let on = Command::SetVenueParam {
            param: VenueParam::NativeLiquidation(true),
        };
        r.send(on, r.now, Mode::Plain)?;
    }
    let before = r.e.clone();
    let (applied, last) = (r.e.commands_applied(), r.e.last_ms());
    let (now, seen) = (r.now, r.seen.len());
    let session = Mode::Twin {
        session: true,
        withhold_refused,
    };
    let mut first: Option<(Vec<String>, Vec<Event>)> = None;
    for round in ["the first session", "the second session"] {
        r.now = now;
        r.seen.truncate(seen);
        r.log.clear();
        r.events.clear();
        r.kinds.clear();
        r.e.begin_what_if();
        prop_assert!(r.e.in_what_if());
        // A copy of an engine in a session is outside it: the twin applies the suffix for
        // real.
        let twin = r.e.clone();
        prop_assert!(!twin.in_what_if());
        r.twin = Some(twin);
        for s in suffix {
            r.step(s, session)?;
        }
        r.e.end_what_if();
        let log = r.log.join("\n");
        prop_assert!(!r.e.in_what_if(), "{} is still open after its end", round);
        if let Some(d) = r.e.state_diff(&before) {
            return Err(TestCaseError::fail(format!(
                "the end of {round} left {d}; the session:\n{log}"
            )));
        }
        prop_assert_eq!(state_hash(&r.e), state_hash(&before), "{}:\n{}", round, log);
        prop_assert_eq!(r.e.commands_applied(), applied);
        prop_assert_eq!(r.e.last_ms(), last);
        match &first {
            None => first = Some((r.log.clone(), std::mem::take(&mut r.events))),
            Some((log1, events1)) => {
                prop_assert_eq!(&r.log, log1, "the second session did otherwise");
                prop_assert_eq!(&r.events, events1, "the second session did otherwise");
            }
        }
    }
    let kinds = std::mem::take(&mut r.kinds);
    // The journal works on: the next commands as on the copy from before the sessions.
    r.twin = Some(before);
    r.log.clear();
    r.step(
        after,
        Mode::Twin {
            session: false,
            withhold_refused: false,
        },
    )?;
    if let Some(twin) = &r.twin {
        if let Some(d) = r.e.state_diff(twin) {
            return Err(TestCaseError::fail(format!(
                "after the sessions, the engine and the copy from before them differ: {d}\n{}",
                r.log.join("\n")
            )));
        }
    }
    Ok(kinds)
}

/// A random session with a commit fault (the `testing` hook): as `check_session`, but from
/// step `k % len` of the suffix on, the first command whose commit makes arithmetic steps
/// (counted on a copy) fails at its `1 + pick % n`-th. It must be refused as an engine bug,
/// with the engine back as it was before the session (which takes back every command before
/// it), and the session over; then the engine goes on with `after` like the copy from before
/// the session. Returns whether a command was faulted.
fn check_faulted_session(
    prefix: &[Step],
    suffix: &[Step],
    after: &Step,
    (k, pick): (usize, u64),
) -> Result<bool, TestCaseError> {
    let mut r = Run::new()?;
    for s in prefix {
        r.step(s, Mode::Plain)?;
    }
    r.send(
        Command::SetVenueParam {
            param: VenueParam::NativeLiquidation(true),
        },
        r.now,
        Mode::Plain,
    )?;
    let before = r.e.clone();
    r.log.clear();
    r.e.begin_what_if();
    r.twin = Some(r.e.clone());
    let session = Mode::Twin {
        session: true,
        withhold_refused: false,
    };
    let k = k % suffix.len().max(1);
    let mut faulted = false;
    'steps: for (i, s) in suffix.iter().enumerate() {
        if i < k {
            r.step(s, session)?;
            continue;
        }
        // `Run::step`, with the first command that can fail faulted.
        r.now += s.dt_ms;
        if let Op::Tick { dt_ms } = s.op {
            r.now += dt_ms;
        }
        if matches!(s.op, Op::Backwards) {
            continue;
        }
        let cmds = match s.op {
            Op::Requote { .. } => vec![r.view().command_of(&s.op)],
            _ => r.view().commands_of(&s.op),
        };
        for cmd in cmds {
            if let Some(quote) = r.view().quote_for(&cmd) {
                r.send(quote, r.now, session)?;
            }
            let now = TimestampMs(r.now);
            let mut dry = r.e.clone();
            dry.fail_commit_arithmetic_at(u64::MAX);
            // A refusal is decided before the commit: it counts no step.
            let accepted = dry.apply(&cmd, now).is_ok();
            let n = if accepted {
                dry.commit_arithmetic_steps()
            } else {
                0
            };
            if n == 0 {
                r.send(cmd, r.now, session)?;
                continue;
            }
            let at = 1 + pick % n;
            r.e.fail_commit_arithmetic_at(at);
            let result = r.e.apply(&cmd, now).map(|ev| ev.len());
            r.log.push(format!(
                "  at {}: {cmd:?} faulted at step {at} of {n} -> {result:?}",
                now.0
            ));
            let log = r.log.join("\n");
            prop_assert!(
                matches!(result, Err(Reject::Internal { .. })),
                "not refused as an engine bug:\n{}",
                log
            );
            prop_assert!(!r.e.in_what_if(), "the session is still open:\n{}", log);
            faulted = true;
            break 'steps;
        }
    }
    let log = r.log.join("\n");
    r.e.end_what_if();
    if let Some(d) = r.e.state_diff(&before) {
        return Err(TestCaseError::fail(format!(
            "the engine is not back at the session's start: {d}; the session:\n{log}"
        )));
    }
    prop_assert_eq!(state_hash(&r.e), state_hash(&before), "{}", log);
    r.e.check_invariants()
        .map_err(|b| TestCaseError::fail(format!("invariant after the session: {b}\n{log}")))?;
    // The journal works on, outside a session.
    r.twin = Some(before);
    r.log.clear();
    r.step(
        after,
        Mode::Twin {
            session: false,
            withhold_refused: false,
        },
    )?;
    if let Some(twin) = &r.twin {
        if let Some(d) = r.e.state_diff(twin) {
            return Err(TestCaseError::fail(format!(
                "after the faulted session, the engine and the copy from before it differ: \
                 {d}\n{}",
                r.log.join("\n")
            )));
        }
    }
    Ok(faulted)
}

/// The generator's steps: mostly the liquidation mix (jumps, keepers, the vault, the
/// insurance fund, leverage and quotes), some of the general one (requotes) and of the
/// defences'.
fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => step(Profile::Liquidation),
        2 => step(Profile::General),
        1 => step(Profile::Defences),
    ]
}

type Case = (Vec<Step>, bool, Vec<Step>, Step);

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(any_step(), 0..80),
        proptest::bool::weighted(0.7),
        proptest::collection::vec(any_step(), 1..150),
        any_step(),
    )
}

/// 256 cases (about a second); hunt with more: `PROPTEST_CASES=20000 cargo test -p
/// bulwark-engine --test what_if`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(Config { cases: cases(), max_shrink_iters: 1_000, failure_persistence: None, ..Config::default() })]

    /// Every command of the suffix sent into the session, refused ones included: a refusal
    /// changes nothing and leaves the session open (as `Engine::apply` promises outside one).
    #[test]
    fn a_session_takes_back_every_command(c in case()) {
        check_session(&c.0, c.1, &c.2, &c.3, false)?;
    }

    /// The same with the commands that the twin refuses withheld from the session: what the
    /// accepted commands change is all taken back.
    #[test]
    fn a_session_takes_back_every_accepted_command(c in case()) {
        check_session(&c.0, c.1, &c.2, &c.3, true)?;
    }

    /// A commit fault at a random step of a random command of the session takes back the
    /// whole session and ends it.
    #[test]
    fn a_fault_in_a_session_takes_back_the_whole_session(
        c in case(),
        fault in (any::<usize>(), any::<u64>()),
    ) {
        check_faulted_session(&c.0, &c.2, &c.3, fault)?;
    }
}

/// Fixed-seed sessions reach the mechanisms the property means to take back: orders resting,
/// filling and cancelled, requotes, liquidations and the waterfall's stages, funding, the
/// vault, oracle sources; and the faulted sessions fault a command most of the time.
#[test]
fn fixed_seed_sessions_reach_every_mechanism() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut total: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut faulted = 0;
    for i in 0..32 {
        let tree = case().new_tree(&mut runner).expect("a case"); // ok: a test
        let (prefix, _, suffix, after) = tree.current();
        let kinds = check_session(&prefix, true, &suffix, &after, true);
        let kinds = kinds.expect("the session is taken back"); // ok: a test
        for (k, n) in kinds {
            *total.entry(k).or_default() += n;
        }
        let fault = (i * 7, (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let hit = check_faulted_session(&prefix, &suffix, &after, fault);
        faulted += hit.expect("the faulted session is taken back") as usize; // ok: a test
    }
    assert!(
        faulted >= 16,
        "only {faulted} of 32 sessions had a command faulted"
    );
    println!("{total:#?}");
    for k in [
        "fill",
        "rest",
        "cancel",
        "requote",
        "liquidation",
        "penalty",
        "bankruptcy",
        "vault takeover",
        "insurance",
        "adl",
        "deferred",
        "funding",
        "flag",
        "vault shares",
        "oracle source",
    ] {
        assert!(
            total.get(k).is_some_and(|n| *n > 0),
            "no session reached {k}: {total:#?}"
        );
    }
}

// =============================================================================================
// By hand
// =============================================================================================

const T: u32 = 1; // a trader who gets liquidated
const K: u32 = 2; // the keeper
const MM: u32 = 0; // market maker
const LP: u32 = 3; // vault liquidity provider
const T2: u32 = 4; // a second trader
const T3: u32 = 5; // a third

/// The whole state against `before`'s: every field, then the hash.
fn assert_same(e: &Engine, before: &Engine, what: &str) {
    assert_eq!(e.state_diff(before), None, "{what}: the state differs");
    assert_eq!(
        state_hash(e),
        state_hash(before),
        "{what}: the hash differs"
    );
}

/// Whether any event matches.
fn has(events: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(f)
}

/// The accounts liquidated in `events`.
fn liquidated(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::LiquidationStarted { account, .. } => Some(account.0),
            _ => None,
        })
        .collect()
}

/// Apply `cmds` one millisecond apart to the venue's engine and to `twin` (outside any
/// session): both must accept each, with the same events. Returns all the events.
fn both(v: &mut Venue, twin: &mut Engine, cmds: &[Command]) -> Vec<Event> {
    let mut all = Vec::new();
    for c in cmds {
        v.t += 1;
        let now = TimestampMs(v.t);
        let theirs = twin.apply(c, now).map(|ev| ev.to_vec());
        let ours = v.e.apply(c, now).map(|ev| ev.to_vec());
        assert_eq!(ours, theirs, "{c:?}");
        match ours {
            Ok(ev) => all.extend(ev),
            Err(r) => panic!("{c:?} refused: {r}"),
        }
    }
    all
}

/// Three longs on leverage against the market maker, bids below, a funded vault and
/// insurance fund: T 10 at 1,000 on 1,000, T2 9 on 900, T3 12 on 1,500.
fn leveraged() -> Venue {
    let mut v = Venue::new(params());
    v.deposit(MM, "1000000");
    v.deposit(K, "10");
    v.deposit(LP, "100000");
    v.ok(Command::VaultDeposit {
        account: AccountId(LP),
        amount_usd: usd("20000"),
    });
    v.ok(Command::InsuranceDeposit {
        account: AccountId(MM),
        amount_usd: usd("300"),
    });
    for (a, amount) in [(T, "1000"), (T2, "900"), (T3, "1500")] {
        v.deposit(a, amount);
    }
    v.limit(MM, Side::Sell, "1000", 31);
    for (a, qty) in [(T, 10), (T2, 9), (T3, 12)] {
        v.limit(a, Side::Buy, "1000", qty);
        assert_eq!(v.qty(a), Qty::from_lots(qty));
    }
    v.limit(MM, Side::Buy, "960", 4);
    v.limit(MM, Side::Buy, "930", 6);
    v
}

/// (a) A session with native liquidation switched on and the price falling in steps: three
/// accounts liquidated one after another, through the book, the vault and the insurance fund,
/// funding settled on the way. Its end gives back the engine from before, which then does
/// what the copy from before does.
#[test]
fn a_liquidation_cascade_in_a_session_is_taken_back() {
    let mut v = leveraged();
    let (before, t0) = (v.e.clone(), v.t);
    v.e.begin_what_if();
    let mut twin = v.e.clone();
    let oracle = |price: &str| Command::OraclePrice {
        market: MarketId(0),
        price: common::px(price),
    };
    let mut cmds = vec![Command::SetVenueParam {
        param: VenueParam::NativeLiquidation(true),
    }];
    for price in ["900", "870", "820", "700", "560"] {
        cmds.push(oracle(price));
        cmds.push(Command::Tick);
    }
    let events = both(&mut v, &mut twin, &cmds);
    assert!(v.e.in_what_if());
    let mut who = liquidated(&events);
    who.sort_unstable();
    who.dedup();
    assert_eq!(who, [T, T2, T3], "a cascade: {events:?}");
    assert!(has(&events, |e| matches!(e, Event::Fill { .. })));
    assert!(
        has(&events, |e| matches!(
            e,
            Event::VaultTakeover { .. } | Event::InsurancePayout { .. } | Event::Bankrupt { .. }
        )),
        "the waterfall: {events:?}"
    );
    assert_ne!(state_hash(&v.e), state_hash(&before));
    v.e.end_what_if();
    assert!(!v.e.in_what_if());
    assert_same(&v.e, &before, "after the cascade");
    v.e.check_invariants().expect("the invariants hold"); // ok: a test
                                                          // The same cascade again at the same times, for real: the same events, and the state the
                                                          // twin reached.
    v.t = t0;
    let mut copy = before.clone();
    let again = both(&mut v, &mut copy, &cmds);
    assert_eq!(again, events);
    assert_same(&v.e, &twin, "the cascade applied for real");
}

/// (a') Flags flipped past the point where a session copies the flag map whole (16 records:
/// later flips are not recorded, the copy puts the map back): the price swings two longs below
/// maintenance and back nine times, with no liquidation to end it (native liquidation off, no
/// keeper), and only then takes the third below, a pool whose flag the records before the
/// copy never touched. The session's end gives back the engine from before; and a commit
/// fault after the copy, at every step of a keeper's liquidation, takes the whole session
/// back too.
#[test]
fn flags_flipped_past_the_session_copy_are_taken_back() {
    let base = leveraged();
    let oracle = |price: &str| Command::OraclePrice {
        market: MarketId(0),
        price: common::px(price),
    };
    // The mark is the mean of the oracle and the trade EMA (1,000): oracle 880 puts it at
    // 940, below T's and T2's maintenance price (947) but above T3's (921); 800 puts it at
    // 900, below all three; 1,000 puts it back above all three.
    let swings: Vec<Command> = (0..9)
        .flat_map(|_| [oracle("880"), oracle("1000")])
        .chain([oracle("800")])
        .collect();
    let session = || {
        let mut v = Venue {
            e: base.e.clone(),
            t: base.t,
        };
        v.e.begin_what_if();
        let mut twin = base.e.clone();
        let events = both(&mut v, &mut twin, &swings);
        (v, twin, events)
    };
    let (mut v, twin, events) = session();
    let flips: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::BelowMaintenance { account, .. }
            | Event::BackAboveMaintenance { account, .. } => Some(account.0),
            _ => None,
        })
        .collect();
    assert_eq!(flips.len(), 39, "{events:?}");
    assert_eq!(flips.iter().position(|&a| a == T3), Some(38));
    assert!(liquidated(&events).is_empty());
    assert_eq!(v.e.flags().len(), 3);
    assert_same(&v.e, &twin, "the swings in a session and outside one");
    v.e.end_what_if();
    assert_same(&v.e, &base.e, "after the swings");
    v.e.check_invariants().expect("the invariants hold"); // ok: a test
    let (v, _, _) = session();
    let steps = commit_steps(&v.e, &liquidate_t(), TimestampMs(v.t + 1));
    for at in 1..=steps {
        let (mut v, _, _) = session();
        v.e.fail_commit_arithmetic_at(at);
        match v.e.apply(&liquidate_t(), TimestampMs(v.t + 1)) {
            Err(Reject::Internal { command, .. }) => assert_eq!(command, "liquidate"),
            other => panic!("step {at}: {other:?}"),
        }
        assert!(!v.e.in_what_if(), "step {at}: the session is over");
        assert_same(&v.e, &base.e, "a fault after the flag map's copy");
    }
}

/// (b) Two sessions in a row on the same engine, each taken back; then the engine goes on.
#[test]
fn two_sessions_in_a_row_both_restore() {
    let mut v = leveraged();
    let before = v.e.clone();
    // The first: trading and a withdrawal.
    v.e.begin_what_if();
    v.deposit(6, "5000");
    v.limit(6, Side::Buy, "995", 3);
    v.limit(MM, Side::Sell, "995", 5);
    v.ok(Command::Withdraw {
        account: AccountId(T3),
        amount_usd: usd("100"),
    });
    assert!(v.e.in_what_if());
    v.e.end_what_if();
    assert_same(&v.e, &before, "the first session");
    // The second: a price fall and a keeper's liquidation.
    v.e.begin_what_if();
    assert!(v.e.in_what_if());
    v.oracle("880");
    let ev = v.ok(Command::Liquidate {
        keeper: AccountId(K),
        account: AccountId(T),
        scope: Scope::Cross,
    });
    assert_eq!(liquidated(&ev), [T]);
    v.e.end_what_if();
    assert!(!v.e.in_what_if());
    assert_same(&v.e, &before, "the second session");
    // Outside a session, commands stay.
    v.deposit(T, "5");
    assert_eq!(v.collateral(T), usd("1005"));
    assert_eq!(v.e.commands_applied(), before.commands_applied() + 1);
}

/// (c) `begin_what_if` in a session leaves the session as it is (it still takes back what came
/// before the second call); `end_what_if` without a session does nothing.
#[test]
fn begin_twice_is_one_session_and_end_without_one_does_nothing() {
    let mut v = leveraged();
    let before = v.e.clone();
    v.e.end_what_if();
    assert!(!v.e.in_what_if());
    assert_same(&v.e, &before, "an end without a session");
    v.e.begin_what_if();
    v.deposit(T, "100");
    v.e.begin_what_if();
    assert!(v.e.in_what_if());
    v.deposit(T2, "200");
    v.oracle("950");
    v.e.end_what_if();
    assert!(!v.e.in_what_if());
    // Both deposits are gone: the second begin did not start a session of its own.
    assert_same(&v.e, &before, "a session begun twice");
    // A second end, and commands after it, outside a session: nothing is taken back.
    v.e.end_what_if();
    assert_same(&v.e, &before, "a second end");
    v.deposit(T, "100");
    let after = v.e.clone();
    v.e.end_what_if();
    assert!(!v.e.in_what_if());
    assert_same(&v.e, &after, "an end after a command outside a session");
    assert_eq!(v.collateral(T), usd("1100"));
}

/// The keeper's liquidation of T after a fall to 880 (mark 940): a partial liquidation into
/// MM's bids, with its penalty.
fn liquidate_t() -> Command {
    Command::Liquidate {
        keeper: AccountId(K),
        account: AccountId(T),
        scope: Scope::Cross,
    }
}

/// The commit-phase arithmetic steps `cmd` makes at `now` (counted on a copy).
fn commit_steps(e: &Engine, cmd: &Command, now: TimestampMs) -> u64 {
    let mut dry = e.clone();
    dry.fail_commit_arithmetic_at(u64::MAX);
    let accepted = dry.apply(cmd, now).is_ok();
    assert!(accepted, "{cmd:?} is accepted unfaulted");
    dry.commit_arithmetic_steps()
}

/// (d) A commit fault (the `testing` hook) in the session's first command: refused as an
/// engine bug, the engine as at the session's start, the session over.
#[test]
fn a_fault_in_the_first_command_of_a_session_ends_it() {
    let mut v = leveraged();
    v.oracle("880");
    let now = TimestampMs(v.t + 1);
    let steps = commit_steps(&v.e, &liquidate_t(), now);
    assert!(steps >= 20, "{steps} steps");
    for at in [1, steps / 2, steps] {
        let mut e = v.e.clone();
        e.begin_what_if();
        e.fail_commit_arithmetic_at(at);
        let r = e.apply(&liquidate_t(), now);
        assert!(
            matches!(r, Err(Reject::Internal { .. })),
            "step {at}: {r:?}"
        );
        assert!(!e.in_what_if(), "step {at}: the session is over");
        assert_same(&e, &v.e, "a fault in the first command");
        // The journal works on outside a session: the command for real, as on a copy.
        let mut copy = v.e.clone();
        let ours = e.apply(&liquidate_t(), now).map(|ev| ev.to_vec());
        let theirs = copy.apply(&liquidate_t(), now).map(|ev| ev.to_vec());
        assert_eq!(ours, theirs);
        assert_same(&e, &copy, "the liquidation after the fault");
    }
}

/// (d) A commit fault in a part of a requote, the session's first command: outside a session
/// only that part would be rolled back and refused; in one, the rollback takes back the whole
/// session, so the requote fails whole, as an engine bug, and the session is over.
#[test]
fn a_fault_in_a_requote_part_fails_the_requote_and_ends_the_session() {
    let mut v = leveraged();
    let maker = 6;
    v.deposit(maker, "10000");
    v.limit(maker, Side::Sell, "1005", 2);
    v.limit(maker, Side::Buy, "990", 2);
    v.limit(MM, Side::Sell, "1001", 3);
    let q = common::quote;
    // The cancel, an order that rests, one that fills against MM's ask, one that rests.
    let cmd = Command::Requote(Requote {
        account: AccountId(maker),
        market: MarketId(0),
        orders: vec![
            q(Side::Buy, "995", 2),
            q(Side::Buy, "1001", 1),
            q(Side::Sell, "1006", 2),
        ],
    });
    let now = TimestampMs(v.t + 1);
    let steps = commit_steps(&v.e, &cmd, now);
    assert!(steps >= 10, "{steps} steps");
    for at in 1..=steps {
        let mut e = v.e.clone();
        e.begin_what_if();
        e.fail_commit_arithmetic_at(at);
        let r = e.apply(&cmd, now).map(|ev| ev.len());
        assert!(
            matches!(r, Err(Reject::Internal { .. })),
            "step {at} of {steps}: {r:?}, parts {:?}",
            e.last_parts()
        );
        assert!(!e.in_what_if(), "step {at}: the session is over");
        assert_same(&e, &v.e, "a fault in a requote's part");
        // Outside the session, the same fault refuses the part alone.
        let mut plain = v.e.clone();
        plain.fail_commit_arithmetic_at(at);
        let r = plain.apply(&cmd, now).map(|ev| ev.len());
        assert!(r.is_ok(), "step {at}: {r:?}");
        let refused = plain.last_parts().iter().filter(|p| p.refused.is_some());
        assert_eq!(refused.count(), 1, "step {at}");
    }
}

/// Regression (found by `a_fault_in_a_requote_part_fails_the_requote_and_ends_the_session`),
/// the smallest case: in a session, a requote of one order whose commit fails at its first
/// arithmetic step. The requote must fail whole as an engine bug, with the engine back at the
/// session's start and the session over. As sessions were first committed, the part returned
/// the failure without a rollback (`Engine::part`, in a session) and `Engine::requote`
/// recorded it as a refused part and went on: the requote was accepted, the session stayed
/// open, and the faulted part stayed half applied (its `OrderAccepted` event kept; against the
/// copy that ran the same fault outside a session, `next_order_seq: 2 against 1`). With more
/// parts after it, a later step broke an invariant ("resting totals 10/3 but books hold
/// 10/2").
#[test]
fn regression_a_faulted_requote_order_in_a_session_is_not_left_half_applied() {
    let mut v = Venue::new(params());
    v.deposit(6, "10000");
    let start = v.e.clone();
    let cmd = Command::Requote(Requote {
        account: AccountId(6),
        market: MarketId(0),
        orders: vec![common::quote(Side::Buy, "995", 1)],
    });
    v.e.begin_what_if();
    v.e.fail_commit_arithmetic_at(1);
    let r = v.e.apply(&cmd, TimestampMs(v.t + 1)).map(|ev| ev.to_vec());
    assert!(
        matches!(r, Err(Reject::Internal { .. })),
        "{r:?}, parts {:?}",
        v.e.last_parts()
    );
    assert!(!v.e.in_what_if());
    assert_same(&v.e, &start, "a faulted requote in a session");
}

/// (d) A commit fault after other commands of the session: the engine back at the session's
/// start, every command of the session taken back, the session over (the hook's own check of
/// the rollback, against a copy from before the faulted command, stands aside in a session);
/// and the engine then goes on like the copy from before the session. Every step of the
/// faulted liquidation.
#[test]
fn a_fault_later_in_a_session_takes_back_the_whole_session() {
    let base = leveraged();
    // The session up to the faulted command: a new account, an order that rests, a fall.
    let session = || {
        let mut v = Venue {
            e: base.e.clone(),
            t: base.t,
        };
        v.e.begin_what_if();
        v.deposit(6, "5000");
        v.limit(6, Side::Sell, "1000", 2);
        v.oracle("880");
        v
    };
    let v = session();
    let steps = commit_steps(&v.e, &liquidate_t(), TimestampMs(v.t + 1));
    assert!(steps >= 20, "{steps} steps");
    for at in 1..=steps {
        let mut v = session();
        v.e.fail_commit_arithmetic_at(at);
        let now = TimestampMs(v.t + 1);
        match v.e.apply(&liquidate_t(), now) {
            Err(Reject::Internal { command, .. }) => assert_eq!(command, "liquidate"),
            other => panic!("step {at}: {other:?}"),
        }
        assert!(!v.e.in_what_if(), "step {at}: the session is over");
        assert_same(&v.e, &base.e, "a fault later in the session");
        v.e.check_invariants().expect("the invariants hold"); // ok: a test
                                                              // The journal works on.
        let mut copy = base.e.clone();
        let c = Command::Deposit {
            account: AccountId(T),
            amount_usd: usd("1"),
        };
        let ours = v.e.apply(&c, now).map(|ev| ev.to_vec());
        let theirs = copy.apply(&c, now).map(|ev| ev.to_vec());
        assert_eq!(ours, theirs);
        assert_same(&v.e, &copy, "a command after the faulted session");
    }
}

/// (e) A typed refusal in a session (an order for 0 lots) changes nothing, and the session
/// goes on: its end takes back what came before and after the refusal.
#[test]
fn a_refusal_in_a_session_changes_nothing_and_keeps_it_open() {
    let mut v = leveraged();
    let before = v.e.clone();
    v.e.begin_what_if();
    v.deposit(T, "100");
    let mid = v.e.clone();
    let zero = v.order(0, T, Side::Buy, OrderKind::Limit, "990", 0);
    let r = v.try_cmd(zero);
    assert!(
        matches!(&r, Err(reject) if !matches!(reject, Reject::Internal { .. })),
        "{r:?}"
    );
    assert_same(&v.e, &mid, "after the refusal");
    assert!(v.e.in_what_if(), "the refusal ended the session");
    v.deposit(T2, "100");
    v.e.end_what_if();
    assert_same(&v.e, &before, "the session's end");
}

/// Regression (found by `a_session_takes_back_every_command`, which shrank to one refused
/// command): the smallest sequence after which a session's end did not give back the engine
/// from before it. In a session, an order for 0 lots (refused) and then a deposit of 100 to
/// T; at the session's end the deposit must be gone. As sessions were first committed, the
/// refusal took back the whole session and ended it (`Engine::apply` rolled the journal back
/// after every refusal, which in a session is the session's journal), so the deposit was
/// applied for real and `end_what_if` found no session: `state_diff` reported
/// `deposited_usd: Usd(1103510000000) against Usd(1103410000000)`.
#[test]
fn regression_a_refusal_then_a_deposit_in_a_session_are_taken_back() {
    let mut v = leveraged();
    let before = v.e.clone();
    v.e.begin_what_if();
    let zero = v.order(0, T, Side::Buy, OrderKind::Limit, "990", 0);
    assert!(v.try_cmd(zero).is_err());
    v.deposit(T, "100");
    v.e.end_what_if();
    assert_same(&v.e, &before, "a refusal, a deposit, the end");
}

/// (f) The command count and the time of the last command, which only a command that
/// succeeded changes, are back at their values from before the session; so is the order
/// sequence.
#[test]
fn the_command_count_and_time_are_taken_back() {
    let mut v = leveraged();
    let (applied, last, seq) = (v.e.commands_applied(), v.e.last_ms(), v.e.next_order_seq());
    let before = v.e.clone();
    v.e.begin_what_if();
    v.deposit(T, "100");
    // A requote counts one command per part applied: its cancel and two orders.
    v.ok(Command::Requote(Requote {
        account: AccountId(T),
        market: MarketId(0),
        orders: vec![
            common::quote(Side::Sell, "1010", 1),
            common::quote(Side::Sell, "1011", 1),
        ],
    }));
    v.t += 60_000;
    v.ok(Command::Tick);
    assert_eq!(v.e.commands_applied(), applied + 5);
    assert_eq!(v.e.last_ms(), TimestampMs(v.t));
    assert!(v.e.next_order_seq() > seq);
    v.e.end_what_if();
    assert_eq!(v.e.commands_applied(), applied);
    assert_eq!(v.e.last_ms(), last);
    assert_eq!(v.e.next_order_seq(), seq);
    assert_same(&v.e, &before, "the session's end");
    // A command earlier than the session's last but not than the one before it is accepted.
    let r = v.e.apply(&Command::Tick, TimestampMs(last.0 + 1));
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(v.e.commands_applied(), applied + 1);
}

/// Accounts and markets the session created are gone at its end; so are the orders it
/// rested and the position entries it opened.
#[test]
fn accounts_and_markets_made_in_a_session_are_taken_back() {
    let mut v = leveraged();
    let before = v.e.clone();
    v.e.begin_what_if();
    let mut p = params();
    p.symbol = "SECOND".into();
    v.ok(Command::CreateMarket {
        params: Box::new(p),
    });
    v.deposit(40, "10000");
    v.limit_in(1, MM, Side::Sell, "1000", 5);
    v.limit_in(1, 40, Side::Buy, "1000", 3);
    v.limit_in(1, 40, Side::Buy, "990", 1);
    v.limit(40, Side::Buy, "950", 2);
    assert_eq!(v.e.markets().len(), 2);
    assert!(v.e.account(AccountId(40)).is_some());
    assert!(before.account(AccountId(40)).is_none());
    v.e.end_what_if();
    assert_eq!(v.e.markets().len(), 1);
    assert!(v.e.account(AccountId(40)).is_none());
    assert_same(&v.e, &before, "the session's end");
}

/// The depth model's book move: refused outside a session; in one, every resting order moves
/// by whole ticks, keeping its level, queue place and id, the book stays consistent, a
/// liquidation fills at the moved prices, and the session's end puts every order back.
#[test]
fn a_book_moved_in_a_session_follows_the_price_and_comes_back() {
    let mut v = leveraged();
    let before = v.e.clone();
    let tick = v.e.market(MarketId(0)).map(|m| m.params.tick_size.micros()); // ok: a test
    let tick = tick.expect("market 0"); // ok: a test
    let refused = v.e.what_if_shift_book(MarketId(0), -10);
    assert!(
        matches!(refused, Err(Reject::InvalidParam { .. })),
        "{refused:?}"
    );
    assert_same(&v.e, &before, "a refused move");
    let bids = |e: &Engine| -> Vec<(Price, Qty, u32)> {
        e.market(MarketId(0)) // ok: a test
            .expect("market 0") // ok: a test
            .book
            .levels(Side::Buy)
            .collect()
    };
    let old = bids(&v.e);
    v.e.begin_what_if();
    v.e.what_if_shift_book(MarketId(0), -250).expect("a move"); // ok: a test
    let moved = bids(&v.e);
    assert_eq!(moved.len(), old.len());
    for (m, o) in moved.iter().zip(&old) {
        assert_eq!(m.0.micros(), o.0.micros() - 250 * tick, "every level moves");
        assert_eq!((m.1, m.2), (o.1, o.2), "and keeps its orders");
    }
    let book_ok = v.e.market(MarketId(0)).map(|m| m.book.check()); // ok: a test
    assert_eq!(book_ok, Some(Ok(())));
    // A move that would take a bid to zero or below is refused and changes nothing.
    let lowest = old.last().map(|l| l.0.micros() / tick).expect("bids"); // ok: a test
    let too_far = v.e.what_if_shift_book(MarketId(0), -lowest);
    assert!(
        matches!(too_far, Err(Reject::PriceNotPositive(_))),
        "{too_far:?}"
    );
    assert_eq!(bids(&v.e), moved);
    // The trader's liquidation sells into the moved bids.
    v.e.apply(
        &Command::SetVenueParam {
            param: VenueParam::NativeLiquidation(true),
        },
        TimestampMs(v.t + 1),
    )
    .expect("native on"); // ok: a test
    let price = Command::OraclePrice {
        market: MarketId(0),
        price: Price::from_micros(900_000_000),
    };
    // A minute and more later: the last trade's EMA is stale and no longer holds the mark.
    let later = TimestampMs(v.t + 120_000);
    let events = v.e.apply(&price, later).expect("a price"); // ok: a test
    let fills: Vec<i64> = events
        .iter()
        .filter_map(|ev| match ev {
            Event::Fill {
                liquidation: true,
                price,
                ..
            } => Some(price.micros()),
            _ => None,
        })
        .collect();
    assert!(!fills.is_empty(), "the fall liquidates someone: {events:?}");
    let old_prices: Vec<i64> = old.iter().map(|l| l.0.micros()).collect();
    assert!(
        fills.iter().all(|p| !old_prices.contains(p)),
        "fills at moved prices {fills:?}, not the old {old_prices:?}"
    );
    v.e.end_what_if();
    assert_same(&v.e, &before, "the end of a session with a moved book");
}
