//! The crate's one hot path: bootstrap intervals of tail measures over many runs.
//!
//! Workload: 10,000 losses (standard normal, seeded), 2,000 resamples, 95% interval, 99%
//! level. `var_ci` and `expected_shortfall_ci` hold each resample as counts over the sorted
//! losses (O(n), no sort); `bootstrap_ci` with `var` is the general path that copies and
//! sorts every resample, kept here as the yardstick. GARCH(1,1) on 5,000 returns is the
//! other non-trivial computation.
//!
//! Run: `cargo bench -p bulwark-risk --bench bootstrap`.

use bulwark_risk::{
    bootstrap_ci, expected_shortfall_ci, fit_garch11, var, var_ci, Bootstrap, Innovations,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn normal_sample(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let (u, v) = (unit(), unit());
            libm::sqrt(-2.0 * libm::log(u)) * libm::cos(2.0 * std::f64::consts::PI * v)
        })
        .collect()
}

/// GARCH(1,1) returns with omega 1e-5, alpha 0.1, beta 0.85, Gaussian innovations.
fn garch_sample(n: usize, seed: u64) -> Vec<f64> {
    let z = normal_sample(n, seed);
    let mut s2 = 2e-4;
    z.iter()
        .map(|z| {
            let r = libm::sqrt(s2) * z;
            s2 = 1e-5 + 0.1 * r * r + 0.85 * s2;
            r
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let losses = normal_sample(10_000, 1);
    let boot = Bootstrap::with_seed(7);
    let mut g = c.benchmark_group("bootstrap_10k_losses_2k_resamples");
    g.sample_size(10);
    g.bench_function("var_ci_99", |b| {
        b.iter(|| var_ci(black_box(&losses), 0.99, &boot).unwrap())
    });
    g.bench_function("expected_shortfall_ci_99", |b| {
        b.iter(|| expected_shortfall_ci(black_box(&losses), 0.99, &boot).unwrap())
    });
    g.bench_function("bootstrap_ci_generic_var_99", |b| {
        b.iter(|| bootstrap_ci(black_box(&losses), &boot, |x| var(x, 0.99).unwrap()).unwrap())
    });
    g.finish();

    let returns = garch_sample(5_000, 2);
    let mut g = c.benchmark_group("garch11_fit_5k_returns");
    g.sample_size(10);
    g.bench_function("gaussian", |b| {
        b.iter(|| fit_garch11(black_box(&returns), Innovations::Gaussian).unwrap())
    });
    g.bench_function("student_t", |b| {
        b.iter(|| fit_garch11(black_box(&returns), Innovations::StudentT).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
