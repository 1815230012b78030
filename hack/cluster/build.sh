#!/usr/bin/env bash
# Build the local test cluster's multicall binary (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok, lws-controller) into OUT_DIR, with
# a symlink per component. Uses the go toolchain on PATH (or $GO); modules come from the Go
# module proxy into the default GOMODCACHE.
#
#   hack/cluster/build.sh OUT_DIR
#
# `vllm-serving cluster build` (vllm_serving.cluster.build) calls this with the
# cache directory named after a hash of the pinned versions; run it by hand only
# to try a change.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
go=${GO:-go}
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok lws-controller)

mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

# Version stamps upstream release builds set with -X (otherwise /version says
# v0.0.0-master, which breaks Helm's kubeVersion checks).
kube=$("$go" list -m -f '{{.Version}}' k8s.io/kubernetes)        # v1.36.4
kube_date=$("$go" list -m -f '{{.Time}}' k8s.io/kubernetes)      # 2026-08-20 11:51:43 +0000 UTC
kube_date=$(date -u -d "${kube_date% UTC}" +%Y-%m-%dT%H:%M:%SZ)
kwok=$("$go" list -m -f '{{.Version}}' sigs.k8s.io/kwok)        # v0.8.0
lws=$("$go" list -m -f '{{.Version}}' sigs.k8s.io/lws)          # v0.9.0
major=${kube#v}; major=${major%%.*}
minor=${kube#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$kube_date"
done
ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube#v}"
# lws: its user agent reads "lws/v0.9.0 (linux/amd64) unknown" (no commit in a module build).
ldflags+=" -X sigs.k8s.io/lws/pkg/version.GitVersion=$lws -X sigs.k8s.io/lws/pkg/version.GitCommit="

echo "build.sh: $("$go" version); building localkube (kubernetes $kube, kwok $kwok, lws $lws) into $out; a cold build takes many minutes" >&2
start=$SECONDS
# -trimpath and -s -w: smaller binary, no local paths; CGO off: a static binary.
CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" \
  "$go" build -ldflags="$ldflags" -o "$out/localkube.tmp" .
mv -f "$out/localkube.tmp" "$out/localkube"
for c in "${components[@]}"; do
  ln -sfn localkube "$out/$c"
done
echo "build.sh: built in $((SECONDS - start)) s: $(du -h "$out/localkube" | cut -f1) $out/localkube" >&2
