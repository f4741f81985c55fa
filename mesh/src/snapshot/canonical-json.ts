/**
 * JSON with object keys sorted at every level, so the same snapshot always serialises to the same bytes
 * (and the same ETag) whichever instance compiled it and whatever key order the database returned.
 * Arrays keep their order: the compiler sorts the ones whose order carries no meaning.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null'
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('cannot serialise a non-finite number')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`
}
