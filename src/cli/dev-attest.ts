/**
 * `keybroker dev attest --sample`: the whole attestation round trip a workload makes, with the
 * development-only sample evidence, so a new user sees a secret released right after `npm start`.
 */
import { join } from 'node:path'
import { compactDecrypt, exportJWK, generateKeyPair } from 'jose'
import { computeBinding } from '../tokens/binding.js'
import { AdminApiError, AdminConnectionError, adminRequest } from './admin/http.js'
import { asRecord, failedRuleNames, formatJson } from './admin/output.js'
import { connectionFor, list, str } from './admin/session.js'
import type { CliContext } from './io.js'

export async function devAttest(opts: Record<string, unknown>, ctx: CliContext): Promise<number> {
  const dataDir = ctx.env['KEYBROKER_DATA_DIR'] || './data'
  const conn = await connectionFor({ url: str(opts, 'url'), cacert: str(opts, 'cacert'), pinSha256: str(opts, 'pinSha256') }, ctx.env, {
    tokenRequired: false,
    defaultCaFile: join(dataDir, 'tls', 'dev-cert.pem'),
  })
  const anonymous = { ...conn, token: undefined }
  const release = (list(opts, 'release') ?? []).map(String)
  try {
    const { nonce } = asRecord((await adminRequest(anonymous, 'POST', '/v1/challenge', {})).body)
    if (typeof nonce !== 'string') throw new AdminConnectionError('the challenge answer holds no nonce')
    const { publicKey, privateKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256', extractable: false })
    const { kty, crv, x, y } = await exportJWK(publicKey)
    const jwk = { kty, crv, x, y }
    const reportData = Buffer.from(await computeBinding(nonce, jwk)).toString('base64url')
    const evidence = { type: 'sample', measurement: str(opts, 'measurement'), reportData, debug: opts['debug'] === true }
    const answer = asRecord((await adminRequest(anonymous, 'POST', '/v1/attest', { nonce, evidence, publicKey: jwk, release })).body)
    const secrets: Record<string, string> = {}
    for (const [name, jwe] of Object.entries(asRecord(answer['secrets']))) {
      if (typeof jwe !== 'string') continue
      secrets[name] = Buffer.from((await compactDecrypt(jwe, privateKey)).plaintext).toString('base64url')
    }
    if (opts['json'] === true) {
      ctx.out.stdout(formatJson({ token: answer['token'], secrets }))
      return 0
    }
    ctx.out.stderr(`attested: EAR token issued (${String(answer['token']).length} characters); ${Object.keys(secrets).length} secret(s) released\n`)
    for (const [name, value] of Object.entries(secrets)) {
      const bytes = Buffer.from(value, 'base64url')
      const text = bytes.toString('utf8')
      // Printable UTF-8 as text; anything else (generated keys) as base64url.
      const printable = /^[\x20-\x7e\t\n]*$/.test(text) && Buffer.from(text, 'utf8').equals(bytes)
      ctx.out.stdout(`${name}: ${printable ? text : `${value} (base64url, ${bytes.byteLength} bytes)`}\n`)
    }
    return 0
  } catch (err) {
    if (err instanceof AdminApiError) {
      if (opts['json'] === true) ctx.out.stdout(formatJson({ status: err.status, ...err.problem }))
      const names = failedRuleNames(err.problem)
      const failed = names === undefined ? '' : `\nfailed rules: ${names.join(', ')}`
      ctx.out.stderr(`keybroker: refused: ${err.message}${failed}\n`)
      return 1
    }
    if (err instanceof AdminConnectionError) {
      ctx.out.stderr(`keybroker: ${err.message}\n`)
      return 1
    }
    throw err
  }
}
