#!/usr/bin/env python3
"""The workloads of `ebmscope bench` in PyTorch, for a side-by-side comparison.

Written from PAPER.md (the spec), not from ebmscope: ToyNet, VanillaNet and
NonlocalNet with LeakyReLU(0.05); the Langevin step of the reference code
(invariant form: x <- x - grad F(x) + eps * z, with r_t accumulated); a
training iteration of Algorithm 1 (a data batch, with eps_data noise for images, L
steps from uniform noise, the loss mean F(X+) - mean F(X-) scaled by 2/eps^2,
an Adam step). Prints the same figures as `ebmscope bench --json`:
Langevin steps x chains per second, iterations per second and GFLOP/s from
the same analytic counts (a multiply-add is 2), and on CUDA the training
memory: the peak of live tensors (torch.cuda.max_memory_allocated, cuDNN's
workspaces included) with the parameters, the data set aside (PyTorch keeps
no such count on the CPU).

PyTorch is a benchmark dependency only; scripts/compare.sh installs it into
its own environment.

    python3 scripts/bench_torch.py [--small] [--only NAME] [--device cpu|cuda]
                                   [--tf32 on|off] [--cudnn-benchmark]
                                   [--threads N] [--seconds S] [--json FILE]
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LEAK = 0.05
EPSILON = 0.01
DATA_NOISE = 0.03


class ToyNet(nn.Module):
    """2 -> 32 -> 64 -> 64 -> 64 -> 1 as 1x1 convolutions on [B, 2, 1, 1]."""

    def __init__(self):
        super().__init__()
        w = [2, 32, 64, 64, 64, 1]
        layers = []
        for i in range(5):
            layers.append(nn.Conv2d(w[i], w[i + 1], 1, 1, 0))
            if i < 4:
                layers.append(nn.LeakyReLU(LEAK))
        self.f = nn.Sequential(*layers)

    def forward(self, x):
        return self.f(x).view(x.shape[0])


class VanillaNet(nn.Module):
    def __init__(self, n_c, n_f):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(n_c, n_f, 3, 1, 1), nn.LeakyReLU(LEAK),
            nn.Conv2d(n_f, 2 * n_f, 4, 2, 1), nn.LeakyReLU(LEAK),
            nn.Conv2d(2 * n_f, 4 * n_f, 4, 2, 1), nn.LeakyReLU(LEAK),
            nn.Conv2d(4 * n_f, 8 * n_f, 4, 2, 1), nn.LeakyReLU(LEAK),
            nn.Conv2d(8 * n_f, 1, 4, 1, 0))

    def forward(self, x):
        return self.f(x).view(x.shape[0])


class NonLocalBlock(nn.Module):
    """Embedded Gaussian non-local block: theta, phi, g are 1x1 convolutions
    to C/2 channels, phi and g max-pooled 2x2; z = W(softmax(theta^T phi) g^T) + x,
    W a 1x1 convolution back to C channels, zero at initialisation."""

    def __init__(self, c):
        super().__init__()
        self.inter = max(1, c // 2)
        self.theta = nn.Conv2d(c, self.inter, 1)
        self.phi = nn.Sequential(nn.Conv2d(c, self.inter, 1), nn.MaxPool2d(2))
        self.g = nn.Sequential(nn.Conv2d(c, self.inter, 1), nn.MaxPool2d(2))
        self.W = nn.Conv2d(self.inter, c, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)

    def forward(self, x):
        b, _, h, w = x.shape
        theta = self.theta(x).view(b, self.inter, -1).transpose(1, 2)
        phi = self.phi(x).view(b, self.inter, -1)
        g = self.g(x).view(b, self.inter, -1).transpose(1, 2)
        attention = torch.softmax(theta @ phi, dim=-1)
        y = (attention @ g).transpose(1, 2).reshape(b, self.inter, h, w)
        return self.W(y) + x


class NonlocalNet(nn.Module):
    def __init__(self, n_c, n_f):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(n_c, n_f, 3, 1, 1), nn.LeakyReLU(LEAK), nn.MaxPool2d(2),
            NonLocalBlock(n_f),
            nn.Conv2d(n_f, 2 * n_f, 3, 1, 1), nn.LeakyReLU(LEAK), nn.MaxPool2d(2),
            NonLocalBlock(2 * n_f),
            nn.Conv2d(2 * n_f, 4 * n_f, 3, 1, 1), nn.LeakyReLU(LEAK), nn.MaxPool2d(2))
        self.fc = nn.Sequential(
            nn.Linear(4 * n_f * 4 * 4, 8 * n_f), nn.LeakyReLU(LEAK), nn.Linear(8 * n_f, 1))

    def forward(self, x):
        return self.fc(self.convs(x).reshape(x.shape[0], -1)).view(x.shape[0])


def workloads(small):
    """(name, net factory, input shape [C, H, W], chains, L): as ebmscope's."""
    if small:
        return [
            ("toy-small", ToyNet, [2, 1, 1], 100, 20),
            ("vanilla-8-small", lambda: VanillaNet(3, 8), [3, 32, 32], 16, 5),
            ("nonlocal-8-small", lambda: NonlocalNet(3, 8), [3, 32, 32], 16, 5),
        ]
    return [
        ("toy-L100", ToyNet, [2, 1, 1], 100, 100),
        ("toy-L500", ToyNet, [2, 1, 1], 100, 500),
        ("vanilla-32", lambda: VanillaNet(3, 32), [3, 32, 32], 100, 100),
        ("nonlocal-32", lambda: NonlocalNet(3, 32), [3, 32, 32], 100, 100),
    ]


def flops(net, shape, batch, device):
    """(forward, input gradient, parameter gradient, the first layer's input
    gradient) FLOPs for a batch, counted as ebmscope counts them:
    convolutions and linear layers 2 * outputs * fan-in each way; a
    non-local block's attention 2 * B * queries * keys * inter twice
    forward and four times backward."""
    counts = {"conv": 0.0, "attention": 0.0, "first": None}

    def conv_hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            f = 2.0 * out.numel() * m.in_channels * k
        else:
            f = 2.0 * out.numel() * m.in_features
        counts["conv"] += f
        if counts["first"] is None:
            counts["first"] = f

    def block_hook(m, inp, out):
        b, _, h, w = inp[0].shape
        counts["attention"] += 2.0 * b * (h * w) * ((h // 2) * (w // 2)) * m.inter

    handles = []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(conv_hook))
        if isinstance(m, NonLocalBlock):
            handles.append(m.register_forward_hook(block_hook))
    with torch.no_grad():
        net(torch.zeros([batch] + shape, device=device))
    for h in handles:
        h.remove()
    c, a = counts["conv"], counts["attention"]
    return c + 2 * a, c + 4 * a, c, counts["first"]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# Warm-up before each timed quantity: at least this many runs, and at least
# this long (or the whole budget, if shorter), so that lazy initialisation
# and the GPU's clocks have settled. ebmscope's bench warms up alike
# (src/bench.rs, time_reps).
WARM_UP_RUNS = 3
WARM_UP_SECONDS = 1.0


def time_reps(device, seconds, min_reps, run):
    warm_until = time.perf_counter() + min(WARM_UP_SECONDS, seconds)
    warm = 0
    while warm < WARM_UP_RUNS or time.perf_counter() < warm_until:
        run()
        sync(device)
        warm += 1
    start = time.perf_counter()
    reps = 0
    while reps < min_reps or time.perf_counter() - start < seconds:
        run()
        sync(device)
        reps += 1
    return (time.perf_counter() - start) / reps


def langevin(net, x, steps):
    """L steps of the reference code's Langevin (invariant form); returns the samples and r_t."""
    x = x.clone().requires_grad_(True)
    r = torch.zeros((), device=x.device)
    for _ in range(steps):
        grad = torch.autograd.grad(net(x).sum(), [x])[0]
        x.data += -grad + EPSILON * torch.randn_like(x)
        r += grad.view(grad.shape[0], -1).norm(dim=1).mean()
    return x.detach(), r / steps


def run_workload(name, make, shape, chains, steps, device, seconds):
    torch.manual_seed(123)
    net = make().to(device)
    fwd, ig, pg, _ = flops(net, shape, chains, device)
    fwd2, ig2, pg2, first2 = flops(net, shape, 2 * chains, device)
    step_flops = fwd + ig
    # The learning step's backward pass stops short of the input (no
    # gradient is asked of the data or the detached samples).
    iteration_flops = steps * step_flops + fwd2 + ig2 - first2 + pg2
    x0 = 2 * torch.rand([chains] + shape, device=device) - 1
    sample_s = time_reps(device, seconds, 2, lambda: langevin(net, x0, steps))

    data = 2 * torch.rand([1000] + shape, device=device) - 1
    optim = torch.optim.Adam(net.parameters(), lr=1e-4)
    # Training memory (CUDA): the peak of live tensors over the training
    # iterations above what lived before them (the data set among it), with
    # the parameters counted, as `ebmscope bench` counts its trainer. Taken
    # once the data set exists, so that its making's temporaries are not.
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        params = sum(p.element_size() * p.nelement() for p in net.parameters())
        base = torch.cuda.memory_allocated(device) - params

    # (The reference adds no noise to toy data: nor does ebmscope's toy workload.)
    data_noise = 0.0 if name.startswith("toy") else DATA_NOISE

    def iteration():
        idx = torch.randperm(data.shape[0], device=device)[:chains]
        x_q = data[idx] + data_noise * torch.randn_like(data[idx])
        x_s, _ = langevin(net, 2 * torch.rand([chains] + shape, device=device) - 1, steps)
        loss = (net(x_q).mean() - net(x_s).mean()) * 2 / EPSILON ** 2
        optim.zero_grad()
        loss.backward()
        optim.step()

    iteration_s = time_reps(device, seconds, 2, iteration)
    memory = None
    if device.type == "cuda":
        memory = {"bytes": torch.cuda.max_memory_allocated(device) - base,
                  "data_set_bytes": data.element_size() * data.nelement(),
                  # What PyTorch's caching allocator held at most (the data set,
                  # and memory freed but kept for reuse, included): nearer what
                  # ebmscope counts, every buffer it allocated.
                  "reserved_bytes": torch.cuda.max_memory_reserved(device)}
    return {
        "name": name,
        "chains": chains,
        "steps": steps,
        "step_gflop": step_flops * 1e-9,
        "iteration_gflop": iteration_flops * 1e-9,
        "langevin_steps_x_chains_per_s": steps * chains / sample_s,
        "langevin_gflop_per_s": steps * step_flops * 1e-9 / sample_s,
        "iterations_per_s": 1.0 / iteration_s,
        "iteration_gflop_per_s": iteration_flops * 1e-9 / iteration_s,
        "training_memory": memory,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", choices=["on", "off"], default=None,
                    help="CUDA only: allow TF32 matmuls/convolutions (default: PyTorch's own default)")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads (torch.set_num_threads; default: PyTorch's, one per core). "
                         "On a loaded machine one thread can outrun several")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="let cuDNN time its convolution algorithms first (torch.backends.cudnn."
                         "benchmark; off by default, as in the authors' code)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not 0 < args.seconds <= 86400:
        ap.error("--seconds must be a positive number of seconds, at most 86400 (a day)")
    if args.json:
        # Found now, not after the timings: a folder that is not there, or one it cannot write in.
        folder = os.path.dirname(args.json) or "."
        if os.path.isdir(args.json):
            ap.error(f"--json: {args.json} is a folder; name a file in it")
        if not os.path.isdir(folder):
            ap.error(f"--json: folder {folder} does not exist (create it first)")
        if not os.access(folder, os.W_OK):
            ap.error(f"--json {args.json}: cannot write in {folder}")
    device = torch.device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if device.type == "cuda" and args.tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name} (torch {torch.__version__})")
    results = []
    for w in workloads(args.small):
        if args.only and args.only not in w[0]:
            continue
        r = run_workload(*w, device=device, seconds=args.seconds)
        print(f"{r['name']}: Langevin {r['langevin_steps_x_chains_per_s']:.0f} steps x chains/s "
              f"({r['langevin_gflop_per_s']:.2f} GFLOP/s), training {r['iterations_per_s']:.3f} it/s "
              f"({r['iteration_gflop_per_s']:.2f} GFLOP/s)"
              + (f", training memory {r['training_memory']['bytes'] / 2**20:.2f} MiB (the data set aside)"
                 if r["training_memory"] else ""), flush=True)
        results.append(r)
    if not results:
        raise SystemExit("--only matches no workload")
    if args.json:
        report = {
            "tool": "pytorch",
            "torch": torch.__version__,
            # What tells one report from another (as ebmscope's report has them).
            "command": " ".join(sys.argv),
            "unix_time": int(time.time()),
            "seconds": args.seconds,
            "small": args.small,
            "device": name,
            # PyTorch's defaults differ between the two (convolutions on, matmuls off).
            "tf32": {"convolutions": torch.backends.cudnn.allow_tf32,
                     "matmuls": torch.backends.cuda.matmul.allow_tf32}
            if device.type == "cuda" else None,
            "settings": " ".join(
                [f"--tf32 {args.tf32}"] * (args.tf32 is not None)
                + ["--cudnn-benchmark"] * args.cudnn_benchmark
            ) or "default",
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
            # (Left at PyTorch's default, False: no autotuning of convolutions.)
            "cudnn_benchmark": torch.backends.cudnn.benchmark if device.type == "cuda" else None,
            "timing": f"wall time around synchronised repetitions, after a warm-up of at least "
                      f"{WARM_UP_RUNS} runs and {WARM_UP_SECONDS:g} s (or the budget, if shorter)",
            "workloads": results,
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
