#!/usr/bin/env bash
# Shared by sofia-backup and sofia-restore (sourced, not run): their generated configuration, the
# backup bucket's layout, metrics, and the Redis tools.
set -euo pipefail

SOFIA_BACKUP_ENV=${SOFIA_BACKUP_ENV:-/etc/sofia/backup.env}
SOFIA_BACKUP_ITEMS=${SOFIA_BACKUP_ITEMS:-/etc/sofia/backup.tsv}

# Loads /etc/sofia/backup.env and checks it has every value the scripts rely on.
load_backup_config() {
  [[ -r $SOFIA_BACKUP_ENV ]] || die "no configuration at $SOFIA_BACKUP_ENV; it is installed by the stack (pulumi up)"
  # shellcheck source=/dev/null
  source "$SOFIA_BACKUP_ENV"
  local var
  for var in BACKUP_BUCKET BACKUP_PREFIX METRICS_NAMESPACE METRIC_STACK STAGING_DIR SSE METRIC_SUCCESS METRIC_BYTES METRIC_DURATION METRIC_AGE REDIS_AOF_DIR REDIS_AOF_FILE; do
    [[ -n ${!var:-} ]] || die "$SOFIA_BACKUP_ENV does not set $var; run pulumi up to reinstall it"
  done
  command -v openssl >/dev/null || die "openssl is not installed; install it (dnf install -y openssl) and run again"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  S3_BASE="s3://$BACKUP_BUCKET/$BACKUP_PREFIX"
}

# SHA-256 through OpenSSL, which uses the CPU's SHA instructions: several times faster than
# coreutils' sha256sum, and the backups hash every byte they move.
sha256_of() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }

# One metric datum as CloudWatch JSON, with the stack as its dimension.
datum() { printf '{"MetricName":"%s","Dimensions":[{"Name":"Stack","Value":"%s"}],"Value":%s,"Unit":"%s"}' "$1" "$METRIC_STACK" "$2" "$3"; }
put_metrics() { aws cloudwatch put-metric-data --namespace "$METRICS_NAMESPACE" --metric-data "[$(IFS=,; echo "$*")]"; }

# Complete backups as "id<TAB>completed" lines, newest first. A backup is complete when its
# COMPLETE marker exists; nothing else counts.
complete_backups() {
  aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX/" \
    --query "Contents[?ends_with(Key, '/COMPLETE')].[Key, LastModified]" --output text |
    awk -F'\t' 'NF == 2 { n = split($1, p, "/"); print p[n-1] "\t" $2 }' | sort -t$'\t' -k2,2r
}

# Redis tools run from the pinned Redis image (the host has none, and an older redis-check-rdb
# cannot read a newer RDB); with REDIS_IMAGE empty they run from PATH (drills, benchmarks).
#   redis_tool [--stdin] <dir> <tool> [args...]
# <dir> is a directory the tool must see at the same path. --stdin passes this shell's stdin to
# the tool (redis-check-rdb /dev/stdin); without it the container gets none, so that a tool called
# inside a `while read` loop cannot swallow the loop's input.
redis_tool() {
  local interactive=()
  if [[ $1 == --stdin ]]; then interactive=(-i); shift; fi
  local dir=$1
  shift
  if [[ -n ${REDIS_IMAGE:-} ]]; then
    # Host network: the store publishes on the host's loopback only.
    docker run --rm "${interactive[@]}" --network host -e REDISCLI_AUTH -v "$dir:$dir" "$REDIS_IMAGE" "$@"
  else
    "$@"
  fi
}

# S3 reports checksums in base64 of the raw digest; manifests have hex (one digest per line).
hex_cat() {
  local hex escaped i
  while read -r hex; do
    escaped=""
    for ((i = 0; i < ${#hex}; i += 2)); do escaped+="\\x${hex:i:2}"; done
    printf '%b' "$escaped"
  done <<<"$1"
}
hex_to_base64() { hex_cat "$1" | base64; }
