#!/usr/bin/env bash
# Publishes every minute (sofia-probe.timer) whether each of Sofia's services is healthy: its
# /health where the catalog gives one, Docker's health status otherwise; and Redis' memory use as
# a share of its maxmemory. One put-metric-data call per run.
#
#   sofia-probe            probe and publish
#   sofia-probe --dry-run  probe and print the metric data instead of publishing it
set -euo pipefail

TIMEOUT=${SOFIA_PROBE_TIMEOUT:-5}

die() { printf 'sofia-probe: %s\n' "$*" >&2; exit 1; }
# Every path comes from the host's layout, written by the stack (topology/host/layout.ts); the
# environment may point elsewhere (the drills).
SOFIA_HOST_ENV=${SOFIA_HOST_ENV:-/etc/sofia/host.env}
# shellcheck source=/dev/null
source "$SOFIA_HOST_ENV" || die "no host layout at $SOFIA_HOST_ENV; it is installed by the stack (pulumi up)"
CATALOG=${SOFIA_CATALOG:?not in the host layout (host.env); run pulumi up to reinstall it}
PROBE_ENV=${SOFIA_PROBE_ENV:?not in the host layout (host.env); run pulumi up to reinstall it}
[[ -r $CATALOG ]] || die "no catalog at $CATALOG; it is installed by the stack (pulumi up)"
[[ -r $PROBE_ENV ]] || die "no configuration at $PROBE_ENV; it is installed by the stack (pulumi up)"
# shellcheck source=/dev/null
source "$PROBE_ENV"
for var in METRICS_NAMESPACE METRIC_STACK METRIC_HEALTHY METRIC_REDIS_MEMORY METRIC_RUNS METRIC_MAINTENANCE REDIS_CONTAINER REDIS_PASSWORD_FILE; do
  [[ -n ${!var:-} ]] || die "$PROBE_ENV does not set $var; run pulumi up to reinstall it"
done

# Every datum carries the minute it describes: the timer fires on the minute, and a run that
# publishes late (a slow /health, a slow CloudWatch) still lands in its own one-minute period.
# Half past it, so clock jitter either way keeps it there.
stamp=$(date -u +%Y-%m-%dT%H:%M:30Z)

datum() {  # name, value, unit, [service]
  local dims="{\"Name\":\"Stack\",\"Value\":\"$METRIC_STACK\"}"
  [[ -z ${4:-} ]] || dims+=",{\"Name\":\"Service\",\"Value\":\"$4\"}"
  printf '{"MetricName":"%s","Dimensions":[%s],"Timestamp":"%s","Value":%s,"Unit":"%s"}' "$1" "$dims" "$stamp" "$2" "$3"
}

data=()
pids=()
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Every /health at once: a hanging one costs the timeout, not the timeout per service.
# The table's comment lines (its header among them) start with # in its first column, the stage.
while IFS=$'\t' read -r stage name container _ health _; do
  [[ -z $stage || $stage == \#* || -z $name ]] && continue
  if [[ $health == - ]]; then
    # Bounded: a hung dockerd must not stop the whole publish (every alarm would hear nothing).
    [[ $(timeout "$TIMEOUT" docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$container" 2>/dev/null) == healthy ]] && echo 1 >"$dir/$name" || echo 0 >"$dir/$name"
  else
    { curl -fsS --max-time "$TIMEOUT" -o /dev/null "$health" 2>/dev/null && echo 1 || echo 0; } >"$dir/$name" &
    pids+=($!)
  fi
done <"$CATALOG"
(( ${#pids[@]} == 0 )) || wait "${pids[@]}"
for f in "$dir"/*; do
  data+=("$(datum "$METRIC_HEALTHY" "$(cat "$f")" Count "$(basename "$f")")")
done

# Redis memory: used_memory / maxmemory, read inside the container (the host has no redis-cli).
# The password goes from its file to REDISCLI_AUTH inside the container: never on a command line.
# shellcheck disable=SC2016 # expanded by the container's shell
if info=$(timeout "$TIMEOUT" docker exec "$REDIS_CONTAINER" sh -c 'REDISCLI_AUTH=$(cat "$1") redis-cli INFO memory' sh "$REDIS_PASSWORD_FILE" 2>/dev/null | tr -d '\r'); then
  used=$(sed -n 's/^used_memory://p' <<<"$info")
  max=$(sed -n 's/^maxmemory://p' <<<"$info")
  if [[ $used =~ ^[0-9]+$ && $max =~ ^[1-9][0-9]*$ ]]; then
    data+=("$(datum "$METRIC_REDIS_MEMORY" "$(awk -v u="$used" -v m="$max" 'BEGIN { printf "%.2f", 100 * u / m }')" Percent)")
  fi
fi

# The maintenance signal and page (sofia-maintenance): what is past its deadline goes, whatever
# else failed above; the signal is published while any owner's deadline is ahead.
MAINTENANCE_BIN=${SOFIA_MAINTENANCE_BIN:?not in the host layout (host.env); run pulumi up to reinstall it}
if [[ -f $MAINTENANCE_BIN ]]; then
  bash "$MAINTENANCE_BIN" lapse || printf 'sofia-probe: could not check the maintenance deadlines\n' >&2
  if [[ $(bash "$MAINTENANCE_BIN" active 2>/dev/null) == 1 ]]; then
    data+=("$(datum "$METRIC_MAINTENANCE" 1 Count)")
  fi
fi

# The heartbeat: this run happened (probe-silent pages when it stops).
data+=("$(datum "$METRIC_RUNS" 1 Count)")

payload="[$(IFS=,; echo "${data[*]}")]"
if [[ ${1:-} == --dry-run ]]; then
  echo "$payload"
  exit 0
fi
aws cloudwatch put-metric-data --namespace "$METRICS_NAMESPACE" --metric-data "$payload" ||
  die "could not publish to CloudWatch; the health alarms will treat the silence as failure"
