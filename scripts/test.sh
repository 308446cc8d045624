#!/usr/bin/env bash
# The whole test suite: lint, unit + snapshot tests, and the end-to-end tests against the real Claude
# Code CLI at every pinned version (installed into a per-user cache on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-claude-code.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Real CC sessions cost a few hundred MB each: two test threads keep the machine comfortable.
cargo test -- --test-threads="${AEGIS_TEST_THREADS:-2}"
if [ -x clients/test-all.sh ]; then
  cargo build
  AEGIS_BIN="$PWD/target/debug/aegis" CLAUDE_BIN="$(./scripts/install-claude-code.sh 2.1.330 | awk '{print $2}')" \
    clients/test-all.sh --check-generated
fi
