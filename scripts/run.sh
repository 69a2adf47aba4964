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
cargo leptos build --release
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$PWD/target/site}"
addr="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
echo
echo "  Advicly is starting — open ${APP_PUBLIC_URL:-http://$addr} in your browser."
echo
exec "$CARGO_TARGET_DIR/release/server"
