#!/usr/bin/env bash
# Restores a complete backup, in the runbook's order but safely:
#   1. takes the host lock (one restore, backup, verification, DR test or restart at a time) and
#      recovers whatever an interrupted operation left (sofia-ops.sh)
#   2. checks the backup and the room it needs before downloading anything, then downloads every
#      object into this run's staging, checking its size and SHA-256 as it streams past, and
#      unpacks it there (Redis' snapshot becomes the base of its AOF, QuestDB gets its _restore
#      trigger): nothing live is touched until every byte is checked
#   3. raises the maintenance page and signal (owner "restore"), stops the services in reverse
#      catalog order, and swaps each store's directory for the restored one by renaming, keeping
#      the live one beside it as the safety copy; every phase is journalled first
#   4. starts the services in catalog order, verifies against the manifest (Redis DBSIZE and
#      sampled keys, QuestDB tables) and every /health, and only then drops the safety copies
# Any failure, or TERM/INT/HUP, after the services were stopped puts the safety copies back and
# starts the services. A KILL or a reboot leaves the journal: the next Sofia command, boot or
# `pulumi up` (every entry point recovers first) puts the data from before back, or, when the
# restore was verified, finishes it. A safety copy is never removed before verification.
#
#   sofia-restore <backup-id|latest>               the restore above ("latest": the newest full backup)
#   sofia-restore --verify-only <backup-id|latest>  every object streamed and checked (SHA-256,
#                                                  redis-check-rdb, archives listed), nothing stored:
#                                                  the weekly backup verification
#   sofia-restore --scratch <backup-id|latest>      steps 2 into scratch space, never the live data,
#                                                  verified and timed: the monthly DR test. It needs
#                                                  room beyond what the stores keep free.
# The last two publish their result and duration as metrics.
#
# The last line printed, whatever the outcome, is a JSON summary: {"restore": {"id", "started",
# "ended", "seconds", "result"}}.
set -euo pipefail

log() { printf '%s sofia-restore: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'sofia-restore: %s\n' "$*" >&2; exit 1; }

# Every path comes from the host's layout, written by the stack (topology/host/layout.ts); the
# environment may point elsewhere (the drills).
SOFIA_HOST_ENV=${SOFIA_HOST_ENV:-/etc/sofia/host.env}
# shellcheck source=/dev/null
source "$SOFIA_HOST_ENV" || die "no host layout at $SOFIA_HOST_ENV; it is installed by the stack (pulumi up)"
# shellcheck source=/dev/null
source "${SOFIA_BACKUP_LIB:?not in the host layout (host.env); run pulumi up to reinstall it}"
# shellcheck source=/dev/null
source "${SOFIA_OPS_LIB:?not in the host layout (host.env); run pulumi up to reinstall it}"
load_backup_config
SERVICES=$SOFIA_SERVICES
MAINTENANCE=${SOFIA_MAINTENANCE_BIN:?not in the host layout (host.env); run pulumi up to reinstall it}
TEMP_REDIS_PORT=${SOFIA_RESTORE_REDIS_PORT:-6390}
# Longest the page stays up if this restore is killed and nothing takes it down (it then lapses).
PAGE_MINUTES=${SOFIA_RESTORE_PAGE_MINUTES:-90}

mode=live
case ${1:-} in
  --verify-only) mode=verify; shift ;;
  --scratch) mode=scratch; shift ;;
esac
[[ $# -eq 1 ]] || die "usage: sofia-restore [--verify-only | --scratch] <backup-id|latest>"
requested=$1
[[ $requested == latest || $requested =~ ^[A-Za-z0-9._-]+$ ]] || die "'$requested' is not a backup id"
started=$(date +%s)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
id=""
run=""
# Where each item is restored before the swap: the run's directory, or beside the live one.
NEW=()
bookkeeping=""
page_up=0
temp_redis=0
done_ok=0
# Set once this run has written its own journal (the swap began): only then is the journal its own
# to act on, and a failure puts the data from before back.
journalled=0
# Set once the restored data is verified: from then on it stays, whatever stops this run.
restored=0

summary() {
  jq -cn --arg id "${id:-$requested}" --arg s "$started_at" --arg e "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson t $(( $(date +%s) - started )) --arg r "$1" \
    '{restore: {id: $id, started: $s, ended: $e, seconds: $t, result: $r}}'
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
  # Putting the data back must not be cut short by a second signal (SSM follows TERM with KILL,
  # which only the journal survives).
  trap '' TERM INT HUP
  (( done_ok )) && rc=0
  (( rc == 0 )) || report 0
  (( temp_redis == 0 )) || stop_temp_redis
  local outcome=ok
  if (( rc != 0 && restored )); then
    # Stopped after its verification, while removing the safety copies: the restored data stays.
    ( ops_recover_strict ) || echo "sofia-restore: removing the safety copies did not finish; the next Sofia command finishes it" >&2
    log "restore of $id was stopped after it was verified: the restored data stays"
    rc=0
  fi
  if (( rc != 0 )); then
    outcome=failed
    if (( journalled )); then
      # The journal is this restore's: the recovery puts the data from before back and starts the services.
      if ( ops_recover_strict ); then
        echo "sofia-restore: restore of ${id:-$requested} FAILED; the data from before it is back in place" >&2
      else
        echo "sofia-restore: restore of ${id:-$requested} FAILED, and putting the data from before it back did not finish (above); its journal stays, and the next Sofia command (or boot) finishes it" >&2
      fi
    elif [[ $mode == verify ]]; then
      echo "sofia-restore: the verification of ${id:-$requested} FAILED; nothing live was touched" >&2
    elif [[ $mode == scratch ]]; then
      echo "sofia-restore: the DR test of ${id:-$requested} FAILED; nothing live was touched" >&2
    else
      echo "sofia-restore: restore of ${id:-$requested} refused; nothing was changed" >&2
    fi
  fi
  (( page_up == 0 )) || "$MAINTENANCE" page off restore || echo "sofia-restore: could not take the maintenance page down; it lapses within $PAGE_MINUTES minutes (sofia-maintenance page off restore)" >&2
  [[ -z $run || ! -d $run ]] || rm -rf "$run"
  local n
  for n in "${NEW[@]}"; do [[ $n == "$run"/* ]] || rm -rf "$n"; done
  [[ -z ${bookkeeping:-} ]] || rm -rf "$bookkeeping"
  summary "$outcome"
  exit "$rc"
}
trap on_exit EXIT
# SSM's timeout and cancel send TERM: a failure like any other, with the data put back.
trap 'echo "sofia-restore: stopped by a signal" >&2; exit 1' TERM INT HUP

# --- 1. one operation at a time, and nothing left half done ---------------------------------------
# A live restore goes on when the recovery of an earlier operation could not start the services:
# it stops and starts them itself, and may be what they need.
ops_begin "sofia-restore$([[ $mode == live ]] || echo " --$mode") $requested" "${SOFIA_OPS_WAIT:-1800}" "$([[ $mode == live ]] && echo may-find-down)"

# --- 2. the backup, checked, then fetched into staging ----------------------------------------------
if [[ $requested == latest ]]; then
  id=$(newest_backup full) || die "could not list $S3_BASE/full/"
  [[ -n $id ]] || die "there is no complete full backup under $S3_BASE/full/"
  [[ $id =~ ^[A-Za-z0-9._-]+$ ]] || die "the newest index entry under $S3_BASE/full/index/ names '$id', which is not a backup id: look at the bucket"
else
  id=$requested
fi
base="s3://$BACKUP_BUCKET/$(objects_of "$id")"
run=$(ops_run_dir)
# The downloads' own hashes and counts, off the data volume: a data volume that fills up must not
# make a good object look corrupted.
bookkeeping=$(mktemp -d)
log "backup $id ($mode)"
recent() { complete_backups full 5 | cut -f1 | paste -sd, - | sed 's/,/, /g'; }
# The marker and the manifest in one aws run (an object that is not there is simply not copied).
aws s3 cp "$base/" "$run/" --recursive --exclude '*' --include COMPLETE --include manifest.json --only-show-errors 2>"$run/.err" ||
  die "could not read $base/: $(tail -n 1 "$run/.err")"
if [[ ! -f $run/COMPLETE ]]; then
  [[ -z $(aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$(objects_of "$id")/" --max-items 1 --query 'Contents[].Key' --output text | grep -v '^None$' || true) ]] ||
    die "backup $id has no COMPLETE marker (it never finished, or failed verification): refusing it. Most recent complete backups: $(recent)"
  die "there is no backup $id under $S3_BASE/. Most recent complete backups: $(recent)"
fi
[[ -f $run/manifest.json ]] || die "backup $id: its COMPLETE marker is there but its manifest.json is not: refusing it"
manifest="$run/manifest.json"
[[ $(sha256_of "$manifest") == "$(jq -r .manifest_sha256 "$run/COMPLETE")" ]] ||
  die "backup $id: manifest.json does not match the SHA-256 its COMPLETE marker names: refusing it"
manifest_shaped "$manifest" ||
  die "backup $id: manifest.json is not shaped as a Sofia manifest (a field of the wrong type or with characters it may not hold): refusing it"

# What is put back where: the items of the backup that the stack restores.
NAME=() KIND=() SOURCE=() DETAIL=() DIR=() OWNER=()
while IFS=$'\t' read -r name kind source detail dir owner; do
  [[ -z $name || $name == \#* ]] && continue
  jq -e --arg n "$name" '.items | index($n)' "$manifest" >/dev/null || continue
  [[ $kind != cache ]] || { log "$name: the cache's (ElastiCache), put back by sofia-cache seed, not here"; cache_only=1; continue; }
  [[ $dir != - ]] || { log "$name: kept as the stack wrote it (the backup's copy is for reference)"; continue; }
  [[ $kind != pg-dump ]] || die "$name: restoring a pg_dump is not supported yet: restore it by hand with pg_restore"
  # Who gets the restored files: "-" (or a list from before the column), as the backup holds them.
  owner=${owner:--}
  [[ $owner == - || $owner =~ ^[0-9]+:[0-9]+$ ]] || die "$SOFIA_BACKUP_ITEMS: $name's owner '$owner' is not uid:gid; reinstall it (pulumi up)"
  NAME+=("$name"); KIND+=("$kind"); SOURCE+=("$source"); DETAIL+=("$detail"); DIR+=("$dir"); OWNER+=("$owner")
  NEW+=("$run/new/$name")
done <"$SOFIA_BACKUP_ITEMS"
# A Redis-only backup of the ECS topology's cache: nothing of it is this host's to put back.
if [[ $mode == live ]] && (( ${#NAME[@]} == 0 && ${cache_only:-0} )); then
  log "backup $id holds only the cache's data, which sofia-cache seed puts back next: nothing to restore on this host"
  done_ok=1
  exit 0
fi
item_of_path() { local i; for i in "${!NAME[@]}"; do [[ $1 != "${NAME[$i]}".* ]] || { echo "$i"; return; }; done; echo -1; }

# Objects up to this size come down together, in one aws run (one CLI start instead of one each,
# and S3's ranged downloads in parallel), into staging; so do Redis snapshots whatever their size,
# which are checked there and moved into place (they are stored as they are restored). The larger
# archives stream into tar. Every object is checked against the manifest before it is used.
BATCH_BYTES=${SOFIA_RESTORE_BATCH_BYTES:-67108864}
[[ $BATCH_BYTES =~ ^[0-9]+$ ]] || die "SOFIA_RESTORE_BATCH_BYTES must be a number of bytes, not '$BATCH_BYTES'"
# shellcheck disable=SC2016 # $max is jq's, given with --argjson
BATCHED='.files[] | select(.size <= $max or (.path | endswith(".rdb")))'

# Room before work, for the whole job: every object lands once (unpacked archives are about their
# size; small ones are briefly there twice), and the stores must keep room to write. The DR test
# keeps a larger share free: it runs beside live services for as long as it takes.
if [[ $mode != verify ]]; then
  reserve=${SOFIA_RESTORE_MIN_FREE_BYTES:-1073741824}
  [[ $reserve =~ ^[0-9]+$ ]] || die "SOFIA_RESTORE_MIN_FREE_BYTES must be a number of bytes, not '$reserve'"
  if [[ $mode == scratch ]]; then
    share=$(( $(df -B1 --output=size "$run" | tail -n 1) * ${SOFIA_SCRATCH_KEEP_FREE_PERCENT:-20} / 100 ))
    (( share <= reserve )) || reserve=$share
  fi
  elsewhere=()
  for i in "${!NAME[@]}"; do
    [[ $mode == scratch ]] && break
    [[ -d ${DIR[$i]} ]] || die "${NAME[$i]}: its live directory ${DIR[$i]} is not there; is the volume there (docker volume ls), or the file system that holds it mounted (findmnt)?"
    # Restored beside its live directory when that is on a file system of its own (the ECS apps'
    # files, on EFS), so that the swap stays a rename there too. Anything left there by an earlier,
    # killed restore is that restore's partial copy.
    if [[ $(stat -c %d "${DIR[$i]}") != "$(stat -c %d "$run")" ]]; then
      NEW[i]=${DIR[$i]}.restore-new
      rm -rf "${NEW[$i]}"
      elsewhere+=("${NAME[$i]}")
    fi
    [[ ! -e ${DIR[$i]}.before-restore ]] || die "${DIR[$i]}.before-restore exists, and no journal says whose it is: it may be the only copy of earlier data. Look at it, move it away, and run again"
  done
  # Small archives are downloaded whole first (below): they are on the disk twice for a moment.
  # What is unpacked on another file system (beside its live directory) takes no room here but that.
  need=$(jq --argjson max "$BATCH_BYTES" --args '[.files[] | select((.path | split(".")[0]) as $n | $ARGS.positional | index($n) | not) | .size] + [.files[] | select(.size <= $max and (.path | endswith(".rdb") | not)) | .size] | add // 0' "${elsewhere[@]}" <"$manifest")
  free=$(df -B1 --output=avail "$run" | tail -n 1)
  (( free >= need + reserve )) ||
    die "backup $id needs $(( (need + reserve) >> 20 )) MiB free on the data volume ($(( need >> 20 )) MiB of backup, $(( reserve >> 20 )) MiB kept free for the stores), and $(( free >> 20 )) MiB are: free space there (or grow the data volume, sofia:dataVolumeGb) and run again"
fi

# For failure messages: what is left on the data volume.
room() { echo "$(df -h --output=avail "$run" | tail -n 1 | tr -d ' ') free on the data volume"; }

# One object's bytes: the copy the batch brought into staging (gone once read), or S3 directly.
download() {  # path
  local small="$run/small/$1"
  if [[ -f $small ]]; then
    cat "$small" && rm -f "$small"
  else
    aws s3 cp "$base/$1" - --only-show-errors
  fi
}

# Checks an object the batch brought into staging against the manifest, then moves it to <dest>.
take_downloaded() {  # path, dest
  local file="$run/small/$1" want_size want_sha size sha
  [[ -f $file ]] || return 1
  want_size=$(jq -r --arg p "$1" '.files[] | select(.path == $p) | .size' "$manifest")
  want_sha=$(jq -r --arg p "$1" '.files[] | select(.path == $p) | .sha256' "$manifest")
  size=$(stat -c %s "$file")
  sha=$(sha256_of "$file")
  [[ $size == "$want_size" && $sha == "$want_sha" ]] ||
    die "backup $id does not match its manifest ($1 corrupted: $size bytes, SHA-256 ${sha:0:12}, manifest $want_size bytes, ${want_sha:0:12}): refusing it"
  mv -f "$file" "$2" || die "$1: could not move it into place in $(dirname "$2")"
}

# Streams one object from S3 into a sink command, checking its size and SHA-256 against the
# manifest on the way; a broken download, a full disk or a failing sink stops here, with nothing live touched.
fetch() {  # path, sink command...
  local path=$1 d="$bookkeeping/fetch" st want_size want_sha
  shift
  rm -rf "$d"; mkdir -p "$d"; mkfifo "$d/sha" "$d/size"
  openssl dgst -sha256 -r <"$d/sha" >"$d/sha256" & local hashing=$!
  wc -c <"$d/size" >"$d/bytes" & local counting=$!
  set +e
  # -p: a sink that stops reading early (a broken archive, a full disk) does not cut the hashing short.
  download "$path" 2>"$d/err" | tee -p "$d/sha" "$d/size" | "$@" 2>"$d/sink"
  st=("${PIPESTATUS[@]}")
  set -e
  wait "$hashing" "$counting" || true
  (( st[0] == 0 )) || die "could not download $base/$path: $(tail -n 1 "$d/err") ($(room))"
  want_size=$(jq -r --arg p "$path" '.files[] | select(.path == $p) | .size' "$manifest")
  want_sha=$(jq -r --arg p "$path" '.files[] | select(.path == $p) | .sha256' "$manifest")
  [[ $(cat "$d/bytes") == "$want_size" && $(cut -d' ' -f1 "$d/sha256") == "$want_sha" ]] ||
    die "backup $id does not match its manifest ($path corrupted: $(cat "$d/bytes") bytes, SHA-256 $(cut -c1-12 "$d/sha256"), manifest $want_size bytes, ${want_sha:0:12}): refusing it"
  (( st[2] == 0 )) || die "$path: $1 failed: $(tail -n 2 "$d/sink" | paste -sd' ' -) ($(room))"
  (( st[1] == 0 )) || die "$path: the download could not be passed on ($(room))"
}

# Redis ignores a copied dump.rdb when AOF is on. Redis 7 keeps its AOF as a directory: a base file
# (an RDB, as aof-use-rdb-preamble writes it), increments, and a manifest naming them. Putting the
# snapshot there as the base gives what loading it with AOF off and rewriting would, without
# loading the dataset twice; sofia-redis loads it at start, with AOF on as always.
# Each step checked: fetch runs it with `set -e` off, and a write that fails (a full disk) must fail it.
redis_into() {  # dir: reads the RDB on stdin
  local aof="$1/$REDIS_AOF_DIR"
  mkdir -p "$aof" || return 1
  cat >"$aof/$REDIS_AOF_FILE.1.base.rdb" || return 1
  aof_manifest "$1"
}
# The AOF's manifest: one base file (the snapshot), no increments.
aof_manifest() {  # dir
  printf 'file %s seq 1 type b\n' "$REDIS_AOF_FILE.1.base.rdb" >"$1/$REDIS_AOF_DIR/$REDIS_AOF_FILE.manifest"
}

format=$(jq -r '.format // 1' "$manifest")
paths=$(jq -r '.files[].path' "$manifest") || die "backup $id: could not read the objects its manifest lists"
mkdir -p "$run/new"
# Verification stores nothing on the data volume: it streams every object.
if [[ $mode != verify ]]; then
  batch=()
  while IFS= read -r path; do [[ -z $path ]] || batch+=(--include "$path"); done < <(jq -r --argjson max "$BATCH_BYTES" "$BATCHED | .path" "$manifest")
  if (( ${#batch[@]} )); then
    mkdir -p "$run/small"
    aws s3 cp "$base/" "$run/small/" --recursive --exclude '*' "${batch[@]}" --only-show-errors 2>"$bookkeeping/batch.err" ||
      die "could not download the backup's small objects from $base/: $(tail -n 1 "$bookkeeping/batch.err") ($(room))"
  fi
fi
while IFS= read -r path; do
  [[ -n $path ]] || continue
  i=$(item_of_path "$path")
  if [[ $mode == verify ]]; then
    case $path in
      *.rdb) fetch "$path" redis_tool --stdin "$run" redis-check-rdb /dev/stdin ;;
      *.tar) fetch "$path" tar -tf - ;;
      *) fetch "$path" cat ;;
    esac >/dev/null
    log "$path: matches the manifest$([[ $path == *.rdb ]] && echo ", passes redis-check-rdb")$([[ $path == *.tar ]] && echo ", a readable archive")"
    continue
  fi
  fault_point fetching
  if (( i < 0 )); then fetch "$path" cat >/dev/null; continue; fi
  new=${NEW[$i]}
  mkdir -p "$new"
  case ${KIND[$i]} in
    redis)
      if [[ -f $run/small/$path ]]; then
        mkdir -p "$new/$REDIS_AOF_DIR" || die "${NAME[$i]}: could not make $new/$REDIS_AOF_DIR ($(room))"
        take_downloaded "$path" "$new/$REDIS_AOF_DIR/$REDIS_AOF_FILE.1.base.rdb" || die "$path: its download is not in $run/small"
        aof_manifest "$new" || die "${NAME[$i]}: could not write the AOF manifest ($(room))"
      else
        fetch "$path" redis_into "$new"
      fi
      # Manifest format 1 stored redis-cli's 40-byte end-of-transfer mark after the RDB; as an
      # AOF base those bytes would not load.
      base_rdb="$new/$REDIS_AOF_DIR/$REDIS_AOF_FILE.1.base.rdb"
      if (( format < 2 )) && tail -c 40 "$base_rdb" | grep -Eqx '[0-9a-f]{40}'; then
        truncate -s -40 "$base_rdb"
        log "${NAME[$i]}: cut the end-of-transfer mark a format-1 backup stored after the RDB"
      fi
      log "${NAME[$i]}: snapshot checked and in place as the base of Redis' AOF ($REDIS_AOF_DIR/)" ;;
    questdb)
      fetch "$path" tar -xf - -C "$new"
      # This stack's own configuration (its credentials), not the backup's: a backup from another
      # stack, or one taken before server.conf was left out of backups, holds other passwords.
      if [[ $mode == live ]]; then
        [[ -f ${DIR[$i]}/conf/server.conf ]] ||
          die "${NAME[$i]}: the live ${DIR[$i]}/conf/server.conf (QuestDB's credentials) is missing; QuestDB would start without them. Recreate its container (pulumi up), then restore; nothing was changed"
        # Whatever the backup holds at conf/ (a symlink planted by whoever wrote it) is not followed.
        if [[ -L $new/conf || ( -e $new/conf && ! -d $new/conf ) || -L $new/conf/server.conf ]]; then
          die "${NAME[$i]}: backup $id holds conf or conf/server.conf as a link or a file of another kind; refusing it, nothing was changed"
        fi
        mkdir -p "$new/conf"
        rm -f "$new/conf/server.conf"
        cp -p "${DIR[$i]}/conf/server.conf" "$new/conf/server.conf"
      fi
      # QuestDB restores from the checkpoint copy at its next start when this file exists.
      touch "$new/_restore"
      log "${NAME[$i]}: root checked and unpacked, _restore trigger in place" ;;
    files)
      fetch "$path" tar -xf - -C "$new"
      log "${NAME[$i]}: files checked and unpacked" ;;
  esac
  if [[ $mode == live ]]; then
    chown --reference="${DIR[$i]}" "$new"
    chmod --reference="${DIR[$i]}" "$new"
    [[ ${KIND[$i]} != redis ]] || chown -R --reference="${DIR[$i]}" "$new/$REDIS_AOF_DIR"
    # A shared file system's users (the ECS tasks) work on it as one user, whoever wrote the backup.
    [[ ${OWNER[$i]} == - ]] || chown -R "${OWNER[$i]}" "$new"
  fi
done <<<"$paths"
log "backup $id: $(jq '.files | length' "$manifest") objects match the manifest"
# Everything this stack restores from the backup must have come: a missing object found at the
# swap would be found with the services already down.
if [[ $mode != verify ]]; then
  (( ${#NAME[@]} )) || die "backup $id holds nothing this stack restores (its items: $(jq -r '.items | join(", ")' "$manifest")): refusing it"
  for i in "${!NAME[@]}"; do
    [[ -d ${NEW[$i]} ]] || die "backup $id lists ${NAME[$i]} among its items, but none of its objects holds it: refusing it"
  done
fi

if [[ $mode == verify ]]; then
  report 1
  log "backup $id passes: manifest, checksums, redis-check-rdb, archives"
  done_ok=1
  exit 0
fi

# The manifest's DBSIZE and sampled keys (with their types), asked of a Redis through "$@".
# Keys with a TTL may have expired since the backup: the snapshot's count less those, up to all of it.
check_redis_facts() {  # name, redis-cli command...
  local name=$1 want expires got key type
  shift
  want=$(jq -r --arg n "$name" '.stores[$n].dbsize // 0' "$manifest")
  expires=$(jq -r --arg n "$name" '.stores[$n].expires // 0' "$manifest")
  got=$("$@" DBSIZE)
  [[ $got =~ ^[0-9]+$ ]] || die "verify: $name did not answer DBSIZE (${got:-no reply})"
  (( got <= want && got >= want - expires )) ||
    die "verify: $name has $got keys; the backup's snapshot has $want ($expires of them with a TTL, which may have expired since)"
  while read -r key type; do
    [[ -z $key ]] && continue
    [[ $("$@" TYPE "$key") == "$type" ]] || die "verify: $name key $key is not the $type the backup sampled"
  done < <(jq -r --arg n "$name" '.stores[$n].sample[]? | "\(.key) \(.type)"' "$manifest")
}

# The DR test's temporary Redis: stopped also when its check fails, or it would hold its port.
stop_temp_redis() {
  if [[ -n ${REDIS_IMAGE:-} ]]; then
    docker rm -f "$TEMP_REDIS_CONTAINER" >/dev/null 2>&1 || true
  elif [[ -f $TEMP_REDIS_PIDFILE ]]; then
    kill "$(cat "$TEMP_REDIS_PIDFILE")" 2>/dev/null || true
    rm -f "$TEMP_REDIS_PIDFILE"
  fi
  temp_redis=0
}

# The DR test starts no service: a temporary Redis loads the restored AOF and answers for it.
check_redis_scratch() {  # name, data directory
  local name=$1 dir=$2 reply
  mkdir -p "$(dirname "$TEMP_REDIS_PIDFILE")"
  temp_redis=1
  if [[ -n ${REDIS_IMAGE:-} ]]; then
    docker run -d --rm --name "$TEMP_REDIS_CONTAINER" --network host --user "$(stat -c %u:%g "$dir")" -v "$dir:$dir" "$REDIS_IMAGE" \
      redis-server --dir "$dir" --port "$TEMP_REDIS_PORT" --bind 127.0.0.1 --appendonly yes --save "" >/dev/null
  else
    # Without the host lock's descriptor: a daemon left holding it would hold the lock for good.
    redis-server --dir "$dir" --port "$TEMP_REDIS_PORT" --bind 127.0.0.1 --appendonly yes --save "" --daemonize yes --pidfile "$TEMP_REDIS_PIDFILE" >/dev/null 7>&-
  fi
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

if [[ $mode == scratch ]]; then
  for i in "${!NAME[@]}"; do
    case ${KIND[$i]} in
      redis) check_redis_scratch "${NAME[$i]}" "${NEW[$i]}" ;;
      questdb) [[ -d ${NEW[$i]}/db ]] || die "${NAME[$i]}: the restored root has no db directory" ;;
    esac
  done
  report 1
  log "DR test of $id passed: restored into scratch space and verified in $(( $(date +%s) - started ))s"
  done_ok=1
  exit 0
fi

# --- 3. the swap: page up, services down, renames, each phase journalled first --------------------
# Taken down on exit even when raising it failed half-way (the signal up, the page not).
page_up=1
"$MAINTENANCE" page on "$PAGE_MINUTES" restore || die "could not raise the maintenance page; nothing was changed"
journalled=1
journal_new "op=restore" "id=$id" "phase=stopping" "started=$started_at" "${DIR[@]/#/dir=}"
log "stopping the services (reverse catalog order)"
"$SERVICES" stop
fault_point stopped
journal_set "phase=swapping"
for i in "${!NAME[@]}"; do
  # -T: never into a directory of that name. On EFS the tasks' access point makes its directory
  # again, empty, should a task start between the two: the restored one then replaces it.
  mv -T "${DIR[$i]}" "${DIR[$i]}.before-restore"
  fault_point swapping
  mv -T "${NEW[$i]}" "${DIR[$i]}"
done
sync -f "$run"
journal_set "phase=swapped"
log "restored data swapped in; the data from before is kept beside it until the restore is verified"

# --- 4. start, then verify ----------------------------------------------------------------------------
log "starting the services (catalog order, health-gated)"
"$SERVICES" start
fault_point verifying
for i in "${!NAME[@]}"; do
  case ${KIND[$i]} in
    redis)
      host=${SOURCE[$i]%:*} port=${SOURCE[$i]##*:} container=${DETAIL[$i]%%:*} pwfile=${DETAIL[$i]#*:}
      REDISCLI_AUTH=$(docker exec "$container" cat "$pwfile")
      export REDISCLI_AUTH
      check_redis_facts "${NAME[$i]}" redis_tool "$run" redis-cli -h "$host" -p "$port" --no-auth-warning
      log "verify: ${NAME[$i]} has the manifest's DBSIZE and its sampled keys" ;;
    questdb)
      tables=$(questdb_curl -sS -G --max-time 60 --data-urlencode "query=SELECT table_name FROM tables()" "${SOURCE[$i]}/exec" | jq -c '[.dataset[][0]]') ||
        die "verify: could not list QuestDB's tables"
      missing=$(jq -rn --argjson have "$tables" --argjson want "$(jq -c --arg n "${NAME[$i]}" '.stores[$n].tables // []' "$manifest")" '$want - $have | join(", ")')
      [[ -z $missing ]] || die "verify: QuestDB is missing tables the backup had: $missing"
      log "verify: ${NAME[$i]} has every table of the backup" ;;
  esac
done
# Every service up and healthy; not whether the markets' feeds are writing now (a feed that is down
# would otherwise undo a good restore): the next deploy and the windows' checks see that.
"$SERVICES" verify --without-flows

# --- verified: from here the restored data stays, whatever happens; the safety copies can go --------
journal_set "phase=verified"
restored=1
fault_point verified
for i in "${!NAME[@]}"; do rm -rf "${DIR[$i]}.before-restore"; done
journal_clear
log "restore of $id complete in $(( $(date +%s) - started ))s"
done_ok=1
