//! What the lab observes itself, beside the engine's events: how far the mark strayed from
//! the outside price, how stale the venue's oracle was, the insurance fund's and the vault's
//! low points, what the chain did to the lab's transactions, and the hidden insolvency left
//! at the end (negative equity that no liquidation reached).

use bulwark_engine::Engine;

use crate::venue_state;

/// Chain-side statistics of the lab's own transactions.
#[derive(Clone, Debug, Default)]
pub struct ChainStats {
    pub keeper_txs: u64,
    pub keeper_delay_sum_ms: u128,
    pub keeper_delay_max_ms: u64,
    pub oracle_delay_max_ms: u64,
    pub halted_ms: u64,
    pub blocks_skipped: u64,
    pub txs_expired: u64,
}

/// The venue's oracle as the lab watched it.
#[derive(Clone, Debug, Default)]
pub struct OracleStats {
    /// Updates that landed on the venue.
    pub updates: u64,
    pub lag_max_ms: u64,
    pub lag_sum_ms: u128,
    pub lag_n: u64,
}

impl OracleStats {
    /// Age, at one engine step, of the outside observation behind the venue's oracle price.
    pub fn on_step(&mut self, lag_ms: u64) {
        self.lag_max_ms = self.lag_max_ms.max(lag_ms);
        self.lag_sum_ms += u128::from(lag_ms);
        self.lag_n += 1;
    }

    /// (updates, max lag s, mean lag s).
    pub fn summary(&self) -> (u64, f64, f64) {
        let mean = if self.lag_n > 0 {
            self.lag_sum_ms as f64 / self.lag_n as f64 / 1000.0
        } else {
            0.0
        };
        (self.updates, self.lag_max_ms as f64 / 1000.0, mean)
    }
}

#[derive(Clone, Debug)]
pub struct Observed {
    pub engine_steps: u64,
    pub mark_dev_max_bp: f64,
    mark_dev_sum_bp: f64,
    mark_dev_n: u64,
    pub oracle: OracleStats,
    pub chain: ChainStats,
    pub insurance_start_usd: f64,
    /// Lowest insurance fund seen at a sample, and when (s since the start).
    pub insurance_min: (f64, f64),
    /// The vault's (equity USD, share price) at the start.
    pub vault_start: (f64, f64),
    pub vault_share_min: f64,
    pub negative_equity_end_usd: f64,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            engine_steps: 0,
            mark_dev_max_bp: 0.0,
            mark_dev_sum_bp: 0.0,
            mark_dev_n: 0,
            oracle: OracleStats::default(),
            chain: ChainStats::default(),
            insurance_start_usd: 0.0,
            insurance_min: (f64::INFINITY, 0.0),
            vault_start: (0.0, 0.0),
            vault_share_min: f64::INFINITY,
            negative_equity_end_usd: 0.0,
        }
    }
}

impl Observed {
    /// One engine step: the mark against the outside price.
    pub fn on_step(&mut self, mark: f64, outside: f64) {
        self.engine_steps += 1;
        let dev_bp = (mark / outside - 1.0).abs() * 1e4;
        self.mark_dev_max_bp = self.mark_dev_max_bp.max(dev_bp);
        self.mark_dev_sum_bp += dev_bp;
        self.mark_dev_n += 1;
    }

    pub fn mark_dev_mean_bp(&self) -> f64 {
        if self.mark_dev_n == 0 {
            0.0
        } else {
            self.mark_dev_sum_bp / self.mark_dev_n as f64
        }
    }

    /// The insurance fund and the vault at `t_s` (s since the start): their low points.
    pub fn record_funds(&mut self, engine: &Engine, t_s: f64) {
        let ins = venue_state::insurance_fund_usd(engine);
        if ins < self.insurance_min.0 {
            self.insurance_min = (ins, t_s);
        }
        let (_, share) = venue_state::vault(engine);
        if share > 0.0 {
            self.vault_share_min = self.vault_share_min.min(share);
        }
    }

    /// The venue once set up, before the first event.
    pub fn start(&mut self, engine: &Engine) {
        self.record_funds(engine, 0.0);
        self.insurance_start_usd = venue_state::insurance_fund_usd(engine);
        self.vault_start = venue_state::vault(engine);
    }

    /// The venue at the end of the run.
    pub fn finish(&mut self, engine: &Engine, t_s: f64) {
        self.record_funds(engine, t_s);
        self.negative_equity_end_usd = venue_state::negative_equity_usd(engine);
    }
}
