#!/usr/bin/env bash
# Restores a complete backup, in the runbook's order but safely:
#   1. checks the backup before touching anything (marker, manifest, every object's SHA-256)
#   2. stops the services in reverse catalog order
#   3. moves the live data aside (the safety copy, kept until the restore is verified)
#   4. puts each store back correctly (Redis' snapshot as the base of its AOF, QuestDB with its
#      _restore trigger)
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
temp_redis=0  # the DR test's temporary Redis is running

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
  (( temp_redis == 0 )) || stop_temp_redis
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
fi
stage="$STAGING_DIR/restore-$id"
rm -rf "$stage"
mkdir -p "$stage"
log "downloading backup $id"
# The marker is looked for in what was downloaded: COMPLETE is written after every other object, so
# a listing that has it has them all. (A backup without it costs a download before it is refused;
# one that does not exist costs nothing.)
aws s3 cp "$S3_BASE/$id/" "$stage/" --recursive --only-show-errors ||
  die "could not download $S3_BASE/$id/ into $stage (the aws CLI's error is above; $(df -h --output=avail "$STAGING_DIR" | tail -n 1 | tr -d ' ') free there)"
if [[ ! -f $stage/COMPLETE ]]; then
  recent=$(complete_backups | head -n 5 | cut -f1 | paste -sd, - | sed 's/,/, /g')
  [[ -z $(ls -A "$stage") ]] || die "backup $id has no COMPLETE marker (it never finished, or failed verification): refusing it. Most recent complete backups: ${recent:-none}"
  die "there is no backup $id under $S3_BASE/. Most recent complete backups: ${recent:-none}"
fi
manifest="$stage/manifest.json"
[[ -f $manifest && $(sha256_of "$manifest") == "$(jq -r .manifest_sha256 "$stage/COMPLETE")" ]] ||
  die "backup $id: manifest.json does not match the SHA-256 its COMPLETE marker names: refusing it"
# Every object's SHA-256, the large ones side by side.
declare -A digest=()
while read -r sum path; do digest[${path#\*}]=$sum; done < <(
  jq -r '.files[].path' "$manifest" | while read -r path; do [[ -f $stage/$path ]] && printf '%s\0' "$stage/$path"; done |
    xargs -0 -r -n 1 -P "$(nproc)" openssl dgst -sha256 -r)
bad=()
while IFS=$'\t' read -r path size sha; do
  if [[ ! -f $stage/$path ]]; then bad+=("$path missing"); continue; fi
  [[ $(stat -c %s "$stage/$path") == "$size" && ${digest[$stage/$path]:-} == "$sha" ]] || bad+=("$path corrupted")
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

# Unpacking an archive needs its size again beside the download (each archive goes once unpacked),
# and the live data is only moved aside, not freed: refuse now, not with the volume full half-way.
# SOFIA_RESTORE_MIN_FREE_BYTES is what must stay free afterwards, for the services to write.
reserve=${SOFIA_RESTORE_MIN_FREE_BYTES:-1073741824}
[[ $reserve =~ ^[0-9]+$ ]] || die "SOFIA_RESTORE_MIN_FREE_BYTES must be a number of bytes, not '$reserve'"
for i in "${!NAME[@]}"; do
  [[ ${KIND[$i]} != redis ]] || continue  # the snapshot is moved into place, not copied
  size=$(jq -r --arg p "${NAME[$i]}.tar" '[.files[] | select(.path == $p) | .size] | add // 0' "$manifest")
  free=$(df -B1 --output=avail "${DIR[$i]}" | tail -n 1) || die "${NAME[$i]}: cannot see the free space where ${DIR[$i]} is; is the volume there? (docker volume ls)"
  (( free >= size + reserve )) || die "${NAME[$i]}: unpacking needs $(( (size + reserve) >> 20 )) MiB free where ${DIR[$i]} is, and $(( free >> 20 )) MiB are: free space there (or grow the data volume, sofia:dataVolumeGb) and run again"
done

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
# Redis ignores a copied dump.rdb when AOF is on. Redis 7 keeps its AOF as a directory: a base file
# (an RDB, as aof-use-rdb-preamble writes it), increments, and a manifest naming them. Loading the
# snapshot with AOF off and having Redis rewrite the AOF would write exactly such a base from it;
# putting the snapshot there directly gives the same files without loading the dataset twice.
# sofia-redis loads it when it starts, with AOF on as always, and opens a fresh increment.
restore_redis() {  # name, data directory
  local name=$1 dir=$2 aof="$2/$REDIS_AOF_DIR"
  # Manifest format 1 stored redis-cli's 40-byte end-of-transfer mark after the RDB; as an AOF
  # base those bytes would not load.
  if (( $(jq -r '.format // 1' "$manifest") < 2 )) && tail -c 40 "$stage/$name.rdb" | grep -Eqx '[0-9a-f]{40}'; then
    truncate -s -40 "$stage/$name.rdb"
    log "$name: cut the end-of-transfer mark a format-1 backup stored after the RDB"
  fi
  mkdir -p "$aof"
  mv "$stage/$name.rdb" "$aof/$REDIS_AOF_FILE.1.base.rdb"
  printf 'file %s seq 1 type b\n' "$REDIS_AOF_FILE.1.base.rdb" >"$aof/$REDIS_AOF_FILE.manifest"
  chown -R --reference="$dir" "$aof"
  log "$name: snapshot in place as the base of Redis' AOF ($REDIS_AOF_DIR/)"
}

# Stops the DR test's temporary Redis, also when its check failed: left running, it would hold its
# port and fail the next DR test.
stop_temp_redis() {
  if [[ -n ${REDIS_IMAGE:-} ]]; then
    docker rm -f sofia-redis-restore >/dev/null 2>&1 || true
  elif [[ -f $stage/redis-restore.pid ]]; then
    kill "$(cat "$stage/redis-restore.pid")" 2>/dev/null || true
  fi
  temp_redis=0
}

# The DR test starts no service: a temporary Redis loads the restored AOF and answers for it.
check_redis_scratch() {  # name, data directory
  local name=$1 dir=$2 reply
  if [[ -n ${REDIS_IMAGE:-} ]]; then
    # As the directory's owner: Redis opens a fresh AOF increment in it.
    docker run -d --rm --name sofia-redis-restore --network host --user "$(stat -c %u:%g "$dir")" -v "$dir:$dir" "$REDIS_IMAGE" \
      redis-server --dir "$dir" --port "$TEMP_REDIS_PORT" --bind 127.0.0.1 --appendonly yes --save "" >/dev/null
  else
    redis-server --dir "$dir" --port "$TEMP_REDIS_PORT" --bind 127.0.0.1 --appendonly yes --save "" --daemonize yes --pidfile "$stage/redis-restore.pid" >/dev/null
  fi
  temp_redis=1
  local cli=(redis_tool "$dir" redis-cli -h 127.0.0.1 -p "$TEMP_REDIS_PORT")
  for _ in $(seq 1 600); do
    reply=$("${cli[@]}" PING 2>&1 || true)
    [[ $reply == PONG ]] && break
    sleep 0.1
  done
  [[ $reply == PONG ]] || die "$name: a temporary Redis did not load the restored AOF (${reply:-no reply})"
  check_redis_facts "$name" "${cli[@]}"
  stop_temp_redis
  log "$name: the restored AOF loads in a temporary Redis, with the manifest's DBSIZE and sampled keys"
}

# The manifest's DBSIZE and sampled keys (with their types), asked of a Redis through "$@".
check_redis_facts() {  # name, redis-cli command...
  local name=$1 want got key type
  shift
  want=$(jq -r --arg n "$name" '.stores[$n].dbsize' "$manifest")
  got=$("$@" DBSIZE)
  [[ $got == "$want" ]] || die "verify: $name has $got keys, the manifest $want"
  while read -r key type; do
    [[ -z $key ]] && continue
    [[ $("$@" TYPE "$key") == "$type" ]] || die "verify: $name key $key is not the $type the backup sampled"
  done < <(jq -r --arg n "$name" '.stores[$n].sample[]? | "\(.key) \(.type)"' "$manifest")
}

for i in "${!NAME[@]}"; do
  case ${KIND[$i]} in
    redis) restore_redis "${NAME[$i]}" "${DIR[$i]}" ;;
    questdb)
      tar -xf "$stage/${NAME[$i]}.tar" -C "${DIR[$i]}"
      rm "$stage/${NAME[$i]}.tar"
      # QuestDB restores from the checkpoint copy at its next start when this file exists.
      touch "${DIR[$i]}/_restore"
      log "${NAME[$i]}: root restored, _restore trigger in place" ;;
    files)
      tar -xf "$stage/${NAME[$i]}.tar" -C "${DIR[$i]}"
      rm "$stage/${NAME[$i]}.tar"
      log "${NAME[$i]}: files restored" ;;
  esac
done

if [[ $mode == scratch ]]; then
  for i in "${!NAME[@]}"; do
    [[ ${KIND[$i]} != redis ]] || check_redis_scratch "${NAME[$i]}" "${DIR[$i]}"
  done
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
      check_redis_facts "${NAME[$i]}" redis_tool "$stage" redis-cli -h "$host" -p "$port" --no-auth-warning
      log "verify: ${NAME[$i]} has the manifest's DBSIZE and its sampled keys" ;;
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
