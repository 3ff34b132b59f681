/** Operations per second of `op` over `n` sequential runs. */
export async function rate(n: number, op: () => unknown): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < n; i++) await op()
  return n / ((performance.now() - started) / 1000)
}

/** The median of per-round figures (the upper one for an even count); 0 for none. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
}
