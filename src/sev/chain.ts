/**
 * The SEV platform certificate chain (SEV API spec 55766, §2 "Platform certificates" and
 * Appendix C): `PDH ← PEK ← (OCA, CEK)`, `CEK ← ASK ← ARK`. The CEK (chip endorsement key) is
 * what AMD vouches for; the OCA is the platform owner's own, self-signed authority; the PEK is
 * signed by both; the PDH, the key a guest owner agrees a session key with, is signed by the PEK.
 *
 * Wire form: what `sevctl export FILE` writes (virtee/sevctl@8b47f3a6b980525f4c1e9804661abbdda459e137
 * `src/main.rs` `export::cmd`), and aleph-vm serves at `GET /about/certificates`: PDH, PEK, OCA,
 * CEK, 0x824 bytes each (virtee/sev@9cf2adbffa209cc5becf7ff89ffdf624e7278ced
 * `src/certs/sev/sev/chain.rs`). `sevctl export --full` appends ASK and ARK in AMD's CA format
 * (`src/certs/sev/chain.rs`, `ca/chain.rs`).
 */
import { EvidenceError, KeybrokerError } from '../errors.js'
import { ByteReader } from '../evidence/reader.js'
import {
  isCaSignedBy,
  isPlatformSignedBy,
  parsePlatformCertificate,
  readCaCertificate,
  sha256Hex,
  spkiSha256,
  type CaCertificate,
  type PlatformCertificate,
} from './certificate.js'
import type { SevRoot } from './amd-roots.js'
import { PLATFORM_CERT_SIZE } from './layout.js'

export interface PlatformChain {
  readonly pdh: PlatformCertificate
  readonly pek: PlatformCertificate
  readonly oca: PlatformCertificate
  readonly cek: PlatformCertificate
  /** Present in a `sevctl export --full` file. */
  readonly ask?: CaCertificate
  readonly ark?: CaCertificate
}

const ORDER = ['PDH', 'PEK', 'OCA', 'CEK'] as const
/** The largest chain: four platform certificates plus a 4096-bit ASK and ARK (0x40 + 3 × 512 each). */
export const MAX_PLATFORM_CHAIN_BYTES = 4 * PLATFORM_CERT_SIZE + 2 * (0x40 + 3 * 512)

/**
 * Parses a platform chain as `sevctl export` writes it, with or without the CA chain.
 * @throws EvidenceError `evidence-malformed` naming the certificate and field (a certificate in
 *   the wrong place, its usage, reserved bytes, trailing bytes), `evidence-unsupported`
 */
export function parsePlatformChain(bytes: Uint8Array): PlatformChain {
  if (bytes.byteLength < 4 * PLATFORM_CERT_SIZE) {
    throw new EvidenceError(
      'evidence-malformed',
      `platform chain: ${bytes.byteLength} bytes; PDH, PEK, OCA and CEK (as \`sevctl export\` writes them) are ${4 * PLATFORM_CERT_SIZE}`,
    )
  }
  const reader = new ByteReader(bytes)
  const [pdh, pek, oca, cek] = ORDER.map((usage, i) => {
    const cert = parsePlatformCertificate(reader.bytes(PLATFORM_CERT_SIZE, usage), usage)
    if (cert.usage !== usage) throw new EvidenceError('evidence-malformed', `${usage}.pubKeyUsage: certificate ${i + 1} of the chain is a ${cert.usage}, not the ${usage}`)
    return cert
  }) as [PlatformCertificate, PlatformCertificate, PlatformCertificate, PlatformCertificate]
  if (reader.remaining === 0) return { pdh, pek, oca, cek }
  const ask = readCaCertificate(reader, 'ASK')
  const ark = readCaCertificate(reader, 'ARK')
  if (ask.usage !== 'ASK') throw new EvidenceError('evidence-malformed', `ASK.keyUsage: certificate 5 of the chain is an ${ask.usage}, not the ASK`)
  if (ark.usage !== 'ARK') throw new EvidenceError('evidence-malformed', `ARK.keyUsage: certificate 6 of the chain is an ${ark.usage}, not the ARK`)
  reader.end('platform chain')
  return { pdh, pek, oca, cek, ask, ark }
}

const verified: unique symbol = Symbol('verified platform chain')

/**
 * A chain that {@link verifyPlatformChain} accepted. Only that function makes one, so code that
 * agrees a key with a PDH (`createLaunchSession`) cannot be handed an unverified chain.
 */
export interface VerifiedPlatformChain {
  readonly [verified]: true
  /** The product whose ASK signed the CEK. */
  readonly product: string
  readonly pdh: PlatformCertificate
  readonly cek: PlatformCertificate
  /** The chip's identity: SHA-256 of the CEK's SubjectPublicKeyInfo, hex (stable across PDH rotations). */
  readonly chipId: string
  /** SHA-256 of the PDH certificate, hex. */
  readonly pdhSha256: string
}

function untrusted(reason: string): KeybrokerError {
  return new KeybrokerError('chain-untrusted', reason)
}

/**
 * Verifies `PDH ← PEK ← (OCA, CEK)`, `CEK ← ASK ← ARK` (virtee/sev `Verifiable for &Chain`, both
 * levels). The ASK is the built-in one of an allowed product (`roots`), or the chain's own when
 * it carries the CA chain; then its ARK must be the pinned ARK of an allowed product and sign it.
 * Pure; nothing is derived from the PDH here.
 * @throws KeybrokerError `chain-untrusted` naming the link that failed
 */
export function verifyPlatformChain(chain: PlatformChain, roots: readonly SevRoot[]): VerifiedPlatformChain {
  if (roots.length === 0) throw untrusted('no SEV product roots are allowed')
  let candidates: readonly { readonly product: string; readonly ask: CaCertificate }[]
  if (chain.ark !== undefined && chain.ask !== undefined) {
    const ark = chain.ark
    const root = roots.find((r) => r.ark.spkiSha256 === ark.spkiSha256)
    if (root === undefined) throw untrusted(`the chain's ARK (key ${ark.spkiSha256}) is not the pinned ARK of an allowed product`)
    if (!isCaSignedBy(ark, ark)) throw untrusted("the chain's ARK self-signature does not verify")
    if (!isCaSignedBy(chain.ask, ark)) throw untrusted(`the chain's ASK is not signed by the ${root.product} ARK`)
    candidates = [{ product: root.product, ask: chain.ask }]
  } else {
    candidates = roots
  }
  const signer = candidates.find((c) => isPlatformSignedBy(chain.cek, c.ask))
  if (signer === undefined) throw untrusted(`CEK is not signed by the AMD ASK of an allowed product (${candidates.map((c) => c.product).join(', ')})`)
  if (!isPlatformSignedBy(chain.pek, chain.cek)) throw untrusted('PEK is not signed by the CEK')
  if (!isPlatformSignedBy(chain.oca, chain.oca)) throw untrusted('OCA is not self-signed')
  if (!isPlatformSignedBy(chain.pek, chain.oca)) throw untrusted('PEK is not signed by the OCA')
  if (!isPlatformSignedBy(chain.pdh, chain.pek)) throw untrusted('PDH is not signed by the PEK')
  return {
    [verified]: true,
    product: signer.product,
    pdh: chain.pdh,
    cek: chain.cek,
    chipId: spkiSha256(chain.cek.publicKey),
    pdhSha256: sha256Hex(chain.pdh.bytes),
  }
}
