#!/usr/bin/env bash
# Browser tests: builds the site, starts the real server (sandbox Calendly) on the given database,
# waits for /healthz, runs Playwright against it, stops everything it started. Runs:
#   sqlite    one instance
#   postgres  two instances on one database (live changes must cross instances)
#   proxy     two instances on PostgreSQL behind nginx (deploy/nginx.test.conf, which includes the
#             production deploy/advicly-locations.conf); only end2end/tests/proxy.spec.ts
# Usage: scripts/e2e.sh [sqlite|postgres|proxy]...   (default: all three)
# E2E_SKIP_BUILD=1 uses the release build already there. The sqlite and postgres runs listen on
# E2E_PORT (default 3900) and the next port, their simulator on E2E_PORT + 100; the proxy run
# uses 3910-3912, 4012 and nginx on 3920 (the ports deploy/nginx.test.conf names).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# The same release build the run command serves.
if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  cargo leptos build --release --precompress || exit 1
fi
server="$CARGO_TARGET_DIR/release/server"
[ -x "$server" ] || { echo "no release build at $server"; exit 1; }
runs=("$@"); [ ${#runs[@]} -eq 0 ] && runs=(sqlite postgres proxy)

pids=() databases=()
# Stops what this script started (also on Ctrl-C or an error) and drops its databases.
stop_all() {
  if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; fi
  for name in "${databases[@]}"; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $name" >/dev/null; done
  pids=() databases=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start LOG [VAR=value]...: the release server with these variables, in the background.
start() {
  local log=$1; shift
  env LEPTOS_SITE_ROOT="$PWD/target/site" RUST_LOG="${RUST_LOG:-warn}" "$@" "$server" >"$log" 2>&1 &
  pids+=($!)
}
healthy() {
  for _ in $(seq 1 100); do curl -sf "$1/healthz" >/dev/null && return 0; sleep 0.2; done
  return 1
}
fresh_database() {
  PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null || return 1
  databases+=("$1")
}
# The variables that point an instance at the simulator a sandbox-mode instance started: every
# instance must talk to the same Calendly (the OAuth code one instance asked for is exchanged by
# whichever instance gets the callback, and deliveries land on any of them).
calendly_of() {
  curl -sf "$1/_sim/config" | node -e '
    const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log([`CALENDLY_CLIENT_ID=${c.client_id}`, `CALENDLY_CLIENT_SECRET=${c.client_secret}`,
      `CALENDLY_WEBHOOK_SIGNING_KEY=${c.webhook_signing_key}`, `CALENDLY_AUTH_URL=${c.base_url}`,
      `CALENDLY_API_URL=${c.base_url}`].join("\n"));'
}
new_key() { head -c 32 /dev/urandom | base64; }

# sqlite | postgres: one sandbox-mode instance (its simulator on port + 100); on postgres a second
# instance on the same database and the same simulator.
run_direct() {
  local db=$1 data port=${E2E_PORT:-3900} url name calendly second_url=""
  data=$(mktemp -d)
  case "$db" in
    sqlite) url="sqlite://$data/e2e.db?mode=rwc" ;;
    postgres)
      name="advicly_e2e_$$"
      fresh_database "$name" || return 1
      url="postgres://postgres@127.0.0.1:5432/$name" ;;
  esac
  echo "== browser tests on $db"
  start "$data/server.log" DATABASE_URL="$url" APP_DATA_DIR="$data" \
    LEPTOS_SITE_ADDR="127.0.0.1:$port" APP_PUBLIC_URL="http://127.0.0.1:$port"
  if ! healthy "http://127.0.0.1:$port"; then
    echo "server did not become healthy:"; cat "$data/server.log"; return 1
  fi
  if [ "$db" = postgres ]; then
    # A second instance on the same database (live changes must cross instances), with the
    # first one's Calendly and encryption key.
    mapfile -t calendly < <(calendly_of "http://127.0.0.1:$((port + 100))")
    [ ${#calendly[@]} -eq 5 ] || { echo "could not read the simulator's configuration"; return 1; }
    start "$data/server2.log" DATABASE_URL="$url" APP_DATA_DIR="$data" "${calendly[@]}" \
      APP_ENCRYPTION_KEY="$(cat "$data/sandbox-encryption.key")" \
      LEPTOS_SITE_ADDR="127.0.0.1:$((port + 1))" APP_PUBLIC_URL="http://127.0.0.1:$((port + 1))"
    healthy "http://127.0.0.1:$((port + 1))" || { echo "second instance did not become healthy:"; cat "$data/server2.log"; return 1; }
    second_url="http://127.0.0.1:$((port + 1))"
  fi
  (cd end2end && E2E_BASE_URL="http://127.0.0.1:$port" E2E_SIM_URL="http://127.0.0.1:$((port + 100))" E2E_SECOND_URL="$second_url" npx playwright test) ||
    { tail -n 50 "$data"/server*.log; return 1; }
}

# proxy: two identically configured instances on one PostgreSQL database behind nginx, as
# deploy/README.md describes: APP_PUBLIC_URL is nginx's address (so Calendly's deliveries are
# balanced over both), APP_TRUSTED_PROXIES is nginx. Their Calendly is the simulator of a third,
# sandbox-mode server on its own SQLite file that takes no other part.
run_proxy() {
  local data ngx name key calendly public=http://127.0.0.1:3920 nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  echo "== browser tests on postgres behind nginx"
  [ -x "$nginx" ] || { echo "nginx is not installed (scripts/setup.sh installs it)"; return 1; }
  data=$(mktemp -d) key=$(new_key)
  ngx="$data/nginx" && mkdir -p "$ngx"
  # nginx started by root runs its workers as nobody: they must reach their temp directories.
  chmod 755 "$data" "$ngx"
  name="advicly_e2e_proxy_$$"
  fresh_database "$name" || return 1
  start "$data/calendly.log" DATABASE_URL="sqlite://$data/calendly.db?mode=rwc" APP_DATA_DIR="$data/calendly" \
    LEPTOS_SITE_ADDR=127.0.0.1:3912 APP_PUBLIC_URL=http://127.0.0.1:3912
  healthy http://127.0.0.1:3912 || { echo "the simulator's server did not become healthy:"; cat "$data/calendly.log"; return 1; }
  mapfile -t calendly < <(calendly_of http://127.0.0.1:4012)
  [ ${#calendly[@]} -eq 5 ] || { echo "could not read the simulator's configuration"; return 1; }
  for i in 0 1; do
    start "$data/server$i.log" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name" APP_DATA_DIR="$data" \
      APP_ENCRYPTION_KEY="$key" "${calendly[@]}" LEPTOS_SITE_ADDR="127.0.0.1:391$i" APP_PUBLIC_URL="$public" \
      APP_TRUSTED_PROXIES=127.0.0.1
  done
  "$nginx" -p "$ngx/" -c "$PWD/deploy/nginx.test.conf" -e "$ngx/error.log" &
  pids+=($!)
  for instance in http://127.0.0.1:3910 http://127.0.0.1:3911 "$public"; do
    healthy "$instance" || { echo "$instance did not become healthy:"; tail -n 20 "$data"/server*.log "$ngx/error.log"; return 1; }
  done
  (cd end2end && E2E_PROXY=1 E2E_BASE_URL="$public" E2E_SIM_URL=http://127.0.0.1:4012 \
    E2E_INSTANCE_URLS=http://127.0.0.1:3910,http://127.0.0.1:3911 npx playwright test tests/proxy.spec.ts) ||
    { tail -n 30 "$data"/server*.log "$ngx/error.log"; return 1; }
}

rc=0
for run in "${runs[@]}"; do
  case "$run" in
    sqlite | postgres) run_direct "$run" || rc=1 ;;
    proxy) run_proxy || rc=1 ;;
    *) echo "unknown run $run (sqlite, postgres or proxy)"; rc=1 ;;
  esac
  stop_all
done
exit $rc
