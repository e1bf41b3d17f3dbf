#!/usr/bin/env bash
# Job queue benchmark: builds in release and prints `name: value` lines. It truncates
# smartflow_shared.jobs, so it refuses a database whose name does not contain `bench`. It runs
# once: a failure is printed as it happened and the script exits non-zero.
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/smartflow_bench bench/jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/guard.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/smartflow_bench}"
require_bench_database "$DATABASE_URL"
export RUST_LOG="${RUST_LOG:-warn}"
exec cargo bench --bench jobs --quiet
