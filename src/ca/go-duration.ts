import { KeybrokerError } from '../errors.js'

/**
 * Go's `time.Duration` text (`time.ParseDuration`): what absmach/certs' `?ttl=` carries, e.g.
 * `8760h0m0s` from Cocos' `ttl.String()`. A sequence of decimal numbers (optional fraction)
 * with units ns, us (µs), ms, s, m, h; no sign (a negative TTL means nothing here).
 * @returns whole seconds, rounded down.
 * @throws KeybrokerError `bad-request`.
 */
export function parseGoDurationSeconds(text: string): number {
  if (text.length === 0 || text.length > 64) throw bad(text)
  if (text === '0') return 0
  const units: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y
  let seconds = 0
  let at = 0
  while (at < text.length) {
    part.lastIndex = at
    const m = part.exec(text)
    if (m === null || m[1] === undefined || m[2] === undefined) throw bad(text)
    seconds += Number(m[1]) * (units[m[2]] ?? NaN)
    at = part.lastIndex
  }
  if (!Number.isFinite(seconds) || seconds > 100 * 365 * 86_400) throw bad(text)
  return Math.floor(seconds)
}

function bad(text: string): KeybrokerError {
  return new KeybrokerError('bad-request', `ttl ${JSON.stringify(text.slice(0, 64))} is not a Go duration such as 24h or 8760h0m0s`)
}
