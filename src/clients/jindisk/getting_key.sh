#!/bin/sh
# getting_key.sh for JinDisk (jinzhao-dev/jinzhao-disk, demos/encrypted-vm-image): keybroker's
# replacement of the upstream stub, which prints the fixed password of /sbin/key.example. The
# keybroker-jindisk initramfs hook installs it as /sbin/getting_key.sh, where upstream's
# opening_disk.sh runs it:
#
#   key=`/sbin/getting_key.sh`
#   jindisksetup open ${key} /dev/sda3 jindisk_rootfs
#
# It attests to keybroker (keybroker-unlock: SEV-SNP through configfs-tsm, or /dev/sev-guest
# with keybroker-snp-report on the 5.x kernels JinDisk runs on) and prints the disk password that
# keybroker releases: a secret of kind "luks" whose value is the password string. The password
# reaches jindisksetup unquoted on its command line, so it must be one word of printable ASCII
# without shell pattern characters; anything else is refused here rather than mangled there.
# When keybroker refuses or cannot be reached, the reason is on the console and the password is
# asked for on the console instead. Configuration: /etc/keybroker/unlock.json (url, secret, ca or
# cacert, evidence; keybroker-unlock's), or the file named by KEYBROKER_UNLOCK_CONFIG.
set -u
cfg=${KEYBROKER_UNLOCK_CONFIG:-/etc/keybroker/unlock.json}

if pw=$(keybroker-unlock --print "$cfg"); then
    case "$pw" in
    "" | *[!!-~]* | *[*?[]*)
        echo "getting_key.sh: the password keybroker released is not one word of printable ASCII without * ? [ (jindisksetup takes it on its command line)" >&2
        ;;
    *)
        printf '%s\n' "$pw"
        exit 0
        ;;
    esac
fi
printf 'Please type the JinDisk password: ' >&2
stty -echo 2>/dev/null
pw=""
read -r pw || pw=""
stty echo 2>/dev/null
echo >&2
[ -n "$pw" ] || exit 1
printf '%s\n' "$pw"
