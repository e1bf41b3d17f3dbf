#!/usr/bin/env bash
# Main site throughput: `GET /` and `POST /api/leads` (each request a new lead, with its
# notification e-mail and event jobs run in the same process) at 64 connections, rate limits
# off. Every request reuses one form token, so the benchmark turns off the single-use check
# (`main_site.single_use_form_tokens`; it costs one cache SET NX per accepted form).
# Prints `name: value` lines.   bench/main_site.sh   (DURATION=30s bench/main_site.sh)
BENCH_DB="${BENCH_DB:-smartflow_bench_main_site}"
source "$(dirname "$0")/common.sh"
fresh_db
start_app SMARTFLOW_ENV=development SMARTFLOW__MAIL__TRANSPORT=log \
  SMARTFLOW__MAIN_SITE__SINGLE_USE_FORM_TOKENS=false
work="$(mktemp -d)"

wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$BASE/" >/dev/null   # warm-up
wrk_run get_home "$BASE/"

# Public forms need a signed token at least `main_site.min_fill_secs` (3 s) old.
token="$(curl -fsS "$BASE/api/forms/token" | sed -E 's/.*"token":"([^"]+)".*/\1/')"
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
SF_FORM_TOKEN="$token" wrk_run post_leads -s "$work/leads.lua" "$BASE"
echo "leads_stored: $(psql "$PG/$BENCH_DB" -qAtXc 'select count(*) from smartflow_main.leads')"
rm -rf "$work"
