//! The defences of a market: an oracle guard with a degraded mode, circuit breakers (a price
//! band, a halt on a fast move, an oracle-versus-book divergence halt), dynamic margin,
//! adaptive taker fees and open-interest caps. Every one is off by default and switched per
//! market (`MarketParams::defences`, or one `Param` per mechanism).
//!
//! This module holds their parameters, their validation, the state they keep per market and
//! the pure integer arithmetic each one decides with; `engine/defences.rs` drives them from
//! the commands. No floats: every figure is fixed point (ppm, micro-USD, milliseconds).

use crate::reject::Reject;
use bulwark_core::{isqrt_u64, Ppm, Price, Qty, TimestampMs, Usd, PPM_ONE};
use serde::{Deserialize, Serialize};

/// Most oracle sources one market may have (`Command::OracleSource::source` is below this).
pub const MAX_ORACLE_SOURCES: usize = 8;
/// Buckets of the halt breaker's price window: the window is covered by this many equal
/// slices, each keeping the lowest and highest mark seen in it (a fixed, copyable ring, so
/// the undo journal copies it like any scalar).
pub const WINDOW_BUCKETS: usize = 16;
/// Longest window, cool-down, notice or step interval any defence may set: one day.
pub const MAX_DEFENCE_MS: u64 = 86_400_000;
/// The proactive breaker's `min_at_risk_usd` bound (1e12 USD, the engine's bound on collateral).
const MAX_AT_RISK_MICROS: i64 = 1_000_000_000_000 * 1_000_000;
const HOUR_MS: u64 = 3_600_000;

/// Every defence of one market. `#[serde(default)]`: a scenario names only what it turns on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defences {
    pub oracle_guard: OracleGuard,
    pub stable_price: StablePrice,
    pub price_band: PriceBand,
    pub halt: HaltBreaker,
    pub divergence: DivergenceBreaker,
    pub proactive: ProactiveBreaker,
    pub dynamic_margin: DynamicMargin,
    pub adaptive_fee: AdaptiveFee,
    pub oi_cap: OiCap,
}

/// Filters on each oracle source and the degraded mode when too few pass.
///
/// A source is valid when it is fresh (published within the market's `oracle_stale_ms`), its
/// confidence interval is at most `max_confidence` of its price, and its price is within
/// `max_deviation` of the median of the fresh, confident sources. The market's oracle is the
/// median of the valid sources. Fewer than `min_sources` valid sources put the market in
/// degraded mode; it leaves once at least `recover_sources` have been valid for `recover_ms`.
/// Off, the oracle is the median of the fresh sources and the market never degrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleGuard {
    pub enabled: bool,
    pub max_confidence: Ppm,
    pub max_deviation: Ppm,
    pub min_sources: u8,
    pub recover_sources: u8,
    pub recover_ms: u64,
    /// Added to the liquidation band in degraded mode: liquidation orders may fill farther
    /// from an internal mark that no oracle anchors.
    pub degraded_liquidation_band: Ppm,
}

impl Default for OracleGuard {
    fn default() -> Self {
        OracleGuard {
            enabled: false,
            max_confidence: Ppm::from_raw(10_000),
            max_deviation: Ppm::from_raw(20_000),
            min_sources: 2,
            recover_sources: 3,
            recover_ms: 60_000,
            degraded_liquidation_band: Ppm::from_raw(20_000),
        }
    }
}

/// A stable price that follows the mark at most `growth_per_hour` (relative) per hour, and
/// margins each position at the worse of the mark and it: a long at the lower, a short at the
/// higher, so a lagging price never makes a losing position look healthier (mango-v4's stable
/// price, with a plain growth limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StablePrice {
    pub enabled: bool,
    pub growth_per_hour: Ppm,
}

impl Default for StablePrice {
    fn default() -> Self {
        StablePrice {
            enabled: false,
            growth_per_hour: Ppm::from_raw(60_000),
        }
    }
}

/// Orders priced farther than `band` from the mark are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriceBand {
    pub enabled: bool,
    pub band: Ppm,
}

impl Default for PriceBand {
    fn default() -> Self {
        PriceBand {
            enabled: false,
            band: Ppm::from_raw(50_000),
        }
    }
}

/// What a halted market still accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltMode {
    /// No order at all (cancels still pass).
    #[default]
    Full,
    /// Only orders that reduce the account's exposure.
    ReduceOnly,
}

/// Halt the market when the mark moves more than `max_move` from any mark of the last
/// `window_ms`, for `cooldown_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaltBreaker {
    pub enabled: bool,
    pub max_move: Ppm,
    pub window_ms: u64,
    pub cooldown_ms: u64,
    pub mode: HaltMode,
    /// Whether liquidations (native and keepers') run during the halt.
    pub liquidations: bool,
}

impl Default for HaltBreaker {
    fn default() -> Self {
        HaltBreaker {
            enabled: false,
            max_move: Ppm::from_raw(100_000),
            window_ms: 300_000,
            cooldown_ms: 300_000,
            mode: HaltMode::ReduceOnly,
            liquidations: true,
        }
    }
}

/// Halt the market when the book's impact mid and the oracle differ by more than
/// `max_divergence` of the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DivergenceBreaker {
    pub enabled: bool,
    pub max_divergence: Ppm,
    pub cooldown_ms: u64,
    pub mode: HaltMode,
    pub liquidations: bool,
}

impl Default for DivergenceBreaker {
    fn default() -> Self {
        DivergenceBreaker {
            enabled: false,
            max_divergence: Ppm::from_raw(50_000),
            cooldown_ms: 120_000,
            mode: HaltMode::ReduceOnly,
            liquidations: true,
        }
    }
}

/// Halt the market *before* a cascade reaches the liquidation layer, from a prediction: the
/// positions a further move of `move_ppm` (either way) would put below maintenance, read from
/// the recheck index (`Engine::liquidation_at_risk`), against the book's depth within the same
/// move on the side their liquidations would hit (bids for a fall, asks for a rise). It trips
/// when that notional is at least `min_at_risk_usd` and more than `max_ratio` times the depth:
/// the liquidations the move would set off could not be absorbed, and would push the price
/// further. Judged at ticks, at most once every `check_ms` (each check ranges over the index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProactiveBreaker {
    pub enabled: bool,
    /// The further move of the mark the prediction assumes (ppm of the mark), when it is not
    /// scaled by volatility.
    pub move_ppm: Ppm,
    /// Scale the move by volatility instead: `z` (ppm of 1) standard deviations of the
    /// driver's short volatility over `horizon_s`, within [0.1%, 50%] (0: the fixed move).
    /// In a calm market a fixed move overstates what can happen before the next check; in a
    /// crash it understates it.
    pub z: Ppm,
    pub horizon_s: u64,
    /// Trip when the notional at risk exceeds this multiple of the depth (ppm: 1,000,000 = 1x).
    pub max_ratio: Ppm,
    /// Below this notional at risk nothing trips, however thin the book.
    pub min_at_risk_usd: Usd,
    pub check_ms: u64,
    pub cooldown_ms: u64,
    pub mode: HaltMode,
    pub liquidations: bool,
}

impl Default for ProactiveBreaker {
    fn default() -> Self {
        ProactiveBreaker {
            enabled: false,
            move_ppm: Ppm::from_raw(30_000),
            z: Ppm::from_raw(3 * PPM_ONE),
            horizon_s: 900,
            max_ratio: Ppm::from_raw(10 * PPM_ONE),
            min_at_risk_usd: Usd::from_micros(1_000_000 * 1_000_000),
            check_ms: 10_000,
            cooldown_ms: 300_000,
            mode: HaltMode::ReduceOnly,
            liquidations: true,
        }
    }
}

/// Maintenance from volatility: target = max(floor, z x sigma_1h x sqrt(horizon_s / 3600),
/// override), reached in steps of at most `max_change_per_hour x step_ms / 1h`, one every
/// `step_ms`, the first no sooner than `notice_ms` after it was announced. While on, the
/// market's `maintenance` is the fraction in force and this rule sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicMargin {
    pub enabled: bool,
    pub floor: Ppm,
    /// The quantile multiplier z, in ppm (3.0 = 3,000,000).
    pub z: Ppm,
    /// How long a liquidation of the market takes to complete, in seconds.
    pub horizon_s: u64,
    /// Largest change of the maintenance fraction in one hour (absolute, ppm of notional).
    pub max_change_per_hour: Ppm,
    pub step_ms: u64,
    pub notice_ms: u64,
    /// A risk manager's floor over the rule (step 8's controller sets it).
    pub override_maintenance: Option<Ppm>,
}

impl Default for DynamicMargin {
    fn default() -> Self {
        DynamicMargin {
            enabled: false,
            floor: Ppm::from_raw(5_000),
            z: Ppm::from_raw(3_000_000),
            horizon_s: 3_600,
            max_change_per_hour: Ppm::from_raw(10_000),
            step_ms: 300_000,
            notice_ms: 300_000,
            override_maintenance: None,
        }
    }
}

/// Taker fee in force = min(max_taker_fee, taker_fee x (1 + slope x max(0, short/long - 1)))
/// from the last volatility the driver reported; `surcharge_insurance_share` of the part over
/// the base fee goes to the insurance fund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveFee {
    pub enabled: bool,
    /// Fee multiplier added per 1.0 of excess volatility ratio, in ppm (1x = 1,000,000).
    pub slope: Ppm,
    pub max_taker_fee: Ppm,
    pub surcharge_insurance_share: Ppm,
}

impl Default for AdaptiveFee {
    fn default() -> Self {
        AdaptiveFee {
            enabled: false,
            slope: Ppm::from_raw(1_000_000),
            max_taker_fee: Ppm::from_raw(2_500),
            surcharge_insurance_share: Ppm::from_raw(1_000_000),
        }
    }
}

/// Open-interest caps: orders that would take the market's open interest past
/// `max_open_interest`, or one account's position past `max_account_share` of it, are
/// rejected; and the initial margin of risk-increasing orders grows linearly from 1x at
/// `scale_from` of the cap to `scale_max` at the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OiCap {
    pub enabled: bool,
    pub max_open_interest: Qty,
    pub max_account_share: Ppm,
    pub scale_from: Ppm,
    pub scale_max: Ppm,
}

impl Default for OiCap {
    fn default() -> Self {
        OiCap {
            enabled: false,
            max_open_interest: Qty::from_lots(1_000_000),
            max_account_share: Ppm::from_raw(250_000),
            scale_from: Ppm::from_raw(500_000),
            scale_max: Ppm::from_raw(2_000_000),
        }
    }
}

fn invalid(name: &'static str, reason: &str) -> Reject {
    Reject::InvalidParam {
        name,
        reason: reason.into(),
    }
}

fn fraction(v: Ppm, name: &'static str, reason: &'static str) -> Result<(), Reject> {
    if v.raw() <= 0 || v.raw() > PPM_ONE {
        return Err(invalid(name, reason));
    }
    Ok(())
}

fn duration(v: u64, name: &'static str, zero_ok: bool) -> Result<(), Reject> {
    if v > MAX_DEFENCE_MS || (!zero_ok && v == 0) {
        let reason = if zero_ok {
            "must be at most 86400000 ms (one day)"
        } else {
            "must be in 1..=86400000 ms (one day)"
        };
        return Err(invalid(name, reason));
    }
    Ok(())
}

impl Defences {
    /// Every field in range, whether the mechanism is on or not (turning it on later must
    /// not meet a bad value).
    pub fn validate(&self) -> Result<(), Reject> {
        let g = &self.oracle_guard;
        fraction(
            g.max_confidence,
            "oracle_guard.max_confidence",
            "must be in (0, 100%]",
        )?;
        fraction(
            g.max_deviation,
            "oracle_guard.max_deviation",
            "must be in (0, 100%]",
        )?;
        let n = MAX_ORACLE_SOURCES as u8;
        if g.min_sources == 0 || g.min_sources > n {
            return Err(invalid("oracle_guard.min_sources", "must be in 1..=8"));
        }
        if g.recover_sources < g.min_sources || g.recover_sources > n {
            return Err(invalid(
                "oracle_guard.recover_sources",
                "must be in min_sources..=8: recovery needs at least as many sources as degrading lets go",
            ));
        }
        duration(g.recover_ms, "oracle_guard.recover_ms", true)?;
        if g.degraded_liquidation_band.raw() < 0 || g.degraded_liquidation_band.raw() > 500_000 {
            return Err(invalid(
                "oracle_guard.degraded_liquidation_band",
                "must be in [0, 50%]",
            ));
        }
        let s = &self.stable_price;
        if s.growth_per_hour.raw() <= 0 || s.growth_per_hour.raw() > 100 * PPM_ONE {
            return Err(invalid(
                "stable_price.growth_per_hour",
                "must be in (0, 100x] (ppm of the price per hour)",
            ));
        }
        let b = &self.price_band;
        if b.band.raw() <= 0 || b.band.raw() >= PPM_ONE {
            return Err(invalid("price_band.band", "must be in (0, 100%)"));
        }
        let h = &self.halt;
        if h.max_move.raw() <= 0 || h.max_move.raw() >= PPM_ONE {
            return Err(invalid("halt.max_move", "must be in (0, 100%)"));
        }
        duration(h.window_ms, "halt.window_ms", false)?;
        duration(h.cooldown_ms, "halt.cooldown_ms", false)?;
        let d = &self.divergence;
        fraction(
            d.max_divergence,
            "divergence.max_divergence",
            "must be in (0, 100%]",
        )?;
        duration(d.cooldown_ms, "divergence.cooldown_ms", false)?;
        let p = &self.proactive;
        if p.move_ppm.raw() <= 0 || p.move_ppm.raw() > 500_000 {
            return Err(invalid("proactive.move_ppm", "must be in (0, 50%]"));
        }
        if p.max_ratio.raw() <= 0 || p.max_ratio.raw() > 1_000 * PPM_ONE {
            return Err(invalid(
                "proactive.max_ratio",
                "must be in (0, 1000x] (ppm: 1000000 = at-risk notional equal to the depth)",
            ));
        }
        if p.min_at_risk_usd.is_negative()
            || p.min_at_risk_usd > Usd::from_micros(MAX_AT_RISK_MICROS)
        {
            return Err(invalid(
                "proactive.min_at_risk_usd",
                "must be in [0, 1e12] USD",
            ));
        }
        if p.z.raw() < 0 || p.z.raw() > 20 * PPM_ONE {
            return Err(invalid(
                "proactive.z",
                "must be in [0, 20] (ppm of 1; 0: a fixed move)",
            ));
        }
        if p.horizon_s == 0 || p.horizon_s > MAX_DEFENCE_MS / 1000 {
            return Err(invalid("proactive.horizon_s", "must be in 1..=86400 s"));
        }
        duration(p.check_ms, "proactive.check_ms", false)?;
        duration(p.cooldown_ms, "proactive.cooldown_ms", false)?;
        let m = &self.dynamic_margin;
        fraction(m.floor, "dynamic_margin.floor", "must be in (0, 100%]")?;
        if m.z.raw() <= 0 || m.z.raw() > 20 * PPM_ONE {
            return Err(invalid("dynamic_margin.z", "must be in (0, 20] (ppm of 1)"));
        }
        if m.horizon_s == 0 || m.horizon_s > MAX_DEFENCE_MS / 1000 {
            return Err(invalid(
                "dynamic_margin.horizon_s",
                "must be in 1..=86400 s",
            ));
        }
        fraction(
            m.max_change_per_hour,
            "dynamic_margin.max_change_per_hour",
            "must be in (0, 100%] of notional per hour",
        )?;
        duration(m.step_ms, "dynamic_margin.step_ms", false)?;
        duration(m.notice_ms, "dynamic_margin.notice_ms", true)?;
        if let Some(o) = m.override_maintenance {
            fraction(
                o,
                "dynamic_margin.override_maintenance",
                "must be in (0, 100%]",
            )?;
        }
        let f = &self.adaptive_fee;
        if f.slope.raw() < 0 || f.slope.raw() > 100 * PPM_ONE {
            return Err(invalid("adaptive_fee.slope", "must be in [0, 100x]"));
        }
        if f.max_taker_fee.raw() < 0 || f.max_taker_fee.raw() > 100_000 {
            return Err(invalid("adaptive_fee.max_taker_fee", "must be in [0, 10%]"));
        }
        if f.surcharge_insurance_share.raw() < 0 || f.surcharge_insurance_share.raw() > PPM_ONE {
            return Err(invalid(
                "adaptive_fee.surcharge_insurance_share",
                "must be in [0, 100%]",
            ));
        }
        let c = &self.oi_cap;
        if !c.max_open_interest.is_positive() {
            return Err(invalid(
                "oi_cap.max_open_interest",
                "must be positive (lots)",
            ));
        }
        fraction(
            c.max_account_share,
            "oi_cap.max_account_share",
            "must be in (0, 100%]",
        )?;
        if c.scale_from.raw() < 0 || c.scale_from.raw() >= PPM_ONE {
            return Err(invalid("oi_cap.scale_from", "must be in [0, 100%)"));
        }
        if c.scale_max.raw() < PPM_ONE || c.scale_max.raw() > 10 * PPM_ONE {
            return Err(invalid("oi_cap.scale_max", "must be in [1x, 10x]"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// State.

/// One source's last report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReading {
    pub price: Price,
    /// Half-width of the source's confidence interval (0: the source states none).
    pub confidence: Price,
    /// When the source says it observed the price (at most the command's time).
    pub published: TimestampMs,
}

/// Why the guard did not use a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    Valid,
    /// Never reported.
    Missing,
    /// Published longer ago than the market's `oracle_stale_ms`.
    Stale,
    /// Confidence wider than `max_confidence` of the price.
    Uncertain,
    /// Farther than `max_deviation` from the median of the fresh, confident sources.
    Deviates,
}

/// The guard's verdict at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OracleVerdict {
    /// Median of the valid sources (`None`: none valid).
    pub price: Option<Price>,
    pub valid: u8,
    pub status: [SourceStatus; MAX_ORACLE_SOURCES],
}

/// Why a halt started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "breaker", rename_all = "snake_case")]
pub enum HaltReason {
    /// The mark moved `move_ppm` from a mark of the window (`from` -> `to`).
    PriceMove {
        move_ppm: i64,
        from: Price,
        to: Price,
    },
    /// The book's impact mid and the oracle differed by `divergence_ppm` of the oracle.
    Divergence {
        divergence_ppm: i64,
        oracle: Price,
        book: Price,
    },
    /// A further `move_ppm` move (negative: down) would put `pools` pools with `at_risk_usd` of
    /// notional below maintenance, against `depth_usd` of book within the move.
    Cascade {
        move_ppm: i64,
        pools: u64,
        at_risk_usd: Usd,
        depth_usd: Usd,
    },
}

/// A halt in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub reason: HaltReason,
    pub mode: HaltMode,
    pub liquidations: bool,
    pub started: TimestampMs,
    pub until: TimestampMs,
}

/// One slice of the price window: the lowest and highest mark seen while `now / width` was
/// `slot`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowBucket {
    pub slot: u64,
    pub low: i64,
    pub high: i64,
}

/// The marks of the last window, in `WINDOW_BUCKETS` slices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MarkWindow {
    pub buckets: [WindowBucket; WINDOW_BUCKETS],
    /// Whether any mark was recorded since the window was last cleared.
    pub used: bool,
}

impl MarkWindow {
    fn width_ms(window_ms: u64) -> u64 {
        window_ms.div_ceil(WINDOW_BUCKETS as u64).max(1)
    }

    /// Record `mark` at `now`.
    pub fn record(&mut self, now: TimestampMs, mark: Price, window_ms: u64) {
        let slot = now.0 / Self::width_ms(window_ms);
        let b = &mut self.buckets[(slot % WINDOW_BUCKETS as u64) as usize];
        let px = mark.micros();
        if !self.used || b.slot != slot || b.high == 0 {
            *b = WindowBucket {
                slot,
                low: px,
                high: px,
            };
        } else {
            b.low = b.low.min(px);
            b.high = b.high.max(px);
        }
        self.used = true;
    }

    /// The lowest and highest mark of the slices that lie within the window ending at `now`
    /// (the current slice included), if any.
    pub fn range(&self, now: TimestampMs, window_ms: u64) -> Option<(i64, i64)> {
        if !self.used {
            return None;
        }
        let slot = now.0 / Self::width_ms(window_ms);
        let oldest = slot.saturating_sub(WINDOW_BUCKETS as u64 - 1);
        let mut out: Option<(i64, i64)> = None;
        for b in &self.buckets {
            if b.high == 0 || b.slot < oldest || b.slot > slot {
                continue;
            }
            out = Some(match out {
                None => (b.low, b.high),
                Some((lo, hi)) => (lo.min(b.low), hi.max(b.high)),
            });
        }
        out
    }
}

/// The last volatility the driver reported, as one-hour standard deviations of returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolatilityReading {
    pub short: Ppm,
    pub long: Ppm,
    pub at: TimestampMs,
}

/// A maintenance change announced and not yet complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginSchedule {
    pub target: Ppm,
    /// When the next step may apply.
    pub next_step: TimestampMs,
}

/// What a market's defences remember between commands. Copy, and small: the undo journal
/// copies it with the market's other scalars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefenceState {
    pub sources: [Option<SourceReading>; MAX_ORACLE_SOURCES],
    /// Since when the market is degraded, if it is.
    pub degraded_since: Option<TimestampMs>,
    /// Since when enough sources are valid again (degraded mode ends `recover_ms` later).
    pub recovering_since: Option<TimestampMs>,
    pub halt: Option<Halt>,
    pub window: MarkWindow,
    pub volatility: Option<VolatilityReading>,
    pub margin_schedule: Option<MarginSchedule>,
    /// When dynamic margin last applied a step (steps are at least `step_ms` apart).
    pub margin_last_step: Option<TimestampMs>,
    /// The adaptive taker fee in force (`None`: the market's `taker_fee`).
    pub taker_fee_in_force: Option<Ppm>,
    /// The stable price and when it last moved toward the mark (`None` while it is off).
    pub stable: Option<(Price, TimestampMs)>,
    /// When the proactive breaker last judged the market (`None` while it is off).
    pub proactive_checked: Option<TimestampMs>,
}

// ---------------------------------------------------------------------------------------------
// Arithmetic.

/// Median of sorted prices, the lower-rounded mean of the two middle ones for an even count.
fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => {
            let (a, b) = (sorted[n / 2 - 1] as i128, sorted[n / 2] as i128);
            Some((a + (b - a).div_euclid(2)) as i64)
        }
    }
}

/// |a - b| / b in ppm, rounded down; b > 0. In `i128`: prices are at most 1e15 micro-USD.
pub fn gap_ppm(a: i64, b: i64) -> i64 {
    let diff = (a as i128 - b as i128).abs() * PPM_ONE as i128;
    (diff / (b.max(1) as i128)).min(i64::MAX as i128) as i64
}

/// [`judge_sources`] when exactly one source has a reading (a venue fed by one oracle, every
/// price a forward simulation sends): the same verdict, without the sorts. The median of the
/// one fresh, confident reading is itself, so it deviates from it by nothing. `None` for any
/// other number of readings.
#[inline]
fn judge_single_source(
    sources: &[Option<SourceReading>; MAX_ORACLE_SOURCES],
    guard: &OracleGuard,
    stale_ms: u64,
    now: TimestampMs,
) -> Option<OracleVerdict> {
    let mut readings = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, (*s)?)));
    let (i, s) = readings.next()?;
    if readings.next().is_some() {
        return None;
    }
    let mut status = [SourceStatus::Missing; MAX_ORACLE_SOURCES];
    let price = s.price.micros();
    status[i] = if now.saturating_sub_ms(s.published) > stale_ms {
        SourceStatus::Stale
    } else if guard.enabled
        && gap_ppm(price + s.confidence.micros(), price) > guard.max_confidence.raw()
    {
        SourceStatus::Uncertain
    } else if guard.enabled && gap_ppm(price, price) > guard.max_deviation.raw() {
        SourceStatus::Deviates
    } else {
        SourceStatus::Valid
    };
    let valid = status[i] == SourceStatus::Valid;
    Some(OracleVerdict {
        price: valid.then_some(s.price),
        valid: valid as u8,
        status,
    })
}

/// The guard's verdict over `sources` at `now`. `guard` off: fresh sources are valid.
pub fn judge_sources(
    sources: &[Option<SourceReading>; MAX_ORACLE_SOURCES],
    guard: &OracleGuard,
    stale_ms: u64,
    now: TimestampMs,
) -> OracleVerdict {
    judge_single_source(sources, guard, stale_ms, now)
        .unwrap_or_else(|| judge_many_sources(sources, guard, stale_ms, now))
}

/// [`judge_sources`] for any number of readings.
fn judge_many_sources(
    sources: &[Option<SourceReading>; MAX_ORACLE_SOURCES],
    guard: &OracleGuard,
    stale_ms: u64,
    now: TimestampMs,
) -> OracleVerdict {
    let mut status = [SourceStatus::Missing; MAX_ORACLE_SOURCES];
    let mut kept = [0i64; MAX_ORACLE_SOURCES];
    let mut n = 0;
    for (i, s) in sources.iter().enumerate() {
        let Some(s) = s else { continue };
        status[i] = if now.saturating_sub_ms(s.published) > stale_ms {
            SourceStatus::Stale
        } else if guard.enabled
            && gap_ppm(s.price.micros() + s.confidence.micros(), s.price.micros())
                > guard.max_confidence.raw()
        {
            SourceStatus::Uncertain
        } else {
            kept[n] = s.price.micros();
            n += 1;
            SourceStatus::Valid
        };
    }
    let fresh = &mut kept[..n];
    fresh.sort_unstable();
    if guard.enabled {
        // Deviation from the median of all fresh, confident sources (themselves included):
        // the median of the *others* is, for three sources, the mean of the other two, which
        // one outlier drags, so a manipulated source would get an honest one rejected.
        if let Some(mid) = median(fresh) {
            for (i, s) in sources.iter().enumerate() {
                if status[i] == SourceStatus::Valid {
                    let p = s.map_or(0, |s| s.price.micros());
                    if gap_ppm(p, mid) > guard.max_deviation.raw() {
                        status[i] = SourceStatus::Deviates;
                    }
                }
            }
        }
    }
    let mut valid = [0i64; MAX_ORACLE_SOURCES];
    let mut v = 0;
    for (i, s) in sources.iter().enumerate() {
        if status[i] == SourceStatus::Valid {
            valid[v] = s.map_or(0, |s| s.price.micros());
            v += 1;
        }
    }
    let valid = &mut valid[..v];
    valid.sort_unstable();
    OracleVerdict {
        price: median(valid).map(Price::from_micros),
        valid: v as u8,
        status,
    }
}

/// The maintenance fraction dynamic margin asks for: max(floor, z x sigma x sqrt(horizon /
/// 1h), override), rounded up and capped at 100%.
pub fn margin_target(dm: &DynamicMargin, sigma_1h: Ppm) -> Ppm {
    let dynamic = z_sigma_ppm(dm.z, sigma_1h, dm.horizon_s);
    let mut t = dm.floor.raw().max(dynamic);
    if let Some(o) = dm.override_maintenance {
        t = t.max(o.raw());
    }
    Ppm::from_raw(t.min(PPM_ONE))
}

/// z x sigma_1h x sqrt(horizon_s / 1 h) in ppm, rounded up and capped at 100%: a move of `z`
/// standard deviations over the horizon.
pub fn z_sigma_ppm(z: Ppm, sigma_1h: Ppm, horizon_s: u64) -> i64 {
    // sqrt(horizon_s / 3600) in ppm = isqrt(horizon_s x 1e12 / 3600), rounded up.
    let scaled = (horizon_s as u128 * 1_000_000_000_000u128).div_ceil(3_600) as u64;
    let mut root = isqrt_u64(scaled);
    if root * root < scaled {
        root += 1;
    }
    (z.raw().max(0) as u128 * sigma_1h.raw().max(0) as u128 * root as u128)
        .div_ceil(PPM_ONE as u128 * PPM_ONE as u128)
        .min(PPM_ONE as u128) as i64
}

/// The smallest move a volatility-scaled proactive breaker assumes (0.1%).
pub const PROACTIVE_MIN_MOVE_PPM: i64 = 1_000;
/// The largest move the proactive breaker assumes (50%).
pub const PROACTIVE_MAX_MOVE_PPM: i64 = 500_000;

/// The move the proactive breaker assumes: `z` short-volatility standard deviations over
/// `horizon_s` when `z` is set and the driver has reported a volatility, within [0.1%, 50%];
/// otherwise the fixed `move_ppm`.
pub fn proactive_move_ppm(p: &ProactiveBreaker, volatility: Option<VolatilityReading>) -> i64 {
    match volatility {
        Some(v) if p.z.raw() > 0 => z_sigma_ppm(p.z, v.short, p.horizon_s)
            .clamp(PROACTIVE_MIN_MOVE_PPM, PROACTIVE_MAX_MOVE_PPM),
        _ => p.move_ppm.raw(),
    }
}

/// The stable price after following `mark` from `(stable, at)` to `now` under the growth
/// limit: it moves toward the mark by at most `stable x growth_per_hour x elapsed / 1 h`
/// (rounded down, at least one micro-USD once any time passed).
pub fn stable_next(
    sp: &StablePrice,
    stable: Price,
    at: TimestampMs,
    mark: Price,
    now: TimestampMs,
) -> Price {
    let elapsed = now.saturating_sub_ms(at) as i128;
    let room = stable.micros() as i128 * sp.growth_per_hour.raw() as i128 * elapsed
        / (PPM_ONE as i128 * HOUR_MS as i128);
    let room = if elapsed > 0 { room.max(1) } else { 0 };
    let s = stable.micros() as i128;
    let next = (mark.micros() as i128).clamp(s - room, s + room);
    Price::from_micros(next.clamp(1, i64::MAX as i128) as i64)
}

/// The largest change one step may make: `max_change_per_hour x step_ms / 1h`, at least 1 ppm.
pub fn margin_step(dm: &DynamicMargin) -> i64 {
    let step = dm.max_change_per_hour.raw() as i128 * dm.step_ms as i128 / HOUR_MS as i128;
    (step as i64).max(1)
}

/// The maintenance after one step from `current` toward `target`.
pub fn margin_next(dm: &DynamicMargin, current: Ppm, target: Ppm) -> Ppm {
    let s = margin_step(dm);
    let c = current.raw();
    Ppm::from_raw(target.raw().clamp(c - s, c + s))
}

/// The adaptive taker fee: min(max, base x (1 + slope x max(0, short/long - 1))), rounded
/// up; never below the base (a cap under the base leaves the base).
pub fn adaptive_taker_fee(af: &AdaptiveFee, base: Ppm, vol: Option<VolatilityReading>) -> Ppm {
    let Some(v) = vol else { return base };
    let (short, long) = (v.short.raw().max(0) as i128, v.long.raw().max(0) as i128);
    let one = PPM_ONE as i128;
    // The ratio in ppm; a zero long volatility with any short one is the largest excess.
    let ratio = if long == 0 {
        if short == 0 {
            one
        } else {
            i64::MAX as i128
        }
    } else {
        short * one / long
    };
    let excess = (ratio - one).max(0);
    let multiplier = one + (af.slope.raw() as i128 * excess).div_euclid(one);
    let fee = (base.raw().max(0) as i128 * multiplier + one - 1).div_euclid(one);
    let capped = fee
        .min(af.max_taker_fee.raw() as i128)
        .max(base.raw() as i128);
    Ppm::from_raw(capped.min(PPM_ONE as i128) as i64)
}

/// The initial-margin multiplier (ppm, >= 1x) open interest `oi` asks of a risk-increasing
/// order: 1x up to `scale_from` of the cap, then linear to `scale_max` at the cap and beyond.
pub fn oi_initial_scale(cap: &OiCap, oi: Qty) -> i64 {
    let one = PPM_ONE as i128;
    let limit = cap.max_open_interest.lots().max(1) as i128;
    let from = cap.scale_from.raw() as i128;
    // At or under `scale_from` of the cap (the common case): 1x, without a division.
    if oi.lots().max(0) as i128 * one <= from * limit {
        return PPM_ONE;
    }
    let used = (oi.lots().max(0) as i128 * one / limit).min(one);
    if used <= from {
        return PPM_ONE;
    }
    let extra = (cap.scale_max.raw() as i128 - one) * (used - from) / (one - from).max(1);
    (one + extra) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-reading shortcut gives the general verdict: every slot, fresh or stale,
    /// confident or not, guard on or off, and deviation bounds down to zero.
    #[test]
    fn a_single_reading_is_judged_as_the_general_path_judges_it() {
        let now = TimestampMs(100_000);
        let mut cases = 0;
        for slot in 0..MAX_ORACLE_SOURCES {
            for published in [now.0, now.0 - 30_000, now.0 - 90_000] {
                for confidence in [0, 5, 50_000] {
                    for enabled in [false, true] {
                        for max_deviation in [0, 20_000] {
                            let mut sources = [None; MAX_ORACLE_SOURCES];
                            sources[slot] = Some(SourceReading {
                                price: Price::from_micros(64_000_000_000),
                                confidence: Price::from_micros(confidence * 1_000_000),
                                published: TimestampMs(published),
                            });
                            let guard = OracleGuard {
                                enabled,
                                max_confidence: Ppm::from_raw(10_000),
                                max_deviation: Ppm::from_raw(max_deviation),
                                ..OracleGuard::default()
                            };
                            let fast = judge_single_source(&sources, &guard, 60_000, now);
                            let general = judge_many_sources(&sources, &guard, 60_000, now);
                            assert_eq!(fast, Some(general), "slot {slot}, published {published}");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, MAX_ORACLE_SOURCES * 36);
        // Two readings, or none, take the general path.
        let guard = OracleGuard::default();
        let none = [None; MAX_ORACLE_SOURCES];
        assert_eq!(judge_single_source(&none, &guard, 60_000, now), None);
        let mut two = none;
        two[0] = Some(SourceReading {
            price: Price::from_micros(1),
            confidence: Price::ZERO,
            published: now,
        });
        two[3] = two[0];
        assert_eq!(judge_single_source(&two, &guard, 60_000, now), None);
    }

    fn px(usd: i64) -> Price {
        Price::from_micros(usd * 1_000_000)
    }

    fn src(price: i64, conf: i64, at: u64) -> Option<SourceReading> {
        Some(SourceReading {
            price: px(price),
            confidence: px(conf),
            published: TimestampMs(at),
        })
    }

    fn guard_on() -> OracleGuard {
        OracleGuard {
            enabled: true,
            ..OracleGuard::default()
        }
    }

    #[test]
    fn defaults_validate() {
        Defences::default().validate().unwrap(); // ok: a test
    }

    #[test]
    fn validation_names_the_field() {
        let mut d = Defences::default();
        d.oracle_guard.recover_sources = 1;
        let e = d.validate().unwrap_err();
        assert!(
            matches!(
                e,
                Reject::InvalidParam {
                    name: "oracle_guard.recover_sources",
                    ..
                }
            ),
            "{e:?}"
        );
        let mut d = Defences::default();
        d.halt.window_ms = 0;
        assert!(matches!(
            d.validate(),
            Err(Reject::InvalidParam {
                name: "halt.window_ms",
                ..
            })
        ));
    }

    #[test]
    fn guard_rejects_stale_uncertain_and_deviating_sources() {
        let mut s = [None; MAX_ORACLE_SOURCES];
        s[0] = src(100, 0, 1_000); // valid
        s[1] = src(101, 0, 1_000); // valid
        s[2] = src(100, 0, 0); // stale at 61 s with 60 s staleness
        s[3] = src(100, 2, 1_000); // 2% confidence > 1%
        s[4] = src(103, 0, 1_000); // 0.98% from the median of 100, 101, 103, 110 (102)
        s[5] = src(110, 0, 1_000); // 7.8% from 102 > 2%; source 0 is 1.96% away: valid
        let v = judge_sources(&s, &guard_on(), 60_000, TimestampMs(61_000));
        use SourceStatus::*;
        assert_eq!(
            v.status,
            [Valid, Valid, Stale, Uncertain, Valid, Deviates, Missing, Missing]
        );
        assert_eq!(v.valid, 3);
        assert_eq!(v.price, Some(px(101)));
    }

    #[test]
    fn guard_off_takes_the_median_of_fresh_sources() {
        let mut s = [None; MAX_ORACLE_SOURCES];
        s[0] = src(100, 50, 1_000);
        s[1] = src(200, 0, 1_000);
        let v = judge_sources(&s, &OracleGuard::default(), 60_000, TimestampMs(2_000));
        assert_eq!(v.valid, 2);
        assert_eq!(v.price, Some(px(150)), "even count: mean of the middle two");
        let v = judge_sources(&s, &guard_on(), 60_000, TimestampMs(2_000));
        // On: source 0's confidence is 50%; source 1 alone is its own median.
        assert_eq!(v.price, Some(px(200)));
        assert_eq!(v.valid, 1);
    }

    #[test]
    fn two_disagreeing_sources_are_both_rejected() {
        let mut s = [None; MAX_ORACLE_SOURCES];
        s[0] = src(100, 0, 0);
        s[1] = src(120, 0, 0);
        // Median 110: each is 9.1% away.
        let v = judge_sources(&s, &guard_on(), 60_000, TimestampMs(0));
        assert_eq!(v.valid, 0);
        assert_eq!(v.price, None);
    }

    #[test]
    fn margin_target_by_hand() {
        let dm = DynamicMargin {
            enabled: true,
            floor: Ppm::from_raw(5_000),
            z: Ppm::from_raw(3_000_000),
            horizon_s: 900, // sqrt(1/4) = 0.5
            ..DynamicMargin::default()
        };
        // 3 x 2% x 0.5 = 3%.
        assert_eq!(
            margin_target(&dm, Ppm::from_raw(20_000)),
            Ppm::from_raw(30_000)
        );
        // Calm: 3 x 0.2% x 0.5 = 0.3% < floor 0.5%.
        assert_eq!(
            margin_target(&dm, Ppm::from_raw(2_000)),
            Ppm::from_raw(5_000)
        );
        let dm = DynamicMargin {
            override_maintenance: Some(Ppm::from_raw(40_000)),
            ..dm
        };
        assert_eq!(
            margin_target(&dm, Ppm::from_raw(20_000)),
            Ppm::from_raw(40_000)
        );
        // Capped at 100%.
        assert_eq!(margin_target(&dm, Ppm::ONE), Ppm::ONE);
    }

    #[test]
    fn margin_steps_are_rate_limited() {
        let dm = DynamicMargin {
            max_change_per_hour: Ppm::from_raw(12_000), // 1.2 points an hour
            step_ms: 300_000,                           // 5 min: 0.1 point a step
            ..DynamicMargin::default()
        };
        assert_eq!(margin_step(&dm), 1_000);
        let up = margin_next(&dm, Ppm::from_raw(5_000), Ppm::from_raw(30_000));
        assert_eq!(up, Ppm::from_raw(6_000));
        let down = margin_next(&dm, Ppm::from_raw(5_500), Ppm::from_raw(5_000));
        assert_eq!(
            down,
            Ppm::from_raw(5_000),
            "the last step lands on the target"
        );
    }

    #[test]
    fn adaptive_fee_by_hand() {
        let af = AdaptiveFee {
            enabled: true,
            slope: Ppm::from_raw(500_000), // +0.5x per 1.0 of excess ratio
            max_taker_fee: Ppm::from_raw(1_500),
            surcharge_insurance_share: Ppm::ONE,
        };
        let base = Ppm::from_raw(500);
        let vol = |s, l| {
            Some(VolatilityReading {
                short: Ppm::from_raw(s),
                long: Ppm::from_raw(l),
                at: TimestampMs(0),
            })
        };
        // Ratio 3: excess 2, multiplier 2x: 10 bp.
        assert_eq!(
            adaptive_taker_fee(&af, base, vol(30_000, 10_000)),
            Ppm::from_raw(1_000)
        );
        // Ratio 0.5: no discount.
        assert_eq!(adaptive_taker_fee(&af, base, vol(5_000, 10_000)), base);
        // Ratio 10: 5.5x = 27.5 bp, capped at 15 bp.
        assert_eq!(
            adaptive_taker_fee(&af, base, vol(100_000, 10_000)),
            Ppm::from_raw(1_500)
        );
        assert_eq!(
            adaptive_taker_fee(&af, base, vol(1, 0)),
            Ppm::from_raw(1_500)
        );
        assert_eq!(adaptive_taker_fee(&af, base, None), base);
    }

    #[test]
    fn the_stable_price_follows_the_mark_under_its_growth_limit() {
        let sp = StablePrice {
            enabled: true,
            growth_per_hour: Ppm::from_raw(60_000), // 6% an hour: 0.1% a minute
        };
        let at = TimestampMs(0);
        // A minute after, 1,000 can move 1 toward a mark of 800.
        assert_eq!(
            stable_next(&sp, px(1_000), at, px(800), TimestampMs(60_000)),
            px(999)
        );
        // An hour: 60, so 940; a mark within reach is met exactly.
        assert_eq!(
            stable_next(&sp, px(1_000), at, px(800), TimestampMs(3_600_000)),
            px(940)
        );
        assert_eq!(
            stable_next(&sp, px(1_000), at, px(1_001), TimestampMs(60_000)),
            px(1_001)
        );
        assert_eq!(stable_next(&sp, px(1_000), at, px(800), at), px(1_000));
    }

    #[test]
    fn oi_scale_by_hand() {
        let cap = OiCap {
            enabled: true,
            max_open_interest: Qty::from_lots(1_000),
            scale_from: Ppm::from_raw(500_000),
            scale_max: Ppm::from_raw(3_000_000),
            ..OiCap::default()
        };
        assert_eq!(oi_initial_scale(&cap, Qty::from_lots(400)), PPM_ONE);
        // 75%: halfway from 50% to the cap: 1 + 2 x 0.5 = 2x.
        assert_eq!(oi_initial_scale(&cap, Qty::from_lots(750)), 2_000_000);
        assert_eq!(oi_initial_scale(&cap, Qty::from_lots(5_000)), 3_000_000);
    }

    #[test]
    fn window_keeps_the_range_of_the_last_window() {
        let mut w = MarkWindow::default();
        let window = 160_000; // 16 slices of 10 s
        w.record(TimestampMs(0), px(100), window);
        w.record(TimestampMs(5_000), px(90), window);
        w.record(TimestampMs(50_000), px(120), window);
        assert_eq!(
            w.range(TimestampMs(50_000), window),
            Some((px(90).micros(), px(120).micros()))
        );
        // At 165 s the slice of 0-10 s has left the window (oldest slice kept: 10-20 s).
        w.record(TimestampMs(165_000), px(110), window);
        assert_eq!(
            w.range(TimestampMs(165_000), window),
            Some((px(110).micros(), px(120).micros()))
        );
    }
}
