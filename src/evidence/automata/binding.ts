/**
 * The `automata` binding profile. The client asks the agent for `/…/collaterals/{agentNonce}`;
 * the agent binds the raw bytes of that path segment (N, 43 ASCII characters) with its magic
 * M = "External/collaterals" in one of three ways, which changed over time (agent API docs of
 * automata-network/cvm-base-image, history in nuconstruct-ltd/automata-linux `docs/cvm-agent-api.md`):
 *
 * | generation | TPM quote extraData | TEE REPORT_DATA | rule |
 * |---|---|---|---|
 * | 2025-05 (v1), 2025-06 GCP/AWS | N | 0³² ‖ SHA-256(M ‖ N) | `automata-v1` |
 * | 2025-06 Azure, 2025-08 on (v2) every cloud | M ‖ N | Azure: SHA-256(var_data) ‖ 0³²; GCP/AWS: 0⁶⁴ | `automata-v2` |
 *
 * (The first Azure agent, `GET /collaterals` without a nonce, binds nothing and is refused.)
 * Any other combination — a v2 quote with a v1 TEE report, an Azure v1 quote, a report data of
 * neither form — is a mixed generation: `binding-mismatch`. The document's own `nonce` must be N
 * and its `magic` M. The bytes come from the verifier (`Claims.binding`): `magic`, `nonce` as the
 * document states them, `extraData` from the verified quote, `teeReportData` from the verified
 * TEE report, `varDataDigest` on Azure.
 */
import { createHash } from 'node:crypto'
import { bindingMismatch, bindingOk, type BindingProfile, type BindingResult } from '../binding.js'
import { equalBytes } from '../reader.js'
import type { Claims } from '../types.js'

/** The magic of collaterals served to others (the agent also knows `Internal/collaterals`, which we refuse). */
export const AUTOMATA_MAGIC = 'External/collaterals'

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))
const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

/** The TEE REPORT_DATA of the v1 rule: 0³² ‖ SHA-256(magic ‖ nonce). */
export function automataV1ReportData(magic: Uint8Array, nonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(64)
  out.set(createHash('sha256').update(concat(magic, nonce)).digest(), 32)
  return out
}

/** The TPM extraData of the v2 rule: magic ‖ nonce. */
export function automataV2ExtraData(magic: Uint8Array, nonce: Uint8Array): Uint8Array {
  return concat(magic, nonce)
}

function checkAutomata(claims: Claims, agentNonce: string): BindingResult {
  const b = claims.binding
  const magic = b?.['magic']
  const nonce = b?.['nonce']
  const extraData = b?.['extraData']
  const teeReportData = b?.['teeReportData']
  if (magic === undefined || nonce === undefined || extraData === undefined || teeReportData === undefined) {
    return bindingMismatch('the evidence carries no Automata binding data')
  }
  const varDataDigest = b?.['varDataDigest']
  const n = ascii(agentNonce)
  const m = ascii(AUTOMATA_MAGIC)
  if (!equalBytes(nonce, n)) return bindingMismatch('collaterals.nonce is not the agent nonce of this challenge and key')
  if (!equalBytes(magic, m)) return bindingMismatch(`collaterals.magic is not ${AUTOMATA_MAGIC}`)

  if (equalBytes(extraData, automataV2ExtraData(m, n))) {
    // v2: freshness from the quote alone; the TEE report data is the cloud's tie, or zero.
    const expected = new Uint8Array(64)
    if (varDataDigest !== undefined) expected.set(varDataDigest)
    return equalBytes(teeReportData, expected)
      ? bindingOk('automata-v2')
      : bindingMismatch(
          varDataDigest !== undefined
            ? 'mixed generations: the quote binds magic ‖ nonce but the TEE report data is not SHA-256(var_data) ‖ 0'
            : 'mixed generations: the quote binds magic ‖ nonce but the TEE report data is not all zero',
        )
  }
  if (equalBytes(extraData, n)) {
    if (varDataDigest !== undefined) return bindingMismatch('mixed generations: Azure collaterals bind magic ‖ nonce in the quote, not the nonce alone')
    return equalBytes(teeReportData, automataV1ReportData(m, n))
      ? bindingOk('automata-v1')
      : bindingMismatch('mixed generations: the quote binds the nonce alone but the TEE report data is not 0³² ‖ SHA-256(magic ‖ nonce)')
  }
  return bindingMismatch('the TPM quote extraData binds neither magic ‖ nonce nor the nonce')
}

export const AUTOMATA_BINDING: BindingProfile = {
  name: 'automata',
  check: (claims, input) => checkAutomata(claims, input.agentNonce),
}
