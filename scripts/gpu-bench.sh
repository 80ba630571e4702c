#!/usr/bin/env bash
# ebmscope vs PyTorch on a machine with an NVIDIA GPU and no Rust toolchain.
#
# On the build machine:   scripts/gpu-bench.sh bundle [DIR]     (default DIR: gpu-bench)
#   builds ebmscope (release) and puts into DIR: the binary, the Vulkan
#   loader it opens (lib/libvulkan.so.1), scripts/bench_torch.py,
#   scripts/compare_table.py and this script.
# On the GPU machine:     DIR/gpu-bench.sh run [OUT]            (default OUT: DIR/results)
#   ebmscope info, doctor and bench (the full workloads), then PyTorch on CUDA
#   with its default settings and with TF32 off, and the ratio tables. Needs
#   the NVIDIA driver (its Vulkan ICD, nvidia_icd.json) and python3 with
#   torch for the PyTorch half; one run takes a few minutes. BENCH_ARGS
#   (e.g. "--small --only toy") is passed to both benchmarks.
set -euo pipefail

mode="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"

case "$mode" in
bundle)
    cd "$here/.."
    dir="${2:-gpu-bench}"
    cargo build --release --quiet
    mkdir -p "$dir/lib"
    cp target/release/ebmscope scripts/bench_torch.py scripts/compare_table.py scripts/gpu-bench.sh "$dir/"
    loader="$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')"
    if [ -z "$loader" ]; then
        echo "no libvulkan.so.1 here: apt-get install libvulkan1, then bundle again" >&2
        exit 1
    fi
    cp -L "$loader" "$dir/lib/libvulkan.so.1"
    echo "bundle in $dir ($(du -sh "$dir" | cut -f1)); on the GPU machine: $dir/gpu-bench.sh run"
    ;;
run)
    out="${2:-$here/results}"
    mkdir -p "$out"
    export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # Containers often mount the driver outside the loader's search path
    # (e.g. /usr/local/nvidia): point the loader at its ICD manifest, and
    # the manifest's library at its folder.
    if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
        for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
                   /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
            if [ -f "$icd" ]; then
                export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
                echo "Vulkan driver manifest: $icd"
                break
            fi
        done
    fi
    for libdir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
        if [ -d "$libdir" ]; then
            export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$libdir"
        fi
    done
    ebm="$here/ebmscope"
    "$ebm" info | tee "$out/info.txt"
    if ! grep -qi nvidia "$out/info.txt"; then
        echo "warning: no NVIDIA adapter listed; is the driver's Vulkan ICD installed" \
             "(nvidia_icd.json; set VK_DRIVER_FILES to its path)?" >&2
    fi
    "$ebm" doctor | tail -3 | tee "$out/doctor.txt"
    # shellcheck disable=SC2086  # BENCH_ARGS is a list of words
    "$ebm" bench ${BENCH_ARGS:-} --json "$out/ebmscope.json" | tee "$out/ebmscope.txt"
    if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        # shellcheck disable=SC2086
        python3 "$here/bench_torch.py" ${BENCH_ARGS:-} --device cuda --json "$out/torch-default.json" \
            | tee "$out/torch-default.txt"
        # shellcheck disable=SC2086
        python3 "$here/bench_torch.py" ${BENCH_ARGS:-} --device cuda --tf32 off --json "$out/torch-tf32-off.json" \
            | tee "$out/torch-tf32-off.txt"
        python3 "$here/compare_table.py" "$out/ebmscope.json" "$out/torch-default.json" "$out/torch-tf32-off.json" \
            | tee "$out/compare.md"
    else
        echo "python3 with CUDA-enabled torch is missing: only the ebmscope figures were taken" >&2
    fi
    echo "results in $out"
    ;;
*)
    echo "usage: $0 bundle [DIR]   (build machine)  |  $0 run [OUT]   (GPU machine)" >&2
    exit 2
    ;;
esac
