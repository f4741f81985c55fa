import { serializeHeaderMap, type HeaderPairs } from './header-map'

/** What the proxy knows about a request, for `proxy_get_property` (Envoy's attribute names). */
export type RequestProperties = {
  method: string
  /** Path with query, as `:path`. */
  path: string
  scheme?: string
  /** Host header / `:authority`. */
  authority?: string
  /** Verified caller identity (SPIFFE ID), when the mesh has one. */
  sourcePrincipal?: string
  sourceAddress?: string
  /** The Weft service this proxy fronts. */
  destinationService?: string
  destinationAddress?: string
  requestId?: string
  /** Further properties by dotted path (`"weft.tenant"`), for anything Weft adds later. */
  extra?: Readonly<Record<string, string | Uint8Array>>
}

export type PropertySource = {
  rootId: string
  request?: RequestProperties
  requestHeaders?: HeaderPairs
  responseHeaders?: HeaderPairs
  responseStatus?: number
  overrides?: ReadonlyMap<string, Uint8Array>
}

const utf8 = new TextEncoder()

function int64(value: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigInt64(0, BigInt(value), true)
  return out
}

/**
 * Resolves a property path, given as the ABI passes it: segments separated by NUL (`request\0path`). A path with
 * no NUL is split on dots as well, which some SDKs send. Strings are returned as UTF-8 bytes, integers as 8-byte
 * little-endian int64 and header maps in the header-map serialisation, as Envoy does.
 */
export function resolveProperty(rawPath: string, source: PropertySource): Uint8Array | undefined {
  const trimmed = rawPath.endsWith('\0') ? rawPath.slice(0, -1) : rawPath
  const path = trimmed.includes('\0') ? trimmed.split('\0').join('.') : trimmed
  const overridden = source.overrides?.get(path)
  if (overridden) return overridden
  const req = source.request
  const str = (v: string | undefined): Uint8Array | undefined => (v === undefined ? undefined : utf8.encode(v))
  switch (path) {
    case 'plugin_root_id':
    case 'plugin_name':
      return utf8.encode(source.rootId)
    case 'request.path':
      return str(req?.path)
    case 'request.url_path':
      return str(req?.path.split('?')[0])
    case 'request.query': {
      const i = req?.path.indexOf('?') ?? -1
      return req && i >= 0 ? utf8.encode(req.path.slice(i + 1)) : undefined
    }
    case 'request.method':
      return str(req?.method)
    case 'request.scheme':
      return str(req?.scheme)
    case 'request.host':
      return str(req?.authority)
    case 'request.id':
      return str(req?.requestId)
    case 'request.headers':
      return source.requestHeaders ? serializeHeaderMap(source.requestHeaders) : undefined
    case 'response.headers':
      return source.responseHeaders ? serializeHeaderMap(source.responseHeaders) : undefined
    case 'response.code':
      return source.responseStatus === undefined ? undefined : int64(source.responseStatus)
    case 'source.principal':
      return str(req?.sourcePrincipal)
    case 'source.address':
      return str(req?.sourceAddress)
    case 'destination.service':
      return str(req?.destinationService)
    case 'destination.address':
      return str(req?.destinationAddress)
  }
  const extra = req?.extra?.[path]
  return typeof extra === 'string' ? utf8.encode(extra) : extra
}
