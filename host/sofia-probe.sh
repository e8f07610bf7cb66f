#!/usr/bin/env bash
# Publishes every minute (sofia-probe.timer) whether each of Sofia's services is healthy: its
# /health where the catalog gives one, Docker's health status otherwise; Redis' memory use as a
# share of its maxmemory; and where capacity is heading: days until the data volume is full and
# until Redis reaches maxmemory, from hourly samples of the last week. One put-metric-data call per run.
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
for var in METRICS_NAMESPACE METRIC_STACK METRIC_HEALTHY METRIC_REDIS_MEMORY METRIC_RUNS METRIC_MAINTENANCE METRIC_DATA_DAYS_LEFT METRIC_REDIS_DAYS_LEFT CAPACITY_DAYS_CAP REDIS_CONTAINER REDIS_PASSWORD_FILE; do
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

used=""
max=""
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

# Where capacity is heading. One sample an hour (epoch, data used and size in bytes, Redis used and
# max, "-" when unknown) kept for a week, none while the maintenance signal is on (a DR test fills
# the data volume for an hour: no trend). The trend runs from the oldest sample at least a day older
# than the newest to the newest: hourly values, not this minute's. Written by rename from a file of
# its own: a run killed at any line, or a manual run beside the timer's, leaves the history whole.
HISTORY=${SOFIA_STATE_DIR:?not in the host layout (host.env); run pulumi up to reinstall it}/capacity.history
MAINTENANCE_BIN=${SOFIA_MAINTENANCE_BIN:?not in the host layout (host.env); run pulumi up to reinstall it}
now=$(date +%s)
read -r data_used data_size < <(df -B1 --output=used,size "${SOFIA_DATA_MOUNT:?not in the host layout (host.env)}" 2>/dev/null | tail -n 1) || true
[[ ${data_used:-} =~ ^[0-9]+$ && ${data_size:-} =~ ^[1-9][0-9]*$ ]] || { data_used=-; data_size=-; }
[[ $used =~ ^[0-9]+$ && $max =~ ^[1-9][0-9]*$ ]] || { used=-; max=-; }
last=$(tail -n 1 "$HISTORY" 2>/dev/null | cut -d' ' -f1 || true)
quiet=1
if [[ -f $MAINTENANCE_BIN && $(bash "$MAINTENANCE_BIN" active 2>/dev/null) == 1 ]]; then quiet=0; fi
if (( quiet )) && { [[ ! $last =~ ^[0-9]+$ ]] || (( now - last >= 3600 )); }; then
  mkdir -p "$(dirname "$HISTORY")"
  sample=$(mktemp "$HISTORY.XXXXXX")
  if { tail -n 167 "$HISTORY" 2>/dev/null || true; echo "$now $data_used $data_size $used $max"; } >"$sample"; then
    mv -f "$sample" "$HISTORY" || rm -f "$sample"
  else
    rm -f "$sample"
  fi
fi
# days_left <used column> <limit column>: empty without a day of trend.
days_left() {
  awk -v cap="$CAPACITY_DAYS_CAP" -v uc="$1" -v mc="$2" '
    $1 ~ /^[0-9]+$/ && $uc ~ /^[0-9]+$/ && $mc ~ /^[0-9]+$/ { n++; t[n] = $1; v[n] = $uc; m[n] = $mc }
    END {
      if (!n) exit
      for (i = 1; i < n; i++) if (t[n] - t[i] >= 86400) { old = i; break }
      if (!old || m[n] == 0) exit
      rate = (v[n] - v[old]) / (t[n] - t[old])
      days = rate > 0 ? (m[n] - v[n]) / rate / 86400 : cap
      if (days > cap) days = cap
      if (days < 0) days = 0
      printf "%.1f", days
    }' "$HISTORY" 2>/dev/null || true
}
d=$(days_left 2 3)
[[ -z $d ]] || data+=("$(datum "$METRIC_DATA_DAYS_LEFT" "$d" None)")
r=$(days_left 4 5)
[[ -z $r ]] || data+=("$(datum "$METRIC_REDIS_DAYS_LEFT" "$r" None)")

# The maintenance signal and page (sofia-maintenance): what is past its deadline goes, whatever
# else failed above; the signal is published while any owner's deadline is ahead.
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
