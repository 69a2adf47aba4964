#!/usr/bin/env bash
# Benchmarks (figures go into BENCHMARKS.md):
#   scripts/bench.sh size      release WASM/JS/CSS size (raw, gzip, brotli), the bytes a first page load
#                              actually receives, and time from start to first 200 on /healthz
#   scripts/bench.sh live      webhook → DOM latency on an open Meetings page (BENCH_BOOKINGS=200,
#                              BENCH_MEETINGS=1000 meetings already there; BENCH_DATABASE_URL=postgres://…
#                              to run it on PostgreSQL)
#   scripts/bench.sh page      /meetings server render and one live change's cost with 1,000 and 10,000
#                              meetings, SQLite and PostgreSQL
#   scripts/bench.sh streams   10,000 open live streams on one instance: memory, idle CPU, sign-out
#                              (BENCH_DATABASE_URL=postgres://… for PostgreSQL)
#   scripts/bench.sh webhooks  webhook receiver throughput/latency with 1, 1,000, 100,000 advisers (PostgreSQL),
#                              next to pgbench's durable single-row insert rate measured in the same run
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
  for f in target/site/pkg/*.wasm target/site/pkg/*.js target/site/pkg/*.css; do
    printf '%-48s raw %9d B   gzip %8d B   brotli %8d B\n' "$(basename "$f")" "$(stat -c %s "$f")" \
      "$(stat -c %s "$f.gz" 2>/dev/null || gzip -9c "$f" | wc -c)" "$(stat -c %s "$f.br" 2>/dev/null || echo 0)"
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
  # What a browser receives on a first visit to the sign-in page (as Chromium asks: br, gzip).
  sent() { curl -s -o /dev/null -H 'Accept-Encoding: gzip, deflate, br, zstd' -w '%{size_download} %{content_type} %header{content-encoding} %header{cache-control}\n' "http://127.0.0.1:3950$1"; }
  html=$(curl -s http://127.0.0.1:3950/login)
  total=0
  for path in /login $(printf '%s' "$html" | grep -oE '/pkg/[^"]+\.(js|wasm|css)' | sort -u); do
    line=$(sent "$path"); total=$(( total + ${line%% *} ))
    printf 'sent %-48s %s\n' "$path" "$line"
  done
  echo "first page load over the wire (HTML + JS + WASM + CSS): $total B"
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi

if [ "$what" = live ] || [ "$what" = all ]; then
  data=$(mktemp -d)
  pid=$(start_server "$data" 3960)
  until curl -sf http://127.0.0.1:3960/healthz >/dev/null; do sleep 0.05; done
  (cd end2end && E2E_BASE_URL=http://127.0.0.1:3960 E2E_SIM_URL=http://127.0.0.1:4060 npx playwright test --config bench.config.ts) || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi

if [ "$what" = page ] || [ "$what" = all ]; then
  cargo bench -p server --bench meetings_page
fi

if [ "$what" = streams ] || [ "$what" = all ]; then
  # Each stream is a socket on both sides: the bench and the server need that many descriptors.
  ulimit -n "$(ulimit -Hn)"
  cargo bench -p server --bench streams -- --streams 10000
fi

if [ "$what" = webhooks ] || [ "$what" = all ]; then
  cargo bench -p server --bench webhooks
fi
