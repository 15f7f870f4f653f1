#!/bin/bash
# Boot one lab node with systemd-nspawn, in its own cgroups, detached.
#   boot-node.sh NAME MACHINE ROOTDIR BRIDGE REPO CONSOLE_LOG CGROUP_NAME
# NAME is the node's host name; MACHINE is unique on this host (two labs
# may both have a ctl1, and nspawn keeps per-machine state under /run).
# The caller records this process's pid; it becomes systemd-nspawn (exec),
# whose only child is the node's PID 1 (systemd).
set -euo pipefail
name=$1 machine=$2 root=$3 bridge=$4 repo=$5 console=$6 cg=$7

# With --keep-unit, nspawn nests the node below its own cgroup; give each
# node its own so two nodes never share one (and memory is accounted per node).
join() { mkdir -p "$1" && echo $$ > "$1/cgroup.procs"; }
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  join "/sys/fs/cgroup/$cg"                                     # cgroup v2 only
else
  [ -d /sys/fs/cgroup/systemd ] && join "/sys/fs/cgroup/systemd/$cg"
  [ -d /sys/fs/cgroup/unified ] && join "/sys/fs/cgroup/unified/$cg"
  if [ -d /sys/fs/cgroup/memory ]; then
    own=$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
    join "/sys/fs/cgroup/memory${own%/}/$cg"
  fi
fi

# Already a session leader (started detached), so exec keeps this pid.
exec systemd-nspawn --boot --directory="$root" --machine="$machine" --hostname="$name" \
  --register=no --keep-unit --console=passive --link-journal=no \
  --network-bridge="$bridge" --capability=CAP_IPC_LOCK,CAP_NET_ADMIN,CAP_NET_RAW,CAP_SYS_RESOURCE \
  --bind-ro="$repo:/srv/drillbook-repo" </dev/null >"$console" 2>&1
