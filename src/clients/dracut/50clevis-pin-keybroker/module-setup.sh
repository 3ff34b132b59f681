#!/bin/bash
# dracut module of the keybroker clevis pin (install:
# /usr/lib/dracut/modules.d/50clevis-pin-keybroker/module-setup.sh). Installs the pin, its
# functions and tools, and asks for the network in the initramfs (rd.neednet=1), which the
# clevis module only does for tang bindings. /etc/keybroker/initramfs.conf is read as by the
# initramfs-tools hook (KEYBROKER_ATTESTERS, KEYBROKER_TPM, KEYBROKER_FILES).

check() {
    require_binaries clevis-decrypt-keybroker jose curl openssl || return 1
    return 0
}

depends() {
    echo clevis network
    return 0
}

install() {
    local KEYBROKER_ATTESTERS="" KEYBROKER_TPM=auto KEYBROKER_FILES="" kb_pin kb_dir kb_attester kb_file kb_tee
    # shellcheck disable=SC1090
    [ -r "${KEYBROKER_CONF:-/etc/keybroker/initramfs.conf}" ] && . "${KEYBROKER_CONF:-/etc/keybroker/initramfs.conf}"

    # shellcheck disable=SC2154 # initdir and hostonly_cmdline are dracut's
    if [ "${hostonly_cmdline:-}" = yes ]; then
        echo "rd.neednet=1" >"${initdir}/etc/cmdline.d/99clevis-pin-keybroker.conf"
    fi

    kb_pin=$(command -v clevis-decrypt-keybroker) || return 1
    kb_dir=${kb_pin%/*}
    inst_simple "$kb_pin"
    inst_simple "$kb_dir/keybroker-functions"
    inst_simple "$kb_dir/keybroker-unlock"
    inst_multiple jose curl openssl od tr cut sed grep head cat mktemp mkfifo date sleep rm rmdir mkdir
    # curl resolves host names through NSS.
    inst_libdir_file "libnss_dns.so.*" "libnss_files.so.*"

    # SEV-SNP and TDX reports through configfs-tsm, or on kernels before 6.7 through the guest
    # drivers' ioctls (keybroker-snp-report, keybroker-tdx-report; vsock for a TDX quote
    # generation service); TPM quotes through tpm2-tools.
    instmods sev-guest sevguest tdx-guest configfs vmw_vsock_virtio_transport
    for kb_tee in snp tdx; do
        [ -x "$kb_dir/keybroker-$kb_tee-report" ] && inst_binary "$kb_dir/keybroker-$kb_tee-report"
    done
    [ -r /etc/tdx-attest.conf ] && inst_simple /etc/tdx-attest.conf
    if [ "$KEYBROKER_TPM" = y ] || { [ "$KEYBROKER_TPM" = auto ] && command -v tpm2_quote >/dev/null 2>&1; }; then
        inst_multiple tpm2_quote tpm2_readpublic tpm2_flushcontext
        inst_libdir_file "libtss2-tcti-device.so*"
        instmods tpm_crb tpm_tis
    fi

    for kb_attester in $KEYBROKER_ATTESTERS; do
        inst_simple "$kb_attester"
    done
    for kb_file in $KEYBROKER_FILES; do
        inst_simple "$kb_file"
    done
}
