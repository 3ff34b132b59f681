/**
 * Builds Automata cvm-agent collaterals documents from real hardware pieces (see README.md):
 * Automata's Azure collaterals carry exactly what an Azure confidential VM's HCL report and vTPM
 * give — the SNP report inside the HCL report, the HCL runtime claims (`var_data`, holding the AK),
 * the vTPM quote, its signature, the PCRs — so the real trustee Azure vector becomes an Automata
 * document by re-encoding only. `checked-in` JSON files are this function's output; a test keeps
 * them equal.
 */
import { readFileSync } from 'node:fs'
import type { CollateralsJson } from '../../../src/evidence/automata/index.js'

const azure = (name: string): Buffer => readFileSync(new URL(`../azure/snp/${name}`, import.meta.url))
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

/** First PEM certificate of a file, as DER. */
function firstCertificate(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem)
  if (m?.[1] === undefined) throw new Error('no certificate')
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64')
}

/** TPMT_SIGNATURE of an RSASSA-PKCS1-v1_5 SHA-256 signature (sigAlg 0x0014, hash 0x000B, TPM2B sig), as go-tpm-tools' `raw_sig`. */
function tpmtSignatureRsassaSha256(sig: Buffer): Buffer {
  const head = Buffer.alloc(6)
  head.writeUInt16BE(0x0014, 0)
  head.writeUInt16BE(0x000b, 2)
  head.writeUInt16BE(sig.length, 4)
  return Buffer.concat([head, sig])
}

/**
 * The trustee az-snp-vtpm vector (hcl-report.bin, tpm-quote-v1.json, vcek.pem; Milan, SNP report
 * v2) as the Azure collaterals of a 2025-06 / v2 agent. The quote's extraData is the nonce the
 * vector was made with ("challenge"), so `nonce` states it; no agent made this quote, so it
 * binds no magic (the binding profile refuses it; `evidence verify` does not check bindings).
 */
export function azureSnpCollaterals(): CollateralsJson {
  const hcl = azure('hcl-report.bin')
  // HCL report layout (src/evidence/azure/hcl-report.ts): SNP report at 0x20, runtime data size at 0x4D0, data at 0x4D4.
  const report = hcl.subarray(0x20, 0x20 + 0x4a0)
  const varData = hcl.subarray(0x4d4, 0x4d4 + hcl.readUInt32LE(0x4d0))
  const q = JSON.parse(azure('tpm-quote-v1.json').toString('utf8')) as { signature: string; message: string; pcrs: string[] }
  return {
    sev_snp: { attestation_report: b64(report), vek_cert: b64(firstCertificate(azure('vcek.pem').toString('latin1'))) },
    tpm: {
      quote: b64(Buffer.from(q.message, 'hex')),
      raw_sig: b64(tpmtSignatureRsassaSha256(Buffer.from(q.signature, 'hex'))),
      pcrs: { hash: 11, pcrs: Object.fromEntries(q.pcrs.map((v, i) => [String(i), b64(Buffer.from(v, 'hex'))])) },
      var_data: b64(varData),
    },
    magic: b64(Buffer.from('External/collaterals')),
    nonce: b64(Buffer.from('challenge')),
  }
}

/** The PCR values of tpm-quote-v1.json (SHA-256 bank, index → hex). */
export function azureSnpPcrs(): Record<string, string> {
  const q = JSON.parse(azure('tpm-quote-v1.json').toString('utf8')) as { pcrs: string[] }
  return Object.fromEntries(q.pcrs.map((v, i) => [String(i), v.toLowerCase()]))
}
