#!/usr/bin/env bash
# Social booster benchmark: scheduler lateness (10,000 posts due within one minute against a
# fake X) and calendar latency (a workspace with 100,000 posts). Builds in release and prints
# `name: value` lines. Needs PostgreSQL and Redis (scripts/services starts them).
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/smartflow_social_bench bench/social.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/smartflow_social_bench}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export RUST_LOG="${RUST_LOG:-warn}"
cargo bench --bench social --quiet 2>/dev/null || cargo bench --bench social
