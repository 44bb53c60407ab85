#!/bin/sh
# Pushes build/ppv2-oci.tar to a throwaway local registry with skopeo and
# checks that the registry serves the same manifest digest `npm run image`
# printed: the value a WasmPlugin's sha256 must hold for an oci:// url.
# Needs skopeo and docker-registry (Debian/Ubuntu: apt-get install skopeo docker-registry).
set -eu
tarball="${1:-build/ppv2-oci.tar}"
port="${PPV2_REGISTRY_PORT:-5055}"
for tool in skopeo docker-registry; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check-image-push: $tool is not installed (apt-get install skopeo docker-registry)" >&2; exit 1; }
done
[ -f "$tarball" ] || { echo "check-image-push: $tarball is missing (npm run image)" >&2; exit 1; }
work="$(mktemp -d)"
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$work" "$port" > "$work/config.yml"
docker-registry serve "$work/config.yml" > "$work/registry.log" 2>&1 &
registry=$!
cleanup() {
  status=$?
  kill "$registry" 2>/dev/null || true
  wait "$registry" 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
i=0
until skopeo list-tags --tls-verify=false "docker://127.0.0.1:$port/none" >/dev/null 2>&1 || grep -q 'listening on' "$work/registry.log"; do
  i=$((i + 1)); [ "$i" -le 50 ] || { cat "$work/registry.log" >&2; echo "check-image-push: registry did not start" >&2; exit 1; }
  sleep 0.2
done
expected="$(skopeo inspect --raw "oci-archive:$tarball" | sha256sum | cut -d' ' -f1)"
skopeo copy --quiet --dest-tls-verify=false "oci-archive:$tarball" "docker://127.0.0.1:$port/ppv2-wasm:check"
served="$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$port/ppv2-wasm:check" | sha256sum | cut -d' ' -f1)"
digest="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$port/ppv2-wasm:check")"
[ "$served" = "$expected" ] && [ "$digest" = "sha256:$expected" ] || { echo "check-image-push: digest changed on push: local $expected, registry $digest" >&2; exit 1; }
echo "check-image-push: the registry serves manifest sha256:$expected (use it as the WasmPlugin sha256)"
