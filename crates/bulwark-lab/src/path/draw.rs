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

#[cfg(test)]
mod tests {
    use super::*;
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
