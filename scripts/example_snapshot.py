#!/usr/bin/env python3
"""Writes scenarios/snapshots/example/: a 200-account BTC-PERP venue at the start of the
March-2020 shock (7,938.05 USD), for scenarios/snapshot_example.toml.

Deterministic (seed 20200312, Python's Mersenne Twister, stdlib only): run it again and the
files come out byte for byte the same. The distributions are stated in scenarios/README.md,
"Snapshots" (they are the lab's own synthetic-trader defaults, `[agents.traders]`, so a
snapshot run and a synthetic run can be compared; no venue publishes a per-account leverage
distribution this script could cite):

- collateral: lognormal, median 3,000 USD, sigma 1.0, clipped to [10, 1e7];
- leverage (notional / collateral at entry): lognormal, median 10, sigma 0.7, clipped to
  [1, 50];
- side: long with probability 0.55; margin: isolated with probability 0.2 (its margin is
  notional / leverage, the rest of the collateral stays in cross);
- entry: the start price times exp(N(0, 0.004)) (entries within about +-1%), rounded to
  0.01 USD; size rounded down to whole lots (0.001 BTC), accounts under one lot dropped;
- five resting-order accounts (100,000 USD each, no position) quote 0.5 BTC a side at
  0.5%, 1%, 2% from the start price;
- the net of longs and shorts is taken by the external account `street` (venue.json), at
  the start price, funded 1x by the loader;
- insurance fund 1,000,000 USD (the default scenario's seed), vault 2,000,000 USD.
"""
import json
import math
import os
import random

START = 7938.05
OUT = os.path.join(os.path.dirname(__file__), "..", "scenarios", "snapshots", "example")


def lognormal(rng, median, sigma, lo, hi):
    return min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma))))


def main():
    rng = random.Random(20200312)
    accounts, positions, orders = [], [], []
    for i in range(200):
        name = f"t{i:03d}"
        collateral = round(lognormal(rng, 3000.0, 1.0, 10.0, 1e7), 2)
        leverage = lognormal(rng, 10.0, 0.7, 1.0, 50.0)
        long = rng.random() < 0.55
        isolated = rng.random() < 0.2
        entry = round(START * math.exp(rng.gauss(0.0, 0.004)), 2)
        lots = int(collateral * leverage / entry * 1000)
        if lots < 1:
            continue
        qty = lots / 1000.0 * (1 if long else -1)
        margin = round(lots / 1000.0 * entry / leverage, 2) if isolated else 0.0
        margin = min(margin, collateral)
        accounts.append((name, round(collateral - margin, 2)))
        mode = "isolated" if isolated else "cross"
        positions.append((name, "BTC-PERP", f"{qty:.3f}", f"{entry:.2f}", mode, f"{margin:.2f}"))
    for k in range(5):
        name = f"mm{k}"
        accounts.append((name, 100000.0))
        for off in (0.005, 0.01, 0.02):
            bid = math.floor(START * (1 - off) * 10) / 10
            ask = math.ceil(START * (1 + off) * 10) / 10
            orders.append((name, "BTC-PERP", "buy", f"{bid:.1f}", "0.1"))
            orders.append((name, "BTC-PERP", "sell", f"{ask:.1f}", "0.1"))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "accounts.csv"), "w") as f:
        f.write("account_id,collateral_usd\n")
        for name, c in accounts:
            f.write(f"{name},{c:.2f}\n")
    with open(os.path.join(OUT, "positions.csv"), "w") as f:
        f.write("account_id,market,qty_units,entry_price,mode,isolated_margin_usd\n")
        for row in positions:
            f.write(",".join(row) + "\n")
    with open(os.path.join(OUT, "orders.csv"), "w") as f:
        f.write("account_id,market,side,price,qty_units\n")
        for row in orders:
            f.write(",".join(row) + "\n")
    venue = {
        "insurance_fund_usd": "1000000",
        "vault_usd": "2000000",
        "external_account": "street",
    }
    with open(os.path.join(OUT, "venue.json"), "w") as f:
        f.write(json.dumps(venue, indent=2) + "\n")


if __name__ == "__main__":
    main()
