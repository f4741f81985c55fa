import { PreconditionFailed } from '../errors'

export function etagOf(version: number): string {
  return `"${version}"`
}

/**
 * Optimistic concurrency: when the client sends If-Match, it must name the current version.
 * Weak validators compare weakly (RFC 9110 says If-Match uses strong comparison, but our tags are
 * versions, so W/"3" and "3" mean the same thing).
 */
export function checkIfMatch(header: string | undefined, version: number): void {
  if (header === undefined) return
  const tags = header.split(',').map((t) => t.trim())
  if (tags.includes('*')) return
  if (tags.some((t) => t.replace(/^W\//, '') === etagOf(version))) return
  throw new PreconditionFailed(`If-Match ${header} does not match the current version ${etagOf(version)}`)
}
