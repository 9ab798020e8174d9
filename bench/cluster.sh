#!/usr/bin/env bash
# Cluster benchmark (issue 7; not a test): one node vs two nodes on one PostgreSQL.
#
# Builds the release binary, creates a fresh database on the PostgreSQL server at
# PORTCULLIS_BENCH_POSTGRES_URL (default: PORTCULLIS_TEST_POSTGRES_URL, else
# postgres://postgres@127.0.0.1:5432/postgres), and runs `portcullis serve` nodes on it
# with one config, one issuer and one master key. Then:
#
# 1. Database round trips per grant, exactly: with `log_statement = all` set on the
#    bench database only (ALTER DATABASE), it counts the statements the server logs for
#    that database (the log line prefix names it) while one node answers N sequential
#    requests of each grant. With sqlx every statement is one round trip (prepared:
#    Bind/Execute/Sync in one flight; BEGIN and COMMIT are statements of their own).
#    Needs a readable server log (PG_LOG, default the Debian cluster log); skipped
#    otherwise. pg_stat_statements would need shared_preload_libraries, i.e. a server
#    restart, which a shared CI server does not get.
# 2. Throughput with wrk on loopback, log_statement reset: client_credentials with
#    CONNECTIONS connections on node A alone, then split over A and B at once; the
#    refresh grant with CHAINS rotation chains (one wrk thread and connection per
#    chain, each request presenting the refresh token the previous answer returned) on
#    A alone, then split over A and B. Counts non-200 answers (contention errors:
#    a chain that gets one stops being useful, so they are printed) and committed
#    transactions per request (pg_stat_database.xact_commit delta / requests; stats are
#    flushed by the backends within about a second, hence the pause before reading).
#
# Usage: bench/cluster.sh      (DURATION=10s CONNECTIONS=16 CHAINS=8 N=50; SKIP_BUILD=1 [BIN=path]
#                               to use an already built binary; ROUND_TRIPS_ONLY=1 stops
#                               after part 1, e.g. with a debug binary)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
CHAINS="${CHAINS:-8}"
N="${N:-50}"
PORT_A="${PORT_A:-18281}"
PORT_B="${PORT_B:-18282}"
ISSUER_PORT="${ISSUER_PORT:-18280}"
PG="${PORTCULLIS_BENCH_POSTGRES_URL:-${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
PG_LOG="${PG_LOG:-/var/log/postgresql/postgresql-15-main.log}"
SECRET="bench-secret-0123456789abcdefghijklmnop"
APP_SECRET="app-secret-0123456789abcdefghijklmnopq"
REDIRECT="https://app.example.com/callback"

command -v wrk >/dev/null || { echo "installing wrk (Debian package)…" >&2; (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null; }
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p portcullis --bin portcullis
TARGET="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
BIN="${BIN:-$TARGET/release/portcullis}"

name="portcullis_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB_URL="${PG%/*}/$name"
work="$(mktemp -d)"
declare -A pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$PG" -c "CREATE DATABASE $name" >/dev/null
MASTER_KEY="$(head -c 32 /dev/urandom | base64 -w0)"

cat >"$work/portcullis.toml" <<TOML
issuer = "http://127.0.0.1:$ISSUER_PORT"
database_url = "$DB_URL"
[[users]]
username = "alice"
password = "alice-password-1"
[[clients]]
client_id = "bench"
client_secret = "$SECRET"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
[[clients]]
client_id = "app"
client_secret = "$APP_SECRET"
redirect_uris = ["$REDIRECT"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
skip_consent = true
TOML

start_node() { # node-letter port
  (cd "$work" && exec env -u PORTCULLIS_ISSUER -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_CONFIG \
    PORTCULLIS_LISTEN="127.0.0.1:$2" PORTCULLIS_MASTER_KEY="$MASTER_KEY" \
    "$BIN" --config portcullis.toml serve) >>"$work/node-$1.log" 2>&1 &
  pids[$1]=$!
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$2/health/ready" && return 0
    kill -0 "${pids[$1]}" 2>/dev/null || { echo "node $1 exited:" >&2; cat "$work/node-$1.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "node $1 not ready" >&2; exit 1
}
stop_node() { kill -TERM "${pids[$1]}" 2>/dev/null || true; wait "${pids[$1]}" 2>/dev/null || true; pids[$1]=""; }

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
urlenc() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"; }
REDIRECT_ENC="$(urlenc "$REDIRECT")"

# Prints "code verifier": alice through the pages of the node at $1 with cookie jar $2
# (signs in the first time; later codes come straight back: first-party client).
new_code() {
  local base=$1 jar=$2 verifier challenge loc page action request csrf
  verifier=$(head -c 32 /dev/urandom | b64url)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | b64url)
  loc=$(curl -s -o /dev/null -w '%{redirect_url}' -b "$jar" -c "$jar" \
    "$base/authorize?response_type=code&client_id=app&redirect_uri=$REDIRECT_ENC&scope=read:orders&state=s&code_challenge=$challenge&code_challenge_method=S256")
  for _ in 1 2 3; do
    case "$loc" in
      "$base"/login\?*)
        page=$(curl -s -b "$jar" -c "$jar" "$loc")
        action=$(sed -n 's/.*<form method="post" action="\([^"]*\)".*/\1/p' <<<"$page" | head -n1 | sed 's/&amp;/\&/g')
        request=$(sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p' <<<"$page")
        csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$page")
        loc=$(curl -s -o /dev/null -w '%{redirect_url}' -b "$jar" -c "$jar" \
          --data-urlencode "request=$request" --data-urlencode "csrf_token=$csrf" \
          -d username=alice -d password=alice-password-1 "$base$action") ;;
      "$base"/*) loc=$(curl -s -o /dev/null -w '%{redirect_url}' -b "$jar" -c "$jar" "$loc") ;;
      *) break ;;
    esac
  done
  local code; code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
  [ -n "$code" ] || { echo "no code: $loc" >&2; exit 1; }
  echo "$code $verifier"
}
redeem() { # base code verifier -> token JSON
  curl -s -u "app:$APP_SECRET" -d grant_type=authorization_code --data-urlencode "code=$2" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$3" "$1/token"
}
refresh_token_of() { sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p'; }
xacts() { psql -Atq "$PG" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$name'"; }

A="http://127.0.0.1:$PORT_A"
B="http://127.0.0.1:$PORT_B"
jar="$work/cookies.txt"

# --- 1. round trips per grant ---------------------------------------------------------
count_statements() { # byte offset of the log before -> statements for our database since
  tail -c +"$(( $1 + 1 ))" "$PG_LOG" | grep -cE "@$name LOG:  (statement|execute)" || true
}
if [ -r "$PG_LOG" ]; then
  psql -q "$PG" -c "ALTER DATABASE $name SET log_statement = 'all'" >/dev/null
  start_node A "$PORT_A"
  # Warm the client cache and the browser session first: those are one-time costs.
  curl -s -o /dev/null -u "bench:$SECRET" -d grant_type=client_credentials "$A/token"
  read -r code verifier <<<"$(new_code "$A" "$jar")"
  rt=$(redeem "$A" "$code" "$verifier" | refresh_token_of)
  codes=()
  for _ in $(seq 1 "$N"); do codes+=("$(new_code "$A" "$jar")"); done
  sleep 0.5

  off=$(stat -c %s "$PG_LOG")
  for _ in $(seq 1 "$N"); do curl -s -o /dev/null -u "bench:$SECRET" -d grant_type=client_credentials "$A/token"; done
  sleep 0.5; cc_st=$(count_statements "$off")

  off=$(stat -c %s "$PG_LOG")
  for pair in "${codes[@]}"; do read -r code verifier <<<"$pair"; redeem "$A" "$code" "$verifier" >/dev/null; done
  sleep 0.5; code_st=$(count_statements "$off")

  off=$(stat -c %s "$PG_LOG")
  for _ in $(seq 1 "$N"); do
    rt=$(curl -s -u "app:$APP_SECRET" -d grant_type=refresh_token --data-urlencode "refresh_token=$rt" "$A/token" | refresh_token_of)
    [ -n "$rt" ] || { echo "a refresh failed in the counting run" >&2; exit 1; }
  done
  sleep 0.5; rt_st=$(count_statements "$off")

  off=$(stat -c %s "$PG_LOG")
  for _ in $(seq 1 "$N"); do new_code "$A" "$jar" >/dev/null; done
  sleep 0.5; authz_st=$(count_statements "$off")

  psql -q "$PG" -c "ALTER DATABASE $name RESET log_statement" >/dev/null
  stop_node A
  printf '\ndatabase statements (= round trips) per request, %s sequential requests each, from the server log:\n' "$N"
  awk -v n="$N" -v cc="$cc_st" -v code="$code_st" -v rt="$rt_st" -v az="$authz_st" 'BEGIN {
    printf "  client_credentials          %5.2f\n", cc / n
    printf "  authorization_code (token)  %5.2f\n", code / n
    printf "  refresh_token               %5.2f\n", rt / n
    printf "  GET /authorize (signed in)  %5.2f\n", az / n }'
else
  echo "(no readable PostgreSQL log at $PG_LOG: statement counts skipped)" >&2
fi

[ "${ROUND_TRIPS_ONLY:-0}" = 1 ] && exit 0

# --- 2. throughput ----------------------------------------------------------------------
start_node A "$PORT_A"
start_node B "$PORT_B"

cat >"$work/cc.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read:orders"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench:%s' "$SECRET" | base64 -w0)"
if os.getenv("BENCH_DEBUG") then
  function response(status, headers, body)
    if status ~= 200 then io.stderr:write(status .. " " .. body .. "\n") end
  end
end
LUA
# One thread = one connection = one rotation chain; setup() hands each its first token.
cat >"$work/refresh.lua" <<LUA
local tokens = {}
for line in io.lines("$work/tokens-" .. (os.getenv("CHAIN_SET") or "A")) do tokens[#tokens + 1] = line end
local next_token = 1
function setup(thread)
  thread:set("rt", tokens[next_token]); next_token = next_token + 1
end
local auth = "Basic $(printf 'app:%s' "$APP_SECRET" | base64 -w0)"
function request()
  -- (wrk also calls this once in its main state to check it, where there is no chain)
  return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth},
    "grant_type=refresh_token&refresh_token=" .. (rt or ""))
end
function response(status, headers, body)
  if status ~= 200 and os.getenv("BENCH_DEBUG") then io.stderr:write(status .. " " .. body .. "\n") end
  if status == 200 then rt = body:match('"refresh_token":"([^"]+)"') or rt end
end
LUA

wrk_run() { # url connections script [CHAIN_SET] -> "rps requests non2xx"
  local out
  out=$(CHAIN_SET="${4:-A}" wrk -t"$2" -c"$2" -d"$DURATION" -s "$3" "$1/token")
  local rps req bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  req=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  echo "$rps $req $bad"
}
chains() { # base count file
  : >"$3"
  for _ in $(seq 1 "$2"); do
    read -r code verifier <<<"$(new_code "$1" "$jar")"
    # (echo: curl's body has no final newline, so neither has sed's output)
    echo "$(redeem "$1" "$code" "$verifier" | refresh_token_of)" >>"$3"
  done
}
per_xact() { awk -v x="$1" -v r="$2" 'BEGIN { if (r > 0) printf "%.2f", x / r; else print "n/a" }'; }
wrk_threads() { local t=$(( $1 < 2 ? 1 : 2 )); echo "$t"; }

printf '\nloopback, %s per run, wrk and %s nodes on the same %s-core machine (load average %s)\n' \
  "$DURATION" "1 or 2" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s | %10s | %8s | %s\n' run "requests/s" non-200 "xacts/request"

# client_credentials: A alone, then A + B.
x0=$(xacts); read -r rps req bad <<<"$(wrk_run "$A" "$CONNECTIONS" "$work/cc.lua")"; sleep 1.5; x1=$(xacts)
printf '%-36s | %10s | %8s | %s\n' "client_credentials, 1 node, c=$CONNECTIONS" "$rps" "$bad" "$(per_xact $((x1 - x0)) "$req")"
half=$(( CONNECTIONS / 2 ))
x0=$(xacts)
wrk_run "$A" "$half" "$work/cc.lua" >"$work/ra" & wa=$!
wrk_run "$B" "$half" "$work/cc.lua" >"$work/rb" & wb=$!
wait "$wa" "$wb"; sleep 1.5; x1=$(xacts)
read -r rps_a req_a bad_a <"$work/ra"; read -r rps_b req_b bad_b <"$work/rb"
printf '%-36s | %10s | %8s | %s\n' "client_credentials, 2 nodes, c=$half+$half" \
  "$(awk -v a="$rps_a" -v b="$rps_b" 'BEGIN{printf "%.2f", a + b}')" "$((bad_a + bad_b))" "$(per_xact $((x1 - x0)) $((req_a + req_b)))"

# refresh: CHAINS chains on A alone, then CHAINS/2 on each node.
chains "$A" "$CHAINS" "$work/tokens-A"
x0=$(xacts); read -r rps req bad <<<"$(wrk_run "$A" "$CHAINS" "$work/refresh.lua" A)"; sleep 1.5; x1=$(xacts)
printf '%-36s | %10s | %8s | %s\n' "refresh_token, 1 node, $CHAINS chains" "$rps" "$bad" "$(per_xact $((x1 - x0)) "$req")"
hc=$(( CHAINS / 2 ))
chains "$A" "$hc" "$work/tokens-A"
chains "$B" "$hc" "$work/tokens-B"
x0=$(xacts)
wrk_run "$A" "$hc" "$work/refresh.lua" A >"$work/ra" & wa=$!
wrk_run "$B" "$hc" "$work/refresh.lua" B >"$work/rb" & wb=$!
wait "$wa" "$wb"; sleep 1.5; x1=$(xacts)
read -r rps_a req_a bad_a <"$work/ra"; read -r rps_b req_b bad_b <"$work/rb"
printf '%-36s | %10s | %8s | %s\n' "refresh_token, 2 nodes, $hc+$hc chains" \
  "$(awk -v a="$rps_a" -v b="$rps_b" 'BEGIN{printf "%.2f", a + b}')" "$((bad_a + bad_b))" "$(per_xact $((x1 - x0)) $((req_a + req_b)))"

# Every chain must still be alive: a non-200 in a chain is a lost rotation.
live=$(psql -Atq "$DB_URL" -c "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL")
twice=$(psql -Atq "$DB_URL" -c "SELECT count(*) FROM (SELECT family_id FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL GROUP BY family_id HAVING count(*) > 1) f")
printf '\nrefresh families with a live token: %s; families with two live tokens: %s (must be 0)\n' "$live" "$twice"
