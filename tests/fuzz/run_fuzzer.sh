#!/bin/bash
# Runs one libFuzzer binary for a bounded time from the stored corpus (ctest, `make test`).
# New inputs go to a scratch directory, so the stored corpus is never modified; crash/leak
# artifacts are written to ARTIFACT_DIR.
# Usage: run_fuzzer.sh FUZZER STORED_CORPUS ARTIFACT_DIR SECONDS [extra libFuzzer flags...]
set -eu
fuzzer=$1 corpus=$2 artifacts=$3 seconds=$4
shift 4
if [ ! -x "$fuzzer" ]; then
  echo "$fuzzer: not built (run 'make fuzz-build')" >&2
  exit 1
fi
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/steerdns-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
name=$(basename "$fuzzer")
echo "$name: ${seconds}s from $(ls "$corpus" | wc -l) stored inputs; artifacts in $artifacts"
# UBSan only reports by default; make it fail the run like ASan does.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# -timeout: one input taking longer than 10 s is a hang; -rss_limit_mb bounds memory.
# The full output goes to a log; a failure ends with a digest (the violated invariant or the
# sanitizer's report, our frames, the input in base64 and how to replay it), because a CI log
# often keeps only its tail, and a failure found by chance may not come again.
log="$artifacts/$name.log"
rc=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$artifacts/$name-" "$@" "$work" "$corpus" >"$log" 2>&1 || rc=$?
tail -n 12 "$log"
if [ "$rc" -ne 0 ]; then
  echo "=== $name failed (exit $rc); full output in $log"
  grep -E -A 6 'FUZZ INVARIANT VIOLATED|ERROR: |runtime error: ' "$log" | head -n 40 || true
  grep -E '^ +#[0-9]+ .* in (steerdns|LLVMFuzzerTestOneInput)' "$log" | head -n 12 || true
  unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ -n "$unit" ] && [ -f "$unit" ]; then
    echo "=== input ($(wc -c <"$unit") bytes), base64:"
    base64 -w 100 "$unit" | head -n 300
    echo "=== replay: base64 -d > in.bin, then replay_$name in.bin (normal build) or $fuzzer in.bin"
  fi
fi
exit "$rc"
