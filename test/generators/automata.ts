/**
 * Synthetic collaterals of Automata's cvm-agent (src/evidence/automata/collaterals.ts) around the
 * synthetic SEV-SNP / TDX PKIs and TPM keys of the other generators: no real collaterals are
 * public, and real TEE reports cannot carry keybroker's nonce. Each cloud's tie and each binding
 * generation can be built, and broken one field at a time.
 */
import { createHash, type KeyObject } from 'node:crypto'
import { automataV1ReportData, automataV2ExtraData, AUTOMATA_MAGIC, type CollateralsJson } from '../../src/evidence/automata/index.js'
import { SNP_COLLATERAL_KINDS } from '../../src/evidence/snp/index.js'
import { TDX_COLLATERAL_KINDS } from '../../src/evidence/tdx/index.js'
import { TPM_COLLATERAL_KINDS } from '../../src/evidence/tpm/index.js'
import type { CollateralLookup } from '../../src/evidence/types.js'
import { runtimeClaimsJson, runtimeReportData } from './azure.js'
import { issueEndorsement, makeReport, type ReportFields, type SnpPki } from './snp.js'
import { defaultCollateral, GEN_FMSPC, makeQuote, quoteFields as tdxQuoteFields, type TdBodyFields, type TdxPki } from './tdx.js'
import { encodeQuote, quoteFields, signQuote, type PcrValueMap } from './tpm.js'
import { extend, writeAgileLog, type LogEvent } from './tcg-event-log.js'

const b64 = (b: Uint8Array | Buffer | string): string => Buffer.from(b).toString('base64')
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))

export type Cloud = 'azure' | 'gcp' | 'aws'
export type Generation = 'v1' | 'v2'

/** The boot the synthetic vTPM measured: events of PCRs 0, 4, 7, 16 (livepatch) and 23 (workload). */
export const BOOT_EVENTS: readonly LogEvent[] = [
  { pcrIndex: 0, eventType: 0x80000008, data: ascii('platform firmware blob') },
  { pcrIndex: 4, eventType: 0x80000003, data: ascii('shim.efi') },
  { pcrIndex: 4, eventType: 0x80000003, data: ascii('uki.efi') },
  { pcrIndex: 7, eventType: 0x800000e0, data: ascii('db') },
  { pcrIndex: 16, eventType: 0x0d, data: ascii('livepatch 1') },
  { pcrIndex: 23, eventType: 0x0d, data: ascii('workload: docker-compose.yml + images') },
]

/** The SHA-256 PCR values the BOOT_EVENTS give (PCRs without events are zero). */
export function bootPcrs(events: readonly LogEvent[] = BOOT_EVENTS): Record<number, Uint8Array> {
  const out: Record<number, Uint8Array> = {}
  for (const pcr of [0, 1, 2, 3, 4, 5, 6, 7, 14, 15, 16, 23]) {
    out[pcr] = extend(
      'sha256',
      events.filter((e) => e.pcrIndex === pcr).map((e) => createHash('sha256').update(e.data).digest()),
    )
  }
  return out
}

export interface AutomataBuild {
  readonly tee: 'snp' | 'tdx'
  readonly cloud: Cloud
  readonly generation: Generation
  /** The nonce the agent was asked for (the agent nonce): N. */
  readonly nonce: string
  readonly magic?: string
  readonly ak: { privateKey: KeyObject; publicKey: KeyObject }
  /** GCP: the AK certificate (PEM) a registered AK CA issued. */
  readonly akCertPem?: string
  readonly snp?: { readonly pki: SnpPki; readonly vcek: Uint8Array; readonly fields?: Partial<ReportFields> }
  readonly tdx?: { readonly pki: TdxPki; readonly body?: Partial<TdBodyFields>; readonly ccel?: Uint8Array }
  /** Events of the TPM boot log (default BOOT_EVENTS); `null` sends no log. */
  readonly events?: readonly LogEvent[] | null
  /** Replaces the TEE REPORT_DATA the generation and cloud imply. */
  readonly teeReportData?: Uint8Array
  /** Replaces the quote extraData the generation implies. */
  readonly extraData?: Uint8Array
  /** Replaces PCR values after the quote was signed (a PCR the quote does not vouch for). */
  readonly pcrOverrides?: Record<number, Uint8Array>
}

/** The TEE REPORT_DATA of the build's cloud and generation. */
export function teeReportDataOf(o: AutomataBuild, varData: Uint8Array | undefined): Uint8Array {
  if (o.teeReportData !== undefined) return o.teeReportData
  if (varData !== undefined) return runtimeReportData(varData)
  return o.generation === 'v1' ? automataV1ReportData(ascii(o.magic ?? AUTOMATA_MAGIC), ascii(o.nonce)) : new Uint8Array(64)
}

/** Builds a collaterals document as the agent serves it. */
export async function buildCollaterals(o: AutomataBuild): Promise<CollateralsJson> {
  const magic = ascii(o.magic ?? AUTOMATA_MAGIC)
  const nonce = ascii(o.nonce)
  const varData = o.cloud === 'azure' ? new Uint8Array(runtimeClaimsJson({ ak: o.ak.publicKey })) : undefined
  const reportData = teeReportDataOf(o, varData)

  let tee: Pick<CollateralsJson, 'sev_snp' | 'tdx'>
  if (o.tee === 'snp') {
    if (o.snp === undefined) throw new Error('snp build needs snp.pki')
    const report = makeReport(o.snp.pki, { reportData, ...o.snp.fields })
    tee = { sev_snp: { attestation_report: b64(report), vek_cert: b64(o.snp.vcek) } }
  } else {
    if (o.tdx === undefined) throw new Error('tdx build needs tdx.pki')
    const quote = makeQuote(o.tdx.pki, tdxQuoteFields({ body: { reportData, ...o.tdx.body } }))
    tee = { tdx: { attestation_report: b64(quote) } }
  }

  const events = o.events === null ? [] : (o.events ?? BOOT_EVENTS)
  const values = bootPcrs(events)
  const pcrList = Object.keys(values).map(Number)
  const extraData = o.extraData ?? (o.generation === 'v1' ? nonce : automataV2ExtraData(magic, nonce))
  const quote = encodeQuote(quoteFields({ extraData, banks: [{ bank: 'sha256', pcrs: pcrList }] }), { sha256: values } satisfies PcrValueMap)
  const rawSig = signQuote(quote, o.ak.privateKey, o.ak.privateKey.asymmetricKeyType === 'rsa' ? 'rsassa' : 'ecdsa')
  const sent = { ...values, ...o.pcrOverrides }
  const akPub = new Uint8Array(o.ak.publicKey.export({ type: 'spki', format: 'der' }))
  const akCertDer = o.akCertPem === undefined ? undefined : Buffer.from(o.akCertPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  return {
    ...tee,
    tpm: {
      quote: b64(quote),
      raw_sig: b64(rawSig),
      pcrs: { hash: 11, pcrs: Object.fromEntries(Object.entries(sent).map(([i, v]) => [i, b64(v)])) },
      ...(akCertDer === undefined ? {} : { ak_cert: b64(akCertDer) }),
      ak_pub: b64(akPub),
      ...(varData === undefined ? {} : { var_data: b64(varData) }),
    },
    magic: b64(magic),
    nonce: b64(nonce),
    ...(o.tee === 'tdx' && o.cloud === 'gcp' ? { uuid: b64(new Uint8Array(16).fill(0x0c)) } : {}),
    ...(o.events === null ? {} : { boot_log_tpm: b64(writeAgileLog(['sha256'], events)) }),
    ...(o.tdx?.ccel === undefined ? {} : { boot_log_ccel: b64(o.tdx.ccel) }),
  }
}

/** A fresh VCEK of the SNP PKI. */
export function vcekOf(pki: SnpPki): Promise<Uint8Array> {
  return issueEndorsement(pki)
}

/** A lookup serving the TDX PKI's default collateral (the verifier takes TDX collateral from the store). */
export function tdxCollateralLookup(pki: TdxPki): CollateralLookup {
  const c = defaultCollateral(pki)
  return {
    get: async (kind, key) => {
      if (kind === TDX_COLLATERAL_KINDS.tcbInfo && key === GEN_FMSPC) return c.tcbInfo
      if (kind === TDX_COLLATERAL_KINDS.qeIdentity) return c.qeIdentity
      if (kind === TDX_COLLATERAL_KINDS.tcbSigningChain) return c.tcbSigningChain
      return undefined
    },
  }
}

/** A lookup serving the SNP PKI's ASK and ARK (the agent sends the VCEK/VLEK only). */
export function snpCollateralLookup(pki: SnpPki, product = 'Milan'): CollateralLookup {
  return {
    get: async (kind, key) => {
      if (key !== product) return undefined
      if (kind === SNP_COLLATERAL_KINDS.ask) return pki.ask.der
      if (kind === SNP_COLLATERAL_KINDS.ark) return pki.ark.der
      return undefined
    },
  }
}

/** TPM trust as the service's registry hands it over: registered AK CAs (PEM) and registered AK ids. */
export function tpmTrustLookup(trust: { akCaPem?: string; registeredAkIds?: readonly string[] }): CollateralLookup {
  return {
    get: async (kind, key) => {
      if (kind === TPM_COLLATERAL_KINDS.ca && key === 'ak' && trust.akCaPem !== undefined) return new Uint8Array(Buffer.from(trust.akCaPem))
      if (kind === TPM_COLLATERAL_KINDS.ak && trust.registeredAkIds?.includes(key)) return new Uint8Array(Buffer.from(JSON.stringify({ source: 'registered', name: 'aws vm' })))
      return undefined
    },
  }
}

/** The first lookup that has a value wins. */
export function lookups(...all: readonly CollateralLookup[]): CollateralLookup {
  return {
    get: async (kind, key) => {
      for (const l of all) {
        const v = await l.get(kind, key)
        if (v !== undefined) return v
      }
      return undefined
    },
  }
}
