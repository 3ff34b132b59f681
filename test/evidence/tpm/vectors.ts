/**
 * The TPM vectors of test/vectors/tpm/ mapped onto keybroker's `tpm` evidence, and a collateral
 * lookup standing in for the AK registry and the registered CAs.
 */
import { readFileSync } from 'node:fs'
import type { CollateralLookup } from '../../../src/evidence/types.js'
import type { TpmEvidence } from '../../../src/evidence/tpm/index.js'

const DIR = new URL('../../vectors/tpm/', import.meta.url)
export const readVector = (path: string): Buffer => readFileSync(new URL(path, DIR))
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

/** trustee `tpm_evidence.json`: AK as base64 DER SPKI, 24 SHA-256 PCRs as a list. */
export function trusteeEvidence(): TpmEvidence {
  const j = JSON.parse(readVector('trustee/tpm_evidence.json').toString('utf8')) as {
    ak_public: string
    tpm_quote: { message: string; signature: string; pcrs: string[] }
  }
  return {
    type: 'tpm',
    quote: j.tpm_quote.message,
    signature: j.tpm_quote.signature,
    pcrs: { sha256: Object.fromEntries(j.tpm_quote.pcrs.map((v, i) => [String(i), v])) },
    ak: { public: j.ak_public },
  }
}
export const TRUSTEE_AK_ID = 'a517f03ffdaee469aef1a19569547e330726335d0461c3ef6383409c6295679e'

/** go-attestation's GCP Shielded VM dump: TPMT_PUBLIC AK, SHA-1 quote and PCRs, SHA-1 event log. */
export function gcpEvidence(): TpmEvidence {
  const j = JSON.parse(readVector('go-attestation/windows_gcp_shielded_vm.json').toString('utf8')) as {
    AK: { Public: string }
    Quote: { Quote: string; Signature: string }
    Log: { PCRs: { Index: number; Digest: string; DigestAlg: number }[]; Raw: string }
  }
  return {
    type: 'tpm',
    quote: j.Quote.Quote,
    signature: j.Quote.Signature,
    // Go's crypto.SHA1 is 3.
    pcrs: { sha1: Object.fromEntries(j.Log.PCRs.filter((p) => p.DigestAlg === 3).map((p) => [String(p.Index), Buffer.from(p.Digest, 'base64').toString('hex')])) },
    ak: { public: j.AK.Public },
    eventLog: j.Log.Raw,
  }
}
export const GCP_AK_ID = '2190373af1e3553a94c7dfec53b1c789bd48213d9b3d0cf8d82c8333edbb9c8c'

/** Cosmian tee-tools: TPMT_PUBLIC ECC P-256 AK, ECDSA quote. The PCR values are not in the vector: callers supply them. */
export function cosmianParts(): { quote: Buffer; signature: Buffer; akPublic: Buffer } {
  return { quote: readVector('cosmian/pcr_quote.plain'), signature: readVector('cosmian/pcr_quote.sig'), akPublic: readVector('cosmian/ak.pub') }
}

export interface TestTrust {
  readonly aks?: Readonly<Record<string, { source: 'registered' | 'enrolled'; name: string }>>
  readonly cas?: Readonly<Partial<Record<'ek' | 'ak', readonly string[]>>>
}

/** A lookup answering `tpm-ak` and `tpm-ca` from fixed data, counting calls. */
export function trustLookup(trust: TestTrust): CollateralLookup & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    get: async (kind, key) => {
      calls.push(`${kind}/${key}`)
      if (kind === 'tpm-ak') {
        const entry = trust.aks?.[key]
        return entry === undefined ? undefined : new Uint8Array(Buffer.from(JSON.stringify(entry)))
      }
      if (kind === 'tpm-ca' && (key === 'ek' || key === 'ak')) {
        const pems = trust.cas?.[key]
        return pems === undefined ? undefined : new Uint8Array(Buffer.from(pems.join('\n')))
      }
      return undefined
    },
  }
}

export { b64 }
