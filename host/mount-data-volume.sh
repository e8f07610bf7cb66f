#!/usr/bin/env bash
# Mounts Sofia's data volume (Docker volumes, backup staging) at a fixed path, formatting it only
# when it carries no filesystem yet. Run by cloud-init at first boot; safe to run again.
#
# The EBS attachment is made after the instance starts, so the device may appear minutes later:
# wait for it rather than fail, and never format a device that already holds data.
set -euo pipefail

usage() { echo "usage: $0 <ebs-volume-id> <mount-point> [timeout-seconds]" >&2; exit 64; }
[[ $# -ge 2 ]] || usage
volume_id=$1
mount_point=$2
timeout=${3:-900}
[[ $volume_id =~ ^vol-[0-9a-f]+$ ]] || { echo "mount-data-volume: '$volume_id' is not an EBS volume id (vol-…)" >&2; exit 64; }

# Nitro instances expose EBS as NVMe and name the volume id (without the dash) in /dev/disk/by-id;
# Xen instances use the attachment's device name.
by_id="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id/-/}"
waited=0
device=""
while [[ -z $device ]]; do
  for candidate in "$by_id" /dev/xvdf /dev/sdf; do
    if [[ -b $candidate ]]; then device=$(readlink -f "$candidate"); break; fi
  done
  if [[ -z $device ]]; then
    if (( waited >= timeout )); then
      echo "mount-data-volume: $volume_id did not appear within ${timeout}s; check the volume attachment in the EC2 console, then rerun $0 $volume_id $mount_point" >&2
      exit 1
    fi
    (( waited % 60 == 0 )) && echo "mount-data-volume: waiting for $volume_id (${waited}s)"
    sleep 5
    waited=$((waited + 5))
  fi
done

if ! blkid -o value -s TYPE "$device" >/dev/null 2>&1; then
  echo "mount-data-volume: $device has no filesystem, creating xfs"
  mkfs.xfs -L sofia-data "$device"
fi

uuid=$(blkid -o value -s UUID "$device")
mkdir -p "$mount_point"
if ! grep -q "UUID=$uuid" /etc/fstab; then
  # nofail: a missing data volume must not stop the host from booting where SSM can reach it.
  echo "UUID=$uuid $mount_point xfs defaults,nofail,noatime 0 2" >> /etc/fstab
fi
if ! mountpoint -q "$mount_point"; then
  mount "$mount_point"
fi
echo "mount-data-volume: $volume_id ($device) mounted at $mount_point"
