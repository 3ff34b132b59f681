/**
 * `keybroker-automata` (POSIX sh, with curl, jose and openssl) against a real keybroker over
 * HTTPS and a fake cvm-agent on 127.0.0.1 that serves collaterals for the nonce in its path,
 * built like the agent's (synthetic: test/generators/automata.ts) on the v2 or the v1 path.
 */
import type { KeyObject } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolve } from 'node:path'
import type { Database } from '../../../src/storage/index.js'
import { buildCollaterals, vcekOf, type AutomataBuild } from '../../generators/automata.js'
import { createSnpPki, type SnpPki } from '../../generators/snp.js'
import { akKeyPair } from '../../generators/tpm.js'
import { testDatabases } from '../../support/databases.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../../support/keybroker.js'
import { missingTools, run, scratch } from '../clevis/tools.js'

const CLIENT = resolve('src/clients/automata/keybroker-automata')
const MEASUREMENT = 'a1'.repeat(48)
const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`

/**
 * A fake cvm-agent: collaterals for the `{nonce}` of its path; records the paths asked. The v2
 * path answers like an Azure agent of 2025-08 on; the v1 path like a 2025-05 agent on AWS,
 * whose AK keybroker knows because an admin registered it (`awsAk`).
 */
interface FakeAgent {
  readonly url: string
  readonly paths: string[]
  readonly awsAk: { privateKey: KeyObject; publicKey: KeyObject }
  /** Build options for the next answers (e.g. another workload). */
  options: Partial<AutomataBuild>
  close(): Promise<void>
}

async function startAgent(pki: SnpPki, vcek: Uint8Array): Promise<FakeAgent> {
  const ak = akKeyPair('rsa')
  const awsAk = akKeyPair('p256')
  const paths: string[] = []
  const agent: { options: Partial<AutomataBuild> } = { options: {} }
  const server: Server = createServer((req, res) => {
    const path = req.url ?? ''
    paths.push(path)
    const m = /^\/(?:offchain\/)?collaterals\/([A-Za-z0-9_-]{1,64})$/.exec(path)
    if (req.method !== 'GET' || m?.[1] === undefined) {
      res.writeHead(404).end('{"error":"not found"}')
      return
    }
    const v2 = path.startsWith('/offchain/')
    buildCollaterals({ tee: 'snp', cloud: v2 ? 'azure' : 'aws', generation: v2 ? 'v2' : 'v1', nonce: m[1], ak: v2 ? ak : awsAk, snp: { pki, vcek }, ...agent.options })
      .then((doc) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(doc)))
      .catch(() => res.writeHead(500).end())
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {
    url: `http://127.0.0.1:${address.port}`,
    paths,
    awsAk,
    get options() {
      return agent.options
    },
    set options(o) {
      agent.options = o
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  }
}

describe('client tools', () => {
  it('are installed', () => {
    expect(missingTools(['curl', 'jose', 'openssl'])).toEqual([])
  })
})

describe.each(testDatabases().slice(0, 1))('keybroker-automata on %s', (engine) => {
  let database: Database
  let kb: TestKeybroker
  let pki: SnpPki
  let agent: FakeAgent
  let tmp: Awaited<ReturnType<typeof scratch>>
  let caFile: string

  beforeAll(async () => {
    pki = await createSnpPki('Milan')
    const vcek = await vcekOf(pki)
    database = await engine.open()
    kb = await startKeybroker(database, {}, undefined, { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] })
    agent = await startAgent(pki, vcek)
    tmp = await scratch('kb-automata-')
    caFile = await tmp.file('ca.pem', kb.server.caPem ?? '')
    expect((await adminCall(kb, 'POST', '/admin/v1/collateral/snp', { certificate: pem(pki.ask.der) + pem(pki.ark.der) })).status).toBe(201)
    const awsAkSpki = agent.awsAk.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/aks', { name: 'aws-vm', publicKey: awsAkSpki })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'automata-img', evidenceType: 'automata', measurements: [MEASUREMENT] })).status).toBe(201)
    for (const [name, value] of [
      ['api-key', 'the api key'],
      ['db-password', 'the db password'],
    ] as const) {
      expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name, value: Buffer.from(value).toString('base64url'), referenceValues: ['automata-img'] })).status).toBe(201)
    }
  }, 60_000)

  afterAll(async () => {
    await agent?.close()
    await kb?.close()
    await database?.close()
    await tmp?.remove()
  })

  const client = (args: string[]) => run(CLIENT, ['--url', kb.url, '--cacert', caFile, '--agent', agent.url, '--timeout', '20', ...args], { timeoutMs: 60_000 })

  it('prints the one secret it asked for; the agent was asked on the v2 path with the agent nonce', async () => {
    agent.paths.length = 0
    const r = await client(['api-key'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.toString()).toBe('the api key')
    expect(agent.paths).toHaveLength(1)
    expect(agent.paths[0]).toMatch(/^\/offchain\/collaterals\/[A-Za-z0-9_-]{43}$/)
  })

  it('--v1 asks /collaterals/{nonce} (v1 binding); --out writes each secret 0600; --token keeps the EAR', async () => {
    agent.paths.length = 0
    const r = await client(['--v1', '--out', tmp.dir, '--token', `${tmp.dir}/ear`, 'api-key', 'db-password'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.byteLength).toBe(0)
    expect(agent.paths[0]).toMatch(/^\/collaterals\/[A-Za-z0-9_-]{43}$/)
    expect(await readFile(`${tmp.dir}/api-key`, 'utf8')).toBe('the api key')
    expect(await readFile(`${tmp.dir}/db-password`, 'utf8')).toBe('the db password')
    expect((await stat(`${tmp.dir}/db-password`)).mode & 0o777).toBe(0o600)
    const ear = decodeJwt((await readFile(`${tmp.dir}/ear`, 'utf8')).trim())
    expect((ear['submods'] as Record<string, Record<string, Record<string, unknown>>>)['automata']?.['ear.veraison.annotated-evidence']?.['binding']).toBe('automata-v1')
  })

  it('--verify prints the EAR of the verdict and releases nothing', async () => {
    const r = await client(['--verify'])
    expect(r.code).toBe(0)
    const ear = decodeJwt(r.stdout.toString().trim())
    expect(ear['ear.status']).toBe('affirming')
  })

  it('a refused workload: exit 1, the failed rule on stderr, nothing on stdout', async () => {
    agent.options = { snp: { pki, vcek: await vcekOf(pki), fields: { measurement: new Uint8Array(48).fill(0x77) } } }
    try {
      const r = await client(['api-key'])
      expect(r.code).toBe(1)
      expect(r.stdout.byteLength).toBe(0)
      expect(r.stderr).toContain('measurement-in-reference-values')
      expect(r.stderr).not.toContain('the api key')
    } finally {
      agent.options = {}
    }
  })

  it('an agent that does not answer: retried, then exit 1 within the timeout; usage errors exit 2', async () => {
    const r = await run(CLIENT, ['--url', kb.url, '--cacert', caFile, '--agent', 'http://127.0.0.1:9', '--timeout', '3', 'api-key'], { timeoutMs: 30_000 })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('agent')
    expect((await run(CLIENT, [])).code).toBe(2)
    expect((await run(CLIENT, ['--url', 'http://x', 'a'])).code).toBe(2)
    expect((await run(CLIENT, ['--url', kb.url, 'a', 'b'])).code).toBe(2)
    expect((await run(CLIENT, ['--url', kb.url, 'bad/name'])).code).toBe(2)
  })
})
