#!/usr/bin/env bash
# Installs the pinned Claude Code CLI versions from npm into a per-user cache keyed by version,
# (default: every version in cc-versions) and reuses an existing install. Prints "<version> <path to claude>" per version.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -gt 0 ]; then versions=("$@"); else
  # The supported list lives in one place: cc-versions at the repository root.
  mapfile -t versions < <(grep -v '^#' "$here/cc-versions" | awk 'NF {print $1}')
fi
cache="${AEGIS_CC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aegis/claude-code}"
for v in "${versions[@]}"; do
  dir="$cache/$v"
  bin="$dir/node_modules/.bin/claude"
  if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "^$v"; then
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    npm install --prefix "$dir.tmp" --no-audit --no-fund --loglevel=error \
      "@anthropic-ai/claude-code@$v" >&2
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  fi
  echo "$v $bin"
done
