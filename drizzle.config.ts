import { defineConfig } from 'drizzle-kit'

// `npx drizzle-kit generate` writes a new SQL migration + snapshot into migrations/ whenever
// src/storage/schema.ts changes. Migrations are reviewed, committed and never edited once released.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/storage/schema.ts',
  out: './migrations',
  strict: true,
  verbose: true,
})
