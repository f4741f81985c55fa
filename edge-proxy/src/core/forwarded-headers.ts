import { HeaderFields } from './header-fields'

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those naming other options of
 * the `Connection` header: a proxy must not forward them. `proxy-authorization` is meant for this proxy (the
 * app reaches the outbound side as its HTTP_PROXY) and `host` is the transport's to set.
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host'] as const

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/

/** Set only by Weft's proxies; whatever a client sends under these names is dropped, never trusted. */
export const WEFT_IDENTITY_HEADER = 'weft-identity'
export const WEFT_SOURCE_PRINCIPAL_HEADER = 'weft-source-principal'

/** Dropped from every forwarded request: hop-by-hop, and Weft's own identity headers. */
const DROPPED: ReadonlySet<string> = new Set([...HOP_BY_HOP, WEFT_IDENTITY_HEADER, WEFT_SOURCE_PRINCIPAL_HEADER])

/**
 * A mutable copy of `headers` without hop-by-hop headers and without Weft's own identity headers: HeaderFields
 * (header-fields.ts), each line kept as it came. One pass that leaves those out, not a full copy and a delete
 * per name.
 */
export function forwardableHeaders(headers: Headers): HeaderFields {
  const connection = headers.get('connection')
  let named: Set<string> | null = null
  if (connection !== null) {
    for (const name of connection.split(',')) {
      const trimmed = name.trim().toLowerCase()
      if (TOKEN.test(trimmed)) (named ??= new Set()).add(trimmed)
    }
  }
  const keep = (name: string) => !DROPPED.has(name) && (named === null || !named.has(name))
  // A Fetch Headers (the Worker's request) iterates repeats joined, but each Set-Cookie apart: taken as it gives them.
  return headers instanceof HeaderFields ? headers.filtered(keep) : HeaderFields.of(headers).filtered(keep)
}
