import type { MeshRequest } from '../../../mesh/src/policy/index'
import { HeaderFields } from './header-fields'

/**
 * The request as the evaluators see it (mesh-request.ts): the normalised path, lower-case header names with
 * repeated headers already joined by ", " (the Fetch `Headers` object does both), and the first value of each
 * query parameter. Null-prototype records, so a header named `__proto__` is just a header.
 */
export function meshRequestOf(method: string, path: string, url: Pick<URL, 'search' | 'searchParams'>, headers: Headers): MeshRequest {
  const headerRecord: Record<string, string> = Object.create(null)
  if (headers instanceof HeaderFields) headers.combinedInto(headerRecord)
  else
    headers.forEach((value, name) => {
      headerRecord[name] = value
    })
  const query: Record<string, string> = Object.create(null)
  if (url.search.length > 1) {
    for (const [name, value] of url.searchParams) if (!Object.hasOwn(query, name)) query[name] = value
  }
  return { method, path, headers: headerRecord, query }
}
