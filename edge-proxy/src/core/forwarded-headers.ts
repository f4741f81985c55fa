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

/** A mutable copy of `headers` without hop-by-hop headers and without Weft's own identity headers. */
export function forwardableHeaders(headers: Headers): Headers {
  const out = new Headers(headers)
  const connection = headers.get('connection')
  if (connection !== null) {
    for (const name of connection.split(',')) {
      const trimmed = name.trim().toLowerCase()
      if (TOKEN.test(trimmed)) out.delete(trimmed)
    }
  }
  for (const name of HOP_BY_HOP) out.delete(name)
  out.delete(WEFT_IDENTITY_HEADER)
  out.delete(WEFT_SOURCE_PRINCIPAL_HEADER)
  return out
}
