#!/usr/bin/env python3
"""Print the ratio ebmscope / PyTorch for each workload from the JSON that
`ebmscope bench --json` and scripts/bench_torch.py --json write.

    python3 scripts/compare_table.py ebmscope.json torch.json [more-torch.json ...]
    python3 scripts/compare_table.py --merge OUT.json PART.json [PART.json ...]

--merge joins reports of one tool written by separate runs (one per net, as
scripts/gpu-bench.sh runs them) into one: the first part's header, every
part's workloads, each ebmscope workload marked with its part's
convolution kernels, and under `parts` each part's command, time, budget
and failure; the header names the kernels most parts ran.

A workload only one side measured (a bench that failed both ways, a
PyTorch run that failed) gets a row that says so, rather than none. A
workload the two sides ran with other chains or steps, or whose training
iteration came out more than 10 % faster than its own L Langevin steps
(the two figures were not taken in one state of the machine: too short a
run, or load), is named below its table: its ratios do not hold.
"""

import collections
import json
import sys


def load(path, tool=None):
    """The report at `path`; with `tool`, refused unless that tool wrote it."""
    with open(path) as f:
        report = json.load(f)
    if not isinstance(report, dict) or "workloads" not in report or "tool" not in report:
        raise SystemExit(f"{path}: not a benchmark report (JSON with `tool` and `workloads`)")
    if tool and report["tool"] != tool:
        raise SystemExit(f"{path}: {report['tool']}'s report where {tool}'s belongs: give ebmscope's "
                         "report first, then PyTorch's (see the usage at the top of this script)")
    return report


def merge(out, parts):
    reports = [load(p) for p in parts]
    # Each part's own command, time and budget, listed: the first part's
    # alone would claim the whole (its --only, say).
    own = ("command", "unix_time", "seconds", "failed")
    merged = {k: v for k, v in reports[0].items() if k not in own}
    merged["workloads"] = []
    merged["parts"] = [{k: r[k] for k in own if k in r} for r in reports]
    kernels = [r["conv_kernels"] for r in reports if "conv_kernels" in r]
    if kernels:
        # The first part may be a fallback; the header names the usual kernels.
        merged["conv_kernels"] = collections.Counter(kernels).most_common(1)[0][0]
    for r in reports:
        if r["tool"] != merged["tool"]:
            raise SystemExit(f"--merge: {r['tool']} and {merged['tool']} reports cannot be one")
        for w in r["workloads"]:
            if "conv_kernels" in r:
                w = dict(w, conv_kernels=r["conv_kernels"])
            merged["workloads"].append(w)
    with open(out, "w") as f:
        json.dump(merged, f, indent=2)


def main():
    if sys.argv[1:2] == ["--merge"]:
        if len(sys.argv) < 4:
            raise SystemExit(__doc__)
        return merge(sys.argv[2], sys.argv[3:])
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    ours = load(sys.argv[1], "ebmscope")
    print(f"ebmscope on {ours['adapter']}, convolutions {ours.get('conv_kernels', '-')}")
    for path in sys.argv[2:]:
        theirs = load(path, "pytorch")
        print(f"\nvs PyTorch {theirs['torch']} on {theirs['device']}{settings(theirs)}")
        # An unequal pairing says so: one side on a GPU, the other on the CPU.
        ours_cpu, theirs_cpu = ", Cpu," in ours["adapter"], theirs["device"].startswith("CPU")
        if ours_cpu != theirs_cpu:
            gpu_side, cpu_side = ("PyTorch", "ebmscope") if ours_cpu else ("ebmscope", "PyTorch")
            print(f"warning: {gpu_side} ran on a GPU and {cpu_side} on the CPU: these ratios compare "
                  "devices, not implementations (see `ebmscope info` and --device)")
        if "small" in ours and "small" in theirs and ours["small"] != theirs["small"]:
            print("warning: one side ran the small workloads (--small) and the other not")
        by_name = {w["name"]: w for w in theirs["workloads"]}
        print("| workload | ebmscope steps×chains/s | PyTorch | ratio | ebmscope it/s | PyTorch | ratio "
              "| ebmscope GFLOP/s (Langevin) | PyTorch |")
        print("|---|---|---|---|---|---|---|---|---|")
        ours_names = [w["name"] for w in ours["workloads"]]
        for w in ours["workloads"]:
            t = by_name.get(w["name"])
            # A workload timed with other convolution kernels than the report's (a
            # fallback after a failed check) says so.
            kernels = w.get("conv_kernels", ours.get("conv_kernels"))
            name = w["name"] if kernels == ours.get("conv_kernels") else f"{w['name']} ({kernels})"
            if w.get("fused_differs"):
                name += " (fused sampler ≠ layered, see log)"
            if t is None:
                print(f"| {name} | {w['langevin_steps_x_chains_per_s']:.0f} | not measured | - | "
                      f"{w['iterations_per_s']:.3f} | not measured | - | "
                      f"{w['langevin_gflop_per_s']:.2f} | - |")
                continue
            s_ratio = w["langevin_steps_x_chains_per_s"] / t["langevin_steps_x_chains_per_s"]
            i_ratio = w["iterations_per_s"] / t["iterations_per_s"]
            print(f"| {name} | {w['langevin_steps_x_chains_per_s']:.0f} | "
                  f"{t['langevin_steps_x_chains_per_s']:.0f} | {s_ratio:.2f}× | "
                  f"{w['iterations_per_s']:.3f} | {t['iterations_per_s']:.3f} | {i_ratio:.2f}× | "
                  f"{w['langevin_gflop_per_s']:.2f} | {t['langevin_gflop_per_s']:.2f} |")
        for t in theirs["workloads"]:
            if t["name"] not in ours_names:
                print(f"| {t['name']} | not measured | {t['langevin_steps_x_chains_per_s']:.0f} | - | "
                      f"not measured | {t['iterations_per_s']:.3f} | - | - | "
                      f"{t['langevin_gflop_per_s']:.2f} |")
        for w in ours["workloads"]:
            t = by_name.get(w["name"])
            if t and (t["chains"], t["steps"]) != (w["chains"], w["steps"]):
                print(f"warning: {w['name']}: ebmscope ran {w['chains']} chains × {w['steps']} steps, "
                      f"PyTorch {t['chains']} × {t['steps']}: not the same workload")
        for side, workloads in (("ebmscope", ours["workloads"]), ("PyTorch", theirs["workloads"])):
            for w in workloads:
                if w["name"] in by_name and w["name"] in ours_names:
                    faster = iteration_within_its_steps(w)
                    if faster:
                        print(f"warning: {side} {w['name']}: {faster}")
        memory_table(ours["workloads"], by_name)


# An iteration runs the L steps and a learning step more. Timed apart, the two
# figures differ by a few per cent on a quiet machine (5–7 % on this
# project's 2-core build machine, its CPU's clocks and caches): past 10 %,
# more than such noise.
ITERATION_SLACK = 0.10


def iteration_within_its_steps(w):
    """Why a workload's training figure contradicts its Langevin figure
    (an iteration faster than its own L steps), or None."""
    steps_ms = 1e3 * w["steps"] * w["chains"] / w["langevin_steps_x_chains_per_s"]
    iteration_ms = 1e3 / w["iterations_per_s"]
    if iteration_ms >= (1 - ITERATION_SLACK) * steps_ms:
        return None
    return (f"an iteration took {iteration_ms:.1f} ms, over 10 % less than its own {w['steps']} Langevin "
            f"steps ({steps_ms:.1f} ms): the two figures were not taken in one state of the machine (too "
            f"short a run, or load); time it again with more --seconds before reading its ratios")


def settings(report):
    """The PyTorch run's settings and what they left TF32 at (CUDA only)."""
    tf32 = report.get("tf32")
    if tf32 is None:
        return ""
    on = lambda flag: "on" if flag else "off"
    # (Reports from before it was recorded: PyTorch's default, off.)
    cudnn = report.get("cudnn_benchmark")
    return (f", {report['settings']} settings: TF32 {on(tf32['convolutions'])} for convolutions, "
            f"{on(tf32['matmuls'])} for matmuls, cudnn.benchmark {on(cudnn)}")


def mib(memory, missing):
    return f"{memory['bytes'] / 2**20:.2f}" if memory else missing


def memory_table(ours, theirs_by_name):
    """Training memory on the device, the data set aside (ebmscope holds
    images as bytes, the PyTorch script as f32: each side's data set is
    left out so that the rest compares)."""
    print("\ntraining memory, the data set aside (MiB; ratio below 1: ebmscope holds less)\n")
    print("| workload | ebmscope | PyTorch | ratio |")
    print("|---|---|---|---|")
    for w in ours:
        m = w.get("training_memory")
        theirs = theirs_by_name.get(w["name"])
        t = theirs and theirs.get("training_memory")
        ratio = f"{m['bytes'] / t['bytes']:.2f}×" if m and t else "-"
        # (A report from before memory was counted has no such key.)
        ours_missing = "not counted on this backend" if "training_memory" in w else "not measured"
        theirs_missing = "not counted (CPU)" if theirs and "training_memory" in theirs else "not measured"
        print(f"| {w['name']} | {mib(m, ours_missing)} | {mib(t, theirs_missing)} | {ratio} |")

if __name__ == "__main__":
    main()
