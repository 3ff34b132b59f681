import { z } from '@hono/zod-openapi'
import type { ErrorCode } from '../../errors.js'
import { PROBLEM_BASE, PROBLEMS } from '../problem.js'

const PROBLEM_TYPES = Object.keys(PROBLEMS).map((code) => `${PROBLEM_BASE}${code}`) as [string, ...string[]]

/** A failed release rule, as a denial (`policy-denied`) lists it. */
export const FailedRuleSchema = z
  .object({
    secret: z.string().optional().openapi({ description: 'the secret (or certificate profile) whose policy holds the rule; absent on /v1/verify' }),
    rule: z.string().openapi({ example: 'measurement-in-reference-values' }),
    passed: z.literal(false),
    reason: z.string(),
    error: z.string().optional().openapi({ description: 'the evaluation error, when the rule failed by erroring' }),
  })
  .openapi('FailedRule')

/** RFC 9457 problem document, as every error response carries it. */
export const ProblemSchema = z
  .object({
    type: z.enum(PROBLEM_TYPES).openapi({
      description: `${PROBLEM_BASE} followed by the stable error code`,
      example: `${PROBLEM_BASE}${'nonce-expired' satisfies ErrorCode}`,
    }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional().openapi({ description: 'the request id' }),
    failedRules: z.array(FailedRuleSchema).optional().openapi({ description: 'with policy-denied: the rules that failed' }),
  })
  .passthrough()
  .openapi('Problem')

export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
})

/** Error responses every route may give; routes add their own specific ones. */
export const COMMON_ERRORS = {
  400: problemResponse('Malformed request: JSON, schema or a value'),
  413: problemResponse('Body larger than the configured limit'),
  500: problemResponse('Internal error (details are logged, never returned)'),
  503: problemResponse('Not ready (starting, database unavailable) or overloaded; Retry-After gives the seconds to wait'),
} as const

export const ADMIN_ERRORS = {
  ...COMMON_ERRORS,
  401: problemResponse('Missing or unknown admin token'),
  403: problemResponse('The token lacks the role for this operation'),
} as const

/** Resource names: short, URL-safe, no surprises in logs and paths. */
export const NameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit')
  .openapi({ example: 'db-password' })

export const HexSchema = z
  .string()
  .min(2)
  .max(256)
  .regex(/^(?:[0-9a-fA-F]{2})+$/, 'an even number of hex digits')
  .transform((s) => s.toLowerCase())
  .openapi({ example: 'a3f1'.repeat(12) })

/** A public JWK as sent by clients; the recipient-key parser checks it fully. */
export const JwkSchema = z
  .object({
    kty: z.string().max(8),
    crv: z.string().max(16).optional(),
    x: z.string().max(200).optional(),
    y: z.string().max(200).optional(),
    n: z.string().max(2100).optional(),
    e: z.string().max(16).optional(),
  })
  .passthrough()
  .openapi('PublicJwk', { description: 'EC P-256/P-384 or RSA ≥ 2048 public key (RFC 7517)' })

export const TimestampSchema = z.string().openapi({ format: 'date-time' })
