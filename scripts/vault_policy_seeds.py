#!/usr/bin/env python3
"""Run the default scenario over many seeds with the backstop vault's policy off, at its
defaults, and across a range of exposure limits; print medians and write runs.csv and an SVG
plot of vault loss against ADL notional.

A stop-gap until `bulwark lab sweep` exists (issue 11). Standard library only.

    cargo build --release -p bulwark
    python3 scripts/vault_policy_seeds.py --seeds 20 --out lab-out/vault-policy
"""

import argparse
import concurrent.futures as futures
import csv
import json
import os
import statistics
import subprocess
import sys

OFF = {
    # The vault before its policy existed: no unwinding, no exposure limit but its margin.
    "venue.vault_policy.unwind_depth_share": "0",
    "venue.vault_policy.max_market_exposure": "1000000000",
    "venue.vault_policy.max_total_exposure": "1000000000",
}


def configs():
    yield "off", OFF
    yield "default", {}
    for x in (1, 1.25, 1.33, 1.5, 2, 3, 5):
        yield f"exposure={x:g}x", {
            "venue.vault_policy.max_market_exposure": str(int(x * 1_000_000)),
            "venue.vault_policy.max_total_exposure": str(int(x * 1_000_000)),
        }
    for share in (100_000, 500_000):
        yield f"unwind_share={share / 1e4:g}%", {
            "venue.vault_policy.unwind_depth_share": str(share)
        }
    fast = {
        "venue.vault_policy.unwind_depth_share": "500000",
        "venue.vault_policy.unwind_interval_ms": "20000",
        "venue.vault_policy.unwind_band": "10000",
    }
    yield "fast_unwind", fast
    for x in (1, 1.1):
        yield f"fast_unwind+exposure={x:g}x", {
            **fast,
            "venue.vault_policy.max_market_exposure": str(int(x * 1_000_000)),
        }


def run(binary, out, name, sets, seed):
    folder = os.path.join(out, "runs", name.replace("%", "pct"), f"seed-{seed}")
    summary = os.path.join(folder, "summary.json")
    args = [binary, "lab", "run", "--quiet", "--out", folder, "--set", f"seed={seed}"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    # Resumable: a run already done with the same arguments and the same binary is not run
    # again.
    key = json.dumps([args, os.stat(binary).st_mtime_ns, os.stat(binary).st_size])
    key_file = os.path.join(folder, "run.key")
    done = os.path.exists(summary) and os.path.exists(key_file) and open(key_file).read() == key
    if not done:
        done_run = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done_run.returncode != 0:
            sys.exit(f"{' '.join(args)} failed:\n{done_run.stderr}")
        with open(key_file, "w") as f:
            f.write(key)
    with open(summary) as f:
        s = json.load(f)
    capital = s["vault"]["start_equity_usd"]
    return {
        "config": name,
        "seed": seed,
        "vault_loss_usd": -s["vault"]["pnl_usd"],
        "vault_loss_share": -s["vault"]["pnl_usd"] / capital if capital else 0.0,
        "adl_count": s["adl"]["count"],
        "adl_notional_usd": s["adl"]["notional_usd"],
        "bad_debt_usd": s["bad_debt"]["total_usd"],
        "insurance_paid_usd": s["bad_debt"]["insurance_usd"],
        "uncovered_usd": s["bad_debt"]["uncovered_usd"],
    }


def svg_scatter(points, path):
    """points: (label, x = ADL notional M USD, y = vault loss % of capital)."""
    w, h, pad = 640, 420, 60
    xs = [p[1] for p in points] or [1]
    ys = [p[2] for p in points] or [1]
    x_max, y_max = max(xs) * 1.15 or 1, max(ys) * 1.15 or 1

    def sx(x):
        return pad + x / x_max * (w - 2 * pad)

    def sy(y):
        return h - pad - y / y_max * (h - 2 * pad)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
        f'<text x="{w / 2}" y="{h - 15}" text-anchor="middle">median ADL notional (million USD)</text>',
        f'<text x="15" y="{h / 2}" transform="rotate(-90 15 {h / 2})" text-anchor="middle">median vault loss (% of capital)</text>',
        f'<text x="{w / 2}" y="25" text-anchor="middle" font-size="14">Vault loss against ADL notional, by vault policy</text>',
    ]
    for i in range(5):
        xv, yv = x_max * i / 4, y_max * i / 4
        out.append(f'<text x="{sx(xv)}" y="{h - pad + 18}" text-anchor="middle">{xv:.1f}</text>')
        out.append(f'<text x="{pad - 8}" y="{sy(yv) + 4}" text-anchor="end">{yv:.0f}</text>')
    y20 = sy(20)
    if 20 < y_max:
        out.append(f'<line x1="{pad}" y1="{y20}" x2="{w - pad}" y2="{y20}" stroke="#c33" stroke-dasharray="4 4"/>')
        out.append(f'<text x="{pad + 6}" y="{y20 - 5}" fill="#c33">20% of capital</text>')
    # Points at the same place (the default is one of the exposure limits) share one label;
    # a label that would overlap one already placed moves down a line.
    merged = {}
    for label, x, y in points:
        merged.setdefault((round(x, 6), round(y, 6)), []).append(label)
    placed = []
    for (x, y), labels in sorted(merged.items(), key=lambda kv: -kv[0][1]):
        colour = "#1971c2" if "default" in labels else "#868e96" if "off" in labels else "#2a6"
        lx, ly = sx(x) + 8, sy(y) - 6
        while any(abs(ly - py) < 14 and abs(lx - px) < 150 for px, py in placed):
            ly += 14
        placed.append((lx, ly))
        out.append(f'<circle cx="{sx(x)}" cy="{sy(y)}" r="5" fill="{colour}"/>')
        out.append(f'<text x="{lx}" y="{ly}">{" = ".join(labels)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/release/bulwark")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--out", default="lab-out/vault-policy")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--configs", help="comma-separated config names to run (default: all)")
    a = ap.parse_args()
    wanted = set(a.configs.split(",")) if a.configs else None
    chosen = [(n, s) for n, s in configs() if wanted is None or n in wanted]
    if not chosen:
        sys.exit(f"no config named {a.configs}; known: {', '.join(n for n, _ in configs())}")
    if not os.path.exists(a.bin):
        sys.exit(f"{a.bin} not found: run `cargo build --release -p bulwark` first")
    jobs = [(name, sets, seed) for name, sets in chosen for seed in range(1, a.seeds + 1)]
    with futures.ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda j: run(a.bin, a.out, *j), jobs))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "runs.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"{'config':<22}{'vault loss':>12}{'% capital':>11}{'ADL count':>11}"
          f"{'ADL notional':>15}{'bad debt':>12}{'uncovered':>11}   (medians over {a.seeds} seeds)")
    points = []
    for name, _ in chosen:
        r = [x for x in rows if x["config"] == name]
        med = {k: statistics.median(x[k] for x in r) for k in r[0] if k not in ("config", "seed")}
        print(f"{name:<22}{med['vault_loss_usd']:>12,.0f}{med['vault_loss_share'] * 100:>10.1f}%"
              f"{med['adl_count']:>11,.0f}{med['adl_notional_usd']:>15,.0f}"
              f"{med['bad_debt_usd']:>12,.0f}{med['uncovered_usd']:>11,.0f}")
        points.append((name, med["adl_notional_usd"] / 1e6, med["vault_loss_share"] * 100))
    svg_scatter(points, os.path.join(a.out, "vault_loss_vs_adl.svg"))
    print(f"wrote {a.out}/runs.csv and {a.out}/vault_loss_vs_adl.svg")


if __name__ == "__main__":
    main()
