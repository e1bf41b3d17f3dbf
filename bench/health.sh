#!/usr/bin/env bash
# Start-up to ready (fresh database, then migrated), idle RSS, and GET /api/health and
# /health/live throughput at 64 connections.   bench/health.sh
source "$(dirname "$0")/common.sh"
fresh_db
start_app
echo "startup_fresh_db_ms: $READY_MS"
stop_app
start_app
echo "startup_ms: $READY_MS"
sleep 2
echo "idle_rss_mb: $(rss_mb "$SF_PID")"
wrk_run health "$BASE/api/health"
wrk_run live "$BASE/health/live"
echo "rss_after_load_mb: $(rss_mb "$SF_PID")"
stop_app
start_app REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
wrk_run health_with_redis "$BASE/api/health"
