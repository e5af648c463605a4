//! Venue-wide figures the metrics read: the insurance fund, the backstop vault, hidden
//! insolvency. These are the venue's own books (what a risk team sees), not client queries,
//! so agents never use this module.

use bulwark_engine::Engine;

/// The insurance fund's balance, USD.
pub fn insurance_fund_usd(engine: &Engine) -> f64 {
    engine.insurance_usd().to_f64_lossy()
}

/// The backstop vault: (equity USD, share price as a ratio, 1.0 at par; 0 with no shares).
pub fn vault(engine: &Engine) -> (f64, f64) {
    let v = engine.vault_state();
    let share = if v.total_shares == 0 {
        0.0
    } else {
        v.share_price_ppm as f64 / 1e6
    };
    (v.health.equity_usd.to_f64_lossy(), share)
}

/// The backstop vault's books: (collateral USD, signed notional of its inventory at the
/// marks USD; positive when it holds longs).
pub fn vault_book(engine: &Engine) -> (f64, f64) {
    let account = &engine.vault().account;
    let inventory = account
        .positions
        .iter()
        .filter_map(|p| {
            let m = engine.market(p.market)?;
            let units = p.qty.lots() as f64 / m.params.lots_per_unit as f64;
            Some(units * m.mark.to_f64_lossy())
        })
        .fold(0.0, |a, b| a + b);
    (account.collateral_usd.to_f64_lossy(), inventory)
}

/// Sum of negative equity over every pool flagged negative: losses no liquidation has
/// reached yet (with no working liquidation, the venue's hidden insolvency).
pub fn negative_equity_usd(engine: &Engine) -> f64 {
    engine
        .flags()
        .iter()
        .filter(|(_, f)| f.negative_equity)
        .filter_map(|((a, s), _)| engine.health(*a, *s).ok())
        .map(|h| (-h.equity_usd.to_f64_lossy()).max(0.0))
        .fold(0.0, |a, b| a + b)
}

/// Loss no stage of the waterfall covered, as the engine books it.
pub fn engine_bad_debt_usd(engine: &Engine) -> f64 {
    engine.bad_debt_usd().to_f64_lossy()
}
