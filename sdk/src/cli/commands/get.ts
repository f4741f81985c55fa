import type { Command } from 'commander'
import type { Context } from '../context.js'
import { kindNamed } from '../resource-kinds.js'
import { showList, showOne, withOutput } from './show.js'

/** `weft get <resource> [name]`, kubectl style, over the same views as `weft <resource> list|get`. */
export function registerGet(program: Command, ctx: Context): void {
  withOutput(
    program
      .command('get <resource> [name]')
      .description('list a resource, or show one (resources: services, policies, tenants, keys, filters, endpoints SERVICE)'),
  ).action(async (resource: string, name: string | undefined, _o, cmd: Command) => {
    const kind = kindNamed(resource)
    if (kind.scope) return showList(ctx, cmd, kind, name)
    if (name === undefined) return showList(ctx, cmd, kind)
    return showOne(ctx, cmd, kind, name)
  })
}
