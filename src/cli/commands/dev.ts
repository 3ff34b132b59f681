/** `keybroker dev …`: development helpers for a service started with sample evidence enabled. */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'

export function registerDevCommands(_program: Command, _ctx: CliContext): void {}
