#!/usr/bin/env bash
# The theme and critical paths of an ECS deploy, checked by the canaries' own checks (the same
# checks.js the host topology's deploy runs in a browser), for `pulumi up`: waits for each
# canary's first run that starts after this script does, and passes only if every one of them
# passed. The canaries run on their schedule (every 5 minutes), so this waits up to one period
# and a run's length.
#   canary-wait.sh <region> <canary>...
# Run twice (a retried update), it waits for runs after its own start again: a run from before
# the rollout says nothing about it.
set -euo pipefail

die() { echo "canary-wait: $*" >&2; exit 1; }
(( $# >= 2 )) || die "usage: canary-wait.sh <region> <canary>..."
region=$1
shift
for c in "$@"; do [[ $c =~ ^[a-z0-9_-]{1,21}$ ]] || die "'$c' is not a canary name"; done
timeout=${CANARY_WAIT_TIMEOUT:-900}
poll=${CANARY_WAIT_POLL:-15}
[[ $timeout =~ ^[0-9]{1,5}$ && $poll =~ ^[0-9]{1,3}$ ]] || die "CANARY_WAIT_TIMEOUT and CANARY_WAIT_POLL must be numbers of seconds"
since=$(date +%s)
deadline=$(( since + timeout ))
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# A run's start in epoch seconds: the aws CLI v2 prints Synthetics' times as ISO 8601, v1 as the
# service's own epoch number.
epoch_of() {
  if [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; then echo "${1%.*}"; else date -d "$1" +%s; fi
}

# The state and reason of the canary's earliest finished run started at or after $since ("" while
# none has finished; RUNNING runs are waited for). Fails with 1 when the runs cannot be read now,
# with 2 when they never will be (no such canary, no permission).
finished_run() {  # canary
  local runs started state reason at
  if ! runs=$(aws synthetics get-canary-runs --region "$region" --name "$1" --max-results 10 --output json 2>"$err"); then
    ! grep -qE 'AccessDenied|ResourceNotFound|ValidationException|UnrecognizedClient' "$err" || return 2
    return 1
  fi
  while IFS=$'\t' read -r started state reason; do
    [[ -n $started && $state =~ ^(PASSED|FAILED)$ ]] || continue
    at=$(epoch_of "$started") || continue
    (( at >= since )) || continue
    printf '%s\t%s\n' "$state" "$reason"
    return 0
  done < <(jq -r '.CanaryRuns | sort_by(.Timeline.Started | tostring) | .[] | [(.Timeline.Started | tostring), .Status.State, (.Status.StateReason // "")] | @tsv' <<<"$runs")
}

pending=("$@")
failed=()
echo "canary-wait: waiting for the first run of ${pending[*]} after $(date -u -d "@$since" +%H:%M:%SZ) (up to ${timeout}s)"
while (( ${#pending[@]} )); do
  next=()
  for c in "${pending[@]}"; do
    if got=$(finished_run "$c"); then rc=0; else rc=$?; fi
    if (( rc == 2 )); then
      die "could not read $c's runs, and will not be able to: $(tail -n 1 "$err")"
    elif (( rc )); then
      echo "canary-wait: could not read $c's runs ($(tail -n 1 "$err")); trying again" >&2
      next+=("$c")
    elif [[ -z $got ]]; then
      next+=("$c")
    elif [[ ${got%%$'\t'*} == PASSED ]]; then
      echo "canary-wait: $c passed"
    else
      echo "canary-wait: $c FAILED: ${got#*$'\t'}" >&2
      failed+=("$c")
    fi
  done
  pending=("${next[@]}")
  (( ${#pending[@]} )) || break
  (( $(date +%s) < deadline )) || die "no run of ${pending[*]} finished within ${timeout}s of the rollout: is the canary running? (aws synthetics get-canary --name ${pending[0]})"
  sleep "$poll"
done
(( ${#failed[@]} == 0 )) ||
  die "${failed[*]} failed on the release (the reasons above; the screenshots and logs: aws synthetics get-canary-runs --name ${failed[0]}): the release is not verified; roll it back or fix the image"
echo "canary-wait: every canary passed after the rollout"
