/**
 * JSON with object keys sorted at every level, so the same snapshot always serialises to the same bytes
 * (and the same ETag) whichever instance compiled it and whatever key order the database returned.
 * Arrays keep their order: the compiler sorts the ones whose order carries no meaning.
 *
 * The native serialiser does the writing (a replacer hands it each object with its keys in order): several
 * times faster than building the string in JavaScript, and snapshots are serialised once per service per revision.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, sortedKeys) ?? 'null'
}

function sortedKeys(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('cannot serialise a non-finite number')
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  // toJSON (Dates) has already been applied by the time the replacer sees a value.
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(value).sort()) out[k] = (value as Record<string, unknown>)[k]
  return out
}
