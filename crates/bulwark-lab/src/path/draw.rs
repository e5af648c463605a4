//! Random draws for the path generators, computed with `libm` so that a seed gives the same
//! bits on every machine (std's `exp`, `ln` and `cos` call the platform's libm, whose last bit
//! may differ between CPUs and C libraries).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A uniform draw in the open interval (0, 1): 53 random bits, offset by half a step so that
/// neither end can come out (the logarithms below must never see 0).
pub fn uniform_open(rng: &mut ChaCha8Rng) -> f64 {
    let bits = rng.gen::<u64>() >> 11;
    (bits as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw by the Box-Muller transform (one of the pair is used).
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = uniform_open(rng);
    let u2 = uniform_open(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)
}

/// Two independent standard normal draws by Marsaglia's polar method: a point uniform in the
/// unit disc (about 1.27 tries), one logarithm and one square root for the pair, no
/// trigonometry; cheaper than [`standard_normal`] where many draws are needed.
pub fn standard_normal_pair(rng: &mut ChaCha8Rng) -> (f64, f64) {
    loop {
        let x = 2.0 * uniform_open(rng) - 1.0;
        let y = 2.0 * uniform_open(rng) - 1.0;
        let s = x * x + y * y;
        if s > 0.0 && s < 1.0 {
            let f = libm::sqrt(-2.0 * libm::log(s) / s);
            return (x * f, y * f);
        }
    }
}

/// A Poisson draw with mean `mean` (0 for a mean that is not positive and finite).
///
/// Below a mean of 10, Knuth's method (multiply uniforms until the product falls below
/// `e^-mean`); from 10 up, Hörmann's transformed rejection with squeeze (PTRS, "The
/// transformed rejection method for generating Poisson random variables", Insurance:
/// Mathematics and Economics 12, 1993), which takes about 1.1 tries whatever the mean.
pub fn poisson(mean: f64, rng: &mut ChaCha8Rng) -> u64 {
    if !(mean > 0.0 && mean.is_finite()) {
        return 0;
    }
    if mean < 10.0 {
        let limit = libm::exp(-mean);
        let mut product = uniform_open(rng);
        let mut k = 0u64;
        while product > limit {
            product *= uniform_open(rng);
            k += 1;
        }
        return k;
    }
    let smu = libm::sqrt(mean);
    let b = 0.931 + 2.53 * smu;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    let log_mean = libm::log(mean);
    loop {
        let u = uniform_open(rng) - 0.5;
        let v = uniform_open(rng);
        let us = 0.5 - u.abs();
        let k = libm::floor((2.0 * a / us + b) * u + mean + 0.43);
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        let lhs = libm::log(v) + libm::log(inv_alpha) - libm::log(a / (us * us) + b);
        if lhs <= -mean + k * log_mean - libm::lgamma(k + 1.0) {
            return k as u64;
        }
    }
}

/// An exponential draw with mean 1.
pub fn exp1(rng: &mut ChaCha8Rng) -> f64 {
    -libm::log(uniform_open(rng))
}

/// A generalized Pareto draw with shape `xi` and scale `scale` (the excess over a threshold
/// in peaks-over-threshold models), by inverting its distribution function:
/// `scale / xi * ((1 - u)^-xi - 1)`, or `scale * E` with `E ~ Exp(1)` when `xi` is 0.
pub fn generalized_pareto(xi: f64, scale: f64, rng: &mut ChaCha8Rng) -> f64 {
    let e = exp1(rng); // -ln(1 - u) with u uniform: (1 - u)^-xi = exp(xi * e)
    if xi.abs() < 1e-12 {
        scale * e
    } else {
        scale / xi * libm::expm1(xi * e)
    }
}

/// A gamma draw with shape `shape` (> 0) and scale 1, by Marsaglia and Tsang's squeeze
/// ("A simple method for generating gamma variables", ACM TOMS 2000): a cubed normal, kept
/// by a cheap squeeze or the exact log test; below shape 1 the shape is raised by one and the
/// draw scaled by `U^(1/shape)`. The rejection loop keeps about 96% of candidates at shape 1
/// and more above, so it draws a few numbers per result on average; any seed still gives
/// the same sequence on every machine.
pub fn gamma(shape: f64, rng: &mut ChaCha8Rng) -> f64 {
    debug_assert!(shape > 0.0 && shape.is_finite(), "gamma shape {shape}");
    if shape < 1.0 {
        let g = gamma(shape + 1.0, rng);
        return g * libm::pow(uniform_open(rng), 1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / libm::sqrt(9.0 * d);
    loop {
        let x = standard_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = uniform_open(rng);
        let x2 = x * x;
        if u < 1.0 - 0.0331 * x2 * x2 || libm::log(u) < 0.5 * x2 + d * (1.0 - v + libm::log(v)) {
            return d * v;
        }
    }
}

/// A Student-t draw with `dof` (> 2) degrees of freedom scaled to unit variance, the
/// innovation of [`crate::path::Garch`]: `Z / sqrt(W / dof)` with `W` chi-squared (twice a
/// gamma of shape `dof / 2`), times `sqrt((dof - 2) / dof)`.
pub fn student_t_unit(dof: f64, rng: &mut ChaCha8Rng) -> f64 {
    debug_assert!(dof > 2.0, "a unit-variance t needs dof > 2, got {dof}");
    let z = standard_normal(rng);
    let w = 2.0 * gamma(dof / 2.0, rng);
    z * libm::sqrt((dof - 2.0) / w)
}

/// A Student-t draw with `dof` (> 0) degrees of freedom by Bailey's polar method ("Polar
/// generation of random variates with the t-distribution", Mathematics of Computation 62,
/// 1994): a point `(u, v)` uniform in the unit disc, `w = u^2 + v^2`, then
/// `u sqrt(dof (w^(-2/dof) - 1) / w)`. One point (about 1.27 tries of two uniforms) per draw
/// and no logarithm; with 4 degrees of freedom `w^(-1/2)` is a square root, elsewhere a `pow`.
/// A cheaper draw than a normal over the root of a chi-squared, for the forecast's many
/// paths.
pub fn student_t_polar(dof: u32, rng: &mut ChaCha8Rng) -> f64 {
    debug_assert!(dof > 0, "a t draw needs dof > 0");
    loop {
        let u = 2.0 * uniform_open(rng) - 1.0;
        let v = 2.0 * uniform_open(rng) - 1.0;
        let w = u * u + v * v;
        if w > 0.0 && w < 1.0 {
            let w_pow = if dof == 4 {
                1.0 / libm::sqrt(w)
            } else {
                libm::pow(w, -2.0 / dof as f64)
            };
            return u * libm::sqrt(dof as f64 * (w_pow - 1.0) / w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_t_draws_have_the_t_distributions_quantiles_and_variance() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Published two-sided quantiles of Student's t (any table): t(0.975) and t(0.995) for
        // 4, 5 and 10 degrees of freedom. 200,000 draws: the empirical quantile's standard
        // error at these levels is under 1% of the value, so 3% is several errors wide.
        for (dof, q975, q995) in [(4, 2.776, 4.604), (5, 2.571, 4.032), (10, 2.228, 3.169)] {
            let mut xs: Vec<f64> = (0..200_000)
                .map(|_| student_t_polar(dof, &mut rng))
                .collect();
            xs.sort_by(f64::total_cmp);
            let at = |p: f64| xs[(p * xs.len() as f64) as usize];
            for (p, want) in [(0.975, q975), (0.995, q995)] {
                let (hi, lo) = (at(p), -at(1.0 - p));
                assert!(
                    (hi / want - 1.0).abs() < 0.03,
                    "dof {dof}: upper {p} {hi} vs {want}"
                );
                assert!(
                    (lo / want - 1.0).abs() < 0.03,
                    "dof {dof}: lower {p} {lo} vs {want}"
                );
            }
            // Symmetric about 0; and with 10 degrees of freedom (finite fourth moment) the
            // variance is dof / (dof - 2) = 1.25, here within 2%.
            let median = at(0.5);
            assert!(median.abs() < 0.01, "dof {dof}: median {median}");
            if dof == 10 {
                let (m, v) = mean_var(&xs);
                assert!(
                    m.abs() < 0.01 && (v / 1.25 - 1.0).abs() < 0.02,
                    "mean {m}, var {v}"
                );
            }
        }
    }

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (
            m,
            xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn poisson_draws_have_their_mean_and_variance_on_both_methods() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // Knuth below 10, PTRS from 10: 40,000 draws each, mean and variance equal to `mean`
        // within 4 standard errors (se of the mean sqrt(m/n); of the variance about
        // m sqrt(2/n)).
        for mean in [0.7, 4.0, 12.0, 180.0] {
            let xs: Vec<f64> = (0..40_000)
                .map(|_| poisson(mean, &mut rng) as f64)
                .collect();
            let (m, v) = mean_var(&xs);
            let se = (mean / 40_000f64).sqrt();
            assert!((m - mean).abs() < 4.0 * se, "mean {mean}: {m}");
            assert!(
                (v - mean).abs() < 4.0 * mean * (2.0 / 40_000f64).sqrt() + 0.02,
                "var {mean}: {v}"
            );
        }
        assert_eq!(poisson(0.0, &mut rng), 0);
        assert_eq!(poisson(f64::NAN, &mut rng), 0);
    }

    #[test]
    fn polar_pairs_are_standard_normal_and_uncorrelated() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let pairs: Vec<(f64, f64)> = (0..50_000)
            .map(|_| standard_normal_pair(&mut rng))
            .collect();
        let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let ((mx, vx), (my, vy)) = (mean_var(&xs), mean_var(&ys));
        assert!(mx.abs() < 0.02 && my.abs() < 0.02, "{mx} {my}");
        assert!(
            (vx - 1.0).abs() < 0.03 && (vy - 1.0).abs() < 0.03,
            "{vx} {vy}"
        );
        let cov = pairs.iter().map(|p| p.0 * p.1).sum::<f64>() / pairs.len() as f64;
        assert!(cov.abs() < 0.02, "{cov}");
    }
    use rand::SeedableRng;

    fn mean_and_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn draws_have_their_stated_moments() {
        // 200,000 draws: the standard error of a mean of unit variance is 0.0022.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 200_000;
        let normal: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let (m, v) = mean_and_var(&normal);
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.015, "normal {m} {v}");
        let exp: Vec<f64> = (0..n).map(|_| exp1(&mut rng)).collect();
        let (m, v) = mean_and_var(&exp);
        assert!(
            (m - 1.0).abs() < 0.01 && (v - 1.0).abs() < 0.03,
            "exp {m} {v}"
        );
        // GPD with xi = 0.25, scale 2: mean scale / (1 - xi) = 8/3, variance
        // scale^2 / ((1 - xi)^2 (1 - 2 xi)) = 128/9 (finite for xi < 1/2).
        let gpd: Vec<f64> = (0..n)
            .map(|_| generalized_pareto(0.25, 2.0, &mut rng))
            .collect();
        let (m, v) = mean_and_var(&gpd);
        assert!((m - 8.0 / 3.0).abs() < 0.05, "gpd mean {m}");
        assert!((v - 128.0 / 9.0).abs() < 1.5, "gpd var {v}");
        assert!(gpd.iter().all(|x| *x > 0.0));
    }

    #[test]
    fn gamma_and_unit_t_have_their_stated_moments() {
        // Gamma(k): mean k, variance k. 200,000 draws: standard errors sqrt(k / n), under
        // 0.005 for these shapes; the tolerances are about 5 of them.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 200_000;
        for k in [0.4, 1.0, 2.5, 10.0] {
            let g: Vec<f64> = (0..n).map(|_| gamma(k, &mut rng)).collect();
            let (m, v) = mean_and_var(&g);
            assert!((m - k).abs() < 0.025 * k.max(1.0), "gamma({k}) mean {m}");
            assert!((v / k - 1.0).abs() < 0.04, "gamma({k}) var {v}");
            assert!(g.iter().all(|x| *x > 0.0));
        }
        // Unit-variance t with 8 degrees of freedom: variance 1, excess kurtosis 6 / (8 - 4)
        // = 1.5 (the sample kurtosis converges slowly: checked loosely).
        let t: Vec<f64> = (0..n).map(|_| student_t_unit(8.0, &mut rng)).collect();
        let (m, v) = mean_and_var(&t);
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "t {m} {v}");
        let k4 = t.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64 / (v * v) - 3.0;
        assert!((k4 - 1.5).abs() < 0.4, "t excess kurtosis {k4}");
    }

    #[test]
    fn uniform_never_reaches_either_end() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert!((0..100_000)
            .map(|_| uniform_open(&mut rng))
            .all(|u| u > 0.0 && u < 1.0));
    }
}
