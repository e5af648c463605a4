#!/usr/bin/env python3
"""Run the default scenario at several congestion levels (`chain.gas_scale`) over a few seeds
and print, per level, the medians of peak and mean gas against bad debt and keeper failure.

A stop-gap until `bulwark lab sweep` plots it (issue 11). Standard library only.

    cargo build --release -p bulwark
    python3 scripts/gas_congestion_seeds.py --seeds 5 --out lab-out/gas-congestion
"""

import argparse
import concurrent.futures as futures
import json
import os
import statistics
import subprocess

SCALES = (0.5, 1, 1.5, 2, 3, 4)


def run(binary, out, scale, seed):
    folder = os.path.join(out, f"scale-{scale:g}", f"seed-{seed}")
    args = [binary, "lab", "run", "--quiet", "--out", folder,
            "--set", f"seed={seed}", "--set", f"chain.gas_scale={scale}"]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(folder, "summary.json")) as f:
        s = json.load(f)
    c, b, liq = s["chain"], s["bad_debt"], s["liquidations"]
    return scale, {
        "peak_gwei": c["max_paid_gwei"],
        "mean_gwei": c["mean_paid_gwei"],
        "bad_debt_usd": b["total_usd"],
        "unresolved_usd": b["unresolved_negative_equity_usd"],
        "loss_usd": s["losses"]["total_usd"],
        "liquidations": liq["count"],
        "priced_out": c["keeper_priced_out"],
        "keeper_delay_s": c["keeper_delay_mean_s"],
        "keeper_gas_usd": c["keeper_gas_spent_usd"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="lab-out/gas-congestion")
    ap.add_argument("--binary", default="target/release/bulwark")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    jobs = [(s, seed) for s in SCALES for seed in range(1, a.seeds + 1)]
    rows = {s: [] for s in SCALES}
    with futures.ThreadPoolExecutor(a.jobs) as pool:
        for scale, r in pool.map(lambda j: run(a.binary, a.out, *j), jobs):
            rows[scale].append(r)
    cols = list(rows[SCALES[0]][0].keys())
    print(f"medians over {a.seeds} seeds")
    print("| gas_scale | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for s in SCALES:
        med = [statistics.median(r[c] for r in rows[s]) for c in cols]
        print(f"| {s:g} | " + " | ".join(f"{v:,.1f}" for v in med) + " |")


if __name__ == "__main__":
    main()
