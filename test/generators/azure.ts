/**
 * Synthetic Azure HCL reports (layout of src/evidence/azure/hcl-report.ts) around synthetic SNP
 * reports / TD quotes of the test PKIs, with runtime claims holding an AK the test owns, so a
 * whole az-snp-vtpm / az-tdx-vtpm chain can be built and broken one piece at a time.
 */
import { createHash, type KeyObject } from 'node:crypto'

export interface RuntimeClaimsInput {
  readonly ak: KeyObject
  readonly vmUniqueId?: string
  readonly userData?: string
}

export function runtimeClaimsJson(input: RuntimeClaimsInput): Buffer {
  const jwk = input.ak.export({ format: 'jwk' })
  return Buffer.from(
    JSON.stringify({
      keys: [{ kid: 'HCLAkPub', key_ops: ['sign'], kty: jwk.kty, e: jwk.e, n: jwk.n }],
      'vm-configuration': { 'console-enabled': false, 'secure-boot': true, 'tpm-enabled': true, vmUniqueId: input.vmUniqueId ?? 'AB12CD34-0000-4000-8000-000000000001' },
      'user-data': input.userData ?? '00'.repeat(64),
    }),
  )
}

/** REPORT_DATA for the runtime claims: SHA-256 of them, zero-padded to 64 bytes. */
export function runtimeReportData(runtime: Uint8Array): Uint8Array {
  const out = new Uint8Array(64)
  out.set(createHash('sha256').update(runtime).digest())
  return out
}

/** A TDREPORT-sized area with REPORTMACSTRUCT.REPORTDATA at 128. */
export function tdReport(reportData: Uint8Array): Uint8Array {
  const r = new Uint8Array(1024).fill(0x33)
  r.set(reportData, 128)
  return r
}

export function hclReport(kind: 'snp' | 'tdx', hardwareReport: Uint8Array, runtime: Uint8Array, options: { paddedTo?: number } = {}): Uint8Array {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  const hw = Buffer.alloc(0x4a0)
  hw.set(hardwareReport)
  const dataSize = 20 + runtime.byteLength
  const body = Buffer.concat([
    Buffer.from('HCLA', 'latin1'),
    u32(2),
    u32(0x20 + 0x4a0 + dataSize),
    u32(2),
    u32(0),
    Buffer.alloc(12),
    hw,
    u32(dataSize),
    u32(1),
    u32(kind === 'snp' ? 2 : 4),
    u32(1),
    u32(runtime.byteLength),
    Buffer.from(runtime),
  ])
  const out = new Uint8Array(Math.max(options.paddedTo ?? 2600, body.length))
  out.set(body)
  return out
}
