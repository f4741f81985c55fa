import type { Compiled } from '../snapshot/types'
import { RouteSpec } from './schemas'

/**
 * Route matching cases taken from the Gateway API text (HTTPRouteRule.matches, HTTPPathMatch, HTTPHeaderMatch,
 * HTTPQueryParamMatch in apis/v1/httproute_types.go) plus Weft's own mesh rules. Data only, so that the proxy
 * suite can replay the same table over real HTTP: `request.path` has no query string, `request.query` is
 * what the proxy would parse from it, and header names are lowercase as HTTP/2 sends them.
 */
export type RouteMatchCase = {
  readonly name: string
  /** The sentence of the spec (or Weft's rule) the case pins. */
  readonly rule: string
  readonly routes: readonly Compiled<RouteSpec>[]
  readonly request: {
    readonly method: string
    readonly path: string
    readonly headers?: Readonly<Record<string, string>>
    readonly query?: Readonly<Record<string, string>>
  }
  readonly expected:
    | { readonly kind: 'pass-through' }
    | { readonly kind: 'not-found' }
    | { readonly kind: 'matched'; readonly policy: string; readonly rule: number; readonly match: number | null }
}

const OLD = '2024-01-01T00:00:00.000Z'
const NEW = '2024-06-01T00:00:00.000Z'

function route(name: string, rules: unknown[], createdAt = OLD): Compiled<RouteSpec> {
  // Parsed like the API parses them, so defaults (PathPrefix, Exact, weight 1) are those users get.
  return { name, createdAt, spec: RouteSpec.parse({ rules }) }
}

const exact = (value: string) => ({ path: { type: 'Exact', value } })
const prefix = (value: string) => ({ path: { type: 'PathPrefix', value } })
const regex = (value: string) => ({ path: { type: 'RegularExpression', value } })
const matched = (policy: string, rule: number, match: number | null = 0) => ({ kind: 'matched', policy, rule, match }) as const
const NOT_FOUND = { kind: 'not-found' } as const

const PREFIX_ABC = [route('abc', [{ matches: [prefix('/abc')] }])]
const PREFIX_ABC_SLASH = [route('abc', [{ matches: [prefix('/abc/')] }])]

export const ROUTE_MATCH_CASES: readonly RouteMatchCase[] = [
  // --- mesh rules -----------------------------------------------------------------------------------
  {
    name: 'no Route policy: pass-through',
    rule: 'Weft: a service without Route policies sends every request to all its endpoints',
    routes: [],
    request: { method: 'GET', path: '/anything' },
    expected: { kind: 'pass-through' },
  },
  {
    name: 'routes exist, none matches: not-found',
    rule: 'HTTPRouteRule: "When no rules matching a request have been successfully attached ..., a HTTP 404 status code MUST be returned"',
    routes: [route('api', [{ matches: [prefix('/api')] }])],
    request: { method: 'GET', path: '/web' },
    expected: NOT_FOUND,
  },
  {
    name: 'a rule without matches matches every request',
    rule: 'HTTPRouteRule.matches: "If no matches are specified, the default is a prefix path match on "/""',
    routes: [route('catch-all', [{ backendRefs: [{ labels: { version: 'v1' } }] }])],
    request: { method: 'DELETE', path: '/deep/path/here' },
    expected: matched('catch-all', 0, null),
  },
  {
    name: 'a rule without matches ranks as PathPrefix "/": a longer prefix wins over it',
    rule: 'HTTPRouteRule.matches: the default match is PathPrefix "/", ranked like one',
    routes: [route('r', [{}, { matches: [prefix('/api')] }])],
    request: { method: 'GET', path: '/api/x' },
    expected: matched('r', 1, 0),
  },

  // --- path types -----------------------------------------------------------------------------------
  {
    name: 'Exact matches the identical path',
    rule: 'HTTPPathMatch Exact: "Matches the URL path exactly and with case sensitivity"',
    routes: [route('e', [{ matches: [exact('/foo/bar')] }])],
    request: { method: 'GET', path: '/foo/bar' },
    expected: matched('e', 0),
  },
  {
    name: 'Exact does not match the path with a trailing slash',
    rule: 'HTTPPathMatch Exact: the whole path, so "/foo/bar/" is another path',
    routes: [route('e', [{ matches: [exact('/foo/bar')] }])],
    request: { method: 'GET', path: '/foo/bar/' },
    expected: NOT_FOUND,
  },
  {
    name: 'Exact is case-sensitive',
    rule: 'HTTPPathMatch Exact: "with case sensitivity"',
    routes: [route('e', [{ matches: [exact('/foo')] }])],
    request: { method: 'GET', path: '/FOO' },
    expected: NOT_FOUND,
  },
  {
    name: 'PathPrefix "/abc" matches "/abc"',
    rule: 'PathMatchType PathPrefix: "the paths /abc, /abc/, and /abc/def would all match the prefix /abc"',
    routes: PREFIX_ABC,
    request: { method: 'GET', path: '/abc' },
    expected: matched('abc', 0),
  },
  {
    name: 'PathPrefix "/abc" matches "/abc/"',
    rule: 'PathMatchType PathPrefix: "the paths /abc, /abc/, and /abc/def would all match the prefix /abc"',
    routes: PREFIX_ABC,
    request: { method: 'GET', path: '/abc/' },
    expected: matched('abc', 0),
  },
  {
    name: 'PathPrefix "/abc" matches "/abc/def"',
    rule: 'PathMatchType PathPrefix: "the paths /abc, /abc/, and /abc/def would all match the prefix /abc"',
    routes: PREFIX_ABC,
    request: { method: 'GET', path: '/abc/def' },
    expected: matched('abc', 0),
  },
  {
    name: 'PathPrefix "/abc" does not match "/abcd"',
    rule: 'PathMatchType PathPrefix: "done on a path element by element basis ... the path /abcd would not"',
    routes: PREFIX_ABC,
    request: { method: 'GET', path: '/abcd' },
    expected: NOT_FOUND,
  },
  {
    name: 'PathPrefix "/abc/" ignores its trailing slash: matches "/abc"',
    rule: 'PathMatchType PathPrefix: "When specified, a trailing `/` is ignored"',
    routes: PREFIX_ABC_SLASH,
    request: { method: 'GET', path: '/abc' },
    expected: matched('abc', 0),
  },
  {
    name: 'PathPrefix "/abc/" still matches by element: not "/abcd"',
    rule: 'PathMatchType PathPrefix: "When specified, a trailing `/` is ignored"',
    routes: PREFIX_ABC_SLASH,
    request: { method: 'GET', path: '/abcd' },
    expected: NOT_FOUND,
  },
  {
    name: 'PathPrefix is case-sensitive',
    rule: 'PathMatchType PathPrefix: "Matching is case-sensitive"',
    routes: PREFIX_ABC,
    request: { method: 'GET', path: '/ABC/def' },
    expected: NOT_FOUND,
  },
  {
    name: 'RegularExpression is a full match: a longer path does not match',
    rule: 'PathMatchType RegularExpression: the regex must match the whole path (anchored)',
    routes: [route('users', [{ matches: [regex('/users/[0-9]+')] }])],
    request: { method: 'GET', path: '/users/42/orders' },
    expected: NOT_FOUND,
  },
  {
    name: 'RegularExpression matches a conforming path',
    rule: 'PathMatchType RegularExpression',
    routes: [route('users', [{ matches: [regex('/users/[0-9]+')] }])],
    request: { method: 'GET', path: '/users/42' },
    expected: matched('users', 0),
  },

  // --- precedence -----------------------------------------------------------------------------------
  {
    name: 'Exact beats PathPrefix of the same value, even from a newer Route',
    rule: 'HTTPRouteRule.matches precedence: ""Exact" path match" first',
    routes: [route('prefix-old', [{ matches: [prefix('/login')] }], OLD), route('exact-new', [{ matches: [exact('/login')] }], NEW)],
    request: { method: 'GET', path: '/login' },
    expected: matched('exact-new', 0),
  },
  {
    name: 'Exact beats a prefix match that has a method and headers',
    rule: 'HTTPRouteRule.matches precedence: path type is compared before method and headers',
    routes: [
      route('rich', [{ matches: [{ ...prefix('/login'), method: 'GET', headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }] }] }]),
      route('plain', [{ matches: [exact('/login')] }], NEW),
    ],
    request: { method: 'GET', path: '/login', headers: { 'x-a': '1', 'x-b': '2' } },
    expected: matched('plain', 0),
  },
  {
    name: 'the longest prefix wins',
    rule: 'HTTPRouteRule.matches precedence: ""Prefix" path match with largest number of characters"',
    routes: [route('r', [{ matches: [prefix('/')] }, { matches: [prefix('/api/v1')] }, { matches: [prefix('/api')] }])],
    request: { method: 'GET', path: '/api/v1/users' },
    expected: matched('r', 1),
  },
  {
    name: 'a longer prefix beats a shorter one with method and headers',
    rule: 'HTTPRouteRule.matches precedence: prefix length is compared before method and headers',
    routes: [
      route('short', [{ matches: [{ ...prefix('/api'), method: 'GET', headers: [{ name: 'x-a', value: '1' }] }] }]),
      route('long', [{ matches: [prefix('/api/v2')] }], NEW),
    ],
    request: { method: 'GET', path: '/api/v2/x', headers: { 'x-a': '1' } },
    expected: matched('long', 0),
  },
  {
    name: 'PathPrefix beats RegularExpression, even when the regex is more specific',
    rule: 'Istio getURIRank: "Exact > Prefix > Regex" (regex precedence is implementation-specific)',
    routes: [route('re', [{ matches: [regex('/users/[0-9]+')] }]), route('root', [{ matches: [prefix('/')] }], NEW)],
    request: { method: 'GET', path: '/users/7' },
    expected: matched('root', 0),
  },
  {
    name: 'among regexes the longer pattern wins',
    rule: 'Istio getURILength: regexes of equal rank compare by length',
    routes: [route('r', [{ matches: [regex('/users/.*')] }, { matches: [regex('/users/[0-9]+')] }])],
    request: { method: 'GET', path: '/users/7' },
    expected: matched('r', 1),
  },
  {
    name: 'a method match beats more header matches',
    rule: 'HTTPRouteRule.matches precedence: "Method match" before "Largest number of header matches"',
    routes: [
      route('headers', [{ matches: [{ ...prefix('/pay'), headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }] }] }]),
      route('method', [{ matches: [{ ...prefix('/pay'), method: 'POST' }] }], NEW),
    ],
    request: { method: 'POST', path: '/pay', headers: { 'x-a': '1', 'x-b': '2' } },
    expected: matched('method', 0),
  },
  {
    name: 'a method that differs does not match: the next match applies',
    rule: 'HTTPRouteMatch.method: "When specified, this route will be matched only if the request has the specified method"',
    routes: [route('r', [{ matches: [{ ...prefix('/pay'), method: 'POST' }] }, { matches: [prefix('/pay')] }])],
    request: { method: 'GET', path: '/pay' },
    expected: matched('r', 1),
  },
  {
    name: 'more header matches win',
    rule: 'HTTPRouteRule.matches precedence: "Largest number of header matches"',
    routes: [
      route('r', [
        { matches: [{ headers: [{ name: 'x-canary', value: '1' }] }] },
        { matches: [{ headers: [{ name: 'x-canary', value: '1' }, { name: 'x-region', value: 'eu' }] }] },
      ]),
    ],
    request: { method: 'GET', path: '/', headers: { 'x-canary': '1', 'x-region': 'eu' } },
    expected: matched('r', 1),
  },
  {
    name: 'a header match beats more query param matches',
    rule: 'HTTPRouteRule.matches precedence: headers are compared before query params',
    routes: [
      route('r', [
        { matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }] },
        { matches: [{ headers: [{ name: 'x-a', value: '1' }] }] },
      ]),
    ],
    request: { method: 'GET', path: '/', headers: { 'x-a': '1' }, query: { a: '1', b: '2' } },
    expected: matched('r', 1),
  },
  {
    name: 'more query param matches win',
    rule: 'HTTPRouteRule.matches precedence: "Largest number of query param matches"',
    routes: [
      route('r', [
        { matches: [{ queryParams: [{ name: 'a', value: '1' }] }] },
        { matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }] },
      ]),
    ],
    request: { method: 'GET', path: '/', query: { a: '1', b: '2' } },
    expected: matched('r', 1),
  },
  {
    name: 'a tie across Routes goes to the oldest, whatever its name',
    rule: 'HTTPRouteRule.matches: "If ties still exist across multiple Routes ... The oldest Route based on creation timestamp"',
    routes: [route('aaa-new', [{ matches: [prefix('/x')] }], NEW), route('zzz-old', [{ matches: [prefix('/x')] }], OLD)],
    request: { method: 'GET', path: '/x' },
    expected: matched('zzz-old', 0),
  },
  {
    name: 'a tie across Routes of the same age goes to the first name alphabetically',
    rule: 'HTTPRouteRule.matches: "The Route appearing first in alphabetical order by {namespace}/{name}"',
    routes: [route('beta', [{ matches: [prefix('/x')] }]), route('alpha', [{ matches: [prefix('/x')] }])],
    request: { method: 'GET', path: '/x' },
    expected: matched('alpha', 0),
  },
  {
    name: 'PathPrefix "/x/" and "/x" tie (the slash is ignored): the oldest Route wins',
    rule: 'PathMatchType PathPrefix: "a trailing / is ignored", so both have the same characters',
    routes: [route('slash-new', [{ matches: [prefix('/x/')] }], NEW), route('plain-old', [{ matches: [prefix('/x')] }], OLD)],
    request: { method: 'GET', path: '/x/y' },
    expected: matched('plain-old', 0),
  },
  {
    name: 'a tie within a Route goes to the first rule in list order',
    rule: 'HTTPRouteRule.matches: "If ties still exist within an HTTPRoute, matching precedence MUST be granted to the FIRST matching rule (in list order)"',
    routes: [route('r', [{ matches: [prefix('/x')] }, { matches: [prefix('/x')] }])],
    request: { method: 'GET', path: '/x' },
    expected: matched('r', 0),
  },
  {
    name: 'precedence compares matches, not rules: a later rule with a better match wins',
    rule: 'HTTPRouteRule.matches: "Across all rules specified on applicable Routes, precedence must be given to the match having ..."',
    routes: [route('r', [{ matches: [prefix('/')] }, { matches: [prefix('/checkout'), exact('/cart')] }])],
    request: { method: 'GET', path: '/cart' },
    expected: matched('r', 1, 1),
  },

  // --- AND within a match, OR across matches -----------------------------------------------------------
  {
    name: 'matches of one rule are ORed: the second match applies',
    rule: 'HTTPRouteRule.matches: "a request must satisfy EITHER of the two conditions"',
    routes: [route('r', [{ matches: [{ ...prefix('/foo'), headers: [{ name: 'version', value: 'v2' }] }, prefix('/v2/foo')] }])],
    request: { method: 'GET', path: '/v2/foo' },
    expected: matched('r', 0, 1),
  },
  {
    name: 'conditions of one match are ANDed: a missing header fails it',
    rule: 'HTTPRouteMatch: "all conditions must be satisfied" (path AND header)',
    routes: [route('r', [{ matches: [{ ...prefix('/foo'), headers: [{ name: 'version', value: 'v2' }] }, prefix('/v2/foo')] }])],
    request: { method: 'GET', path: '/foo' },
    expected: NOT_FOUND,
  },
  {
    name: 'every header match must hold: one of two failing falls back to the plainer rule',
    rule: 'HTTPRouteMatch.headers: "a request must match all the specified headers"',
    routes: [
      route('r', [{ matches: [{ headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }] }] }, { matches: [prefix('/')] }]),
    ],
    request: { method: 'GET', path: '/', headers: { 'x-a': '1', 'x-b': 'nope' } },
    expected: matched('r', 1),
  },

  // --- headers and query params -----------------------------------------------------------------------
  {
    name: 'header names compare case-insensitively',
    rule: 'HTTPHeaderMatch.name: "Name matching MUST be case-insensitive. (See RFC 7230 section 3.2)"',
    routes: [route('r', [{ matches: [{ headers: [{ name: 'X-Canary', value: '1' }] }] }])],
    request: { method: 'GET', path: '/', headers: { 'x-canary': '1' } },
    expected: matched('r', 0),
  },
  {
    name: 'header values compare case-sensitively',
    rule: 'HTTPHeaderMatch Exact: an exact, case-sensitive value match',
    routes: [route('r', [{ matches: [{ headers: [{ name: 'x-env', value: 'Prod' }] }] }])],
    request: { method: 'GET', path: '/', headers: { 'x-env': 'prod' } },
    expected: NOT_FOUND,
  },
  {
    name: 'a repeated header name: only the first entry counts',
    rule: 'HTTPHeaderMatch: "only the first entry with an equivalent name MUST be considered for a match"',
    routes: [route('r', [{ matches: [{ headers: [{ name: 'x-a', value: '1' }, { name: 'X-A', value: '2' }] }] }])],
    request: { method: 'GET', path: '/', headers: { 'x-a': '1' } },
    expected: matched('r', 0),
  },
  {
    name: 'a header RegularExpression is a full match',
    rule: 'HeaderMatchType RegularExpression: the value must match the whole regex',
    routes: [route('r', [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-version', value: 'v[0-9]+' }] }] }])],
    request: { method: 'GET', path: '/', headers: { 'x-version': 'v12-beta' } },
    expected: NOT_FOUND,
  },
  {
    name: 'a header RegularExpression matches a conforming value',
    rule: 'HeaderMatchType RegularExpression',
    routes: [route('r', [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-version', value: 'v[0-9]+' }] }] }])],
    request: { method: 'GET', path: '/', headers: { 'x-version': 'v12' } },
    expected: matched('r', 0),
  },
  {
    name: 'query param names compare case-sensitively',
    rule: 'HTTPQueryParamMatch.name: "This must be an exact string match" (case-sensitive)',
    routes: [route('r', [{ matches: [{ queryParams: [{ name: 'version', value: '2' }] }] }])],
    request: { method: 'GET', path: '/', query: { Version: '2' } },
    expected: NOT_FOUND,
  },
  {
    name: 'a query param RegularExpression matches',
    rule: 'QueryParamMatchType RegularExpression',
    routes: [route('r', [{ matches: [{ queryParams: [{ type: 'RegularExpression', name: 'id', value: '[a-f0-9]{8}' }] }] }])],
    request: { method: 'GET', path: '/', query: { id: 'deadbeef' } },
    expected: matched('r', 0),
  },

  // --- snapshots that cannot be trusted ------------------------------------------------------------------
  {
    name: 'a catastrophic regex is skipped, the rest of the Route still routes',
    rule: 'Weft: an unsafe regex in a snapshot skips its match (reason recorded), never crashes the proxy',
    routes: [route('r', [{ matches: [regex('/(a+)+')] }, { matches: [prefix('/')] }])],
    request: { method: 'GET', path: '/aaaa' },
    expected: matched('r', 1),
  },
  {
    name: 'only unsafe matches: not-found, not pass-through',
    rule: 'Weft: Route policies exist, so an unmatched request is refused rather than sent anywhere',
    routes: [route('r', [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '(a|aa)*' }] }] }])],
    request: { method: 'GET', path: '/', headers: { x: 'aa' } },
    expected: NOT_FOUND,
  },
]
