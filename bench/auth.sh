#!/usr/bin/env bash
# Login latency (argon2id at the configured cost) and the cost of authentication on a request:
# GET /api/auth/session (bearer token checked against the cached session) against
# GET /api/main/info (no authentication), both at 64 connections.   bench/auth.sh
source "$(dirname "$0")/common.sh"
fresh_db
start_app REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" SMARTFLOW_ENV=development
email="bench-$(date +%s)@example.com"
curl -fsS -X POST "$BASE/api/auth/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery staple\"}" >/dev/null
times=()
for _ in $(seq 1 40); do
  t=$(curl -fsS -o /dev/null -w '%{time_total}' -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery staple\"}")
  times+=("$t")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "login_p50_ms: %.1f\nlogin_p99_ms: %.1f\n", a[int(NR*0.5)]*1000, a[NR]*1000}'
token=$(curl -fsS -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery staple\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
wrk_run unauthenticated "$BASE/api/main/info"
wrk_run authenticated -H "Authorization: Bearer $token" "$BASE/api/auth/session"
