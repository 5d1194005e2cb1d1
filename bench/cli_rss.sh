#!/usr/bin/env bash
# Peak RSS of `nnprune prune --scope global` on a generated multi-GB bf16 checkpoint, next to the
# memory bound the CLI states (examples/cli/README.md):
#   peak RSS <= 64 MiB + largest_tensor_elements * (4 B scores + element size + 1/8 B mask)
#               + 8 KiB per selected tensor
# (plus 1 bit per selected element with --masks, not used here). The model is deleted afterwards.
#
# usage: bench/cli_rss.sh [path/to/nnprune] [layers]     (default: build/examples/cli/nnprune, 20 layers ~ 2.3 GB)
set -euo pipefail
NNPRUNE=${1:-build/examples/cli/nnprune}
LAYERS=${2:-20}
H=2048; I=5632; V=32000   # LLaMA-like widths; embed_tokens / lm_head are the largest tensors
ES=2                      # bf16

dir=$(mktemp -d /tmp/nnprune_rss.XXXXXX)
trap 'rm -rf "$dir"' EXIT

"$NNPRUNE" make-test-model "$dir/model.safetensors" --layers "$LAYERS" --hidden $H --inter $I --vocab $V --dtype bf16
model_bytes=$(stat -c %s "$dir/model.safetensors")

/usr/bin/time -v "$NNPRUNE" prune "$dir/model.safetensors" -o "$dir/pruned.safetensors" \
    --scope global --sparsity 0.5 --report "$dir/report.json" -q 2> "$dir/time.txt"
peak_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/time.txt")

largest=$(( V * H > I * H ? V * H : I * H ))
selected=$(( 2 + 7 * LAYERS ))
bound=$(( 64 * 1024 * 1024 + largest * (4 + ES) + largest / 8 + 8192 * selected ))
peak=$(( peak_kib * 1024 ))
sparsity=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['totals']['sparsity'])" "$dir/report.json" 2>/dev/null || echo '?')

mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "model:       $(mib "$model_bytes") bf16, $(( selected )) pruned tensors, largest tensor $largest elements"
echo "prune:       --scope global --sparsity 0.5, achieved sparsity $sparsity, wall $wall"
echo "peak RSS:    $(mib "$peak")"
echo "bound:       $(mib "$bound")  (64 MiB + largest * ($((4 + ES)) + 1/8) B + 8 KiB * tensors)"
echo "peak / model size: $(awk -v p="$peak" -v m="$model_bytes" 'BEGIN {printf "%.3f", p / m}')"
if [ "$peak" -le "$bound" ]; then echo "PASS: peak RSS within the bound"; else echo "FAIL: peak RSS above the bound"; exit 1; fi
