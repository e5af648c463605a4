//! Runs of several markets: the committed two-market scenario (BTC and ETH from correlated
//! paths, cross-margin traders in both), conservation per market and venue-wide recounted
//! from the engine's books, contagion through the cross pool, and the new fields' rules.

use std::path::{Path, PathBuf};

use bulwark_engine::Engine;
use bulwark_lab::output::summary::zero_sum;
use bulwark_lab::output::summary_json;
use bulwark_lab::run::run;
use bulwark_lab::scenario::{self, LoadedScenario, Override, ScenarioError};
use expect_test::expect_file;

fn scenario_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

fn two_markets(sets: &[&str]) -> LoadedScenario {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    scenario::load_file(&scenario_file("two_markets.toml"), &overrides)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Venue-wide conservation recounted from the engine's public books, beside the engine's own
/// check: every account's and the vault's cross and isolated collateral net of cost basis,
/// the fee pool, every market's funding and socialization clearing balances and the
/// insurance fund, less recorded bad debt, equal deposits less withdrawals to the micro-USD.
fn money_recounted(e: &Engine) -> (i128, i128) {
    let mut held: i128 = 0;
    let accounts = e
        .accounts()
        .iter()
        .filter(|a| a.active)
        .chain(std::iter::once(&e.vault().account));
    for a in accounts {
        held += i128::from(a.collateral_usd.micros());
        for p in &a.positions {
            held += i128::from(p.isolated_usd.micros()) - i128::from(p.cost_usd.micros());
        }
    }
    for m in e.markets() {
        held += i128::from(m.funding_clearing_usd.micros());
        held += i128::from(m.loss_clearing_usd.micros());
    }
    held += i128::from(e.fee_pool_usd().micros()) + i128::from(e.insurance_usd().micros());
    held -= i128::from(e.bad_debt_usd().micros());
    let net = i128::from(e.deposited_usd().micros()) - i128::from(e.withdrawn_usd().micros());
    (held, net)
}

#[test]
fn two_markets_conserve_per_market_and_venue_wide_and_a_cross_pool_falls_to_the_other_market() {
    let outcome = run(&two_markets(&[]), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let s = &outcome.summary;
    let engine = &outcome.sim.venue.engine;

    // Venue-wide: the engine's invariants (conservation among them) held at every periodic
    // check and at the end, and the books recount to the same money.
    assert!(s.conservation.ok, "{:?}", s.conservation.first_breach);
    let (held, net) = money_recounted(engine);
    assert_eq!(held, net, "money held against deposits less withdrawals");

    // Per market: zero-sum positions recounted from every account and the vault; each
    // market's stage losses plus the venue-wide insurance and uncovered amounts add up to
    // the venue's bad debt, its penalties to the venue's, its ADL closes to the venue's.
    assert_eq!(s.markets.len(), 2);
    assert_eq!(
        (s.markets[0].symbol.as_str(), s.markets[1].symbol.as_str()),
        ("BTC-PERP", "ETH-PERP")
    );
    for (i, m) in s.markets.iter().enumerate() {
        assert!(m.zero_sum, "{} lots do not balance", m.symbol);
        assert!(zero_sum(engine, bulwark_engine::MarketId(i as u16)));
        assert!(m.liquidations > 0, "{} liquidates someone", m.symbol);
        assert!(
            m.price.outside_min < 0.5 * m.price.outside_start,
            "{} crashes",
            m.symbol
        );
        assert!(m.oracle_updates > 0 && m.open_interest_max_usd > 0.0);
    }
    let (btc, eth) = (&s.markets[0].price, &s.markets[1].price);
    assert_eq!((btc.outside_start, btc.outside_min), (7938.05, 3858.0));
    assert!((eth.outside_start - 194.0).abs() < 1e-9 && (eth.outside_min - 90.0).abs() < 1e-9);
    let by_market = |f: &dyn Fn(&bulwark_lab::output::summary::MarketLossesByStage) -> f64| {
        s.markets.iter().map(|m| f(&m.losses_by_stage)).sum::<f64>()
    };
    let stages = by_market(&|l| l.vault_usd + l.adl_usd + l.socialized_usd)
        + s.bad_debt.insurance_usd
        + s.bad_debt.uncovered_usd;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert!(
        close(stages, s.bad_debt.total_usd),
        "{stages} against {}",
        s.bad_debt.total_usd
    );
    assert!(close(
        by_market(&|l| l.penalties_usd),
        s.bad_debt.liquidation_penalties_usd
    ));
    assert_eq!(
        s.markets.iter().map(|m| m.adl_count).sum::<u64>(),
        s.adl.count
    );

    // Contagion: 320 accounts hold both markets in one cross pool; some were liquidated, and
    // at least one liquidation closed a position at a profit in one market because the pool
    // had gone under in the other.
    let cross = s.cross_market.as_ref().expect("two markets");
    assert_eq!(cross.markets, 2);
    assert_eq!(cross.cross_margin_accounts, 320);
    assert!(cross.multi_market_liquidations > 0);
    assert!(cross.contagion_liquidations >= 1, "{cross:?}");
    let contagion: u64 = s.markets.iter().map(|m| m.contagion_liquidations).sum();
    assert!(contagion >= cross.contagion_liquidations);
    let record = outcome
        .sim
        .metrics
        .liquidations
        .records
        .iter()
        .find(|r| r.contagion_markets != 0)
        .expect("a contagion liquidation");
    assert!(record.markets_held >= 2);
    assert_ne!(record.closed_markets & record.contagion_markets, 0);

    // The whole summary, pinned (UPDATE_EXPECT=1 rewrites it on purpose).
    expect_file!["golden/two_markets_summary.json"].assert_eq(&summary_json(s));
}

fn problems(text: &str) -> Vec<String> {
    match scenario::parse(text, "test", PathBuf::from("."), &[]) {
        Err(ScenarioError::Invalid { problems, .. }) => {
            problems.iter().map(|p| p.to_string()).collect()
        }
        Err(e) => vec![e.to_string()],
        Ok(_) => Vec::new(),
    }
}

#[test]
fn further_markets_and_correlations_are_checked_at_load() {
    let base = std::fs::read_to_string(scenario_file("two_markets.toml")).unwrap();
    // The committed scenario is valid as it stands.
    assert!(problems(&base).is_empty(), "{:?}", problems(&base));
    let cases = [
        // Same symbol as the first market.
        (
            base.replace("symbol = \"ETH-PERP\"", "symbol = \"BTC-PERP\""),
            "more_markets[0].market.symbol",
        ),
        // A grid of its own.
        (
            base.replace("start_price = 194.0", "start_price = 194.0\ntail_s = 3600"),
            "one time grid",
        ),
        // A matrix that is no correlation matrix, a weight outside [0, 1].
        (
            base.replace("calm = [0.86]", "calm = [0.86, 0.2]"),
            "correlation.calm",
        ),
        (
            base.replace("crisis_weight = 0.65", "crisis_weight = 1.5"),
            "correlation.crisis_weight",
        ),
        // The engine refuses the market's own parameters.
        (
            base.replace("lots_per_unit = 100 ", "lots_per_unit = 0 "),
            "more_markets[0].market.lots_per_unit",
        ),
        // A shock field out of range, named under the market.
        (
            base.replace("drop_frac = 0.5360824742268041", "drop_frac = 1.5"),
            "more_markets[0].shock.drop_frac",
        ),
        (
            base.replace("cross_margin_share = 0.4 ", "cross_margin_share = -0.1 "),
            "more_markets[0].agents.cross_margin_share",
        ),
        (
            base.replace("traders = 800", "traders = 2000000"),
            "more_markets[0].agents.traders",
        ),
        // Beside a historical replay.
        (
            base.replace(
                "kind = \"calibrated_shock\"",
                "kind = \"historical\"\nhistorical = { csv = \"none.csv\" }",
            ),
            "historical files side by side are not supported",
        ),
        // An unknown field.
        (
            base.replace("cross_margin_share = 0.4 ", "cross_margin_shares = 0.4 "),
            "cross_margin_shares",
        ),
    ];
    for (text, needle) in cases {
        let found = problems(&text);
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "expected a problem naming {needle:?}, got {found:?}"
        );
    }
    // Three markets against one calm value for every pair: valid; against two values: not.
    let third = "\n[[more_markets]]\n[more_markets.market]\nsymbol = \"SOL-PERP\"\n[more_markets.agents]\ntraders = 10\n";
    let three = format!("{base}{third}");
    assert!(problems(&three).is_empty(), "{:?}", problems(&three));
    let bad = three.replace("calm = [0.86]", "calm = [0.86, 0.5]");
    assert!(problems(&bad)
        .iter()
        .any(|p| p.contains("correlation.calm")));
}
