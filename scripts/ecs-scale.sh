#!/usr/bin/env bash
# Sets ECS services' desired task count and waits until they are steady, for `pulumi up`: a
# restore holds the writers at 0 while the stores are replaced, then gives them their one task back.
# `restart` in place of the count replaces their tasks instead (a rolling deployment, gated by
# health): a restore of the apps' files replaces the directories their tasks have mounted.
#   ecs-scale.sh [--roll-back] <region> <cluster> <count|restart> <service>...
# A service that does not exist yet (a stack's first update on ECS) is passed over. Run twice, the
# second run finds the count already set and the services steady (a restart restarts again).
# --roll-back: a service that does not become steady is put back on its family's newest earlier
# task definition that is still active (the one this update replaced: Pulumi deregisters it only
# once the update has succeeded), and the run still fails, saying so. A release deploy gives the
# writers their task this way: they roll out while held at no task, where ECS' circuit breaker
# sees nothing fail, so a new image that crash-loops would otherwise stay.
set -euo pipefail

die() { echo "ecs-scale: $*" >&2; exit 1; }
roll_back=0
if [[ ${1:-} == --roll-back ]]; then roll_back=1; shift; fi
(( $# >= 4 )) || die "usage: ecs-scale.sh [--roll-back] <region> <cluster> <count|restart> <service>..."
region=$1 cluster=$2 count=$3
shift 3
[[ $count =~ ^[0-9]{1,3}$ || $count == restart ]] || die "'$count' is not a task count (or restart)"
for s in "$@"; do [[ $s =~ ^[a-z0-9-]+$ ]] || die "'$s' is not a service name"; done

# A stack's first update on ECS: the cluster does not exist yet, nor any service in it.
if [[ $(aws ecs describe-clusters --region "$region" --clusters "$cluster" --query 'clusters[0].status' --output text) != ACTIVE ]]; then
  echo "ecs-scale: cluster $cluster does not exist yet: nothing to do"
  exit 0
fi
out=$(aws ecs describe-services --region "$region" --cluster "$cluster" --services "$@" --output json)
mapfile -t active < <(jq -r '.services[] | select(.status == "ACTIVE") | .serviceName' <<<"$out")
if (( ${#active[@]} == 0 )); then
  echo "ecs-scale: none of $* exists yet: nothing to do"
  exit 0
fi
for s in "${active[@]}"; do
  if [[ $count == restart ]]; then
    aws ecs update-service --region "$region" --cluster "$cluster" --service "$s" --force-new-deployment --output json >/dev/null ||
      die "could not restart $s's tasks"
    echo "ecs-scale: $s: its tasks are being replaced"
  else
    aws ecs update-service --region "$region" --cluster "$cluster" --service "$s" --desired-count "$count" --output json >/dev/null ||
      die "could not set $s to $count tasks"
    echo "ecs-scale: $s: $count task(s) desired"
  fi
done
# Puts each service of "$@" that is not steady on its family's newest earlier active task definition;
# prints those it rolled back.
roll_back_unsteady() {
  local s desc current family rev previous
  for s in "$@"; do
    desc=$(aws ecs describe-services --region "$region" --cluster "$cluster" --services "$s" --output json) || { echo "ecs-scale: $s: could not describe it; not rolled back" >&2; continue; }
    [[ $(jq -r '.services[0] | .runningCount == .desiredCount and (.deployments | length) == 1' <<<"$desc") != true ]] || continue
    current=$(jq -r '.services[0].taskDefinition' <<<"$desc")
    family=${current##*/} rev=${current##*:}
    family=${family%:*}
    [[ $family =~ ^[A-Za-z0-9_-]+$ && $rev =~ ^[0-9]+$ ]] || { echo "ecs-scale: $s runs '$current', not a task definition revision; not rolled back" >&2; continue; }
    previous=$(aws ecs list-task-definitions --region "$region" --family-prefix "$family" --status ACTIVE --sort DESC --output json |
      jq -r --arg f "$family" --argjson r "$rev" '[.taskDefinitionArns[] | select((split("/")[-1] | split(":")) as $p | $p[0] == $f and ($p[1] | tonumber) < $r)][0] // empty') || previous=""
    if [[ -z $previous ]]; then
      echo "ecs-scale: $s: no earlier active task definition of $family to roll back to" >&2
      continue
    fi
    aws ecs update-service --region "$region" --cluster "$cluster" --service "$s" --task-definition "$previous" --output json >/dev/null ||
      { echo "ecs-scale: $s: could not roll it back to ${previous##*/}" >&2; continue; }
    echo "ecs-scale: $s: rolling back from ${current##*/} to ${previous##*/}" >&2
    echo "$s"
  done
}

if ! aws ecs wait services-stable --region "$region" --cluster "$cluster" --services "${active[@]}"; then
  # What ECS says about each (a new image that crash-loops shows here): the last events.
  aws ecs describe-services --region "$region" --cluster "$cluster" --services "${active[@]}" --output json 2>/dev/null |
    jq -r '.services[] | .serviceName as $n | .events[:3][]? | "  \($n): \(.message)"' >&2 || true
  if (( roll_back )) && [[ $count != 0 ]]; then
    mapfile -t rolled < <(roll_back_unsteady "${active[@]}")
    if (( ${#rolled[@]} )); then
      aws ecs wait services-stable --region "$region" --cluster "$cluster" --services "${rolled[@]}" ||
        die "${rolled[*]} did not become steady on their new task definitions, nor after a roll-back to the earlier ones (the events above): aws ecs describe-services --cluster $cluster --services ${rolled[*]}"
      die "${rolled[*]} did not become steady on their new task definitions (the events above) and run their earlier ones again, steady. The stack still declares the new ones: fix the image and deploy again, or roll the release back"
    fi
  fi
  die "${active[*]} did not become steady $([[ $count == restart ]] && echo "after the restart" || echo "at $count task(s)") (the events above; aws ecs describe-services --cluster $cluster --services ${active[*]})"
fi
echo "ecs-scale: ${active[*]} steady $([[ $count == restart ]] && echo "on new tasks" || echo "at $count task(s)")"
