#!/bin/bash
# Build the local lab's base image and its apt repository.
#
#   BASE     directory for the Debian 12 root filesystem (created)
#   REPO     directory for the flat apt repository (created)
#   MIRROR   Debian mirror URL, taken from the host's own apt configuration
#   SECURITY_MIRROR  Debian security mirror URL (may be empty)
#   PACKAGES file listing the packages whose closure goes into REPO
#
# Prints "::phase NAME" when a phase starts and "::total COUNT BYTES" before
# the package download, so the caller can show progress. Runs as root.
set -euo pipefail
: "${BASE:?}" "${REPO:?}" "${MIRROR:?}" "${PACKAGES:?}"
SECURITY_MIRROR=${SECURITY_MIRROR:-}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# systemd-nspawn only cleans up propagation dirs on tmpfs (/run is on disk on some hosts).
mkdir -p /run/systemd/nspawn
mountpoint -q /run/systemd/nspawn || mount -t tmpfs -o mode=755 drillbook-nspawn /run/systemd/nspawn
in_base() { systemd-nspawn -q --register=no --keep-unit --pipe -D "$BASE" "$@"; }

echo "::phase debootstrap"
rm -rf "$BASE.tmp"
debootstrap --include=openssh-server,dbus,iproute2,iputils-ping,curl,ca-certificates,python3,sudo,less,procps,psmisc,gnupg,netcat-openbsd,systemd-sysv,libpam-systemd,apt-utils,kmod \
  bookworm "$BASE.tmp" "$MIRROR"
rm -rf "$BASE"
mv "$BASE.tmp" "$BASE"

echo "::phase upgrade"
{
  echo "deb $MIRROR bookworm main"
  echo "deb $MIRROR bookworm-updates main"
  if [ -n "$SECURITY_MIRROR" ]; then echo "deb $SECURITY_MIRROR bookworm-security main"; fi
} > "$BASE/etc/apt/sources.list"
# Throwaway nodes: no fsync per package.
echo force-unsafe-io > "$BASE/etc/dpkg/dpkg.cfg.d/drillbook-unsafe-io"
in_base sh -c 'apt-get -q update && apt-get -y -q upgrade'

echo "::phase resolve"
grep -v '^\s*#' "$PACKAGES" | xargs > "$BASE/root/drillbook-packages"
# The closure is computed inside the base, against its own dpkg status.
# shellcheck disable=SC2016 # expanded inside the base, not here
in_base sh -c 'apt-get -qq -y install --print-uris $(cat /root/drillbook-packages)' > "$BASE/root/drillbook-uris"
count=$(grep -c "^'" "$BASE/root/drillbook-uris" || true)
bytes=$(awk "/^'/ { s += \$3 } END { print s + 0 }" "$BASE/root/drillbook-uris")
echo "::total $count $bytes"

echo "::phase download"
# shellcheck disable=SC2016 # expanded inside the base, not here
in_base sh -c 'apt-get -y install --download-only $(cat /root/drillbook-packages)'

echo "::phase index"
rm -rf "$REPO.tmp"
mkdir -p "$REPO.tmp"
mv "$BASE"/var/cache/apt/archives/*.deb "$REPO.tmp"/
(cd "$REPO.tmp" && apt-ftparchive packages . > Packages && gzip -9kf Packages && apt-ftparchive release . > Release)
rm -rf "$REPO"
mv "$REPO.tmp" "$REPO"

echo "::phase finalize"
# Nodes install from the repository, bind-mounted read-only at /srv/drillbook-repo.
echo 'deb [trusted=yes] file:/srv/drillbook-repo ./' > "$BASE/etc/apt/sources.list"
rm -rf "$BASE"/var/lib/apt/lists/* "$BASE/root/drillbook-packages" "$BASE/root/drillbook-uris"
mkdir -p "$BASE/var/lib/apt/lists/partial"
rm -f "$BASE"/etc/ssh/ssh_host_*
: > "$BASE/etc/machine-id"
W=$BASE/etc/systemd/system
mkdir -p "$W/multi-user.target.wants" "$W/sockets.target.wants" "$W/network-online.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.service "$W/multi-user.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.socket "$W/sockets.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$W/network-online.target.wants/"
echo "::phase done"
