import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What the pool gauge reads: PostgreSQL's pool, or PGlite's single connection. */
export interface PoolStats {
  readonly total: number
  readonly idle: number
  readonly waiting: number
  readonly max: number
}

/**
 * The Prometheus series of one keybroker instance, on a registry of its own (several instances
 * share a process in tests; the process-wide default registry would mix them). Label values
 * are route patterns, secret and sealing-key names, evidence types and error codes: bounded
 * sets an admin controls, never request ids, client addresses or measurements.
 */
export interface Metrics {
  readonly registry: Registry
  readonly requests: Counter<'method' | 'route' | 'status' | 'problem'>
  readonly attestDuration: Histogram<'outcome'>
  readonly releases: Counter<'secret'>
  readonly denials: Counter<'secret' | 'rule'>
  readonly recoveries: Counter<'sealing_key' | 'outcome'>
  readonly verificationFailures: Counter<'evidence_type' | 'reason'>
  readonly collateralFetches: Counter<'source' | 'outcome'>
  /** Reads the database pool at scrape time. */
  watchPool(stats: () => PoolStats | undefined): void
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  // Process (CPU, memory, file descriptors, start time) and Node.js series, event-loop lag
  // included (nodejs_eventloop_lag_seconds and its percentiles).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })
  const registers = [registry]
  // prom-client names these gauges `…_total`, which Prometheus reserves for counters (promtool
  // refuses them); their per-type versions (nodejs_active_handles, …_requests, …_resources) stay.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)
  let pool: (() => PoolStats | undefined) | undefined
  const poolGauge = (name: string, help: string, read: (s: PoolStats) => number): Gauge =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const stats = pool?.()
        if (stats !== undefined) this.set(read(stats))
      },
    })
  poolGauge('keybroker_db_pool_connections', 'Database connections open (PGlite: 1).', (s) => s.total)
  poolGauge('keybroker_db_pool_idle_connections', 'Database connections open and idle.', (s) => s.idle)
  poolGauge('keybroker_db_pool_waiting_requests', 'Queries waiting for a database connection.', (s) => s.waiting)
  poolGauge('keybroker_db_pool_max_connections', 'Largest number of database connections the pool opens.', (s) => s.max)
  return {
    registry,
    requests: new Counter({
      name: 'keybroker_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern, status and problem type (the error code; "" for success).',
      labelNames: ['method', 'route', 'status', 'problem'] as const,
      registers,
    }),
    attestDuration: new Histogram({
      name: 'keybroker_attest_duration_seconds',
      help: 'Time to answer POST /v1/attest, by outcome (ok or the error code).',
      labelNames: ['outcome'] as const,
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
      registers,
    }),
    releases: new Counter({ name: 'keybroker_releases_total', help: 'Secrets released (sealed to an attested key), by secret.', labelNames: ['secret'] as const, registers }),
    denials: new Counter({
      name: 'keybroker_denials_total',
      help: 'Release denials, by secret and failed rule (a denial failing two rules counts for both).',
      labelNames: ['secret', 'rule'] as const,
      registers,
    }),
    recoveries: new Counter({
      name: 'keybroker_recoveries_total',
      help: 'Disk-key recoveries through a sealing key, by sealing key and outcome (ok or denied).',
      labelNames: ['sealing_key', 'outcome'] as const,
      registers,
    }),
    verificationFailures: new Counter({
      name: 'keybroker_verification_failures_total',
      help: 'Evidence that failed verification, by evidence type and reason (the error code).',
      labelNames: ['evidence_type', 'reason'] as const,
      registers,
    }),
    collateralFetches: new Counter({
      name: 'keybroker_collateral_fetches_total',
      help: 'Collateral fetches from AMD KDS or Intel PCS at request time, by source and outcome (ok, unavailable: not found, failing or backing off; error).',
      labelNames: ['source', 'outcome'] as const,
      registers,
    }),
    watchPool(stats) {
      pool = stats
    },
  }
}
