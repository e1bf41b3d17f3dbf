#!/usr/bin/env bash
# Social booster benchmark: scheduler lateness (10,000 posts due within one minute against a
# fake X) and calendar latency (a workspace with 100,000 posts). Builds in release and prints
# `name: value` lines. Needs PostgreSQL and Redis (scripts/services starts them).
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/smartflow_social_bench bench/social.sh
# It truncates the social tables, jobs, events and audit log, so it refuses a database whose
# name does not contain `bench`; it runs once and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/guard.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/smartflow_social_bench}"
require_bench_database "$DATABASE_URL"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export RUST_LOG="${RUST_LOG:-warn}"
exec cargo bench --bench social --quiet
