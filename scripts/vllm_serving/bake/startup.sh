#!/bin/bash
# Startup script of the temporary VM that `vllm-serving bake` creates. It fills (or checks) the
# data disk attached with device name vllm-serving-bake-data, then reports on stdout, which the
# guest agent copies to the serial console:
#
#   VLLM-SERVING-BAKE[RUN_ID] STEP: what it is doing now
#   VLLM-SERVING-BAKE[RUN_ID] SUCCESS
#   VLLM-SERVING-BAKE[RUN_ID] FAILURE: why
#
# Usage:
#   startup.sh image-cache --run-id ID --content HASH [--auth auto|none|service-account] IMAGE...
#   startup.sh weights     --run-id ID --content HASH --source gs://BUCKET/PATH|hf://ORG/MODEL
#                          [--revision REV] [--hf-token-secret SECRET]
#   startup.sh verify      --run-id ID --content HASH [IMAGE...]
#
# Run by the guest agent without arguments, it reads them, one per line, from the instance
# metadata attribute vllm-serving-bake-args.
#
# image-cache pulls IMAGEs (fully qualified references) into containerd's k8s.io namespace and
# copies each unpacked layer to the disk in the layout of a GKE container-image-cache disk:
#   snapshots/N/fs/...   the layer's files      snapshots.metadata   "CHAIN_ID snapshots/N/fs" lines
#   images.metadata      `ctr images ls`        vllm-serving-bake.manifest   what was baked
# weights copies the model's files to the root of the disk. verify mounts the disk read-only and
# checks the manifest, the layer directories and the IMAGEs.
#
# For tests, paths move with BAKE_DEVICE_DIR, BAKE_MOUNT, BAKE_METADATA_URL, BAKE_CONTAINERD_DIR
# and BAKE_WORK_DIR, and every system command can be replaced through PATH.

set -Eeuo pipefail

readonly DEVICE_NAME=vllm-serving-bake-data
readonly ARGS_ATTRIBUTE=vllm-serving-bake-args
readonly MANIFEST=vllm-serving-bake.manifest
DEVICE_DIR=${BAKE_DEVICE_DIR:-/dev/disk/by-id}
MOUNT=${BAKE_MOUNT:-/mnt/disks/vllm-serving-bake}
METADATA_URL=${BAKE_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1/instance}
CONTAINERD_DIR=${BAKE_CONTAINERD_DIR:-/etc/containerd}
WORK_DIR=${BAKE_WORK_DIR:-/var/tmp/vllm-serving-bake}

RUN_ID=unknown
STEP="starting"
REPORTED=""
MODE=""
CONTENT=""
AUTH=auto
SOURCE=""
REVISION=""
TOKEN_SECRET=""
TOKEN=""
DEVICE=""
IMAGES=()

say() { printf 'VLLM-SERVING-BAKE[%s] %s\n' "$RUN_ID" "$*"; }
step() { STEP=$1; say "STEP: $1"; }
fail() { REPORTED=1; say "FAILURE: $*"; exit 1; }
usage() { REPORTED=1; say "FAILURE: usage: $*"; exit 2; }
succeed() { REPORTED=1; say "SUCCESS"; }

on_exit() {
  local rc=$?
  if [[ -z $REPORTED ]]; then
    REPORTED=1
    if ((rc == 0)); then
      say "FAILURE: the script ended without a result"
    else
      say "FAILURE: step '$STEP' failed with exit code $rc"
    fi
  fi
}
trap on_exit EXIT

find_run_id() {
  while (($#)); do
    if [[ $1 == --run-id && $# -ge 2 ]]; then
      RUN_ID=$2
      return 0
    fi
    shift
  done
}

parse_args() {
  (($#)) || usage "no mode given (image-cache, weights or verify)"
  MODE=$1
  shift
  case $MODE in
    image-cache | weights | verify) ;;
    *) usage "unknown mode '$MODE' (expected image-cache, weights or verify)" ;;
  esac
  while (($#)); do
    case $1 in
      --run-id | --content | --auth | --source | --revision | --hf-token-secret)
        (($# >= 2)) || usage "$1 needs a value"
        case $1 in
          --run-id) RUN_ID=$2 ;;
          --content) CONTENT=$2 ;;
          --auth) AUTH=$2 ;;
          --source) SOURCE=$2 ;;
          --revision) REVISION=$2 ;;
          --hf-token-secret) TOKEN_SECRET=$2 ;;
          *) usage "unexpected option $1" ;;
        esac
        shift 2
        ;;
      --)
        shift
        IMAGES+=("$@")
        break
        ;;
      -*) usage "unknown option $1" ;;
      *)
        IMAGES+=("$1")
        shift
        ;;
    esac
  done
  [[ $RUN_ID =~ ^[a-z0-9-]+$ && $RUN_ID != unknown ]] || usage "--run-id must be lowercase letters, digits and hyphens"
  [[ $CONTENT =~ ^[a-z0-9]+$ ]] || usage "--content must be the content hash"
  case $MODE in
    image-cache)
      ((${#IMAGES[@]} > 0)) || usage "image-cache needs at least one image"
      case $AUTH in auto | none | service-account) ;; *) usage "--auth must be auto, none or service-account" ;; esac
      ;;
    weights)
      [[ $SOURCE == gs://?* || $SOURCE == hf://?*/?* ]] || usage "--source must be gs://BUCKET/PATH or hf://ORG/MODEL"
      ((${#IMAGES[@]} == 0)) || usage "weights takes no images"
      ;;
    *) ;;
  esac
  return 0
}

find_device() {
  local candidate=$DEVICE_DIR/google-$DEVICE_NAME
  local tries=0
  until [[ -e $candidate ]]; do
    ((++tries <= 30)) || fail "no disk attached with device name $DEVICE_NAME ($candidate)"
    sleep 2
  done
  blockdev --getsize64 "$candidate" >/dev/null || fail "$candidate is not a block device"
  DEVICE=$candidate
}

format_and_mount() {
  step "formatting the data disk"
  mkfs.ext4 -q -F -m 0 -L vllm-bake -E lazy_itable_init=0,lazy_journal_init=0,discard "$DEVICE" ||
    fail "mkfs.ext4 failed on $DEVICE"
  mkdir -p "$MOUNT"
  mount -o discard,defaults "$DEVICE" "$MOUNT" || fail "cannot mount $DEVICE on $MOUNT"
}

write_manifest() {
  local kind=$1
  shift
  {
    printf 'kind=%s\ncontent=%s\nrun=%s\n' "$kind" "$CONTENT" "$RUN_ID"
    local item
    for item in "$@"; do
      printf 'item=%s\n' "$item"
    done
  } >"$MOUNT/$MANIFEST"
}

finish_disk() {
  step "unmounting the data disk"
  sync
  umount "$MOUNT" || fail "cannot unmount $MOUNT"
}

# -- image-cache ------------------------------------------------------------------------------------

# A fresh GCE image has no (or stale) package lists: `apt-get install` needs an update first.
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || fail "cannot install $*"
}

install_containerd() {
  step "installing containerd"
  if ! command -v ctr >/dev/null 2>&1; then
    apt_install containerd
  fi
  # Docker Hub pulls go through Google's mirror first: no anonymous rate limit on the build VM.
  mkdir -p "$CONTAINERD_DIR/certs.d/docker.io"
  printf '%s\n' 'server = "https://registry-1.docker.io"' '' '[host."https://mirror.gcr.io"]' \
    '  capabilities = ["pull", "resolve"]' >"$CONTAINERD_DIR/certs.d/docker.io/hosts.toml"
  systemctl start containerd || fail "cannot start containerd"
  local tries=0
  until ctr version >/dev/null 2>&1; do
    ((++tries <= 30)) || fail "containerd did not come up"
    sleep 2
  done
}

# Whether to pull IMAGE with the service account's token: always, never, or (auto) for Google registries.
wants_token() {
  local host=${1%%/*}
  case $AUTH in
    service-account) return 0 ;;
    none) return 1 ;;
    *) [[ $host == gcr.io || $host == *.gcr.io || $host == *.pkg.dev ]] ;;
  esac
}

pull_images() {
  local image json use_token
  for image in "${IMAGES[@]}"; do
    use_token=yes
    # shellcheck disable=SC2310 # a predicate: its status is the answer, set -e does not apply inside
    wants_token "$image" || use_token=no
    if [[ $use_token == yes ]]; then
      if [[ -z $TOKEN ]]; then
        json=$(curl -sSf -H 'Metadata-Flavor: Google' "$METADATA_URL/service-accounts/default/token") ||
          fail "cannot get the VM service account's token"
        TOKEN=$(printf '%s' "$json" | sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
        [[ -n $TOKEN ]] || fail "no access_token in the metadata server's answer"
      fi
      step "pulling $image (with the service account's token)"
      ctr -n k8s.io images pull --hosts-dir "$CONTAINERD_DIR/certs.d" --user "oauth2accesstoken:$TOKEN" "$image" \
        >"$WORK_DIR/pull.log" 2>&1 || { tail -n 5 "$WORK_DIR/pull.log"; fail "cannot pull $image"; }
    else
      step "pulling $image"
      ctr -n k8s.io images pull --hosts-dir "$CONTAINERD_DIR/certs.d" "$image" \
        >"$WORK_DIR/pull.log" 2>&1 || { tail -n 5 "$WORK_DIR/pull.log"; fail "cannot pull $image"; }
    fi
  done
}

copy_layers() {
  step "copying the image layers to the data disk"
  local listing committed keys key view source relative count=0
  listing=$(ctr -n k8s.io snapshots ls) || fail "cannot list containerd snapshots"
  committed=$(awk 'NR > 1 && $NF == "Committed" { print $1 }' <<<"$listing")
  mapfile -t keys <<<"$committed"
  [[ -n ${keys[0]:-} ]] || keys=()
  ((${#keys[@]} > 0)) || fail "no unpacked layers found after pulling the images"
  : >"$MOUNT/snapshots.metadata"
  mkdir -p "$WORK_DIR/view"
  for key in "${keys[@]}"; do
    count=$((count + 1))
    view=vllm-serving-bake-view-$count
    ctr -n k8s.io snapshots view "$view" "$key" >/dev/null || fail "cannot open a view of layer $key"
    source=$(ctr -n k8s.io snapshots mounts "$WORK_DIR/view" "$view" |
      grep -oE '/[^ ,:=]+/snapshots/[0-9]+/fs' | head -n 1) || true
    ctr -n k8s.io snapshots rm "$view" >/dev/null || true
    [[ -n $source && -d $source ]] || fail "cannot find the directory of layer $key"
    relative=snapshots/${source#*/snapshots/}
    mkdir -p "$MOUNT/$relative"
    cp -a "$source/." "$MOUNT/$relative/" || fail "cannot copy layer $key to the data disk"
    printf '%s %s\n' "$key" "$relative" >>"$MOUNT/snapshots.metadata"
  done
  ctr -n k8s.io images ls >"$MOUNT/images.metadata" || fail "cannot list the pulled images"
  say "STEP: copied $count layers"
}

bake_image_cache() {
  install_containerd
  find_device
  format_and_mount
  pull_images
  copy_layers
  write_manifest image-cache "${IMAGES[@]}"
  finish_disk
}

# -- weights ----------------------------------------------------------------------------------------

download_hf() {
  local repo=${SOURCE#hf://}
  step "installing huggingface_hub"
  apt_install python3-venv
  python3 -m venv "$WORK_DIR/hf" || fail "cannot create a Python virtual environment"
  "$WORK_DIR/hf/bin/pip" install -q 'huggingface_hub[hf_transfer]' || fail "cannot install huggingface_hub"
  if [[ -n $TOKEN_SECRET ]]; then
    HF_TOKEN=$(gcloud secrets versions access latest --secret="$TOKEN_SECRET") ||
      fail "cannot read the Hugging Face token from secret $TOKEN_SECRET"
    export HF_TOKEN
  fi
  step "downloading $repo from Hugging Face"
  HF_HUB_ENABLE_HF_TRANSFER=1 HF_HOME="$WORK_DIR/hf-home" "$WORK_DIR/hf/bin/python" - "$repo" "$MOUNT" "$REVISION" <<'PY' ||
import sys
from huggingface_hub import snapshot_download
repo, dest, revision = sys.argv[1], sys.argv[2], sys.argv[3] or None
snapshot_download(repo_id=repo, local_dir=dest, revision=revision)
PY
    fail "cannot download $repo"
  rm -rf "$MOUNT/.cache"
}

copy_gcs() {
  command -v gcloud >/dev/null 2>&1 || fail "gcloud is not installed on the build VM's image"
  step "copying $SOURCE"
  gcloud storage cp --recursive "$SOURCE/*" "$MOUNT/" || fail "cannot copy $SOURCE"
}

bake_weights() {
  find_device
  format_and_mount
  mkdir -p "$WORK_DIR"
  case $SOURCE in
    gs://*) copy_gcs ;;
    *) download_hf ;;
  esac
  local files
  files=$(find "$MOUNT" -type f ! -path "$MOUNT/lost+found/*" | wc -l)
  ((files > 0)) || fail "no files were copied from $SOURCE"
  say "STEP: copied $files files"
  write_manifest weights "$SOURCE${REVISION:+@$REVISION}"
  finish_disk
}

# -- verify -----------------------------------------------------------------------------------------

verify_disk() {
  find_device
  step "mounting the disk read-only"
  mkdir -p "$MOUNT"
  mount -o ro,noload "$DEVICE" "$MOUNT" || fail "cannot mount $DEVICE read-only"
  [[ -f $MOUNT/$MANIFEST ]] || fail "the disk has no $MANIFEST: it was not baked by vllm-serving"
  local found
  found=$(sed -n 's/^content=//p' "$MOUNT/$MANIFEST") || true
  [[ $found == "$CONTENT" ]] || fail "the disk holds other content (${found:-none}), expected $CONTENT"
  step "checking the contents"
  if grep -qxF "kind=image-cache" "$MOUNT/$MANIFEST"; then
    local key relative layers=0 image
    [[ -s $MOUNT/snapshots.metadata ]] || fail "snapshots.metadata is missing or empty"
    while read -r key relative; do
      [[ -d $MOUNT/$relative ]] || fail "layer $key: directory $relative is missing"
      layers=$((layers + 1))
    done <"$MOUNT/snapshots.metadata"
    for image in "${IMAGES[@]}"; do
      grep -qF -- "$image" "$MOUNT/images.metadata" || fail "image $image is not on the disk"
    done
    say "STEP: $layers layers and ${#IMAGES[@]} images present"
  else
    local files
    files=$(find "$MOUNT" -type f ! -name "$MANIFEST" ! -path "$MOUNT/lost+found/*" | wc -l)
    ((files > 0)) || fail "the disk holds no model files"
    say "STEP: $files files present"
  fi
  umount "$MOUNT" || true
}

main() {
  if (($# == 0)); then
    local raw
    raw=$(curl -sSf -H 'Metadata-Flavor: Google' "$METADATA_URL/attributes/$ARGS_ATTRIBUTE") ||
      fail "cannot read the metadata attribute $ARGS_ATTRIBUTE"
    mapfile -t args <<<"$raw"
    set -- "${args[@]}"
  fi
  find_run_id "$@"
  parse_args "$@"
  mkdir -p "$WORK_DIR"
  case $MODE in
    image-cache) bake_image_cache ;;
    weights) bake_weights ;;
    *) verify_disk ;;
  esac
  succeed
}

main "$@"
