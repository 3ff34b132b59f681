/**
 * A TCP proxy in front of PostgreSQL that fails connections on cue, for tests of how the pool
 * lives through faults that a real server produces only at random moments: a connection that
 * dies exactly when a transaction's BEGIN is sent, and a network that goes silent (no answer, no
 * reset: a failover that moved the address, a partition). Loopback only; stopped with close().
 */
import { createServer, connect, type Socket } from 'node:net'

export interface FaultProxy {
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  url(databaseUrl: string): string
  /**
   * The next simple query whose text starts with `prefix` (lower case) is not delivered: its
   * connection is closed at both ends instead, as a server restart would at that moment.
   */
  dropOn(prefix: string): void
  /** From now on nothing is forwarded either way, and the connections stay open. */
  silence(): void
  /** Forwards again (new connections; bytes dropped while silent are lost). */
  resume(): void
  close(): Promise<void>
}

const QUERY = 0x51 // 'Q': a simple query message (type byte, int32 length, text).

/** The index of a simple query message in `chunk` whose text starts with `prefix`, or -1. */
function findQuery(chunk: Buffer, prefix: string): number {
  for (let i = chunk.indexOf(QUERY); i !== -1; i = chunk.indexOf(QUERY, i + 1)) {
    if (chunk.subarray(i + 5, i + 5 + prefix.length).toString('latin1').toLowerCase() === prefix) return i
  }
  return -1
}

/** Starts a proxy on 127.0.0.1 (free port) to `target` (`host:port` of PostgreSQL). */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let dropPrefix: string | undefined
  let silent = false
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end)
    upstream.on('close', end)
    client.on('data', (chunk: Buffer) => {
      if (silent) return
      if (dropPrefix !== undefined && findQuery(chunk, dropPrefix) !== -1) {
        dropPrefix = undefined
        end()
        return
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (!silent) client.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: (databaseUrl) => {
      const u = new URL(databaseUrl)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.toString()
    },
    dropOn: (prefix) => {
      dropPrefix = prefix
    },
    silence: () => {
      silent = true
    },
    resume: () => {
      silent = false
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
