/**
 * Set by the primary in its workers' environment: only a process started so is one of our
 * workers. `cluster.isWorker` alone would also be true under another cluster manager (pm2's
 * cluster mode), where no primary of ours would ever tell the process to become ready.
 */
export const WORKER_ENV = 'KEYBROKER_CLUSTER_WORKER'

/** Messages between the primary and its workers (over the cluster's IPC channel). */
export const WORKER_MESSAGES = {
  /** worker → primary: my message handler is installed (send me `prepared` when it is time). */
  hello: 'keybroker:hello',
  /** primary → worker: start-up is done (migrations, keys, bootstrap token); become ready. */
  prepared: 'keybroker:prepared',
  /** primary → worker: drain and exit (as on SIGTERM). */
  shutdown: 'keybroker:shutdown',
} as const

/** A message of ours (`type` one of WORKER_MESSAGES); other messages (prom-client's) are not. */
export function isWorkerMessage(message: unknown, type: (typeof WORKER_MESSAGES)[keyof typeof WORKER_MESSAGES]): boolean {
  return typeof message === 'object' && message !== null && 'type' in message && message.type === type
}
