#!/usr/bin/env bash
# Long fuzz run (issue 16): every target at once, FUZZ_SECONDS each (default 960), at
# nice 19, from the corpus smoke.sh grows and the committed seeds; then one table of
# executions, executions/s, coverage and corpus per target, and CRASH for any target
# that found one (its input is in $CARGO_TARGET_DIR/artifacts/<target>/).
# Build first: `FUZZ_SECONDS=0 fuzz/smoke.sh`.
set -u
cd "$(dirname "$0")"
T="${CARGO_TARGET_DIR:-$PWD/target}"
host="$(rustc -vV | sed -n 's/^host: //p')"
secs="${FUZZ_SECONDS:-960}"
mkdir -p "$T/long"
for file in fuzz_targets/*.rs; do
  t=$(basename "$file" .rs)
  mkdir -p "$T/corpus/$t" "$T/artifacts/$t"
  nice -n 19 "$T/$host/release/$t" "$T/corpus/$t" "seeds/$t" -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$T/artifacts/$t/" > "$T/long/$t.log" 2>&1 &
done
wait
status=0
printf '%-22s %10s %10s %8s %8s %s\n' target execs exec/s cov ft corpus
for file in fuzz_targets/*.rs; do
  t=$(basename "$file" .rs); log="$T/long/$t.log"
  line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$line")"
  verdict=ok
  if grep -qE 'panicked|SUMMARY|Test unit written' "$log"; then verdict=CRASH; status=1; fi
  printf '%-22s %10s %10s %8s %8s %s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict"
done
exit $status
