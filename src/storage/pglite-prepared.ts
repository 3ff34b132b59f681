/**
 * Named statements on the embedded PGlite, parsed and planned once per instance.
 *
 * `PGlite.query()` sends every call as an unnamed statement in six calls into the WebAssembly
 * engine (Parse, Describe statement, Bind, Describe portal, Execute, Sync), so PostgreSQL parses,
 * analyses and plans the text each time. Here a statement is prepared once under its name (Parse
 * and Describe, whose answer gives the parameter and column types), and each call is one
 * Bind/Execute/Sync message: after PostgreSQL's first five executions it runs the cached generic
 * plan (README "Benchmark": CPU per call and per request, measured).
 *
 * Values go in as text through the client's own serializers (by the parameter types PostgreSQL
 * inferred), and columns come back as text through the client's own parsers (by the column
 * types of the description), exactly as `query()` converts them: callers see the same row
 * shapes (int4 a number, int8 a number or a bigint beyond 2^53, timestamptz a `Date`, bytea a
 * `Uint8Array`, json/jsonb parsed, text a string). PGlite itself splits the engine's answer into
 * messages (its bundled pg-protocol parser); this module only checks that the rows match the
 * description.
 */
import { messages, protocol, type PGlite } from '@electric-sql/pglite'
import { KeybrokerError } from '../errors.js'
import type { PreparedStatement } from './prepared.js'

const { serialize } = protocol

/** What Describe told about a prepared statement: its text, parameter types and columns. */
interface Prepared {
  readonly text: string
  readonly paramTypes: readonly number[]
  readonly columns: readonly { readonly name: string; readonly dataTypeID: number }[]
}

/**
 * SQLSTATE 26000 `invalid_sql_statement_name`: the statement is gone (a `DEALLOCATE` or
 * `DISCARD ALL` on this connection). Raised at Bind, before anything ran.
 */
const STATEMENT_MISSING = '26000'
/**
 * SQLSTATE 0A000 with this message: a table the statement reads changed its row type since the
 * statement was prepared (a migration on a running instance). Also raised at Bind.
 */
const FEATURE_NOT_SUPPORTED = '0A000'
const RESULT_TYPE_CHANGED = 'cached plan must not change result type'

/** Execute (all rows of the unnamed portal) and Sync: the constant tail of every call. */
const EXECUTE_SYNC = Buffer.concat([serialize.execute(), serialize.sync()])

/**
 * A runner for `registerPreparedRunner` on `client` (one per PGlite instance; a new instance,
 * e.g. after a restart, starts with nothing prepared). Each call:
 *
 * - takes PGlite's transaction lock and then its query lock, the order `query()` takes them, so
 *   it never runs between the statements of a transaction (drizzle's `transaction()` holds only
 *   the transaction lock between its statements; `runExclusive()` takes only the query lock and
 *   would let this statement join that transaction) and never interleaves with another query;
 * - refuses to run inside a transaction block left open outside `transaction()`;
 * - prepares the statement if this instance has not (Close, Parse, Describe, Sync in one
 *   message: the Close drops whatever an earlier failed preparation may have left);
 * - runs Bind/Execute/Sync as one message. A failing statement fails this call only: the Sync
 *   ends its implicit transaction (rolled back), so the connection is ready for the next query.
 *   A statement that is gone or whose result type changed is prepared again and retried once
 *   (both are reported at Bind, before it ran).
 *
 * @throws the driver's errors (`DatabaseError` with its SQLSTATE, "PGlite is closed"), and
 *   `KeybrokerError` `internal` for a second text under a known name, a transaction block left
 *   open, or an answer that does not match the statement's description.
 */
export function pglitePreparedRunner(client: PGlite): (statement: PreparedStatement, values: readonly unknown[]) => Promise<readonly unknown[]> {
  const prepared = new Map<string, Prepared>()

  const prepare = async (statement: PreparedStatement): Promise<Prepared> => {
    const { name, text } = statement
    const answer = await client.execProtocolStream(
      Buffer.concat([serialize.close({ type: 'S', name }), serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()]),
      { syncToFs: false },
    )
    let paramTypes: readonly number[] | undefined
    let columns: Prepared['columns'] | undefined
    for (const message of answer) {
      if (message instanceof messages.ParameterDescriptionMessage) paramTypes = [...message.dataTypeIDs]
      else if (message instanceof messages.RowDescriptionMessage) columns = message.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID }))
      else if (message.name === 'noData') columns = []
    }
    if (paramTypes === undefined || columns === undefined) throw new KeybrokerError('internal', `${name}: PGlite did not describe the statement`)
    const entry: Prepared = { text, paramTypes, columns }
    prepared.set(name, entry)
    return entry
  }

  const execute = async (statement: PreparedStatement, entry: Prepared, values: readonly unknown[]): Promise<readonly unknown[]> => {
    if (values.length !== entry.paramTypes.length) {
      throw new KeybrokerError('internal', `${statement.name}: ${values.length} values for ${entry.paramTypes.length} parameters`)
    }
    const answer = await client.execProtocolStream(
      Buffer.concat([serialize.bind({ statement: statement.name, values: values.map((v, i) => serializeValue(client, v, entry.paramTypes[i])) }), EXECUTE_SYNC]),
    )
    const rows: Record<string, unknown>[] = []
    for (const message of answer) {
      if (!(message instanceof messages.DataRowMessage)) continue
      if (message.fields.length !== entry.columns.length) {
        throw new KeybrokerError('internal', `${statement.name}: a row of ${message.fields.length} columns for ${entry.columns.length} described`)
      }
      const row: Record<string, unknown> = {}
      entry.columns.forEach((column, i) => {
        row[column.name] = parseValue(client, message.fields[i] ?? null, column.dataTypeID)
      })
      rows.push(row)
    }
    return rows
  }

  return async (statement, values) => {
    await client._checkReady()
    return client._runExclusiveTransaction(() =>
      client._runExclusiveQuery(async () => {
        // close() takes both locks too: a call queued behind it finds the instance closed here.
        await client._checkReady()
        if (client.isInTransaction()) throw new KeybrokerError('internal', `${statement.name}: PGlite has a transaction block open outside transaction()`)
        const known = prepared.get(statement.name)
        if (known !== undefined && known.text !== statement.text) throw new KeybrokerError('internal', `${statement.name}: a second statement under this name`)
        try {
          return await execute(statement, known ?? (await prepare(statement)), values)
        } catch (err) {
          if (!mustPrepareAgain(err)) throw err
          prepared.delete(statement.name)
          return execute(statement, await prepare(statement), values)
        }
      }),
    )
  }
}

/** True for the two errors that mean "prepare again and retry": both are raised before the statement ran. */
function mustPrepareAgain(err: unknown): boolean {
  if (!(err instanceof messages.DatabaseError)) return false
  return err.code === STATEMENT_MISSING || (err.code === FEATURE_NOT_SUPPORTED && err.message === RESULT_TYPE_CHANGED)
}

/** A value in text format, as `query()` sends it: the client's serializer for the parameter's type, else `toString()`. */
function serializeValue(client: PGlite, value: unknown, dataTypeID: number | undefined): string | null {
  if (value === null || value === undefined) return null
  const serializer = dataTypeID === undefined ? undefined : client.serializers[dataTypeID]
  if (serializer !== undefined) return serializer(value)
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return value.toString()
  throw new KeybrokerError('internal', `no text form for a ${typeof value} parameter of type ${dataTypeID ?? 'unknown'}`)
}

/** A column in text format, as `query()` returns it: the client's parser for its type, else the text. */
function parseValue(client: PGlite, text: string | null, dataTypeID: number): unknown {
  if (text === null) return null
  const parser = client.parsers[dataTypeID]
  return parser === undefined ? text : parser(text, dataTypeID)
}
