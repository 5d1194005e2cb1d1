#!/usr/bin/env bash
# The long fuzzing run: builds the libFuzzer targets as .ci/steps/fuzz.sh does and runs each one
# for FUZZ_RUNS executions (default 10,000,000; FUZZ_TARGETS picks some: "index calib ..."),
# from a copy of its seed corpus, printing the execution count, coverage and corpus size, and the
# crash inputs (under $FUZZ_BUILD_DIR/artifacts/) if any. Exit status 1 if any fuzzer failed.
# CI runs the same fuzzers for 30 s each; this is for a quiet machine (hours: fuzz_calib runs the
# whole prune command in process, a few thousand executions per second per core).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
runs=${FUZZ_RUNS:-10000000}
targets=${FUZZ_TARGETS:-"safetensors mask_file index calib cli_args"}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DNNPRUNE_BUILD_FUZZERS=ON -DNNPRUNE_BUILD_EXAMPLES=OFF -DNNPRUNE_WERROR=ON >/dev/null || exit 1
ninja -C "$build" $(for t in $targets; do echo "fuzz_$t"; done) || exit 1
mkdir -p "$build/artifacts"
failed=0
for target in $targets; do
  work=$(mktemp -d)
  cp "$root/tests/fuzz/corpus/$target/"* "$work/"
  dict="$root/tests/fuzz/safetensors.dict"
  if [ "$target" = cli_args ]; then dict="$root/tests/fuzz/cli_args.dict"; fi
  log="$build/artifacts/$target.long.log"
  start=$(date +%s)
  "$build/tests/fuzz/fuzz_$target" "$work" -dict="$dict" -runs="$runs" -max_len=4096 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -E "^stat::number_of_executed_units" "$log" | awk '{print $2}')
  final=$(grep -E "^#[0-9]+ +DONE" "$log" | tail -n 1)
  echo "fuzz_$target: exit $status, ${execs:-?} executions in ${secs} s; $final"
  if [ "$status" -ne 0 ]; then
    failed=1
    tail -n 40 "$log" >&2
  fi
  rm -rf "$work"
done
exit "$failed"
