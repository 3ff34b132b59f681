import { toHex } from '../reader.js'
import type { EventDescription } from '../tcg-event-log/index.js'
import type { Claims, JsonValue } from '../types.js'
import type { TpmHashName } from './algorithms.js'
import type { TrustedAk } from './ak-trust.js'
import type { ImaMeasurements } from './ima/check.js'
import type { MeasuredBoot } from './measured-boot.js'
import type { VerifiedQuote } from './quote.js'

type JsonObject = { [k: string]: JsonValue }

/** Claim name of a PCR: `pcr7` in the SHA-256 bank, `sha1-pcr7` etc. in the others. */
export function pcrClaimName(bank: TpmHashName, index: number): string {
  return bank === 'sha256' ? `pcr${index}` : `${bank}-pcr${index}`
}

/** Quoted PCR values as JSON: bank → index → hex (`raw.pcrs`, which the `pcr.<bank>.<n>` claims read). */
export function pcrMap(pcrs: ReadonlyMap<TpmHashName, ReadonlyMap<number, string>>): JsonObject {
  const out: JsonObject = {}
  for (const [bank, values] of pcrs) out[bank] = Object.fromEntries([...values].map(([i, v]) => [String(i), v]))
  return out
}

function eventJson(e: EventDescription): JsonObject {
  return { sequence: e.sequence, pcr: e.pcrIndex, type: e.type, digests: { ...e.digests }, digestMatchesData: e.digestMatchesData, details: { ...e.details } }
}

/** The quote and AK facts in `raw`, shared with the Azure vTPM types. */
export function quoteClaims(quote: VerifiedQuote): JsonObject {
  const a = quote.attest
  return {
    qualifiedSigner: toHex(a.qualifiedSigner),
    extraData: toHex(a.extraData),
    clock: a.clockInfo.clock.toString(),
    resetCount: a.clockInfo.resetCount,
    restartCount: a.clockInfo.restartCount,
    safe: a.clockInfo.safe,
    firmwareVersion: a.firmwareVersion.toString(16).padStart(16, '0'),
    pcrSelection: a.pcrSelect.map((b) => ({ bank: b.hash.name, pcrs: [...b.pcrs] })),
    pcrDigest: toHex(a.pcrDigest),
    signature: { scheme: quote.signature.sigAlg, hash: quote.signature.hash.name },
  }
}

/** Every quoted PCR as a named measurement (`pcrClaimName`). */
export function pcrMeasurements(quote: VerifiedQuote): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [bank, values] of quote.pcrs) for (const [i, v] of values) out[pcrClaimName(bank, i)] = v
  return out
}

function akClaims(ak: TrustedAk): JsonObject {
  const out: JsonObject = { id: ak.id, trust: ak.trust, name: ak.name }
  if (ak.certifiedBy !== undefined) out['certifiedBy'] = ak.certifiedBy
  if (ak.tpmPublic !== undefined) {
    out['tpmName'] = toHex(ak.tpmPublic.name)
    out['objectAttributes'] = ak.tpmPublic.objectAttributes.toString(16).padStart(8, '0')
  }
  return out
}

/** The verified event log in `raw.eventLog` (shared with the Azure vTPM types). */
export function measuredBootClaims(m: MeasuredBoot): JsonObject {
  const out: JsonObject = {
    format: m.format,
    banks: [...m.banks],
    verifiedPcrs: [...m.verifiedPcrs],
    unverifiedEvents: m.unverifiedEvents,
    events: m.events.map(eventJson),
  }
  if (m.secureBoot !== undefined) out['secureBoot'] = m.secureBoot
  return out
}

function imaClaims(m: ImaMeasurements): JsonObject {
  return {
    form: m.form,
    entries: m.entries,
    banks: [...m.banks],
    verifiedPcrs: [...m.verifiedPcrs],
    violations: m.violations,
    files: m.files.map((f) => ({ ...f })),
  }
}

/**
 * Normalized claims of verified `tpm` evidence (src/evidence/types.ts): platform `tpm`;
 * `measurement` = the quoted pcrDigest in hex (H of the selected PCR values in selection order,
 * with the signature's hash: what `tpm2_pcrread -o FILE` + `sha256sum FILE` computes for the
 * same selection); `measurements` = each quoted PCR (`pcr<N>` for SHA-256, `<bank>-pcr<N>` for
 * other banks); reportData = the quote's extraData; instanceId = the AK id; `raw` = the decoded
 * quote, the AK, the PCRs, and the verified event log and IMA list when sent.
 */
export function toClaims(v: {
  readonly quote: VerifiedQuote
  readonly ak: TrustedAk
  readonly measuredBoot: MeasuredBoot | undefined
  readonly ima: ImaMeasurements | undefined
}): Claims {
  const raw: JsonObject = { quote: quoteClaims(v.quote), ak: akClaims(v.ak), pcrs: pcrMap(v.quote.pcrs) }
  if (v.measuredBoot !== undefined) raw['eventLog'] = measuredBootClaims(v.measuredBoot)
  if (v.ima !== undefined) raw['ima'] = imaClaims(v.ima)
  return {
    evidenceType: 'tpm',
    platform: 'tpm',
    hardwareBacked: true,
    measurement: toHex(v.quote.attest.pcrDigest),
    measurements: pcrMeasurements(v.quote),
    reportData: v.quote.attest.extraData.slice(),
    debug: false,
    tcb: { firmwareVersion: v.quote.attest.firmwareVersion.toString(16).padStart(16, '0') },
    instanceId: v.ak.id,
    raw,
  }
}
