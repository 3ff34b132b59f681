/**
 * The `gotpm` evidence schema, without the protobuf decoder and the verifier: the registry needs it
 * at start (route validation, the API document); the rest loads with the first `gotpm` evidence.
 */
import { z } from 'zod'
import type { JsonValue } from '../types.js'

/** An attestation is a few KiB plus the event logs; 8 MiB bounds it like `tpm` event logs. */
export const MAX_ATTESTATION_BYTES = 8 * 1024 * 1024

const JSON_VALUE: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string().max(MAX_ATTESTATION_BYTES * 2), z.number(), z.boolean(), z.null(), z.array(JSON_VALUE).max(100_000), z.record(z.string().max(256), JSON_VALUE)]),
)

/**
 * `evidence` of type `gotpm` (README, "go-tpm-tools attestations"): `attestation` is the
 * go-tpm-tools `Attestation` protobuf — its binary form in base64 (what `proto.Marshal`,
 * `gotpm attest --format binarypb` and the Cocos agent write), or its protojson object.
 */
export const gotpmEvidenceSchema = z
  .object({
    type: z.literal('gotpm'),
    attestation: z
      .union([z.string().min(1).max(Math.ceil((MAX_ATTESTATION_BYTES * 4) / 3) + 4), z.record(z.string().max(64), JSON_VALUE)])
      .describe('the go-tpm-tools Attestation: base64 of the binary protobuf, or its protojson object'),
  })
  .strict()
  .describe('go-tpm-tools Attestation (GCP, Confidential Space, Cocos)')
export type GotpmEvidence = z.infer<typeof gotpmEvidenceSchema>
