# Shared by the HTTP benchmarks: build once in release, run SmartFlow against a scratch
# database, wait until it is ready, stop it at exit. Source it; then use $BASE and $SF_PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_DB="${BENCH_DB:-smartflow_bench_http}"
# The scratch database is dropped and recreated: never one whose name does not say bench.
source bench/guard.sh
require_bench_database "$PG/$BENCH_DB" BENCH_DB
PORT="${BENCH_PORT:-3300}"
BASE="http://127.0.0.1:$PORT"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
scripts/services
cargo build --release --locked --quiet
BIN=target/release/smartflow

now_ms() { date +%s%3N; }

# start_app [extra env...]: starts SmartFlow, sets SF_PID and READY_MS (start to /health/ready).
start_app() {
  local started; started=$(now_ms)
  env DATABASE_URL="$PG/$BENCH_DB" PORT="$PORT" SMARTFLOW_ENV=test \
    SMARTFLOW__SERVER__WORKERS=2 SMARTFLOW__RATE_LIMIT__ENABLED=false \
    SMARTFLOW__TELEMETRY__LOG_LEVEL=warn SMARTFLOW__STORAGE__LOCAL_PATH="${TMPDIR:-/tmp}/sf-bench-uploads" \
    "$@" "$BIN" serve >"${TMPDIR:-/tmp}/sf-bench.log" 2>&1 &
  SF_PID=$!
  until curl -fsS "$BASE/health/ready" >/dev/null 2>&1; do
    kill -0 "$SF_PID" 2>/dev/null || { cat "${TMPDIR:-/tmp}/sf-bench.log" >&2; exit 1; }
    sleep 0.01
  done
  READY_MS=$(( $(now_ms) - started ))
}

stop_app() {
  if [ -n "${SF_PID:-}" ] && kill -0 "$SF_PID" 2>/dev/null; then
    kill -TERM "$SF_PID"; wait "$SF_PID" 2>/dev/null || true
  fi
}
cleanup() {
  stop_app
  psql "$PG/postgres" -qXc "drop database if exists $BENCH_DB with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fresh_db() {
  psql "$PG/postgres" -qc "drop database if exists $BENCH_DB with (force)" >/dev/null
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# wrk_run <name> <wrk args...>: prints <name>_rps and <name>_p99_ms (DURATION, CONNECTIONS and
# THREADS set the load; 10 s, 64 and 2 by default).
wrk_run() {
  local name=$1; shift
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  echo "${name}_rps: $(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  echo "${name}_p99_ms: $(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')"
  echo "$out" | grep -q "Non-2xx" && echo "${name}_non_2xx: $(echo "$out" | awk '/Non-2xx/ {print $5}')" || true
}
