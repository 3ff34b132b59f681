/**
 * The commands every admin resource shares (list, show, delete, and body-less actions such as
 * rotate or disable), built from the resource's path and table columns.
 */
import type { Command } from 'commander'
import type { CliContext } from '../io.js'
import type { Column } from './output.js'
import { adminAction } from './session.js'

export interface ResourceSpec {
  /** e.g. `/admin/v1/secrets` */
  readonly path: string
  /** What one item is called in messages, e.g. `secret`. */
  readonly noun: string
  /** The list answer's array field, e.g. `secrets`. */
  readonly listKey: string
  /** The argument naming one item, e.g. `name` or `fingerprint`. */
  readonly idArg: string
  readonly columns: readonly Column[]
}

export function itemPath(spec: ResourceSpec, id: string): string {
  return `${spec.path}/${encodeURIComponent(id)}`
}

export function addList(parent: Command, ctx: CliContext, spec: ResourceSpec, description = `list ${spec.listKey}`): Command {
  return parent
    .command('list')
    .alias('ls')
    .description(description)
    .action(adminAction(ctx, async (s) => s.printList(await s.call('GET', spec.path), spec.listKey, spec.columns)))
}

export function addShow(parent: Command, ctx: CliContext, spec: ResourceSpec): Command {
  return parent
    .command('show')
    .alias('get')
    .description(`show one ${spec.noun}`)
    .argument(`<${spec.idArg}>`)
    .action(adminAction(ctx, async (s, [id]) => s.printRecord(await s.call('GET', itemPath(spec, id ?? '')))))
}

export function addDelete(parent: Command, ctx: CliContext, spec: ResourceSpec, description = `delete a ${spec.noun}`): Command {
  return parent
    .command('delete')
    .alias('rm')
    .description(description)
    .argument(`<${spec.idArg}>`)
    .action(
      adminAction(ctx, async (s, [id]) => {
        await s.call('DELETE', itemPath(spec, id ?? ''))
        s.note(`deleted ${spec.noun} ${id ?? ''}`)
      }),
    )
}

/** `POST {path}/{id}/{action}` without a body, printing the item it answers with. */
export function addItemAction(parent: Command, ctx: CliContext, spec: ResourceSpec, action: string, description: string): Command {
  return parent
    .command(action)
    .description(description)
    .argument(`<${spec.idArg}>`)
    .action(adminAction(ctx, async (s, [id]) => s.printRecord(await s.call('POST', `${itemPath(spec, id ?? '')}/${action}`))))
}
