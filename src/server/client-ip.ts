import { IncomingMessage } from 'node:http'
import type { Context } from 'hono'

/**
 * The peer address of the connection (`request.clientIp` for release rules). Forwarding
 * headers are not trusted: behind a proxy this is the proxy's address. Empty when the request
 * did not come through the Node server (in-process `app.request` in tests).
 */
export function clientIp(c: Context): string {
  const env: unknown = c.env
  if (env !== null && typeof env === 'object' && 'incoming' in env && env.incoming instanceof IncomingMessage) {
    return env.incoming.socket.remoteAddress ?? ''
  }
  return ''
}
