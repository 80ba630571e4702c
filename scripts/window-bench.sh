#!/usr/bin/env bash
# Training speed with the window open against headless training: the same
# preset, settings and adapter, each measured on the trainer's own clock
# (first to last iteration), so start-up is left out and the window counts
# only as far as drawing it slows training down.
#
#   scripts/window-bench.sh [--preset NAME] [--iters N] [--frames F] [--set KEY=VALUE]...
#
# Headless: `ebmscope train` for N iterations (default 150) with pictures,
# checkpoints and long-run checks put off to the end. Window: `ebmscope gui
# --run` for F frames (default 400), under Xvfb when there is no display.
# Builds ebmscope first (dev profile, optimised) unless EBMSCOPE names a binary.
set -euo pipefail
cd "$(dirname "$0")/.."

preset=rings-convergent iters=150 frames=400 sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) preset="$2"; shift ;;
        --iters) iters="$2"; shift ;;
        --frames) frames="$2"; shift ;;
        --set) sets+=(--set "$2"); shift ;;
        *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

bin="${EBMSCOPE:-}"
if [ -z "$bin" ]; then
    cargo build --quiet
    bin=target/debug/ebmscope
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$bin" train --preset "$preset" "${sets[@]}" --set "iterations=$iters" \
    --set output.picture_every=1000000 --set output.checkpoint_every=1000000 \
    --set eval.longrun_every=0 --out "$tmp/run" 2> "$tmp/headless.log" \
    || { cat "$tmp/headless.log" >&2; exit 1; }

window=("$bin" gui --preset "$preset" "${sets[@]}" --run --frames "$frames" --screenshot "$tmp/window.png")
if [ -z "${DISPLAY:-}" ]; then
    window=(xvfb-run -a -s "-screen 0 1280x800x24" "${window[@]}")
fi
"${window[@]}" 2> "$tmp/window.log" || { cat "$tmp/window.log" >&2; exit 1; }

adapter="$(grep -m1 '^adapter:' "$tmp/headless.log" || true)"
headless="$(grep 'training speed (headless)' "$tmp/headless.log" | sed 's/.*: //; s/ it\/s//')"
open="$(grep 'training speed (window open)' "$tmp/window.log" | sed 's/.*: //; s/ it\/s//')"
echo "$adapter"
echo "preset $preset ${sets[*]}"
grep -h 'training speed' "$tmp/headless.log" "$tmp/window.log"
awk -v w="$open" -v h="$headless" 'BEGIN { printf "window open / headless: %.2f\n", w / h }'
