#!/usr/bin/env bash
# Load benchmark of the whole authorization code flow on loopback (not a test).
#
# Builds release binaries, starts `portcullis serve --dev` in a temporary directory and
# drives it with crates/portcullis/examples/login_flow.rs: every flow is a fresh
# browser (new cookie jar) going authorize → login page → login POST → consent (the
# first flow approves; later ones skip the remembered consent) → code → POST /token.
# Prints flows/s, p50/p99 of a whole flow and of the login POST at each concurrency,
# and the argon2 parameters of the stored password hash (argon2id dominates a login).
#
# Usage: bench/login_flow.sh            (DURATION=15 CONCURRENCY="2 4 8" PORT=18191 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-15}"
CONCURRENCY="${CONCURRENCY:-2 4 8}"
PORT="${PORT:-18191}"

cargo build --release -q -p portcullis --bin portcullis --example login_flow
TARGET="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
BIN="$TARGET/release/portcullis"
LOAD="$TARGET/release/examples/login_flow"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# `serve --dev` with its defaults (data in ./portcullis-data), on a free port.
(cd "$work" && exec env -u PORTCULLIS_ISSUER -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_MASTER_KEY \
  -u PORTCULLIS_CONFIG PORTCULLIS_LISTEN="127.0.0.1:$PORT" "$BIN" serve --dev) \
  >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/health/ready" && break
  kill -0 "$server" 2>/dev/null || { echo "portcullis exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
credentials="$work/portcullis-data/dev-credentials.json"
[ -f "$credentials" ] || { echo "no $credentials; serve --dev did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

# The parameters in the stored PHC string (the user row is in the database or its WAL).
phc=$(cat "$work"/portcullis-data/portcullis.db* 2>/dev/null | grep -a -o '\$argon2id\$v=[0-9]*\$m=[0-9]*,t=[0-9]*,p=[0-9]*' | head -n1 || true)

printf '\nauthorization code flow on loopback (authorize → login → token; consent remembered), %s s per run\n' "$DURATION"
printf 'load generator and server on the same %s-core machine (%s); load average before: %s\n' \
  "$(nproc)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(cut -d' ' -f1-3 /proc/loadavg)"
# Concurrent logins in real traffic are for different accounts (attempts on one
# account run one at a time): add bench-1..bench-8 with the demo user's password.
password=$(sed -n 's/.*"user_password": *"\([^"]*\)".*/\1/p' "$credentials")
users=demo
for i in $(seq 1 8); do
  (cd "$work" && printf '%s\n' "$password" | "$BIN" user create --username "bench-$i" --password-stdin >/dev/null 2>&1)
  users="$users,bench-$i"
done
for c in $CONCURRENCY; do
  "$LOAD" --issuer "http://127.0.0.1:$PORT" --client-id demo-app \
    --redirect-uri http://127.0.0.1:8081/callback --username "$users" \
    --credentials-file "$credentials" --concurrency "$c" --duration "$DURATION"
done
printf '\npassword hashing: argon2id v=19 m=19456 KiB, t=2, p=1 (argon2 0.6 defaults, Argon2::default() in portcullis-core/src/user.rs)\n'
printf 'stored hash prefix: %s\n' "${phc:-(not found in the database files)}"
