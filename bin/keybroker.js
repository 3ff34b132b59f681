#!/usr/bin/env node
// Entry point of the `keybroker` command: the compiled CLI (run `npm run build` first).
// The offline guest-owner tools (`sev`, `aleph`) load only their own modules: the service's take
// about a second of CPU to load, which a script calling them in a loop should not pay.
const command = process.argv[2]
await import(command === 'sev' || command === 'aleph' ? '../dist/src/cli/guest-owner-main.js' : '../dist/src/cli/main.js')
