import { createRoute, z } from '@hono/zod-openapi'
import { completeSevLaunch, startSevSession } from '../../services/sev-launch.js'
import { MAX_PLATFORM_CHAIN_BYTES } from '../../sev/index.js'
import type { App } from '../app.js'
import { clientIp } from '../client-ip.js'
import type { AppDeps } from '../context.js'
import { COMMON_ERRORS, NameSchema, problemResponse, TimestampSchema } from '../schemas/common.js'

const U8 = z.number().int().min(0).max(255)
const U32 = z.number().int().min(0).max(0xffff_ffff)
/** An aleph VM reference (the item hash of its message) or any short id the caller uses. */
const VmSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-"')

const SessionRequest = z
  .object({
    platformCertificates: z
      .string()
      .min(1)
      .max(Math.ceil(MAX_PLATFORM_CHAIN_BYTES / 3) * 4)
      .openapi({ description: 'base64 of the SEV platform chain PDH ‖ PEK ‖ OCA ‖ CEK in AMD\'s certificate format (`sevctl export`, aleph-vm `GET /about/certificates`); `sevctl export --full` (ASK ‖ ARK appended) also works' }),
    policy: U32.default(1).openapi({ description: 'SEV guest policy (u32); default 0x1 NODBG, aleph\'s default' }),
    secret: NameSchema.openapi({ description: 'the secret the launch releases (the LUKS passphrase of the VM\'s root disk)' }),
    vm: VmSchema.optional().openapi({ description: 'the VM the session is for (aleph: the VM message item hash); the launch must name the same' }),
  })
  .strict()
  .openapi('SevSessionRequest')

const SessionResponse = z
  .object({
    godh: z.string().openapi({ description: 'GODH certificate, standard base64 (aleph multipart field `godh`, sevctl `<name>_godh.b64`)' }),
    session: z.string().openapi({ description: 'LAUNCH_START session buffer, standard base64 (aleph multipart field `session`, sevctl `<name>_session.b64`)' }),
    state: z.string().openapi({ description: 'sealed launch state (TEK, TIK, policy, secret, platform); send it back unchanged' }),
    expiresAt: TimestampSchema,
    platform: z.object({ product: z.string(), chipId: z.string(), pdhSha256: z.string() }),
  })
  .openapi('SevSession')

const LaunchRequest = z
  .object({
    state: z.string().min(1).max(4096),
    measurement: z
      .object({
        sev_info: z
          .object({ api_major: U8, api_minor: U8, build_id: U8, policy: U32 })
          .passthrough()
          .openapi({ description: 'QEMU `query-sev` (enabled, state and handle are ignored)' }),
        launch_measure: z.string().min(1).max(128).openapi({ description: 'base64 of MEASURE ‖ MNONCE (48 bytes), QEMU `query-sev-launch-measure`' }),
      })
      .openapi({ description: 'the CRN\'s `GET /control/machine/{ref}/confidential/measurement` answer, as it is' }),
    vm: VmSchema.optional(),
    format: z.enum(['aleph', 'sevctl']).optional().openapi({ description: 'secret table variant: `aleph` (default: NUL-terminated, padded length; GRUB efisecret) or `sevctl`' }),
  })
  .strict()
  .openapi('SevLaunchRequest')

const LaunchResponse = z
  .object({
    packet_header: z.string().openapi({ description: 'LAUNCH_SECRET packet header (52 bytes), standard base64' }),
    secret: z.string().openapi({ description: 'the secret table encrypted under the TEK, standard base64' }),
  })
  .openapi('SevLaunchSecret', { description: 'the body of aleph-vm `POST /control/machine/{ref}/confidential/inject_secret`' })

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } })
const ERRORS = { ...COMMON_ERRORS, 404: problemResponse('The secret does not exist'), 415: problemResponse('Body is not application/json') }

/**
 * keybroker as the guest owner of AMD SEV (pre-SNP) VMs (src/services/sev-launch.ts). Like
 * `/v1/attest`, these routes need no credential: the secret leaves encrypted under a TEK that only
 * the PSP behind a verified AMD chain can unwrap, into a guest whose launch measurement matched.
 */
export function registerSevRoutes(app: App, deps: AppDeps): void {
  const s = deps.services
  const base = { tags: ['AMD SEV guest owner'] }

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/v1/sev/sessions',
      summary: 'Verify a SEV platform chain and open a launch session (GODH, LAUNCH_START blob, sealed state)',
      request: { body: { required: true, content: { 'application/json': { schema: SessionRequest } } } },
      responses: {
        200: json(SessionResponse, 'the LAUNCH_START inputs and the state to send back'),
        ...ERRORS,
        403: problemResponse('The chain does not verify to a pinned AMD root (chain-untrusted), or a debug policy the secret\'s reference values do not allow (debug-enabled)'),
      },
    }),
    async (c) => {
      const r = await startSevSession(s, c.req.valid('json'), c.get('requestId'))
      return c.json({ ...r, expiresAt: r.expiresAt.toISOString() }, 200)
    },
  )

  app.openapi(
    createRoute({
      ...base,
      method: 'post',
      path: '/v1/sev/launches',
      summary: 'Check a launch measurement and release the secret as a LAUNCH_SECRET packet',
      request: { body: { required: true, content: { 'application/json': { schema: LaunchRequest } } } },
      responses: {
        200: json(LaunchResponse, 'the inject_secret body'),
        ...ERRORS,
        401: problemResponse('The state is invalid or expired (token-invalid)'),
        403: problemResponse('Wrong policy (policy-violation), another VM (binding-mismatch), an unregistered firmware or another session (measurement-unknown), or the release policy denied (policy-denied, with failedRules)'),
        409: problemResponse('The state was already used (nonce-reused)'),
      },
    }),
    async (c) => {
      const r = await completeSevLaunch(s, c.req.valid('json'), c.get('requestId'), { clientIp: clientIp(c) })
      return c.json(r, 200)
    },
  )
}
