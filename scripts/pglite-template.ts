/**
 * `npm run build`'s last step: makes the pre-initialized PGlite data directory that a first
 * `keybroker serve` copies instead of running initdb (src/storage/pglite-template.ts), unless
 * the one for this PGlite version and these migrations exists. A no-op costs one small Node
 * process: PGlite is loaded only when a template has to be made.
 */
import { defaultTemplateRoot, findTemplate } from '../src/storage/pglite-template.js'

const root = defaultTemplateRoot()
if ((await findTemplate(root)) === undefined) {
  const { ensurePgliteTemplate } = await import('../src/storage/db.js')
  const { path } = await ensurePgliteTemplate(root)
  process.stderr.write(`PGlite template made: ${path}\n`)
}
