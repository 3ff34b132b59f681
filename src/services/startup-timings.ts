/**
 * Where `keybroker serve`'s start-up time goes: each phase's duration, logged once the service
 * listens and is ready (`started`), so an operator, and bench/startup.ts, see it without a
 * profiler. Durations only: nothing here depends on what a phase produced.
 */
import { performance } from 'node:perf_hooks'

export class StartupTimings {
  readonly #phases = new Map<string, number>()

  /** Runs `fn` and records its wall time under `phase` (also when it throws). */
  async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await fn()
    } finally {
      this.#phases.set(phase, (this.#phases.get(phase) ?? 0) + (performance.now() - started))
    }
  }

  /** Records `phase` as the time from the process's start until now (e.g. `modules`). */
  markSinceProcessStart(phase: string): void {
    this.#phases.set(phase, performance.now())
  }

  /** `{ <phase>Ms: n, …, totalMs }`, whole milliseconds; `totalMs` counts from the process's start. */
  toLogFields(): Record<string, number> {
    const fields: Record<string, number> = {}
    for (const [phase, ms] of this.#phases) fields[`${phase}Ms`] = Math.round(ms)
    fields.totalMs = Math.round(performance.now())
    return fields
  }
}
