import { createHash } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import {
  createTpmVerifier,
  parsePublic,
  parseQuoteAttest,
  parseSignature,
  tpmVerifier,
  verifyQuote,
  verifySignature,
  type TpmEvidence,
} from '../../../src/evidence/tpm/index.js'
import { pcrValuesFromList } from '../../../src/evidence/tpm/pcrs.js'
import { toHex } from '../../../src/evidence/reader.js'
import { asyncCodeOf, codeOf } from '../../support/error-code.js'
import { cosmianParts, gcpEvidence, GCP_AK_ID, TRUSTEE_AK_ID, trusteeEvidence, trustLookup } from './vectors.js'

const NOW = new Date('2026-11-23T00:00:00Z')
const registered = (id: string) => trustLookup({ aks: { [id]: { source: 'registered', name: 'vector' } } })
const verify = (e: TpmEvidence, lookup = registered(TRUSTEE_AK_ID), v = tpmVerifier) =>
  v.verify(tpmVerifier.schema.parse(e), { now: NOW, collateral: lookup })

describe('trustee tpm_evidence.json (RSASSA SHA-256, 24 SHA-256 PCRs)', () => {
  test('accepted with its AK registered; claims per MANIFEST', async () => {
    const claims = await verify(trusteeEvidence())
    expect(claims.platform).toBe('tpm')
    expect(claims.measurement).toBe('019de64c9318655e422c3d03831169896e31f02a1d74e4d8fef575bf4e0d75fa')
    expect(claims.instanceId).toBe(TRUSTEE_AK_ID)
    expect(toHex(claims.reportData)).toBe(`a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c120${'00'.repeat(16)}`)
    expect(claims.measurements['pcr0']).toBe('00'.repeat(32))
    expect(claims.measurements['pcr17']).toBe('ff'.repeat(32))
    expect(Object.keys(claims.measurements)).toHaveLength(24)
    expect(claims.tcb).toEqual({ firmwareVersion: '2019102300163636' })
    expect(claims.raw['quote']).toMatchObject({
      clock: '1913548331',
      resetCount: 2,
      restartCount: 0,
      safe: true,
      firmwareVersion: '2019102300163636',
      pcrSelection: [{ bank: 'sha256', pcrs: [...Array(24).keys()] }],
      signature: { scheme: 'rsassa', hash: 'sha256' },
      qualifiedSigner: '000b3081a4cbbe307f3de1456f9875a3c2632528a70d91fcf578ccf092465e4e8e09',
    })
    expect(claims.raw['ak']).toEqual({ id: TRUSTEE_AK_ID, trust: 'registered', name: 'vector' })
  })

  test('the measurement is SHA-256 over the selected PCRs in order (how an admin computes the reference value)', async () => {
    const e = trusteeEvidence()
    const concat = Buffer.concat(Object.values(e.pcrs['sha256']!).map((h) => Buffer.from(h, 'hex')))
    expect((await verify(e)).measurement).toBe(createHash('sha256').update(concat).digest('hex'))
  })

  test('an AK that is not registered is chain-untrusted', async () => {
    expect(await asyncCodeOf(() => verify(trusteeEvidence(), trustLookup({})))).toBe('chain-untrusted')
  })

  test('a PCR value changed after the quote: signature-invalid', async () => {
    const e = trusteeEvidence()
    e.pcrs['sha256']!['17'] = '00'.repeat(32)
    expect(await asyncCodeOf(() => verify(e))).toBe('signature-invalid')
  })

  test('a selected PCR missing from pcrs: evidence-malformed', async () => {
    const e = trusteeEvidence()
    delete e.pcrs['sha256']!['23']
    expect(await asyncCodeOf(() => verify(e))).toBe('evidence-malformed')
  })

  test('a flipped bit in the quote or the signature is refused', async () => {
    const e = trusteeEvidence()
    const q = Buffer.from(e.quote, 'base64')
    q[40]! ^= 1
    expect(await asyncCodeOf(() => verify({ ...e, quote: q.toString('base64') }))).toBe('signature-invalid')
    const s = Buffer.from(e.signature, 'base64')
    s[20]! ^= 1
    expect(await asyncCodeOf(() => verify({ ...e, signature: s.toString('base64') }))).toBe('signature-invalid')
  })
})

describe('go-attestation GCP Shielded VM (SHA-1 quote, TPMT_PUBLIC AK, SHA-1 event log)', () => {
  const sha1Verifier = createTpmVerifier({ allowSha1Signatures: true })

  test('refused by default: SHA-1 signatures are evidence-unsupported', async () => {
    expect(await asyncCodeOf(() => verify(gcpEvidence(), registered(GCP_AK_ID)))).toBe('evidence-unsupported')
  })

  test('accepted with SHA-1 allowed and the AK registered; the event log replays to the quoted PCRs', async () => {
    const claims = await verify(gcpEvidence(), registered(GCP_AK_ID), sha1Verifier)
    expect(claims.measurement).toBe('a610f27bc687ce906243287d832706036e79f6e1')
    expect(claims.reportData).toHaveLength(0)
    expect(claims.instanceId).toBe(GCP_AK_ID)
    expect(claims.measurements['sha1-pcr0']).toBe('51c323de0c0c694f4601cdd02beb58ff13629f74')
    expect(claims.raw['quote']).toMatchObject({
      clock: '10257171',
      firmwareVersion: '41e4356df966e035',
      qualifiedSigner: '000bad427e7fc8821f74c7c6964641f9fa053772122d4b94a6cc3a3fcfccdd55b5ad',
      signature: { scheme: 'rsassa', hash: 'sha1' },
    })
    expect(claims.raw['ak']).toMatchObject({ trust: 'registered', objectAttributes: '00050472' })
    const log = claims.raw['eventLog'] as { format: string; banks: string[]; verifiedPcrs: number[]; events: unknown[] }
    expect(log.format).toBe('sha1')
    expect(log.banks).toEqual(['sha1'])
    expect(log.verifiedPcrs).toEqual([0, 4, 5, 7, 11, 12, 13, 14])
    expect(log.events).toHaveLength(21)
  })

  test('an event log that does not replay (one event digest changed) is event-log-mismatch', async () => {
    const e = gcpEvidence()
    const log = Buffer.from(e.eventLog!, 'base64')
    log[8]! ^= 1 // the digest of the first event (PCR 0)
    expect(await asyncCodeOf(() => verify({ ...e, eventLog: log.toString('base64') }, registered(GCP_AK_ID), sha1Verifier))).toBe('event-log-mismatch')
  })

  test('the AK TPMT_PUBLIC: RSA-2048, restricted signing key, name = nameAlg ‖ SHA-256(public)', () => {
    const pub = parsePublic(Buffer.from(gcpEvidence().ak.public!, 'base64'))
    expect(pub.type).toBe('rsa')
    expect(pub.keyBits).toBe(2048)
    expect(pub.objectAttributes).toBe(0x00050472)
    expect(toHex(pub.name)).toBe(`000b${createHash('sha256').update(pub.bytes).digest('hex')}`)
  })
})

describe('Cosmian tee-tools (ECDSA P-256 AK as TPMT_PUBLIC)', () => {
  test('the quote parses (reset count 25), the signature verifies with the AK, and the PCR digest binds the values', () => {
    const { quote, signature, akPublic } = cosmianParts()
    const attest = parseQuoteAttest(quote)
    expect(attest.clockInfo.resetCount).toBe(25)
    expect(attest.clockInfo.restartCount).toBe(0)
    expect(parseSignature(signature)).toMatchObject({ sigAlg: 'ecdsa', hash: { name: 'sha256' } })
    const ak = parsePublic(akPublic)
    expect(ak.curve).toBe('P-256')
    expect(codeOf(() => verifySignature(parseSignature(signature), ak.publicKey, quote, { allowSha1: false }))).toBe('no-error')
    // The vector has no PCR values; a wrong value shows the digest check, and the signature check
    // alone is what the vector is about.
    const bank = attest.pcrSelect[0]!
    const zeros = pcrValuesFromList(bank.hash.name, Array.from({ length: 24 }, () => '00'.repeat(bank.hash.size)))
    expect(codeOf(() => verifyQuote(quote, signature, zeros, ak.publicKey, { allowSha1Signatures: false }))).toBe('signature-invalid')
    const flipped = Buffer.from(signature)
    flipped[10]! ^= 1
    expect(codeOf(() => verifyQuote(quote, flipped, zeros, ak.publicKey, { allowSha1Signatures: false }))).toBe('signature-invalid')
  })
})
