/**
 * The request as every evaluator sees it: what the proxy reads off the wire, and what `POST /v1/simulate`
 * takes. Header names are lowercase (HTTP field names are case-insensitive, RFC 9110 §5.1; lowering them
 * once at the edge lets every lookup be a plain property read). `path` carries no query string; query
 * parameter names keep their case (Gateway API matches them case-sensitively). A repeated header or
 * parameter is the proxy's to fold (headers: joined with ", "; query: the first value) before evaluation.
 */
export type MeshRequest = {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly query: Readonly<Record<string, string>>
}

/**
 * Reads a header or parameter without trusting the record's prototype: `headers['constructor']` on a
 * plain object is a function, and `__proto__` is an object, so only own string values count.
 */
export function fieldValue(fields: Readonly<Record<string, string>>, name: string): string | undefined {
  const value = fields[name]
  return typeof value === 'string' && Object.hasOwn(fields, name) ? value : undefined
}
