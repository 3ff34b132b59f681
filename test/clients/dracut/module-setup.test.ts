/**
 * The dracut module 50clevis-pin-keybroker, sourced by bash with dracut's helper functions
 * stubbed (recording their arguments): what it installs, what it depends on, and that it asks
 * for the network. Building a real dracut image needs a kernel, which CI does not have.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CLIENTS_DIR, CLEVIS_DIR, run, scratch } from '../clevis/tools.js'

const MODULE = join(CLIENTS_DIR, 'dracut/50clevis-pin-keybroker/module-setup.sh')

const STUBS = String.raw`
log() { printf '%s\n' "$*" >> "$LOG"; }
require_binaries() { log "require_binaries $*"; for b in "$@"; do command -v "$b" >/dev/null || return 1; done; }
inst_simple() { log "inst_simple $*"; [ -e "$1" ]; }
inst_multiple() { log "inst_multiple $*"; }
inst_binary() { log "inst_binary $*"; [ -x "$1" ]; }
inst_libdir_file() { log "inst_libdir_file $*"; }
instmods() { log "instmods $*"; }
`

async function dracut(body: string, env: Record<string, string>) {
  return run('bash', ['-c', `${STUBS}\n. "${MODULE}"\n${body}`], { env })
}

describe('dracut module 50clevis-pin-keybroker', () => {
  it('depends on clevis and network, installs the pin with its tools and asks for the network', async () => {
    const tmp = await scratch('kb-dracut-')
    try {
      const log = `${tmp.dir}/log`
      await run('mkdir', ['-p', `${tmp.dir}/initrd/etc/cmdline.d`])
      const conf = await tmp.file('initramfs.conf', `KEYBROKER_ATTESTERS="${CLEVIS_DIR}/keybroker-unlock"\nKEYBROKER_TPM=y\n`)
      const env = { LOG: log, initdir: `${tmp.dir}/initrd`, hostonly_cmdline: 'yes', KEYBROKER_CONF: conf }
      const r = await dracut('check && echo check=$?; depends; install && echo install=ok', env)
      expect(r.stderr).toBe('')
      expect(r.stdout.toString()).toBe('check=0\nclevis network\ninstall=ok\n')
      const calls = (await run('cat', [log])).stdout.toString()
      expect(calls).toContain(`inst_simple ${CLEVIS_DIR}/clevis-decrypt-keybroker`)
      expect(calls).toContain(`inst_simple ${CLEVIS_DIR}/keybroker-functions`)
      expect(calls).toContain(`inst_simple ${CLEVIS_DIR}/keybroker-unlock`)
      expect(calls).toMatch(/inst_multiple jose curl openssl /)
      expect(calls).toContain('inst_multiple tpm2_quote tpm2_readpublic tpm2_flushcontext')
      expect(calls).toContain('instmods sev-guest sevguest tdx-guest configfs vmw_vsock_virtio_transport')
      const cmdline = await run('cat', [`${tmp.dir}/initrd/etc/cmdline.d/99clevis-pin-keybroker.conf`])
      expect(cmdline.stdout.toString()).toBe('rd.neednet=1\n')
    } finally {
      await tmp.remove()
    }
  })

  it('installs keybroker-snp-report / keybroker-tdx-report found next to the pin (kernels before 6.7)', async () => {
    const tmp = await scratch('kb-dracut-att-')
    try {
      const bin = `${tmp.dir}/bin`
      await run('mkdir', ['-p', bin, `${tmp.dir}/initrd/etc/cmdline.d`])
      for (const f of ['clevis-decrypt-keybroker', 'keybroker-functions', 'keybroker-unlock']) await run('cp', [`${CLEVIS_DIR}/${f}`, bin])
      await run('cp', ['/bin/true', `${bin}/keybroker-snp-report`])
      const log = `${tmp.dir}/log`
      const r = await dracut('install && echo install=ok', { LOG: log, initdir: `${tmp.dir}/initrd`, PATH: `${bin}:${process.env.PATH}`, KEYBROKER_CONF: '/dev/null' })
      expect(r.stdout.toString()).toBe('install=ok\n')
      const calls = (await run('cat', [log])).stdout.toString()
      expect(calls).toContain(`inst_binary ${bin}/keybroker-snp-report`)
      expect(calls).not.toContain('keybroker-tdx-report')
    } finally {
      await tmp.remove()
    }
  })

  it('is not chosen where the pin is not installed', async () => {
    const r = await dracut('check; echo check=$?', { LOG: '/dev/null', PATH: '/usr/bin:/bin' })
    expect(r.stdout.toString()).toBe('check=1\n')
  })
})
