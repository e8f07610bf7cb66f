#!/usr/bin/env bash
# Runs one command on an EC2 instance through SSM Run Command, waits for it, prints its output,
# and exits 0 only when it succeeded. `pulumi up` uses it (through @pulumi/command) so that a host
# step that fails, fails the update with the host's own words.
#
#   scripts/ssm-run.sh <instance-id> <region> <command...>
#
# SSM_RUN_STEP names the step in failure messages; SSM_RUN_ON_FAILURE is printed when it fails
# (a deploy step's exact rollback command).
# Needs the aws CLI and credentials allowed ssm:SendCommand and ssm:GetCommandInvocation.
set -euo pipefail

[[ $# -ge 3 ]] || { echo "usage: $0 <instance-id> <region> <command...>" >&2; exit 64; }
instance=$1
region=$2
shift 2
command="$*"
timeout=${SSM_RUN_TIMEOUT:-900}
poll=${SSM_RUN_POLL:-3}
[[ $instance =~ ^(i|mi)-[0-9a-f]+$ ]] || { echo "ssm-run: '$instance' is not an instance id" >&2; exit 64; }
step=${SSM_RUN_STEP:-$command}

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

# A new instance's SSM agent registers a minute or two after boot: keep trying to send until then.
waited=0
until command_id=$(aws ssm send-command --region "$region" --instance-ids "$instance" \
  --document-name AWS-RunShellScript --comment "sofia-infra: ${command:0:90}" \
  --parameters "{\"commands\":[$(json_string "$command")]}" \
  --query Command.CommandId --output text 2>/dev/null); do
  if (( waited >= timeout )); then
    echo "ssm-run: could not send '$command' to $instance for ${timeout}s; is its SSM agent online? (aws ssm describe-instance-information --region $region)" >&2
    failed
  fi
  (( waited % 30 == 0 )) && echo "ssm-run: waiting for $instance to accept commands (${waited}s)"
  sleep "$poll"
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
    failed
  fi
  sleep "$poll"
  waited=$((waited + poll))
done

aws ssm get-command-invocation --region "$region" --command-id "$command_id" --instance-id "$instance" \
  --query StandardOutputContent --output text
errors=$(aws ssm get-command-invocation --region "$region" --command-id "$command_id" --instance-id "$instance" \
  --query StandardErrorContent --output text)
[[ -n $errors && $errors != None ]] && printf '%s\n' "$errors" >&2

if [[ $status != Success ]]; then
  echo "ssm-run: '$command' on $instance ended $status (command $command_id)" >&2
  failed
fi
