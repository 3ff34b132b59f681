/**
 * The initramfs-tools hook with initramfs-tools' real hook functions (copy_exec resolves the
 * libraries): install.sh puts the clients in place, the hook fills an initramfs tree, and —
 * as root — the pin and the crypttab keyscript then run inside that tree (chroot, dash as
 * /bin/sh, nothing else from the host) against keybroker, proving the hook copies everything
 * they need.
 */
import { access, chmod, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../../src/storage/index.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { requireWhen } from '../../support/required.js'
import { CLIENTS_DIR, run, SAMPLE_ATTESTER, scratch } from '../clevis/tools.js'

const GOOD = 'c1'.repeat(48)
const IS_ROOT = requireWhen('KEYBROKER_TEST_REQUIRE_ROOT', 'root (the chroot unlock)', process.getuid?.() === 0)
const HOOK_FUNCTIONS = '/usr/share/initramfs-tools/hook-functions'

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

describe.each(testDatabases())('initramfs-tools hook on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let tmp: Awaited<ReturnType<typeof scratch>>
  let root: string
  let initrd: string
  let hook: Awaited<ReturnType<typeof run>>

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database)
    tmp = await scratch('kb-initramfs-')
    root = join(tmp.dir, 'root')
    initrd = join(tmp.dir, 'initrd')
    expect((await run('sh', [join(CLIENTS_DIR, 'install.sh'), '--destdir', root, '--all'])).code).toBe(0)
    // The merged-/usr layout mkinitramfs creates before it runs hooks.
    expect((await run('mkdir', ['-p', ...['bin', 'lib', 'lib64', 'sbin'].map((d) => join(initrd, 'usr', d))])).code).toBe(0)
    for (const d of ['bin', 'lib', 'lib64', 'sbin']) expect((await run('ln', ['-s', `usr/${d}`, join(initrd, d)])).code).toBe(0)
    const conf = await tmp.file('initramfs.conf', `KEYBROKER_ATTESTERS="${SAMPLE_ATTESTER}"\n`)
    hook = await run('sh', [join(root, 'usr/share/initramfs-tools/hooks/keybroker')], {
      env: {
        PATH: `${root}/usr/bin:${process.env.PATH}`,
        DESTDIR: initrd,
        verbose: 'n',
        version: '0.0.0-none',
        MODULESDIR: join(tmp.dir, 'no-modules'),
        KEYBROKER_CONF: conf,
        KEYBROKER_KEYSCRIPT: join(root, 'lib/cryptsetup/scripts/keybroker'),
      },
      // copy_exec resolves every library with ldd: tens of seconds on a loaded machine.
      timeoutMs: 240_000,
    })
  }, 600_000)

  afterAll(async () => {
    await kb?.close()
    await database?.close()
    await tmp?.remove()
  })

  it('install.sh installs the clients with their modes', async () => {
    for (const [path, mode] of [
      ['usr/bin/clevis-encrypt-keybroker', 0o755],
      ['usr/bin/clevis-decrypt-keybroker', 0o755],
      ['usr/bin/keybroker-unlock', 0o755],
      ['usr/bin/keybroker-functions', 0o644],
      ['usr/bin/keybroker-snp-report', 0o755],
      ['usr/bin/keybroker-tdx-report', 0o755],
      ['usr/bin/keybroker-automata', 0o755],
      ['usr/share/initramfs-tools/hooks/keybroker', 0o755],
      ['lib/cryptsetup/scripts/keybroker', 0o755],
      ['usr/lib/dracut/modules.d/50clevis-pin-keybroker/module-setup.sh', 0o755],
    ] as const) {
      expect(((await stat(join(root, path))).mode & 0o777).toString(8), path).toBe(mode.toString(8))
    }
    // The installed Automata client finds keybroker-functions beside it (its messages come from there).
    const automata = await run(join(root, 'usr/bin/keybroker-automata'), ['--url', 'http://not-https', 'x'])
    expect(automata.code).toBe(2)
    expect(automata.stderr).toContain('keybroker-automata: --url')
  })

  it('copies the pin, the keyscript, their tools and libraries, and the named attesters', async () => {
    expect(await exists(HOOK_FUNCTIONS)).toBe(true)
    expect(hook.stderr).toBe('')
    expect(hook.code).toBe(0)
    for (const path of [
      `${root}/usr/bin/clevis-decrypt-keybroker`,
      `${root}/usr/bin/keybroker-unlock`,
      `${root}/usr/bin/keybroker-functions`,
      `${root}/usr/bin/keybroker-snp-report`,
      `${root}/usr/bin/keybroker-tdx-report`,
      'usr/lib/cryptsetup/scripts/keybroker',
      'usr/bin/jose',
      'usr/bin/curl',
      'usr/bin/openssl',
      'usr/sbin/cryptsetup',
      'usr/bin/od',
      'etc/nsswitch.conf',
      SAMPLE_ATTESTER,
    ]) {
      expect(await exists(join(initrd, path)), path).toBe(true)
    }
    const libs = (await run('find', [initrd, '-name', 'libjose.so*'])).stdout.toString()
    expect(libs).toMatch(/libjose\.so/)
  })

  describe.skipIf(!IS_ROOT)('inside the initramfs tree (chroot; needs root)', () => {
    let thp: string
    let caPem: string

    beforeAll(async () => {
      // What the rest of initramfs-tools would add: a shell, /dev/null and /tmp.
      const shell = await run('sh', ['-c', `. ${HOOK_FUNCTIONS}; copy_exec /usr/bin/dash /bin/sh`], {
        env: { DESTDIR: initrd, verbose: 'n' },
      })
      expect(shell.code).toBe(0)
      expect((await run('mkdir', ['-p', join(initrd, 'tmp'), join(initrd, 'dev')])).code).toBe(0)
      expect((await run('mknod', ['-m', '666', join(initrd, 'dev/null'), 'c', '1', '3'])).code).toBe(0)
      await chmod(join(initrd, 'tmp'), 0o1777)
      caPem = kb.server.caPem ?? ''
      thp = ((JSON.parse((await kb.raw('GET', '/.well-known/jwks.json')).body) as { keys: JWK[] }).keys[0]?.kid ?? '')
      expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'vm', measurements: [GOOD] })).status).toBe(201)
      expect((await adminCall(kb, 'POST', '/admin/v1/sealing-keys', { name: 'root', referenceValues: ['vm'] })).status).toBe(201)
    })

    const chroot = (cmd: string[], input: string | Buffer, env: Record<string, string> = {}) =>
      run('chroot', [initrd, ...cmd], {
        input,
        env: { PATH: `/usr/sbin:/usr/bin:/bin:${root}/usr/bin`, KB_TEST_MEASUREMENT: GOOD, ...env },
      })

    it('the clevis pin unlocks with only what the hook copied', async () => {
      const ca = await tmp.file('ca.pem', caPem)
      const cfg = JSON.stringify({ url: kb.url, key: 'root', thp, cacert: ca, evidence: 'command', attester: SAMPLE_ATTESTER })
      const enc = await run('clevis', ['encrypt', 'keybroker', cfg], { input: 'root disk passphrase' })
      expect(enc.code).toBe(0)
      const dec = await chroot([`${root}/usr/bin/clevis-decrypt-keybroker`], enc.stdout)
      expect(dec.stderr).toBe('')
      expect(dec.code).toBe(0)
      expect(dec.stdout.toString()).toBe('root disk passphrase')
    })

    it('the crypttab keyscript prints the released LUKS key, and falls back to the passphrase prompt', async () => {
      const key = Buffer.from('0123456789abcdef0123456789abcdef\u0000\u00ff', 'latin1')
      expect(
        (await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'luks-root', kind: 'luks', value: key.toString('base64url'), referenceValues: ['vm'] }))
          .status,
      ).toBe(201)
      const cfg = JSON.stringify({ url: kb.url, secret: 'luks-root', ca: caPem, evidence: 'command', attester: SAMPLE_ATTESTER })
      await run('mkdir', ['-p', join(initrd, 'etc/keybroker')])
      await run('sh', ['-c', `cat > ${join(initrd, 'etc/keybroker/unlock.json')}`], { input: cfg })
      const keyscript = '/usr/lib/cryptsetup/scripts/keybroker'
      const ok = await chroot([keyscript, '/etc/keybroker/unlock.json'], '', { CRYPTTAB_NAME: 'root', CRYPTTAB_TRIED: '0' })
      expect(ok.stderr).toBe('')
      expect(ok.code).toBe(0)
      expect(ok.stdout.equals(key)).toBe(true)

      const refused = await chroot([keyscript, '/etc/keybroker/unlock.json'], 'typed passphrase\n', {
        CRYPTTAB_NAME: 'root',
        CRYPTTAB_TRIED: '0',
        KB_TEST_MEASUREMENT: 'e3'.repeat(48),
      })
      expect(refused.stderr).toContain('measurement-in-reference-values')
      expect(refused.stderr).toContain('Please unlock disk root')
      expect(refused.stdout.toString()).toBe('typed passphrase')
    })
  })

  it('refuses an attester that is not an absolute path', async () => {
    const conf = await tmp.file('bad.conf', 'KEYBROKER_ATTESTERS="relative/attester"\n')
    const bad = await run('sh', [join(root, 'usr/share/initramfs-tools/hooks/keybroker')], {
      env: { PATH: `${root}/usr/bin:${process.env.PATH}`, DESTDIR: join(tmp.dir, 'other'), verbose: 'n', KEYBROKER_CONF: conf },
      timeoutMs: 240_000,
    })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/not an absolute path/)
  }, 300_000)
})
