/**
 * Pull verification and provisioning of a Cosmian VM end to end, on both databases: keybroker
 * (HTTPS) pulls from a fake Cosmian agent (test/support/fake-cosmian-agent.ts: HTTPS on 127.0.0.1
 * with its own certificate), verifies against the imported snapshot of test/vectors/cosmian, and
 * pushes a secret to `/app/init` over the attested connection.
 *
 * The agent's IMA list is the real list the snapshot was made from; its TEE and TPM quotes are
 * synthetic (test SNP PKI, test AK), because no real quote carries keybroker's fresh nonce and
 * the fake agent's certificate hash. The report carries the snapshot's TEE fields.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toBase64Url } from '../../src/evidence/reader.js'
import { createLogger } from '../../src/log/logger.js'
import { CosmianAgentClient } from '../../src/services/cosmian/agent-client.js'
import { computeKeylessBinding } from '../../src/tokens/index.js'
import { KeybrokerClientError } from '../../src/clients/index.js'
import { loadOrCreateDevCertificate } from '../../src/server/dev-certificate.js'
import type { Database } from '../../src/storage/index.js'
import { testAk } from '../generators/cosmian.js'
import { createSnpPki, issueEndorsement, type SnpPki } from '../generators/snp.js'
import { encodePublic } from '../generators/tpm.js'
import { testDatabases } from '../support/databases.js'
import { startFakeCosmianAgent, type AgentTls, type FakeCosmianAgent } from '../support/fake-cosmian-agent.js'
import { adminCall, startKeybroker, type TestKeybroker } from '../support/keybroker.js'

const SNAPSHOT = JSON.parse(readFileSync(new URL('../vectors/cosmian/snapshot.derived.json', import.meta.url), 'utf8')) as Record<string, any>
const SEV = SNAPSHOT['tee_policy'].Sev
const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64')
const SECRET = 'db_password = "s3cret"\n'
const BIN = fileURLToPath(new URL('../../bin/keybroker.js', import.meta.url))

/** The compiled CLI, asynchronously: the service under test runs in this process. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

let pki: SnpPki
let vcek: Uint8Array
let tlsA: AgentTls
let tlsB: AgentTls
let tmp: string
const ak = testAk()

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kb-cosmian-agent-'))
  ;[pki, tlsA, tlsB] = await Promise.all([createSnpPki('Milan'), loadOrCreateDevCertificate(join(tmp, 'a'), 'agent-a'), loadOrCreateDevCertificate(join(tmp, 'b'), 'agent-b')])
  vcek = await issueEndorsement(pki)
}, 60_000)
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe.each(testDatabases())('Cosmian VM pull verification and provisioning on %s', { timeout: 120_000 }, (engine) => {
  let database: Database
  let kb: TestKeybroker
  let agent: FakeCosmianAgent
  const lines: string[] = []
  const verify = (body: unknown = { agentUrl: agent.url, referenceValues: ['cvm'] }) => adminCall(kb, 'POST', '/admin/v1/cosmian/verifications', body)
  const provision = (secret = 'app-conf') => adminCall(kb, 'POST', '/admin/v1/cosmian/provisions', { agentUrl: agent.url, referenceValues: ['cvm'], secret })

  beforeAll(async () => {
    database = await engine.open()
    kb = await startKeybroker(database, {}, createLogger('debug', (l) => lines.push(l)), { snpArks: [{ product: 'Milan', spkiSha256: pki.arkSpkiSha256 }] })
    agent = await startFakeCosmianAgent({
      pki,
      vcek,
      ak,
      tls: tlsA,
      report: {
        measurement: hex(SEV.measurement),
        familyId: hex(SEV.family_id),
        imageId: hex(SEV.image_id),
        guestSvn: SEV.guest_svn,
        idKeyDigest: hex(SEV.id_key_digest),
        authorKeyDigest: hex(SEV.author_key_digest),
        policy: BigInt(SEV.policy),
      },
      resetCount: SNAPSHOT['tpm_policy'].reset_count,
    })
    expect((await adminCall(kb, 'POST', '/admin/v1/tpm/aks', { name: 'cvm-ak', publicKey: Buffer.from(encodePublic(ak.publicKey)).toString('base64') })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/bundles', { cosmianSnapshot: SNAPSHOT, name: 'cvm' })).status).toBe(200)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'app-conf', value: toBase64Url(Buffer.from(SECRET)), referenceValues: ['cvm'] })).status).toBe(201)
  }, 120_000)

  afterAll(async () => {
    await agent?.close()
    await kb?.close()
    await database?.close()
  })

  it('verifies the agent against the snapshot: EAR affirming, binding cosmian-agent to the pinned certificate, the report', async () => {
    agent.misbehave = {}
    const res = await verify()
    expect(res.status).toBe(200)
    expect(res.body.passed).toBe(true)
    expect(res.body.report).toMatchObject({
      agent: { url: agent.url, certificateSha256: createHash('sha256').update(derOf(tlsA.cert)).digest('hex') },
      binding: 'cosmian-agent',
      evidence: { evidenceType: 'cosmian', quoteLayout: 'bincode-v1', teeTpmTie: 'registered-ak', ak: { trust: 'registered', name: 'cvm-ak' }, tpm: { resetCount: 25, restartCount: 0 } },
    })
    expect(res.body.report.rules.every((r: { passed: boolean }) => r.passed)).toBe(true)
    const ear = JSON.parse(Buffer.from(res.body.token.split('.')[1], 'base64url').toString())
    expect(ear['ear.status']).toBe('affirming')
    expect(JSON.stringify(ear)).toContain('"binding":"cosmian-agent"')
    expect(agent.requests).toEqual(expect.arrayContaining(['GET /quote/tee', 'GET /quote/tpm', 'GET /ima/binary']))
  })

  it("each agent request (quotes, IMA list, the push) carries the admin request's trace as a child span of its own; logged", async () => {
    agent.misbehave = {}
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const callerSpan = '00f067aa0ba902b7'
    const first = agent.requests.length
    const body = JSON.stringify({ agentUrl: agent.url, referenceValues: ['cvm'], secret: 'app-conf' })
    const res = await kb.raw('POST', '/admin/v1/cosmian/provisions', body, {
      Authorization: `Bearer ${kb.tokens.admin}`,
      'Content-Type': 'application/json',
      traceparent: `00-${traceId}-${callerSpan}-01`,
    })
    expect(res.status).toBe(200)
    const ownSpan = /^00-[0-9a-f]{32}-([0-9a-f]{16})-01$/.exec(String(res.headers['traceparent']))?.[1]
    expect(agent.requests.slice(first)).toEqual(['GET /quote/tee', 'GET /quote/tpm', 'GET /ima/binary', 'POST /app/init'])
    const sent = agent.traceparents.slice(first).map((h) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(h ?? '')?.slice(1))
    expect(sent.map((m) => m?.[0])).toEqual([traceId, traceId, traceId, traceId])
    expect(sent.map((m) => m?.[2])).toEqual(['01', '01', '01', '01'])
    const parents = sent.map((m) => m?.[1])
    expect(new Set([...parents, callerSpan, ownSpan]).size).toBe(6)
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'cosmian agent call' && r['traceId'] === traceId)
    expect(logged.map((r) => [r['method'], r['path'], r['spanId'], r['status']])).toEqual([
      ['GET', '/quote/tee', parents[0], 200],
      ['GET', '/quote/tpm', parents[1], 200],
      ['GET', '/ima/binary', parents[2], 200],
      ['POST', '/app/init', parents[3], 200],
    ])
  })

  it('provisions the secret to /app/init after a passing verification; audited', async () => {
    agent.misbehave = {}
    const res = await provision()
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ passed: true, provisioned: { secret: 'app-conf', version: 1 } })
    expect(Buffer.from(agent.received.at(-1) ?? []).toString()).toBe(SECRET)
    const audit = await adminCall(kb, 'GET', '/admin/v1/audit?limit=200')
    const entries = audit.body.entries as { action: string; outcome: string; detail: Record<string, unknown> }[]
    expect(entries.some((e) => e.action === 'cosmian.provision' && e.outcome === 'ok' && e.detail['secret'] === 'app-conf')).toBe(true)
    expect(JSON.stringify(entries)).not.toContain('s3cret')
  })

  it('refuses a certificate swapped between the quote and the push: nothing is pushed', async () => {
    const before = agent.received.length
    agent.misbehave = { swapCertificateTo: tlsB, swapAfter: '/ima/binary' }
    const res = await provision()
    expect(res.status).toBe(403)
    expect(res.body.type).toMatch(/binding-mismatch$/)
    expect(agent.received.length).toBe(before)
    // Swapped right after the TEE quote: the TPM quote's connection is refused already.
    agent.misbehave = { swapCertificateTo: tlsB, swapAfter: '/quote/tee' }
    expect((await verify()).body.type).toMatch(/binding-mismatch$/)
  })

  it('refuses a replayed TEE quote (another nonce): binding-mismatch', async () => {
    agent.misbehave = {}
    const old = agent.teeQuotes[0]!
    agent.misbehave = { replayTeeQuote: old }
    const res = await verify()
    expect(res.status).toBe(403)
    expect(res.body.type).toMatch(/binding-mismatch$/)
    expect((await provision()).status).toBe(403)
  })

  it('refuses an IMA entry that is not in the snapshot: the ima claim fails, provisioning is denied', async () => {
    const before = agent.received.length
    agent.misbehave = { extraImaFile: '/usr/local/bin/implant' }
    const res = await verify()
    expect(res.status).toBe(200)
    expect(res.body.passed).toBe(false)
    expect(JSON.stringify(res.body.report.appraisal)).toContain('/usr/local/bin/implant')
    const p = await provision()
    expect(p.status).toBe(403)
    expect(p.body.type).toMatch(/policy-denied$/)
    expect(agent.received.length).toBe(before)
  })

  it('refuses a TPM reset counter that changed (a reboot since the snapshot)', async () => {
    agent.misbehave = { resetCount: 26 }
    const res = await verify()
    expect(res.body.passed).toBe(false)
    expect(JSON.stringify(res.body.report.appraisal)).toContain('tpm.resetCount')
    expect((await provision()).status).toBe(403)
  })

  it("provisioning follows the secret's own release policy: a secret bound to another set is not pushed", async () => {
    agent.misbehave = {}
    expect((await adminCall(kb, 'POST', '/admin/v1/reference-values', { name: 'other', values: [{ measurement: 'ab'.repeat(48) }] })).status).toBe(201)
    expect((await adminCall(kb, 'POST', '/admin/v1/secrets', { name: 'other-conf', value: toBase64Url(Buffer.from('x')), referenceValues: ['other'] })).status).toBe(201)
    const before = agent.received.length
    const res = await provision('other-conf')
    expect(res.status).toBe(403)
    expect(res.body.type).toMatch(/policy-denied$/)
    expect(agent.received.length).toBe(before)
  })

  it('keybroker cosmian verify / provision (the compiled CLI, through the admin API)', async () => {
    agent.misbehave = {}
    const caFile = join(tmp, `service-ca-${engine.kind}.pem`)
    await writeFile(caFile, kb.server.caPem ?? '')
    const env = { KEYBROKER_URL: kb.url, KEYBROKER_TOKEN: kb.tokens.admin, KEYBROKER_CACERT: caFile }
    const ok = await cli(['cosmian', 'verify', '--agent', agent.url, '--snapshot', 'cvm'], env)
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ passed: true, report: { binding: 'cosmian-agent' } })
    const before = agent.received.length
    const pushed = await cli(['cosmian', 'provision', '--agent', agent.url, '--snapshot', 'cvm', '--secret', 'app-conf'], env)
    expect(pushed.code).toBe(0)
    expect(agent.received.length).toBe(before + 1)
    agent.misbehave = { resetCount: 99 }
    expect((await cli(['cosmian', 'verify', '--agent', agent.url, '--snapshot', 'cvm'], env)).code).toBe(1)
    expect((await cli(['cosmian', 'verify', '--snapshot', 'cvm'], env)).code).toBe(2)
  })

  it('pushed evidence: POST /v1/verify with the agent\'s answers and agentCertificate (required: without it, binding-mismatch)', async () => {
    agent.misbehave = {}
    const { nonce } = await kb.client.challenge()
    const n = (await computeKeylessBinding(nonce)).slice(0, 32)
    const q = encodeURIComponent(Buffer.from(n).toString('base64').replace(/=+$/, ''))
    const relay = new CosmianAgentClient({ url: agent.url, timeoutMs: 10_000, maxBytes: 8 * 1024 * 1024 })
    const evidence = {
      type: 'cosmian',
      teeQuote: await relay.getJson(`/quote/tee?nonce=${q}`),
      tpmQuote: await relay.getJson(`/quote/tpm?nonce=${q}`),
      imaBinary: await relay.getJson('/ima/binary'),
    }
    const { token } = await kb.client.verify({ nonce, evidence: { ...evidence, agentCertificate: tlsA.cert } })
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())['ear.status']).toBe('affirming')
    const again = await kb.client.challenge()
    const err = await kb.client.verify({ nonce: again.nonce, evidence }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(KeybrokerClientError)
    expect((err as KeybrokerClientError).code).toBe('binding-mismatch')
  })

  it('bad input: a non-https agent URL is a 400; an unknown set a 404; an agent that is not there a 502', async () => {
    expect((await verify({ agentUrl: 'http://127.0.0.1:1', referenceValues: ['cvm'] })).status).toBe(400)
    expect((await verify({ agentUrl: agent.url, referenceValues: ['nope'] })).status).toBe(404)
    const gone = await verify({ agentUrl: 'https://127.0.0.1:1', referenceValues: ['cvm'] })
    expect(gone.status).toBe(502)
    expect(gone.body.type).toMatch(/agent-unreachable$/)
  })
})
