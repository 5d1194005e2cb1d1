#!/usr/bin/env bash
# nnprune compact against `cp -r` on a generated LLaMA-shaped bf16 model directory (2.3 GB at the
# default --layers 20: hidden 2048, 16 heads x 128, intermediate 5632, vocab 32000), page cache
# warm, each command the fastest of three runs, each after a sync (writeback of the previous run's
# output otherwise lands on the next one). It keeps 75% of the heads (12 of 16) and 50% of the
# MLP channels by magnitude, then prints the wall times, their ratio (target <= 2x cp) and the
# output's size against the input's. The decoder block's GEMM speed-up is bench_compact's
# bm_compact_block_gemm (nnprune_bench --benchmark_filter=block_gemm).
# Exits 1 when the target is missed (after printing everything).
#
# usage: bench/compact_vs_cp.sh [--layers N] [--kv-heads K] [--nnprune PATH] [--dir DIR]
#   The model and the outputs are deleted afterwards.
set -euo pipefail
LAYERS=20
KV=16
NNPRUNE=build/examples/cli/nnprune
DIR=
while [ $# -gt 0 ]; do
    case "$1" in
        --layers) LAYERS=$2; shift 2 ;;
        --kv-heads) KV=$2; shift 2 ;;
        --nnprune) NNPRUNE=$2; shift 2 ;;
        --dir) DIR=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
NNPRUNE=$(realpath "$NNPRUNE")
dir=$(mktemp -d "${DIR:-/tmp}/nnprune_compact_vs_cp.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$NNPRUNE" make-test-model "$dir/model" --dir --layers "$LAYERS" --hidden 2048 --inter 5632 --vocab 32000 \
    --heads 16 --kv-heads "$KV" --head-dim 128 --dtype bf16
in_bytes=$(du -sb "$dir/model" | cut -f1)

best() {  # command... -> the fastest wall time of three runs, in seconds
    local b=""
    for _ in 1 2 3; do
        rm -rf "$dir/out"
        sync
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-inf}" | awk '{d = $2 - $1; print (d < $3 || $3 == "inf") ? d : $3}')
    done
    echo "$b"
}
cat "$dir"/model/* >/dev/null  # page cache warm
cp_s=$(best cp -r "$dir/model" "$dir/out")
compact_s=$(best "$NNPRUNE" compact "$dir/model" -o "$dir/out" --heads-keep 0.75 --channels-keep 0.5 --method magnitude)
out_bytes=$(du -sb "$dir/out" | cut -f1)
ratio=$(echo "$compact_s $cp_s" | awk '{printf "%.2f", $1 / $2}')
printf '| model | cp -r | nnprune compact | ratio (target <= 2x) | output / input |\n|---|---|---|---|---|\n'
printf '| %s bytes, %s layers, %s KV heads | %.2f s | %.2f s | %sx | %.3f |\n' "$in_bytes" "$LAYERS" "$KV" "$cp_s" \
    "$compact_s" "$ratio" "$(echo "$out_bytes $in_bytes" | awk '{print $1 / $2}')"
awk -v r="$ratio" 'BEGIN { exit !(r <= 2.0) }' || { echo "target missed: compact is ${ratio}x cp"; exit 1; }
