#!/usr/bin/env bash
# Installs the pinned Claude Code CLI versions from npm into a per-user cache keyed by version,
# and reuses an existing install. Prints "<version> <path to claude>" per version.
set -euo pipefail
versions=("${@:-2.1.197 2.1.330}")
[ $# -eq 0 ] && versions=(2.1.197 2.1.330)
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
