#!/usr/bin/env bash
# Build the local Kubernetes control plane from Go modules into a version-keyed cache outside the repo.
#
# Why: this machine has no Docker engine and no download site, but it has Go and the Go module proxy.
# Output: prints the cache directory (last line of stdout). Reuses a complete cache; honours
# KUBEBUILDER_ASSETS (a directory of prebuilt binaries) when it holds everything we need.
set -euo pipefail
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  missing=()
  for b in "${BINARIES[@]}"; do [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || missing+=("$b"); done
  if [[ ${#missing[@]} -eq 0 ]]; then echo "$KUBEBUILDER_ASSETS"; exit 0; fi
  echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks: ${missing[*]}; building into the cache instead" >&2
fi

GOVER="$(go env GOVERSION)"
KEY="k8s-${KUBERNETES_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_gw-${GATEWAY_API_VERSION}_${GOVER}"
CACHE="${HERDER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herder}/controlplane/$KEY"
BIN="$CACHE/bin"
if [[ -f "$CACHE/.complete" ]]; then echo "$CACHE"; exit 0; fi
mkdir -p "$BIN" "$CACHE/logs" "$CACHE/src"

START=$(date +%s)
progress() { echo "[controlplane +$(( $(date +%s) - START ))s] $*" >&2; }
# Run one build step with its own log; on failure show the component's own error, not a silent hang.
step() {
  local name="$1"; shift  # $1 is now the function to run
  local log="$CACHE/logs/$name.log"
  progress "building $name ..."
  local t0; t0=$(date +%s)
  # A heartbeat so a long compile is visibly alive.
  ( while sleep 60; do progress "  still building $name ($(( $(date +%s) - t0 ))s)"; done ) &
  local hb=$!
  if ! /usr/bin/time -v -o "$CACHE/logs/$name.time" bash -euo pipefail -c "$1" >"$log" 2>&1; then
    kill "$hb" 2>/dev/null || true
    progress "FAILED: $name — last lines of $log:"
    tail -n 40 "$log" >&2
    exit 1
  fi
  kill "$hb" 2>/dev/null || true
  local rss; rss=$(awk -F': ' '/Maximum resident/ {print int($2/1024)}' "$CACHE/logs/$name.time")
  progress "built $name in $(( $(date +%s) - t0 ))s (peak RSS ${rss} MiB)"
}

KMINOR="${KUBERNETES_VERSION#v1.}"; KMINOR="${KMINOR%%.*}"
# --- Kubernetes: a wrapper module with a replace line for every staging module, generated from the real go.mod.
k8s_wrapper() {
  local d="$CACHE/src/k8s"; rm -rf "$d"; mkdir -p "$d"; cd "$d"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')"
  local stagever="v0.${KMINOR}.${KUBERNETES_VERSION##*.}"
  {
    echo "module herder.local/k8s-wrapper"; echo; echo "go $(go env GOVERSION | sed 's/^go//')"; echo
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"; echo
    # every "k8s.io/X => ./staging/src/k8s.io/X" line becomes "k8s.io/X => k8s.io/X v0.N.P"
    grep -E '=>[[:space:]]+\./staging/' "$gomod" | awk -v v="$stagever" '{print "replace " $1 " => " $1 " " v}'
  } > go.mod
  echo "staging replaces: $(grep -c '^replace' go.mod)"
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    go get -tool "k8s.io/kubernetes/cmd/$c@${KUBERNETES_VERSION}"
  done
  go mod tidy
  # etcd version the release requires
  go list -m -f '{{.Version}}' go.etcd.io/etcd/client/v3 > "$CACHE/etcd.version"
}
k8s_build() {
  cd "$CACHE/src/k8s"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=${KUBERNETES_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${KMINOR} -X $p.gitTreeState=clean"
  done
  GOBIN="$BIN" go install -trimpath -ldflags "$ld" tool
}
etcd_build() {
  local v; v="$(cat "$CACHE/etcd.version")"
  local d="$CACHE/src/etcd"; rm -rf "$d"; mkdir -p "$d"; cd "$d"
  printf 'module herder.local/etcd-wrapper\n\ngo %s\n' "$(go env GOVERSION | sed 's/^go//')" > go.mod
  go get "go.etcd.io/etcd/server/v3@$v"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
}
kwok_build() { GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"; }
helm_build() {
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
}
# Assets that come from module sources: kwok stage files and the Gateway API CRDs.
assets() {
  local kdir gdir
  kdir="$(go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')"
  gdir="$(go mod download -json "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$CACHE/kwok-stages" "$CACHE/gateway-api-crds"; mkdir -p "$CACHE/kwok-stages" "$CACHE/gateway-api-crds"
  cp -r "$kdir/kustomize/stage/." "$CACHE/kwok-stages/"
  cp "$gdir"/config/crd/standard/*.yaml "$CACHE/gateway-api-crds/"
  chmod -R u+w "$CACHE/kwok-stages" "$CACHE/gateway-api-crds"
}

export CACHE BIN KMINOR KUBERNETES_VERSION KWOK_VERSION HELM_VERSION GATEWAY_API_VERSION
export -f k8s_wrapper k8s_build etcd_build kwok_build helm_build assets
step k8s-wrapper k8s_wrapper
step kubernetes k8s_build
step etcd etcd_build
step kwok kwok_build
step helm helm_build
step assets assets
for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || { progress "missing $b after build"; exit 1; }; done
"$BIN/kube-apiserver" --version >&2
echo "$(( $(date +%s) - START ))" > "$CACHE/build.seconds"
touch "$CACHE/.complete"
progress "control plane ready in $CACHE ($(du -sh "$CACHE" | cut -f1))"
echo "$CACHE"
