#!/usr/bin/env bash
# Build (once) the publishing tools of go.mod's `tool` block, ct and registry, and print their directory.
#
#   hack/tools/build.sh          # prints <cache>/tools-<hash>/bin
#
# <cache> is $VLLM_SERVING_CACHE, else $XDG_CACHE_HOME/vllm-serving, else ~/.cache/vllm-serving (as for the
# cluster binaries); <hash> covers go.mod, go.sum and this script, so a change of pins builds anew and
# anything else reuses the binaries. Concurrent callers wait on a lock instead of building twice.
# Modules come from the Go module proxy; nothing is downloaded at run time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
go=${GO:-go}
cache=${VLLM_SERVING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vllm-serving}
hash=$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-12)
root=$cache/tools-$hash
mkdir -p "$cache"

exec 9>"$root.lock"
flock 9
if [[ ! -x $root/bin/ct || ! -x $root/bin/registry ]]; then
  cd "$here"
  ct=$("$go" list -m -f '{{.Version}}' github.com/helm/chart-testing/v3)
  echo "hack/tools/build.sh: building ct $ct and registry into $root/bin (once; a few minutes)" >&2
  rm -rf "$root/bin.tmp"
  # ct and registry print their versions from these (a module build has no release stamp)
  CGO_ENABLED=0 "$go" build -trimpath \
    -ldflags="-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$ct" \
    -o "$root/bin.tmp/" github.com/helm/chart-testing/v3/ct github.com/distribution/distribution/v3/cmd/registry
  rm -rf "$root/bin"
  mv "$root/bin.tmp" "$root/bin"
fi
echo "$root/bin"
