#!/usr/bin/env bash
# Installs (idempotently) everything the run and test commands need on a fresh machine:
# the wasm32 target, cargo-leptos, wasm-bindgen-cli (same version as the crate in Cargo.lock),
# wasm-opt (npm binaryen), Chromium and nginx (Debian) and the end2end npm packages, and starts
# PostgreSQL.
# Only package registries are used. Usage: scripts/setup.sh [--no-browser] [--no-postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

want_browser=1 want_postgres=1
for arg in "$@"; do
  case "$arg" in
    --no-browser) want_browser=0 ;;
    --no-postgres) want_postgres=0 ;;
  esac
done

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock 2>/dev/null | sed -n 's/^version = "\(.*\)"/\1/p' | head -1 || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

# Installs a crate from its .crate file after pinning one dependency, because the published
# lockfiles of these two tools do not build on this toolchain/index (see shared TOOLCHAIN.md).
install_pinned_crate() {
  local name=$1 version=$2 pin_pkg=$3 pin_version=$4
  local work="$TOOLS_DIR/src/$name-$version" t0=$SECONDS
  mkdir -p "$TOOLS_DIR/src"
  if [ ! -d "$work" ]; then
    curl -sSfL "https://static.crates.io/crates/$name/$name-$version.crate" -o "$work.crate"
    tar -xzf "$work.crate" -C "$TOOLS_DIR/src"
  fi
  (cd "$work" && cargo update -p "$pin_pkg" --precise "$pin_version" >/dev/null 2>&1 || true)
  # These tools only drive builds: compiled without optimisation, LTO or debug info and in many
  # codegen units they install in a third of the time (cargo-leptos 16 → 6 min on 2 cores), and a
  # release build of the site takes the same time with them (measured: 47.0 s vs 48.7 s; their
  # own work is small next to cargo, wasm-opt and linking — see BENCHMARKS.md).
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false CARGO_TARGET_DIR="$TOOLS_DIR/target" \
    cargo install --path "$work" --locked --root "$TOOLS_DIR"
  log "$name $version installed in $(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo-leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION from crates.io (about 4–6 min on 2 cores, once)"
  install_pinned_crate cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-util-schemas 0.14.1
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION from crates.io (about 1 min, once)"
  install_pinned_crate wasm-bindgen-cli "$WASM_BINDGEN_VERSION" webpki-roots 1.0.10
fi

if [ ! -x "$TOOLS_DIR/node_modules/.bin/wasm-opt" ]; then
  log "installing wasm-opt (npm binaryen)"
  mkdir -p "$TOOLS_DIR"
  (cd "$TOOLS_DIR" && npm install --no-audit --no-fund --silent binaryen@132 >/dev/null)
fi

if [ "$want_browser" = 1 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
  fi
  # The browser tests run once through nginx (deploy/); only the binary is used, never the
  # system service (it may be started by the package's postinst; the tests do not use port 80).
  if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null; then
    log "installing Debian's nginx"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq nginx >/dev/null
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    log "installing end2end npm packages"
    (cd end2end && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
  fi
fi

if [ "$want_postgres" = 1 ] && command -v pg_ctlcluster >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
log "toolchain ready"
