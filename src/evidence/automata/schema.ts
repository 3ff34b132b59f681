/**
 * The `automata` evidence schema, without the verifier: the registry needs it at start (route
 * validation, the API document); the rest loads with the first `automata` evidence.
 */
import { z } from 'zod'
import { collateralsSchema } from './collaterals.js'

/**
 * `evidence` of type `automata` (README, "Automata cvm-agent collaterals"): the agent's
 * collaterals document, unchanged, as `collaterals`.
 */
export const automataEvidenceSchema = z.object({ type: z.literal('automata'), collaterals: collateralsSchema }).strict()
export type AutomataEvidence = z.infer<typeof automataEvidenceSchema>
