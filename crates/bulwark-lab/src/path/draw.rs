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
    fn uniform_never_reaches_either_end() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert!((0..100_000)
            .map(|_| uniform_open(&mut rng))
            .all(|u| u > 0.0 && u < 1.0));
    }
}
