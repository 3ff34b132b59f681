/**
 * Whether `promise` settles (resolves or rejects) within `ms`. It keeps running either way; the
 * caller decides what a late one means. One bound for the shutdown steps that must not wait
 * forever (refusal counts, the database pool, cluster workers).
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([promise.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
  }
}
