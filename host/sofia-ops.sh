#!/usr/bin/env bash
# Host operations that must never overlap or be left half done, shared by sofia-services,
# sofia-backup and sofia-restore (sourced, not run):
#
#   ops_begin <who> <wait-seconds>   take the one host lock (restore, backup, verification, DR
#                                    test, full restart), say who holds it, then recover whatever
#                                    an earlier operation left unfinished
#   journal_set <key=value>...       record what the current operation has done, durably, before
#                                    its next irreversible step
#   journal_clear                    the operation is over
#   ops_run_dir                      a staging directory of this run's own
#
# The journal lives on the data volume, beside the data, so it survives what the data survives
# (a reboot, a killed process). The recovery every entry point runs first reads it:
#   restore, not yet verified   the safety copies are put back (the partial restore removed),
#                               services started: the data from before is live
#   restore, verified           only its safety copies were left to remove: removed
#   restart                     services started
#   backup                      QuestDB's checkpoint released; the failure left to sofia-backup to report
# The lock is flock(2): released by the kernel when its holder dies, whatever killed it; processes
# an operation starts (sofia-services from sofia-restore) inherit it rather than wait for it.
set -euo pipefail

ops_log() { printf '%s sofia-ops: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
ops_die() { printf 'sofia-ops: %s\n' "$*" >&2; exit 1; }

# The host's layout (services/host-files.ts writes it); the environment may point elsewhere (drills).
SOFIA_HOST_ENV=${SOFIA_HOST_ENV:-/etc/sofia/host.env}
[[ -r $SOFIA_HOST_ENV ]] || ops_die "no host layout at $SOFIA_HOST_ENV; it is installed by the stack (pulumi up)"
# shellcheck source=/dev/null
source "$SOFIA_HOST_ENV"
for var in SOFIA_OPS_LOCK SOFIA_JOURNAL SOFIA_STATE_DIR SOFIA_STAGING_DIR; do
  [[ -n ${!var:-} ]] || ops_die "$SOFIA_HOST_ENV does not set $var; run pulumi up to reinstall it"
done
SOFIA_SERVICES=${SOFIA_SERVICES:-/usr/local/sbin/sofia-services}

# Takes the host lock (or finds it held by the operation that started this one), then recovers.
ops_begin() {
  local who=$1 wait=${2:-0} holder
  if [[ -n ${SOFIA_OPS_HELD_BY:-} ]]; then return 0; fi
  [[ $wait =~ ^[0-9]+$ ]] || ops_die "the lock wait must be a number of seconds, not '$wait'"
  mkdir -p "$(dirname "$SOFIA_OPS_LOCK")"
  exec 7>>"$SOFIA_OPS_LOCK"
  if ! flock -n 7; then
    holder=$(cat "$SOFIA_OPS_LOCK.holder" 2>/dev/null || echo "an unknown process")
    (( wait > 0 )) || ops_die "$who: another Sofia operation holds the host lock: $holder. Run again when it is done (or: pgrep -af sofia-)"
    ops_log "$who: waiting up to ${wait}s for the host lock, held by $holder"
    flock -w "$wait" 7 || ops_die "$who: the host lock is still held after ${wait}s by $holder; nothing was done"
  fi
  printf '%s (pid %s) since %s\n' "$who" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$SOFIA_OPS_LOCK.holder"
  export SOFIA_OPS_HELD_BY="$who"
  ops_recover
}

# For commands that only look (the age publisher): recovers what a dead operation left if the lock
# is free, and otherwise leaves the journal to its living owner. Returns 1 when the lock is busy.
ops_try() {
  if [[ -n ${SOFIA_OPS_HELD_BY:-} ]]; then return 0; fi
  mkdir -p "$(dirname "$SOFIA_OPS_LOCK")"
  exec 7>>"$SOFIA_OPS_LOCK"
  flock -n 7 || return 1
  printf '%s (pid %s) since %s\n' "$1" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$SOFIA_OPS_LOCK.holder"
  export SOFIA_OPS_HELD_BY="$1"
  ops_recover
}

# The journal: key=value lines, replaced whole and flushed to disk before the step it announces.
journal_get() { if [[ -f $SOFIA_JOURNAL ]]; then sed -n "s/^$1=//p" "$SOFIA_JOURNAL" | sed -n 1p; fi; }
journal_all() { if [[ -f $SOFIA_JOURNAL ]]; then sed -n "s/^$1=//p" "$SOFIA_JOURNAL"; fi; }
journal_set() {
  local tmp="$SOFIA_JOURNAL.new" line key
  mkdir -p "$(dirname "$SOFIA_JOURNAL")"
  {
    [[ ! -f $SOFIA_JOURNAL ]] || cat "$SOFIA_JOURNAL"
    printf '%s\n' "$@"
  } | {
    # A later value of a key replaces an earlier one; "dir" accumulates.
    declare -A seen=()
    local -a out=()
    while IFS= read -r line; do
      key=${line%%=*}
      if [[ $key == dir ]]; then out+=("$line"); continue; fi
      if [[ -n ${seen[$key]:-} ]]; then out[${seen[$key]}]=$line; else seen[$key]=${#out[@]}; out+=("$line"); fi
    done
    printf '%s\n' "${out[@]}"
  } >"$tmp"
  sync "$tmp"
  mv -f "$tmp" "$SOFIA_JOURNAL"
  sync "$(dirname "$SOFIA_JOURNAL")"
}
journal_clear() {
  rm -f "$SOFIA_JOURNAL" "$SOFIA_JOURNAL.new"
  sync "$(dirname "$SOFIA_JOURNAL")"
}

# An interrupted restore's maintenance page would otherwise hold clients off until it lapses.
lower_restore_page() {
  "${SOFIA_MAINTENANCE_BIN:-/usr/local/sbin/sofia-maintenance}" page off restore >/dev/null ||
    ops_log "could not take the interrupted restore's maintenance page down; it lapses by itself (sofia-maintenance page off restore)"
}

# Puts back what a restore moved aside, newest state first; safe to run again at any line.
rollback_dirs() {
  local dir
  while IFS= read -r dir; do
    [[ -n $dir ]] || continue
    if [[ -e $dir.before-restore ]]; then
      rm -rf "$dir"
      mv "$dir.before-restore" "$dir"
    fi
  done < <(journal_all dir)
  sync -f "$(dirname "$SOFIA_JOURNAL")"
}

ops_recover() {
  local op phase id url
  # A run's staging (downloads, temporary stores) is nobody's once the lock is ours.
  if [[ -d $SOFIA_STAGING_DIR ]]; then find "$SOFIA_STAGING_DIR" -mindepth 1 -maxdepth 1 -name 'run.*' -exec rm -rf {} + ; fi
  stop_temp_redis_left

  [[ -f $SOFIA_JOURNAL ]] || return 0
  op=$(journal_get op) phase=$(journal_get phase) id=$(journal_get id)
  case $op in
    restore)
      if [[ $phase == verified ]]; then
        while IFS= read -r dir; do [[ -z $dir ]] || rm -rf "$dir.before-restore"; done < <(journal_all dir)
        journal_clear
        ops_log "the restore of $id was verified before it was interrupted: its safety copies are removed, the restored data stays"
        lower_restore_page
      else
        ops_log "the restore of $id was interrupted ($phase): putting the data from before it back"
        SOFIA_OPS_HELD_BY=recovery "$SOFIA_SERVICES" stop || ops_log "stopping the services failed; putting the data back anyway"
        rollback_dirs
        journal_clear
        SOFIA_OPS_HELD_BY=recovery "$SOFIA_SERVICES" start || ops_die "the data from before the interrupted restore of $id is back, but the services did not start healthy: sofia-services status"
        ops_log "the data from before the interrupted restore of $id is live again, services running"
        lower_restore_page
      fi
      ;;
    restart)
      ops_log "a full restart was interrupted ($phase): starting the services"
      journal_clear
      SOFIA_OPS_HELD_BY=recovery "$SOFIA_SERVICES" start || ops_die "the services did not start healthy after an interrupted restart: sofia-services status"
      ;;
    backup)
      url=$(journal_get checkpoint)
      if [[ -n $url ]]; then
        if curl -fsS -G --max-time 60 --data-urlencode "query=CHECKPOINT RELEASE" "$url/exec" >/dev/null 2>&1; then
          ops_log "released the QuestDB checkpoint an interrupted backup ($id) held"
        else
          ops_log "could not release the QuestDB checkpoint of the interrupted backup $id at $url (QuestDB down? it releases it when it restarts)"
        fi
      fi
      # For sofia-backup to settle (it has the bucket and the metrics): index it if it was complete, else report it.
      mkdir -p "$SOFIA_STATE_DIR"
      printf '%s\t%s\t%s\n' "$id" "$phase" "$(journal_get index)" >>"$SOFIA_STATE_DIR/backups-unfinished"
      journal_clear
      if [[ $phase == complete ]]; then
        ops_log "backup $id was interrupted after its COMPLETE marker: the next backup command indexes it"
      else
        ops_log "backup $id was interrupted: it is not complete, and the next backup command publishes its failure"
      fi
      ;;
    *) ops_die "the journal $SOFIA_JOURNAL names an operation this script does not know ('$op'); look at it, and remove it by hand once the data is checked" ;;
  esac
}

# The DR test's temporary Redis: a container (or, where the host has no image, a process whose pid
# file is here). One that an interrupted test left running would hold its port.
TEMP_REDIS_CONTAINER=sofia-redis-restore
TEMP_REDIS_PIDFILE="$SOFIA_STATE_DIR/temp-redis.pid"
stop_temp_redis_left() {
  local pid
  if [[ -f $TEMP_REDIS_PIDFILE ]]; then
    pid=$(cat "$TEMP_REDIS_PIDFILE" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      ops_log "stopped the temporary Redis (pid $pid) an interrupted DR test left running"
    fi
    rm -f "$TEMP_REDIS_PIDFILE"
  fi
  if [[ -n ${REDIS_IMAGE:-} ]] && docker inspect "$TEMP_REDIS_CONTAINER" >/dev/null 2>&1; then
    docker rm -f "$TEMP_REDIS_CONTAINER" >/dev/null 2>&1 || true
    ops_log "removed the temporary Redis container an interrupted DR test left running"
  fi
}

# Fault injection, for the drill only (npm run drill; never set on a host): SOFIA_FAULT=<point>:<how>
# stops the operation the first time it reaches <point>, and writes <point> to SOFIA_FAULT_MARK.
#   TERM  as SSM's timeout or cancel would stop it: its traps run
#   HOLD  it waits there until the mark is removed, so that the drill can kill the whole process
#         tree (SSM's kill, a reboot) or run another operation beside it
fault_point() {
  [[ -n ${SOFIA_FAULT:-} && ${SOFIA_FAULT%%:*} == "$1" && ! -e ${SOFIA_FAULT_MARK:?SOFIA_FAULT needs SOFIA_FAULT_MARK}.fired ]] || return 0
  touch "$SOFIA_FAULT_MARK.fired"
  echo "$1" >"$SOFIA_FAULT_MARK"
  case ${SOFIA_FAULT#*:} in
    TERM) kill -TERM $$ ;;
    HOLD) while [[ -e $SOFIA_FAULT_MARK ]]; do sleep 0.1; done ;;
    *) ops_die "SOFIA_FAULT: '${SOFIA_FAULT#*:}' is not TERM or HOLD" ;;
  esac
}

# A staging directory of this run's own, on the data volume (removed by the next run's recovery
# if this one is killed).
ops_run_dir() {
  mkdir -p "$SOFIA_STAGING_DIR"
  mktemp -d "$SOFIA_STAGING_DIR/run.XXXXXX"
}
