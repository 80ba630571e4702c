#!/usr/bin/env python3
"""Print the ratio ebmscope / PyTorch for each workload from the JSON that
`ebmscope bench --json` and scripts/bench_torch.py --json write.

    python3 scripts/compare_table.py ebmscope.json torch.json [more-torch.json ...]
"""

import json
import sys


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    ours = json.load(open(sys.argv[1]))
    print(f"ebmscope on {ours['adapter']}")
    for path in sys.argv[2:]:
        theirs = json.load(open(path))
        tf32 = "" if theirs.get("tf32") is None else f", TF32 {'on' if theirs['tf32'] else 'off'}"
        print(f"\nvs PyTorch {theirs['torch']} on {theirs['device']}{tf32}")
        by_name = {w["name"]: w for w in theirs["workloads"]}
        print("| workload | ebmscope steps×chains/s | PyTorch | ratio | ebmscope it/s | PyTorch | ratio "
              "| ebmscope GFLOP/s (Langevin) | PyTorch |")
        print("|---|---|---|---|---|---|---|---|---|")
        for w in ours["workloads"]:
            t = by_name.get(w["name"])
            if t is None:
                continue
            s_ratio = w["langevin_steps_x_chains_per_s"] / t["langevin_steps_x_chains_per_s"]
            i_ratio = w["iterations_per_s"] / t["iterations_per_s"]
            print(f"| {w['name']} | {w['langevin_steps_x_chains_per_s']:.0f} | "
                  f"{t['langevin_steps_x_chains_per_s']:.0f} | {s_ratio:.2f}× | "
                  f"{w['iterations_per_s']:.3f} | {t['iterations_per_s']:.3f} | {i_ratio:.2f}× | "
                  f"{w['langevin_gflop_per_s']:.2f} | {t['langevin_gflop_per_s']:.2f} |")


if __name__ == "__main__":
    main()
