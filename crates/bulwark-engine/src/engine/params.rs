//! Markets and parameters: creation, changes, and their validation (every bound that keeps the
//! arithmetic inside `i64` is checked here).

use super::*;
use crate::book::Side;
use crate::command::{MarketParams, Param, VenueParam};
use crate::event::Event;
use crate::market::Market;
use crate::reject::Reject;
use bulwark_core::{div_i128, mul_div, MarketId, Ppm, Price, Round, TimestampMs, PPM_ONE};

impl Engine {
    pub(super) fn create_market(
        &mut self,
        params: &MarketParams,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        if self.markets.len() >= self.config.max_markets {
            return Err(Reject::TooManyMarkets {
                limit: self.config.max_markets,
            });
        }
        validate_params(params)?;
        let id = MarketId(self.markets.len() as u16);
        self.markets.push(Market::new(id, params.clone(), now));
        self.events.push(Event::MarketCreated {
            market: id,
            symbol: params.symbol.clone(),
        });
        Ok(())
    }

    pub(super) fn set_param(
        &mut self,
        market: MarketId,
        param: &Param,
        now: TimestampMs,
    ) -> Result<(), Reject> {
        let mi = self.market_index(market)?;
        let mut p = self.markets[mi].params.clone();
        let dynamic = p.defences.dynamic_margin.enabled;
        match param.clone() {
            Param::Maintenance(_) if dynamic => {
                return Err(invalid(
                    "maintenance",
                    "dynamic margin is on: maintenance follows max(floor, z x sigma x sqrt(horizon), override); set dynamic_margin.floor or maintenance_override instead",
                ))
            }
            Param::Maintenance(v) => p.maintenance = v,
            Param::InitialMultiplier(v) => p.initial_multiplier = v,
            Param::SizePremium(v) => p.size_premium = v,
            Param::MakerFee(v) => p.maker_fee = v,
            Param::TakerFee(v) => p.taker_fee = v,
            Param::FundingClamp(v) => p.funding_clamp = v,
            Param::FundingIntervalMs(v) => p.funding_interval_ms = v,
            Param::TradeEmaAlpha(v) => p.trade_ema_alpha = v,
            Param::ImpactNotionalUsd(v) => p.impact_notional_usd = v,
            Param::OracleStaleMs(v) => p.oracle_stale_ms = v,
            Param::MarketOrderBand(v) => p.market_order_band = v,
            Param::MaxOrderQty(v) => p.max_order_qty = v,
            Param::MaxPositionQty(v) => p.max_position_qty = v,
            Param::MaxPrice(v) => p.max_price = v,
            Param::LiquidationEndMultiplier(v) => p.liquidation_end_multiplier = v,
            Param::LiquidationPenalty(v) => p.liquidation_penalty = v,
            Param::KeeperRewardShare(v) => p.keeper_reward_share = v,
            Param::LiquidationBand(v) => p.liquidation_band = v,
            Param::InsuranceFeeShare(v) => p.insurance_fee_share = v,
            Param::Waterfall(v) => p.waterfall = v,
            Param::AdlPolicy(v) => p.adl_policy = v,
            Param::OracleGuard(v) => p.defences.oracle_guard = v,
            Param::StablePrice(v) => p.defences.stable_price = v,
            Param::PriceBand(v) => p.defences.price_band = v,
            Param::Halt(v) => p.defences.halt = v,
            Param::Divergence(v) => p.defences.divergence = v,
            Param::Proactive(v) => p.defences.proactive = v,
            // Switching it on or off keeps the maintenance in force; the rule moves it from
            // there under its rate limit.
            Param::DynamicMargin(v) => p.defences.dynamic_margin = v,
            Param::AdaptiveFee(v) => p.defences.adaptive_fee = v,
            Param::OiCap(v) => p.defences.oi_cap = v,
            Param::MaintenanceOverride(v) => {
                if !dynamic {
                    return Err(invalid(
                        "maintenance_override",
                        "dynamic margin is off: turn it on, or set maintenance directly",
                    ));
                }
                p.defences.dynamic_margin.override_maintenance = v;
            }
        }
        validate_params(&p)?;
        self.check_market_state_fits(mi, &p)?;
        // Commit.
        self.set_params(mi, p);
        self.events.push(Event::ParamSet {
            market,
            param: param.clone(),
        });
        self.reevaluate_market(market)?;
        self.defences_changed(mi, now)?;
        Ok(self.native_sweep()?)
    }

    pub(super) fn set_venue_param(&mut self, param: &VenueParam) -> Result<(), Reject> {
        let mut v = self.venue;
        match *param {
            VenueParam::NativeLiquidation(on) => v.native_liquidation = on,
            VenueParam::MaxLiquidationsPerStep(n) => {
                if n == 0 || n > limits::MAX_LIQUIDATIONS_PER_STEP {
                    return Err(Reject::InvalidParam {
                        name: "max_liquidations_per_step",
                        reason: "must be in 1..=100000".into(),
                    });
                }
                v.max_liquidations_per_step = n;
            }
            VenueParam::VaultWithdrawalDelayMs(ms) => {
                if ms > limits::MAX_DURATION_MS {
                    return Err(Reject::InvalidParam {
                        name: "vault_withdrawal_delay_ms",
                        reason: "must be at most 31536000000 (365 days)".into(),
                    });
                }
                v.vault_withdrawal_delay_ms = ms;
            }
            VenueParam::VaultMarginMultiplier(m) => {
                if m.raw() < PPM_ONE || m.raw() > limits::MAX_VAULT_MARGIN_MULTIPLIER_PPM {
                    return Err(Reject::InvalidParam {
                        name: "vault_margin_multiplier",
                        reason: "must be between 1x and 1000x".into(),
                    });
                }
                v.vault_margin_multiplier = m;
            }
            VenueParam::VaultPolicy(ref policy) => {
                policy.validate()?;
                v.vault_policy = *policy;
            }
        }
        self.set_venue(v);
        self.events.push(Event::VenueParamSet {
            param: param.clone(),
        });
        Ok(())
    }
}

impl Engine {
    /// A parameter change must keep the bounds true of what the market already holds, not only
    /// of future orders: lowering `max_position_qty` leaves larger positions and resting orders
    /// in place, and lowering `max_price` leaves higher resting prices (and a mark formed from
    /// them). So the notional bound is checked with the largest quantity any position can still
    /// reach (the open interest plus every resting order: positions grow past the new limit
    /// only through fills of orders resting now) and the highest price the market can still
    /// see.
    pub(super) fn check_market_state_fits(
        &self,
        mi: usize,
        p: &MarketParams,
    ) -> Result<(), Reject> {
        let m = &self.markets[mi];
        let mut resting: i128 = 0;
        let mut top = m.mark.max(m.trade_ema.unwrap_or(Price::ZERO));
        for s in m.defence.sources.iter().flatten() {
            top = top.max(s.price);
        }
        for side in [Side::Buy, Side::Sell] {
            for (price, qty, _) in m.book.levels(side) {
                resting += qty.lots() as i128;
                top = top.max(price);
            }
        }
        let qty = (m.open_interest.lots() as i128 + resting).max(p.max_position_qty.lots() as i128);
        let price = top.max(p.max_price).micros() as i128;
        let lots = p.lots_per_unit as i128;
        // Ceil, like every requirement's notional; in i128, since the product is what is
        // being bounded.
        let notional = bounded(div_i128(qty * price, lots, Round::Ceil))?;
        if notional > limits::MAX_POSITION_NOTIONAL_MICROS as i128 {
            return Err(invalid(
                "max_position_qty",
                "the market's open interest and resting orders at the highest price it can still see would exceed 1e11 USD of notional; lower max_price or wait for positions to close",
            ));
        }
        Ok(())
    }
}

pub(super) fn validate_price(price: Price, p: &MarketParams) -> Result<(), Reject> {
    let tick = p.tick_size.micros();
    if !price.is_positive() {
        return Err(Reject::PriceNotPositive(price));
    }
    if price.micros() % tick != 0 {
        return Err(Reject::PriceNotOnTick {
            price,
            tick: p.tick_size,
        });
    }
    if price > p.max_price {
        return Err(Reject::PriceOutOfRange {
            price,
            max: p.max_price,
        });
    }
    Ok(())
}

fn invalid(name: &'static str, reason: impl Into<String>) -> Reject {
    Reject::InvalidParam {
        name,
        reason: reason.into(),
    }
}

/// Check a market's parameters for sense and for the arithmetic bounds.
pub fn validate_params(p: &MarketParams) -> Result<(), Reject> {
    let frac = |v: Ppm| v.raw() > 0 && v.raw() <= PPM_ONE;
    if p.symbol.is_empty() || p.symbol.len() > 32 {
        return Err(invalid("symbol", "must be 1 to 32 characters"));
    }
    if !p.tick_size.is_positive() || p.tick_size.micros() > limits::MAX_PRICE_MICROS {
        return Err(invalid("tick_size", "must be in (0, 1e9] USD"));
    }
    if p.lots_per_unit <= 0 || p.lots_per_unit > limits::MAX_LOTS_PER_UNIT {
        return Err(invalid("lots_per_unit", "must be in 1..=1e9"));
    }
    if !frac(p.maintenance) {
        return Err(invalid(
            "maintenance",
            "must be in (0, 1] (ppm in 1..=1000000)",
        ));
    }
    if p.initial_multiplier.raw() < PPM_ONE || p.initial_multiplier.raw() > 100 * PPM_ONE {
        return Err(invalid(
            "initial_multiplier",
            "must be between 1x and 100x (1000000..=100000000 ppm)",
        ));
    }
    if p.size_premium.raw() < 0 || p.size_premium.raw() > PPM_ONE {
        return Err(invalid("size_premium", "must be in [0, 1000000] ppm"));
    }
    if p.taker_fee.raw() < 0 || p.taker_fee.raw() > 100_000 {
        return Err(invalid("taker_fee", "must be in [0, 10%]"));
    }
    if p.maker_fee.raw() < -p.taker_fee.raw() || p.maker_fee.raw() > 100_000 {
        return Err(invalid(
            "maker_fee",
            "must be in [-taker_fee, 10%]: a rebate never exceeds the taker fee",
        ));
    }
    if p.funding_interval_ms == 0 || p.funding_interval_ms > limits::MAX_FUNDING_INTERVAL_MS {
        return Err(invalid(
            "funding_interval_ms",
            "must be in 1..=604800000 (one week)",
        ));
    }
    if p.funding_clamp.raw() < 0 || p.funding_clamp.raw() > PPM_ONE {
        return Err(invalid("funding_clamp", "must be in [0, 1000000] ppm"));
    }
    if !frac(p.trade_ema_alpha) {
        return Err(invalid("trade_ema_alpha", "must be in (0, 1]"));
    }
    if !p.impact_notional_usd.is_positive()
        || p.impact_notional_usd.micros() > limits::MAX_IMPACT_NOTIONAL_MICROS
    {
        return Err(invalid("impact_notional_usd", "must be in (0, 1e12] USD"));
    }
    if p.oracle_stale_ms > limits::MAX_DURATION_MS {
        return Err(invalid(
            "oracle_stale_ms",
            "must be at most 31536000000 (365 days)",
        ));
    }
    if !frac(p.market_order_band) || p.market_order_band.raw() >= PPM_ONE {
        return Err(invalid("market_order_band", "must be in (0, 1)"));
    }
    if !p.max_order_qty.is_positive() || !p.max_position_qty.is_positive() {
        return Err(invalid(
            "max_order_qty",
            "order and position limits must be positive",
        ));
    }
    let k = p.liquidation_end_multiplier.raw();
    if k < PPM_ONE || k > p.initial_multiplier.raw() {
        return Err(invalid(
            "liquidation_end_multiplier",
            "must be between 1x and the initial multiplier: liquidation starts at maintenance and must not demand more than initial margin",
        ));
    }
    if p.liquidation_penalty.raw() < 0 || p.liquidation_penalty.raw() > 100_000 {
        return Err(invalid("liquidation_penalty", "must be in [0, 10%]"));
    }
    if !frac(p.liquidation_band) || p.liquidation_band.raw() > 500_000 {
        return Err(invalid("liquidation_band", "must be in (0, 50%]"));
    }
    for (name, v) in [
        ("keeper_reward_share", p.keeper_reward_share),
        ("insurance_fee_share", p.insurance_fee_share),
    ] {
        if v.raw() < 0 || v.raw() > PPM_ONE {
            return Err(invalid(name, "must be in [0, 100%]"));
        }
    }
    if !p.max_price.is_positive() || p.max_price.micros() > limits::MAX_PRICE_MICROS {
        return Err(invalid("max_price", "must be in (0, 1e9] USD"));
    }
    let max_notional = mul_div(
        p.max_position_qty.lots(),
        p.max_price.micros(),
        p.lots_per_unit,
        Round::Ceil,
    );
    if !matches!(max_notional, Ok(n) if n <= limits::MAX_POSITION_NOTIONAL_MICROS) {
        return Err(invalid(
            "max_position_qty",
            "max_position_qty at max_price must stay within 1e11 USD of notional",
        ));
    }
    let max_order_notional = mul_div(
        p.max_order_qty.lots(),
        p.max_price.micros(),
        p.lots_per_unit,
        Round::Ceil,
    );
    if !matches!(max_order_notional, Ok(n) if n <= limits::MAX_ORDER_NOTIONAL_MICROS) {
        return Err(invalid(
            "max_order_qty",
            "max_order_qty at max_price must stay within 2e11 USD of notional",
        ));
    }
    if !p.initial_price.is_positive() || p.initial_price > p.max_price {
        return Err(invalid("initial_price", "must be in (0, max_price]"));
    }
    p.defences.validate()
}
