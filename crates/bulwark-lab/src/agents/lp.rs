//! Liquidity providers of the backstop vault: each deposits its capital into the vault at the
//! start and may later run, through the engine's own withdrawal path: a
//! `VaultRequestWithdrawal`, the venue's delay (`venue.vault_withdrawal_delay_ms`), then a
//! `VaultClaimWithdrawal` that pays the share price **at payout**, not at the request.
//!
//! An LP reads only public data: the vault's share price and shares outstanding
//! (`Engine::vault_state`), the withdrawal requests pending (on an on-chain vault each is a
//! public event), the venue's delay, and its own holding and request.
//!
//! Three kinds, drawn per LP:
//! * **threshold** LPs request a withdrawal once the share price has fallen by their own
//!   drawn share from the highest price they have seen (drawn per LP, so a run is gradual:
//!   the most nervous leave at the first loss, the rest as it deepens);
//! * **followers** request once others' withdrawals (pending requests plus shares already
//!   redeemed) reach `follow_outflow_frac` of the shares outstanding when they first looked;
//! * **holders** never leave (and never wake).
//!
//! A claim the engine refuses (a loss not yet booked, `Reject::UnbookedLoss`; the vault's free
//! collateral short of the payout, `Reject::InsufficientCollateral`) changes nothing; the LP
//! tries again `retry_s` later, for as long as the run lasts.

use bulwark_engine::{AccountId, Command, Usd};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{draw_lognormal, Action, Ctx};
use crate::scenario::LpParams;
use crate::venue::PublicVault;

/// A drawn drawdown threshold is clipped to this range: a fall of 0.1% (the noise of fees
/// and funding) at the least, 100% (never) at the most.
pub const MIN_DRAWDOWN_FRAC: f64 = 0.001;

/// What makes an LP leave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LpRule {
    /// Leave once the share price is this share below the highest price seen.
    Drawdown(f64),
    /// Leave once others' withdrawals reach this share of the shares first seen.
    Follow(f64),
    /// Never leave.
    Hold,
}

/// Where an LP stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpState {
    /// In the vault, watching (or, for a holder, not even that).
    Invested,
    /// A withdrawal of `shares` requested; waiting for the delay, then claiming until paid.
    Leaving { shares: u64 },
    /// Paid out.
    Left,
}

#[derive(Clone, Debug)]
pub struct Lp {
    pub account: AccountId,
    /// Collateral the LP puts into the vault at the start (set by the population's split).
    pub capital: Usd,
    /// Its drawn weight in the split of the LPs' total capital.
    pub weight: f64,
    pub rule: LpRule,
    pub state: LpState,
    withdraw_frac: f64,
    poll_ms: u64,
    retry_ms: u64,
    /// Highest share price seen (the drawdown rule's reference).
    peak_share_price: f64,
    /// Shares outstanding at the first look (the follow rule's reference).
    shares_at_start: Option<u64>,
    /// Claims sent (the first and every retry).
    pub claims_sent: u32,
    /// When the request went out, ms.
    pub requested_at_ms: Option<u64>,
}

impl Lp {
    /// Draws one LP's weight and rule. Its capital is set afterwards, when the population
    /// splits the LPs' total by weight.
    pub fn new(account: AccountId, p: &LpParams, rng: &mut ChaCha8Rng) -> Lp {
        let weight = draw_lognormal(
            rng,
            crate::scenario::LogNormal {
                median: 1.0,
                sigma: p.capital_sigma,
            },
        );
        let u: f64 = rng.gen();
        let drawdown = draw_lognormal(rng, p.drawdown_frac).clamp(MIN_DRAWDOWN_FRAC, 1.0);
        let rule = if u < p.threshold_share {
            LpRule::Drawdown(drawdown)
        } else if u < p.threshold_share + p.follow_share {
            LpRule::Follow(p.follow_outflow_frac)
        } else {
            LpRule::Hold
        };
        Lp {
            account,
            capital: Usd::ZERO,
            weight,
            rule,
            state: LpState::Invested,
            withdraw_frac: p.withdraw_frac,
            poll_ms: p.poll_s.saturating_mul(1000).max(1),
            retry_ms: p.retry_s.saturating_mul(1000).max(1),
            peak_share_price: 0.0,
            shares_at_start: None,
            claims_sent: 0,
            requested_at_ms: None,
        }
    }

    /// The deposit that opens the LP's venue account.
    pub fn initial_deposit(&self) -> Command {
        Command::Deposit {
            account: self.account,
            amount_usd: self.capital,
        }
    }

    /// The deposit of all of it into the vault, right after.
    pub fn vault_deposit(&self) -> Command {
        Command::VaultDeposit {
            account: self.account,
            amount_usd: self.capital,
        }
    }

    /// Whether the LP ever wakes (holders do not).
    pub fn watches(&self) -> bool {
        self.rule != LpRule::Hold
    }

    pub fn poll_ms(&self) -> u64 {
        self.poll_ms
    }

    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        match self.state {
            LpState::Invested => self.watch(ctx),
            LpState::Leaving { .. } => self.leave(ctx),
            LpState::Left => {}
        }
    }

    /// Looks at the public vault figures; requests a withdrawal if its rule says so.
    fn watch(&mut self, ctx: &mut Ctx) {
        let v = ctx.venue.vault();
        let held = ctx.venue.own_vault_shares(self.account);
        if held == 0 || v.total_shares == 0 {
            return; // Nothing to withdraw (a set-up the engine refused, or a wiped vault).
        }
        if self.decide(&v) {
            let shares = ((held as f64 * self.withdraw_frac).floor() as u64).clamp(1, held);
            ctx.out.push(Action::Send(Command::VaultRequestWithdrawal {
                account: self.account,
                shares,
            }));
            ctx.out.push(Action::Note("lp_run"));
            self.state = LpState::Leaving { shares };
            self.requested_at_ms = Some(ctx.now_ms);
        }
        ctx.out.push(Action::WakeAt(ctx.now_ms + self.poll_ms));
    }

    /// Whether the LP's rule says leave, given what it sees of the vault now (a pure step:
    /// it only updates what the LP remembers, the highest price and the first shares seen).
    pub fn decide(&mut self, v: &PublicVault) -> bool {
        self.peak_share_price = self.peak_share_price.max(v.share_price);
        let first = *self.shares_at_start.get_or_insert(v.total_shares);
        match self.rule {
            LpRule::Drawdown(d) => v.share_price <= self.peak_share_price * (1.0 - d),
            LpRule::Follow(frac) => {
                // Others' outflow: shares redeemed since the first look plus requests pending
                // (this LP has none pending while it is invested).
                let redeemed = first.saturating_sub(v.total_shares);
                let outflow = redeemed.saturating_add(v.pending_withdrawal_shares);
                outflow as f64 >= frac * first as f64
            }
            LpRule::Hold => false,
        }
    }

    /// Waits out the delay, then claims until the claim is paid.
    fn leave(&mut self, ctx: &mut Ctx) {
        let held = ctx.venue.own_vault_shares(self.account);
        match ctx.venue.own_vault_request(self.account) {
            Some(req) if ctx.now_ms < req.claimable_at_ms => {
                ctx.out.push(Action::WakeAt(req.claimable_at_ms));
            }
            Some(_) => {
                // Due: claim. A refusal changes nothing and the request stays; the next wake
                // finds it and claims again.
                ctx.out.push(Action::Send(Command::VaultClaimWithdrawal {
                    account: self.account,
                }));
                self.claims_sent += 1;
                ctx.out.push(Action::WakeAt(ctx.now_ms + self.retry_ms));
            }
            None if held == 0 || self.claims_sent > 0 => {
                // No request left after a claim: paid (the engine removes a paid request).
                self.state = LpState::Left;
            }
            None => {
                // The request has not reached the venue (on chain) or was refused: look
                // again, and ask anew if the rule still says so.
                self.state = LpState::Invested;
                self.requested_at_ms = None;
                ctx.out.push(Action::WakeAt(ctx.now_ms + self.poll_ms));
            }
        }
    }
}

#[cfg(test)]
mod tests;
