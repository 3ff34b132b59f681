/**
 * Set by the primary in its workers' environment: only a process started so is one of our
 * workers. `cluster.isWorker` alone would also be true under another cluster manager (pm2's
 * cluster mode), where no primary of ours would ever tell the process to become ready.
 */
export const WORKER_ENV = 'KEYBROKER_CLUSTER_WORKER'

/**
 * The value of {@link WORKER_ENV}: `start` for the workers of the group's start (they listen at
 * once and answer 503 `not-ready` until the group is ready, as a single process does while its
 * database is down at start); `restart` for a worker started once the group was ready (it checks
 * everything first and listens only then, so it never answers 503 while the others serve).
 */
export type WorkerStart = 'start' | 'restart'

/** Messages between the primary and its workers (over the cluster's IPC channel). */
export const WORKER_MESSAGES = {
  /** worker → primary: my message handler is installed (send me `prepared` when it is time). */
  hello: 'keybroker:hello',
  /** primary → worker: start-up is done (migrations, keys, bootstrap token); become ready. */
  prepared: 'keybroker:prepared',
  /** worker → primary: my own database checks passed; I am ready to serve. */
  ready: 'keybroker:ready',
  /** primary → worker: every worker is ready (or the group already was): turn ready now. */
  serve: 'keybroker:serve',
  /** primary → worker: drain and exit (as on SIGTERM). */
  shutdown: 'keybroker:shutdown',
} as const

/** A message of ours (`type` one of WORKER_MESSAGES); other messages (prom-client's) are not. */
export function isWorkerMessage(message: unknown, type: (typeof WORKER_MESSAGES)[keyof typeof WORKER_MESSAGES]): boolean {
  return typeof message === 'object' && message !== null && 'type' in message && message.type === type
}
