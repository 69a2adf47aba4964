#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs/starts what it needs, runs the Rust unit and
# black-box tests (each against SQLite and PostgreSQL) and the browser tests (both databases),
# then prints one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh || exit 1
out=$(mktemp -d)

# Test databases are per test; drop leftovers from earlier runs.
psql -h 127.0.0.1 -U postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'advicly_test_%'" 2>/dev/null |
  while read -r db; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1; done

# Style guardrails: formatting, and clippy with warnings denied (server side, and the browser
# build of the pages).
lint_rc=0
echo "== rustfmt --check, clippy -D warnings"
cargo fmt --all --check || lint_rc=1
cargo clippy --workspace --exclude frontend --all-targets -- -D warnings || lint_rc=1
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings || lint_rc=1

cargo test --workspace --exclude frontend --no-fail-fast 2>&1 | tee "$out/cargo.txt"
cargo_rc=${PIPESTATUS[0]}
bash scripts/e2e.sh 2>&1 | tee "$out/e2e.txt"
e2e_rc=${PIPESTATUS[0]}

sum() { grep -oE "$1" "$2" | grep -oE '^[0-9]+|[0-9]+' | awk '{s+=$1} END {print s+0}'; }
passed=$(( $(grep 'test result:' "$out/cargo.txt" | sum '[0-9]+ passed' /dev/stdin) + $(grep -E '^\s+[0-9]+ passed' "$out/e2e.txt" | sum '[0-9]+ passed' /dev/stdin) ))
failed=$(( $(grep 'test result:' "$out/cargo.txt" | sum '[0-9]+ failed' /dev/stdin) + $(grep -E '^\s+[0-9]+ failed' "$out/e2e.txt" | sum '[0-9]+ failed' /dev/stdin) ))
if [ "$cargo_rc" -ne 0 ] || [ "$e2e_rc" -ne 0 ]; then
  [ "$failed" -eq 0 ] && failed=1   # a build failure counts as a failure
fi
if [ "$lint_rc" -ne 0 ]; then
  echo "rustfmt or clippy found problems (see above)"
  failed=$(( failed + 1 ))
fi
echo
echo "summary: $passed passed, $failed failed"
[ "$cargo_rc" -eq 0 ] && [ "$e2e_rc" -eq 0 ] && [ "$lint_rc" -eq 0 ]
