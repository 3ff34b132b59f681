import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { appForDocument, openApiDocument } from '../src/server/openapi.js'

/** Writes openapi/openapi.json from the route schemas (`npm run openapi`). */
const target = fileURLToPath(new URL('../../openapi/openapi.json', import.meta.url))
writeFileSync(target, `${JSON.stringify(openApiDocument(appForDocument()), null, 2)}\n`)
process.stderr.write(`wrote ${target}\n`)
