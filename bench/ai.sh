#!/usr/bin/env bash
# AI platform benchmarks: chat request-to-first-token overhead with a fake provider answering
# instantly, WebSocket fan-out to N subscribers, knowledge search on 10,000 chunks. Builds in
# release and prints `name: value` lines. A fresh database is created on the server and dropped.
#   BENCH_DATABASE_SERVER=postgres://postgres@127.0.0.1:5432 REDIS_URL=redis://127.0.0.1:6379 bench/ai.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DATABASE_SERVER="${BENCH_DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export RUST_LOG="${RUST_LOG:-warn}"
ulimit -n 4096 2>/dev/null || true
# One run: a failure is printed as it happened, not hidden and run again.
exec cargo bench --bench ai --quiet
