import { checkRegex, MAX_PATH_LENGTH, safeTest } from './safe-regex'

/** The `path` of a Route match, RateLimit match or Fault match (schemas.ts `PathMatch`). */
export type PathMatchSpec = { readonly type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; readonly value?: string }

export type CompiledPathMatch = {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression'
  /**
   * Characters that count for precedence (Gateway API: "Prefix path match with largest number of
   * characters"): the value without its trailing slash, so "/foo/" and "/foo" rank, and match, alike.
   * For a regex, the pattern's length, as Istio ranks them.
   */
  readonly length: number
  /** For reasons: `PathPrefix "/api"`. */
  readonly text: string
  readonly test: (path: string) => boolean
}

const SLASH = 0x2f

/**
 * Gateway API HTTPPathMatch: `Exact` compares the whole path, case-sensitively; `PathPrefix` matches element by
 * element ("/abc" matches "/abc", "/abc/" and "/abc/def", not "/abcd"; a trailing "/" in the value is
 * ignored); `RegularExpression` is a full match (see safe-regex.ts). A missing match is PathPrefix "/",
 * which matches every path. Each `test` is O(path length) and allocates nothing.
 */
export function compilePathMatch(spec: PathMatchSpec | undefined): { ok: true; match: CompiledPathMatch } | { ok: false; reason: string } {
  const type = spec?.type ?? 'PathPrefix'
  const value = spec?.value ?? '/'
  const text = `${type} ${JSON.stringify(value)}`
  if (type === 'Exact') return { ok: true, match: { type, length: value.length, text, test: (path) => path === value } }
  if (type === 'PathPrefix') {
    let end = value.length
    while (end > 0 && value.charCodeAt(end - 1) === SLASH) end--
    const prefix = value.slice(0, end)
    const test =
      prefix === ''
        ? () => true
        : (path: string) => path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === SLASH)
    return { ok: true, match: { type, length: prefix.length, text, test } }
  }
  const checked = checkRegex(value)
  if (!checked.ok) return { ok: false, reason: `path ${text}: ${checked.reason}` }
  const regex = checked.regex
  return { ok: true, match: { type, length: value.length, text, test: (path) => safeTest(regex, path, MAX_PATH_LENGTH) } }
}
