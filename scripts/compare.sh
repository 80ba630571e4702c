#!/usr/bin/env bash
# ebmscope against the PyTorch reference implementation of the same
# workloads, on this machine: builds ebmscope (release), installs PyTorch into
# its own virtual environment (never needed to build or test ebmscope), runs
# both benchmarks and prints the ratio ebmscope / PyTorch per workload.
#
#   scripts/compare.sh [--small] [--only NAME] [--seconds S] [--device cpu|cuda]
#
# --small: the sizes a software adapter times in minutes. --device: where
# PyTorch runs (default cuda where PyTorch sees a CUDA GPU, else cpu;
# ebmscope uses its chosen adapter, see `ebmscope info`: the table warns if
# one side ran on a GPU and the other not). On the CPU PyTorch runs twice,
# with its own thread count (one per core) and with one thread, which a
# loaded machine can favour: a table for each. Results go to bench-results/.
# Environment: BENCH_VENV (default .bench-venv), TORCH_SPEC (default "torch").
set -euo pipefail
cd "$(dirname "$0")/.."

ours=() theirs=() device=
while [ $# -gt 0 ]; do
    case "$1" in
        --small) ours+=(--small); theirs+=(--small) ;;
        --only|--seconds) ours+=("$1" "$2"); theirs+=("$1" "$2"); shift ;;
        --device) device="$2"; shift ;;
        *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

venv="${BENCH_VENV:-.bench-venv}"
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "installing PyTorch into $venv (once) …" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "${TORCH_SPEC:-torch}"
fi

if [ -z "$device" ]; then
    device=$("$venv/bin/python" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
fi

mkdir -p bench-results
cargo build --release --quiet
./target/release/ebmscope bench ${ours[@]+"${ours[@]}"} --json bench-results/ebmscope.json
"$venv/bin/python" scripts/bench_torch.py ${theirs[@]+"${theirs[@]}"} --device "$device" --json bench-results/torch.json
reports=(bench-results/torch.json)
if [ "$device" = cpu ]; then
    "$venv/bin/python" scripts/bench_torch.py ${theirs[@]+"${theirs[@]}"} --device cpu --threads 1 \
        --json bench-results/torch-1-thread.json
    reports+=(bench-results/torch-1-thread.json)
fi
echo
"$venv/bin/python" scripts/compare_table.py bench-results/ebmscope.json "${reports[@]}"
