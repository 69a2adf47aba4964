#!/usr/bin/env bash
# Installs what is missing, builds the release site and runs Advicly (SQLite and sandbox mode
# unless configured otherwise; see README "Configuration").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
case "${DATABASE_URL:-}" in
  postgres*) bash scripts/setup.sh --no-browser ;;
  *) bash scripts/setup.sh --no-browser --no-postgres ;;
esac
started=$SECONDS
if [ ! -x "$CARGO_TARGET_DIR/release/server" ]; then
  printf '\033[1;34m[run]\033[0m building Advicly in release mode for the first time (about 8 min on 2 cores; later builds take seconds)\n'
fi
cargo leptos build --release --precompress
printf '\033[1;34m[run]\033[0m built in %d min %d s\n' $(( (SECONDS - started) / 60 )) $(( (SECONDS - started) % 60 ))
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$PWD/target/site}"
addr="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
echo
echo "  Advicly is starting — open ${APP_PUBLIC_URL:-http://$addr} in your browser."
echo
exec "$CARGO_TARGET_DIR/release/server"
