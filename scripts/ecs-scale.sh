#!/usr/bin/env bash
# Sets ECS services' desired task count and waits until they are steady, for `pulumi up`: a
# restore holds the writers at 0 while the stores are replaced, then gives them their one task back.
# `restart` in place of the count replaces their tasks instead (a rolling deployment, gated by
# health): a restore of the apps' files replaces the directories their tasks have mounted.
# `record` changes nothing: it prints each service's task definition, <service>=<arn>, one a line.
#   ecs-scale.sh [--roll-back] <region> <cluster> <count|restart|record> <service>...
# A service that does not exist yet (a stack's first update on ECS) is passed over. Run twice, the
# second run finds the count already set and the services steady (a restart restarts again).
# --roll-back: a service that does not become steady is put back on the task definition recorded
# for it before this update changed the services ($ECS_SCALE_ROLL_BACK_TO, what `record` printed),
# and the run still fails, saying so. A release deploy gives the writers their task this way: they
# roll out while held at no task, where ECS' circuit breaker sees nothing fail, so a new image that
# crash-loops would otherwise stay. The recorded revision, not a guess: a failed update's replaced
# revision is deregistered at the start of the next update, whichever of them runs.
set -euo pipefail

die() { echo "ecs-scale: $*" >&2; exit 1; }
roll_back=0
if [[ ${1:-} == --roll-back ]]; then roll_back=1; shift; fi
(( $# >= 4 )) || die "usage: ecs-scale.sh [--roll-back] <region> <cluster> <count|restart|record> <service>..."
region=$1 cluster=$2 count=$3
shift 3
[[ $count =~ ^[0-9]{1,3}$ || $count == restart || $count == record ]] || die "'$count' is not a task count (or restart, record)"
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
if [[ $count == record ]]; then
  jq -r '.services[] | select(.status == "ACTIVE") | "\(.serviceName)=\(.taskDefinition)"' <<<"$out"
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
# Puts each service of "$@" that is not steady back on its recorded task definition; prints those it rolled back.
roll_back_unsteady() {
  local s desc current previous
  for s in "$@"; do
    desc=$(aws ecs describe-services --region "$region" --cluster "$cluster" --services "$s" --output json) || { echo "ecs-scale: $s: could not describe it; not rolled back" >&2; continue; }
    [[ $(jq -r '.services[0] | .runningCount == .desiredCount and (.deployments | length) == 1' <<<"$desc") != true ]] || continue
    current=$(jq -r '.services[0].taskDefinition' <<<"$desc")
    previous=$(sed -n "s/^$s=//p" <<<"${ECS_SCALE_ROLL_BACK_TO:-}" | head -n 1)
    if [[ -z $previous || $previous == "$current" ]]; then
      echo "ecs-scale: $s: no earlier task definition recorded for it before this update (it runs ${current##*/}): nothing to roll back to" >&2
      continue
    fi
    if ! err=$(aws ecs update-service --region "$region" --cluster "$cluster" --service "$s" --task-definition "$previous" --output json 2>&1 >/dev/null); then
      echo "ecs-scale: $s: could not roll it back to ${previous##*/} (deregistered since? ECS runs no inactive revision anew): $err" >&2
      continue
    fi
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
