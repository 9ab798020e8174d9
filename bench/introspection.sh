#!/usr/bin/env bash
# Load benchmark of RFC 7662 introspection of a JWT access token on loopback (not a
# test).
#
# Builds the release binary, starts `portcullis serve --dev` in a fresh directory, gets
# a client credentials token for `demo-service` (whose introspection_audiences include
# its own audience, so it may introspect the token), and drives POST /introspect with
# wrk (Basic authentication, token=<the JWT>) at 1, 16 and 64 connections. Prints
# introspections/s, p50/p99 latency and non-2xx answers; checks before and after that
# the answer is `"active":true`.
#
# Usage: bench/introspection.sh            (DURATION=10s CONNECTIONS="1 16 64" to change)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-1 16 64}"
PORT="${PORT:-18183}"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release -q -p portcullis --bin portcullis
TARGET="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
BIN="$TARGET/release/portcullis"

work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
(cd "$work" && exec env -u PORTCULLIS_ISSUER -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_CONFIG \
  PORTCULLIS_LISTEN="127.0.0.1:$PORT" "$BIN" serve --dev >"$work/serve.log" 2>&1) &
server=$!
for _ in $(seq 1 3000); do
  curl -fs -o /dev/null "$base/health/ready" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.01
done
curl -fs -o /dev/null "$base/health/ready" || { echo "not ready" >&2; exit 1; }

secret=$(grep -o 'client_id=demo-service  client_secret=[^ ]*' "$work/serve.log" | head -n1 | sed 's/.*client_secret=//')
[ -n "$secret" ] || { echo "no demo-service secret in the banner" >&2; cat "$work/serve.log" >&2; exit 1; }
basic=$(printf 'demo-service:%s' "$secret" | base64 -w0)
token=$(curl -fs -H "Authorization: Basic $basic" -d grant_type=client_credentials -d scope=read:orders "$base/token" | jq -r .access_token)
[ -n "$token" ] && [ "$token" != null ] || { echo "no access token" >&2; exit 1; }

check_active() {
  local answer
  answer=$(curl -fs -H "Authorization: Basic $basic" --data-urlencode "token=$token" "$base/introspect")
  [ "$(jq -r .active <<<"$answer")" = true ] || { echo "introspection answered $answer" >&2; exit 1; }
}
check_active

cat > "$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA

run() { # connections -> "rps p50 p99 non2xx"
  local threads=1; [ "$1" -ge 16 ] && threads=2
  local out; out=$(wrk -t"$threads" -c"$1" -d"$DURATION" --latency -s "$work/introspect.lua" "$base/introspect")
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  echo "$rps $p50 $p99 $bad"
}

printf '\nintrospection of a JWT access token on loopback, %s per run, wrk on the same machine (%s cores)\n' "$DURATION" "$(nproc)"
printf '%-6s | %16s %9s %9s | %s\n' conns "introspections/s" p50 p99 non-2xx
for c in $CONNECTIONS; do
  read -r rps p50 p99 bad <<<"$(run "$c")"
  printf '%-6s | %16s %9s %9s | %s\n' "$c" "$rps" "$p50" "$p99" "$bad"
done
check_active
