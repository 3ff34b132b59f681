#!/bin/sh
# Installs keybroker's boot-time unlock clients from this directory (shipped in the npm package
# under src/clients/):
#
#   sh src/clients/install.sh [--destdir DIR] [--bindir /usr/bin]
#
#   BINDIR/clevis-encrypt-keybroker, clevis-decrypt-keybroker, keybroker-unlock, keybroker-functions,
#   keybroker-automata (the Automata CVM client)
#   BINDIR/keybroker-snp-report, keybroker-tdx-report  (compiled from attesters/*.c with the C
#       compiler, $CC or cc, when there is one; SEV-SNP and TDX evidence on kernels without
#       configfs-tsm, i.e. before Linux 6.7; --no-attesters skips them)
#   /usr/share/initramfs-tools/hooks/keybroker          (if initramfs-tools is there, or --all)
#   /lib/cryptsetup/scripts/keybroker                   (crypttab keyscript=keybroker)
#   /usr/lib/dracut/modules.d/50clevis-pin-keybroker/  (if dracut is there, or --all)
#   with --jindisk: /usr/share/keybroker/jindisk/getting_key.sh and the initramfs-tools hook
#   /usr/share/initramfs-tools/hooks/keybroker-jindisk (README, "JinDisk")
#
# Then rebuild the initramfs (update-initramfs -u, or dracut -f).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
destdir=""
bindir=/usr/bin
all=n
attesters=y
jindisk=n
while [ $# -gt 0 ]; do
    case "$1" in
    --destdir) destdir=$2 && shift 2 ;;
    --bindir) bindir=$2 && shift 2 ;;
    --all) all=y && shift ;;
    --no-attesters) attesters=n && shift ;;
    --jindisk) jindisk=y && shift ;;
    *)
        echo "usage: install.sh [--destdir DIR] [--bindir DIR] [--all] [--no-attesters] [--jindisk]" >&2
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
put 0755 "$here/automata/keybroker-automata" "$bindir/keybroker-automata"
if [ "$attesters" = y ]; then
    cc=${CC:-cc}
    if command -v "$cc" >/dev/null 2>&1; then
        build=$(mktemp -d)
        trap 'rm -rf "$build"' EXIT
        for tee in snp tdx; do
            # shellcheck disable=SC2086 # CFLAGS is a list of flags
            "$cc" -std=c11 -O2 -Wall -Wextra ${CFLAGS:-} -o "$build/keybroker-$tee-report" "$here/attesters/keybroker-$tee-report.c" ||
                {
                    echo "install.sh: cannot compile keybroker-$tee-report" >&2
                    exit 1
                }
            put 0755 "$build/keybroker-$tee-report" "$bindir/keybroker-$tee-report"
        done
    else
        echo "install.sh: no C compiler ($cc): keybroker-snp-report and keybroker-tdx-report not built;" \
            "SEV-SNP and TDX evidence then needs configfs-tsm (Linux 6.7 or later)" >&2
    fi
fi
if [ "$all" = y ] || [ -d /usr/share/initramfs-tools ]; then
    put 0755 "$here/initramfs-tools/hooks/keybroker" /usr/share/initramfs-tools/hooks/keybroker
    put 0755 "$here/initramfs-tools/keyscript" /lib/cryptsetup/scripts/keybroker
fi
if [ "$all" = y ] || [ -d /usr/lib/dracut/modules.d ]; then
    put 0755 "$here/dracut/50clevis-pin-keybroker/module-setup.sh" /usr/lib/dracut/modules.d/50clevis-pin-keybroker/module-setup.sh
fi
if [ "$jindisk" = y ]; then
    put 0755 "$here/jindisk/getting_key.sh" /usr/share/keybroker/jindisk/getting_key.sh
    put 0755 "$here/jindisk/hook" /usr/share/initramfs-tools/hooks/keybroker-jindisk
fi
