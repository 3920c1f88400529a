#!/usr/bin/env bash
# Builds the Go tools the deploy/ checks use (helm, kubeconform) from the Go
# module proxy into a cache outside the repository, once: later runs find the
# binaries and return at once. Prints the directory holding them.
# SHARK_TOOLS overrides the cache (default /var/cache/shark-tools, or
# ~/.cache/shark-tools when that is not writable).
set -euo pipefail
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.6.7
# The Kubernetes JSON schemas kubeconform validates against, as PyPI's
# kubernetes-validate ships them (kubeconform's own default fetches from the web).
SCHEMAS_VERSION=1.37.0
# The Kubernetes release the manifests are checked against (oldest supported).
KUBE_VERSION=1.31.0
dir="${SHARK_TOOLS:-/var/cache/shark-tools}"
if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
  dir="${HOME:-/tmp}/.cache/shark-tools"
  mkdir -p "$dir"
fi
need() { [ -e "$dir/$1" ] && [ "$(cat "$dir/$1.version" 2>/dev/null)" = "$2" ]; }
build() { # name module version
  need "$1" "$3" && return 0
  command -v go >/dev/null || { echo "tools.sh: go is not installed; cannot build $1" >&2; return 1; }
  GOBIN="$dir" GOFLAGS=-mod=mod nice -n 10 go install "$2@$3" >&2
  echo "$3" >"$dir/$1.version"
}
build helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
build kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
if ! need schemas "$SCHEMAS_VERSION-$KUBE_VERSION"; then
  rm -rf "$dir/schemas.tmp"
  python3 -m pip install -q --no-deps --no-compile --target "$dir/schemas.tmp" \
    "kubernetes-validate==$SCHEMAS_VERSION" >&2
  rm -rf "$dir/schemas"
  mkdir -p "$dir/schemas"
  # One Kubernetes version, strict (unknown fields refused). Its $refs name
  # the definitions by a path kubernetes-validate maps itself; kubeconform
  # needs a file: URL to load them.
  src="$dir/schemas.tmp/kubernetes_validate/kubernetes-json-schema/v$KUBE_VERSION-local-strict"
  [ -d "$src" ] || { echo "tools.sh: no schemas for Kubernetes $KUBE_VERSION" >&2; exit 1; }
  mv "$src" "$dir/schemas/v$KUBE_VERSION-strict"
  find "$dir/schemas" -name '*.json' -exec \
    sed -i "s#\"/api/_definitions.json#\"file://$dir/schemas/v$KUBE_VERSION-strict/_definitions.json#g" {} +
  rm -rf "$dir/schemas.tmp"
  echo "$SCHEMAS_VERSION-$KUBE_VERSION" >"$dir/schemas.version"
fi
echo "$dir"
