#!/usr/bin/env bash
# Runs one command on an EC2 instance through SSM Run Command, waits for it, prints its output,
# and exits 0 only when it succeeded. `pulumi up` uses it (through @pulumi/command) so that a host
# step that fails, fails the update with the host's own words.
#
#   scripts/ssm-run.sh <instance-id> <region> <command...>
#
# SSM_RUN_TIMEOUT (seconds, default 900) bounds the whole wait, and is also the command's execution
# timeout on the host (SSM's own default is an hour, whatever the caller waits): when this script
# gives up, or is interrupted, it cancels the command, so a retried update never runs a second copy
# of a step beside the first.
# SSM_RUN_STEP names the step in failure messages; SSM_RUN_ON_FAILURE is printed when it fails
# (a deploy step's exact rollback command).
# SSM_RUN_REQUIRE ("<file>=<sha256> ...", space-separated): the host first waits (SSM_RUN_REQUIRE_WAIT
# seconds, default 600) until each file holds its digest: the host files this step needs.
# Needs the aws CLI and credentials allowed ssm:SendCommand, ssm:GetCommandInvocation and
# ssm:CancelCommand.
set -euo pipefail

[[ $# -ge 3 ]] || { echo "usage: $0 <instance-id> <region> <command...>" >&2; exit 64; }
instance=$1
region=$2
shift 2
command="$*"
timeout=${SSM_RUN_TIMEOUT:-900}
poll=${SSM_RUN_POLL:-3}
[[ $instance =~ ^(i|mi)-[0-9a-f]+$ ]] || { echo "ssm-run: '$instance' is not an instance id" >&2; exit 64; }
[[ $timeout =~ ^[0-9]+$ ]] || { echo "ssm-run: SSM_RUN_TIMEOUT must be a number of seconds, not '$timeout'" >&2; exit 64; }
step=${SSM_RUN_STEP:-$command}

remote=$command
if [[ -n ${SSM_RUN_REQUIRE:-} ]]; then
  wait_s=${SSM_RUN_REQUIRE_WAIT:-600}
  [[ $wait_s =~ ^[0-9]+$ ]] || { echo "ssm-run: SSM_RUN_REQUIRE_WAIT must be a number of seconds" >&2; exit 64; }
  ready="true"
  files=""
  for pair in $SSM_RUN_REQUIRE; do
    marker=${pair%%=*} digest=${pair#*=}
    [[ $digest =~ ^[0-9a-f]{64}$ ]] || { echo "ssm-run: SSM_RUN_REQUIRE: '$digest' is not a SHA-256" >&2; exit 64; }
    [[ $marker =~ ^/[A-Za-z0-9._/-]+$ ]] || { echo "ssm-run: SSM_RUN_REQUIRE: '$marker' is not an absolute path" >&2; exit 64; }
    ready+=" && [ \"\$(cat $marker 2>/dev/null)\" = $digest ]"
    files+=" $marker=${digest:0:12}"
  done
  # POSIX sh: AWS-RunShellScript runs the commands with sh.
  remote="n=0; until $ready; do if [ \$n -ge $wait_s ]; then { echo \"ssm-run: the host files this step needs are not installed after ${wait_s}s; see the host-files associations (aws ssm list-associations):\"; for w in$files; do echo \"  \${w%%=*}: wanted \${w#*=}, installed \$(cut -c1-12 \${w%%=*} 2>/dev/null || echo none)\"; done; } >&2; exit 1; fi; sleep 5; n=\$((n + 5)); done; $command"
fi

# Every failure ends with the step's name and, when given, what to do about it.
failed() {
  echo "ssm-run: step failed: $step" >&2
  [[ -z ${SSM_RUN_ON_FAILURE:-} ]] || printf '%s\n' "$SSM_RUN_ON_FAILURE" >&2
  exit 1
}

json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

command_id=""
# Giving up, or being stopped (the update cancelled, the runner killed), cancels the command on the
# host; whatever it was doing must survive being stopped there (the host scripts' own invariant).
cancel() {
  [[ -n $command_id ]] || return 0
  aws ssm cancel-command --region "$region" --command-id "$command_id" --instance-ids "$instance" >/dev/null 2>&1 &&
    echo "ssm-run: cancelled command $command_id on $instance" >&2 ||
    echo "ssm-run: could not cancel command $command_id on $instance; cancel it by hand: aws ssm cancel-command --region $region --command-id $command_id" >&2
}
interrupted() {
  trap - TERM INT HUP
  echo "ssm-run: interrupted while '$command' ran on $instance" >&2
  cancel
  failed
}
trap interrupted TERM INT HUP

# A new instance's SSM agent registers a minute or two after boot: keep trying to send until then.
waited=0
parameters="{\"commands\":[$(json_string "$remote")],\"executionTimeout\":[\"$(( timeout > 0 ? timeout : 1 ))\"]}"
until command_id=$(aws ssm send-command --region "$region" --instance-ids "$instance" \
  --document-name AWS-RunShellScript --comment "sofia-infra: ${command:0:90}" \
  --parameters "$parameters" \
  --query Command.CommandId --output text 2>/dev/null); do
  command_id=""
  if (( waited >= timeout )); then
    echo "ssm-run: could not send '$command' to $instance for ${timeout}s; is its SSM agent online? (aws ssm describe-instance-information --region $region)" >&2
    failed
  fi
  (( waited % 30 == 0 )) && echo "ssm-run: waiting for $instance to accept commands (${waited}s)"
  sleep "$poll" & wait $!
  waited=$((waited + poll))
done
echo "ssm-run: $instance: $command (command $command_id)"

status=Pending
while :; do
  # Right after sending, the invocation may not exist yet: keep polling.
  status=$(aws ssm get-command-invocation --region "$region" --command-id "$command_id" --instance-id "$instance" \
    --query Status --output text 2>/dev/null || echo Pending)
  case $status in
    Success|Failed|Cancelled|TimedOut) break ;;
  esac
  if (( waited >= timeout )); then
    echo "ssm-run: '$command' on $instance still $status after ${timeout}s; see: aws ssm list-command-invocations --command-id $command_id --details" >&2
    cancel
    failed
  fi
  sleep "$poll" & wait $!
  waited=$((waited + poll))
done
trap - TERM INT HUP

aws ssm get-command-invocation --region "$region" --command-id "$command_id" --instance-id "$instance" \
  --query StandardOutputContent --output text
errors=$(aws ssm get-command-invocation --region "$region" --command-id "$command_id" --instance-id "$instance" \
  --query StandardErrorContent --output text)
[[ -n $errors && $errors != None ]] && printf '%s\n' "$errors" >&2

if [[ $status != Success ]]; then
  echo "ssm-run: '$command' on $instance ended $status (command $command_id)" >&2
  failed
fi
