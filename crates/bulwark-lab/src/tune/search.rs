//! The tuner's search, apart from the lab: successive halving over candidates drawn from
//! stated ranges, against an objective with two constraints.
//!
//! **The problem.** Minimise the mean `margin_per_oi` subject to (a) the probability of bad
//! debt, judged by the upper end of its two-sided Wilson interval at `confidence`, at most
//! `max_bad_debt_probability`, and (b) the mean `volume_refused_share` at most
//! `max_volume_refused_share`. The Wilson upper end, not the point estimate: 0 bad-debt runs
//! in 11 is no evidence of a probability under 5% (the interval reaches 26%), and a tuner
//! that read the point estimate would pick whatever got lucky on few seeds. With 100 runs a
//! candidate needs 0 bad-debt runs (upper end 3.7%) to meet a 5% target; 1 in 100 gives 5.4%.
//!
//! **Successive halving** (Jamieson and Talwalkar 2016; Li et al., Hyperband, 2018). `rungs`
//! are cumulative seed counts, e.g. `[11, 33, 100]`. Every candidate runs the first rung's
//! seeds; the best `ceil(n / eta)` go on to run the next rung's further seeds (their earlier
//! runs count too), and so on; the best at the last rung is chosen. All candidates of a rung
//! run on the same seeds (paired): their differences are the parameters', not the seeds'.
//!
//! **Ranking** (within a rung, every candidate on the same runs): feasible candidates first,
//! by mean `margin_per_oi`, lowest first; then infeasible ones by their violation (the sum of
//! each constraint's excess over its limit, relative to the limit), then by `margin_per_oi`;
//! ties by candidate index. Ranking the infeasible by violation keeps the search moving toward
//! the feasible region on early rungs, where few seeds make every Wilson upper end wide.

use std::ops::Range;

use bulwark_risk::wilson;

/// What one run tells the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunMetrics {
    /// Whether the run ended with any bad debt.
    pub bad_debt: bool,
    pub margin_per_oi: f64,
    pub volume_refused_share: f64,
}

/// The limits a chosen candidate must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraints {
    /// Upper bound on P(bad debt), judged by the Wilson interval's upper end.
    pub max_bad_debt_probability: f64,
    /// Two-sided confidence of that Wilson interval, e.g. 0.95.
    pub confidence: f64,
    /// Upper bound on the mean `volume_refused_share`.
    pub max_volume_refused_share: f64,
}

/// The schedule of successive halving.
#[derive(Debug, Clone, PartialEq)]
pub struct Halving {
    /// Cumulative seeds per rung, strictly increasing.
    pub rungs: Vec<u32>,
    /// Each rung keeps `ceil(n / eta)` of its `n` candidates.
    pub eta: u32,
}

impl Halving {
    /// How many candidates run at each rung, starting from `candidates`.
    pub fn survivors(&self, candidates: usize) -> Vec<usize> {
        let mut n = candidates;
        let mut out = Vec::with_capacity(self.rungs.len());
        for _ in &self.rungs {
            out.push(n);
            n = n.div_ceil(self.eta.max(1) as usize).max(1);
        }
        out
    }

    /// Runs per tuning scenario the whole search makes: each rung's candidates times the
    /// seeds it adds.
    pub fn runs(&self, candidates: usize) -> u64 {
        let mut before = 0u32;
        self.survivors(candidates)
            .iter()
            .zip(&self.rungs)
            .map(|(n, &seeds)| {
                let added = u64::from(seeds - before.min(seeds));
                before = seeds;
                *n as u64 * added
            })
            .sum()
    }

    /// The schedule's own rules.
    pub fn check(&self) -> Result<(), String> {
        if self.rungs.is_empty() {
            return Err("search.rungs: give at least one rung, e.g. [11, 33, 100]".into());
        }
        if self.rungs[0] == 0 || self.rungs.windows(2).any(|w| w[1] <= w[0]) {
            return Err(format!(
                "search.rungs: {:?}: cumulative seed counts, each above the one before and \
                 the first at least 1",
                self.rungs
            ));
        }
        if self.eta < 2 {
            return Err(format!(
                "search.eta: {}: must be at least 2 (a rung keeps 1 in eta)",
                self.eta
            ));
        }
        Ok(())
    }
}

/// The runs of a rung: each candidate's (in the order asked), each in a fixed order.
pub type RungRuns = Vec<Vec<RunMetrics>>;

/// A candidate's standing at a rung, over every run it has made so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub candidate: usize,
    pub runs: u64,
    pub bad_debt_runs: u64,
    /// The Wilson interval's upper end for P(bad debt).
    pub bad_debt_upper: f64,
    pub margin_per_oi: f64,
    pub volume_refused_share: f64,
    /// 0 when both constraints hold; else the sum of each excess relative to its limit.
    pub violation: f64,
}

impl Standing {
    pub fn feasible(&self) -> bool {
        self.violation == 0.0
    }
}

/// One rung: who ran, on how many seeds, and how they ranked (best first).
#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    /// Seed indices of this rung's new runs.
    pub seeds: Range<u32>,
    /// Every candidate of the rung, best first.
    pub ranked: Vec<Standing>,
    /// How many of `ranked` go on (all of them at the last rung: none go on).
    pub promoted: usize,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    pub rungs: Vec<Rung>,
    /// The best candidate of the last rung.
    pub chosen: Standing,
}

/// Successive halving over `candidates` candidates. `evaluate(rung, candidates, seeds)`
/// runs each listed candidate on each seed index of the range (on every tuning scenario)
/// and returns each candidate's runs in a fixed order; the search only aggregates them, in
/// index order, so its result does not depend on how `evaluate` spreads the work.
pub fn successive_halving<E, F>(
    candidates: usize,
    halving: &Halving,
    constraints: &Constraints,
    mut evaluate: F,
) -> Result<SearchOutcome, E>
where
    E: From<String>,
    F: FnMut(usize, &[usize], Range<u32>) -> Result<RungRuns, E>,
{
    halving.check()?;
    if candidates == 0 {
        return Err(E::from("search.candidates: must be at least 1".into()));
    }
    let mut alive: Vec<usize> = (0..candidates).collect();
    // Every run so far, by candidate.
    let mut runs: Vec<Vec<RunMetrics>> = vec![Vec::new(); candidates];
    let mut rungs = Vec::with_capacity(halving.rungs.len());
    let mut seeds_before = 0u32;
    for (r, &seeds) in halving.rungs.iter().enumerate() {
        let range = seeds_before..seeds;
        let new = evaluate(r, &alive, range.clone())?;
        if new.len() != alive.len() {
            return Err(E::from(format!(
                "rung {r}: {} candidates' runs returned for {}",
                new.len(),
                alive.len()
            )));
        }
        for (c, more) in alive.iter().zip(new) {
            runs[*c].extend(more);
        }
        let ranked = rank(&alive, &runs, constraints)?;
        let last = r + 1 == halving.rungs.len();
        let promoted = if last {
            ranked.len()
        } else {
            ranked.len().div_ceil(halving.eta as usize).max(1)
        };
        // The next rung's candidates, in index order (so its runs are laid out by index).
        alive = ranked[..promoted].iter().map(|s| s.candidate).collect();
        alive.sort_unstable();
        rungs.push(Rung {
            seeds: range,
            ranked,
            promoted,
        });
        seeds_before = seeds;
    }
    let chosen = rungs
        .last()
        .and_then(|r| r.ranked.first().copied())
        .ok_or_else(|| E::from("the search ranked no candidate".to_string()))?;
    Ok(SearchOutcome { rungs, chosen })
}

/// The same search over a function of (candidate, seed index), for problems cheap enough
/// to evaluate one run at a time (the unit tests' synthetic objectives).
pub fn successive_halving_fn(
    candidates: usize,
    halving: &Halving,
    constraints: &Constraints,
    run: impl Fn(usize, u32) -> RunMetrics,
) -> Result<SearchOutcome, String> {
    successive_halving(
        candidates,
        halving,
        constraints,
        |_, alive: &[usize], seeds: Range<u32>| {
            Ok::<_, String>(
                alive
                    .iter()
                    .map(|&c| seeds.clone().map(|s| run(c, s)).collect())
                    .collect(),
            )
        },
    )
}

/// The standings of `alive`, best first.
fn rank(
    alive: &[usize],
    runs: &[Vec<RunMetrics>],
    constraints: &Constraints,
) -> Result<Vec<Standing>, String> {
    let mut out = alive
        .iter()
        .map(|&c| standing(c, &runs[c], constraints))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| {
        a.violation
            .total_cmp(&b.violation)
            .then(a.margin_per_oi.total_cmp(&b.margin_per_oi))
            .then(a.candidate.cmp(&b.candidate))
    });
    Ok(out)
}

/// One candidate's standing over its runs (summed in run order: the same bits every time).
pub fn standing(
    candidate: usize,
    runs: &[RunMetrics],
    c: &Constraints,
) -> Result<Standing, String> {
    let n = runs.len() as u64;
    let bad = runs.iter().filter(|r| r.bad_debt).count() as u64;
    let p = wilson(bad, n, c.confidence).map_err(|e| format!("candidate {candidate}: {e}"))?;
    let mean = |f: fn(&RunMetrics) -> f64| runs.iter().map(f).sum::<f64>() / n as f64;
    let margin_per_oi = mean(|r| r.margin_per_oi);
    let volume_refused_share = mean(|r| r.volume_refused_share);
    let excess = |value: f64, limit: f64| {
        if value <= limit {
            0.0
        } else if limit > 0.0 {
            (value - limit) / limit
        } else {
            // A zero limit: any excess is a violation, measured as it stands.
            value
        }
    };
    let violation = excess(p.upper, c.max_bad_debt_probability)
        + excess(volume_refused_share, c.max_volume_refused_share);
    Ok(Standing {
        candidate,
        runs: n,
        bad_debt_runs: bad,
        bad_debt_upper: p.upper,
        margin_per_oi,
        volume_refused_share,
        violation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraints() -> Constraints {
        Constraints {
            max_bad_debt_probability: 0.05,
            confidence: 0.95,
            max_volume_refused_share: 0.01,
        }
    }

    fn halving() -> Halving {
        Halving {
            rungs: vec![11, 33, 100],
            eta: 3,
        }
    }

    #[test]
    fn the_schedule_of_the_speed_target_makes_1326_runs_for_50_candidates() {
        // 50 x 11 + 17 x 22 + 6 x 67: about 2.7 candidates' worth of 100 seeds each... per
        // candidate, 26.5 runs instead of 100.
        assert_eq!(halving().survivors(50), [50, 17, 6]);
        assert_eq!(halving().runs(50), 50 * 11 + 17 * 22 + 6 * 67);
        assert_eq!(halving().runs(50), 1_326);
    }

    /// A draw in [0, 1) from (candidate or seed, salt): the synthetic problem's noise.
    fn unit(x: u64, salt: u64) -> f64 {
        let h = blake3::hash(&[x.to_le_bytes(), salt.to_le_bytes()].concat());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The synthetic problem: candidate `c` is a margin level `x` in [0, 1). Bad debt has
    /// probability `min(0.5, 5 (0.65 - x))`, zero from x = 0.65 up; candidates in
    /// [0.65, 0.70) refuse 3% of volume (a tight cap), the rest 0.2%. Margin per OI is x
    /// plus seed noise of +-0.01. So the constrained optimum is the smallest candidate at or
    /// above 0.70.
    fn synthetic(xs: &[f64]) -> impl Fn(usize, u32) -> RunMetrics + '_ {
        move |c, seed| {
            let x = xs[c];
            let p = (5.0 * (0.65 - x)).clamp(0.0, 0.5);
            RunMetrics {
                bad_debt: unit(u64::from(seed), c as u64 + 1_000) < p,
                margin_per_oi: x + 0.02 * (unit(u64::from(seed), 7) - 0.5),
                volume_refused_share: if (0.65..0.70).contains(&x) {
                    0.03
                } else {
                    0.002
                },
            }
        }
    }

    #[test]
    fn it_finds_the_known_constrained_optimum_of_a_synthetic_problem() {
        let xs: Vec<f64> = (0..60).map(|c| unit(c, 42)).collect();
        let best = xs
            .iter()
            .copied()
            .filter(|x| *x >= 0.70)
            .fold(f64::INFINITY, f64::min);
        let out =
            successive_halving_fn(xs.len(), &halving(), &constraints(), synthetic(&xs)).unwrap(); // ok: test
        let chosen = xs[out.chosen.candidate];
        assert!(out.chosen.feasible(), "{:?}", out.chosen);
        assert_eq!(chosen, best, "the smallest feasible candidate");
        // Tolerance: the optimum of the continuous problem is 0.70; 60 uniform candidates
        // leave a gap of about 1/60 above it.
        assert!((0.70..0.75).contains(&chosen), "{chosen}");
        assert_eq!(out.chosen.runs, 100);
        let counts: Vec<usize> = out.rungs.iter().map(|r| r.ranked.len()).collect();
        assert_eq!(counts, [60, 20, 7]);
    }

    #[test]
    fn infeasible_candidates_rank_by_violation_then_margin() {
        let c = constraints();
        let run = |bad: bool, margin: f64, refused: f64| RunMetrics {
            bad_debt: bad,
            margin_per_oi: margin,
            volume_refused_share: refused,
        };
        // 0: feasible, high margin; 1: feasible, low margin; 2: refuses too much;
        // 3: the same violation as 2, lower margin; 4: bad debt in every run.
        let runs = [
            vec![run(false, 0.05, 0.0); 100],
            vec![run(false, 0.02, 0.0); 100],
            vec![run(false, 0.01, 0.02); 100],
            vec![run(false, 0.005, 0.02); 100],
            vec![run(true, 0.001, 0.0); 100],
        ];
        let ranked = rank(&[0, 1, 2, 3, 4], &runs, &c).unwrap(); // ok: test
        let order: Vec<usize> = ranked.iter().map(|s| s.candidate).collect();
        assert_eq!(order, [1, 0, 3, 2, 4]);
        assert!(ranked[0].feasible() && !ranked[2].feasible());
        assert!(
            (ranked[2].violation - 1.0).abs() < 1e-12,
            "0.02 over 0.01: 100% over"
        );
    }

    #[test]
    fn bad_schedules_are_errors_naming_the_field() {
        for (rungs, eta, want) in [
            (vec![], 3, "search.rungs"),
            (vec![10, 10], 3, "search.rungs"),
            (vec![0, 10], 3, "search.rungs"),
            (vec![10, 20], 1, "search.eta"),
        ] {
            let h = Halving { rungs, eta };
            let err = successive_halving_fn(3, &h, &constraints(), |_, _| RunMetrics {
                bad_debt: false,
                margin_per_oi: 0.0,
                volume_refused_share: 0.0,
            })
            .unwrap_err(); // ok: test
            assert!(err.contains(want), "{err}");
        }
    }
}
