import { stringify } from 'yaml'
import { UsageError } from './exit.js'

/** Where a command writes. `main` passes process streams; tests may pass their own. */
export type Io = {
  out: (text: string) => void
  err: (text: string) => void
  /** Whether stderr is a terminal: progress bars only then. */
  isTTY: boolean
  env: Record<string, string | undefined>
  /** Rewrites the current stderr line (progress). */
  status?: (text: string) => void
}

export type Format = 'table' | 'json' | 'yaml'

/** `--json` is `-o json`; `-o` wins when both are given. */
export function formatOf(opts: { json?: boolean; output?: string }): Format {
  const o = opts.output ?? (opts.json ? 'json' : 'table')
  if (o !== 'table' && o !== 'json' && o !== 'yaml') throw new UsageError(`-o must be json, yaml or table (got ${o})`)
  return o
}

export type Column<T> = { header: string; value: (row: T) => unknown }

/** Plain aligned columns, kubectl style: upper-case headers, two spaces between columns, no borders. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => cell(c.value(r))))]
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)))
  return cells.map((line) => line.map((v, i) => (i === line.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n'
}

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-'
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
    return entries.length ? entries.map(([k, x]) => `${k}=${String(x)}`).join(',') : '-'
  }
  return String(v)
}

/** Writes data as JSON, YAML, or (for people) a table or key/value lines. */
export function render<T>(io: Io, format: Format, data: T | readonly T[], columns: readonly Column<T>[]): void {
  if (format === 'json') return io.out(JSON.stringify(data, null, 2) + '\n')
  if (format === 'yaml') return io.out(stringify(data))
  io.out(table(Array.isArray(data) ? data : [data as T], columns))
}

/** A single object as `key: value` lines; nested values as YAML under their key. */
export function details(io: Io, format: Format, data: unknown): void {
  if (format === 'json') return io.out(JSON.stringify(data, null, 2) + '\n')
  io.out(stringify(data))
}

// Flag parsing lives apart (flag-values.ts): `weft sidecar` needs it and not yaml.
export { intOf, labelsOf } from './flag-values.js'
