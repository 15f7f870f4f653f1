#!/bin/bash
# Provision one lab node. Shared by the local lab (run over SSH after boot)
# and the Vagrant lab (shell provisioner), so a chapter runs unchanged on
# either. Idempotent: running it twice changes nothing the second time.
#
#   DRILLBOOK_NODE   this node's name (ctl1)
#   DRILLBOOK_HOSTS  one "address name" line per lab node
set -euo pipefail
: "${DRILLBOOK_NODE:?}" "${DRILLBOOK_HOSTS:?}"
export DEBIAN_FRONTEND=noninteractive

# Name resolution between nodes (RabbitMQ, Galera and corosync use names).
{
  echo "127.0.0.1 localhost"
  echo "::1 localhost ip6-localhost ip6-loopback"
  printf '%s\n' "$DRILLBOOK_HOSTS"
} > /etc/hosts.drillbook
if ! cmp -s /etc/hosts.drillbook /etc/hosts; then mv /etc/hosts.drillbook /etc/hosts; else rm -f /etc/hosts.drillbook; fi
if [ "$(hostname)" != "$DRILLBOOK_NODE" ]; then hostnamectl set-hostname "$DRILLBOOK_NODE" 2>/dev/null || hostname "$DRILLBOOK_NODE"; fi

# HAProxy on a backup node must bind a VIP it does not hold yet.
cat > /etc/sysctl.d/60-drillbook.conf <<'SYSCTL'
net.ipv4.ip_nonlocal_bind = 1
SYSCTL
sysctl -q -p /etc/sysctl.d/60-drillbook.conf

# Package lists: the local lab's repository or the VM's mirror.
apt-get -q -o Dpkg::Use-Pty=0 update >/dev/null

mkdir -p /etc/drillbook
echo "provisioned=1 node=$DRILLBOOK_NODE" > /etc/drillbook/provisioned
echo "$DRILLBOOK_NODE provisioned"
