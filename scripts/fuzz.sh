#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) in build-fuzz/ and
# runs one or all of them, each for SECONDS, starting from its seed corpus in
# fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ (the checked-in
# seeds are never written); a crash, leak or timeout leaves its input in
# build-fuzz/findings/<target>/ and makes the script fail. Prints executions, the
# corpus and the result per target.
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]      (defaults: all, 60)
#   FUZZ_SEED=N fixes libFuzzer's seed (CI uses 1, so a short run is a prefix of the
#   same sequence of inputs on every machine); unset, each run picks its own.
#   Reproduce a finding: build-fuzz/bin/fuzz/fuzz_<target> build-fuzz/findings/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(manifest bundle route_url broker_request gateway_request static_path page_frame devtools window_event dht_item dht_answer announce sql_authorizer link_certificate share_index h2_gate)
which=${1:-all}
seconds=${2:-60}
if [ "$which" = all ]; then
  targets=("${ALL[@]}")
elif [[ " ${ALL[*]} " == *" $which "* ]]; then
  targets=("$which")
else
  echo "fuzz.sh: unknown target '$which' (one of: all ${ALL[*]})" >&2
  exit 2
fi

bash scripts/install-deps.sh
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DMUMBA_BUILD_TESTS=OFF -DMUMBA_FUZZ=ON >/dev/null
ninja -C build-fuzz "${targets[@]/#/fuzz_}"

# Errors abort with a stack (UBSan is built without recovery); leaks count as findings.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  findings=build-fuzz/findings/$t
  log=build-fuzz/logs/$t.log
  mkdir -p "$corpus" "$findings" build-fuzz/logs
  echo "== fuzz_$t for ${seconds}s"
  status=0
  "build-fuzz/bin/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -max_len=65536 -seed="${FUZZ_SEED:-0}" -print_final_stats=1 -artifact_prefix="$PWD/$findings/" \
    "$PWD/$corpus" "$PWD/fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(find "$corpus" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $status; see $log and $findings/)"
    failed+=("$t")
    grep -m1 -E "ERROR: |FUZZ_CHECK|runtime error|Timeout|out-of-memory" "$log" || tail -20 "$log"
  fi
  summary+=("$(printf '%-16s %10s execs %8s/s %6s new inputs  %s' "$t" "${execs:-?}" "${rate:-?}" "$units" "$result")")
done

echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
