#!/bin/sh
# krb5kdc.sh DIR puts MIT Kerberos' KDC programs (krb5kdc, kdb5_util,
# kadmin.local and the db2 database module) and kinit under DIR, for the
# lab's KDC (lab/kdc.go), without installing the krb5-kdc package:
#
#   Debian's krb5-kdc depends on krb5-config, whose postinst writes this
#   machine's /etc/krb5.conf (every Kerberos client here would then read
#   it), and krb5-kdc's own postinst writes /etc/krb5kdc/kdc.conf and
#   ships a service. So the packages that hold the programs are
#   downloaded with apt-get download and unpacked with dpkg-deb -x into
#   DIR; no maintainer script runs and nothing under /etc changes. The
#   libraries they link against (libkdb5-10, libkadm5srv-mit12,
#   libgssrpc4, libverto-libev1) hold only shared objects and are
#   installed normally by scripts/deps.sh (the Makefile's DEPS).
#
# Idempotent: it does nothing when DIR already holds the programs of the
# candidate version.
set -eu
dir=${1:?usage: krb5kdc.sh DIR}
version=$(apt-cache policy krb5-kdc | sed -n 's/^ *Candidate: *//p')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
	echo "krb5kdc.sh: apt knows no krb5-kdc package (apt-get update?)" >&2
	exit 1
fi
if [ -x "$dir/usr/sbin/krb5kdc" ] && [ -x "$dir/usr/sbin/kadmin.local" ] && [ -x "$dir/usr/bin/kinit" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$version" ]; then
	# Nothing unpacked here may run with another user's rights (ksu).
	find "$dir" -perm /6000 -type f -exec chmod ug-s {} +
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# _apt cannot write into a root-owned mktemp directory; let it.
chmod 0777 "$tmp"
(cd "$tmp" && apt-get download -qq "krb5-kdc=$version" "krb5-admin-server=$version" "krb5-user=$version")
rm -rf "$dir.new"
mkdir -p "$dir.new"
for deb in "$tmp"/*.deb; do
	dpkg-deb -x "$deb" "$dir.new"
done
# The service files and init scripts are of no use here; drop them so
# that nothing in DIR looks like something to enable.
rm -rf "$dir.new/etc" "$dir.new/lib/systemd"
# Nothing unpacked here may run with another user's rights (ksu).
find "$dir.new" -perm /6000 -type f -exec chmod ug-s {} +
echo "$version" >"$dir.new/VERSION"
rm -rf "$dir"
mv "$dir.new" "$dir"
echo "krb5kdc.sh: MIT KDC $version in $dir"
