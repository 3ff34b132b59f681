/**
 * In-process copies of the rows a release decision reads — reference-value sets (parsed for
 * appraisal), current secret versions with their policies, sealing-key versions, policies and the
 * disk deny-list — valid for exactly one release generation.
 *
 * Why this is safe across replicas: every change to those tables raises `release_generation` in
 * the changing transaction (triggers, migrations/0011), and a request reads the counter in the
 * same statement that consumes its nonce (`consumeNonceReadingGeneration`). A request uses a
 * copy only when the copy was made for the generation the request read; otherwise it reads the
 * database and, if its generation is the newest this replica has seen, keeps what it read. So
 * whatever a request relies on is at least as new as the database at its first statement: a
 * revocation committed on any replica holds on every replica from the next request on, exactly as
 * when every request read every row.
 *
 * Data read after the counter may be newer than the generation it is filed under; that is
 * harmless, because a request that read that generation started before the change committed
 * (and any later request reads a higher generation and ignores the copy).
 *
 * Values are shared between concurrent requests and must never be mutated (they are readonly
 * types; envelopes are only ever read). Nothing here caches a verification result: evidence is
 * verified on every request.
 */
import type { ReferenceValueSet } from '../appraisal/index.js'
import {
  findReferenceValueSetsByMeasurement,
  findSealingKeyVersion,
  getCurrentPolicies,
  getCurrentSecretVersions,
  listDeniedDisks,
  type CurrentSecretVersion,
  type Executor,
  type PolicyVersion,
} from '../storage/index.js'
import { appraisalSet, loadAppraisalSets } from './release-policy.js'
import type { Services } from './services.js'

/** Beyond this many entries a generation's copies are dropped and rebuilt from what is asked. */
const MAX_ENTRIES = 20_000

type SealingKeyVersionFound = NonNullable<Awaited<ReturnType<typeof findSealingKeyVersion>>>

/** One request's access to the release data, at the generation that request read. */
export interface ReleaseDataView {
  /** The sets that hold `measurement` (lowercase hex), as appraisal reads them. */
  setsHolding(measurement: string): Promise<readonly ReferenceValueSet[]>
  /** The named sets that exist, as appraisal reads them. */
  appraisalSets(names: readonly string[]): Promise<Map<string, ReferenceValueSet>>
  /** The current versions (with policy) of the named secrets that exist. */
  currentSecrets(names: readonly string[]): Promise<Map<string, CurrentSecretVersion>>
  /** The current versions of the named policies that exist. */
  currentPolicies(names: readonly string[]): Promise<Map<string, PolicyVersion>>
  /** Sealing key `name` with its exchange key `kid`, or `undefined`; `isDiskDenied` for `disk`. */
  sealingKeyVersion(name: string, kid: string, disk: string): Promise<SealingKeyVersionFound | undefined>
}

/** The copies of one replica (one `Services`). */
export class ReleaseData {
  #generation = -1n
  #entries = new Map<string, unknown>()
  readonly #maxEntries: number

  constructor(maxEntries = MAX_ENTRIES) {
    this.#maxEntries = maxEntries
  }

  /**
   * The view for a request that read `generation` on `ex` (`null`: the counter could not be
   * read, so nothing is taken from or kept in the copies).
   */
  at(s: Pick<Services, 'log'>, ex: Executor, generation: bigint | null): ReleaseDataView {
    if (generation !== null && generation > this.#generation) this.#reset(generation)
    const one = async <T>(key: string, load: () => Promise<T>): Promise<T> => {
      if (generation !== null && generation === this.#generation && this.#entries.has(key)) return this.#entries.get(key) as T
      const value = await load()
      this.#keep(generation, key, value)
      return value
    }
    /** Per-name entries; the names not held are read in one query. `null` records "does not exist". */
    const many = async <T>(prefix: string, names: readonly string[], load: (missing: string[]) => Promise<Map<string, T>>): Promise<Map<string, T>> => {
      const out = new Map<string, T>()
      const missing: string[] = []
      const usable = generation !== null && generation === this.#generation
      for (const name of new Set(names)) {
        const key = prefix + name
        if (usable && this.#entries.has(key)) {
          const hit = this.#entries.get(key) as T | null
          if (hit !== null) out.set(name, hit)
        } else missing.push(name)
      }
      if (missing.length === 0) return out
      const loaded = await load(missing)
      for (const name of missing) {
        const value = loaded.get(name)
        this.#keep(generation, prefix + name, value ?? null)
        if (value !== undefined) out.set(name, value)
      }
      return out
    }
    return {
      setsHolding: (measurement) =>
        one(`m:${measurement}`, async () => (await findReferenceValueSetsByMeasurement(ex, measurement)).map((set) => appraisalSet(s, set))),
      appraisalSets: (names) => many('r:', names, (missing) => loadAppraisalSets(s, ex, missing)),
      currentSecrets: (names) => many('s:', names, (missing) => getCurrentSecretVersions(ex, missing)),
      currentPolicies: (names) => many('p:', names, (missing) => getCurrentPolicies(ex, missing)),
      sealingKeyVersion: async (name, kid, disk) => {
        // The key and the deny-list apart, so a boot storm of distinct disks shares one copy of each.
        const [found, denied] = await Promise.all([
          one(`k:${name}\u0000${kid}`, async () => (await findSealingKeyVersion(ex, name, kid)) ?? null),
          one('denied-disks', async () => new Set((await listDeniedDisks(ex)).map((d) => d.disk))),
        ])
        return found === null ? undefined : { meta: found.meta, version: found.version, isDiskDenied: denied.has(disk) }
      },
    }
  }

  #reset(generation: bigint): void {
    this.#generation = generation
    this.#entries = new Map()
  }

  #keep(generation: bigint | null, key: string, value: unknown): void {
    if (generation === null || generation < this.#generation) return
    if (generation > this.#generation) this.#reset(generation)
    if (this.#entries.size >= this.#maxEntries) this.#entries = new Map()
    this.#entries.set(key, value)
  }
}
