#!/usr/bin/env bash
# Job queue benchmark: builds in release and prints `name: value` lines.
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/smartflow_bench bench/jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/smartflow_bench}"
export RUST_LOG="${RUST_LOG:-warn}"
cargo bench --bench jobs --quiet 2>/dev/null || cargo bench --bench jobs
