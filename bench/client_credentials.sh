#!/usr/bin/env bash
# Load benchmark of the client credentials grant on loopback (not a test).
#
# Builds release binaries, starts `portcullis serve` on a fresh SQLite database and the
# bare axum peer (crates/portcullis/examples/bare_client_credentials.rs), and drives
# both with wrk at 1, 16 and 64 connections. Prints tokens/s, p50/p99 latency, the
# ratio to the peer, ready time on an existing database, and idle memory (RSS).
#
# DPoP row (RFC 9449): the same grant with a fresh proof on every request. Proofs are
# pre-generated (crates/portcullis/examples/dpop_proofs.rs: one client key, a unique
# jti each, issued just before the run) and wrk sends each one once (each thread takes
# every n-th line); tokens/s is shown beside Portcullis's Bearer figure of the same
# run, with the ratio DPoP / Bearer (one extra ES256 verify and a jti record each).
#
# private_key_jwt row (RFC 7523 §2.2): the same grant for a client that authenticates
# with a signed assertion instead of client_secret_basic. Assertions are pre-generated
# (crates/portcullis/examples/client_assertions.rs: one bench key, a unique jti each)
# and wrk sends each one once; tokens/s is shown beside the client_secret_basic figure
# of the same run, with the ratio (one extra ES256 verify and one jti write each).
#
# Usage: bench/client_credentials.sh            (DURATION=10s CONNECTIONS="1 16 64" to change)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-1 16 64}"
PORT="${PORT:-18181}"
PEER_PORT="${PEER_PORT:-18182}"
SECRET="bench-secret-0123456789abcdefghijklmnop"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)…" >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release -q -p portcullis --bin portcullis --example bare_client_credentials --example dpop_proofs --example client_assertions
TARGET="${CARGO_TARGET_DIR:-target}"
BIN=$TARGET/release/portcullis
PEER=$TARGET/release/examples/bare_client_credentials
PROOFS=$TARGET/release/examples/dpop_proofs
ASSERTIONS=$TARGET/release/examples/client_assertions

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/portcullis.toml" <<TOML
listen = "127.0.0.1:$PORT"
database_url = "sqlite://$work/data/portcullis.db"
[[clients]]
client_id = "bench"
client_secret = "$SECRET"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
[[clients]]
client_id = "bench-keyed"
token_endpoint_auth_method = "private_key_jwt"
jwks = { keys = [ $("$ASSERTIONS" --jwk | sed -e 's/"\([a-z]*\)":/\1 = /g' -e 's/,/, /g') ] }
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
TOML

wait_ready() { # url -> prints ms from now until the first 200
  local start end
  start=$(date +%s%N)
  until curl -fs -o /dev/null "$1"; do sleep 0.002; done
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}

# First start creates the database and keys; the second measures start-up on it.
"$BIN" --config "$work/portcullis.toml" serve >"$work/first.log" 2>&1 & pids+=($!)
wait_ready "http://127.0.0.1:$PORT/health/ready" >/dev/null
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true
"$BIN" --config "$work/portcullis.toml" serve >"$work/serve.log" 2>&1 & server=$!; pids+=($server)
ready_ms=$(wait_ready "http://127.0.0.1:$PORT/health/ready")
internal_ms=$(grep -o 'ready_ms=[0-9.]*' "$work/serve.log" | head -n1 | cut -d= -f2 || true)
sleep 1
idle_rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")

PEER_CLIENT_SECRET="$SECRET" "$PEER" "127.0.0.1:$PEER_PORT" & peer=$!; pids+=($peer)
until curl -s -o /dev/null "http://127.0.0.1:$PEER_PORT/"; do sleep 0.01; done

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read:orders"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)"
LUA

threads_for() { if [ "$1" -ge 16 ]; then echo 2; else echo 1; fi; }

run() { # url connections [lua script] -> "rps p50 p99 non2xx"
  local threads; threads=$(threads_for "$2")
  local out; out=$(wrk -t"$threads" -c"$2" -d"$DURATION" --latency -s "${3:-$work/post.lua}" "$1")
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  echo "$rps $p50 $p99 $bad"
}

# Sanity: both answer 200 with a token.
code=$(curl -s -o /dev/null -w '%{http_code}' -u "bench:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PORT/token")
[ "$code" = 200 ] || { echo "portcullis answered $code" >&2; exit 1; }

declare -A bearer_rps bearer_p50 bearer_p99
printf '\nclient_credentials on loopback, %s per run, wrk on the same 2-core machine\n' "$DURATION"
printf '%-6s | %-32s | %-32s | %s\n' conns "portcullis tokens/s  p50  p99" "bare axum peer tokens/s  p50  p99" "ratio"
for c in $CONNECTIONS; do
  read -r prps pp50 pp99 pbad <<<"$(run "http://127.0.0.1:$PORT/token" "$c")"
  read -r rrps rp50 rp99 rbad <<<"$(run "http://127.0.0.1:$PEER_PORT/token" "$c")"
  bearer_rps[$c]=$prps; bearer_p50[$c]=$pp50; bearer_p99[$c]=$pp99
  ratio=$(awk -v a="$prps" -v b="$rrps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '%-6s | %10s %9s %9s | %10s %9s %9s | %s\n' "$c" "$prps" "$pp50" "$pp99" "$rrps" "$rp50" "$rp99" "$ratio"
  [ "$pbad" = 0 ] || echo "  warning: portcullis answered $pbad non-2xx responses at $c connections" >&2
  [ "$rbad" = 0 ] || echo "  warning: the peer answered $rbad non-2xx responses at $c connections" >&2
done

# DPoP: a Lua script per run that sends each pre-generated proof once.
dpop_lua() { # proof-file threads -> script path
  cat > "$work/dpop.lua" <<LUA
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  proofs = {}
  local i = 0
  for line in io.lines("$1") do
    if i % $2 == id then proofs[#proofs + 1] = line end
    i = i + 1
  end
  n = 0
end
function request()
  -- Past the last proof the last one is resent: a replay, answered 400 and reported
  -- as non-2xx (then raise PROOFS_PER_SECOND).
  n = math.min(n + 1, #proofs)
  return wrk.format("POST", "/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)",
    ["DPoP"] = proofs[n],
  }, "grant_type=client_credentials&scope=read:orders")
end
LUA
  echo "$work/dpop.lua"
}
seconds=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; if (d ~ /h$/) n *= 3600; print n }')
PROOFS_PER_SECOND="${PROOFS_PER_SECOND:-30000}"
htu="http://127.0.0.1:$PORT/token"
"$PROOFS" "$htu" 1 "$work/probe.txt" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -u "bench:$SECRET" -H "DPoP: $(cat "$work/probe.txt")" -d grant_type=client_credentials "$htu")
[ "$code" = 200 ] || { echo "portcullis answered $code to a DPoP token request" >&2; exit 1; }

printf '\nclient_credentials with DPoP (RFC 9449), each request a fresh proof; Bearer from the table above\n'
printf '%-6s | %-32s | %-32s | %s\n' conns "Bearer tokens/s  p50  p99" "DPoP tokens/s  p50  p99" "DPoP/Bearer"
for c in $CONNECTIONS; do
  "$PROOFS" "$htu" $(( seconds * PROOFS_PER_SECOND )) "$work/proofs.txt" 2>/dev/null
  read -r drps dp50 dp99 dbad <<<"$(run "$htu" "$c" "$(dpop_lua "$work/proofs.txt" "$(threads_for "$c")")")"
  ratio=$(awk -v a="$drps" -v b="${bearer_rps[$c]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '%-6s | %10s %9s %9s | %10s %9s %9s | %s\n' "$c" "${bearer_rps[$c]}" "${bearer_p50[$c]}" "${bearer_p99[$c]}" "$drps" "$dp50" "$dp99" "$ratio"
  [ "$dbad" = 0 ] || echo "  warning: portcullis answered $dbad non-2xx responses to DPoP requests at $c connections" >&2
done
# private_key_jwt: a Lua script per run that sends each pre-generated assertion once.
assertion_lua() { # assertion-file threads -> script path
  cat > "$work/assertion.lua" <<LUA
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  assertions = {}
  local i = 0
  for line in io.lines("$1") do
    if i % $2 == id then assertions[#assertions + 1] = line end
    i = i + 1
  end
  n = 0
end
function request()
  -- Past the last assertion the last one is resent: a replay, answered 401 and
  -- reported as non-2xx (then raise ASSERTIONS_PER_SECOND).
  n = math.min(n + 1, #assertions)
  return wrk.format("POST", "/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=client_credentials&scope=read:orders&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" .. assertions[n])
end
LUA
  echo "$work/assertion.lua"
}
ASSERTIONS_PER_SECOND="${ASSERTIONS_PER_SECOND:-30000}"
issuer="http://127.0.0.1:$PORT"
"$ASSERTIONS" "$issuer" bench-keyed 1 "$work/probe-assertion.txt" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -d grant_type=client_credentials \
  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
  -d "client_assertion=$(cat "$work/probe-assertion.txt")" "$htu")
[ "$code" = 200 ] || { echo "portcullis answered $code to a private_key_jwt token request" >&2; exit 1; }

printf '\nclient_credentials with private_key_jwt (RFC 7523), each request a fresh assertion; client_secret_basic from the first table\n'
printf '%-6s | %-32s | %-32s | %s\n' conns "secret_basic tokens/s  p50  p99" "private_key_jwt tokens/s  p50  p99" "pkjwt/basic"
for c in $CONNECTIONS; do
  "$ASSERTIONS" "$issuer" bench-keyed $(( seconds * ASSERTIONS_PER_SECOND )) "$work/assertions.txt" 2>/dev/null
  read -r arps ap50 ap99 abad <<<"$(run "$htu" "$c" "$(assertion_lua "$work/assertions.txt" "$(threads_for "$c")")")"
  ratio=$(awk -v a="$arps" -v b="${bearer_rps[$c]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '%-6s | %10s %9s %9s | %10s %9s %9s | %s\n' "$c" "${bearer_rps[$c]}" "${bearer_p50[$c]}" "${bearer_p99[$c]}" "$arps" "$ap50" "$ap99" "$ratio"
  [ "$abad" = 0 ] || echo "  warning: portcullis answered $abad non-2xx responses to private_key_jwt requests at $c connections" >&2
done
busy_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
printf '\nready on an existing database: %s ms (process start → first 200 from /health/ready; internal %s ms)\n' "$ready_ms" "${internal_ms:-?}"
printf 'memory: idle RSS %s MiB, peak RSS under load %s MiB\n' "$(awk -v k="$idle_rss_kib" 'BEGIN{printf "%.1f", k/1024}')" "$(awk -v k="$busy_rss_kib" 'BEGIN{printf "%.1f", k/1024}')"
