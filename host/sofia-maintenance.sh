#!/usr/bin/env bash
# Maintenance-window helpers on the host.
#
#   sofia-maintenance signal on <minutes> [owner]   pages are suppressed for this owner until off,
#                                                   or until <minutes> pass
#   sofia-maintenance signal off [owner]            this owner's suppression ends
#   sofia-maintenance page on <minutes> [owner]     the front proxy answers clients with its
#                                                   maintenance page (503), and the signal is raised
#   sofia-maintenance page off [owner]              this owner's page (and signal) ends
#   sofia-maintenance active                        prints 1 while any owner's signal is ahead, else 0
#   sofia-maintenance status                        each owner's signal and page, with its deadline
#   sofia-maintenance lapse                         drop what is past its deadline (sofia-probe, every minute)
#   sofia-maintenance tidy                          prune old logs and unused images
#
# Owners (a window, a deploy, a restore; "manual" when none is named) hold the signal and the page
# each with their own deadline: both stay while any owner's deadline is ahead, so a deploy inside a
# window cannot end the window's signal, nor a window's end lift a deploy's page. A deadline, not a
# switch: if the task that clears it never runs (a failed window, a killed deploy), it lapses by
# itself. sofia-probe publishes MaintenanceActive=1 every minute while the signal is on; the proxy
# shows the page while its flag file exists. In the ECS topology this host runs no proxy: the load
# balancer shows the page instead, by two rules on each client listener (edge.env, where host.env
# says) kept in step with the flag, so that it lapses with it.
set -euo pipefail


log() { printf '%s sofia-maintenance: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'sofia-maintenance: %s\n' "$*" >&2; exit 1; }

# Every path comes from the host's layout, written by the stack (topology/host/layout.ts); the
# environment may point elsewhere (the drills).
SOFIA_HOST_ENV=${SOFIA_HOST_ENV:-/etc/sofia/host.env}
# shellcheck source=/dev/null
source "$SOFIA_HOST_ENV" || die "no host layout at $SOFIA_HOST_ENV; it is installed by the stack (pulumi up)"
PROBE_ENV=${SOFIA_PROBE_ENV:?not in the host layout (host.env); run pulumi up to reinstall it}
STATE_DIR=$SOFIA_STATE_DIR
OWNERS="$STATE_DIR/maintenance"

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

# Every change under one lock: two owners at once must not lose each other's deadline.
mkdir -p "$OWNERS"
exec 6>>"$OWNERS/.lock"
flock -w 30 6 || die "another sofia-maintenance holds $OWNERS/.lock for 30s"

owner_of() {
  local owner=${1:-manual}
  [[ $owner =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || die "owner '$owner' must be lower-case letters, digits and '-'"
  echo "$owner"
}
minutes_of() { [[ ${1:-} =~ ^[0-9]+$ ]] || die "usage: sofia-maintenance $2 on <minutes> [owner]"; echo "$1"; }

# Owners of a kind (signal or page) whose deadline is ahead, as "owner deadline" lines.
ahead() {
  local f until now
  now=$(date +%s)
  for f in "$OWNERS/$1".*; do
    [[ -e $f && $f != *.tmp ]] || continue
    until=$(cat "$f" 2>/dev/null || echo 0)
    [[ $until =~ ^[0-9]+$ ]] || until=0
    (( until > now )) && echo "${f##*/"$1".} $until"
  done
  return 0
}

# The proxy's flag: present, holding the latest deadline, while any page owner is ahead.
sync_page_flag() {
  local latest
  latest=$(ahead page | awk '$2 > max { max = $2 } END { if (max) print max }')
  if [[ -n $latest ]]; then
    mkdir -p "$(dirname "$PAGE_FLAG")"
    # Written whole, then renamed: the proxy never sees a half-written flag.
    echo "$latest" >"$PAGE_FLAG.tmp"
    mv -f "$PAGE_FLAG.tmp" "$PAGE_FLAG"
  else
    rm -f "$PAGE_FLAG"
  fi
}

# The ECS topology's load balancer: while the flag is up, each client listener answers every request
# with the proxy's own maintenance answers (HTML for a browser, JSON for the rest: the same choice
# the proxy makes by Accept), by rules at the top priorities; they go with the flag. AWS is asked
# only while the page is up, or was put up here and not yet seen taken down.
EDGE_CONFIG=${SOFIA_EDGE_CONFIG:-}
# Every call bounded: this runs under the maintenance lock, in the probe's minute.
elb() { timeout 60 aws elbv2 --region "$EDGE_REGION" --cli-connect-timeout 10 --cli-read-timeout 20 "$@"; }
sync_edge_page() {
  [[ -n $EDGE_CONFIG && -r $EDGE_CONFIG ]] || return 0
  local want=0 up="$STATE_DIR/edge-page-up" listener priority rule arn kind code answer conditions
  [[ -f $PAGE_FLAG ]] && want=1
  (( want )) || [[ -f $up ]] || return 0
  # shellcheck source=/dev/null
  source "$EDGE_CONFIG"
  # Recorded before the first rule is made: a run killed after it still has the rules taken down.
  (( want == 0 )) || touch "$up"
  for listener in $EDGE_LISTENERS; do
    for priority in "$EDGE_PAGE_PRIORITY" $(( EDGE_PAGE_PRIORITY + 1 )); do
      # The rule at that priority, and whether it is the page's (a fixed 503): no other is touched.
      rule=$(elb describe-rules --listener-arn "$listener" --query "Rules[?Priority=='$priority'] | [0].[RuleArn, Actions[0].Type, Actions[0].FixedResponseConfig.StatusCode]" --output text) || return 1
      read -r arn kind code <<<"$rule"
      [[ $arn != None ]] || arn=""
      if [[ -n $arn && ! ( $kind == fixed-response && $code == 503 ) ]]; then
        echo "sofia-maintenance: $listener holds a rule at priority $priority that is not the maintenance page's ($kind): left as it is; the page needs priorities $EDGE_PAGE_PRIORITY and $(( EDGE_PAGE_PRIORITY + 1 ))" >&2
        return 1
      fi
      if (( want )) && [[ -z $arn ]]; then
        if (( priority == EDGE_PAGE_PRIORITY )); then
          answer=$(jq -c -n --rawfile b "$EDGE_PAGE_HTML" '{Type: "fixed-response", FixedResponseConfig: {StatusCode: "503", ContentType: "text/html", MessageBody: $b}}')
          conditions='[{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "Accept", "Values": ["*text/html*"]}}]'
        else
          answer=$(jq -c -n --rawfile b "$EDGE_PAGE_JSON" '{Type: "fixed-response", FixedResponseConfig: {StatusCode: "503", ContentType: "application/json", MessageBody: $b}}')
          conditions='[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]'
        fi
        elb create-rule --listener-arn "$listener" --priority "$priority" --conditions "$conditions" --actions "[$answer]" --output json >/dev/null || return 1
      elif (( ! want )) && [[ -n $arn ]]; then
        elb delete-rule --rule-arn "$arn" || return 1
      fi
    done
  done
  (( want )) || rm -f "$up"
}

hold() {  # kind owner minutes
  echo $(( $(date +%s) + $3 * 60 )) >"$OWNERS/$1.$2.tmp"
  mv -f "$OWNERS/$1.$2.tmp" "$OWNERS/$1.$2"
}

signal() {
  local minutes owner
  case ${1:-} in
    on)
      minutes=$(minutes_of "${2:-}" signal); owner=$(owner_of "${3:-}")
      # Published before it is held: an owner that could not raise it leaves nothing to lapse.
      publish 1 || die "could not publish $METRIC_MAINTENANCE; pages are NOT suppressed"
      hold signal "$owner" "$minutes"
      log "maintenance signal on for $minutes minutes ($owner): pages suppressed" ;;
    off)
      owner=$(owner_of "${2:-}")
      rm -f "$OWNERS/signal.$owner" "$OWNERS/signal.$owner.tmp"
      if [[ -n $(ahead signal) ]]; then
        log "maintenance signal of $owner off; still on for: $(ahead signal | cut -d' ' -f1 | paste -sd, -)"
      else
        publish 0 || log "could not publish $METRIC_MAINTENANCE=0; the signal lapses within a minute anyway"
        log "maintenance signal off ($owner): pages resume"
      fi ;;
    *) die "usage: sofia-maintenance signal on <minutes> [owner] | off [owner]" ;;
  esac
}

page() {
  local minutes owner
  case ${1:-} in
    on)
      minutes=$(minutes_of "${2:-}" page); owner=$(owner_of "${3:-}")
      signal on "$minutes" "$owner"
      hold page "$owner" "$minutes"
      sync_page_flag
      if ! sync_edge_page; then
        # Not left to come up later, by a lapse, after whoever asked for it has given up.
        rm -f "$OWNERS/page.$owner"
        sync_page_flag
        sync_edge_page || true
        die "could not put the maintenance page up at the load balancer (above); this page is dropped, the signal stays on until it lapses"
      fi
      if [[ -n $EDGE_CONFIG && -r $EDGE_CONFIG ]]; then
        log "maintenance page on for at most $minutes minutes ($owner): the load balancer answers 503"
      else
        log "maintenance page on for at most $minutes minutes ($owner): clients get 503 with Retry-After"
      fi ;;
    off)
      owner=$(owner_of "${2:-}")
      rm -f "$OWNERS/page.$owner" "$OWNERS/page.$owner.tmp"
      sync_page_flag
      sync_edge_page || log "could not take the maintenance page down at the load balancer (above); the next lapse, within a minute, tries again"
      if [[ -f $PAGE_FLAG ]]; then log "maintenance page of $owner off; still up for: $(ahead page | cut -d' ' -f1 | paste -sd, -)"; else log "maintenance page off ($owner): clients reach the services"; fi
      signal off "$owner" ;;
    *) die "usage: sofia-maintenance page on <minutes> [owner] | off [owner]" ;;
  esac
}

lapse() {
  local f until now had_flag=0 kind
  now=$(date +%s)
  [[ ! -f $PAGE_FLAG ]] || had_flag=1
  # A deadline half written by a killed `on` is nobody's.
  find "$OWNERS" -maxdepth 1 -name '*.tmp' -mmin +1 -delete
  for f in "$OWNERS"/signal.* "$OWNERS"/page.*; do
    [[ -e $f && $f != *.tmp ]] || continue
    until=$(cat "$f" 2>/dev/null || echo 0)
    [[ $until =~ ^[0-9]+$ ]] || until=0
    if (( until <= now )); then
      rm -f "$f"
      kind=${f##*/}
      log "the maintenance ${kind%%.*} of ${kind#*.} lapsed: its owner never ended it"
    fi
  done
  sync_page_flag
  sync_edge_page || log "could not bring the load balancer's maintenance page in step with the flag (above); the next lapse tries again"
  if (( had_flag )) && [[ ! -f $PAGE_FLAG ]]; then log "maintenance page lapsed: clients reach the services again"; fi
}

status() {
  local kind line
  for kind in signal page; do
    while read -r line; do
      [[ -n $line ]] && printf '%s %s until %s\n' "$kind" "${line% *}" "$(date -u -d "@${line#* }" +%Y-%m-%dT%H:%M:%SZ)"
    done < <(ahead "$kind")
  done
  return 0
}

tidy() {
  if command -v journalctl >/dev/null; then journalctl --vacuum-time=14d >/dev/null 2>&1 || log "journalctl vacuum failed"; fi
  find /var/log -name '*.gz' -mtime +30 -delete 2>/dev/null || true
  # Images no container uses, older than a week; never containers or volumes.
  docker image prune -af --filter "until=168h" >/dev/null || die "docker image prune failed"
  # Staging is left alone: it belongs to whoever holds the host lock, and every operation that
  # takes the lock removes what a dead one left there (sofia-ops.sh).
  log "tidy: logs and unused images pruned"
}

case ${1:-} in
  signal) shift; signal "$@" ;;
  page) shift; page "$@" ;;
  active) if [[ -n $(ahead signal) ]]; then echo 1; else echo 0; fi ;;
  status) status ;;
  lapse) lapse ;;
  tidy) tidy ;;
  *) die "usage: sofia-maintenance signal on <minutes> [owner] | signal off [owner] | page on <minutes> [owner] | page off [owner] | active | status | lapse | tidy" ;;
esac
