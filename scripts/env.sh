# Sourced by the scripts: where tools and build output live (outside the clone, so repeated
# runs on one machine reuse them).
export TOOLS_DIR="${ADVICLY_TOOLS_DIR:-$HOME/.cache/advicly/tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/advicly/target}"
export PATH="$TOOLS_DIR/bin:$TOOLS_DIR/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# CI builds each submission in a fresh clone at a new path, where incremental caches are never
# reused: skip writing them (faster, and much less disk).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
