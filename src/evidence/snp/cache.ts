/**
 * A small bounded map for memoizing pure, digest-keyed results (parsed certificates, verified
 * chains, verified CRLs). Least recently used entries go first. Holding results of pure functions
 * keyed by the digest of their inputs keeps the verifier pure in behaviour: a hit returns what a
 * miss would compute.
 */
export class BoundedCache<V> {
  readonly #map = new Map<string, V>()
  constructor(readonly maxEntries: number) {}

  get(key: string): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }

  set(key: string, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    while (this.#map.size > this.maxEntries) {
      const oldest = this.#map.keys().next()
      if (oldest.done === true) break
      this.#map.delete(oldest.value)
    }
  }

  get size(): number {
    return this.#map.size
  }

  clear(): void {
    this.#map.clear()
  }
}
