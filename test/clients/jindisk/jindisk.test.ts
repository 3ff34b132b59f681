/**
 * JinDisk's initramfs unlock with keybroker: getting_key.sh prints the password keybroker
 * releases (a `luks` secret whose value is the password string), and a stand-in of JinDisk's
 * opening_disk.sh hands it to a fake jindisksetup that checks it. Evidence: sample (the test
 * attester) and simulated SEV-SNP (keybroker-snp-report under the LD_PRELOAD shim with
 * synthetic reports; no SEV-SNP guest in CI). The keybroker hook with KEYBROKER_TARGET=jindisk
 * and the keybroker-jindisk hook build an initramfs tree without cryptsetup, replacing the
 * upstream stub and its fixed password; as root, the unlock then runs inside that tree (chroot).
 */
import { readFile, readdir, symlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../../src/storage/index.js'
import type { SnpPki } from '../../generators/snp.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { requireWhen } from '../../support/required.js'
import { DriverEmulator, sevGuest, shimEnv, useSnpGuest, type BuiltAttesters, type SnpGuest } from '../attesters/driver.js'
import { CLEVIS_DIR, CLIENTS_DIR, run, SAMPLE_ATTESTER } from '../clevis/tools.js'

const JINDISK_DIR = join(CLIENTS_DIR, 'jindisk')
const FIXTURES = resolve('test/clients/jindisk/fixtures')
const PASSWORD = 'jd-Passw0rd.2026'
const SAMPLE_MEASUREMENT = 'c1'.repeat(48)
const SNP_MEASUREMENT = 'a1'.repeat(48)
const IS_ROOT = requireWhen('KEYBROKER_TEST_REQUIRE_ROOT', 'root (the chroot unlock)', process.getuid?.() === 0)
const HOOK_FUNCTIONS = '/usr/share/initramfs-tools/hook-functions'

const guest = useSnpGuest('kb-jindisk-')
let tmp: SnpGuest['tmp']
let built: BuiltAttesters
let driver: DriverEmulator
let pki: SnpPki
let hostCerts: Uint8Array

beforeAll(async () => {
  ;({ tmp, built, driver, pki, hostCerts } = guest)
})

describe.each(testDatabases())('JinDisk getting_key.sh with keybroker on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let caPem: string

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] })
    caPem = kb.server.caPem ?? ''
    // The recipe: the image's measurements, and the password as a luks secret bound to them.
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'jindisk-image', measurements: [SAMPLE_MEASUREMENT, SNP_MEASUREMENT] })).status).toBe(201)
    const secret = { name: 'jindisk-root', kind: 'luks', value: Buffer.from(PASSWORD).toString('base64url'), referenceValues: ['jindisk-image'] }
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', secret)).status).toBe(201)
    const spaced = { name: 'jindisk-spaced', kind: 'luks', value: Buffer.from('two words').toString('base64url'), referenceValues: ['jindisk-image'] }
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', spaced)).status).toBe(201)
  })

  afterAll(async () => {
    await kb?.close()
    await database?.close()
  })

  /** opening_disk.sh → getting_key.sh → keybroker-unlock → jindisksetup, outside an initramfs. */
  async function openDisk(config: Record<string, unknown>, env: Record<string, string> = {}, input = '') {
    const cfg = await tmp.file(`unlock-${engine.kind}.json`, JSON.stringify({ url: kb.url, ca: caPem, ...config }))
    const log = join(tmp.dir, `jindisksetup-${engine.kind}.log`)
    await writeFile(log, '')
    const r = await run('sh', [join(FIXTURES, 'opening_disk.sh')], {
      input,
      env: {
        PATH: `${FIXTURES}:${CLEVIS_DIR}:${built.dir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
        JD_SBIN: JINDISK_DIR,
        JD_LOG: log,
        JD_EXPECT_PASSWORD: PASSWORD,
        KEYBROKER_UNLOCK_CONFIG: cfg,
        KEYBROKER_TSM_ROOT: join(tmp.dir, 'no-configfs-tsm'),
        ...env,
      },
      timeoutMs: 120_000,
    })
    return { ...r, log: await readFile(log, 'utf8') }
  }

  it('sample evidence: jindisksetup receives the released password', async () => {
    const r = await openDisk({ secret: 'jindisk-root', evidence: 'command', attester: SAMPLE_ATTESTER }, { KB_TEST_MEASUREMENT: SAMPLE_MEASUREMENT })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.log).toBe('opened /dev/sda3 as jindisk_rootfs\n')
  })

  it('simulated SEV-SNP through /dev/sev-guest (JinDisk’s 5.x kernels have no configfs-tsm): jindisksetup receives the password', async () => {
    driver.reset(sevGuest({ pki, hostCerts }))
    const r = await openDisk({ secret: 'jindisk-root', evidence: 'snp' }, shimEnv(built, driver))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.log).toBe('opened /dev/sda3 as jindisk_rootfs\n')
    expect(driver.ioctls()).toHaveLength(1)
  })

  it('an unregistered image gets no password: the refusal names the rule, the console is asked, jindisksetup is not opened', async () => {
    driver.reset(sevGuest({ pki, hostCerts, report: { measurement: new Uint8Array(48).fill(0x77) } }))
    const r = await openDisk({ secret: 'jindisk-root', evidence: 'snp' }, shimEnv(built, driver))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('measurement-in-reference-values')
    expect(r.stderr).toContain('Please type the JinDisk password')
    expect(r.log).not.toContain('opened')

    // A password typed on the console still opens the disk.
    const typed = await openDisk({ secret: 'jindisk-root', evidence: 'snp' }, shimEnv(built, driver), `${PASSWORD}\n`)
    expect(typed.code).toBe(0)
    expect(typed.log).toBe('opened /dev/sda3 as jindisk_rootfs\n')
  })

  it('a password that is not one shell word is refused rather than split on jindisksetup’s command line', async () => {
    const r = await openDisk({ secret: 'jindisk-spaced', evidence: 'command', attester: SAMPLE_ATTESTER }, { KB_TEST_MEASUREMENT: SAMPLE_MEASUREMENT })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/not one word of printable ASCII/)
    expect(r.stderr).not.toContain('two words')
    expect(r.log).not.toContain('opened')
  })

  describe('the initramfs-tools hooks (KEYBROKER_TARGET=jindisk, no cryptsetup on the build machine)', () => {
    let root: string
    let initrd: string
    let noCryptsetup: string
    let hookEnv: Record<string, string>
    const hookRuns: Awaited<ReturnType<typeof run>>[] = []

    beforeAll(async () => {
      const base = join(tmp.dir, `hooks-${engine.kind}`)
      root = join(base, 'root')
      initrd = join(base, 'initrd')
      noCryptsetup = join(base, 'bin')
      expect((await run('sh', [join(CLIENTS_DIR, 'install.sh'), '--destdir', root, '--all', '--jindisk'])).code).toBe(0)
      expect((await run('mkdir', ['-p', noCryptsetup, ...['bin', 'lib', 'lib64', 'sbin'].map((d) => join(initrd, 'usr', d))])).code).toBe(0)
      for (const d of ['bin', 'lib', 'lib64', 'sbin']) await symlink(`usr/${d}`, join(initrd, d))
      // The build machine's tools without cryptsetup, plus the (fake) jindisksetup.
      for (const dir of ['/usr/bin', '/usr/sbin']) {
        for (const name of await readdir(dir)) {
          if (!name.startsWith('cryptsetup')) await symlink(join(dir, name), join(noCryptsetup, name)).catch(() => undefined)
        }
      }
      await symlink(join(FIXTURES, 'jindisksetup'), join(noCryptsetup, 'jindisksetup'))
      // What upstream's hook-add-executables has put there before: its stub and fixed password.
      await writeFile(join(initrd, 'usr/sbin/getting_key.sh'), '#!/bin/sh\ncat /sbin/key.example\n', { mode: 0o755 })
      await writeFile(join(initrd, 'usr/sbin/key.example'), '2333\n')
      hookEnv = {
        PATH: `${root}/usr/bin:${noCryptsetup}`,
        DESTDIR: initrd,
        verbose: 'n',
        version: '0.0.0-none',
        MODULESDIR: join(base, 'no-modules'),
        KEYBROKER_KEYSCRIPT: join(root, 'lib/cryptsetup/scripts/keybroker'),
        KEYBROKER_JINDISK_GETTING_KEY: join(root, 'usr/share/keybroker/jindisk/getting_key.sh'),
      }
      const conf = await tmp.file(`initramfs-${engine.kind}.conf`, `KEYBROKER_TARGET=jindisk\nKEYBROKER_ATTESTERS="${SAMPLE_ATTESTER}"\n`)
      for (const hook of ['keybroker', 'keybroker-jindisk']) {
        hookRuns.push(await run('sh', [join(root, 'usr/share/initramfs-tools/hooks', hook)], { env: { ...hookEnv, KEYBROKER_CONF: conf }, timeoutMs: 240_000 }))
      }
    }, 600_000)

    it('install.sh --jindisk installs getting_key.sh and the keybroker-jindisk hook', async () => {
      expect(await readFile(join(root, 'usr/share/keybroker/jindisk/getting_key.sh'), 'utf8')).toBe(await readFile(join(JINDISK_DIR, 'getting_key.sh'), 'utf8'))
      expect(await readFile(join(root, 'usr/share/initramfs-tools/hooks/keybroker-jindisk'), 'utf8')).toBe(await readFile(join(JINDISK_DIR, 'hook'), 'utf8'))
    })

    it('without KEYBROKER_TARGET=jindisk the keybroker hook requires cryptsetup', async () => {
      const luks = await run('sh', [join(root, 'usr/share/initramfs-tools/hooks/keybroker')], {
        env: { ...hookEnv, DESTDIR: join(tmp.dir, `other-${engine.kind}`), KEYBROKER_CONF: '/dev/null' },
        timeoutMs: 240_000,
      })
      expect(luks.code).toBe(1)
      expect(luks.stderr).toMatch(/cryptsetup not found/)
    }, 300_000) // copy_exec resolves every library with ldd: tens of seconds on a loaded machine

    it('with it, both hooks build the tree: keybroker’s getting_key.sh, jindisksetup, the attesters; no stub password, no cryptsetup', async () => {
      for (const r of hookRuns) {
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
      }
      expect(await readFile(join(initrd, 'usr/sbin/getting_key.sh'), 'utf8')).toBe(await readFile(join(JINDISK_DIR, 'getting_key.sh'), 'utf8'))
      const listing = (await run('find', [initrd])).stdout.toString()
      expect(listing).not.toMatch(/key\.example/)
      expect(listing).not.toMatch(/cryptsetup/)
      for (const path of ['usr/sbin/jindisksetup', `${root}/usr/bin/keybroker-unlock`, `${root}/usr/bin/keybroker-snp-report`, 'usr/bin/jose', 'usr/bin/curl', SAMPLE_ATTESTER]) {
        expect(listing, path).toContain(join(initrd, path))
      }
    })

    describe.skipIf(!IS_ROOT)('inside the initramfs tree (chroot; needs root)', () => {
      beforeAll(async () => {
        // What the rest of initramfs-tools would add, the opening_disk.sh stand-in, and the shim at
        // its own path (LD_PRELOAD applies to the host's chroot command too).
        const setup = await run(
          'sh',
          ['-c', `. ${HOOK_FUNCTIONS}; copy_exec /usr/bin/dash /bin/sh && copy_exec ${built.shim} && copy_exec ${FIXTURES}/opening_disk.sh /sbin/opening_disk.sh`],
          { env: { DESTDIR: initrd, verbose: 'n' } },
        )
        expect(setup.code, setup.stderr).toBe(0)
        expect((await run('mkdir', ['-p', join(initrd, 'tmp'), join(initrd, 'dev'), join(initrd, 'run'), join(initrd, 'etc/keybroker')])).code).toBe(0)
        expect((await run('mknod', ['-m', '666', join(initrd, 'dev/null'), 'c', '1', '3'])).code).toBe(0)
        await run('chmod', ['1777', join(initrd, 'tmp')])
      })

      async function bootUnlock(config: Record<string, unknown>, env: Record<string, string>) {
        await writeFile(join(initrd, 'etc/keybroker/unlock.json'), JSON.stringify({ url: kb.url, secret: 'jindisk-root', ca: caPem, ...config }))
        await writeFile(join(initrd, 'tmp/jindisksetup.log'), '')
        const r = await run('chroot', [initrd, '/sbin/opening_disk.sh'], {
          env: { PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${root}/usr/bin`, JD_EXPECT_PASSWORD: PASSWORD, ...env },
          timeoutMs: 120_000,
        })
        return { ...r, log: await readFile(join(initrd, 'tmp/jindisksetup.log'), 'utf8') }
      }

      it('sample evidence: the stand-in opening_disk.sh opens the disk with only what the hooks copied', async () => {
        const r = await bootUnlock({ evidence: 'command', attester: SAMPLE_ATTESTER }, { KB_TEST_MEASUREMENT: SAMPLE_MEASUREMENT })
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
        expect(r.log).toBe('opened /dev/sda3 as jindisk_rootfs\n')
      })

      it('simulated SEV-SNP: keybroker-snp-report in the tree asks /dev/sev-guest; the disk opens', async () => {
        // The emulator's socket must be inside the tree: a second one, under /run.
        const inner = await DriverEmulator.start(join(initrd, 'run'))
        try {
          inner.reset(sevGuest({ pki, hostCerts }))
          const r = await bootUnlock({ evidence: 'snp' }, { LD_PRELOAD: built.shim, KB_SHIM_SOCKET: '/run/driver.sock' })
          expect(r.stderr).toBe('')
          expect(r.code).toBe(0)
          expect(r.log).toBe('opened /dev/sda3 as jindisk_rootfs\n')
          expect(inner.ioctls()).toHaveLength(1)
        } finally {
          await inner.close()
        }
      })
    })
  })
})
