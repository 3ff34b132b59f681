#!/bin/sh
# Installs keybroker's boot-time unlock clients from this directory (shipped in the npm package
# under src/clients/):
#
#   sh src/clients/install.sh [--destdir DIR] [--bindir /usr/bin]
#
#   BINDIR/clevis-encrypt-keybroker, clevis-decrypt-keybroker, keybroker-unlock, keybroker-functions
#   /usr/share/initramfs-tools/hooks/keybroker          (if initramfs-tools is there, or --all)
#   /lib/cryptsetup/scripts/keybroker                   (crypttab keyscript=keybroker)
#   /usr/lib/dracut/modules.d/50clevis-pin-keybroker/  (if dracut is there, or --all)
#
# Then rebuild the initramfs (update-initramfs -u, or dracut -f).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
destdir=""
bindir=/usr/bin
all=n
while [ $# -gt 0 ]; do
    case "$1" in
    --destdir) destdir=$2 && shift 2 ;;
    --bindir) bindir=$2 && shift 2 ;;
    --all) all=y && shift ;;
    *)
        echo "usage: install.sh [--destdir DIR] [--bindir DIR] [--all]" >&2
        exit 2
        ;;
    esac
done

put() { # put MODE SOURCE TARGET
    mkdir -p "$destdir$(dirname "$3")"
    cp "$2" "$destdir$3.tmp.$$"
    chmod "$1" "$destdir$3.tmp.$$"
    mv -f "$destdir$3.tmp.$$" "$destdir$3"
    echo "installed $3"
}

put 0755 "$here/clevis/clevis-encrypt-keybroker" "$bindir/clevis-encrypt-keybroker"
put 0755 "$here/clevis/clevis-decrypt-keybroker" "$bindir/clevis-decrypt-keybroker"
put 0755 "$here/clevis/keybroker-unlock" "$bindir/keybroker-unlock"
put 0644 "$here/clevis/keybroker-functions" "$bindir/keybroker-functions"
if [ "$all" = y ] || [ -d /usr/share/initramfs-tools ]; then
    put 0755 "$here/initramfs-tools/hooks/keybroker" /usr/share/initramfs-tools/hooks/keybroker
    put 0755 "$here/initramfs-tools/keyscript" /lib/cryptsetup/scripts/keybroker
fi
if [ "$all" = y ] || [ -d /usr/lib/dracut/modules.d ]; then
    put 0755 "$here/dracut/50clevis-pin-keybroker/module-setup.sh" /usr/lib/dracut/modules.d/50clevis-pin-keybroker/module-setup.sh
fi
