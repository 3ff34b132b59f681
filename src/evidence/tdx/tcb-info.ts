/**
 * Intel PCS collateral documents for TDX, validated into typed values: TCB Info v3 with
 * `id: "TDX"` (PCS API v4 "Get TDX TCB Info", TCB Info V3 schema) and Enclave Identity v2 with
 * `id: "TD_QE"` ("Get TDX QE Identity"). Only called on the member bytes whose signature has
 * been verified (`signed-json.ts`); an Intel-signed document we do not understand (other id or
 * version) is `evidence-unsupported`, one that breaks the schema `evidence-malformed`.
 */
import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import { fromHex } from '../reader.js'

/** TCB statuses a TCB Info level may carry (TCB Info V3 schema, `tcbStatus`). */
export const PLATFORM_TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const
export type PlatformTcbStatus = (typeof PLATFORM_TCB_STATUSES)[number]
/** Statuses of TDX module identity and QE identity levels. */
export const IDENTITY_TCB_STATUSES = ['UpToDate', 'OutOfDate', 'Revoked'] as const
export type IdentityTcbStatus = (typeof IDENTITY_TCB_STATUSES)[number]

const hexOf = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `${bytes} bytes of hex`)
const isoDate = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/.test(s) && !Number.isNaN(Date.parse(s)), 'ISO 8601 UTC date')
const svn = z.number().int().min(0).max(255)
const component = z.object({ svn, category: z.string().max(64).optional(), type: z.string().max(64).optional() })
const advisoryIds = z.array(z.string().max(64)).max(256).optional()

const identityLevel = z.object({
  tcb: z.object({ isvsvn: z.number().int().min(0).max(0xffff) }),
  tcbDate: isoDate,
  tcbStatus: z.enum(IDENTITY_TCB_STATUSES),
  advisoryIDs: advisoryIds,
})

const tdxModule = z.object({ mrsigner: hexOf(48), attributes: hexOf(8), attributesMask: hexOf(8) })

const tcbInfoSchema = z.object({
  id: z.literal('TDX'),
  version: z.literal(3),
  issueDate: isoDate,
  nextUpdate: isoDate,
  fmspc: hexOf(6),
  pceId: hexOf(2),
  tcbType: z.literal(0),
  tcbEvaluationDataNumber: z.number().int().min(0),
  tdxModule: tdxModule.optional(),
  tdxModuleIdentities: z
    .array(tdxModule.extend({ id: z.string().regex(/^TDX_[0-9A-Fa-f]{2}$/), tcbLevels: z.array(identityLevel).min(1).max(64) }))
    .max(64)
    .optional(),
  tcbLevels: z
    .array(
      z.object({
        tcb: z.object({
          sgxtcbcomponents: z.array(component).length(16),
          pcesvn: z.number().int().min(0).max(0xffff),
          tdxtcbcomponents: z.array(component).length(16),
        }),
        tcbDate: isoDate,
        tcbStatus: z.enum(PLATFORM_TCB_STATUSES),
        advisoryIDs: advisoryIds,
      }),
    )
    .min(1)
    .max(256),
})

const qeIdentitySchema = z.object({
  id: z.literal('TD_QE'),
  version: z.literal(2),
  issueDate: isoDate,
  nextUpdate: isoDate,
  tcbEvaluationDataNumber: z.number().int().min(0),
  miscselect: hexOf(4),
  miscselectMask: hexOf(4),
  attributes: hexOf(16),
  attributesMask: hexOf(16),
  mrsigner: hexOf(32),
  isvprodid: z.number().int().min(0).max(0xffff),
  tcbLevels: z.array(identityLevel).min(1).max(64),
})

export interface IdentityTcbLevel {
  readonly isvSvn: number
  readonly tcbDate: string
  readonly tcbStatus: IdentityTcbStatus
  readonly advisoryIds: readonly string[]
}

export interface TdxModuleIdentity {
  /** `TDX_01`, `TDX_03`, … (upper case). */
  readonly id: string
  readonly mrSigner: Uint8Array
  readonly attributes: Uint8Array
  readonly attributesMask: Uint8Array
  readonly tcbLevels: readonly IdentityTcbLevel[]
}

export interface PlatformTcbLevel {
  readonly sgxTcbComponents: readonly number[]
  readonly pceSvn: number
  readonly tdxTcbComponents: readonly number[]
  readonly tcbDate: string
  readonly tcbStatus: PlatformTcbStatus
  readonly advisoryIds: readonly string[]
}

/** A TDX TCB Info v3 document (the signed `tcbInfo` member). */
export interface TdxTcbInfo {
  readonly issueDate: Date
  readonly nextUpdate: Date
  /** Lowercase hex. */
  readonly fmspc: string
  readonly pceId: string
  readonly tcbEvaluationDataNumber: number
  readonly tdxModule: { readonly mrSigner: Uint8Array; readonly attributes: Uint8Array; readonly attributesMask: Uint8Array } | undefined
  readonly tdxModuleIdentities: readonly TdxModuleIdentity[]
  /** In the signed order (PCS lists the highest level first). */
  readonly tcbLevels: readonly PlatformTcbLevel[]
}

/** A TD_QE Enclave Identity v2 document (the signed `enclaveIdentity` member). */
export interface TdQeIdentity {
  readonly issueDate: Date
  readonly nextUpdate: Date
  readonly tcbEvaluationDataNumber: number
  readonly miscSelect: number
  readonly miscSelectMask: number
  readonly attributes: Uint8Array
  readonly attributesMask: Uint8Array
  readonly mrSigner: Uint8Array
  readonly isvProdId: number
  readonly tcbLevels: readonly IdentityTcbLevel[]
}

function checkKind(body: unknown, id: string, version: number, what: string): void {
  if (typeof body !== 'object' || body === null) throw new EvidenceError('evidence-malformed', `${what}: not an object`)
  const gotId: unknown = Object.getOwnPropertyDescriptor(body, 'id')?.value
  const gotVersion: unknown = Object.getOwnPropertyDescriptor(body, 'version')?.value
  if (gotId !== id || gotVersion !== version) {
    throw new EvidenceError('evidence-unsupported', `${what}: id ${String(gotId)} version ${String(gotVersion)}; supported: ${id} version ${version}`)
  }
}

function schemaError(what: string, error: z.ZodError): EvidenceError {
  const first = error.issues[0]
  return new EvidenceError('evidence-malformed', `${what}: ${first === undefined ? 'invalid' : `${first.path.join('.')}: ${first.message}`}`)
}

function identityLevels(levels: z.infer<typeof identityLevel>[]): IdentityTcbLevel[] {
  return levels.map((l) => ({ isvSvn: l.tcb.isvsvn, tcbDate: l.tcbDate, tcbStatus: l.tcbStatus, advisoryIds: l.advisoryIDs ?? [] }))
}

const bytes = (hex: string, what: string): Uint8Array => fromHex(hex, what)
const le32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true)

/** Validates the signed `tcbInfo` member. @throws `evidence-unsupported`, `evidence-malformed` */
export function decodeTcbInfo(body: unknown): TdxTcbInfo {
  checkKind(body, 'TDX', 3, 'tcbInfo')
  const r = tcbInfoSchema.safeParse(body)
  if (!r.success) throw schemaError('tcbInfo', r.error)
  const t = r.data
  return {
    issueDate: new Date(t.issueDate),
    nextUpdate: new Date(t.nextUpdate),
    fmspc: t.fmspc.toLowerCase(),
    pceId: t.pceId.toLowerCase(),
    tcbEvaluationDataNumber: t.tcbEvaluationDataNumber,
    tdxModule:
      t.tdxModule === undefined
        ? undefined
        : {
            mrSigner: bytes(t.tdxModule.mrsigner, 'tdxModule.mrsigner'),
            attributes: bytes(t.tdxModule.attributes, 'tdxModule.attributes'),
            attributesMask: bytes(t.tdxModule.attributesMask, 'tdxModule.attributesMask'),
          },
    tdxModuleIdentities: (t.tdxModuleIdentities ?? []).map((m) => ({
      id: m.id.toUpperCase(),
      mrSigner: bytes(m.mrsigner, 'tdxModuleIdentities.mrsigner'),
      attributes: bytes(m.attributes, 'tdxModuleIdentities.attributes'),
      attributesMask: bytes(m.attributesMask, 'tdxModuleIdentities.attributesMask'),
      tcbLevels: identityLevels(m.tcbLevels),
    })),
    tcbLevels: t.tcbLevels.map((l) => ({
      sgxTcbComponents: l.tcb.sgxtcbcomponents.map((c) => c.svn),
      pceSvn: l.tcb.pcesvn,
      tdxTcbComponents: l.tcb.tdxtcbcomponents.map((c) => c.svn),
      tcbDate: l.tcbDate,
      tcbStatus: l.tcbStatus,
      advisoryIds: l.advisoryIDs ?? [],
    })),
  }
}

/** Validates the signed `enclaveIdentity` member. @throws `evidence-unsupported`, `evidence-malformed` */
export function decodeQeIdentity(body: unknown): TdQeIdentity {
  checkKind(body, 'TD_QE', 2, 'enclaveIdentity')
  const r = qeIdentitySchema.safeParse(body)
  if (!r.success) throw schemaError('enclaveIdentity', r.error)
  const q = r.data
  return {
    issueDate: new Date(q.issueDate),
    nextUpdate: new Date(q.nextUpdate),
    tcbEvaluationDataNumber: q.tcbEvaluationDataNumber,
    // The hex holds MISCSELECT's bytes in report (little-endian) order, as Intel's QVL reads it.
    miscSelect: le32(bytes(q.miscselect, 'enclaveIdentity.miscselect')),
    miscSelectMask: le32(bytes(q.miscselectMask, 'enclaveIdentity.miscselectMask')),
    attributes: bytes(q.attributes, 'enclaveIdentity.attributes'),
    attributesMask: bytes(q.attributesMask, 'enclaveIdentity.attributesMask'),
    mrSigner: bytes(q.mrsigner, 'enclaveIdentity.mrsigner'),
    isvProdId: q.isvprodid,
    tcbLevels: identityLevels(q.tcbLevels),
  }
}
