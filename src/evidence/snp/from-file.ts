/**
 * Wire-form `snp` evidence from files, for `keybroker evidence verify --type snp REPORT
 * [--certs FILE…]`: the raw report (configfs-tsm `outblob`, 0x4A0 bytes) and certificate files,
 * each PEM text, one DER certificate, or a certificate table (configfs-tsm `auxblob`).
 */
import { EvidenceError } from '../../errors.js'
import type { EvidenceFiles } from '../types.js'

const toBase64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

const PEM_MARK = '-----BEGIN'
/** A DER certificate is a SEQUENCE; a certificate table starts with a GUID (none starts 0x30). */
const DER_SEQUENCE = 0x30

function isPem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 4096)).toString('latin1').includes(PEM_MARK)
}

/**
 * Builds `{type: 'snp', report, certs?}` (base64) without judging the bytes: the schema and the
 * verifier do. At most one certificate table, and then no other certificate files.
 * @throws `evidence-malformed`
 */
export function snpEvidenceFromFiles(report: Uint8Array, files: EvidenceFiles): { type: 'snp'; report: string; certs?: string | string[] } {
  const evidence = { type: 'snp' as const, report: toBase64(report) }
  if (files.certs.length === 0) return evidence
  const tables = files.certs.filter((f) => !isPem(f) && f[0] !== DER_SEQUENCE)
  if (tables.length > 0) {
    if (files.certs.length > 1) throw new EvidenceError('evidence-malformed', 'certs: a certificate table must be the only --certs file')
    return { ...evidence, certs: toBase64(files.certs[0] ?? new Uint8Array()) }
  }
  return { ...evidence, certs: files.certs.map((f) => (isPem(f) ? Buffer.from(f).toString('latin1') : toBase64(f))) }
}
