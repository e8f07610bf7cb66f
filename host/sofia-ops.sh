#!/usr/bin/env bash
# Host operations that must never overlap or be left half done, shared by sofia-services,
# sofia-backup and sofia-restore (sourced, not run):
#
#   ops_begin <who> <wait-seconds> [may-find-down]
#                                    take the one host lock (restore, backup, verification, DR
#                                    test, full restart, tuning), say who holds it, then recover
#                                    whatever an earlier operation left unfinished
#   ops_try <who>                    the same without waiting; returns 1 while the lock is busy
#   ops_mark_reboot <who>            the holder is about to have the host rebooted (a patch): until
#                                    the reboot, no other operation starts
#   journal_set <key=value>...       record what the current operation has done, durably, before
#                                    its next irreversible step
#   journal_new <key=value>...       the same, starting a journal of the operation's own
#   journal_clear                    the operation is over
#   ops_run_dir                      a staging directory of this run's own
#
# The journal lives on the data volume, beside the data, so it survives what the data survives
# (a reboot, a killed process). The recovery every entry point runs first reads it:
#   restore, not yet verified   the services stopped, the safety copies put back (the partial
#                               restore removed), the phase "rolled-back" journalled, the services
#                               started: the data from before is live
#   restore, verified           only its safety copies were left to remove: removed
#   restart                     services started
#   backup                      recorded for sofia-backup to settle (index it, or report its failure)
# and, whatever the journal, releases a QuestDB checkpoint a killed backup held. The journal is
# cleared only once the services run again: a recovery that fails at any step keeps it, and the
# next command (or boot) takes it up again.
# The lock is flock(2): released by the kernel when its holder dies, whatever killed it; processes
# an operation starts (sofia-services from sofia-restore) inherit it rather than wait for it.
set -euo pipefail

ops_log() { printf '%s sofia-ops: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
ops_die() { printf 'sofia-ops: %s\n' "$*" >&2; exit 1; }

# The host's layout (topology/host/layout.ts writes it; the script that sources this file has read
# it already, this is for a caller that has not); the environment may point elsewhere (drills).
SOFIA_HOST_ENV=${SOFIA_HOST_ENV:-/etc/sofia/host.env}
# shellcheck source=/dev/null
source "$SOFIA_HOST_ENV" || ops_die "no host layout at $SOFIA_HOST_ENV, or it does not read; it is installed by the stack (pulumi up)"
for var in SOFIA_OPS_LOCK SOFIA_JOURNAL SOFIA_STATE_DIR SOFIA_STAGING_DIR SOFIA_SERVICES SOFIA_MAINTENANCE_BIN; do
  [[ -n ${!var:-} ]] || ops_die "$SOFIA_HOST_ENV does not set $var; run pulumi up to reinstall it"
done

# An operation started by another (sofia-services from sofia-restore, the recovery's start) runs
# under its parent's lock: SOFIA_OPS_HELD_BY says so, and descriptor 7 must really be that lock,
# held (flock on the same open file succeeds), or the variable alone would walk past the lock.
held_by_parent() {
  [[ -n ${SOFIA_OPS_HELD_BY:-} ]] || return 1
  if [[ /proc/self/fd/7 -ef $SOFIA_OPS_LOCK ]] && flock -n 7; then return 0; fi
  ops_die "SOFIA_OPS_HELD_BY is set ($SOFIA_OPS_HELD_BY), but this process does not hold the host lock $SOFIA_OPS_LOCK; unset it and run again"
}

# The journal is on the data volume: without it mounted, an absent journal would read as "nothing
# to recover", and the data would be written onto the root volume.
data_mounted() {
  [[ -z ${SOFIA_DATA_MOUNT:-} ]] || mountpoint -q "$SOFIA_DATA_MOUNT" ||
    ops_die "the data volume is not mounted at $SOFIA_DATA_MOUNT; nothing was done (see: systemctl status docker; journalctl -b | grep sofia-mount-data)"
}

# A reboot the patch task asked for happens after it exits, when the lock is already free: its
# mark keeps every other operation from starting in between. It lives beside the lock, in /run,
# which the reboot empties; one older than REBOOT_MARK_SECONDS means the reboot never came.
REBOOT_MARK_SECONDS=${SOFIA_REBOOT_MARK_SECONDS:-900}
reboot_pending() {
  local mark="$SOFIA_OPS_LOCK.reboot" age
  [[ -f $mark ]] || return 1
  age=$(( $(date +%s) - $(stat -c %Y "$mark") ))
  if (( age > REBOOT_MARK_SECONDS )); then
    ops_log "a reboot asked for ${age}s ago never came ($(cat "$mark" 2>/dev/null)); going on without it"
    rm -f "$mark"
    return 1
  fi
  cat "$mark"
}

ops_mark_reboot() {
  printf '%s asked for a reboot at %s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$SOFIA_OPS_LOCK.reboot"
}

# Takes the host lock (or finds it held by the operation that started this one), then recovers.
# With "may-find-down", an operation that starts the services itself (a restore) goes on when the
# recovery could not start them: the journal stays until they do start.
ops_begin() {
  local who=$1 wait=${2:-0} holder
  if held_by_parent; then return 0; fi
  [[ $wait =~ ^[0-9]+$ ]] || ops_die "the lock wait must be a number of seconds, not '$wait'"
  data_mounted
  mkdir -p "$(dirname "$SOFIA_OPS_LOCK")"
  exec 7>>"$SOFIA_OPS_LOCK"
  if ! flock -n 7; then
    holder=$(cat "$SOFIA_OPS_LOCK.holder" 2>/dev/null || echo "an unknown process")
    (( wait > 0 )) || ops_die "$who: another Sofia operation holds the host lock: $holder. Run again when it is done (or: pgrep -af sofia-)"
    ops_log "$who: waiting up to ${wait}s for the host lock, held by $holder"
    flock -w "$wait" 7 || ops_die "$who: the host lock is still held after ${wait}s by $holder; nothing was done"
  fi
  local rebooting
  if rebooting=$(reboot_pending); then
    flock -u 7
    ops_die "$who: the host is about to reboot for security updates ($rebooting); nothing was done. Run again once it is back"
  fi
  printf '%s (pid %s) since %s\n' "$who" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$SOFIA_OPS_LOCK.holder"
  export SOFIA_OPS_HELD_BY="$who"
  OPS_MAY_FIND_DOWN=$([[ ${3:-} == may-find-down ]] && echo 1 || echo 0)
  ops_recover || ops_die "$who: what an interrupted operation left could not be recovered (above); nothing was done"
}

# For commands that only look (the age publisher, the watchdog): recovers what a dead operation
# left if the lock is free, and otherwise leaves the journal to its living owner. Returns 1 when
# the lock is busy.
ops_try() {
  if held_by_parent; then return 0; fi
  data_mounted
  mkdir -p "$(dirname "$SOFIA_OPS_LOCK")"
  exec 7>>"$SOFIA_OPS_LOCK"
  flock -n 7 || return 1
  if reboot_pending >/dev/null; then flock -u 7; return 1; fi
  printf '%s (pid %s) since %s\n' "$1" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$SOFIA_OPS_LOCK.holder"
  export SOFIA_OPS_HELD_BY="$1"
  OPS_MAY_FIND_DOWN=0
  ops_recover || ops_die "$1: what an interrupted operation left could not be recovered (above)"
}

# The journal: key=value lines, replaced whole and flushed to disk before the step it announces.
journal_get() { if [[ -f $SOFIA_JOURNAL ]]; then sed -n "s/^$1=//p" "$SOFIA_JOURNAL" | sed -n 1p; fi; }
journal_all() { if [[ -f $SOFIA_JOURNAL ]]; then sed -n "s/^$1=//p" "$SOFIA_JOURNAL"; fi; }
# Every step checked: the recovery calls these where `set -e` does not hold.
journal_set() {
  local tmp="$SOFIA_JOURNAL.new" line key
  mkdir -p "$(dirname "$SOFIA_JOURNAL")" || return 1
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
  } >"$tmp" || return 1
  sync "$tmp" || return 1
  mv -f "$tmp" "$SOFIA_JOURNAL" || return 1
  sync "$(dirname "$SOFIA_JOURNAL")"
}
# A journal of a new operation's own, whatever an earlier one left (a recovery whose services
# would not start leaves its journal for a restore to take over).
journal_new() { journal_clear && journal_set "$@"; }
journal_clear() {
  rm -f "$SOFIA_JOURNAL" "$SOFIA_JOURNAL.new" || return 1
  sync "$(dirname "$SOFIA_JOURNAL")"
}

# An interrupted restore's maintenance page would otherwise hold clients off until it lapses.
lower_restore_page() {
  "$SOFIA_MAINTENANCE_BIN" page off restore >/dev/null ||
    ops_log "could not take the interrupted restore's maintenance page down; it lapses by itself (sofia-maintenance page off restore)"
}

# Puts back what a restore moved aside; safe to run again at any line. Every step is checked
# explicitly: this runs where `set -e` does not hold (inside `||`, `if`), and a directory that
# could not be removed must not swallow the safety copy (mv -T never moves into a directory).
rollback_dirs() {
  local dir
  while IFS= read -r dir; do
    [[ -n $dir ]] || continue
    if [[ ! -e $dir.before-restore ]]; then
      [[ -e $dir ]] && continue
      # Neither: its file system is not there (the ECS apps' files, on EFS, not mounted yet).
      ops_log "neither $dir nor its safety copy is there: is the file system that holds it mounted (findmnt $(dirname "$dir"))? The journal stays until it is"
      return 1
    fi
    rm -rf "$dir" || { ops_log "could not remove the partly restored $dir"; return 1; }
    [[ ! -e $dir ]] || { ops_log "$dir is still there after removing it (is a process writing into it? fuser -vm $dir)"; return 1; }
    mv -T "$dir.before-restore" "$dir" || { ops_log "could not move $dir.before-restore back to $dir"; return 1; }
  done < <(journal_all dir)
  sync -f "$(dirname "$SOFIA_JOURNAL")"
}

# Starts the services after a recovery. The journal stays until they are healthy, so that a start
# that fails (or is killed) is tried again by the next command or boot. When they do not start, an
# operation begun with "may-find-down" goes on (it starts them itself); any other stops here.
recovery_start() {  # what was recovered
  if SOFIA_OPS_HELD_BY=recovery "$SOFIA_SERVICES" start; then
    journal_clear || return 1
    ops_log "$1: services running"
    return 0
  fi
  if (( ${OPS_MAY_FIND_DOWN:-0} )); then
    ops_log "$1, but the services did not start healthy; this operation goes on and starts them itself (the journal stays until they do)"
    return 0
  fi
  ops_log "$1, but the services did not start healthy; the journal stays, and the next Sofia command (or boot) starts them again: sofia-services status"
  return 1
}

# Returns non-zero, journal kept, when any step fails; never relies on `set -e`.
ops_recover() {
  local op phase id dir
  # Staging (downloads, temporary stores) is nobody's once the lock is ours.
  if [[ -d $SOFIA_STAGING_DIR ]]; then find "$SOFIA_STAGING_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} + || return 1; fi
  stop_temp_redis_left
  release_checkpoint_left
  remove_restore_copies_left

  [[ -f $SOFIA_JOURNAL ]] || return 0
  op=$(journal_get op) phase=$(journal_get phase) id=$(journal_get id)
  case $op in
    restore)
      if [[ $phase == verified ]]; then
        while IFS= read -r dir; do
          [[ -n $dir ]] || continue
          [[ -e $dir ]] || { ops_log "the restored $dir is not there: is the file system that holds it mounted (findmnt $(dirname "$dir"))? The journal stays until it is"; return 1; }
          rm -rf "$dir.before-restore" || { ops_log "could not remove the safety copy $dir.before-restore"; return 1; }
        done < <(journal_all dir)
        journal_clear
        ops_log "the restore of $id was verified before it was interrupted: its safety copies are removed, the restored data stays"
        lower_restore_page
      else
        if [[ $phase != rolled-back ]]; then
          ops_log "the restore of $id was interrupted ($phase): putting the data from before it back"
          SOFIA_OPS_HELD_BY=recovery "$SOFIA_SERVICES" stop ||
            { ops_log "the services did not all stop, so the data from before $id cannot be put back under them; the journal stays: docker ps, then run this again"; return 1; }
          rollback_dirs || { ops_log "putting the data from before $id back did not finish; the journal stays, and the next Sofia command tries again"; return 1; }
          journal_set "phase=rolled-back" || return 1
        fi
        recovery_start "the data from before the interrupted restore of $id is back" || return 1
        lower_restore_page
      fi
      ;;
    restart)
      ops_log "a full restart was interrupted ($phase): starting the services"
      recovery_start "an interrupted restart" || return 1
      ;;
    backup)
      # For sofia-backup to settle (it has the bucket and the metrics): index it if it was complete, else report it.
      note_unfinished_backup "$id" "$phase" "$(journal_get index)" || return 1
      journal_clear
      if [[ $phase == complete ]]; then
        ops_log "backup $id was interrupted after its COMPLETE marker: the next backup command indexes it"
      else
        ops_log "backup $id was interrupted: it is not complete, and the next backup command publishes its failure"
      fi
      ;;
    *) ops_log "the journal $SOFIA_JOURNAL names an operation this script does not know ('$op'); look at it, and remove it by hand once the data is checked"; return 1 ;;
  esac
}

# The recovery of an operation's own failure (its exit handler): a start that fails fails it.
ops_recover_strict() { OPS_MAY_FIND_DOWN=0; ops_recover; }

# A backup that ended without its index entry (or without publishing its failure), recorded durably
# before its journal goes: sofia-backup settles it.
note_unfinished_backup() {  # id phase index-key
  mkdir -p "$SOFIA_STATE_DIR" || return 1
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$SOFIA_STATE_DIR/backups-unfinished" || return 1
  sync "$SOFIA_STATE_DIR/backups-unfinished"
}

# QuestDB's checkpoint: its URL is written here (durably) before CHECKPOINT CREATE and removed after
# the RELEASE, so that nothing can leave QuestDB in checkpoint mode without a record of it.
CHECKPOINT_FILE="$SOFIA_STATE_DIR/questdb-checkpoint"
checkpoint_held() {  # url, backup id
  mkdir -p "$SOFIA_STATE_DIR"
  printf '%s\t%s\n' "$1" "$2" >"$CHECKPOINT_FILE.new"
  sync "$CHECKPOINT_FILE.new"
  mv -f "$CHECKPOINT_FILE.new" "$CHECKPOINT_FILE"
  sync "$SOFIA_STATE_DIR"
}
# curl to QuestDB's HTTP API with the credentials of its server.conf (http.user, http.password,
# at SOFIA_QUESTDB_CONF), which curl reads as a config file from a pipe: never on a command line.
# A store without them (TimescaleDB, or a QuestDB the stack has not yet updated) gets none.
questdb_curl() {  # curl arguments...
  local conf=${SOFIA_QUESTDB_CONF:-} user="" pass=""
  if [[ -z $conf || ! -e $conf ]]; then
    curl "$@"
    return
  fi
  # Java properties: "key=value" or "key = value".
  user=$(sed -n 's/^[[:space:]]*http\.user[[:space:]]*[=:][[:space:]]*//p' "$conf" 2>/dev/null | tail -n 1)
  pass=$(sed -n 's/^[[:space:]]*http\.password[[:space:]]*[=:][[:space:]]*//p' "$conf" 2>/dev/null | tail -n 1)
  if [[ -z $user || -z $pass ]]; then
    # Without them QuestDB answers 401, which the callers would report as something else.
    echo "sofia: QuestDB's credentials (http.user, http.password) could not be read from $conf; is it readable (run as root), and written by the stack (pulumi up)?" >&2
    return 1
  fi
  pass=${pass//\\/\\\\}
  curl -K <(printf 'user = "%s:%s"\n' "$user" "${pass//\"/\\\"}") "$@"
}

# Releases a recorded checkpoint; returns 1 (the record kept) when QuestDB does not.
checkpoint_release() {
  local url
  [[ -f $CHECKPOINT_FILE ]] || return 0
  url=$(cut -f1 "$CHECKPOINT_FILE")
  if questdb_curl -fsS -G --max-time 60 --data-urlencode "query=CHECKPOINT RELEASE" "$url/exec" >/dev/null 2>&1; then
    rm -f "$CHECKPOINT_FILE"
    return 0
  fi
  return 1
}
release_checkpoint_left() {
  local who
  [[ -f $CHECKPOINT_FILE ]] || return 0
  who=$(cut -f2 "$CHECKPOINT_FILE")
  if checkpoint_release; then
    ops_log "released the QuestDB checkpoint a backup ($who) left held"
  else
    ops_log "could not release the QuestDB checkpoint a backup ($who) left held at $(cut -f1 "$CHECKPOINT_FILE"): QuestDB down? The next command tries again"
  fi
}

# The temporary Redises: the DR test's, and the one `sofia-cache seed` loads a backup's snapshot
# into, or `sofia-cache export` copies the cache into (ECS). Each is a container (or, where the host has no image, a process whose pid file is
# here). One that an interrupted operation left running would hold its port and its memory.
TEMP_REDIS_CONTAINER=sofia-redis-restore
TEMP_REDIS_PIDFILE="$SOFIA_STATE_DIR/temp-redis.pid"
SEED_REDIS_CONTAINER=sofia-redis-seed
SEED_REDIS_PIDFILE="$SOFIA_STATE_DIR/seed-redis.pid"
# A restore unpacks an item that lives on a file system of its own (the ECS apps' files, on EFS)
# beside its live directory, as <dir>.restore-new, and renames it into place. Killed before the
# rename, it leaves that partial copy: nobody's once the lock is ours, and EFS bills for its bytes.
# Never the live directory or its safety copy (the journal's, put back above or by rollback_dirs).
# A copy that cannot be removed is said and left: it holds nothing anyone needs, and must not stop
# the backups (the next restore removes it before it unpacks).
remove_restore_copies_left() {
  local name dir
  [[ -r ${SOFIA_BACKUP_ITEMS:-} ]] || return 0
  while IFS=$'\t' read -r name _ _ _ dir _; do
    [[ -z $name || $name == \#* || -z $dir || $dir == - ]] && continue
    [[ -e $dir.restore-new ]] || continue
    if rm -rf "$dir.restore-new"; then
      ops_log "removed $dir.restore-new, the partial copy of a restore that was killed while it unpacked"
    else
      ops_log "could not remove $dir.restore-new, the partial copy of a restore that was killed (it holds nothing live; this goes on): remove it by hand, or the next restore does"
    fi
  done <"$SOFIA_BACKUP_ITEMS"
}

stop_temp_redis_left() {
  local pid pidfile what
  for what in "DR test:$TEMP_REDIS_PIDFILE" "cache seed or export:$SEED_REDIS_PIDFILE"; do
    IFS=: read -r what pidfile _ <<<"$what"
    if [[ -f $pidfile ]]; then
      pid=$(cat "$pidfile" 2>/dev/null || true)
      if [[ $pid =~ ^[0-9]+$ ]] && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        ops_log "stopped the temporary Redis (pid $pid) an interrupted $what left running"
      fi
      rm -f "$pidfile"
    fi
  done
  if [[ -n ${REDIS_IMAGE:-} ]] && docker inspect "$TEMP_REDIS_CONTAINER" >/dev/null 2>&1; then
    docker rm -f "$TEMP_REDIS_CONTAINER" >/dev/null 2>&1 || true
    ops_log "removed the temporary Redis container an interrupted DR test left running"
  fi
  # Only where the cache is (the ECS topology's store host): no Docker call on every other host.
  if [[ -r ${SOFIA_CACHE_CONFIG:-} ]] && docker inspect "$SEED_REDIS_CONTAINER" >/dev/null 2>&1; then
    docker rm -f "$SEED_REDIS_CONTAINER" >/dev/null 2>&1 || true
    ops_log "removed the temporary Redis container an interrupted cache seed or export left running"
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
