#!/usr/bin/env bash
# Main site throughput: `GET /` and `POST /api/leads` at 64 connections, measured with wrk
# against a release build of SmartFlow on a scratch database, rate limits off. Prints
# `name: value` lines.
#
#   bench/main_site.sh                       # 20 s per run, 64 connections, 2 wrk threads
#   DURATION=30s CONNECTIONS=64 bench/main_site.sh
#
# Needs PostgreSQL on 127.0.0.1:5432 (scripts/services) and wrk (apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_SERVER="${PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
DB="smartflow_bench_main_site"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PORT="${PORT:-3901}"
BASE="http://127.0.0.1:${PORT}"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
scripts/services
cargo build --release --bin smartflow --quiet

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  psql "$PG_SERVER/postgres" -qXc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$PG_SERVER/postgres" -qXc "drop database if exists $DB with (force)" >/dev/null 2>&1

# One process serves HTTP and runs the jobs (notification e-mails, event dispatch), as a
# single-node deployment does. E-mails go to the log transport; logs are quiet.
env SMARTFLOW_ENV=development \
  DATABASE_URL="$PG_SERVER/$DB" \
  RUST_LOG=warn \
  SMARTFLOW__SERVER__PORT="$PORT" \
  SMARTFLOW__RATE_LIMIT__ENABLED=false \
  SMARTFLOW__MAIL__TRANSPORT=log \
  SMARTFLOW__TELEMETRY__LOG_LEVEL=warn \
  target/release/smartflow serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  curl -sf "$BASE/health/ready" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$BASE/health/ready" >/dev/null || { echo "SmartFlow did not become ready" >&2; exit 1; }

# Requests/sec and the 99th percentile (in ms) from wrk's report.
report() {
  local name="$1" file="$2"
  awk -v name="$name" '
    /Requests\/sec/ { printf "%s_requests_per_sec: %d\n", name, $2 }
    $1 == "99%" {
      v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
      ms = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v
      printf "%s_p99_ms: %.2f\n", name, ms
    }
    /Non-2xx or 3xx responses/ { printf "%s_errors: %d\n", name, $5 }
  ' "$file"
  grep -q "Non-2xx or 3xx" "$file" || echo "${name}_errors: 0"
}

echo "connections: $CONNECTIONS"
echo "duration: $DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$BASE/" >/dev/null   # warm-up
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$BASE/" >"$work/home.txt"
report get_home "$work/home.txt"

# Public forms need a signed token at least `main_site.min_fill_secs` (3 s) old.
token="$(curl -sf "$BASE/api/forms/token" | sed -E 's/.*"token":"([^"]+)".*/\1/')"
sleep 3
cat >"$work/leads.lua" <<'LUA'
-- Each request is a new lead (a unique e-mail per thread and request).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
local token = os.getenv("SF_FORM_TOKEN")
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench Lead","email":"bench-%d-%d@example.com","company":"Load Test","source":"bench","consent":true,"form_token":"%s"}',
    tid, counter, token)
  return wrk.format("POST", "/api/leads", { ["Content-Type"] = "application/json" }, body)
end
LUA
SF_FORM_TOKEN="$token" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/leads.lua" "$BASE" >"$work/leads.txt"
report post_leads "$work/leads.txt"
echo "leads_stored: $(psql "$PG_SERVER/$DB" -qAtXc 'select count(*) from smartflow_main.leads')"
