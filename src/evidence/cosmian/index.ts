import { EvidenceError } from '../../errors.js'
import { fromBase64 } from '../reader.js'
import type { SnpVerifyOptions } from '../snp/options.js'
import type { TdxVerifyOptions } from '../tdx/options.js'
import type { EvidenceFiles, EvidenceVerifier } from '../types.js'
import { parseCertificate } from '../x509-chain.js'
import { COSMIAN_BINDING } from './binding.js'
import { verifyCosmian } from './verify.js'
import { cosmianEvidenceSchema, decodeAgentCertificate, decodeBinary, type CosmianEvidence } from './wire.js'

/** X.509 extensions of Cosmian RA-TLS certificates that carry a TEE quote (tee-tools `crate/ratls`): SGX, SEV, TDX. */
export const RATLS_QUOTE_OIDS = ['1.2.840.113741.1337.6', '1.2.840.113741.1337.7', '1.2.840.113741.1337.8'] as const

/**
 * The TEE quote of a Cosmian RA-TLS certificate (its extension's value), or undefined.
 * @throws `evidence-malformed` (not a certificate)
 */
export function ratlsQuoteOf(certificateDer: Uint8Array): Uint8Array | undefined {
  const cert = parseCertificate(certificateDer, 'RA-TLS certificate')
  for (const oid of RATLS_QUOTE_OIDS) {
    const ext = cert.extensions.get(oid)
    if (ext !== undefined) return ext.value
  }
  return undefined
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

/**
 * For `keybroker evidence verify --type cosmian FILE [--certs AGENT-CERT]`: FILE is a TEE quote as
 * the agent serves it (binary, or its JSON byte array), or a Cosmian RA-TLS certificate (PEM),
 * whose extension holds the quote and which is then the agent certificate. `--certs` gives the
 * agent's TLS certificate. JSON evidence objects are read by the CLI itself.
 * @throws `evidence-malformed`
 */
export function cosmianEvidenceFromFile(main: Uint8Array, files: EvidenceFiles): { readonly type: string; readonly [k: string]: unknown } {
  if (files.certs.length > 1) throw new EvidenceError('evidence-malformed', '--certs: one file, the agent certificate')
  const cert = files.certs[0] === undefined ? undefined : b64(decodeFileCertificate(files.certs[0]))
  const text = Buffer.from(main.subarray(0, 64)).toString('latin1').trimStart()
  if (text.startsWith('-----BEGIN CERTIFICATE')) {
    const der = decodeFileCertificate(main)
    const quote = ratlsQuoteOf(der)
    if (quote === undefined) throw new EvidenceError('evidence-malformed', 'the certificate carries no Cosmian RA-TLS quote extension')
    return { type: 'cosmian', teeQuote: b64(quote), agentCertificate: cert ?? b64(der) }
  }
  if (text.startsWith('[')) {
    let json: unknown
    try {
      json = JSON.parse(Buffer.from(main).toString('utf8'))
    } catch (cause) {
      throw new EvidenceError('evidence-malformed', 'FILE starts with "[" but is not JSON', { cause })
    }
    return { type: 'cosmian', teeQuote: json, ...(cert === undefined ? {} : { agentCertificate: cert }) }
  }
  return { type: 'cosmian', teeQuote: b64(main), ...(cert === undefined ? {} : { agentCertificate: cert }) }
}

function decodeFileCertificate(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1')
  return text.includes('-----BEGIN') ? decodeAgentCertificate(text) : bytes.slice()
}

/** Builds the `cosmian` verifier; the TEE quote is checked with the `snp` / `tdx` verifiers' options. */
export function createCosmianVerifier(options: { readonly snp?: Partial<SnpVerifyOptions>; readonly tdx?: Partial<TdxVerifyOptions> } = {}): EvidenceVerifier<CosmianEvidence> {
  return {
    type: 'cosmian',
    schema: cosmianEvidenceSchema,
    verify: (evidence, ctx) =>
      verifyCosmian({
        teeQuote: decodeBinary(evidence.teeQuote, 'teeQuote'),
        ...(evidence.tpmQuote === undefined
          ? {}
          : {
              tpmQuote: {
                hashMethod: evidence.tpmQuote.pcr_value_hash_method,
                quote: fromBase64(evidence.tpmQuote.quote, 'tpmQuote.quote'),
                signature: fromBase64(evidence.tpmQuote.signature, 'tpmQuote.signature'),
                publicKey: fromBase64(evidence.tpmQuote.public_key, 'tpmQuote.public_key'),
              },
            }),
        ...(evidence.imaBinary === undefined ? {} : { imaBinary: decodeBinary(evidence.imaBinary, 'imaBinary') }),
        ...(evidence.agentCertificate === undefined ? {} : { agentCertificate: decodeAgentCertificate(evidence.agentCertificate) }),
        now: ctx.now,
        collateral: ctx.collateral,
        ...(options.snp === undefined ? {} : { snpOptions: options.snp }),
        ...(options.tdx === undefined ? {} : { tdxOptions: options.tdx }),
      }),
    binding: COSMIAN_BINDING,
    fromFile: cosmianEvidenceFromFile,
  }
}

export const cosmianVerifier: EvidenceVerifier<CosmianEvidence> = createCosmianVerifier()

export { COSMIAN_BINDING, cosmianAgentReportData, cosmianRatlsReportData, certificateKeyPoint } from './binding.js'
export { parseCosmianTeeQuote, MAX_TEE_QUOTE_BYTES, MAX_QUOTE_CERTS } from './tee-quote.js'
export type { CosmianTeeQuote, CosmianSnpLayout } from './tee-quote.js'
export { cosmianEvidenceSchema, cosmianTpmQuoteSchema, decodeAgentCertificate, decodeBinary, bankOfHashMethod } from './wire.js'
export type { CosmianEvidence, CosmianTpmQuoteJson } from './wire.js'
export { verifyCosmian } from './verify.js'
export type { CosmianVerifyInput, CosmianTpmQuote } from './verify.js'
