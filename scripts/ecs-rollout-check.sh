#!/usr/bin/env bash
# After `pulumi up` has waited for the ECS services to be steady: fails unless each service's
# primary deployment runs the task definition this update declared, completed. A deployment the
# circuit breaker rolled back also ends "steady" (on the old task definition), and Pulumi's state
# would then name a release that does not run.
#   ecs-rollout-check.sh <region> <cluster> <service>=<task-definition-arn>...
set -euo pipefail

die() { echo "ecs-rollout-check: $*" >&2; exit 1; }
(( $# >= 3 )) || die "usage: ecs-rollout-check.sh <region> <cluster> <service>=<task-definition-arn>..."
region=$1 cluster=$2
shift 2
declare -A want=()
for pair in "$@"; do
  [[ $pair =~ ^([a-z0-9-]+)=(arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[A-Za-z0-9_-]+:[0-9]+)$ ]] ||
    die "'$pair' is not <service>=<task definition ARN>"
  want[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done

# describe-services takes ten services at a time.
names=("${!want[@]}")
failed=()
for (( i = 0; i < ${#names[@]}; i += 10 )); do
  out=$(aws ecs describe-services --region "$region" --cluster "$cluster" --services "${names[@]:i:10}" --output json)
  for name in "${names[@]:i:10}"; do
    primary=$(jq -c --arg n "$name" '[.services[] | select(.serviceName == $n) | .deployments[] | select(.status == "PRIMARY")][0] // {}' <<<"$out")
    running=$(jq -r '.taskDefinition // "none"' <<<"$primary")
    state=$(jq -r '.rolloutState // "unknown"' <<<"$primary")
    if [[ $running == "${want[$name]}" && $state == COMPLETED ]]; then
      echo "ecs-rollout-check: $name runs ${running##*/} (completed)"
      continue
    fi
    reason=$(jq -r '.rolloutStateReason // ""' <<<"$primary")
    events=$(jq -r --arg n "$name" '.services[] | select(.serviceName == $n) | .events[:3][] | "    " + .message' <<<"$out")
    echo "ecs-rollout-check: $name runs ${running##*/} ($state), not ${want[$name]##*/}${reason:+: $reason}" >&2
    [[ -z $events ]] || printf '%s\n' "$events" >&2
    failed+=("$name")
  done
done
(( ${#failed[@]} == 0 )) || die "not running what this update declared: ${failed[*]} (the circuit breaker rolled back, or the rollout has not completed). Pulumi's state names the new task definitions: run pulumi refresh --stack <stack>, fix the cause (the events and the service's log group above), then pulumi up again"
echo "ecs-rollout-check: every service runs what this update declared"
