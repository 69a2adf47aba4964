#!/usr/bin/env bash
# Benchmarks (figures go into BENCHMARKS.md):
#   scripts/bench.sh size      release WASM + JS size (raw, gzip) and time from start to first 200 on /healthz
#   scripts/bench.sh live      webhook → DOM latency on an open Meetings page (BENCH_BOOKINGS=200;
#                              BENCH_DATABASE_URL=postgres://… to run it on PostgreSQL)
#   scripts/bench.sh webhooks  webhook receiver throughput/latency with 1, 1,000, 100,000 advisers (PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh
what="${1:-all}"

start_server() { # $1 = data dir, $2 = port; BENCH_DATABASE_URL overrides the SQLite default
  DATABASE_URL="${BENCH_DATABASE_URL:-sqlite://$1/bench.db?mode=rwc}" APP_DATA_DIR="$1" LEPTOS_SITE_ADDR="127.0.0.1:$2" \
    APP_PUBLIC_URL="http://127.0.0.1:$2" LEPTOS_SITE_ROOT="$PWD/target/site" RUST_LOG=warn \
    "$CARGO_TARGET_DIR/release/server" > "$1/server.log" 2>&1 &
  echo $!
}

if [ "$what" = size ] || [ "$what" = live ] || [ "$what" = all ]; then
  cargo leptos build --release --precompress
fi

if [ "$what" = size ] || [ "$what" = all ]; then
  for f in target/site/pkg/advicly.wasm target/site/pkg/advicly.js target/site/pkg/advicly.css; do
    printf '%-32s raw %8d B   gzip %8d B\n' "$f" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
  done
  data=$(mktemp -d)
  t0=$(date +%s%N)
  pid=$(start_server "$data" 3950)
  until curl -sf http://127.0.0.1:3950/healthz >/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  echo "process start → first 200 on /healthz: $(( (t1 - t0) / 1000000 )) ms (fresh SQLite database, migrations included)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  t0=$(date +%s%N)
  pid=$(start_server "$data" 3950)
  until curl -sf http://127.0.0.1:3950/healthz >/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  echo "process start → first 200 on /healthz: $(( (t1 - t0) / 1000000 )) ms (existing database)"
  echo "resident memory after start: $(awk '/VmRSS/ {print $2, $3}' /proc/"$pid"/status)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi

if [ "$what" = live ] || [ "$what" = all ]; then
  data=$(mktemp -d)
  pid=$(start_server "$data" 3960)
  until curl -sf http://127.0.0.1:3960/healthz >/dev/null; do sleep 0.05; done
  (cd end2end && E2E_BASE_URL=http://127.0.0.1:3960 E2E_SIM_URL=http://127.0.0.1:4060 npx playwright test --config bench.config.ts) || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi

if [ "$what" = webhooks ] || [ "$what" = all ]; then
  cargo bench -p server --bench webhooks
fi
