import type { RouteFilter, RouteMatched, RouteRule } from '../../../mesh/src/policy/index'

type Of<T extends RouteFilter['type']> = Extract<RouteFilter, { type: T }>
export type HeaderModifier = Of<'RequestHeaderModifier'>['requestHeaderModifier']
export type UrlRewrite = Of<'URLRewrite'>['urlRewrite']
export type RequestRedirect = Of<'RequestRedirect'>['requestRedirect']
export type RequestMirror = Of<'RequestMirror'>['requestMirror']
export type PathModifier = NonNullable<UrlRewrite['path']>

/** A rule's Gateway API filters, sorted by what they act on (in rule order within each kind). */
export type RuleFilters = {
  readonly requestHeaders: readonly HeaderModifier[]
  readonly responseHeaders: readonly HeaderModifier[]
  readonly rewrite: UrlRewrite | null
  readonly redirect: RequestRedirect | null
  readonly mirrors: readonly RequestMirror[]
}

const NONE: RuleFilters = Object.freeze({ requestHeaders: [], responseHeaders: [], rewrite: null, redirect: null, mirrors: [] })
const cache = new WeakMap<RouteRule, RuleFilters>()

export function filtersOf(rule: RouteRule | null): RuleFilters {
  if (rule === null || rule.filters === undefined || rule.filters.length === 0) return NONE
  let f = cache.get(rule)
  if (f === undefined) {
    const requestHeaders: HeaderModifier[] = []
    const responseHeaders: HeaderModifier[] = []
    const mirrors: RequestMirror[] = []
    let rewrite: UrlRewrite | null = null
    let redirect: RequestRedirect | null = null
    for (const filter of rule.filters) {
      if (filter.type === 'RequestHeaderModifier') requestHeaders.push(filter.requestHeaderModifier)
      else if (filter.type === 'ResponseHeaderModifier') responseHeaders.push(filter.responseHeaderModifier)
      else if (filter.type === 'URLRewrite') rewrite ??= filter.urlRewrite
      else if (filter.type === 'RequestRedirect') redirect ??= filter.requestRedirect
      else mirrors.push(filter.requestMirror)
    }
    f = Object.freeze({ requestHeaders, responseHeaders, rewrite, redirect, mirrors })
    cache.set(rule, f)
  }
  return f
}

/**
 * Gateway API HTTPHeaderFilter: `remove` first, then `set` (replaces every value), then `add` (appends to
 * what is there), as Envoy evaluates removals before additions. Names are case-insensitive.
 */
export function applyHeaderModifier(headers: Headers, modifier: HeaderModifier): void {
  for (const name of modifier.remove ?? []) headers.delete(name)
  for (const { name, value } of modifier.set ?? []) headers.set(name, value)
  for (const { name, value } of modifier.add ?? []) headers.append(name, value)
}

/**
 * The PathPrefix that matched, for ReplacePrefixMatch: the match's value, or "/" for a rule without matches
 * (Gateway API's default match). Null when the match is not a PathPrefix (the filter then leaves the path).
 */
export function matchedPrefixOf(route: RouteMatched): string | null {
  if (route.matchIndex === null) return '/'
  const path = route.rule.matches?.[route.matchIndex]?.path
  if (path === undefined) return '/'
  return (path.type ?? 'PathPrefix') === 'PathPrefix' ? (path.value ?? '/') : null
}

/**
 * Gateway API HTTPPathModifier. ReplacePrefixMatch swaps the matched prefix element-wise: prefix "/foo",
 * replacement "/bar": "/foo/x" → "/bar/x"; replacement "/": "/foo/x" → "/x", "/foo" → "/".
 */
export function modifiedPath(path: string, modifier: PathModifier, matchedPrefix: string | null): string {
  if (modifier.type === 'ReplaceFullPath') return modifier.replaceFullPath
  if (matchedPrefix === null) return path
  const prefix = matchedPrefix.replace(/\/+$/, '')
  const rest = path.slice(prefix.length)
  const replacement = modifier.replacePrefixMatch.replace(/\/+$/, '')
  const out = replacement + rest
  return out === '' ? '/' : out.startsWith('/') ? out : `/${out}`
}

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 }

/**
 * Gateway API HTTPRequestRedirectFilter: each field defaults to the request's own; a changed scheme without a
 * port takes the scheme's well-known port, and the well-known port is never written into Location.
 */
export function redirectLocation(url: URL, path: string, redirect: RequestRedirect, matchedPrefix: string | null): string {
  const requestScheme = url.protocol.replace(/:$/, '')
  const scheme = redirect.scheme ?? requestScheme
  const hostname = redirect.hostname ?? url.hostname
  const requestPort = url.port === '' ? DEFAULT_PORT[requestScheme] : Number(url.port)
  const port = redirect.port ?? (redirect.scheme !== undefined ? DEFAULT_PORT[scheme] : requestPort)
  const showPort = port !== undefined && port !== DEFAULT_PORT[scheme]
  const newPath = redirect.path !== undefined ? modifiedPath(path, redirect.path, matchedPrefix) : path
  return `${scheme}://${hostname}${showPort ? `:${port}` : ''}${newPath}${url.search}`
}
