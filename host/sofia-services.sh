#!/usr/bin/env bash
# Sofia's services on this host, in catalog order. The catalog arrives as a generated table
# (topology/host/services-files.ts renders it from model/catalog.ts); nothing here lists services itself.
#
#   sofia-services start      start stage by stage, each stage only once the previous is healthy
#   sofia-services stop       stop in reverse stage order, a stage's containers together, each with its grace period
#   sofia-services restart    stop, then start
#   sofia-services verify [--without-flows]
#                             every container running, every /health answering, what the images
#                             must serve (the contracts table), then data flowing (the flows
#                             table) and each UI's theme intact in a browser (the themes table);
#                             fail naming the services that are not running, not healthy, break a
#                             contract, write nothing or lost their theme. A restore verifies
#                             without flows (nor theme): whether the markets' feeds answer says
#                             nothing of the restored data, and a browser image that cannot be
#                             pulled must not undo a good restore
#   sofia-services quiesce <minutes>
#                             stop the writers (the catalog's `quiesce` entries) for a deploy's
#                             backup and migrations; past <minutes> the watchdog starts them again
#   sofia-services resume     start what quiesce stopped (and anything else not running), in order
#   sofia-services watchdog   restart a container that stays unhealthy (Docker never does)
#   sofia-services tune       retention and compression SQL for the time-series store (idempotent)
#   sofia-services status     one line per service
#   sofia-services pull-browser
#                             pull the theme check's browser image (a deploy does, before its page)
#   sofia-services flows --wait
#                             the ECS topology's deploy check from its store host: each writer's
#                             rows arriving, then each UI task's theme in a browser
#   sofia-services flows      rows newer than a minute per writer (one question each, 10 s at most):
#                             what the diagnostics bundles record; never fails on a store that does not answer
#   sofia-services patch      security updates under the host lock (waiting for a restore, a backup
#                             or a deploy step); when they need a reboot, exit 194: the SSM agent
#                             reboots the host and runs the task again, which finds nothing to do
#   sofia-services migrated <container>
#                             a deploy's one-shot migration container exited 0; else its logs, and fail
#
# Used at boot (sofia-boot.service: Docker alone would start every container at once, in no
# order), by the watchdog timer, by maintenance windows, and by `pulumi up` for verification.
set -euo pipefail

HEALTH_TIMEOUT=${SOFIA_HEALTH_TIMEOUT:-300}
POLL_SECONDS=${SOFIA_POLL_SECONDS:-2}
WATCHDOG_STRIKES=${SOFIA_WATCHDOG_STRIKES:-3}
LOG_TAIL_LINES=${SOFIA_LOG_TAIL_LINES:-30}

log() { printf '%s sofia-services: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'sofia-services: %s\n' "$*" >&2; exit 1; }

# Every path comes from the host's layout, written by the stack (topology/host/layout.ts); the
# environment may point elsewhere (the drills).
SOFIA_HOST_ENV=${SOFIA_HOST_ENV:-/etc/sofia/host.env}
# shellcheck source=/dev/null
source "$SOFIA_HOST_ENV" || die "no host layout at $SOFIA_HOST_ENV; it is installed by the stack (pulumi up)"
CATALOG=${SOFIA_CATALOG:?not in the host layout (host.env); run pulumi up to reinstall it}
TUNING=${SOFIA_TUNING:?not in the host layout (host.env); run pulumi up to reinstall it}
CONTRACTS=${SOFIA_CONTRACTS:?not in the host layout (host.env); run pulumi up to reinstall it}
FLOWS=${SOFIA_FLOWS:?not in the host layout (host.env); run pulumi up to reinstall it}
THEMES=${SOFIA_THEMES:?not in the host layout (host.env); run pulumi up to reinstall it}
THEME_RUNNER=${SOFIA_THEME_RUNNER:?not in the host layout (host.env); run pulumi up to reinstall it}
# A browser's first start in a fresh container, and its image's first pull, take a while.
THEME_TIMEOUT=${SOFIA_THEME_TIMEOUT:-600}
# At an ECS task, the image pulled before: per task, so that many tasks stay within the deploy step's time.
THEME_TASK_TIMEOUT=${SOFIA_THEME_TASK_TIMEOUT:-180}
# The host lock and the recovery of interrupted operations (sofia-ops.sh).
# shellcheck source=/dev/null
source "${SOFIA_OPS_LIB:?not in the host layout (host.env); run pulumi up to reinstall it}"
STATE_DIR=$SOFIA_STATE_DIR
# How long start, stop and restart wait for another operation (a backup, a restore) to finish.
OPS_WAIT=${SOFIA_OPS_WAIT:-1800}

[[ -r $CATALOG ]] || die "no catalog at $CATALOG; it is installed by the stack (pulumi up), check the sofia host-files SSM association"

# Rows: stage, name, container, grace seconds, health URL or "-", "yes" when a deploy quiesces it,
# "yes" when nothing waits for it (the operators' tools: Grafana down must not fail a start, a
# restore's verification or a deploy; its own health alarm says so).
declare -a STAGE NAME CONTAINER GRACE HEALTH QUIESCE UNWAITED
while IFS=$'\t' read -r stage name container grace health quiesce unwaited _; do
  [[ -z $stage || $stage == \#* ]] && continue
  STAGE+=("$stage"); NAME+=("$name"); CONTAINER+=("$container"); GRACE+=("$grace"); HEALTH+=("$health"); QUIESCE+=("${quiesce:--}"); UNWAITED+=("${unwaited:--}")
done < "$CATALOG"
(( ${#NAME[@]} > 0 )) || die "catalog $CATALOG lists no services"
LAST_STAGE=$(printf '%s\n' "${STAGE[@]}" | sort -n | tail -n 1)

health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null || echo missing; }

# Waits until every container of a stage is healthy; fails naming the first one that is not.
# Looks again after 0.1 s, then twice as long each time up to POLL_SECONDS: most containers are
# healthy within a second or two, and a fixed poll would add its whole interval to every stage.
wait_healthy() {
  local stage=$1 start=$SECONDS pause=0.1 next_log=0 waited pending i status
  while :; do
    pending=()
    for i in "${!NAME[@]}"; do
      [[ ${STAGE[$i]} == "$stage" ]] || continue
      # Started, never waited for: said once, after the stage's own wait.
      [[ ${UNWAITED[$i]} == yes ]] && continue
      status=$(health_of "${CONTAINER[$i]}")
      case $status in
        healthy) ;;
        unhealthy|missing|none)
          die "${NAME[$i]} (${CONTAINER[$i]}) is $status; see: docker logs --tail 50 ${CONTAINER[$i]}; later stages were not started" ;;
        *) pending+=("${NAME[$i]}") ;;
      esac
    done
    (( ${#pending[@]} == 0 )) && return 0
    waited=$(( SECONDS - start ))
    if (( waited >= HEALTH_TIMEOUT )); then
      die "stage $stage: ${pending[*]} not healthy after ${HEALTH_TIMEOUT}s; see docker logs; later stages were not started"
    fi
    if (( waited >= next_log )); then
      log "stage $stage: waiting for ${pending[*]} (${waited}s)"
      next_log=$(( waited + 30 ))
    fi
    sleep "$pause"
    pause=$(awk -v p="$pause" -v max="$POLL_SECONDS" 'BEGIN { p *= 2; print (p > max ? max : p) }')
  done
}

cmd_start() {
  local stage i
  for stage in $(seq 0 "$LAST_STAGE"); do
    for i in "${!NAME[@]}"; do
      [[ ${STAGE[$i]} == "$stage" ]] || continue
      if running "${CONTAINER[$i]}"; then
        log "stage $stage: ${NAME[$i]} already running"
      else
        log "stage $stage: starting ${NAME[$i]}"
        docker start "${CONTAINER[$i]}" >/dev/null || die "could not start ${CONTAINER[$i]}; if it does not exist, run pulumi up"
      fi
    done
    wait_healthy "$stage"
    log "stage $stage: healthy"
    for i in "${!NAME[@]}"; do
      [[ ${STAGE[$i]} == "$stage" && ${UNWAITED[$i]} == yes ]] || continue
      log "stage $stage: ${NAME[$i]} is $(health_of "${CONTAINER[$i]}") (an operators' tool: nothing waits for it; its health alarm watches it)"
    done
    fault_point "started-stage-$stage"
  done
  # Everything runs: whatever a deploy had quiesced is running again too.
  rm -f "$QUIESCE_MARK"
}

running() { [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null || echo missing) == true ]]; }

# The containers of one stage stop together (each with its own grace period); stages one after
# another. Fails when any container still runs afterwards, whatever docker stop said: a restore
# must never rename a directory under a store that is still writing to it.
cmd_stop() {
  local stage i pids still=()
  for stage in $(seq "$LAST_STAGE" -1 0); do
    pids=()
    for i in "${!NAME[@]}"; do
      [[ ${STAGE[$i]} == "$stage" ]] || continue
      log "stage $stage: stopping ${NAME[$i]} (grace ${GRACE[$i]}s)"
      { docker stop -t "${GRACE[$i]}" "${CONTAINER[$i]}" >/dev/null 2>&1 || true; } &
      pids+=("$!")
    done
    (( ${#pids[@]} == 0 )) || wait "${pids[@]}"
    for i in "${!NAME[@]}"; do
      [[ ${STAGE[$i]} == "$stage" ]] || continue
      if running "${CONTAINER[$i]}"; then still+=("${CONTAINER[$i]}"); fi
    done
  done
  (( ${#still[@]} == 0 )) || die "stop: ${still[*]} still running after docker stop; see: docker ps; journalctl -u docker"
}

cmd_verify() {
  local i failed=() stopped=() flows=1
  case ${1:-} in
    "") ;;
    --without-flows) flows=0 ;;
    *) die "usage: sofia-services verify [--without-flows]" ;;
  esac
  # A service without /health (an ingestor) counts too: a deploy must not pass with it stopped.
  # An operators' tool is said, never counted: Sofia serves its clients without it.
  for i in "${!NAME[@]}"; do
    running "${CONTAINER[$i]}" && continue
    if [[ ${UNWAITED[$i]} == yes ]]; then log "verify: ${NAME[$i]} is not running (an operators' tool: not counted; its health alarm watches it)"; continue; fi
    stopped+=("${NAME[$i]}")
  done
  (( ${#stopped[@]} == 0 )) || die "verify: not running: ${stopped[*]}; start them in order: sofia-services start"
  for i in "${!NAME[@]}"; do
    [[ ${HEALTH[$i]} == - ]] && continue
    if curl -fsS --max-time 5 -o /dev/null "${HEALTH[$i]}"; then
      log "verify: ${NAME[$i]} healthy (${HEALTH[$i]})"
    elif [[ ${UNWAITED[$i]} == yes ]]; then
      log "verify: ${NAME[$i]} NOT healthy (${HEALTH[$i]}; an operators' tool: not counted; its health alarm watches it)"
    else
      failed+=("${NAME[$i]}")
      log "verify: ${NAME[$i]} NOT healthy (${HEALTH[$i]})"
    fi
  done
  if (( ${#failed[@]} > 0 )); then
    for i in "${!NAME[@]}"; do
      [[ " ${failed[*]} " == *" ${NAME[$i]} "* ]] && log_tail "${CONTAINER[$i]}"
    done
    die "verify: not healthy: ${failed[*]}; their last log lines are above"
  fi
  log "verify: all healthy"
  verify_contracts
  if (( flows )); then verify_flows; verify_theme; else log "verify: data flow and theme not checked (--without-flows)"; fi
  # Read by the stack (the verifiedRelease output): when this release was last seen healthy.
  echo "verified-at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# The runbook's "Check UI theme", in a browser (the catalog's `theme` markers; the same checks.js the
# canaries run): straight at each UI's container on its own network, since the proxy shows the
# maintenance page during a deploy; on the ECS topology's store host (network `ecs:<region>/<cluster>/<service>`),
# straight at each running task of the service, by the private address ECS gives it ({task} in the
# checks). Rows: service, where, browser image ("-": node and a browser on this host, the tests),
# the checks as one line of JSON.
verify_theme() {
  [[ -r $THEMES ]] || die "verify: no theme table at $THEMES; it is installed by the stack (pulumi up)"
  [[ -r $THEME_RUNNER ]] || die "verify: no theme runner at $THEME_RUNNER; it is installed by the stack (pulumi up)"
  local service network image checks address addresses again theme_status broken=() unchecked=()
  while IFS=$'\t' read -r service network image checks; do
    [[ -z $service || $service == \#* ]] && continue
    if [[ $network != ecs:* ]]; then
      theme_check "$service" "$network" "$image" "$checks"
      theme_result "$service" "$image"
      continue
    fi
    if ! addresses=$(ecs_task_addresses "${network#ecs:}"); then
      unchecked+=("$service (its tasks' addresses could not be read from ECS: the lines above say why)")
      continue
    fi
    [[ -n $addresses ]] || { unchecked+=("$service (ECS runs no healthy task of it)"); continue; }
    for address in $addresses; do
      # Each task after the pull, in a bounded time: a browser at a task answers within minutes or never.
      THEME_TIMEOUT=$THEME_TASK_TIMEOUT theme_check "$service (task $address)" bridge "$image" "$(jq -c --arg a "$address" 'map(.base |= sub("\\{task\\}"; $a))' <<<"$checks")"
      # A task ECS stopped or replaced meanwhile (a scale-in, a failing task's successor) is not the
      # release's failure: asked again, it is gone. A broken theme (3) counts whatever ECS says.
      if (( theme_status != 0 && theme_status != 3 )) && again=$(ecs_task_addresses "${network#ecs:}") && ! grep -qxF "$address" <<<"$again"; then
        log "verify: theme of $service (task $address): ECS no longer runs it healthy; not counted"
        continue
      fi
      theme_result "$service (task $address)" "$image"
    done
  done <"$THEMES"
  (( ${#broken[@]} == 0 )) || die "verify: theme broken: ${broken[*]} (the lines above name each marker that differs); the release is not verified: roll it back or fix the UI image"
  (( ${#unchecked[@]} == 0 )) || die "verify: the theme could not be checked: ${unchecked[*]}; the browser did not run (its output is above): check that the host can pull the image, or run sofia-services verify again"
  return 0
}

# One check in the browser, its lines logged; its exit status in verify_theme's theme_status.
theme_check() {  # label network image checks
  local label=$1 network=$2 image=$3 conf out
  conf=$(mktemp)
  printf '%s\n' "$4" >"$conf"
  # The browser runs as the image's own user: it must read the checks.
  chmod 0644 "$conf"
  if [[ $image == - ]]; then
    out=$(timeout -k 20 "$THEME_TIMEOUT" node "$THEME_RUNNER" "$conf" 2>&1) && theme_status=0 || theme_status=$?
  else
    # A name of its own, so that a run killed with the CLI (timeout, SSM) leaves nothing behind;
    # --init: node as PID 1 would ignore the SIGTERM docker forwards. Limits like every container.
    theme_container="sofia-theme-$$"
    # Killed (TERM, INT: SSM's timeout or cancel) or exiting, the browser's container goes too.
    trap 'docker rm -f "$theme_container" >/dev/null 2>&1 || true' EXIT
    trap 'docker rm -f "$theme_container" >/dev/null 2>&1 || true; exit 143' TERM INT
    out=$(timeout -k 20 "$THEME_TIMEOUT" docker run --rm --init --name "$theme_container" --network "$network" --memory 1g --pids-limit 512 --shm-size 256m \
      -v "$(dirname "$THEME_RUNNER"):/checks:ro" -v "$conf:/checks.json:ro" \
      -e NODE_PATH=/home/pptruser/node_modules --entrypoint node "$image" "/checks/$(basename "$THEME_RUNNER")" /checks.json 2>&1) && theme_status=0 || theme_status=$?
    docker rm -f "$theme_container" >/dev/null 2>&1 || true
    trap - EXIT TERM INT
  fi
  rm -f "$conf"
  while IFS= read -r line; do [[ -n $line ]] && log "verify: theme of $label: $line"; done <<<"$out"
}

# theme_status into verify_theme's lists: 3 is a broken theme, anything else but 0 no check at all.
theme_result() {  # label image
  case $theme_status in
    0) ;;
    3) broken+=("$1") ;;
    *) unchecked+=("$1 (exit $theme_status${2:+, browser image $2})") ;;
  esac
}

# The private addresses of an ECS service's running, healthy tasks (awsvpc: one each; a task that has
# not passed its container health check may not listen yet), one per line; the
# calls bounded, as every AWS call a deploy waits on. Fails, saying why on stderr (stdout is the
# addresses), when ECS cannot be read.
ecs_task_addresses() {  # <region>/<cluster>/<service>
  local region cluster service arns
  IFS=/ read -r region cluster service <<<"$1"
  local -a bounded=(--region "$region" --cluster "$cluster" --cli-connect-timeout 10 --cli-read-timeout 30 --output json)
  arns=$(aws ecs list-tasks "${bounded[@]}" --service-name "$service" --desired-status RUNNING | jq -r '.taskArns[]') ||
    { log "verify: could not list the tasks of $service in cluster $cluster ($region)" >&2; return 1; }
  [[ -n $arns ]] || return 0
  # shellcheck disable=SC2086 # one argument per task ARN
  aws ecs describe-tasks "${bounded[@]}" --tasks $arns |
    jq -r '.tasks[] | select(.lastStatus == "RUNNING" and .healthStatus == "HEALTHY") | .attachments[]? | .details[]? | select(.name == "privateIPv4Address") | .value | select(test("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$"))' ||
    { log "verify: could not read the addresses of $service's tasks in cluster $cluster ($region)" >&2; return 1; }
}

# What the alarms assume of the images and the host can check (model/catalog.ts `serves`): each
# listed line must be served, exactly, at its URL. An image that breaks one would leave an alarm blind.
verify_contracts() {
  [[ -r $CONTRACTS ]] || die "verify: no contracts table at $CONTRACTS; it is installed by the stack (pulumi up)"
  local name url line body broken=() dir
  dir=$(mktemp -d)
  # shellcheck disable=SC2064 # the directory is known now
  trap "rm -rf '$dir'" RETURN
  while IFS=$'\t' read -r name url line; do
    [[ -z $name || $name == \#* ]] && continue
    body="$dir/$(printf '%s' "$url" | md5sum | cut -d' ' -f1)"
    [[ -f $body ]] || curl -fsS --max-time 5 "$url" 2>/dev/null | tr -d '\r' >"$body" || : >"$body"
    if grep -Fxq -- "$line" "$body"; then
      log "verify: $name serves '$line' ($url)"
    else
      broken+=("$name: $url has no line '$line'")
    fi
  done <"$CONTRACTS"
  (( ${#broken[@]} == 0 )) || die "verify: an image breaks what the alarms assume of it (README, Contracts): $(printf '%s; ' "${broken[@]}")fix the image or the catalog"
}

# What the catalog says must be arriving once everything runs (its `writes`): rows newer than a
# minute in the writer's table, within the writer's time. A release whose processes answer but
# write nothing fails here, naming the writer and the apps whose data it writes, with their logs.
verify_flows() {
  [[ -r $FLOWS ]] || die "verify: no data-flow table at $FLOWS; it is installed by the stack (pulumi up)"
  local writer container sources store target seconds table sql count started waited said why left
  local -a feeds
  # Each writer's time counts from the verification's start (the catalog's withinSeconds).
  started=$(date +%s)
  while IFS=$'\t' read -r writer container sources store target seconds table sql; do
    [[ -z $writer || $writer == \#* ]] && continue
    [[ $seconds =~ ^(0|[1-9][0-9]{0,5})$ ]] || die "verify: '$seconds' seconds for $writer in $FLOWS is not a number of seconds; run pulumi up to reinstall it"
    feeds=()
    [[ $sources == - ]] || IFS=, read -ra feeds <<<"$sources"
    said=0
    while :; do
      waited=$(( $(date +%s) - started ))
      # One question at a time, never longer than the time left (a store that hangs must not hold the deploy).
      left=$(( seconds - waited ))
      (( left > 10 )) && left=10
      (( left < 1 )) && left=1
      why=""
      count=$(flow_count "$store" "$target" "$sql" "$left" 2>&1) || { why=$count; count=""; }
      if [[ $count =~ ^[0-9]+$ ]] && (( 10#$count > 0 )); then
        log "verify: data flows: $count rows in $table newer than a minute ($writer)"
        break
      fi
      waited=$(( $(date +%s) - started ))
      if (( waited >= seconds )); then
        local c from=""
        (( ${#feeds[@]} == 0 )) || from=" from what $(printf '%s and ' "${feeds[@]}" | sed 's/ and $//') publish"
        for c in "$container" "${feeds[@]}"; do log_tail "$c"; done
        die "verify: no data flowing: no row in $table newer than a minute after ${seconds}s${why:+ ($store: ${why//$'\n'/ })}; $writer ($container) writes them$from; their last log lines are above"
      fi
      if (( waited >= said + 15 )); then
        said=$waited
        log "verify: waiting for rows in $table from $writer (${waited}s of ${seconds}s)"
      fi
      sleep "$POLL_SECONDS"
    done
  done <"$FLOWS"
}

# The rows a flow's count query finds, on stdout; what went wrong on stdout otherwise, and fail.
# Waits at most $4 seconds for the store's answer.
flow_count() {
  local store=$1 target=$2 sql=$3 wait=$4 out err
  case $store in
    questdb)
      out=$(questdb_exec "$target" "$sql" "$wait") || { printf '%s\n' "$out"; return 1; }
      out=$(sed -n 's/.*"dataset":\[\[\([0-9][0-9]*\)\]\].*/\1/p' <<<"$out")
      [[ -n $out ]] || { echo "QuestDB gave no count"; return 1; }
      printf '%s\n' "$out" ;;
    timescaledb)
      # The count from stdout alone: psql warns on stderr (a collation mismatch, say) and still answers.
      err=$(mktemp)
      if out=$(timeout "$wait" docker exec "$target" psql -X -U postgres -tAc "$sql" 2>"$err"); then
        rm -f "$err"
        printf '%s\n' "${out//[[:space:]]/}"
      else
        tr '\n' ' ' <"$err"
        echo "(psql in $target: exit or timeout after ${wait}s)"
        rm -f "$err"
        return 1
      fi ;;
    *) echo "unknown store '$store'"; return 1 ;;
  esac
}

# The last log lines of a container, on stderr, for a failure message.
log_tail() {
  printf -- '--- last %s log lines of %s ---\n' "$LOG_TAIL_LINES" "$1" >&2
  docker logs --tail "$LOG_TAIL_LINES" "$1" >&2 2>&1 || printf '(no logs: %s does not exist)\n' "$1" >&2
  printf -- '---\n' >&2
}

# A one-shot container (a deploy's migrations) that ran to completion: exit 0, or fail with its logs.
cmd_migrated() {
  local container=${1:-} code
  [[ -n $container ]] || die "usage: sofia-services migrated <container>"
  code=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$container" 2>/dev/null) || die "migrated: no container $container; did the deploy create it? (docker ps -a)"
  case $code in
    "exited 0") log "migrated: $container finished (exit 0)" ;;
    exited\ *) log_tail "$container"; die "migrated: $container exited ${code#exited }; the previous release keeps running; its last log lines are above" ;;
    *) log_tail "$container"; die "migrated: $container is ${code% *}, not finished" ;;
  esac
}

cmd_watchdog() {
  local i status strikes file deadline
  mkdir -p "$STATE_DIR/watchdog"
  if [[ -f $QUIESCE_MARK ]]; then
    deadline=$(cat "$QUIESCE_MARK" 2>/dev/null || echo 0)
    if [[ ! $deadline =~ ^[0-9]+$ ]] || (( deadline <= $(date +%s) )); then
      # Best effort, and the mark first: a writer that will not start, or another container that
      # is unhealthy, must not keep the others stopped nor stop this round of the watchdog.
      log "watchdog: the writers were quiesced past their deadline (the deploy that stopped them did not start them again): starting them"
      rm -f "$QUIESCE_MARK"
      for i in "${!NAME[@]}"; do
        [[ ${QUIESCE[$i]} == yes ]] || continue
        running "${CONTAINER[$i]}" || docker start "${CONTAINER[$i]}" >/dev/null || log "watchdog: could not start ${NAME[$i]} (${CONTAINER[$i]}); see: docker logs --tail 50 ${CONTAINER[$i]}"
      done
    fi
  fi
  for i in "${!NAME[@]}"; do
    # Quiesced writers are stopped on purpose until their deadline.
    [[ -f $QUIESCE_MARK && ${QUIESCE[$i]} == yes ]] && continue
    file="$STATE_DIR/watchdog/${NAME[$i]}"
    status=$(health_of "${CONTAINER[$i]}")
    if [[ $status != unhealthy ]]; then
      rm -f "$file"
      continue
    fi
    strikes=$(( $(cat "$file" 2>/dev/null || echo 0) + 1 ))
    if (( strikes >= WATCHDOG_STRIKES )); then
      log "watchdog: ${NAME[$i]} unhealthy ${strikes} times in a row, restarting"
      docker restart -t "${GRACE[$i]}" "${CONTAINER[$i]}" >/dev/null || log "watchdog: restart of ${CONTAINER[$i]} failed"
      rm -f "$file"
    else
      echo "$strikes" > "$file"
      log "watchdog: ${NAME[$i]} unhealthy (${strikes}/${WATCHDOG_STRIKES})"
    fi
  done
}

# QuestDB's HTTP API: prints the response body, fails on an HTTP error with QuestDB's own message.
questdb_exec() {
  local url=$1 sql=$2 maxtime=${3:-600} body
  if ! body=$(questdb_curl -sS -G --max-time "$maxtime" --data-urlencode "query=$sql" -w '\n%{http_code}' "$url/exec"); then
    die "QuestDB at $url did not answer; is sofia-questdb healthy? (sofia-services status)"
  fi
  local code=${body##*$'\n'}
  body=${body%$'\n'*}
  if [[ $code != 200 ]]; then
    printf '%s\n' "$body"
    return 1
  fi
  printf '%s\n' "$body"
}

cmd_tune() {
  [[ -r $TUNING ]] || die "no tuning table at $TUNING; it is installed by the stack (pulumi up)"
  local store table target sql out
  while IFS=$'\t' read -r store table target sql; do
    [[ -z $store || $store == \#* ]] && continue
    case $store in
      questdb)
        out=$(questdb_exec "$target" "SELECT count() FROM tables() WHERE table_name = '$table'") || die "tune: could not list QuestDB tables: $out"
        if [[ $out != *'"dataset":[[1]]'* ]]; then log "tune: $table does not exist yet, nothing to tune"; continue; fi
        if out=$(questdb_exec "$target" "$sql"); then
          log "tune: questdb: $sql"
        elif [[ $out == *"no partitions matched"* ]]; then
          log "tune: questdb: no partition of $table is old enough to drop"
        else
          die "tune: questdb refused '$sql': $out"
        fi ;;
      timescaledb)
        out=$(docker exec "$target" psql -U postgres -tAc "SELECT to_regclass('public.$table') IS NOT NULL") || die "tune: could not reach $target with psql; is it healthy? (sofia-services status)"
        if [[ $out != t ]]; then log "tune: $table does not exist yet, nothing to tune"; continue; fi
        docker exec "$target" psql -U postgres -v ON_ERROR_STOP=1 -qc "$sql" >/dev/null || die "tune: timescaledb refused '$sql'"
        log "tune: timescaledb: $sql" ;;
      *) die "tune: unknown store '$store' in $TUNING" ;;
    esac
  done < "$TUNING"
}

# The browser images of the theme checks, pulled before a deploy raises the maintenance page: a
# slow or failing pull then holds no client off, and fails the deploy before anything changed.
cmd_pull_browser() {
  [[ -r $THEMES ]] || die "pull-browser: no theme table at $THEMES; it is installed by the stack (pulumi up)"
  local service network image checks
  while IFS=$'\t' read -r service network image checks; do
    [[ -z $service || $service == \#* || $image == - ]] && continue
    docker image inspect "$image" >/dev/null 2>&1 && { log "pull-browser: $image is here"; continue; }
    log "pull-browser: pulling $image (the theme check of $service)"
    timeout -k 20 "$THEME_TIMEOUT" docker pull --quiet "$image" >/dev/null ||
      die "pull-browser: could not pull $image within ${THEME_TIMEOUT}s; nothing was changed: check that the host reaches its registry, then run the update again"
  done <"$THEMES"
}

cmd_flows() {
  [[ -r $FLOWS ]] || die "flows: no data-flow table at $FLOWS; it is installed by the stack (pulumi up)"
  # --wait: the deploy's data-flow check alone, for writers that run elsewhere (the ECS topology's
  # tasks write into this host's store): wait for each writer's rows, fail naming it, else verified.
  # Then each UI's theme, in a browser at each of its tasks (the themes table), its image pulled first.
  if [[ ${1:-} == --wait ]]; then
    verify_flows
    cmd_pull_browser
    verify_theme
    echo "verified-at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    return
  fi
  [[ -z ${1:-} ]] || die "usage: sofia-services flows [--wait]"
  local writer container sources store target seconds table sql count
  while IFS=$'\t' read -r writer container sources store target seconds table sql; do
    [[ -z $writer || $writer == \#* ]] && continue
    if count=$(flow_count "$store" "$target" "$sql" 10 2>&1) && [[ $count =~ ^[0-9]+$ ]]; then
      printf 'flows: %s rows in %s newer than a minute (%s)\n' "$count" "$table" "$writer"
    else
      printf 'flows: unknown for %s: %s did not answer (%s)\n' "$writer" "$store" "${count//$'\n'/ }"
    fi
  done <"$FLOWS"
}

cmd_status() {
  local i
  for i in "${!NAME[@]}"; do
    printf 'stage %s  %-14s %s\n' "${STAGE[$i]}" "${NAME[$i]}" "$(health_of "${CONTAINER[$i]}")"
  done
}

# Start, stop, restart and tune take the host lock (and first recover what an interrupted operation
# left): the data under the containers must not change while they start or stop, nor be tuned
# while a backup copies it or a restore verifies it. The watchdog never waits: while an operation
# holds the lock it skips its round rather than restart a container that operation is working on,
# and when the lock is free it first recovers what a dead operation left (within a minute).
watchdog_may_run() {
  ops_try "sofia-services watchdog" && return 0
  log "watchdog: $(cat "$SOFIA_OPS_LOCK.holder" 2>/dev/null || echo "another operation") holds the host lock, skipping"
  return 1
}

# Where quiesce records its deadline (epoch seconds): written before the first writer stops, so a
# quiesce killed at any line leaves it, and resume or the watchdog starts the writers again.
QUIESCE_MARK=$STATE_DIR/quiesced

cmd_quiesce() {  # minutes
  local minutes=${1:-} i stage pids still=()
  [[ $minutes =~ ^[1-9][0-9]*$ ]] || die "quiesce: give the minutes after which the watchdog starts the writers again if nothing resumes them (sofia-services quiesce 60)"
  mkdir -p "$STATE_DIR"
  printf '%s\n' "$(( $(date +%s) + minutes * 60 ))" >"$QUIESCE_MARK.new"
  sync "$QUIESCE_MARK.new"
  mv -f "$QUIESCE_MARK.new" "$QUIESCE_MARK"
  sync "$STATE_DIR"
  # Later stages first (a writer before the ingestors it reads from), a stage's together.
  for stage in $(seq "$LAST_STAGE" -1 0); do
    pids=()
    for i in "${!NAME[@]}"; do
      [[ ${STAGE[$i]} == "$stage" && ${QUIESCE[$i]} == yes ]] || continue
      log "quiesce: stopping ${NAME[$i]} (grace ${GRACE[$i]}s)"
      { docker stop -t "${GRACE[$i]}" "${CONTAINER[$i]}" >/dev/null 2>&1 || true; } &
      pids+=("$!")
    done
    (( ${#pids[@]} == 0 )) || wait "${pids[@]}"
    fault_point "quiesced-stage-$stage"
  done
  for i in "${!NAME[@]}"; do
    if [[ ${QUIESCE[$i]} == yes ]] && running "${CONTAINER[$i]}"; then still+=("${NAME[$i]}"); fi
  done
  (( ${#still[@]} == 0 )) || die "quiesce: ${still[*]} still running after docker stop; nothing may be backed up or migrated under them (sofia-services resume starts the others again)"
  log "quiesced: the writers are stopped until sofia-services resume (the watchdog starts them after ${minutes} minutes)"
}

cmd_resume() {
  cmd_start
  log "resumed: every service runs"
}

cmd_restart() {
  # Recorded: a restart stopped half-way is finished by the next command or boot. Inside another
  # operation (which has its own journal) that operation's recovery covers it.
  local own=0
  if [[ ! -f $SOFIA_JOURNAL ]]; then journal_set "op=restart" "phase=stopping" "started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; own=1; fi
  cmd_stop
  cmd_start
  (( own == 0 )) || journal_clear
}

# SSM's code for "reboot the host, then run this script again" (Linux); the rerun finds the
# updates installed and no reboot needed, and exits 0.
SSM_REBOOT_EXIT=194
DNF=${SOFIA_DNF:-dnf}

cmd_patch() {
  local rc=0 said
  log "installing security updates (dnf upgrade --security)"
  "$DNF" -y upgrade --security || die "dnf upgrade --security failed (above); the host was not rebooted"
  said=$("$DNF" needs-restarting -r 2>&1) || rc=$?
  # Exit 1 with its own words means a reboot; exit 1 for anything else (a missing plugin) must not
  # reboot the host on every run.
  if (( rc == 0 )); then
    log "no reboot needed"
  elif (( rc == 1 )) && grep -qi 'reboot is required' <<<"$said"; then
    if [[ -z ${AWS_SSM_INSTANCE_ID:-} ]]; then
      # By hand, not under SSM: nobody would reboot after this exit, so mark nothing.
      log "the updates need a reboot; not run by SSM, so reboot by hand in a quiet hour: sudo sofia-services stop && sudo systemctl reboot"
      return 0
    fi
    # The services stop in order first (a reboot would stop them all at once, stores with the
    # apps), journalled as a restart: killed from here on, the next command or the boot starts
    # them. Marked last, just before the lock goes: nothing may start between this exit and the
    # reboot, and a kill before the mark leaves none to wait out.
    journal_set "op=restart" "phase=stopping" "started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    cmd_stop
    ops_mark_reboot "sofia-services patch"
    log "the updates need a reboot: asking the SSM agent for it (exit $SSM_REBOOT_EXIT); other operations wait for it, the boot starts the services"
    exit "$SSM_REBOOT_EXIT"
  else
    die "could not tell whether the updates need a reboot (dnf needs-restarting -r exited $rc: ${said:-no output}); is dnf-plugins-core installed? Reboot by hand in a quiet hour if needed"
  fi
}

# Stops containers this host no longer runs (a move to the ECS topology: its apps, Redis and proxy
# now run elsewhere), in the order given, each with its grace (name:seconds), and keeps them from
# restarting; Pulumi removes them afterwards. Never one of this host's own services. Idempotent: a
# container that is gone or stopped is said and passed over.
cmd_retire() {
  (( $# )) || die "usage: sofia-services retire <container>:<grace seconds>..."
  local arg c grace i out
  for arg in "$@"; do
    [[ $arg =~ ^(sofia-[a-z0-9-]+):([0-9]{1,4})$ ]] || die "retire: '$arg' is not <sofia container>:<grace seconds>"
    c=${BASH_REMATCH[1]} grace=${BASH_REMATCH[2]}
    for i in "${!NAME[@]}"; do
      [[ ${CONTAINER[$i]} != "$c" ]] || die "retire: $c is one of this host's services ($CATALOG): refusing to stop it"
    done
  done
  docker info >/dev/null 2>&1 || die "retire: Docker does not answer (docker info); nothing was stopped"
  for arg in "$@"; do
    c=${arg%:*} grace=${arg##*:}
    # Only Docker's own "no such container" means it is not here: anything else stops the retirement.
    if ! out=$(docker inspect -f '{{.State.Running}}' "$c" 2>&1); then
      [[ $out == *"No such object"* || $out == *"No such container"* ]] || die "retire: could not tell whether $c runs: $out"
      log "retire: $c is not on this host"
      continue
    fi
    docker update --restart=no "$c" >/dev/null || die "retire: could not keep $c from restarting; is Docker running?"
    log "retire: stopping $c (grace ${grace}s)"
    docker stop -t "$grace" "$c" >/dev/null || die "retire: could not stop $c: docker stop -t $grace $c"
  done
  log "retire: done"
}

case ${1:-} in
  retire) ops_begin "sofia-services retire" "$OPS_WAIT"; cmd_retire "${@:2}" ;;
  start) ops_begin "sofia-services start" "$OPS_WAIT"; cmd_start ;;
  stop) ops_begin "sofia-services stop" "$OPS_WAIT"; cmd_stop ;;
  restart) ops_begin "sofia-services restart" "$OPS_WAIT"; cmd_restart ;;
  watchdog) if watchdog_may_run; then cmd_watchdog; fi ;;
  verify) cmd_verify "${2:-}" ;;
  flows) cmd_flows "${@:2}" ;;
  pull-browser) cmd_pull_browser ;;
  tune) ops_begin "sofia-services tune" "$OPS_WAIT"; cmd_tune ;;
  patch) ops_begin "sofia-services patch" "$OPS_WAIT"; cmd_patch ;;
  quiesce) ops_begin "sofia-services quiesce" "$OPS_WAIT"; cmd_quiesce "${2:-}" ;;
  resume) ops_begin "sofia-services resume" "$OPS_WAIT"; cmd_resume ;;
  migrated) cmd_migrated "${2:-}" ;;
  status) cmd_status ;;
  *) die "usage: sofia-services start|stop|restart|verify [--without-flows]|watchdog|tune|patch|quiesce <minutes>|resume|status|flows [--wait]|pull-browser|migrated <container>|retire <container>:<grace>..." ;;
esac
