import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { consumeNonceReadingGeneration, createReferenceValueSet, revokeMeasurement, type Database } from '../../src/storage/index.js'
import { testDatabases } from '../support/databases.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const M = 'c4'.repeat(48)

/**
 * The counter that tells a replica its in-process release data is still current
 * (src/services/release-data.ts): read with the nonce, raised by every change to the data.
 */
describe.each(testDatabases())('release generation on %s', (engine) => {
  let database: Database
  beforeAll(async () => {
    database = await engine.open()
  })
  afterAll(() => database.close())

  const read = async (nonce: string) => consumeNonceReadingGeneration(database.db, nonce, new Date(T0.getTime() + 60_000), T0)

  it('consumes the nonce once (a replay is not fresh) and reads the counter in the same statement', async () => {
    const first = await read('gen-a')
    expect(first.fresh).toBe(true)
    expect(typeof first.generation).toBe('bigint')
    const replay = await read('gen-a')
    expect(replay.fresh).toBe(false)
    expect(replay.generation).toBe(first.generation)
  })

  it('rises with every change to the release data, whoever makes it, and not otherwise', async () => {
    const g0 = (await read('gen-b')).generation ?? -1n
    await createReferenceValueSet(database.db, { name: 'gen-set', measurements: [M], allowDebug: false, at: T0 })
    const g1 = (await read('gen-c')).generation ?? -1n
    expect(g1 > g0).toBe(true)
    await revokeMeasurement(database.db, 'gen-set', M, 'test', T0)
    const g2 = (await read('gen-d')).generation ?? -1n
    expect(g2 > g1).toBe(true)
    // A write that bypasses the storage functions (an operator's psql) counts as well.
    await database.db.execute(sql`update reference_measurements set revoke_reason = 'by hand'`)
    const g3 = (await read('gen-e')).generation ?? -1n
    expect(g3 > g2).toBe(true)
    // Consuming nonces changes nothing a release reads.
    expect((await read('gen-f')).generation).toBe(g3)
  })
})
