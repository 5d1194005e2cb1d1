#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++, -fsanitize=fuzzer,address,undefined) and runs each one for
# FUZZ_SECONDS (default 30) from a copy of its seed corpus; fails on any crash, leak, sanitizer
# report or timeout. Crash inputs are left in $FUZZ_BUILD_DIR/artifacts/ (add them as regression tests).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-30}
jobs=${FUZZ_BUILD_JOBS:-2}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DNNPRUNE_BUILD_FUZZERS=ON -DNNPRUNE_BUILD_EXAMPLES=OFF -DNNPRUNE_WERROR=ON >/dev/null
targets="safetensors mask_file index calib cli_args"
nice ninja -C "$build" -j "$jobs" $(for t in $targets; do echo "fuzz_$t"; done)

mkdir -p "$build/artifacts"
for target in $targets; do
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "$root/tests/fuzz/corpus/$target/"* "$work/"
  echo "fuzz.sh: fuzz_$target for ${secs}s"
  log="$build/artifacts/$target.log"
  set +e
  dict="$root/tests/fuzz/safetensors.dict"
  if [ "$target" = cli_args ]; then dict="$root/tests/fuzz/cli_args.dict"; fi
  nice "$build/tests/fuzz/fuzz_$target" "$work" -dict="$dict" \
       -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/artifacts/$target-" >"$log" 2>&1
  status=$?
  set -e
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
  if [ "$status" -ne 0 ]; then tail -n 60 "$log" >&2; fi
  rm -rf "$work"
  trap - EXIT
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: fuzz_$target FAILED (exit $status); crash input under $build/artifacts/" >&2
    exit 1
  fi
done
echo "fuzz.sh: all fuzzers ran clean"
