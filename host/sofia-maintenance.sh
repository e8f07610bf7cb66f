#!/usr/bin/env bash
# Maintenance-window helpers on the host.
#
#   sofia-maintenance signal on <minutes>   pages are suppressed until off, or until <minutes> pass
#   sofia-maintenance signal off            pages resume
#   sofia-maintenance page on <minutes>     a deploy: the front proxy answers clients with its
#                                           maintenance page (503), and the signal is raised
#   sofia-maintenance page off              clients reach the services again; the signal is cleared
#   sofia-maintenance lapse                 drop a page whose minutes are up (sofia-probe, every minute)
#   sofia-maintenance tidy                  prune old logs, unused images, backup staging leftovers
#
# The signal is a deadline, not a switch: sofia-probe publishes MaintenanceActive=1 every minute
# while the deadline is ahead. If the task that clears it never runs (a failed window, a cutoff),
# the signal lapses by itself at the window's end. The page is a flag file the proxy checks on
# every request; it holds its own deadline, and `lapse` removes it once that has passed, so a
# deploy that dies never leaves clients shut out.
set -euo pipefail

PROBE_ENV=${SOFIA_PROBE_ENV:-/etc/sofia/probe.env}
STATE_DIR=${SOFIA_STATE_DIR:-/var/lib/sofia}
STAGING_DIR=${SOFIA_STAGING_DIR:-/data/backup-staging}
DEADLINE="$STATE_DIR/maintenance-until"

log() { printf '%s sofia-maintenance: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'sofia-maintenance: %s\n' "$*" >&2; exit 1; }

[[ -r $PROBE_ENV ]] || die "no configuration at $PROBE_ENV; it is installed by the stack (pulumi up)"
# shellcheck source=/dev/null
source "$PROBE_ENV"
for var in METRICS_NAMESPACE METRIC_STACK METRIC_MAINTENANCE MAINTENANCE_PAGE_FLAG; do
  [[ -n ${!var:-} ]] || die "$PROBE_ENV does not set $var; run pulumi up to reinstall it"
done
PAGE_FLAG=${SOFIA_PAGE_FLAG:-$MAINTENANCE_PAGE_FLAG}

publish() {
  aws cloudwatch put-metric-data --namespace "$METRICS_NAMESPACE" \
    --metric-data "[{\"MetricName\":\"$METRIC_MAINTENANCE\",\"Dimensions\":[{\"Name\":\"Stack\",\"Value\":\"$METRIC_STACK\"}],\"Value\":$1,\"Unit\":\"Count\"}]"
}

signal() {
  case ${1:-} in
    on)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "usage: sofia-maintenance signal on <minutes>"
      mkdir -p "$STATE_DIR"
      echo $(( $(date +%s) + $2 * 60 )) >"$DEADLINE"
      publish 1 || die "could not publish $METRIC_MAINTENANCE; pages are NOT suppressed"
      log "maintenance signal on for $2 minutes: pages suppressed" ;;
    off)
      rm -f "$DEADLINE"
      publish 0 || log "could not publish $METRIC_MAINTENANCE=0; the signal lapses within a minute anyway"
      log "maintenance signal off: pages resume" ;;
    *) die "usage: sofia-maintenance signal on <minutes> | off" ;;
  esac
}

page() {
  case ${1:-} in
    on)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "usage: sofia-maintenance page on <minutes>"
      signal on "$2"
      mkdir -p "$(dirname "$PAGE_FLAG")"
      # Written whole, then renamed: the proxy never sees a half-written flag.
      echo $(( $(date +%s) + $2 * 60 )) >"$PAGE_FLAG.tmp"
      mv -f "$PAGE_FLAG.tmp" "$PAGE_FLAG"
      log "maintenance page on for at most $2 minutes: clients get 503 with Retry-After" ;;
    off)
      rm -f "$PAGE_FLAG"
      log "maintenance page off: clients reach the services"
      signal off ;;
    *) die "usage: sofia-maintenance page on <minutes> | off" ;;
  esac
}

lapse() {
  [[ -f $PAGE_FLAG ]] || return 0
  local until
  until=$(cat "$PAGE_FLAG" 2>/dev/null || echo 0)
  [[ $until =~ ^[0-9]+$ ]] || until=0
  if (( until <= $(date +%s) )); then
    rm -f "$PAGE_FLAG"
    log "maintenance page lapsed (its deploy never turned it off): clients reach the services again"
  fi
}

tidy() {
  if command -v journalctl >/dev/null; then journalctl --vacuum-time=14d >/dev/null 2>&1 || log "journalctl vacuum failed"; fi
  find /var/log -name '*.gz' -mtime +30 -delete 2>/dev/null || true
  # Images no container uses, older than a week; never containers or volumes.
  docker image prune -af --filter "until=168h" >/dev/null || die "docker image prune failed"
  if [[ -d $STAGING_DIR ]]; then
    find "$STAGING_DIR" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + -print | sed 's/^/removed leftover /'
  fi
  log "tidy: logs, unused images and backup staging leftovers pruned"
}

case ${1:-} in
  signal) shift; signal "$@" ;;
  page) shift; page "$@" ;;
  lapse) lapse ;;
  tidy) tidy ;;
  *) die "usage: sofia-maintenance signal on <minutes> | signal off | page on <minutes> | page off | lapse | tidy" ;;
esac
