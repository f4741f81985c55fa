import type { Command } from 'commander'
import type { Context } from '../context.js'
import { render, details } from '../output.js'
import type { ResourceKind } from '../resource-kinds.js'
import { UsageError } from '../exit.js'

/** `list`: every item of every page, as a table, JSON or YAML. */
export async function showList(ctx: Context, cmd: Command, kind: ResourceKind, scope?: string): Promise<void> {
  if (kind.scope && !scope) throw new UsageError(`listing ${kind.names[0]} needs a ${kind.scope}`)
  const weft = await ctx.client(cmd, { operator: kind.operator })
  const items = await kind.list(weft, scope)
  render(ctx.io, ctx.format(cmd), items, kind.columns)
}

/** `get NAME`: one resource; the table view shows every field, since a row would hide most of them. */
export async function showOne(ctx: Context, cmd: Command, kind: ResourceKind, name: string): Promise<void> {
  if (!kind.get) throw new UsageError(`${kind.names[0]} cannot be read one by one: use weft get ${kind.names[0]}`)
  const weft = await ctx.client(cmd, { operator: kind.operator })
  const item = await kind.get(weft, name)
  const format = ctx.format(cmd)
  if (format === 'table') details(ctx.io, 'yaml', item)
  else render(ctx.io, format, item, kind.columns)
}

/** `-o json|yaml|table`, on list and get. */
export function withOutput(cmd: Command): Command {
  return cmd.option('-o, --output <format>', 'json, yaml or table')
}
