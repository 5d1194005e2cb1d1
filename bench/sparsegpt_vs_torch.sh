#!/usr/bin/env bash
# SparseGPT (issue 12 "Targets"): nnprune against upstream's fasterprune in PyTorch, the naive C++
# port of the reference loop and an Eigen GEMM, in one run; prints one table:
#   shape, mode, torch s, nnprune s (1 thread), torch/nnprune, nnprune s (2 threads), 2-thread
#   speedup (and whether the 2-thread weights are bit-identical), naive-port s and naive/nnprune,
#   nnprune GFLOP/s against the Eigen GEMM's (and nnprune's own GEMM's) on the sweep's GEMM shape.
# The nnprune side is bench/bench_sparsegpt.cpp in nnprune_bench (Release, no -march, as users
# build it); the torch side is bench/sparsegpt_torch.py (fp32, 1 thread). The machine may be noisy:
# quote the ratios.
#
# usage: bench/sparsegpt_vs_torch.sh [--shapes "4096 11008"] [--bench PATH] [--no-torch] [--slow]
#                                    [--min-time S]
#   --bench       the nnprune_bench executable (default: configure and build build/bench-release)
#   --slow        also run the naive port on 4096x11008 (minutes per mode; NNPRUNE_BENCH_SLOW=1)
#   --min-time    Google Benchmark's --benchmark_min_time for the nnprune runs (default 2 s)
# Torch runs with OpenBLAS when it is installed (libopenblas0-pthread; Debian's default reference
# BLAS is far slower): LD_LIBRARY_PATH points at it, with OPENBLAS_CORETYPE=$TORCH_CORETYPE
# (default SkylakeX, the kernels of the issue's anchors; set TORCH_CORETYPE= to keep the
# environment's) and OPENBLAS_NUM_THREADS=1.
set -euo pipefail
SHAPES="4096 11008"
BENCH=
TORCH=1
SLOW=0
MIN_TIME=2
while [ $# -gt 0 ]; do
    case "$1" in
        --shapes) SHAPES=$2; shift 2 ;;
        --bench) BENCH=$2; shift 2 ;;
        --no-torch) TORCH=0; shift ;;
        --slow) SLOW=1; shift ;;
        --min-time) MIN_TIME=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
if [ -z "$BENCH" ]; then
    build="$root/build/bench-release"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNNPRUNE_BUILD_BENCH=ON \
        -DNNPRUNE_BUILD_TESTS=OFF -DNNPRUNE_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build "$build" --target nnprune_bench
    BENCH="$build/bench/nnprune_bench"
fi
PY=/usr/bin/python3  # the distribution's python3-torch
if [ "$TORCH" = 1 ] && ! "$PY" -c "import torch" 2>/dev/null; then
    echo "(PyTorch missing: apt-get install python3-torch; skipping it)" >&2
    TORCH=0
fi
out=$(mktemp -d /tmp/sparsegpt_vs_torch.XXXXXX)
trap 'rm -rf "$out"' EXIT

shapes_re=$(echo "$SHAPES" | sed 's/ \+/|/g')
filter="^(sparsegpt|naive_port|eigen_gemm|nnprune_gemm)/4096x($shapes_re)/"
echo "== nnprune: $BENCH --benchmark_filter='$filter' (NNPRUNE_BENCH_SLOW=$SLOW)"
NNPRUNE_BENCH_SLOW=$SLOW "$BENCH" --benchmark_filter="$filter" --benchmark_min_time="$MIN_TIME" \
    --benchmark_out="$out/nnprune.json" --benchmark_out_format=json

if [ "$TORCH" = 1 ]; then
    ob=/usr/lib/x86_64-linux-gnu/openblas-pthread
    tenv=(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)
    [ -d "$ob" ] && tenv+=("LD_LIBRARY_PATH=$ob${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    [ -n "${TORCH_CORETYPE-SkylakeX}" ] && tenv+=("OPENBLAS_CORETYPE=${TORCH_CORETYPE-SkylakeX}")
    echo "== torch: ${tenv[*]} $PY $here/sparsegpt_torch.py --shapes ${SHAPES// /,}"
    env "${tenv[@]}" "$PY" "$here/sparsegpt_torch.py" --shapes "${SHAPES// /,}" --json "$out/torch.json"
fi

"$PY" - "$out/nnprune.json" "$out/torch.json" <<'EOF'
import json, os, re, sys
bench = {re.sub(r"(/iterations:\d+)?(/real_time)?$", "", b["name"]): b for b in json.load(open(sys.argv[1]))["benchmarks"]
         if b.get("run_type") == "iteration"}
torch = {}
if os.path.exists(sys.argv[2]):
    tj = json.load(open(sys.argv[2]))
    torch = {(r["shape"], r["mode"]): (r["seconds"]["total"], r["seconds"]["cpu_total"]) for r in tj["results"]}
    b = tj["blas"]
    print(f"\ntorch {tj['torch']}: {', '.join(os.path.basename(l) for l in b['libraries'])}; OpenBLAS kernel "
          f"{b['openblas_core']} (OPENBLAS_CORETYPE={b['OPENBLAS_CORETYPE']})")

def sec(name, kind="real_time"):
    b = bench.get(name)
    if b is None or b.get("error_occurred"):
        return None
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return b[kind] * scale

def f(x, fmt):
    return "-" if x is None else format(x, fmt)

def div(a, b):
    return None if a is None or b is None else a / b

def pair(wall, cpu, fmt, suffix=""):  # "wall (cpu)"
    if wall is None:
        return "-"
    return format(wall, fmt) + suffix + ("" if cpu is None else " (" + format(cpu, fmt) + suffix + ")")

hdr = ["shape", "mode", "torch s (cpu)", "nnprune 1t s (cpu)", "torch/nnp (cpu)", "nnprune 2t s", "2t speedup", "2t same",
       "naive s", "naive/nnp", "nnp GFLOP/s", "Eigen GEMM", "nnp GEMM"]
rows = []
shapes = sorted({n.split("/")[1] for n in bench if n.startswith("sparsegpt/")}, key=lambda s: int(s.split("x")[1]))
for shape in shapes:
    for mode, tmode in (("unstructured50", "unstructured"), ("2:4", "2:4"), ("unstructured50-block", None)):
        n1 = f"sparsegpt/{shape}/{mode}/threads:1"
        if n1 not in bench:
            continue
        t1, t2 = sec(n1), sec(f"sparsegpt/{shape}/{mode}/threads:2")
        tt, tc = torch.get((shape, tmode), (None, None)) if tmode else (None, None)
        c1 = sec(n1, "cpu_time")  # the benchmark thread's CPU time: all of it at 1 thread
        tn = sec(f"naive_port/{shape}/{mode}")
        same = bench.get(f"sparsegpt/{shape}/{mode}/threads:2", {}).get("identical")
        eg = bench.get(f"eigen_gemm/{shape}", {}).get("GFLOP/s")
        ng = bench.get(f"nnprune_gemm/{shape}", {}).get("GFLOP/s")
        rows.append([shape, mode, pair(tt, tc, ".2f"), pair(t1, c1, ".3f"), pair(div(tt, t1), div(tc, c1), ".1f", "x"),
                     f(t2, ".3f"), f(div(t1, t2), ".2f") + ("x" if t2 else ""),
                     "-" if same is None else ("yes" if same == 1 else "NO"), f(tn, ".1f"),
                     f(div(tn, t1), ".1f") + ("x" if tn else ""), f(bench[n1].get("GFLOP/s"), ".1f"),
                     f(eg, ".1f"), f(ng, ".1f")])
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
print()
print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print("| " + " | ".join(str(c).rjust(w[i]) for i, c in enumerate(r)) + " |")
for n, b in bench.items():
    if n.startswith("naive_port/"):
        print(f"{n}: factor {b['factor_s']:.1f} s, sweep {b['sweep_s']:.1f} s, "
              f"{b['GFLOP/s']:.1f} GFLOP/s (4/3 in^3 + rows in^2)"
              + (f"; vs nnprune: mask differs on {b['mask_diff']:.2e} of the weights, "
                 f"weights {b['w_rel_diff']:.2e} relative" if "mask_diff" in b else ""))
print("GFLOP/s: nnprune counts in^3/3 + rows*in^2 + rows*in*128; the GEMMs are C[128, 4096] += "
      "A[128, in] B[in, 4096], 1 thread (Eigen as built, without -march).\n(cpu): CPU time of the "
      "1-thread runs, less sensitive than wall time to other load on a shared machine.")
EOF
