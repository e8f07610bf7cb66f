#!/usr/bin/env bash
# Runs one ECS task to completion for `pulumi up` (the ECS topology's migrations) and fails the
# update unless its container exits 0.
#   ecs-run-task.sh <region> <cluster> <task-definition-arn> <container> <command-json>
# ECS_RUN_SUBNETS (comma-separated), ECS_RUN_SECURITY_GROUP, ECS_RUN_PUBLIC_IP (ENABLED|DISABLED),
# ECS_RUN_TIMEOUT (seconds, default 900), ECS_RUN_POLL (seconds between looks, default 6). Killed or timed out, it stops the task it started: a
# retried update never runs a second migration beside the first.
set -euo pipefail

# ECS_RUN_ON_FAILURE: what to do now, said after the failure (the writers a release holds at no task).
die() { echo "ecs-run-task: $*" >&2; [[ -z ${ECS_RUN_ON_FAILURE:-} ]] || echo "$ECS_RUN_ON_FAILURE" >&2; exit 1; }
(( $# == 5 )) || die "usage: ecs-run-task.sh <region> <cluster> <task-definition-arn> <container> <command-json>"
region=$1 cluster=$2 taskdef=$3 container=$4 cmd=$5
: "${ECS_RUN_SUBNETS:?ECS_RUN_SUBNETS: the subnets to run the task in}"
: "${ECS_RUN_SECURITY_GROUP:?ECS_RUN_SECURITY_GROUP: the tasks security group}"
public=${ECS_RUN_PUBLIC_IP:-DISABLED}
timeout=${ECS_RUN_TIMEOUT:-900}
poll=${ECS_RUN_POLL:-6}
[[ $poll =~ ^[0-9]{1,3}$ ]] || die "ECS_RUN_POLL must be a number of seconds, not '$poll'"
[[ $timeout =~ ^[1-9][0-9]{0,5}$ ]] || die "ECS_RUN_TIMEOUT must be a number of seconds, not '$timeout'"
[[ $public == ENABLED || $public == DISABLED ]] || die "ECS_RUN_PUBLIC_IP must be ENABLED or DISABLED, not '$public'"
jq -e 'type == "array" and all(type == "string")' <<<"$cmd" >/dev/null || die "the command must be a JSON array of strings, not: $cmd"

subnets=$(jq -cn --arg s "$ECS_RUN_SUBNETS" '$s | split(",")')
network=$(jq -cn --argjson s "$subnets" --arg g "$ECS_RUN_SECURITY_GROUP" --arg p "$public" '{awsvpcConfiguration: {subnets: $s, securityGroups: [$g], assignPublicIp: $p}}')
overrides=$(jq -cn --arg c "$container" --argjson cmd "$cmd" '{containerOverrides: [{name: $c, command: $cmd}]}')

task=""
stop_task() {
  [[ -n $task ]] || return 0
  aws ecs stop-task --region "$region" --cluster "$cluster" --task "$task" --reason "ecs-run-task: $1" >/dev/null 2>&1 ||
    echo "ecs-run-task: could not stop $task; stop it: aws ecs stop-task --cluster $cluster --task $task" >&2
  task=""
}
# Whatever ends this script while its task runs (a signal, a failed call under set -e) stops the
# task; only SIGKILL cannot, and the next run finds that task first (below).
trap 'stop_task interrupted; exit 130' INT
trap 'stop_task terminated; exit 143' TERM HUP
trap 'stop_task "ended early"' EXIT

# The status of a task: its lastStatus and, once stopped, the container's exit code and the reason.
# Retried: one failed call (a throttle, a network blip) must not abandon a running migration.
describe() {  # task arn
  local out tries=0
  until out=$(aws ecs describe-tasks --region "$region" --cluster "$cluster" --tasks "$1" --output json 2>/dev/null); do
    (( ++tries < 5 )) || { echo "ecs-run-task: could not describe $1 ($tries tries)" >&2; return 1; }
    sleep "$poll"
  done
  printf '%s\n' "$out"
}

deadline=$(( $(date +%s) + timeout ))
# A task an earlier run started (an update killed outright) may still be migrating: wait for it to
# end rather than run a second migration beside it.
family=${taskdef##*task-definition/}
family=${family%%:*}
# (ListTasks takes startedBy alone: the family is checked on each task found.)
earlier=$(aws ecs list-tasks --region "$region" --cluster "$cluster" --started-by pulumi-deploy --output json)
mine=()
for arn in $(jq -r '.taskArns[]?' <<<"$earlier"); do
  td=$(describe "$arn" | jq -r '.tasks[0] | select(.lastStatus != "STOPPED") | .taskDefinitionArn // empty')
  [[ $td == *"task-definition/$family:"* ]] && mine+=("$arn")
done
for other in "${mine[@]}"; do
  echo "ecs-run-task: $container: a task an earlier run started still runs ($other); waiting for it to end"
  until [[ $(describe "$other" | jq -r '.tasks[0].lastStatus // "MISSING"') =~ ^(STOPPED|MISSING)$ ]]; do
    (( $(date +%s) < deadline )) || die "$other (started by an earlier update) still runs after ${timeout}s; wait for it, or stop it: aws ecs stop-task --cluster $cluster --task $other"
    sleep "$poll" & wait $!
  done
done

started=$(aws ecs run-task --region "$region" --cluster "$cluster" --launch-type FARGATE --task-definition "$taskdef" \
  --network-configuration "$network" --overrides "$overrides" --started-by pulumi-deploy --output json)
task=$(jq -r '.tasks[0].taskArn // empty' <<<"$started")
[[ -n $task ]] || die "ECS started no task: $(jq -c '.failures' <<<"$started")"
echo "ecs-run-task: $container: started $task"

while :; do
  described=$(describe "$task")
  status=$(jq -r '.tasks[0].lastStatus // "MISSING"' <<<"$described")
  if [[ $status == STOPPED ]]; then
    code=$(jq -r --arg c "$container" '.tasks[0].containers[] | select(.name == $c) | .exitCode // empty' <<<"$described")
    reason=$(jq -r '.tasks[0].stoppedReason // ""' <<<"$described")
    task=""
    trap - EXIT
    [[ $code == 0 ]] || die "$container exited ${code:-without a code} ($reason); its output is in its log group, stream prefix $container"
    echo "ecs-run-task: $container: done (exit 0)"
    exit 0
  fi
  [[ $status != MISSING ]] || die "ECS no longer knows the task $task"
  (( $(date +%s) < deadline )) || { stop_task "timed out after ${timeout}s"; die "$container still $status after ${timeout}s: stopped it"; }
  # In the background, so that a TERM is handled (the task stopped) at once, not after the sleep.
  sleep "$poll" & wait $!
done
