// The parts of a request's URL the core reads on every request (host, path, query), without a URL parse when
// the URL is one a parser would return unchanged: the Node listener builds `http://payments/charge?id=7` from
// the request line, and a WHATWG URL parse of it was ≈ 2 µs of each hop. Anything else goes through `URL`.

/** What the core reads of a request URL; a `URL` is one. */
export type UrlParts = Pick<URL, 'hostname' | 'host' | 'origin' | 'pathname' | 'search' | 'searchParams'>

// `http://`, a host, an optional port, then the path.
const PLAIN_ORIGIN = /^http:\/\/([a-z0-9.-]+)(?::(\d{1,5}))?(?=\/)/
// Hosts a parser keeps as they are: lower-case DNS labels that each start with a letter (a name ending in a
// numeric label is read as IPv4 and rewritten or refused), or an IPv4 address already in dotted-decimal form
// (what callers' sidecars send: the endpoint's address).
const PLAIN_NAME = /^[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)*$/
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const PLAIN_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)
// A path and query of characters a parser keeps as they are (percent-escapes included).
const PLAIN_PATH_AND_QUERY = /^\/[!$%&-;=?-[\]_a-z~]*$/i

/**
 * True when a parser would return `pathAndQuery` (from its first "/") unchanged: none of the characters it
 * encodes, no dot segments (also spelt `%2e`), no bare trailing "?" (dropped), no "'" in the query (encoded
 * there, not in paths).
 */
export function isPlainPathAndQuery(pathAndQuery: string): boolean {
  if (!PLAIN_PATH_AND_QUERY.test(pathAndQuery) || pathAndQuery.includes('/.') || pathAndQuery.endsWith('?')) return false
  const query = pathAndQuery.indexOf('?')
  const path = query < 0 ? pathAndQuery : pathAndQuery.slice(0, query)
  if (path.includes('%') && /%2e/i.test(path)) return false
  return query < 0 || pathAndQuery.indexOf("'", query) < 0
}

// The last host found plain: a listener's requests nearly all name the same one (its own address inbound, the
// callee outbound), and the IPv4 pattern's alternations cost more than comparing with it.
let lastPlainHost = ''

function isPlainHost(hostname: string): boolean {
  if (hostname === lastPlainHost) return true
  // Punycode labels are checked (and may be refused) by a parser: those take the long way.
  const plain = (PLAIN_NAME.test(hostname) && !hostname.includes('xn--')) || PLAIN_IPV4.test(hostname)
  if (plain) lastPlainHost = hostname
  return plain
}

/** `href`'s parts, as `new URL(href)` would give them. Throws as the parse does for an invalid URL. */
export function urlParts(href: string): UrlParts {
  const origin = PLAIN_ORIGIN.exec(href)
  if (origin !== null) {
    const hostname = origin[1]!
    const port = origin[2] === undefined ? 80 : Number(origin[2])
    const rest = href.slice(origin[0].length)
    if (isPlainHost(hostname) && port <= 65535 && isPlainPathAndQuery(rest)) return new PlainUrl(hostname, port, rest)
  }
  return new URL(href)
}

class PlainUrl implements UrlParts {
  readonly hostname: string
  readonly host: string
  readonly pathname: string
  readonly search: string
  #searchParams: URLSearchParams | undefined

  constructor(hostname: string, port: number, pathAndQuery: string) {
    this.hostname = hostname
    this.host = port === 80 ? hostname : `${hostname}:${port}`
    const query = pathAndQuery.indexOf('?')
    this.pathname = query < 0 ? pathAndQuery : pathAndQuery.slice(0, query)
    this.search = query < 0 ? '' : pathAndQuery.slice(query)
  }

  get origin(): string {
    return `http://${this.host}`
  }

  get searchParams(): URLSearchParams {
    return (this.#searchParams ??= new URLSearchParams(this.search))
  }
}
