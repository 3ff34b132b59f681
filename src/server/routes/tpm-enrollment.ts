import { createRoute, z } from '@hono/zod-openapi'
import { completeEnrollment, startEnrollment } from '../../services/tpm-enrollment.js'
import type { App } from '../app.js'
import type { AppDeps } from '../context.js'
import { COMMON_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const StartRequest = z
  .object({
    ekCertificate: z.string().min(1).max(16_384).openapi({ description: 'EK certificate (tpm2_nvread 0x1c00002 / 0x1c0000a): PEM or base64 DER; PEM may hold intermediates after it' }),
    ekChain: z.array(z.string().min(1).max(16_384)).max(6).optional().openapi({ description: 'intermediate CA certificates, PEM or base64 DER' }),
    ekPublic: z.string().min(1).max(2048).optional().openapi({ description: 'the EK TPM2B_PUBLIC/TPMT_PUBLIC (tpm2_createek -u), base64; without it the TCG default EK template of the certified key type is assumed' }),
    akPublic: z.string().min(1).max(2048).openapi({ description: 'the AK TPM2B_PUBLIC or TPMT_PUBLIC (tpm2_createak -u), base64' }),
    name: NameSchema.optional().openapi({ description: 'name to register the AK under' }),
  })
  .strict()
  .openapi('TpmEnrollmentStart')

const Challenge = z
  .object({
    token: z.string().openapi({ description: "MAC'd, expiring enrollment state; send it back unchanged" }),
    expiresAt: TimestampSchema,
    akId: z.string(),
    credentialBlob: z.string().openapi({ description: 'TPM2B_ID_OBJECT, base64url' }),
    encryptedSecret: z.string().openapi({ description: 'TPM2B_ENCRYPTED_SECRET, base64url' }),
    tpm2ToolsCredential: z.string().openapi({ description: 'the file tpm2_activatecredential -i reads, base64url' }),
  })
  .openapi('TpmEnrollmentChallenge')

const ActivateRequest = z
  .object({
    token: z.string().min(1).max(4096),
    credential: z.string().min(1).max(256).openapi({ description: 'what TPM2_ActivateCredential returned (tpm2_activatecredential -o), base64' }),
    akPublic: z.string().min(1).max(2048).openapi({ description: 'the same AK public area as in the start request' }),
  })
  .strict()
  .openapi('TpmEnrollmentActivate')

const EnrolledAk = z
  .object({
    id: z.string(),
    name: z.string(),
    source: z.enum(['registered', 'enrolled']),
    publicKey: z.string(),
    tpmName: z.string().nullable(),
    ekCertificateSha256: z.string().nullable(),
    createdAt: TimestampSchema,
    createdBy: z.string(),
  })
  .openapi('TpmEnrolledAk')

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const ERRORS = {
  ...COMMON_ERRORS,
  415: problemResponse('Body is not application/json'),
}

/**
 * AK enrollment by credential activation (src/services/tpm-enrollment.ts): a machine whose EK
 * certificate chains to a registered TPM manufacturer CA gets its AK trusted without an admin,
 * and without the server keeping state between the two calls.
 */
export function registerTpmEnrollmentRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const base = { tags: ['TPM enrollment'] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/v1/tpm/enrollments',
      summary: 'Start an AK enrollment: EK certificate checked, credential made for the AK (TPM2_MakeCredential)',
      request: { body: { required: true, content: { 'application/json': { schema: StartRequest } } } },
      responses: {
        200: json(Challenge, 'credential to activate with the TPM'),
        ...ERRORS,
        403: problemResponse('The EK certificate does not chain to a registered TPM CA (chain-untrusted)'),
      },
    }),
    async (c) => {
      const r = await startEnrollment(s, c.req.valid('json'))
      return c.json({ ...r, expiresAt: r.expiresAt.toISOString() }, 200)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/v1/tpm/enrollments/activate',
      summary: 'Finish an AK enrollment with the activated credential; the AK is trusted from now on',
      request: { body: { required: true, content: { 'application/json': { schema: ActivateRequest } } } },
      responses: {
        201: json(EnrolledAk, 'enrolled'),
        200: json(EnrolledAk, 'already enrolled (unchanged)'),
        ...ERRORS,
        401: problemResponse('Enrollment token invalid or expired'),
        403: problemResponse('The credential or the AK does not match the token'),
      },
    }),
    async (c) => {
      const { created, ak } = await completeEnrollment(s, c.req.valid('json'), c.get('requestId'))
      return created ? c.json(ak, 201) : c.json(ak, 200)
    },
  )
}
