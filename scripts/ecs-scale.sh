#!/usr/bin/env bash
# Sets ECS services' desired task count and waits until they are steady, for `pulumi up`: a
# restore holds the writers at 0 while the stores are replaced, then gives them their one task back.
# `restart` in place of the count replaces their tasks instead (a rolling deployment, gated by
# health): a restore of the apps' files replaces the directories their tasks have mounted.
#   ecs-scale.sh <region> <cluster> <count|restart> <service>...
# A service that does not exist yet (a stack's first update on ECS) is passed over. Run twice, the
# second run finds the count already set and the services steady (a restart restarts again).
set -euo pipefail

die() { echo "ecs-scale: $*" >&2; exit 1; }
(( $# >= 4 )) || die "usage: ecs-scale.sh <region> <cluster> <count|restart> <service>..."
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
if ! aws ecs wait services-stable --region "$region" --cluster "$cluster" --services "${active[@]}"; then
  # What ECS says about each (a new image that crash-loops shows here): the last events.
  aws ecs describe-services --region "$region" --cluster "$cluster" --services "${active[@]}" --output json 2>/dev/null |
    jq -r '.services[] | .serviceName as $n | .events[:3][]? | "  \($n): \(.message)"' >&2 || true
  die "${active[*]} did not become steady $([[ $count == restart ]] && echo "after the restart" || echo "at $count task(s)") (the events above; aws ecs describe-services --cluster $cluster --services ${active[*]})"
fi
echo "ecs-scale: ${active[*]} steady $([[ $count == restart ]] && echo "on new tasks" || echo "at $count task(s)")"
