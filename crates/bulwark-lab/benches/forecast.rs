//! The online controller's forward Monte Carlo (issue 13's speed target): 1,000 paths of 3,600
//! one-second steps from a live state with about 2,000 accounts, one engine clone per path
//! that leaves the quiet band, native liquidation, no trading agents, the live book as the
//! depth model (see `controller::forecast`).
//!
//! The live state: the default scenario (March 2020) with 2,000 traders, run to 12.5 hours,
//! shortly before its cascade; the paths at a one-hour volatility of 2% (the crash's), with
//! Student-t(4) returns. Run: `cargo bench -p bulwark-lab --bench forecast`.

use bulwark_engine::MarketId;
use bulwark_lab::controller::forecast::{forecast, FeedRule, ForecastSpec, JumpSpec};
use bulwark_lab::run::run;
use bulwark_lab::scenario::{self, Override};
use criterion::{criterion_group, criterion_main, Criterion};

fn live_state() -> (bulwark_engine::Engine, u64) {
    let sets: Vec<Override> = ["duration_s=45000", "agents.traders.count=2000"]
        .iter()
        .map(|s| s.parse().expect("override"))
        .collect();
    let loaded = scenario::parse(
        scenario::DEFAULT_SCENARIO_TOML,
        "bench",
        std::path::PathBuf::from("."),
        &sets,
    )
    .expect("the default scenario loads");
    let o = run(&loaded, &mut |_| {}).expect("the run completes");
    let now = o.sim.now_ms();
    (o.sim.venue.engine.clone(), now)
}

fn bench(c: &mut Criterion) {
    let (engine, now) = live_state();
    let spec = ForecastSpec {
        paths: 1_000,
        horizon_s: 3_600,
        step_s: 1,
        tick_every_s: 60,
        sigma_1h: 0.02,
        drift_1h: 0.0,
        jumps: JumpSpec::NONE,
        tail_dof: 4,
        liquidation_delay_s: 0,
        max_liquidations_per_sweep: 0,
        book_follows: false,
        feed: FeedRule::EVERY_STEP,
        seed: 7,
    };
    let f = forecast(&engine, MarketId(0), now, &spec).expect("forecast");
    println!(
        "accounts {}, paths simulated through a clone {} of {}, VaR95 {:.0} USD, ES95 {:.0} USD",
        engine.accounts().len(),
        f.paths_simulated,
        spec.paths,
        f.var_usd(0.95),
        f.es_usd(0.95)
    );
    let mut g = c.benchmark_group("forecast");
    g.sample_size(10);
    g.bench_function("1000_paths_3600_steps_2000_accounts", |b| {
        b.iter(|| forecast(&engine, MarketId(0), now, &spec).expect("forecast"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
