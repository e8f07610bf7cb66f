#!/usr/bin/env bash
# Shared by sofia-backup and sofia-restore (sourced, not run): their generated configuration, the
# backup bucket's layout, metrics, and the Redis tools.
set -euo pipefail

# Where from: the host's layout (host.env), which the scripts that source this file have read.
SOFIA_BACKUP_ENV=${SOFIA_BACKUP_ENV:?not in the host layout (host.env); run pulumi up to reinstall it}
SOFIA_BACKUP_ITEMS=${SOFIA_BACKUP_ITEMS:?not in the host layout (host.env); run pulumi up to reinstall it}

# Loads backup.env and checks it has every value the scripts rely on.
load_backup_config() {
  [[ -r $SOFIA_BACKUP_ENV ]] || die "no configuration at $SOFIA_BACKUP_ENV; it is installed by the stack (pulumi up)"
  # shellcheck source=/dev/null
  source "$SOFIA_BACKUP_ENV"
  local var
  for var in BACKUP_BUCKET BACKUP_PREFIX PREFIX_FULL PREFIX_REDIS METRICS_NAMESPACE METRIC_STACK STACK_DIMENSION KIND_DIMENSION SSE METRIC_SUCCESS METRIC_BYTES METRIC_DURATION METRIC_AGE REDIS_AOF_DIR REDIS_AOF_FILE; do
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
datum() { printf '{"MetricName":"%s","Dimensions":[{"Name":"%s","Value":"%s"}],"Value":%s,"Unit":"%s"}' "$1" "$STACK_DIMENSION" "$METRIC_STACK" "$2" "$3"; }
# The same with the kind of backup (full, redis) as a second dimension: the age is per kind.
datum_kind() { printf '{"MetricName":"%s","Dimensions":[{"Name":"%s","Value":"%s"},{"Name":"%s","Value":"%s"}],"Value":%s,"Unit":"%s"}' "$1" "$STACK_DIMENSION" "$METRIC_STACK" "$KIND_DIMENSION" "$4" "$2" "$3"; }
put_metrics() { aws cloudwatch put-metric-data --namespace "$METRICS_NAMESPACE" --metric-data "[$(IFS=,; echo "$*")]"; }

# The bucket's layout, under the stack's prefix, per kind of backup ("full": every item; "redis":
# Redis alone, on its own, more frequent schedule, kept for less time):
#   <prefix>/<kind>/<id>/...            the objects, the manifest, and COMPLETE (written last)
#   <prefix>/<kind>/index/<inv>-<id>    one entry per complete backup, written after COMPLETE;
#                                       <inv> counts down with time, so S3's ascending listing
#                                       gives the newest first: "latest" is one request, whatever
#                                       the number of backups.
# A Redis-only backup's id ends in "-redis"; any other id is a full backup's.
kind_of() { if [[ $1 == *-redis ]]; then echo redis; else echo full; fi; }
prefix_of_kind() { if [[ $1 == redis ]]; then echo "$PREFIX_REDIS"; else echo "$PREFIX_FULL"; fi; }
objects_of() { echo "$(prefix_of_kind "$(kind_of "$1")")/$1"; }
index_key() {  # id, start time (epoch seconds)
  printf '%s/index/%010d-%s' "$(prefix_of_kind "$(kind_of "$1")")" $(( 9999999999 - $2 )) "$1"
}

# Whoever can write the bucket writes a manifest and its COMPLETE marker: before a restore uses any
# value of it (in arithmetic, paths, commands), each must have the shape the scripts expect.
manifest_shaped() {  # manifest file
  jq -e '
    def count: type == "number" and . >= 0 and . == floor;
    (.format // 1 | count) and
    (.items | type == "array" and all(.[]; type == "string" and test("^[A-Za-z0-9][A-Za-z0-9_-]*$"))) and
    (.files | type == "array" and all(.[];
      (.path | type == "string" and test("^[A-Za-z0-9][A-Za-z0-9._-]*$")) and (.size | count) and
      (.sha256 | type == "string" and test("^[0-9a-f]{64}$")))) and
    ((.stores // {}) | type == "object" and all(.[];
      type == "object" and ((.dbsize // 0) | count) and ((.expires // 0) | count) and
      ((.sample // []) | type == "array" and all(.[]; (.key | type == "string" and test("^[!-~]+$")) and (.type | type == "string" and test("^[a-z]+$")))) and
      ((.tables // []) | type == "array" and all(.[]; type == "string"))))' "$1" >/dev/null
}

# The newest complete backups of a kind as "id<TAB>completed" lines, newest first, at most <limit>
# (0: all, page by page). No pipe is cut short, so pipefail never trips on a long listing.
complete_backups() {  # kind [limit]
  local kind=$1 limit=${2:-0} args=()
  (( limit == 0 )) || args=(--max-items "$limit")
  aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$(prefix_of_kind "$kind")/index/" "${args[@]}" \
    --query "Contents[].[Key, LastModified]" --output text |
    awk -F'\t' 'NF == 2 { n = split($1, p, "/"); k = p[n]; sub(/^[0-9]+-/, "", k); print k "\t" $2 }'
}

# The id of the newest complete backup of a kind, or nothing.
newest_backup() { complete_backups "$1" 1 | cut -f1; }

# Redis tools run from the pinned Redis image (the host has none, and an older redis-check-rdb
# cannot read a newer RDB); with REDIS_IMAGE empty they run from PATH (drills, benchmarks).
#   redis_tool [--stdin] <dir> <tool> [args...]
# <dir> is the run's own directory, which the tool sees at the same path. --stdin passes this
# shell's stdin to the tool (redis-check-rdb /dev/stdin); without it the container gets none, so
# that a tool called inside a `while read` loop cannot swallow the loop's input.
# The password (REDISCLI_AUTH, when set) reaches the tool through a file in <dir>, readable by root
# only and removed with it, and is read inside the container: it is never in the container's
# configuration (docker inspect) nor on a command line.
REDIS_AUTH_NAME=.redis-auth
redis_tool() {
  local interactive=()
  if [[ $1 == --stdin ]]; then interactive=(-i); shift; fi
  local dir=$1
  shift
  if [[ -z ${REDIS_IMAGE:-} ]]; then
    "$@"
    return
  fi
  # Host network: the store publishes on the host's loopback only.
  local run=(docker run --rm "${interactive[@]}" --network host -v "$dir:$dir")
  if [[ -z ${REDISCLI_AUTH:-} ]]; then
    "${run[@]}" "$REDIS_IMAGE" "$@"
    return
  fi
  local auth="$dir/$REDIS_AUTH_NAME"
  if [[ ! -s $auth ]]; then
    (umask 077 && printf '%s' "$REDISCLI_AUTH" >"$auth.new" && mv -f "$auth.new" "$auth") ||
      { echo "sofia: could not write the Redis password file $auth for the Redis tools; is $dir writable?" >&2; return 1; }
  fi
  # shellcheck disable=SC2016 # expanded by the container's shell, not this one
  "${run[@]}" --entrypoint sh "$REDIS_IMAGE" -c 'REDISCLI_AUTH=$(cat "$0") exec "$@"' "$auth" "$@"
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
