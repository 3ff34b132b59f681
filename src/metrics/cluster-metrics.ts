import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { Metrics } from './metrics.js'

/**
 * With `KEYBROKER_WORKERS` > 1 the metrics listener runs in the cluster primary, which serves no
 * requests: a scrape asks every worker for its series over the cluster's IPC channel (prom-client's
 * AggregatorRegistry) and answers their aggregate, so one scrape shows the whole process group.
 * Counters and histograms are summed over the workers; prom-client's default process and Node.js
 * series carry their own rule (CPU seconds and memory summed, event-loop lag averaged, the version
 * taken once). The primary adds two series of its own (below). A worker that does not answer
 * within 5 s fails the scrape (500) rather than yielding a partial sum that would look like a
 * counter reset.
 */
export interface ClusterMetrics {
  readonly contentType: string
  collect(): Promise<string>
  /** Counts a worker restarted after it died unexpectedly. */
  readonly restarts: Counter
}

/** In the primary. `liveWorkers` is read at scrape time. */
export function createClusterMetrics(liveWorkers: () => number): ClusterMetrics {
  const aggregator = new AggregatorRegistry()
  const own = new Registry()
  new Gauge({
    name: 'keybroker_workers',
    help: 'Worker processes alive (KEYBROKER_WORKERS; the primary itself serves no requests).',
    registers: [own],
    collect() {
      this.set(liveWorkers())
    },
  })
  const restarts = new Counter({ name: 'keybroker_worker_restarts_total', help: 'Workers restarted by the primary after they died unexpectedly.', registers: [own] })
  return {
    contentType: own.contentType,
    async collect() {
      const [workers, primary] = await Promise.all([aggregator.clusterMetrics(), own.metrics()])
      return workers === '' ? primary : `${workers.endsWith('\n') ? workers : `${workers}\n`}${primary}`
    },
    restarts,
  }
}

/** In a worker: answers the primary's scrape requests with this worker's series. */
export function answerPrimaryScrapes(metrics: Metrics): void {
  // Constructing an AggregatorRegistry in a worker installs prom-client's IPC responder.
  new AggregatorRegistry()
  AggregatorRegistry.setRegistries([metrics.registry])
}
