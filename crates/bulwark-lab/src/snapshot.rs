//! Snapshots: a venue's accounts, positions, resting orders, insurance fund and vault as a
//! folder of files (format in `scenarios/README.md`, "Snapshots"), loaded into a fresh
//! engine through genesis commands, and written from an engine's state.
//!
//! - `accounts.csv`: `account_id,collateral_usd` (cross collateral);
//! - `positions.csv`: `account_id,market,qty_units,entry_price,mode,isolated_margin_usd`;
//! - `orders.csv` (optional): `account_id,market,side,price,qty_units`;
//! - `venue.json`: `insurance_fund_usd`, `vault_usd`, `external_account` (optional).
//!
//! Money and prices are decimal text read exactly (no float on this path); quantities are in
//! whole base units and must be a whole number of the market's lots. Every row is checked and
//! every problem reported at once, each naming its file, line and field. A market whose long
//! and short lots differ is an error unless `external_account` names the account that takes
//! the net: it gets the opposite position at the market's initial price (no unrealized PnL at
//! the start) and, unless `accounts.csv` lists it, collateral equal to that position's
//! notional at the initial price (a fully funded hedge, 1x).
//!
//! The commands (`Snapshot::genesis_commands`) deposit each account's collateral, book every
//! position (`GenesisPosition`), end genesis, then fund the insurance fund and the vault; the
//! resting orders follow once the markets are priced (`Snapshot::order_commands`, post-only,
//! so a snapshot's orders never trade on arrival).

mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use bulwark_engine::{
    AccountId, Command, GenesisPosition, MarginMode, MarketId, OrderKind, PlaceOrder, Price, Qty,
    SelfTrade, Side, Usd,
};
use serde::{Deserialize, Serialize};

pub use write::{write_snapshot, WriteError};

/// Most accounts one snapshot may hold (the engine's dense ids stay small).
pub const MAX_SNAPSHOT_ACCOUNTS: usize = 1_000_000;

/// What the loader needs to know of each market the run drives (engine id = index).
#[derive(Clone, Debug)]
pub struct MarketInfo {
    pub symbol: String,
    pub lots_per_unit: i64,
    pub tick_size: Price,
    pub initial_price: Price,
}

/// One problem in a snapshot: its file, line (1-based, the header is line 1; 0 for a whole-file
/// problem) and field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub file: &'static str,
    pub line: usize,
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}, {}: {}", self.file, self.field, self.message),
            l => write!(
                f,
                "{} line {l}, {}: {}",
                self.file, self.field, self.message
            ),
        }
    }
}

/// Every problem found, one per line of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError(pub Vec<RowError>);

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        write!(f, "bad snapshot:\n  {}", lines.join("\n  "))
    }
}

impl std::error::Error for SnapshotError {}

/// `venue.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueFile {
    /// The insurance fund's balance, USD (decimal string).
    #[serde(default)]
    pub insurance_fund_usd: Usd,
    /// The backstop vault's collateral, USD; the vault holds no positions in a snapshot.
    #[serde(default)]
    pub vault_usd: Usd,
    /// The account that takes each market's net open interest, if they do not balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_account: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapAccount {
    pub name: String,
    pub collateral_usd: Usd,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapPosition {
    /// Index into `Snapshot::accounts`.
    pub account: usize,
    pub market: MarketId,
    pub qty: Qty,
    pub entry_price: Price,
    pub mode: MarginMode,
    pub isolated_usd: Usd,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapOrder {
    pub account: usize,
    pub market: MarketId,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    /// The line in `orders.csv`, for messages about an order the engine refuses.
    pub line: usize,
}

/// A loaded, validated snapshot (the external account's net positions included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub accounts: Vec<SnapAccount>,
    pub positions: Vec<SnapPosition>,
    pub orders: Vec<SnapOrder>,
    pub venue: VenueFile,
}

impl Snapshot {
    /// Load and validate the snapshot in `dir` against the run's markets.
    pub fn load(dir: &Path, markets: &[MarketInfo]) -> Result<Snapshot, SnapshotError> {
        let mut errs = Vec::new();
        let venue = read_venue(dir, &mut errs);
        let accounts = read_accounts(dir, &mut errs);
        let index: BTreeMap<&str, usize> = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        let positions = read_positions(dir, markets, &index, &mut errs);
        let orders = read_orders(dir, markets, &index, &mut errs);
        if !errs.is_empty() {
            return Err(SnapshotError(errs));
        }
        let mut s = Snapshot {
            accounts,
            positions,
            orders,
            venue,
        };
        s.balance(markets)?;
        Ok(s)
    }

    /// Give each market's net lots to the external account, or report the markets that do
    /// not balance.
    fn balance(&mut self, markets: &[MarketInfo]) -> Result<(), SnapshotError> {
        let mut net = vec![0i128; markets.len()];
        for p in &self.positions {
            net[p.market.0 as usize] += p.qty.lots() as i128;
        }
        let unbalanced: Vec<usize> = (0..markets.len()).filter(|&i| net[i] != 0).collect();
        if unbalanced.is_empty() {
            return Ok(());
        }
        let Some(name) = self.venue.external_account.clone() else {
            let errs = unbalanced
                .iter()
                .map(|&i| RowError {
                    file: "positions.csv",
                    line: 0,
                    field: "qty_units",
                    message: format!(
                        "market {}: long and short differ by {} lots; name an \
                         `external_account` in venue.json to take the net",
                        markets[i].symbol, net[i]
                    ),
                })
                .collect();
            return Err(SnapshotError(errs));
        };
        let listed = self.accounts.iter().position(|a| a.name == name);
        let account = listed.unwrap_or(self.accounts.len());
        let mut funding = 0i128;
        for &i in &unbalanced {
            let m = &markets[i];
            let err = |message: String| {
                SnapshotError(vec![RowError {
                    file: "venue.json",
                    line: 0,
                    field: "external_account",
                    message,
                }])
            };
            if self
                .positions
                .iter()
                .any(|p| p.account == account && p.market.0 as usize == i)
            {
                return Err(err(format!(
                    "`{name}` already holds a position in {}: the external account takes the \
                     net of a market it has no position in",
                    m.symbol
                )));
            }
            let qty = i64::try_from(-net[i])
                .map_err(|_| err(format!("the net of {} is beyond a position", m.symbol)))?;
            funding += notional_micros(qty, m.initial_price, m.lots_per_unit);
            self.positions.push(SnapPosition {
                account,
                market: MarketId(i as u16),
                qty: Qty::from_lots(qty),
                entry_price: m.initial_price,
                mode: MarginMode::Cross,
                isolated_usd: Usd::ZERO,
            });
        }
        if listed.is_none() {
            let collateral_usd = i64::try_from(funding).map(Usd::from_micros).map_err(|_| {
                SnapshotError(vec![RowError {
                    file: "venue.json",
                    line: 0,
                    field: "external_account",
                    message: format!("the collateral `{name}` needs is beyond range"),
                }])
            })?;
            self.accounts.push(SnapAccount {
                name,
                collateral_usd,
            });
        }
        Ok(())
    }

    /// The commands that book the snapshot, accounts numbered from `first_account`: each
    /// account's deposit (cross collateral plus its isolated margins), every position, the
    /// end of genesis, then the insurance fund (through `treasury`) and the vault (through
    /// `lp`). Apply them before any oracle price.
    pub fn genesis_commands(
        &self,
        first_account: u32,
        treasury: AccountId,
        lp: AccountId,
    ) -> Vec<Command> {
        let id = |i: usize| AccountId(first_account + i as u32);
        let mut deposits = vec![0i64; self.accounts.len()];
        for (i, a) in self.accounts.iter().enumerate() {
            deposits[i] = a.collateral_usd.micros();
        }
        for p in &self.positions {
            deposits[p.account] = deposits[p.account].saturating_add(p.isolated_usd.micros());
        }
        let mut cmds: Vec<Command> = deposits
            .iter()
            .enumerate()
            .filter(|(_, &d)| d > 0)
            .map(|(i, &d)| Command::Deposit {
                account: id(i),
                amount_usd: Usd::from_micros(d),
            })
            .collect();
        cmds.extend(self.positions.iter().map(|p| {
            Command::GenesisPosition(GenesisPosition {
                account: id(p.account),
                market: p.market,
                qty: p.qty,
                entry_price: p.entry_price,
                margin: p.mode,
                isolated_usd: p.isolated_usd,
            })
        }));
        if !self.positions.is_empty() {
            cmds.push(Command::EndGenesis);
        }
        let funds = [
            (treasury, self.venue.insurance_fund_usd, true),
            (lp, self.venue.vault_usd, false),
        ];
        for (account, amount_usd, insurance) in funds {
            if amount_usd.is_positive() {
                cmds.push(Command::Deposit {
                    account,
                    amount_usd,
                });
                cmds.push(match insurance {
                    true => Command::InsuranceDeposit {
                        account,
                        amount_usd,
                    },
                    false => Command::VaultDeposit {
                        account,
                        amount_usd,
                    },
                });
            }
        }
        cmds
    }

    /// The resting orders, post-only, with the line each came from.
    pub fn order_commands(&self, first_account: u32) -> Vec<(usize, Command)> {
        self.orders
            .iter()
            .map(|o| {
                let cmd = Command::PlaceOrder(PlaceOrder {
                    account: AccountId(first_account + o.account as u32),
                    market: o.market,
                    side: o.side,
                    kind: OrderKind::PostOnly,
                    price: Some(o.price),
                    qty: o.qty,
                    reduce_only: false,
                    self_trade: SelfTrade::CancelTaker,
                    margin: self.order_margin(o),
                });
                (o.line, cmd)
            })
            .collect()
    }

    /// An order rests on the pool of the account's position in its market (cross if none).
    fn order_margin(&self, o: &SnapOrder) -> MarginMode {
        self.positions
            .iter()
            .find(|p| p.account == o.account && p.market == o.market)
            .map_or(MarginMode::Cross, |p| p.mode)
    }
}

/// |qty| x price / lots_per_unit in micro-USD, rounded up.
fn notional_micros(qty: i64, price: Price, lots_per_unit: i64) -> i128 {
    let n = (qty as i128).abs() * price.micros() as i128;
    let l = lots_per_unit as i128;
    (n + l - 1) / l
}

fn read_venue(dir: &Path, errs: &mut Vec<RowError>) -> VenueFile {
    let err = |field: &'static str, message: String| RowError {
        file: "venue.json",
        line: 0,
        field,
        message,
    };
    let text = match std::fs::read_to_string(dir.join("venue.json")) {
        Ok(t) => t,
        Err(e) => {
            errs.push(err("file", format!("cannot read {}: {e}", dir.display())));
            return VenueFile::default();
        }
    };
    let v: VenueFile = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            errs.push(err("json", e.to_string()));
            return VenueFile::default();
        }
    };
    for (field, amount) in [
        ("insurance_fund_usd", v.insurance_fund_usd),
        ("vault_usd", v.vault_usd),
    ] {
        if amount.is_negative() {
            errs.push(err(field, format!("{amount} is negative")));
        }
    }
    if let Some(name) = &v.external_account {
        if let Err(m) = check_name(name) {
            errs.push(err("external_account", m));
        }
    }
    v
}

/// The rows of a CSV file with exactly `header`, as (line, fields); `None` if the file is
/// absent and `optional`.
fn read_rows(
    dir: &Path,
    file: &'static str,
    header: &[&str],
    optional: bool,
    errs: &mut Vec<RowError>,
) -> Vec<(usize, Vec<String>)> {
    let path = dir.join(file);
    let err = |line, field, message| RowError {
        file,
        line,
        field,
        message,
    };
    if optional && !path.exists() {
        return Vec::new();
    }
    let mut r = match csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&path)
    {
        Ok(r) => r,
        Err(e) => {
            errs.push(err(
                0,
                "file",
                format!("cannot read {}: {e}", path.display()),
            ));
            return Vec::new();
        }
    };
    match r.headers() {
        Ok(h) if h.iter().eq(header.iter().copied()) => {}
        Ok(h) => {
            let found: Vec<&str> = h.iter().collect();
            errs.push(err(
                1,
                "header",
                format!(
                    "expected `{}`, found `{}`",
                    header.join(","),
                    found.join(",")
                ),
            ));
            return Vec::new();
        }
        Err(e) => {
            errs.push(err(1, "header", e.to_string()));
            return Vec::new();
        }
    }
    let mut rows = Vec::new();
    for (k, rec) in r.records().enumerate() {
        let line = k + 2;
        match rec {
            Ok(rec) if rec.len() == header.len() => {
                rows.push((line, rec.iter().map(str::to_string).collect()))
            }
            Ok(rec) => errs.push(err(
                line,
                "row",
                format!("{} fields, expected {}", rec.len(), header.len()),
            )),
            Err(e) => errs.push(err(line, "row", e.to_string())),
        }
        if rows.len() > MAX_SNAPSHOT_ACCOUNTS * 4 {
            errs.push(err(line, "row", "too many rows".into()));
            break;
        }
    }
    rows
}

/// An account id: 1 to 64 characters of letters, digits, `-`, `_` or `.`.
fn check_name(s: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{s}` is not an account id (1 to 64 letters, digits, '-', '_' or '.')"
        )),
    }
}

/// A parsed field, or the problem with it.
type Field<T> = Result<T, (&'static str, String)>;

fn money(field: &'static str, s: &str, allow_zero: bool) -> Field<Usd> {
    let v: Usd = s.parse().map_err(|e| {
        (
            field,
            format!("`{s}`: {e} (write a decimal such as 1250.5)"),
        )
    })?;
    if v.is_negative() || (!allow_zero && v.is_zero()) {
        let want = if allow_zero { ">= 0" } else { "> 0" };
        return Err((field, format!("{v} must be {want}")));
    }
    Ok(v)
}

fn price(field: &'static str, s: &str) -> Field<Price> {
    let p: Price = s.parse().map_err(|e| {
        (
            field,
            format!("`{s}`: {e} (write a decimal such as 50000.5)"),
        )
    })?;
    if !p.is_positive() {
        return Err((field, format!("{p} must be > 0")));
    }
    Ok(p)
}

/// Whole base units as lots of the market: exact, or an error.
fn units(field: &'static str, s: &str, lots_per_unit: i64, signed: bool) -> Field<Qty> {
    let micros = s
        .parse::<Usd>()
        .map_err(|e| (field, format!("`{s}`: {e} (units, e.g. 0.25)")))?
        .micros() as i128;
    let scaled = micros * lots_per_unit as i128;
    if scaled % 1_000_000 != 0 {
        return Err((
            field,
            format!("{s} is not a whole number of lots ({lots_per_unit} lots a unit)"),
        ));
    }
    let lots =
        i64::try_from(scaled / 1_000_000).map_err(|_| (field, format!("{s} is too large")))?;
    if lots == 0 || (!signed && lots < 0) {
        let want = if signed { "non-zero" } else { "> 0" };
        return Err((field, format!("{s} must be {want}")));
    }
    Ok(Qty::from_lots(lots))
}

fn market_of(s: &str, markets: &[MarketInfo]) -> Field<MarketId> {
    markets
        .iter()
        .position(|m| m.symbol == s)
        .map(|i| MarketId(i as u16))
        .ok_or_else(|| {
            let known: Vec<&str> = markets.iter().map(|m| m.symbol.as_str()).collect();
            (
                "market",
                format!("unknown market `{s}` (the run's: {})", known.join(", ")),
            )
        })
}

fn account_of(s: &str, index: &BTreeMap<&str, usize>) -> Field<usize> {
    index
        .get(s)
        .copied()
        .ok_or_else(|| ("account_id", format!("`{s}` is not in accounts.csv")))
}

fn push_err(errs: &mut Vec<RowError>, file: &'static str, line: usize, e: (&'static str, String)) {
    errs.push(RowError {
        file,
        line,
        field: e.0,
        message: e.1,
    });
}

fn read_accounts(dir: &Path, errs: &mut Vec<RowError>) -> Vec<SnapAccount> {
    const F: &str = "accounts.csv";
    let rows = read_rows(dir, F, &["account_id", "collateral_usd"], false, errs);
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for (line, r) in rows {
        let parsed = (|| -> Field<SnapAccount> {
            check_name(&r[0]).map_err(|m| ("account_id", m))?;
            if let Some(first) = seen.insert(r[0].clone(), line) {
                return Err((
                    "account_id",
                    format!("`{}` again (first on line {first})", r[0]),
                ));
            }
            let collateral_usd = money("collateral_usd", &r[1], true)?;
            Ok(SnapAccount {
                name: r[0].clone(),
                collateral_usd,
            })
        })();
        match parsed {
            Ok(a) => out.push(a),
            Err(e) => push_err(errs, F, line, e),
        }
    }
    if out.len() > MAX_SNAPSHOT_ACCOUNTS {
        let message = format!("{} accounts, at most {MAX_SNAPSHOT_ACCOUNTS}", out.len());
        push_err(errs, F, 0, ("account_id", message));
    }
    out
}

fn read_positions(
    dir: &Path,
    markets: &[MarketInfo],
    index: &BTreeMap<&str, usize>,
    errs: &mut Vec<RowError>,
) -> Vec<SnapPosition> {
    const F: &str = "positions.csv";
    let header = [
        "account_id",
        "market",
        "qty_units",
        "entry_price",
        "mode",
        "isolated_margin_usd",
    ];
    let rows = read_rows(dir, F, &header, false, errs);
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for (line, r) in rows {
        let parsed = (|| -> Field<SnapPosition> {
            let account = account_of(&r[0], index)?;
            let market = market_of(&r[1], markets)?;
            if let Some(first) = seen.insert((account, market), line) {
                let m = format!(
                    "a second position of `{}` in {} (first on line {first})",
                    r[0], r[1]
                );
                return Err(("market", m));
            }
            let lpu = markets[market.0 as usize].lots_per_unit;
            let qty = units("qty_units", &r[2], lpu, true)?;
            let entry_price = price("entry_price", &r[3])?;
            let mode = match r[4].as_str() {
                "cross" => MarginMode::Cross,
                "isolated" => MarginMode::Isolated,
                other => return Err(("mode", format!("`{other}`: write cross or isolated"))),
            };
            let isolated_usd = money("isolated_margin_usd", &r[5], true)?;
            if mode == MarginMode::Cross && !isolated_usd.is_zero() {
                let m = format!("{isolated_usd} on a cross position: write 0");
                return Err(("isolated_margin_usd", m));
            }
            Ok(SnapPosition {
                account,
                market,
                qty,
                entry_price,
                mode,
                isolated_usd,
            })
        })();
        match parsed {
            Ok(p) => out.push(p),
            Err(e) => push_err(errs, F, line, e),
        }
    }
    out
}

fn read_orders(
    dir: &Path,
    markets: &[MarketInfo],
    index: &BTreeMap<&str, usize>,
    errs: &mut Vec<RowError>,
) -> Vec<SnapOrder> {
    const F: &str = "orders.csv";
    let header = ["account_id", "market", "side", "price", "qty_units"];
    let rows = read_rows(dir, F, &header, true, errs);
    let mut out = Vec::new();
    for (line, r) in rows {
        let parsed = (|| -> Field<SnapOrder> {
            let account = account_of(&r[0], index)?;
            let market = market_of(&r[1], markets)?;
            let m = &markets[market.0 as usize];
            let side = match r[2].as_str() {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                other => return Err(("side", format!("`{other}`: write buy or sell"))),
            };
            let price = price("price", &r[3])?;
            if price.micros() % m.tick_size.micros() != 0 {
                let msg = format!("{price} is not on the tick grid ({})", m.tick_size);
                return Err(("price", msg));
            }
            let qty = units("qty_units", &r[4], m.lots_per_unit, false)?;
            Ok(SnapOrder {
                account,
                market,
                side,
                price,
                qty,
                line,
            })
        })();
        match parsed {
            Ok(o) => out.push(o),
            Err(e) => push_err(errs, F, line, e),
        }
    }
    out
}
