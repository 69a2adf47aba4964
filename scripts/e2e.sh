#!/usr/bin/env bash
# Browser tests: builds the site, starts the real server in sandbox mode on the given database,
# waits for /healthz, runs Playwright against it, stops the server.
# Usage: scripts/e2e.sh [sqlite|postgres]...   (default: both)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The same release build the run command serves.
cargo leptos build --release || exit 1
databases=("$@"); [ ${#databases[@]} -eq 0 ] && databases=(sqlite postgres)
rc=0
for db in "${databases[@]}"; do
  data=$(mktemp -d)
  port=3900
  case "$db" in
    sqlite) url="sqlite://$data/e2e.db?mode=rwc" ;;
    postgres)
      name="advicly_e2e_$$"
      psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
      url="postgres://postgres@127.0.0.1:5432/$name" ;;
  esac
  echo "== browser tests on $db"
  DATABASE_URL="$url" APP_DATA_DIR="$data" LEPTOS_SITE_ADDR="127.0.0.1:$port" APP_PUBLIC_URL="http://127.0.0.1:$port" \
    LEPTOS_SITE_ROOT="$PWD/target/site" RUST_LOG="${RUST_LOG:-warn}" \
    "$CARGO_TARGET_DIR/release/server" > "$data/server.log" 2>&1 &
  pid=$!
  second=""
  if [ "$db" = postgres ]; then
    # A second instance on the same database: live changes must cross instances.
    DATABASE_URL="$url" APP_DATA_DIR="$data" LEPTOS_SITE_ADDR="127.0.0.1:$((port + 1))" APP_PUBLIC_URL="http://127.0.0.1:$((port + 1))" \
      LEPTOS_SITE_ROOT="$PWD/target/site" RUST_LOG="${RUST_LOG:-warn}" \
      "$CARGO_TARGET_DIR/release/server" > "$data/server2.log" 2>&1 &
    second=$!
  fi
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  if ! curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then
    echo "server did not become healthy:"; cat "$data/server.log"; kill $pid $second 2>/dev/null; wait $pid $second 2>/dev/null; rc=1; continue
  fi
  second_url=""
  if [ -n "$second" ]; then
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break; sleep 0.2; done
    second_url="http://127.0.0.1:$((port + 1))"
  fi
  (cd end2end && E2E_BASE_URL="http://127.0.0.1:$port" E2E_SIM_URL="http://127.0.0.1:$((port + 100))" E2E_SECOND_URL="$second_url" npx playwright test) || { rc=1; tail -n 50 "$data/server.log"; }
  kill $pid $second 2>/dev/null; wait $pid $second 2>/dev/null
  [ "$db" = postgres ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $name" >/dev/null
done
exit $rc
