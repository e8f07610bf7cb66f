#!/usr/bin/env bash
# A manual ElastiCache snapshot before a release changes anything (the deploy's backup of Redis on
# ECS), waited for until it is available, for `pulumi up`.
#   ecs-cache-snapshot.sh <region> <replication-group-id> <snapshot-name> <keep-days>
# Run again with the same name (a retried update), it waits for the snapshot already taken. Manual
# snapshots never expire by themselves: once the new one is available, the group's earlier ones of
# the same prefix (the name up to its last hyphen) older than <keep-days> are deleted.
set -euo pipefail

die() { echo "ecs-cache-snapshot: $*" >&2; exit 1; }
(( $# == 4 )) || die "usage: ecs-cache-snapshot.sh <region> <replication-group-id> <snapshot-name> <keep-days>"
region=$1 group=$2 name=$3 keep=$4
[[ $keep =~ ^[0-9]{1,4}$ ]] || die "'$keep' is not a number of days"
[[ $group =~ ^[a-z][a-z0-9-]{0,39}$ ]] || die "'$group' is not a replication group id"
[[ $name =~ ^[A-Za-z][A-Za-z0-9-]{0,254}$ ]] || die "'$name' is not a snapshot name (letters, digits and hyphens, starting with a letter)"
timeout=${CACHE_SNAPSHOT_TIMEOUT:-1800}
poll=${CACHE_SNAPSHOT_POLL:-15}
[[ $timeout =~ ^[0-9]{1,5}$ && $poll =~ ^[0-9]{1,3}$ ]] || die "CACHE_SNAPSHOT_TIMEOUT and CACHE_SNAPSHOT_POLL must be numbers of seconds"

# The snapshot's status, "missing" only when ElastiCache says there is none; a failed call is retried,
# never taken for "missing" (a second create of the same name would fail the deploy).
status() {
  local out tries=0
  until out=$(aws elasticache describe-snapshots --region "$region" --snapshot-name "$name" --query 'Snapshots[0].SnapshotStatus' --output text 2>&1); do
    [[ $out != *SnapshotNotFoundFault* ]] || { echo missing; return; }
    (( ++tries < 5 )) || die "could not look at snapshot $name: $out"
    sleep "$poll"
  done
  echo "$out"
}
if [[ $(status) =~ ^(missing|None)$ ]]; then
  if ! err=$(aws elasticache create-snapshot --region "$region" --replication-group-id "$group" --snapshot-name "$name" --output json 2>&1 >/dev/null); then
    # ElastiCache takes at most 20 manual snapshots per node in any 24 hours (its backup constraints).
    [[ $err != *SnapshotQuotaExceeded* ]] ||
      die "could not start a snapshot of $group: ElastiCache's quota of manual snapshots is used up (at most 20 per node in any 24 hours, releases and restores together): run pulumi up again once the oldest of the last day's snapshots is 24 hours old. ElastiCache said: $err"
    die "could not start a snapshot of $group: $err"
  fi
  echo "ecs-cache-snapshot: snapshot $name of $group started"
fi
deadline=$(( $(date +%s) + timeout ))
while :; do
  s=$(status)
  case $s in
    available) echo "ecs-cache-snapshot: snapshot $name is available"; break ;;
    failed) die "snapshot $name of $group failed: see aws elasticache describe-events --source-identifier $group" ;;
  esac
  (( $(date +%s) < deadline )) || die "snapshot $name of $group still '$s' after ${timeout}s"
  sleep "$poll"
done

prefix=${name%-*}-
cutoff=$(date -u -d "-$keep days" +%Y-%m-%dT%H:%M:%S)
old=$(aws elasticache describe-snapshots --region "$region" --replication-group-id "$group" --snapshot-source manual --output json |
  jq -r --arg p "$prefix" --arg c "$cutoff" --arg n "$name" '.Snapshots[] | select((.SnapshotName | startswith($p)) and .SnapshotName != $n and ((.NodeSnapshots[0].SnapshotCreateTime // "9999") < $c)) | .SnapshotName')
for o in $old; do
  aws elasticache delete-snapshot --region "$region" --snapshot-name "$o" --output json >/dev/null &&
    echo "ecs-cache-snapshot: deleted $o (older than $keep days)" || echo "ecs-cache-snapshot: could not delete $o; delete it by hand" >&2
done
