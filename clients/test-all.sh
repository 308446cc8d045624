#!/usr/bin/env bash
# Installs each client's dependencies and runs the three test suites (offline tests always; live tests
# against a real `aegis serve` + `aegis fake-api` + Claude Code when AEGIS_BIN and CLAUDE_BIN are set).
#
#   AEGIS_BIN=target/debug/aegis CLAUDE_BIN=$(scripts/install-claude-code.sh 2.1.330 | cut -d' ' -f2) \
#     clients/test-all.sh [--check-generated]
#
# Suites run one after another (each live test runs one CC session at a time). Exit status is non-zero if
# any suite fails. With --check-generated, clients/generate.sh --check runs first.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
for v in AEGIS_BIN CLAUDE_BIN; do
  if [ -n "${!v:-}" ]; then
    case "${!v}" in /*) ;; *) export "$v=$root/${!v}" ;; esac
    [ -x "${!v}" ] || { echo "test-all: $v=${!v} is not executable" >&2; exit 2; }
  else
    echo "test-all: $v not set: live tests will be skipped" >&2
  fi
done
command -v tmux >/dev/null || echo "test-all: tmux not found: live tests will fail" >&2

failed=()
step() { # name, command...
  local name="$1"; shift
  echo "=== $name" >&2
  local t0=$SECONDS
  if "$@"; then echo "=== $name: ok ($((SECONDS - t0)) s)" >&2; else echo "=== $name: FAILED ($((SECONDS - t0)) s)" >&2; failed+=("$name"); fi
}

if [ "${1:-}" = "--check-generated" ]; then
  step "generate --check" "$here/generate.sh" --check
fi

# grpcurl for the Python suite's tooling test (reflection v1 + decoded ErrorInfo), pinned, from the Go module
# proxy into clients/tools/bin like generate.sh's tools; without Go that one test is skipped.
GRPCURL_VERSION=v1.9.4
if [ -z "${GRPCURL:-}" ] && command -v go >/dev/null; then
  if [ ! -x "$here/tools/bin/grpcurl-$GRPCURL_VERSION" ]; then
    echo "test-all: go install grpcurl@$GRPCURL_VERSION" >&2
    mkdir -p "$here/tools/bin"
    GOBIN="$here/tools/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2 &&
      mv "$here/tools/bin/grpcurl" "$here/tools/bin/grpcurl-$GRPCURL_VERSION"
  fi
  [ -x "$here/tools/bin/grpcurl-$GRPCURL_VERSION" ] && export GRPCURL="$here/tools/bin/grpcurl-$GRPCURL_VERSION"
fi

# One version for the three packages (clients/VERSION): 1 = the aegis.v1 API, see README "Versions".
versions_check() {
  local want got rc=0
  want="$(cat "$here/VERSION")"
  for got in \
    "python/pyproject.toml:$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/python/pyproject.toml")" \
    "python/__init__.py:$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$here/python/src/aegis_client/__init__.py")" \
    "typescript/package.json:$(sed -n '3s/.*"version": "\(.*\)",/\1/p' "$here/typescript/package.json")" \
    "typescript/package-lock.json:$(sed -n '3s/.*"version": "\(.*\)",/\1/p' "$here/typescript/package-lock.json")" \
    "typescript/index.ts:$(sed -n 's/^export const VERSION = "\(.*\)";/\1/p' "$here/typescript/src/index.ts")" \
    "go/client.go:$(sed -n 's/^const Version = "\(.*\)"/\1/p' "$here/go/aegis/client.go")"; do
    if [ "${got#*:}" != "$want" ]; then echo "test-all: ${got%%:*} has version '${got#*:}', clients/VERSION has $want" >&2; rc=1; fi
  done
  case "$want" in 1.*) ;; *) echo "test-all: clients/VERSION $want: the major version must be 1 (aegis.v1)" >&2; rc=1 ;; esac
  return $rc
}
step versions versions_check

py_suite() {
  cd "$here/python" || return 1
  [ -x .venv/bin/python ] || python3 -m venv .venv || return 1
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' || return 1
  .venv/bin/mypy || return 1
  .venv/bin/python -m pytest -v -rsx tests
}
ts_suite() {
  cd "$here/typescript" || return 1
  npm ci --no-audit --no-fund --loglevel=error || return 1
  npm test
}
go_suite() {
  cd "$here/go" || return 1
  go mod download || return 1
  go vet ./... || return 1
  go test -count=1 -v -timeout 15m ./...
}
step python py_suite
step typescript ts_suite
step go go_suite

if [ ${#failed[@]} -gt 0 ]; then
  echo "test-all: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test-all: all client suites passed" >&2
