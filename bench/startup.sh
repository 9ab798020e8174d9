#!/usr/bin/env bash
# Start-up time to ready on an existing SQLite database (issue 17 target: ≤ 50 ms);
# not a test.
#
# Creates a database with one `serve` run (migrations, signing keys, the config's
# clients and USERS users), stops it, then starts `serve` RUNS times on it and prints,
# per run, the milliseconds from process start to the first 200 from /health/ready
# (polled every 2 ms with curl, so it includes the process's exec and the poll), and
# the server's own `ready_ms` (start of `serve` → listener open, from its log).
#
# Usage: bench/startup.sh     (RUNS=5 USERS=1 PORT=18185; SKIP_BUILD=1 [BIN=path] to
#                              use an already built binary, e.g. a debug one)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
USERS="${USERS:-1}"
PORT="${PORT:-18185}"
TARGET="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p portcullis --bin portcullis
BIN="${BIN:-$TARGET/release/portcullis}"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

{
  echo "listen = \"127.0.0.1:$PORT\""
  echo "database_url = \"sqlite://$work/data/portcullis.db\""
  echo '[[clients]]'
  echo 'client_id = "bench"'
  echo 'client_secret = "bench-secret-0123456789abcdefghijklmnop"'
  echo 'grant_types = ["client_credentials"]'
  echo 'scopes = ["read:orders"]'
  echo 'audiences = ["https://api.example.com"]'
  for i in $(seq 1 "$USERS"); do
    printf '[[users]]\nusername = "user%s"\npassword = "password-of-user-%s"\n' "$i" "$i"
  done
} >"$work/portcullis.toml"

start() { # -> "ms_to_first_200 internal_ready_ms"
  local t0 t1
  t0=$(date +%s%N)
  PORTCULLIS_MASTER_KEY= "$BIN" --config "$work/portcullis.toml" serve >"$work/serve.log" 2>&1 &
  server=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.002
  done
  t1=$(date +%s%N)
  local internal; internal=$(grep -o 'ready_ms=[0-9.]*' "$work/serve.log" | head -n1 | cut -d= -f2 || true)
  kill -TERM "$server"; wait "$server" || true; server=""
  echo "$(( (t1 - t0) / 1000000 )) ${internal:-?}"
}

start >/dev/null # creates the database
printf 'start-up on an existing SQLite database, %s [[users]], %s (%s cores, load %s)\n' \
  "$USERS" "$BIN" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s | %16s | %16s\n' run "to first 200, ms" "ready_ms (log)"
for i in $(seq 1 "$RUNS"); do
  read -r outside inside <<<"$(start)"
  printf '%-4s | %16s | %16s\n' "$i" "$outside" "$inside"
done
