import { ValidationError } from '../errors'

// Cursors are opaque to clients: base64url JSON of the last item's sort key.

export function encodeCursor(key: readonly (string | number)[]): string {
  return btoa(JSON.stringify(key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function decodeCursor<T extends readonly (string | number)[]>(cursor: string | undefined, shape: { [K in keyof T]: 'string' | 'number' }): T | undefined {
  if (cursor === undefined) return undefined
  try {
    const padded = cursor.replace(/-/g, '+').replace(/_/g, '/')
    const value: unknown = JSON.parse(atob(padded + '='.repeat((4 - (padded.length % 4)) % 4)))
    if (Array.isArray(value) && value.length === shape.length && value.every((v, i) => typeof v === shape[i])) return value as unknown as T
  } catch {
    // fall through to the validation error
  }
  throw new ValidationError([{ path: 'cursor', message: 'not a cursor this API issued' }])
}

/** Fetch limit + 1 rows; this trims the extra one and says where the next page starts. */
export function page<R, I>(rows: R[], limit: number, toItem: (r: R) => I, keyOf: (r: R) => readonly (string | number)[]): { items: I[]; nextCursor: string | null } {
  const more = rows.length > limit
  const slice = more ? rows.slice(0, limit) : rows
  const last = slice[slice.length - 1]
  return { items: slice.map(toItem), nextCursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null }
}
