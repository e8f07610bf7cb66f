#!/usr/bin/env bash
# Restores a complete backup, in the runbook's order but safely:
#   1. checks the backup before touching anything (marker, manifest, every object's SHA-256)
#   2. stops the services in reverse catalog order
#   3. moves the live data aside (the safety copy, kept until the restore is verified)
#   4. puts each store back correctly (Redis with AOF handled, QuestDB with its _restore trigger)
#   5. starts the services in catalog order, health-gated
#   6. verifies against the manifest (Redis DBSIZE and sampled keys, QuestDB tables) and every /health
# Any failure after step 2 puts the safety copy back, starts the services, and fails.
#
#   sofia-restore <backup-id|latest>               the restore above
#   sofia-restore --verify-only <backup-id|latest>  step 1 only, plus redis-check-rdb and every archive
#                                                  listed: the weekly backup verification
#   sofia-restore --scratch <backup-id|latest>      steps 1 and 4 into scratch space, never the live
#                                                  data, verified and timed: the monthly DR test
# The last two publish their result and duration as metrics.
#
# The last line printed is a JSON summary: {"restore": {"id", "started", "ended", "seconds", "result"}}.
set -euo pipefail

log() { printf '%s sofia-restore: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'sofia-restore: %s\n' "$*" >&2; exit 1; }

# shellcheck source=/dev/null
source "${SOFIA_LIB:-/usr/local/lib/sofia/sofia-lib.sh}"
load_backup_config
SERVICES=${SOFIA_SERVICES:-/usr/local/sbin/sofia-services}
TEMP_REDIS_PORT=${SOFIA_RESTORE_REDIS_PORT:-6390}

mode=live
case ${1:-} in
  --verify-only) mode=verify; shift ;;
  --scratch) mode=scratch; shift ;;
esac
[[ $# -eq 1 ]] || die "usage: sofia-restore [--verify-only | --scratch] <backup-id|latest>"
requested=$1
started=$(date +%s)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
id=""
stage=""
touched=0
moved=()  # live directories moved aside, for putting back

summary() {
  jq -cn --arg id "${id:-$requested}" --arg s "$started_at" --arg e "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson t $(( $(date +%s) - started )) --arg r "$1" \
    '{restore: {id: $id, started: $s, ended: $e, seconds: $t, result: $r}}'
}

put_back() {
  local dir
  log "putting the data from before the restore back"
  "$SERVICES" stop || log "stopping the services failed; continuing to put the data back"
  for dir in "${moved[@]}"; do
    rm -rf "$dir"
    mv "$dir.before-restore" "$dir"
  done
  "$SERVICES" start || echo "sofia-restore: the services did not come back healthy after putting the data back: sofia-services status" >&2
}

# The weekly verification and the monthly DR test report to CloudWatch, success or not.
report() {  # 1 or 0
  local seconds=$(( $(date +%s) - started ))
  case $mode in
    verify) put_metrics "$(datum "$METRIC_VERIFIED" "$1" Count)" || echo "sofia-restore: could not publish $METRIC_VERIFIED" >&2 ;;
    scratch) put_metrics "$(datum "$METRIC_DR_SUCCESS" "$1" Count)" "$(datum "$METRIC_DR_SECONDS" "$seconds" Seconds)" || echo "sofia-restore: could not publish the DR test's metrics" >&2 ;;
  esac
}

on_exit() {
  local rc=$?
  trap - EXIT
  (( rc == 0 )) || report 0
  if (( rc != 0 )); then
    if (( touched )); then
      put_back
      echo "sofia-restore: restore of ${id:-$requested} FAILED; the data from before it is back in place" >&2
    else
      echo "sofia-restore: restore of ${id:-$requested} refused; nothing was changed" >&2
    fi
    summary failed
  fi
  [[ -n $stage && -d $stage ]] && rm -rf "$stage"
  exit "$rc"
}
trap on_exit EXIT

# --- 1. the backup, checked before anything is touched --------------------------------------
if [[ $requested == latest ]]; then
  id=$(complete_backups | head -n 1 | cut -f1) || die "could not list $S3_BASE/"
  [[ -n $id ]] || die "there is no complete backup under $S3_BASE/"
else
  [[ $requested =~ ^[A-Za-z0-9._-]+$ ]] || die "'$requested' is not a backup id"
  id=$requested
  if ! aws s3api head-object --bucket "$BACKUP_BUCKET" --key "$BACKUP_PREFIX/$id/COMPLETE" >/dev/null 2>&1; then
    recent=$(complete_backups | head -n 5 | cut -f1 | paste -sd, - | sed 's/,/, /g')
    if aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX/$id/" --max-items 1 --query 'Contents[].Key' --output text 2>/dev/null | grep -qv None; then
      die "backup $id has no COMPLETE marker (it never finished, or failed verification): refusing it. Most recent complete backups: ${recent:-none}"
    fi
    die "there is no backup $id under $S3_BASE/. Most recent complete backups: ${recent:-none}"
  fi
fi
stage="$STAGING_DIR/restore-$id"
rm -rf "$stage"
mkdir -p "$stage"
log "downloading backup $id"
aws s3 cp "$S3_BASE/$id/" "$stage/" --recursive --only-show-errors || die "could not download $S3_BASE/$id/"
manifest="$stage/manifest.json"
[[ $(sha256sum "$manifest" | cut -d' ' -f1) == "$(jq -r .manifest_sha256 "$stage/COMPLETE")" ]] ||
  die "backup $id: manifest.json does not match the SHA-256 its COMPLETE marker names: refusing it"
bad=()
while IFS=$'\t' read -r path size sha; do
  if [[ ! -f $stage/$path ]]; then bad+=("$path missing"); continue; fi
  [[ $(stat -c %s "$stage/$path") == "$size" && $(sha256sum "$stage/$path" | cut -d' ' -f1) == "$sha" ]] || bad+=("$path corrupted")
done < <(jq -r '.files[] | [.path, .size, .sha256] | @tsv' "$manifest")
(( ${#bad[@]} == 0 )) || die "backup $id does not match its manifest (${bad[*]}): refusing it"
log "backup $id verified: $(jq '.files | length' "$manifest") objects match the manifest"

if [[ $mode == verify ]]; then
  for rdb in "$stage"/*.rdb; do
    [[ -e $rdb ]] || continue
    redis_tool "$stage" redis-check-rdb "$rdb" >"$stage/.check" 2>&1 || die "backup $id: $(basename "$rdb") does not pass redis-check-rdb: $(tail -n 3 "$stage/.check")"
  done
  for archive in "$stage"/*.tar; do
    [[ -e $archive ]] || continue
    tar -tf "$archive" >/dev/null || die "backup $id: $(basename "$archive") is not a readable archive"
  done
  report 1
  log "backup $id passes: manifest, checksums, redis-check-rdb, archives"
  summary ok
  exit 0
fi

# Refuse what cannot be put back before anything is stopped.
declare -a NAME KIND SOURCE DETAIL DIR
while IFS=$'\t' read -r name kind source detail dir; do
  [[ -z $name || $name == \#* ]] && continue
  jq -e --arg n "$name" '.items | index($n)' "$manifest" >/dev/null || continue
  [[ $dir != - ]] || { log "$name: kept as the stack wrote it (the backup's copy is for reference)"; continue; }
  [[ $kind != pg-dump ]] || die "$name: restoring a pg_dump is not supported yet: restore it by hand with pg_restore"
  NAME+=("$name"); KIND+=("$kind"); SOURCE+=("$source"); DETAIL+=("$detail"); DIR+=("$dir")
done <"$SOFIA_BACKUP_ITEMS"

if [[ $mode == scratch ]]; then
  # The DR test: the same restore steps, into scratch directories; live data is never touched.
  for i in "${!NAME[@]}"; do DIR[i]="$stage/scratch/${NAME[$i]}"; mkdir -p "${DIR[$i]}"; done
fi

# --- 2. and 3. stop, and move the live data aside ----------------------------------------------
if [[ $mode == live ]]; then
touched=1
log "stopping the services (reverse catalog order)"
"$SERVICES" stop
for i in "${!NAME[@]}"; do
  dir=${DIR[$i]}
  rm -rf "$dir.before-restore"
  mv "$dir" "$dir.before-restore"
  moved+=("$dir")
  mkdir -p "$dir"
  chown --reference="$dir.before-restore" "$dir"
  chmod --reference="$dir.before-restore" "$dir"
done
log "live data moved aside (kept until the restore is verified)"
fi

# --- 4. put each store back ----------------------------------------------------------------------
# Redis ignores a copied dump.rdb when AOF is on, so: load the RDB in a temporary server with AOF
# off, switch AOF on (Redis rewrites it from memory), and shut down; sofia-redis then loads the AOF.
restore_redis() {  # name, data directory
  local name=$1 dir=$2 reply info
  cp "$stage/$name.rdb" "$dir/dump.rdb"
  chown --reference="$dir" "$dir/dump.rdb"
  if [[ -n ${REDIS_IMAGE:-} ]]; then
    docker run -d --rm --name sofia-redis-restore --network host -v "$dir:$dir" "$REDIS_IMAGE" \
      redis-server --dir "$dir" --port "$TEMP_REDIS_PORT" --bind 127.0.0.1 --appendonly no --save "" >/dev/null
  else
    redis-server --dir "$dir" --port "$TEMP_REDIS_PORT" --bind 127.0.0.1 --appendonly no --save "" --daemonize yes --pidfile "$stage/redis-restore.pid" >/dev/null
  fi
  local cli=(redis_tool "$dir" redis-cli -h 127.0.0.1 -p "$TEMP_REDIS_PORT")
  for _ in $(seq 1 600); do
    reply=$("${cli[@]}" PING 2>&1 || true)
    [[ $reply == PONG ]] && break
    sleep 0.1
  done
  [[ $reply == PONG ]] || die "$name: the temporary Redis did not load the snapshot (${reply:-no reply})"
  [[ $("${cli[@]}" DBSIZE) == "$(jq -r --arg n "$name" '.stores[$n].dbsize' "$manifest")" ]] || die "$name: the loaded snapshot does not have the manifest's DBSIZE"
  while read -r key type; do
    [[ -z $key ]] && continue
    [[ $("${cli[@]}" TYPE "$key") == "$type" ]] || die "$name: key $key of the loaded snapshot is not the $type the backup sampled"
  done < <(jq -r --arg n "$name" '.stores[$n].sample[]? | "\(.key) \(.type)"' "$manifest")
  "${cli[@]}" CONFIG SET appendonly yes >/dev/null
  for _ in $(seq 1 6000); do
    info=$("${cli[@]}" INFO persistence | tr -d '\r')
    if grep -q '^aof_enabled:1' <<<"$info" && grep -q '^aof_rewrite_in_progress:0' <<<"$info" && grep -q '^aof_rewrite_scheduled:0' <<<"$info"; then break; fi
    sleep 0.1
  done
  grep -q '^aof_last_bgrewrite_status:ok' <<<"$info" || die "$name: rewriting the AOF from the snapshot failed"
  "${cli[@]}" SHUTDOWN >/dev/null 2>&1 || true
  for _ in $(seq 1 300); do
    "${cli[@]}" PING >/dev/null 2>&1 || break
    sleep 0.1
  done
  rm -f "$dir/dump.rdb"
  log "$name: snapshot loaded with AOF off, AOF rewritten from it"
}

for i in "${!NAME[@]}"; do
  case ${KIND[$i]} in
    redis) restore_redis "${NAME[$i]}" "${DIR[$i]}" ;;
    questdb)
      tar -xf "$stage/${NAME[$i]}.tar" -C "${DIR[$i]}"
      # QuestDB restores from the checkpoint copy at its next start when this file exists.
      touch "${DIR[$i]}/_restore"
      log "${NAME[$i]}: root restored, _restore trigger in place" ;;
    files)
      tar -xf "$stage/${NAME[$i]}.tar" -C "${DIR[$i]}"
      log "${NAME[$i]}: files restored" ;;
  esac
done

if [[ $mode == scratch ]]; then
  [[ -d $stage/scratch/questdb ]] && { [[ -d $stage/scratch/questdb/db ]] || die "questdb: the restored root has no db directory"; }
  report 1
  log "DR test of $id passed: restored into scratch space and verified in $(( $(date +%s) - started ))s"
  summary ok
  exit 0
fi

# --- 5. and 6. start, then verify ------------------------------------------------------------------
log "starting the services (catalog order, health-gated)"
"$SERVICES" start
for i in "${!NAME[@]}"; do
  case ${KIND[$i]} in
    redis)
      host=${SOURCE[$i]%:*} port=${SOURCE[$i]##*:} container=${DETAIL[$i]%%:*} pwfile=${DETAIL[$i]#*:}
      REDISCLI_AUTH=$(docker exec "$container" cat "$pwfile")
      export REDISCLI_AUTH
      cli=(redis_tool "$stage" redis-cli -h "$host" -p "$port" --no-auth-warning)
      want=$(jq -r --arg n "${NAME[$i]}" '.stores[$n].dbsize' "$manifest")
      got=$("${cli[@]}" DBSIZE)
      [[ $got == "$want" ]] || die "verify: ${NAME[$i]} has $got keys, the manifest $want"
      while read -r key type; do
        [[ -z $key ]] && continue
        [[ $("${cli[@]}" TYPE "$key") == "$type" ]] || die "verify: ${NAME[$i]} key $key is not the $type the backup sampled"
      done < <(jq -r --arg n "${NAME[$i]}" '.stores[$n].sample[]? | "\(.key) \(.type)"' "$manifest")
      log "verify: ${NAME[$i]} has the manifest's $want keys and its sampled keys" ;;
    questdb)
      tables=$(curl -sS -G --max-time 60 --data-urlencode "query=SELECT table_name FROM tables()" "${SOURCE[$i]}/exec" | jq -c '[.dataset[][0]]') ||
        die "verify: could not list QuestDB's tables"
      missing=$(jq -rn --argjson have "$tables" --argjson want "$(jq -c --arg n "${NAME[$i]}" '.stores[$n].tables // []' "$manifest")" '$want - $have | join(", ")')
      [[ -z $missing ]] || die "verify: QuestDB is missing tables the backup had: $missing"
      log "verify: ${NAME[$i]} has every table of the backup" ;;
  esac
done
"$SERVICES" verify

# --- verified: the safety copy can go -------------------------------------------------------------
for dir in "${moved[@]}"; do rm -rf "$dir.before-restore"; done
touched=0
log "restore of $id complete in $(( $(date +%s) - started ))s"
summary ok
