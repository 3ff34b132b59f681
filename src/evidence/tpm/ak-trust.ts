/**
 * Whether keybroker trusts an attestation key, decided without server sessions (README, "TPM
 * attestation keys"), in this order:
 *
 * 1. **registered / enrolled**: the AK's id (SHA-256 of its DER SubjectPublicKeyInfo) is in the
 *    AK registry, put there by a `registrar` through the admin API or by a completed credential
 *    activation (enrollment);
 * 2. **certificate**: the evidence carries an AK certificate that chains to a CA registered for
 *    AKs (cloud vTPMs issue these).
 *
 * Otherwise `chain-untrusted`. The registry and the CAs reach this pure code through the
 * `CollateralLookup` (kinds below), which the service backs with its database.
 */
import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import type { CollateralLookup } from '../types.js'
import { checkAkKeyType, decodeAkPublicCached, type DecodedAk } from './ak-key.js'
import { decodeCertificateText, parseCertificateMemo, verifyCertificatePath } from './certificates.js'
import { akIdOf, checkAkAttributes, type TpmPublic } from './public.js'
import type { KeyObject } from 'node:crypto'

/**
 * Collateral kinds of TPM trust:
 * - `tpm-ak`, key = AK id: JSON `{"source": "registered" | "enrolled", "name": "…"}` when the AK is registered;
 * - `tpm-ca`, key = `ak` or `ek`: the registered CAs of that purpose, concatenated PEM.
 */
export const TPM_COLLATERAL_KINDS = { ak: 'tpm-ak', ca: 'tpm-ca' } as const
export type TpmCaPurpose = 'ek' | 'ak'

export const AkRegistrationSchema = z.object({ source: z.enum(['registered', 'enrolled']), name: z.string() })
export type AkRegistration = z.infer<typeof AkRegistrationSchema>

/** `ak` of `tpm` evidence: the AK public key, an AK certificate (with its chain), or both. */
export interface AkEvidence {
  readonly public?: string | undefined
  readonly certificate?: string | undefined
  readonly chain?: readonly string[] | undefined
}

export interface TrustedAk {
  readonly publicKey: KeyObject
  /** SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. */
  readonly id: string
  readonly trust: 'registered' | 'enrolled' | 'certificate'
  /** The registered name, or the certificate subject. */
  readonly name: string
  readonly tpmPublic: TpmPublic | undefined
  /** Subject of the CA that certified the AK (certificate trust). */
  readonly certifiedBy?: string
}

async function lookup(collateral: CollateralLookup, kind: string, key: string): Promise<Uint8Array | undefined> {
  try {
    return await collateral.get(kind, key)
  } catch (cause) {
    throw new EvidenceError('collateral-missing', `collateral lookup ${kind} failed`, { cause })
  }
}

/** The registered CAs of `purpose` (DER), from the lookup. */
export async function registeredCas(collateral: CollateralLookup, purpose: TpmCaPurpose): Promise<Uint8Array[]> {
  const bundle = await lookup(collateral, TPM_COLLATERAL_KINDS.ca, purpose)
  if (bundle === undefined || bundle.byteLength === 0) return []
  return decodeCertificateText(Buffer.from(bundle).toString('latin1'), `registered ${purpose} CAs`)
}

async function registration(collateral: CollateralLookup, id: string): Promise<AkRegistration | undefined> {
  const value = await lookup(collateral, TPM_COLLATERAL_KINDS.ak, id)
  if (value === undefined) return undefined
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(value).toString('utf8'))
  } catch (cause) {
    throw new EvidenceError('internal', 'AK registry entry is not JSON', { cause })
  }
  const parsed = AkRegistrationSchema.safeParse(json)
  if (!parsed.success) throw new EvidenceError('internal', 'AK registry entry has the wrong shape')
  return parsed.data
}

/**
 * Decides the trust in the evidence's AK (see the module comment). When the client sent a TPM
 * public area, the key must be a restricted signing key fixed to its TPM (`checkAkAttributes`).
 * @throws `evidence-malformed` (neither key nor certificate, undecodable), `evidence-unsupported`
 *   (key type), `policy-violation` (AK attributes), `chain-untrusted` (not trusted by any mode)
 */
export async function resolveAk(ak: AkEvidence, collateral: CollateralLookup, now: Date): Promise<TrustedAk> {
  const fromPublic: DecodedAk | undefined = ak.public === undefined ? undefined : decodeAkPublicCached(ak.public)
  const certs = ak.certificate === undefined ? undefined : decodeCertificateText(ak.certificate, 'ak.certificate')
  if (fromPublic === undefined && certs === undefined) throw new EvidenceError('evidence-malformed', 'ak: needs public or certificate')
  const [leafDer, ...extra] = certs ?? []
  const leaf = leafDer === undefined ? undefined : parseCertificateMemo(leafDer, 'ak.certificate')
  const publicKey = fromPublic?.publicKey ?? leaf?.publicKey
  if (publicKey === undefined) throw new EvidenceError('evidence-malformed', 'ak: no key')
  checkAkKeyType(publicKey)
  const id = fromPublic?.id ?? leaf?.spkiSha256 ?? akIdOf(publicKey)
  if (leaf !== undefined && fromPublic !== undefined && leaf.spkiSha256 !== id) {
    throw new EvidenceError('evidence-malformed', 'ak: the certificate certifies another key than ak.public')
  }
  const tpmPublic = fromPublic?.tpmPublic
  if (tpmPublic !== undefined) checkAkAttributes(tpmPublic)

  const registered = await registration(collateral, id)
  if (registered !== undefined) return { publicKey, id, trust: registered.source, name: registered.name, tpmPublic }

  if (leafDer !== undefined && leaf !== undefined) {
    const chain = [...extra, ...(ak.chain ?? []).flatMap((c, i) => decodeCertificateText(c, `ak.chain[${i}]`))]
    const { anchor } = verifyCertificatePath(leafDer, chain, await registeredCas(collateral, 'ak'), now, 'AK certificate')
    return { publicKey, id, trust: 'certificate', name: leaf.subject, tpmPublic, certifiedBy: anchor.subject }
  }
  throw new EvidenceError('chain-untrusted', 'the AK is not registered or enrolled, and no AK certificate was sent')
}
