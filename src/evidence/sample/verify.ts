import { z } from 'zod'
import { EvidenceError } from '../../errors.js'
import { fromBase64, fromHex, toHex } from '../reader.js'
import type { Claims, EvidenceVerifier } from '../types.js'
import { REPORT_DATA_BINDING } from '../binding.js'

/** Development-only evidence (docs/architecture.md, "Wire details"): unsigned, so never hardware-backed. */
export const sampleEvidenceSchema = z.object({
  type: z.literal('sample'),
  measurement: z.string().regex(/^[0-9a-fA-F]{2,128}$/).refine((s) => s.length % 2 === 0, 'even number of hex digits'),
  reportData: z.string().max(200),
  debug: z.boolean().default(false),
})
export type SampleEvidence = z.infer<typeof sampleEvidenceSchema>

export const REPORT_DATA_SIZE = 64

/** Turns sample evidence into claims; fails with `evidence-malformed` unless report data is 64 bytes. */
export async function verifySampleEvidence(evidence: SampleEvidence): Promise<Claims> {
  const reportData = fromBase64(evidence.reportData, 'reportData')
  if (reportData.byteLength !== REPORT_DATA_SIZE) {
    throw new EvidenceError('evidence-malformed', `reportData: must be ${REPORT_DATA_SIZE} bytes`)
  }
  const measurement = toHex(fromHex(evidence.measurement, 'measurement'))
  return {
    evidenceType: 'sample',
    platform: 'sample',
    hardwareBacked: false,
    measurement,
    measurements: { measurement },
    reportData,
    debug: evidence.debug,
    tcb: {},
    raw: { measurement, debug: evidence.debug },
  }
}

export const sampleVerifier: EvidenceVerifier<SampleEvidence> = {
  type: 'sample',
  schema: sampleEvidenceSchema,
  verify: (evidence) => verifySampleEvidence(evidence),
  binding: REPORT_DATA_BINDING,
}
