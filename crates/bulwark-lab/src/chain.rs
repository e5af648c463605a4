//! The chain model: blocks with a capacity and a gas-price auction against background demand.
//!
//! Every `block_ms` a block includes at most `capacity_txs` transactions, highest bid first.
//! Besides the lab's own transactions (oracle updates, keeper liquidations, and orders when the
//! book is on-chain) each block sees background demand: a Poisson number of transactions with
//! mean `demand x capacity`, bidding lognormally around a median gas price. Demand and the
//! median move between their calm and stress levels with the outside market's volatility
//! (log-linearly between `calm_vol_annual` and `stress_vol_annual`), which is what congested
//! Ethereum on 12-13 March 2020: a lab transaction whose bid is below the block's clearing
//! price waits in the mempool. A halt produces no blocks at all.
//!
//! Calibration (Etherscan daily average gas price): 12.9 gwei on 2020-03-11, 77.9 on 03-12,
//! 84.8 on 03-13; see [`calibrate_from_gas_csv`].

use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};

use crate::data::{load_gas_prices, DataError};
use crate::scenario::ChainParams;

/// The outside market's volatility as the chain's users feel it: an EWMA of the squared
/// log return per second with a ten-minute half-life (congestion follows the market within
/// minutes). The run loop feeds it every engine step; blocks read it.
#[derive(Clone, Debug)]
pub struct OutsideVol {
    var_per_s: f64,
    last_price: f64,
}

impl OutsideVol {
    /// Starts at `vol_annual` (annualized) and the price `price`.
    pub fn new(vol_annual: f64, price: f64) -> OutsideVol {
        OutsideVol {
            var_per_s: vol_annual.powi(2) / (365.0 * 86_400.0),
            last_price: price,
        }
    }

    /// The price `step_ms` after the last one.
    pub fn observe(&mut self, price: f64, step_ms: u64) {
        let dt_s = step_ms as f64 / 1000.0;
        let r = (price / self.last_price).ln();
        let w = 1.0 - 0.5f64.powf(dt_s / 600.0);
        self.var_per_s += w * (r * r / dt_s - self.var_per_s);
        self.last_price = price;
    }

    /// Annualized (365-day) volatility.
    pub fn annual(&self) -> f64 {
        (self.var_per_s * 365.0 * 86_400.0).sqrt()
    }
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
    mempool: Vec<PendingTx<T>>,
    next_seq: u64,
    rng: ChaCha8Rng,
    /// What a wallet would suggest now: the last block's clearing price, gwei.
    pub going_gwei: f64,
    pub blocks: u64,
    pub max_clearing_gwei: f64,
}

impl<T> Chain<T> {
    pub fn new(params: ChainParams, rng: ChaCha8Rng) -> Chain<T> {
        let going_gwei = params.calm_gwei;
        Chain {
            params,
            mempool: Vec::new(),
            next_seq: 0,
            rng,
            going_gwei,
            blocks: 0,
            max_clearing_gwei: 0.0,
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

    /// Stress level in [0, 1] for an annualized volatility.
    pub fn stress(&self, vol_annual: f64) -> f64 {
        let p = &self.params;
        if vol_annual <= p.calm_vol_annual || p.stress_vol_annual <= p.calm_vol_annual {
            return 0.0;
        }
        ((vol_annual / p.calm_vol_annual).ln() / (p.stress_vol_annual / p.calm_vol_annual).ln())
            .clamp(0.0, 1.0)
    }

    /// Median background bid and demand (share of capacity) at a stress level.
    pub fn background(&self, stress: f64) -> (f64, f64) {
        let p = &self.params;
        let lerp_log = |a: f64, b: f64| (a.ln() + stress * (b.ln() - a.ln())).exp();
        (
            lerp_log(p.calm_gwei, p.stress_gwei),
            lerp_log(p.calm_demand, p.stress_demand),
        )
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

    /// Produces one block: returns the lab transactions it includes, in block order (highest
    /// bid first, ties by submission order).
    pub fn produce_block(&mut self, vol_annual: f64) -> Vec<Included<T>> {
        self.blocks += 1;
        let (median_gwei, demand) = self.background(self.stress(vol_annual));
        let capacity = self.params.capacity_txs as usize;
        let mean = (demand * capacity as f64).max(1e-9);
        let n_bg = Poisson::new(mean).map_or(0, |d| d.sample(&mut self.rng) as usize);
        let dist = LogNormal::new(median_gwei.ln(), self.params.bid_sigma.max(1e-9))
            .expect("median and sigma are positive");
        let mut bg: Vec<f64> = (0..n_bg).map(|_| dist.sample(&mut self.rng)).collect();
        bg.sort_by(|a, b| b.total_cmp(a));
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
        // What a wallet suggests: the bid that would have won a slot against this block's
        // background demand alone (its capacity-th highest bid), or the median when the
        // background left room. Lab bids are left out so the lab's own bidding cannot spiral.
        self.going_gwei = if bg.len() >= capacity {
            bg[capacity - 1]
        } else {
            median_gwei
        };
        self.max_clearing_gwei = self.max_clearing_gwei.max(self.going_gwei);
        included
    }
}

/// Calm and stress gas levels from Etherscan's daily averages: the day `start_ms` falls in,
/// and the highest day in `[start_ms, end_ms]`.
pub fn calibrate_from_gas_csv(
    path: &Path,
    start_ms: u64,
    end_ms: u64,
) -> Result<(f64, f64), DataError> {
    let days = load_gas_prices(path)?;
    let day_ms = 86_400_000;
    let calm = days
        .iter()
        .rev()
        .find(|d| d.day_start_ms <= start_ms)
        .unwrap_or(&days[0])
        .avg_gwei();
    let stress = days
        .iter()
        .filter(|d| d.day_start_ms + day_ms > start_ms && d.day_start_ms <= end_ms)
        .map(|d| d.avg_gwei())
        .fold(calm, f64::max);
    Ok((calm, stress))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::stream_rng;

    fn chain(calm_demand: f64, stress_demand: f64) -> Chain<u32> {
        let params = ChainParams {
            capacity_txs: 10,
            calm_demand,
            stress_demand,
            ..ChainParams::default()
        };
        Chain::new(params, stream_rng(1, 1))
    }

    #[test]
    fn a_block_takes_the_highest_bids_up_to_capacity() {
        let mut c = chain(1e-6, 1e-6); // almost no background
        for i in 0..15u32 {
            c.submit(0, f64::from(i), 100_000, i);
        }
        let included: Vec<u32> = c
            .produce_block(0.1)
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
        let mut c = chain(0.5, 3.0);
        let calm_stress = c.stress(0.5);
        let crash_stress = c.stress(5.0);
        assert_eq!((calm_stress, crash_stress), (0.0, 1.0));
        // In a crash, demand is 3x capacity at ~81 gwei: a 20 gwei bid waits, a 1000 gwei one lands.
        c.submit(0, 20.0, 100_000, 1);
        c.submit(0, 1_000.0, 100_000, 2);
        let included: Vec<u32> = c
            .produce_block(5.0)
            .into_iter()
            .map(|t| t.tx.payload)
            .collect();
        assert_eq!(included, vec![2]);
        assert!(c.going_gwei > 50.0, "going {}", c.going_gwei);
        let (median, demand) = c.background(1.0);
        assert!((median - 81.4).abs() < 1e-9 && (demand - 3.0).abs() < 1e-9);
    }

    #[test]
    fn stuck_transactions_expire() {
        let mut c = chain(1e-6, 1e-6);
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
}
