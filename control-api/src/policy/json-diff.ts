export type PatchOp = { op: 'add' | 'remove' | 'replace'; path: string; value?: unknown }

const escape = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1')
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * An RFC 6902 JSON Patch turning `a` into `b`: what policy history shows between versions. Arrays are
 * compared element by element (a shifted list shows as replacements: simple and honest, if not minimal).
 */
export function jsonDiff(a: unknown, b: unknown, path = ''): PatchOp[] {
  if (a === b) return []
  if (isObject(a) && isObject(b)) {
    const ops: PatchOp[] = []
    for (const k of Object.keys(a).sort()) {
      if (!(k in b)) ops.push({ op: 'remove', path: `${path}/${escape(k)}` })
      else ops.push(...jsonDiff(a[k], b[k], `${path}/${escape(k)}`))
    }
    for (const k of Object.keys(b).sort()) if (!(k in a)) ops.push({ op: 'add', path: `${path}/${escape(k)}`, value: b[k] })
    return ops
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const ops: PatchOp[] = []
    const common = Math.min(a.length, b.length)
    for (let i = 0; i < common; i++) ops.push(...jsonDiff(a[i], b[i], `${path}/${i}`))
    for (let i = a.length - 1; i >= common; i--) ops.push({ op: 'remove', path: `${path}/${i}` })
    for (let i = common; i < b.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i] })
    return ops
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return []
  return [{ op: 'replace', path: path || '', value: b }]
}
