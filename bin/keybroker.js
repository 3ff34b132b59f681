#!/usr/bin/env node
// Entry point of the `keybroker` command: the compiled CLI (run `npm run build` first).
// Each command loads its modules only when it runs, so `--help` and the offline tools (`sev`,
// `aleph`, `bundle`) do not pay for the service's modules.
await import('../dist/src/cli/main.js')
