#!/usr/bin/env bash
# Builds every fuzz target (libFuzzer through libfuzzer-sys, on the stable toolchain)
# and runs each for FUZZ_SECONDS seconds (default 20) from its committed seeds,
# printing executions/s and coverage per target. A crash fails the run and names the
# input that caused it (see fuzz/README.md for turning it into a regression test).
#
#   fuzz/smoke.sh                       # every target, 20 s each (what .ci/run does)
#   FUZZ_SECONDS=900 fuzz/smoke.sh cookies user_code   # longer runs of some targets
#   FUZZ_SECONDS=0 fuzz/smoke.sh        # build only
#
# Environment: FUZZ_SECONDS, FUZZ_JOBS (cargo -j), CARGO_TARGET_DIR (default
# fuzz/target); the growing corpus is kept in $CARGO_TARGET_DIR/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-20}"
host="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR=never

# libfuzzer-sys compiles libFuzzer (C++) with the system compiler.
if ! command -v c++ >/dev/null; then
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi

# Stable rustc's SanitizerCoverage pass: the edge counters and comparison hooks that
# libFuzzer reads (what `cargo fuzz` passes, without its nightly-only sanitizer
# flags). `--target` keeps these flags off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cforce-frame-pointers"

echo "== fuzz: building targets (release, debug assertions and overflow checks on)"
build_start=$SECONDS
cargo build --release --locked --target "$host" --bins ${FUZZ_JOBS:+-j "$FUZZ_JOBS"}
echo "built in $((SECONDS - build_start)) s"
[ "$seconds" -gt 0 ] || exit 0

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for file in fuzz_targets/*.rs; do targets+=("$(basename "$file" .rs)"); done
fi

failed=()
printf '%-22s %10s %10s %8s %8s %s\n' target execs exec/s cov ft corpus
for target in "${targets[@]}"; do
  bin="$CARGO_TARGET_DIR/$host/release/$target"
  corpus="$CARGO_TARGET_DIR/corpus/$target"
  artifacts="$CARGO_TARGET_DIR/artifacts/$target"
  log="$CARGO_TARGET_DIR/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  status=0
  "$bin" "$corpus" "seeds/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  # The last status line: "#N DONE cov: C ft: F corp: U/Sb ... exec/s: E rss: ..."
  line="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$line")"
  printf '%-22s %10s %10s %8s %8s %s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    echo "error: fuzz target $target failed (exit $status); log: $log" >&2
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" >&2 || tail -n 20 "$log" >&2
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]}" >&2
  exit 1
fi
