#!/usr/bin/env bash
# Every benchmark in one go, with a short default duration (issue 17): a quick look at
# all the figures docs/performance.md quotes, on the machine at hand. Not a test.
#
# Runs, in order: client_credentials.sh (ratio to the bare axum peer, DPoP, ready time
# on an existing database, idle RSS), introspection.sh, login_flow.sh, and cluster.sh
# (round trips per grant by PostgreSQL log_statement, one node vs two) when a
# PostgreSQL server answers at PORTCULLIS_BENCH_POSTGRES_URL /
# PORTCULLIS_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# Prints the machine's load before each, since ratios only hold within one run.
#
# Usage: bench/run-all.sh     (DURATION=3s for the wrk benches, LOGIN_SECONDS=3 for
#                              login_flow; CONNECTIONS, CONCURRENCY as in each script)
set -euo pipefail
cd "$(dirname "$0")/.."
export DURATION="${DURATION:-3s}"
LOGIN_SECONDS="${LOGIN_SECONDS:-${DURATION%s}}"
PG="${PORTCULLIS_BENCH_POSTGRES_URL:-${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"

# One release build up front; each script's own build is then a no-op.
cargo build --release -q -p portcullis --bin portcullis \
  --example bare_client_credentials --example dpop_proofs --example login_flow

section() {
  printf '\n===== %s  (%s cores, load %s, %s UTC)\n' "$1" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%H:%M:%S)"
}

section "bench/client_credentials.sh"
bench/client_credentials.sh
section "bench/introspection.sh"
bench/introspection.sh
section "bench/login_flow.sh"
DURATION="$LOGIN_SECONDS" bench/login_flow.sh
if command -v psql >/dev/null && psql -q "$PG" -c 'SELECT 1' >/dev/null 2>&1; then
  section "bench/cluster.sh"
  SKIP_BUILD=1 bench/cluster.sh
else
  section "bench/cluster.sh skipped: no PostgreSQL at $PG"
fi
