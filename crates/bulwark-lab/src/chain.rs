//! The chain model: blocks with a capacity and a gas-price auction against background demand.
//!
//! Every `block_ms` a block includes at most `capacity_txs` transactions, highest bid first.
//! Besides the lab's own transactions (oracle updates, keeper liquidations, and orders when the
//! book is on-chain) each block sees background demand: a Poisson number of transactions with
//! mean `demand x capacity`, bidding lognormally around a median gas price. A lab transaction
//! whose bid is below the block's clearing price waits in the mempool. A halt produces no blocks
//! at all.
//!
//! The gas level is a process of its own ([`GasPath`], drawn once before the run from the
//! outside price path): the average price paid by the transactions a block includes, which is
//! what Etherscan's daily average gas price averages. It is
//! `level = day anchor x shape(stress) x slow noise x (1 + spikes)`:
//! - `stress` in [0, 1] follows the outside market's volatility ([`OutsideVol`]), log-linearly
//!   between `calm_vol_annual` and `stress_vol_annual`; demand for block space and the shape
//!   `calm_gwei -> stress_gwei` move with it (what congested Ethereum on 12-13 March 2020);
//! - the slow noise is a mean-reverting log (Ornstein-Uhlenbeck) process;
//! - spikes are a self-exciting (Hawkes) shot noise whose base rate rises with stress: large
//!   moves and liquidation waves bring bursts of demand, each burst making the next likelier;
//! - each UTC day is scaled so that its expected mean is that day's `daily_gwei` (Etherscan's
//!   daily average: 12.9 gwei on 2020-03-11; 77.9, 84.8 and 16.7 on 03-12, 13 and 14), then
//!   everything by `gas_scale` (congestion sweeps). Without `daily_gwei` the expected level is
//!   the shape itself.
//!
//! The median background bid of a block is the level divided by the auction's ratio of average
//! paid to median bid at that block's demand ([`paid_over_median`]), so blocks realize the level
//! on average. Float maths through `libm`; every draw from the chain's own seeded stream.

use std::path::Path;

use crate::path::draw;
use rand_chacha::ChaCha8Rng;

use crate::data::{load_gas_prices, DataError};
use crate::path::PricePath;
use crate::scenario::ChainParams;

const DAY_MS: u64 = 86_400_000;

/// The outside market's volatility as the chain's users feel it: an EWMA of the squared
/// log return per second with a ten-minute half-life (congestion follows the market within
/// minutes).
#[derive(Clone, Debug)]
pub struct OutsideVol {
    var_per_s: f64,
    last_price: f64,
    /// The EWMA weight of the last step length seen, as (step, weight): every step of a run
    /// has the same length, and `pow` is the costliest part of an observation.
    weight: Option<(u64, f64)>,
}

impl OutsideVol {
    /// Starts at `vol_annual` (annualized) and the price `price`.
    pub fn new(vol_annual: f64, price: f64) -> OutsideVol {
        OutsideVol {
            var_per_s: vol_annual * vol_annual / (365.0 * 86_400.0),
            last_price: price,
            weight: None,
        }
    }

    /// The price `step_ms` after the last one.
    pub fn observe(&mut self, price: f64, step_ms: u64) {
        let dt_s = step_ms as f64 / 1000.0;
        let r = libm::log(price / self.last_price);
        let w = match self.weight {
            Some((step, w)) if step == step_ms => w,
            _ => {
                let w = 1.0 - libm::pow(0.5, dt_s / 600.0);
                self.weight = Some((step_ms, w));
                w
            }
        };
        self.var_per_s += w * (r * r / dt_s - self.var_per_s);
        self.last_price = price;
    }

    /// Annualized (365-day) volatility.
    pub fn annual(&self) -> f64 {
        libm::sqrt(self.var_per_s * 365.0 * 86_400.0)
    }
}

/// Stress level in [0, 1] for an annualized volatility: log-linear between the calm and the
/// stress volatility.
pub fn stress_of(p: &ChainParams, vol_annual: f64) -> f64 {
    if vol_annual <= p.calm_vol_annual || p.stress_vol_annual <= p.calm_vol_annual {
        return 0.0;
    }
    (libm::log(vol_annual / p.calm_vol_annual) / libm::log(p.stress_vol_annual / p.calm_vol_annual))
        .clamp(0.0, 1.0)
}

/// `a` at stress 0, `b` at stress 1, log-linear between.
fn lerp_log(a: f64, b: f64, stress: f64) -> f64 {
    libm::exp(libm::log(a) + stress * (libm::log(b) - libm::log(a)))
}

/// Demand for block space (share of capacity) at a stress level.
pub fn demand_at(p: &ChainParams, stress: f64) -> f64 {
    lerp_log(p.calm_demand, p.stress_demand, stress)
}

/// Standard normal distribution function.
fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The auction's average price paid over its median bid, for lognormal bids of log-spread
/// `sigma` and demand `demand` x capacity: all bids are included when demand is at most the
/// capacity (mean over median of a lognormal, `exp(sigma^2 / 2)`); above it, the top
/// `q = 1 / demand` of bids, whose mean is `exp(sigma^2 / 2) Phi(sigma - z) / q` with
/// `z = Phi^-1(1 - q)` (the truncated lognormal mean).
pub fn paid_over_median(demand: f64, sigma: f64) -> f64 {
    let all = libm::exp(sigma * sigma / 2.0);
    if demand <= 1.0 || sigma <= 0.0 {
        return all;
    }
    let q = 1.0 / demand;
    // z solves Phi(z) = 1 - q; bisection (Phi is increasing), to well below a gwei's noise.
    let (mut lo, mut hi) = (-10.0f64, 10.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if norm_cdf(mid) < 1.0 - q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let z = 0.5 * (lo + hi);
    all * norm_cdf(sigma - z) / q
}

/// The annualized outside volatility at each block time `start_ms + k x block_ms`, as
/// [`OutsideVol`] sees the path at `step_ms` steps.
pub fn block_vols(
    path: &PricePath,
    p: &ChainParams,
    start_ms: u64,
    end_ms: u64,
    step_ms: u64,
) -> Vec<f64> {
    let step_ms = step_ms.max(1);
    let block_ms = p.block_ms.max(1);
    let blocks = ((end_ms.saturating_sub(start_ms)) / block_ms + 1) as usize;
    let mut vol = OutsideVol::new(p.calm_vol_annual, path.price_at(start_ms));
    let mut out = Vec::with_capacity(blocks);
    let mut t = start_ms;
    for k in 0..blocks {
        let block_t = start_ms + k as u64 * block_ms;
        while t + step_ms <= block_t {
            t += step_ms;
            vol.observe(path.price_at(t), step_ms);
        }
        out.push(vol.annual());
    }
    out
}

/// The gas process of one run: per block (`start_ms + k x block_ms`), the level (average price
/// paid, gwei), the median background bid and the demand.
#[derive(Clone, Debug, Default)]
pub struct GasPath {
    pub start_ms: u64,
    pub block_ms: u64,
    pub level_gwei: Vec<f64>,
    pub median_gwei: Vec<f64>,
    pub demand: Vec<f64>,
}

impl GasPath {
    /// Draws the process for blocks whose outside volatility is `vols` (see [`block_vols`]).
    pub fn generate(p: &ChainParams, vols: &[f64], start_ms: u64, rng: &mut ChaCha8Rng) -> GasPath {
        let stress: Vec<f64> = vols.iter().map(|&v| stress_of(p, v)).collect();
        let (raw, expected) = draw_levels(p, &stress, rng);
        let level_gwei = anchor_days(p, &stress, &raw, &expected, start_ms);
        let demand: Vec<f64> = stress.iter().map(|&s| demand_at(p, s)).collect();
        let median_gwei = level_gwei
            .iter()
            .zip(&demand)
            .map(|(&l, &d)| l / paid_over_median(d, p.bid_sigma))
            .collect();
        GasPath {
            start_ms,
            block_ms: p.block_ms.max(1),
            level_gwei,
            median_gwei,
            demand,
        }
    }

    /// Block index in force at `t_ms` (clamped to the path).
    fn index(&self, t_ms: u64) -> usize {
        let k = (t_ms.saturating_sub(self.start_ms) / self.block_ms) as usize;
        k.min(self.level_gwei.len().saturating_sub(1))
    }

    /// The level at `t_ms`, gwei.
    pub fn level_at(&self, t_ms: u64) -> f64 {
        self.level_gwei[self.index(t_ms)]
    }
}

/// The stochastic factor per block, unscaled (`shape x noise x (1 + spikes)`), and its
/// expectation given the stress path (`shape x (1 + E[spikes])`; the noise has mean one).
fn draw_levels(p: &ChainParams, stress: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
    let dt_s = p.block_ms.max(1) as f64 / 1000.0;
    let sigma = p.gas_noise_sigma;
    let a = libm::pow(0.5, dt_s / p.gas_noise_half_life_s.max(1) as f64);
    let innovation = sigma * libm::sqrt(1.0 - a * a);
    let decay = libm::pow(0.5, dt_s / p.spike_half_life_s.max(1) as f64);
    // Each spike raises the spike rate by `alpha` (per second), decaying like the spike itself:
    // it begets `alpha dt / (1 - decay)` = `spike_excitation` further spikes on average.
    let alpha = p.spike_excitation * (1.0 - decay) / dt_s;
    let base_rate_per_s = p.spike_rate_per_h / 3600.0;
    let (mut x, mut spikes, mut excited) = (0.0f64, 0.0f64, 0.0f64);
    let (mut spikes_e, mut excited_e) = (0.0f64, 0.0f64);
    if sigma > 0.0 {
        let n = draw::standard_normal(rng);
        x = sigma * n;
    }
    let mut raw = Vec::with_capacity(stress.len());
    let mut expected = Vec::with_capacity(stress.len());
    for &s in stress {
        let shape = lerp_log(p.calm_gwei, p.stress_gwei, s);
        let rate = base_rate_per_s * s;
        let count = poisson(rng, (rate + excited) * dt_s);
        let mut jump = 0.0;
        for _ in 0..count {
            jump += crate::agents::draw_exp(rng, p.spike_mean);
        }
        spikes = spikes * decay + jump;
        excited = (excited + alpha * count as f64) * decay;
        // The same recursions in expectation.
        let rate_e = rate + excited_e;
        spikes_e = spikes_e * decay + rate_e * dt_s * p.spike_mean;
        excited_e = (excited_e + alpha * rate_e * dt_s) * decay;
        if sigma > 0.0 {
            let n = draw::standard_normal(rng);
            x = a * x + innovation * n;
        }
        raw.push(shape * libm::exp(x - sigma * sigma / 2.0) * (1.0 + spikes));
        expected.push(shape * (1.0 + spikes_e));
    }
    (raw, expected)
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    draw::poisson(mean, rng)
}

/// Scales each UTC day so its expected mean is `daily_gwei[day]` (the last entry for later
/// days; the day's mean shape without `daily_gwei`), times `gas_scale`.
fn anchor_days(
    p: &ChainParams,
    stress: &[f64],
    raw: &[f64],
    expected: &[f64],
    start_ms: u64,
) -> Vec<f64> {
    let block_ms = p.block_ms.max(1);
    let first_day = start_ms / DAY_MS;
    let day_of = |k: usize| ((start_ms + k as u64 * block_ms) / DAY_MS - first_day) as usize;
    let mut out = Vec::with_capacity(raw.len());
    let mut k = 0;
    while k < raw.len() {
        let day = day_of(k);
        let end = (k..raw.len())
            .find(|&j| day_of(j) != day)
            .unwrap_or(raw.len());
        let n = (end - k) as f64;
        let expected_mean = expected[k..end].iter().sum::<f64>() / n;
        let target = match p.daily_gwei.get(day).or(p.daily_gwei.last()) {
            Some(&g) => g,
            None => {
                stress[k..end]
                    .iter()
                    .map(|&s| lerp_log(p.calm_gwei, p.stress_gwei, s))
                    .sum::<f64>()
                    / n
            }
        };
        let scale = p.gas_scale * target / expected_mean;
        out.extend(raw[k..end].iter().map(|&r| r * scale));
        k = end;
    }
    out
}

/// A transaction waiting for a block.
#[derive(Clone, Debug)]
pub struct PendingTx<T> {
    pub seq: u64,
    pub submitted_ms: u64,
    pub bid_gwei: f64,
    pub gas: u64,
    pub payload: T,
}

/// A transaction included in a block, with what it paid.
#[derive(Clone, Debug)]
pub struct Included<T> {
    pub tx: PendingTx<T>,
    pub price_gwei: f64,
}

#[derive(Clone, Debug)]
pub struct Chain<T> {
    pub params: ChainParams,
    pub gas: GasPath,
    mempool: Vec<PendingTx<T>>,
    next_seq: u64,
    rng: ChaCha8Rng,
    /// The current block's background bids, highest first, and their log-bids as sort keys
    /// (both kept to reuse their allocations).
    bg: Vec<f64>,
    keys: Vec<u64>,
    /// What a wallet would suggest now: the last block's clearing price, gwei.
    pub going_gwei: f64,
    pub blocks: u64,
    pub max_clearing_gwei: f64,
    /// Average price the background transactions of a block paid: summed over blocks, and the
    /// highest block (what the published intraday peaks measure), gwei.
    pub paid_sum_gwei: f64,
    pub max_paid_gwei: f64,
}

impl<T> Chain<T> {
    pub fn new(params: ChainParams, gas: GasPath, rng: ChaCha8Rng) -> Chain<T> {
        let going_gwei = gas.median_gwei.first().copied().unwrap_or(params.calm_gwei);
        Chain {
            params,
            gas,
            mempool: Vec::new(),
            next_seq: 0,
            rng,
            bg: Vec::new(),
            keys: Vec::new(),
            going_gwei,
            blocks: 0,
            max_clearing_gwei: 0.0,
            paid_sum_gwei: 0.0,
            max_paid_gwei: 0.0,
        }
    }

    pub fn submit(&mut self, now_ms: u64, bid_gwei: f64, gas: u64, payload: T) {
        self.mempool.push(PendingTx {
            seq: self.next_seq,
            submitted_ms: now_ms,
            bid_gwei,
            gas,
            payload,
        });
        self.next_seq += 1;
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// Mean over the blocks produced of the average price their background transactions paid.
    pub fn mean_paid_gwei(&self) -> f64 {
        if self.blocks == 0 {
            0.0
        } else {
            self.paid_sum_gwei / self.blocks as f64
        }
    }

    /// Drops lab transactions older than `ttl_ms` (a bot replaces a stuck transaction rather
    /// than wait for hours) and returns them so their senders can react.
    pub fn expire(&mut self, now_ms: u64, ttl_ms: u64) -> Vec<PendingTx<T>> {
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.mempool)
            .into_iter()
            .partition(|tx| now_ms.saturating_sub(tx.submitted_ms) > ttl_ms);
        self.mempool = keep;
        old
    }

    /// Draws one block's background bids into `bg` and keeps the block's capacity of the
    /// highest, highest first: [`Chain::fill_block`] never reads further down.
    fn background_bids(&mut self, now_ms: u64, bg: &mut Vec<f64>) {
        let k = self.gas.index(now_ms);
        let (median_gwei, demand) = (self.gas.median_gwei[k], self.gas.demand[k]);
        let mean = (demand * f64::from(self.params.capacity_txs)).max(1e-9);
        let n_bg = draw::poisson(mean, &mut self.rng) as usize;
        // Lognormal bids around the median, drawn in pairs (libm: the same bits anywhere).
        let (mu, sigma) = (libm::log(median_gwei), self.params.bid_sigma.max(1e-9));
        // Log-bids first, as sort keys: exp is monotone, so the highest bids are the
        // exponentials of the highest log-bids, and a congested block's lowest are never
        // exponentiated.
        let keys = &mut self.keys;
        keys.clear();
        keys.reserve(n_bg + 1);
        while keys.len() < n_bg {
            let (z1, z2) = draw::standard_normal_pair(&mut self.rng);
            keys.push(HighFirst::key(mu + sigma * z1));
            if keys.len() < n_bg {
                keys.push(HighFirst::key(mu + sigma * z2));
            }
        }
        keep_first(keys, self.params.capacity_txs as usize);
        bg.clear();
        bg.extend(keys.iter().map(|&k| libm::exp(HighFirst::value(k))));
    }

    /// Produces the block at `now_ms`: returns the lab transactions it includes, in block order
    /// (highest bid first, ties by submission order).
    pub fn produce_block(&mut self, now_ms: u64) -> Vec<Included<T>> {
        self.blocks += 1;
        let mut bg = std::mem::take(&mut self.bg);
        self.background_bids(now_ms, &mut bg);
        let included = self.fill_block(now_ms, &bg);
        self.bg = bg;
        included
    }

    /// The block's auction against background bids `bg` (highest first): the lab
    /// transactions it includes, the price paid and what a wallet suggests next. It reads at
    /// most the first `capacity_txs` bids: a background bid counts only while a slot is left.
    fn fill_block(&mut self, now_ms: u64, bg: &[f64]) -> Vec<Included<T>> {
        let capacity = self.params.capacity_txs as usize;
        self.mempool
            .sort_by(|a, b| b.bid_gwei.total_cmp(&a.bid_gwei).then(a.seq.cmp(&b.seq)));
        // Merge: a lab tx takes a slot if fewer than `capacity` transactions bid more than it
        // (background wins ties, so the lab never gets a free pass).
        let mut included = Vec::new();
        let mut kept = Vec::new();
        let mut used = 0usize;
        let mut bg_i = 0usize;
        for tx in std::mem::take(&mut self.mempool) {
            while bg_i < bg.len() && bg[bg_i] >= tx.bid_gwei && used < capacity {
                bg_i += 1;
                used += 1;
            }
            if used < capacity {
                used += 1;
                let price_gwei = tx.bid_gwei;
                included.push(Included { tx, price_gwei });
            } else {
                kept.push(tx);
            }
        }
        self.mempool = kept;
        // Background transactions after the lab's fill what room is left.
        let bg_in = (bg_i + capacity.saturating_sub(used)).min(bg.len());
        if bg_in > 0 {
            let paid = bg[..bg_in].iter().sum::<f64>() / bg_in as f64;
            self.paid_sum_gwei += paid;
            self.max_paid_gwei = self.max_paid_gwei.max(paid);
        }
        // What a wallet suggests: the bid that would have won a slot against this block's
        // background demand alone (its capacity-th highest bid), or the median when the
        // background left room. Lab bids are left out so the lab's own bidding cannot spiral.
        self.going_gwei = if bg.len() >= capacity {
            bg[capacity - 1]
        } else {
            self.gas.median_gwei[self.gas.index(now_ms)]
        };
        self.max_clearing_gwei = self.max_clearing_gwei.max(self.going_gwei);
        included
    }
}

/// Floats as integers that sort highest first: ascending keys are descending floats in
/// `f64::total_cmp`'s order, and a key gives its float back bit for bit. Integers sort several
/// times faster than floats through `total_cmp` (a block draws hundreds of bids), and equal
/// keys are equal bits, so an unstable sort gives what a stable one would.
struct HighFirst;

impl HighFirst {
    fn key(x: f64) -> u64 {
        // total_cmp's own construction (negative floats' magnitude bits flipped) gives an i64
        // in float order; the sign flip makes it a u64 in that order, the NOT reverses it.
        let bits = x.to_bits() as i64;
        let ordered = bits ^ ((((bits >> 63) as u64) >> 1) as i64);
        !((ordered as u64) ^ (1 << 63))
    }

    fn value(key: u64) -> f64 {
        let ordered = ((!key) ^ (1 << 63)) as i64;
        let bits = ordered ^ ((((ordered >> 63) as u64) >> 1) as i64);
        f64::from_bits(bits as u64)
    }
}

/// Keeps the `n` least keys (all when `n` is 0), in order: a selection, then a sort of what
/// is kept.
fn keep_first(keys: &mut Vec<u64>, n: usize) {
    if n > 0 && keys.len() > n {
        keys.select_nth_unstable(n - 1);
        keys.truncate(n);
    }
    keys.sort_unstable();
}

/// Etherscan's daily averages for each UTC day from the day `start_ms` falls in to the day
/// `end_ms` falls in, gwei (a day missing from the file takes the last day before it).
pub fn daily_gwei_from_csv(path: &Path, start_ms: u64, end_ms: u64) -> Result<Vec<f64>, DataError> {
    let days = load_gas_prices(path)?;
    let mut out = Vec::new();
    for day in start_ms / DAY_MS..=end_ms / DAY_MS {
        let day_ms = day * DAY_MS;
        let d = days
            .iter()
            .rev()
            .find(|d| d.day_start_ms <= day_ms)
            .unwrap_or(&days[0]);
        out.push(d.avg_gwei());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::stream_rng;

    /// A gas path with the same median and demand at every block.
    fn flat(median_gwei: f64, demand: f64, blocks: usize) -> GasPath {
        GasPath {
            start_ms: 0,
            block_ms: 12_000,
            level_gwei: vec![median_gwei * paid_over_median(demand, 0.5); blocks],
            median_gwei: vec![median_gwei; blocks],
            demand: vec![demand; blocks],
        }
    }

    fn chain(median_gwei: f64, demand: f64) -> Chain<u32> {
        let params = ChainParams {
            capacity_txs: 10,
            ..ChainParams::default()
        };
        Chain::new(params, flat(median_gwei, demand, 10), stream_rng(1, 1))
    }

    #[test]
    fn a_block_takes_the_highest_bids_up_to_capacity() {
        let mut c = chain(12.9, 1e-6); // almost no background
        for i in 0..15u32 {
            c.submit(0, f64::from(i), 100_000, i);
        }
        let included: Vec<u32> = c
            .produce_block(12_000)
            .into_iter()
            .map(|t| t.tx.payload)
            .collect();
        assert_eq!(
            included,
            (5..15).rev().collect::<Vec<_>>(),
            "highest bids first"
        );
        assert_eq!(c.mempool_len(), 5, "the rest waits");
    }

    #[test]
    fn congestion_crowds_out_low_bids_and_raises_the_going_price() {
        let p = ChainParams::default();
        assert_eq!((stress_of(&p, 0.5), stress_of(&p, 5.0)), (0.0, 1.0));
        assert!((demand_at(&p, 1.0) - 1.6).abs() < 1e-12);
        // Demand 3x capacity at a median of 81 gwei: a 20 gwei bid waits, a 1000 gwei one lands.
        let mut c = chain(81.4, 3.0);
        c.submit(0, 20.0, 100_000, 1);
        c.submit(0, 1_000.0, 100_000, 2);
        let included: Vec<u32> = c
            .produce_block(12_000)
            .into_iter()
            .map(|t| t.tx.payload)
            .collect();
        assert_eq!(included, vec![2]);
        assert!(c.going_gwei > 81.4, "going {}", c.going_gwei);
    }

    #[test]
    fn the_highest_bids_are_the_exponentials_of_the_highest_log_bids() {
        let mut rng = stream_rng(5, 1);
        for n in [0usize, 1, 7, 199, 200, 201, 320] {
            let mut logs: Vec<f64> = (0..n)
                .map(|_| libm::log(40.0) + 0.5 * draw::standard_normal(&mut rng))
                .collect();
            // Ties, both zeros, and log-bids whose exponentials underflow or overflow.
            logs.extend([3.0, 3.0, 0.0, -0.0, -800.0, -750.0, 800.0]);
            // What the chain did: every bid exponentiated, sorted, then read to capacity.
            let mut want: Vec<f64> = logs.iter().map(|&x| libm::exp(x)).collect();
            want.sort_by(|a, b| b.total_cmp(a));
            want.truncate(200);
            let mut keys: Vec<u64> = logs.iter().map(|&x| HighFirst::key(x)).collect();
            keep_first(&mut keys, 200);
            let got: Vec<f64> = keys
                .iter()
                .map(|&k| libm::exp(HighFirst::value(k)))
                .collect();
            let bits = |v: &[f64]| v.iter().map(|b| b.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{n} bids");
        }
    }

    #[test]
    fn high_first_keys_order_floats_highest_first_and_give_them_back() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            1e300,
            f64::INFINITY,
        ];
        for a in xs {
            assert_eq!(HighFirst::value(HighFirst::key(a)).to_bits(), a.to_bits());
            for b in xs {
                assert_eq!(HighFirst::key(a).cmp(&HighFirst::key(b)), b.total_cmp(&a));
            }
        }
    }

    #[test]
    fn stuck_transactions_expire() {
        let mut c = chain(12.9, 1e-6);
        c.submit(0, 1.0, 1, 7);
        c.submit(50_000, 1.0, 1, 8);
        let old: Vec<u32> = c
            .expire(70_000, 60_000)
            .into_iter()
            .map(|t| t.payload)
            .collect();
        assert_eq!(old, vec![7]);
        assert_eq!(c.mempool_len(), 1);
    }

    #[test]
    fn the_auction_pays_its_level_on_average() {
        // Hand-computed: demand 2 keeps the top half of lognormal(0, 0.5) bids, whose mean is
        // exp(0.125) x Phi(0.5) / 0.5 = 1.1331 x 0.6915 x 2 = 1.5671 x the median.
        assert!((paid_over_median(2.0, 0.5) - 1.5671).abs() < 1e-3);
        assert!((paid_over_median(0.7, 0.5) - libm::exp(0.125)).abs() < 1e-12);
        // Blocks of 200 at demand 1.6 realize the level within 2%.
        let params = ChainParams::default();
        let gas = flat(50.0, 1.6, 500);
        let level = gas.level_gwei[0];
        let mut c: Chain<u32> = Chain::new(params, gas, stream_rng(3, 1));
        for k in 1..=500u64 {
            c.produce_block(k * 12_000);
        }
        let mean = c.mean_paid_gwei();
        assert!(
            (mean / level - 1.0).abs() < 0.02,
            "mean {mean} level {level}"
        );
    }

    /// Daily means and peaks of the gas level over `seeds` draws of two fully stressed days
    /// (12 and 13 March 2020 were stressed all day): per seed and day, (mean, peak of the
    /// ten-minute mean).
    fn stressed_days(seeds: u64, daily: &[f64]) -> Vec<(f64, f64)> {
        let p = ChainParams {
            daily_gwei: daily.to_vec(),
            ..ChainParams::default()
        };
        let per_day = (86_400_000 / p.block_ms) as usize;
        let vols = vec![p.stress_vol_annual * 1.5; 2 * per_day];
        let mut out = Vec::new();
        for seed in 0..seeds {
            let g = GasPath::generate(&p, &vols, 1_583_971_200_000, &mut stream_rng(seed, 1));
            for day in g.level_gwei.chunks(per_day) {
                let mean = day.iter().sum::<f64>() / day.len() as f64;
                let peak = day
                    .chunks(50)
                    .map(|w| w.iter().sum::<f64>() / w.len() as f64)
                    .fold(0.0, f64::max);
                out.push((mean, peak));
            }
        }
        out
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    fn the_gas_process_keeps_the_daily_mean_and_reaches_the_published_peaks() {
        let days = stressed_days(100, &[77.9, 84.8]);
        for (d, want) in [77.9, 84.8].into_iter().enumerate() {
            let means: Vec<f64> = days.iter().skip(d).step_by(2).map(|x| x.0).collect();
            let avg = means.iter().sum::<f64>() / means.len() as f64;
            assert!(
                (avg / want - 1.0).abs() < 0.05,
                "day {d}: mean of means {avg}"
            );
            let m = median(means.clone());
            assert!(
                (m / want - 1.0).abs() < 0.10,
                "day {d}: median of means {m}"
            );
        }
        let ratios: Vec<f64> = days.iter().map(|(mean, peak)| peak / mean).collect();
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let (p10, p50, p90) = (
            sorted[sorted.len() / 10],
            sorted[sorted.len() / 2],
            sorted[sorted.len() * 9 / 10],
        );
        eprintln!("peak / mean of the ten-minute level: p10 {p10:.2} p50 {p50:.2} p90 {p90:.2}");
        // Published: "at times exceeding 200 gwei" on 12 March 2020 (scenarios/README.md).
        let peak = median(days.iter().map(|x| x.1).collect());
        eprintln!("peak gwei: median {peak:.0}");
        assert!((180.0..=350.0).contains(&peak), "median peak {peak} gwei");
        assert!((2.0..=4.0).contains(&p50), "median peak/mean {p50}");
        assert!(p10 >= 1.5 && p90 <= 6.0, "p10 {p10} p90 {p90}");
    }

    #[test]
    fn the_gas_process_is_seeded() {
        let p = ChainParams::default();
        let vols = vec![1.5; 1_000];
        let a = GasPath::generate(&p, &vols, 0, &mut stream_rng(7, 1));
        let b = GasPath::generate(&p, &vols, 0, &mut stream_rng(7, 1));
        let c = GasPath::generate(&p, &vols, 0, &mut stream_rng(8, 1));
        assert_eq!(a.level_gwei, b.level_gwei);
        assert_ne!(a.level_gwei, c.level_gwei);
    }

    #[test]
    fn gas_scale_scales_every_level() {
        let p = ChainParams {
            daily_gwei: vec![80.0],
            ..ChainParams::default()
        };
        let twice = ChainParams {
            gas_scale: 2.0,
            ..p.clone()
        };
        let vols = vec![1.5; 1_000];
        let a = GasPath::generate(&p, &vols, 0, &mut stream_rng(7, 1));
        let b = GasPath::generate(&twice, &vols, 0, &mut stream_rng(7, 1));
        for (x, y) in a.level_gwei.iter().zip(&b.level_gwei) {
            assert!((2.0 * x - y).abs() < 1e-9 * y);
        }
    }
}
