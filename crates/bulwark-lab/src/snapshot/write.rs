//! Writing an engine's state as a snapshot folder (the format `Snapshot::load` reads).
//!
//! What a snapshot keeps: every account with collateral, a position or a resting order (in
//! account-id order), its cross collateral and each position's lots, entry, mode and
//! isolated margin; the books' resting orders in priority order; the insurance fund; the
//! vault's collateral. Funding and socialized loss still pending on a position are settled
//! into its pool as written (equity is unchanged). What it drops: realized PnL, fees and
//! funding totals, order ids and sequence numbers, flags, the fee pool and recorded bad debt
//! (history, not state a crash acts on), and LPs' vault shares. A vault that holds positions
//! is written as an ordinary account named `vault` with them and its collateral.
//!
//! Entries: a position's cost basis `c` over `q` lots is written as the entry
//! `ceil(|c| x lots_per_unit / |q|)` micro-USD, which books a cost of at least `|c|` (a long
//! pays, a short receives, at most one micro-USD per unit more) and is a fixed point: writing
//! the state a snapshot loads into gives back the same files.

use std::fmt::Write as _;
use std::path::Path;

use bulwark_engine::{Account, AccountId, Engine, MarginMode, Market, Side, Usd, VAULT};

use super::VenueFile;

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("account {account}: {what} is negative ({amount} USD), a loss not yet booked; take the snapshot at another time")]
    Negative {
        account: String,
        what: &'static str,
        amount: Usd,
    },
    #[error("market {symbol}: {lots} lots ({lots_per_unit} a unit) are not a whole number of micro-units")]
    Units {
        symbol: String,
        lots: i64,
        lots_per_unit: i64,
    },
    #[error("{0}")]
    Engine(String),
}

/// Write `engine`'s state into `dir` (created if absent; the four files replaced). `name`
/// gives each account's id in the files.
pub fn write_snapshot(
    engine: &Engine,
    dir: &Path,
    name: &dyn Fn(AccountId) -> String,
) -> Result<(), WriteError> {
    let vault = &engine.vault().account;
    let vault_row = !vault.positions.is_empty();
    let mut rows: Vec<(AccountId, &Account, String)> = engine
        .accounts()
        .iter()
        .enumerate()
        .filter(|(_, a)| a.active && !is_empty(a))
        .map(|(i, a)| (AccountId(i as u32), a, name(AccountId(i as u32))))
        .collect();
    if vault_row {
        rows.push((VAULT, vault, "vault".to_string()));
    }
    let mut accounts = String::from("account_id,collateral_usd\n");
    let mut positions =
        String::from("account_id,market,qty_units,entry_price,mode,isolated_margin_usd\n");
    for (id, a, n) in &rows {
        let mut cross = a.collateral_usd.micros() as i128;
        let mut lines = Vec::new();
        for p in &a.positions {
            let pending = engine
                .pending(*id, p.market)
                .map_err(|r| WriteError::Engine(r.to_string()))?;
            let owed = pending.funding_usd.micros() as i128 + pending.loss_usd.micros() as i128;
            let mut isolated = p.isolated_usd.micros() as i128;
            match p.mode {
                MarginMode::Cross => cross -= owed,
                MarginMode::Isolated => isolated -= owed,
            }
            if p.qty.is_zero() {
                // An idle isolated entry funded ahead of trading: its margin goes to cross.
                cross += isolated;
                continue;
            }
            let m = market(engine, p.market)?;
            let isolated = usd(isolated, n, "isolated margin")?;
            let lpu = m.params.lots_per_unit;
            let q = p.qty.lots().unsigned_abs() as i128;
            let entry = (p.cost_usd.micros().unsigned_abs() as i128 * lpu as i128 + q - 1) / q;
            let mode = match p.mode {
                MarginMode::Cross => "cross",
                MarginMode::Isolated => "isolated",
            };
            lines.push(format!(
                "{n},{},{},{},{mode},{isolated}\n",
                m.params.symbol,
                units(m, p.qty.lots())?,
                Usd::from_micros(entry_micros(entry)?),
            ));
        }
        let cross = usd(cross, n, "cross collateral")?;
        let _ = writeln!(accounts, "{n},{cross}");
        positions.extend(lines);
    }
    let mut orders = String::from("account_id,market,side,price,qty_units\n");
    for m in engine.markets() {
        for side in [Side::Buy, Side::Sell] {
            for o in m.book.orders_in_priority(side) {
                let n = rows
                    .iter()
                    .find(|r| r.0 == o.account)
                    .map(|r| r.2.as_str())
                    .ok_or_else(|| WriteError::Engine(format!("order {:?}: no account", o.id)))?;
                let side = if side == Side::Buy { "buy" } else { "sell" };
                let qty = units(m, o.remaining.lots())?;
                let _ = writeln!(orders, "{n},{},{side},{},{qty}", m.params.symbol, o.price);
            }
        }
    }
    let venue = VenueFile {
        insurance_fund_usd: engine.insurance_usd(),
        vault_usd: if vault_row {
            Usd::ZERO
        } else {
            vault.collateral_usd.max(Usd::ZERO)
        },
        external_account: None,
    };
    let venue =
        serde_json::to_string_pretty(&venue).map_err(|e| WriteError::Engine(e.to_string()))? + "\n";
    std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
    for (file, text) in [
        ("accounts.csv", accounts),
        ("positions.csv", positions),
        ("orders.csv", orders),
        ("venue.json", venue),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|source| io(&path, source))?;
    }
    Ok(())
}

fn is_empty(a: &Account) -> bool {
    a.collateral_usd.is_zero() && a.positions.is_empty() && a.orders.is_empty()
}

fn io(path: &Path, source: std::io::Error) -> WriteError {
    WriteError::Io {
        file: path.display().to_string(),
        source,
    }
}

fn market(engine: &Engine, id: bulwark_engine::MarketId) -> Result<&Market, WriteError> {
    engine
        .market(id)
        .ok_or_else(|| WriteError::Engine(format!("unknown market {id:?}")))
}

fn usd(v: i128, account: &str, what: &'static str) -> Result<Usd, WriteError> {
    let amount = Usd::from_micros(
        i64::try_from(v)
            .map_err(|_| WriteError::Engine(format!("account {account}: {what} out of range")))?,
    );
    if amount.is_negative() {
        return Err(WriteError::Negative {
            account: account.to_string(),
            what,
            amount,
        });
    }
    Ok(amount)
}

fn entry_micros(v: i128) -> Result<i64, WriteError> {
    i64::try_from(v)
        .map_err(|_| WriteError::Engine(format!("entry price {v} micro-USD out of range")))
}

/// Lots as whole units, exactly (six decimals at most).
fn units(m: &Market, lots: i64) -> Result<Usd, WriteError> {
    let lpu = m.params.lots_per_unit;
    let micros = lots as i128 * 1_000_000;
    if micros % lpu as i128 != 0 {
        return Err(WriteError::Units {
            symbol: m.params.symbol.clone(),
            lots,
            lots_per_unit: lpu,
        });
    }
    i64::try_from(micros / lpu as i128)
        .map(Usd::from_micros)
        .map_err(|_| WriteError::Engine(format!("{lots} lots out of range")))
}
