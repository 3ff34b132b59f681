/**
 * The `tpm` verifier against a real software TPM (swtpm + tpm2-tools, driven through the client
 * script src/clients/tpm/keybroker-tpm): quotes by RSA and ECC AKs, measured-boot and IMA
 * replays against extended PCRs, the EK certificate chain of swtpm's local CA, and credential
 * activation by the TPM of what keybroker's MakeCredential wrapped.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { toHex } from '../../../src/evidence/reader.js'
import { makeCredential } from '../../../src/evidence/tpm/credential.js'
import { akIdOf, decodeAkPublic, parsePublic, tpmVerifier, verifyCertificatePath } from '../../../src/evidence/tpm/index.js'
import { asciiList, bankDigest, fileEntry } from '../../generators/ima.js'
import { EFI_GLOBAL_VARIABLE, variableData, writeAgileLog, type LogEvent } from '../../generators/tcg-event-log.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'
import { createAk, extendPcr, quoteEvidence, TPM_CLIENT_SCRIPT, softwareTpmAvailable, softwareTpmRequired, startSoftwareTpm, type SoftwareTpm } from '../../support/swtpm.js'
import { trustLookup } from './vectors.js'

const available = softwareTpmAvailable()
if (!available && softwareTpmRequired()) throw new Error('swtpm/tpm2-tools are required (KEYBROKER_TEST_REQUIRE_SWTPM=1) but not installed')

/** Real time: swtpm_setup issues the EK certificate with notBefore = when it ran. */
const now = (): Date => new Date()
const nonceHex = (): string => randomBytes(32).toString('hex')

describe.skipIf(!available)('tpm evidence from swtpm', () => {
  let tpm: SoftwareTpm
  const akIds: Record<string, string> = {}
  const trust = () => trustLookup({ aks: Object.fromEntries(Object.values(akIds).map((id) => [id, { source: 'registered' as const, name: 'swtpm' }])) })
  const verify = (e: unknown, lookup = trust()) => tpmVerifier.verify(tpmVerifier.schema.parse(e), { now: now(), collateral: lookup })

  beforeAll(async () => {
    tpm = await startSoftwareTpm()
    for (const alg of ['rsa', 'ecc'] as const) {
      await createAk(tpm, `ak-${alg}`, alg)
      akIds[alg] = akIdOf(decodeAkPublic((await tpm.read(`ak-${alg}/ak.pub`)).toString('base64')).publicKey)
    }
  }, 60_000)
  afterAll(async () => {
    await tpm?.close()
  })

  test.each(['rsa', 'ecc'] as const)('a %s AK quote verifies: extraData, PCR values, AK attributes from the TPM', async (alg) => {
    const q = nonceHex()
    const evidence = await quoteEvidence(tpm, `ak-${alg}`, q, 'sha256:0,1,2,16+sha1:16')
    const claims = await verify(evidence)
    expect(toHex(claims.reportData)).toBe(q)
    expect(claims.instanceId).toBe(akIds[alg])
    expect(Object.keys(claims.measurements).sort()).toEqual(['pcr0', 'pcr1', 'pcr16', 'pcr2', 'sha1-pcr16'])
    expect(claims.raw['quote']).toMatchObject({ signature: { scheme: alg === 'rsa' ? 'rsassa' : 'ecdsa', hash: 'sha256' }, safe: true })
    // The TPM's own AK attributes pass the restricted-signing-key check.
    expect(claims.raw['ak']).toMatchObject({ trust: 'registered', objectAttributes: '00050072' })
  })

  test('a PCR extended after the quote (values read later) is signature-invalid', async () => {
    const evidence = await quoteEvidence(tpm, 'ak-rsa', nonceHex(), 'sha256:16')
    await extendPcr(tpm, 16, { sha256: '01'.repeat(32) })
    const now = await quoteEvidence(tpm, 'ak-rsa', nonceHex(), 'sha256:16')
    expect(await asyncCodeOf(() => verify({ ...evidence, pcrs: now['pcrs'] }))).toBe('signature-invalid')
  })

  test('an AK the registry does not know is chain-untrusted', async () => {
    const evidence = await quoteEvidence(tpm, 'ak-ecc', nonceHex(), 'sha256:0')
    expect(await asyncCodeOf(() => verify(evidence, trustLookup({})))).toBe('chain-untrusted')
  })

  test('measured boot: a firmware-style log whose digests were extended into PCRs 4 and 7 replays; a changed event does not', async () => {
    const events: LogEvent[] = [
      { pcrIndex: 7, eventType: 0x80000001, data: variableData(EFI_GLOBAL_VARIABLE, 'SecureBoot', new Uint8Array([1])) },
      { pcrIndex: 4, eventType: 0x80000003, data: new Uint8Array(40), digests: { sha256: createHash('sha256').update('shim').digest(), sha1: createHash('sha1').update('shim').digest() } },
      { pcrIndex: 7, eventType: 4, data: new Uint8Array(4) },
      { pcrIndex: 4, eventType: 4, data: new Uint8Array(4) },
    ]
    for (const e of events) {
      const digest = (bank: 'sha1' | 'sha256') => Buffer.from(e.digests?.[bank] ?? createHash(bank).update(e.data).digest()).toString('hex')
      await extendPcr(tpm, e.pcrIndex, { sha256: digest('sha256'), sha1: digest('sha1') })
    }
    await tpm.write('eventlog.bin', writeAgileLog(['sha1', 'sha256'], events))
    const evidence = await quoteEvidence(tpm, 'ak-rsa', nonceHex(), 'sha256:0,4,7', 'eventlog.bin')
    const claims = await verify(evidence)
    expect(claims.raw['eventLog']).toMatchObject({ format: 'crypto-agile', banks: ['sha256'], verifiedPcrs: [4, 7], secureBoot: true, unverifiedEvents: 0 })
    const tampered = writeAgileLog(['sha1', 'sha256'], [{ ...events[0]!, data: variableData(EFI_GLOBAL_VARIABLE, 'SecureBoot', new Uint8Array([0])) }, ...events.slice(1)])
    expect(await asyncCodeOf(() => verify({ ...evidence, eventLog: Buffer.from(tampered).toString('base64') }))).toBe('event-log-mismatch')
  })

  test('IMA: the list replays to the quoted PCR 10; an entry appended after the quote fails', async () => {
    const files = [fileEntry('boot_aggregate', 'aggregate'), fileEntry('/usr/bin/app', 'app v1'), fileEntry('/etc/app.conf', 'conf')]
    for (const f of files) await extendPcr(tpm, 10, { sha256: bankDigest(f, 'sha256').toString('hex'), sha1: bankDigest(f, 'sha1').toString('hex') })
    await tpm.write('ima.ascii', asciiList(files))
    const evidence = await quoteEvidence(tpm, 'ak-ecc', nonceHex(), 'sha256:10', '-', 'ima.ascii')
    const claims = await verify(evidence)
    const ima = claims.raw['ima'] as { files: { path: string; fileHash: string }[]; verifiedPcrs: number[] }
    expect(ima.verifiedPcrs).toEqual([10])
    expect(ima.files.map((f) => f.path)).toEqual(['boot_aggregate', '/usr/bin/app', '/etc/app.conf'])
    expect(ima.files[1]?.fileHash).toBe(`sha256:${createHash('sha256').update('app v1').digest('hex')}`)
    const appended = asciiList([...files, fileEntry('/tmp/late', 'x')])
    expect(await asyncCodeOf(() => verify({ ...evidence, imaLog: Buffer.from(appended).toString('base64') }))).toBe('event-log-mismatch')
  })

  test('the EK certificate chains swtpm-localca → root; only registered CAs anchor it', async () => {
    await tpm.tool('tpm2_nvread', ['0x1c00002', '-o', 'ek-rsa.der'])
    const ek = new Uint8Array(await tpm.read('ek-rsa.der'))
    const { issuerCaPem, rootCaPem } = tpm
    const der = (pem: string) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'))
    expect(verifyCertificatePath(ek, [der(issuerCaPem)], [der(rootCaPem)], now(), 'EK').path).toHaveLength(3)
    // The intermediate alone may be registered as the anchor.
    expect(verifyCertificatePath(ek, [], [der(issuerCaPem)], now(), 'EK').path).toHaveLength(2)
    expect(codeOf(() => verifyCertificatePath(ek, [der(issuerCaPem)], [], now(), 'EK'))).toBe('chain-untrusted')
    expect(codeOf(() => verifyCertificatePath(ek, [der(issuerCaPem)], [der(rootCaPem)], new Date('2000-01-01T00:00:00Z'), 'EK'))).toBe('chain-untrusted')
  })

  test('MakeCredential by keybroker, ActivateCredential by the TPM: RSA EK (policy session) and ECC P-384 EK', async () => {
    // RSA EK of the TCG default template, as keybroker-tpm create-ak made it.
    const rsaEk = parsePublic((await tpm.read('ak-rsa/ek.pub')).subarray(2))
    const akName = parsePublic((await tpm.read('ak-rsa/ak.pub')).subarray(2)).name
    const secret = randomBytes(32)
    const c1 = makeCredential({ publicKey: rsaEk.publicKey, nameAlg: rsaEk.nameAlg, symmetricBits: 128 }, akName, secret, { kind: 'rsa', seed: randomBytes(32) })
    await tpm.write('cred-rsa', c1.tpm2ToolsFile)
    await tpm.tool(TPM_CLIENT_SCRIPT, ['activate', `${tpm.dir}/ak-rsa`, `${tpm.dir}/cred-rsa`, `${tpm.dir}/out-rsa`])
    expect((await tpm.read('out-rsa')).equals(secret)).toBe(true)

    // swtpm_setup's ECC EK (NIST P-384, SHA-384, AES-256), persistent at 0x81010016.
    await tpm.tool('tpm2_readpublic', ['-c', '0x81010016', '-o', 'ek-ecc.pub'])
    const eccEk = parsePublic((await tpm.read('ek-ecc.pub')).subarray(2))
    expect(eccEk.curve).toBe('P-384')
    await tpm.tool('tpm2_createak', ['-C', '0x81010016', '-c', 'ak-p384.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak-p384.pub'])
    await tpm.tool('tpm2_flushcontext', ['-t'])
    await tpm.tool('tpm2_flushcontext', ['-s'])
    const eccAk = parsePublic((await tpm.read('ak-p384.pub')).subarray(2))
    const ephemeral = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey
    const c2 = makeCredential({ publicKey: eccEk.publicKey, nameAlg: eccEk.nameAlg, symmetricBits: 256 }, eccAk.name, secret, { kind: 'ecc', ephemeralPrivateKey: ephemeral })
    await tpm.write('cred-ecc', c2.tpm2ToolsFile)
    await tpm.tool('tpm2_activatecredential', ['-c', 'ak-p384.ctx', '-C', '0x81010016', '-i', 'cred-ecc', '-o', 'out-ecc'])
    await tpm.tool('tpm2_flushcontext', ['-t'])
    expect((await tpm.read('out-ecc')).equals(secret)).toBe(true)

    // Bound to the AK's Name: the credential for one AK does not activate with another.
    const c3 = makeCredential({ publicKey: rsaEk.publicKey, nameAlg: rsaEk.nameAlg, symmetricBits: 128 }, eccAk.name, secret, { kind: 'rsa', seed: randomBytes(32) })
    await tpm.write('cred-wrong', c3.tpm2ToolsFile)
    await expect(tpm.tool(TPM_CLIENT_SCRIPT, ['activate', `${tpm.dir}/ak-rsa`, `${tpm.dir}/cred-wrong`, `${tpm.dir}/out-wrong`])).rejects.toThrow()
  }, 60_000)
})
