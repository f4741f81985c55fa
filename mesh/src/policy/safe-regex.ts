/**
 * Regular expressions from policies (Route path, header and query matches; RateLimit and Fault path matches).
 *
 * Dialect: ECMAScript, compiled with the `u` flag, because the proxies run on V8 and have no RE2. Gateway API
 * leaves the dialect to the implementation ("Support: Implementation-specific"); write the subset shared with
 * RE2 (Envoy's dialect) so that a policy means the same in another mesh: no lookaround, no backreferences,
 * no inline flags. The `u` flag is chosen because it is closer to RE2: an escape JS does not know (`\z`, `\A`)
 * or a lone `{` is an error here instead of silently meaning a literal letter.
 *
 * V8 backtracks, so an ambiguous pattern can take exponential time on a crafted path or header (ReDoS), and
 * the proxy evaluates these on attacker-controlled input. `checkRegex` refuses the shapes that cause it:
 * nested quantifiers (exponential), and unbounded quantifiers in a row over overlapping characters
 * (`a*a*a*b` is cubic: measured at 2.2 s on 2 000 characters in Node 20). `safeTest` caps the input length,
 * which bounds what the check does not see: quadratic shapes with a mandatory character between the
 * quantifiers (`\d+1\d+`, tens of milliseconds at 8 KiB). Full ambiguity analysis is out of scope.
 */

/** Gateway API implementations commonly cap regex length; 256 keeps the structural check trivially cheap. */
export const MAX_REGEX_LENGTH = 256

/** Longest path a regex is run against: 8 KiB, the request-line limit of most servers (nginx, Envoy's default). */
export const MAX_PATH_LENGTH = 8192

/** Longest header or query value a regex is run against: 8 KiB, as for paths. */
export const MAX_HEADER_VALUE_LENGTH = 8192

export type RegexCheck = { ok: true; regex: RegExp } | { ok: false; reason: string }

/**
 * Compiles `pattern` as a full match (Gateway API regex matches are full matches, so it becomes `^(?:…)$`),
 * or says why not. Refused: over {@link MAX_REGEX_LENGTH} characters, not compiling, backreferences,
 * lookbehind, nested quantifiers (a repeated group that contains a quantifier or an ambiguous alternation:
 * `(a+)+`, `(a*)*`, `(\w+\s?)*`, `(a|aa)+`), and adjacent unbounded quantifiers over overlapping
 * characters (`\d+\d+`, `.*.*`, `\w+\s*\w+`).
 *
 * @example
 * const r = checkRegex('/users/[0-9]+')
 * if (r.ok) safeTest(r.regex, '/users/42') // true
 */
export function checkRegex(pattern: string): RegexCheck {
  if (typeof pattern !== 'string') return { ok: false, reason: 'the pattern is not a string' }
  if (pattern.length > MAX_REGEX_LENGTH) return { ok: false, reason: `the pattern is longer than ${MAX_REGEX_LENGTH} characters` }
  try {
    // Compiled alone first: only a balanced pattern may be wrapped, else `a)|(b` would escape the anchors.
    new RegExp(pattern, 'u')
  } catch (err) {
    return { ok: false, reason: `not a valid ECMAScript regular expression: ${(err as Error).message}` }
  }
  const unsafe = catastrophicShape(pattern)
  if (unsafe !== null) return { ok: false, reason: unsafe }
  return { ok: true, regex: new RegExp(`^(?:${pattern})$`, 'u') }
}

/**
 * Runs a regex from {@link checkRegex} against `input`, which never matches when longer than `maxLength`
 * (matching fails closed: a route or limit whose regex cannot be tried does not apply). O(maxLength) for the
 * patterns `checkRegex` accepts, up to the polynomial cases the input cap bounds.
 */
export function safeTest(regex: RegExp, input: string, maxLength: number = MAX_HEADER_VALUE_LENGTH): boolean {
  return input.length <= maxLength && regex.test(input)
}

// --- the structural check ------------------------------------------------------------------------------
// A linear scan over a pattern already known to compile with the `u` flag, so every `{` outside a class
// starts a quantifier and every group is balanced. One frame per open group records what it contains.

type Frame = {
  /** Index of the group's `(`. */
  open: number
  /** Index of the group's first character after its opener (`(`, `(?:`, `(?=`, `(?<name>`). */
  start: number
  /** Contains a quantifier with a variable count (`*`, `+`, `?`, `{1,3}`), at any depth. */
  variable: boolean
  /** Contains an alternation whose branches can match the same text, at any depth. */
  ambiguous: boolean
  /** Its direct content is plain characters and `|` only, so the branches can be compared as strings. */
  literal: boolean
  alternation: boolean
  /**
   * The unbounded atoms (`x*`, `[a-z]+`, `.{2,}`) of the current branch with only optional items since: the
   * next unbounded atom can start where any of them stops, so if their characters overlap the split between
   * them is ambiguous, and each such pair multiplies the backtracking by the input length.
   */
  unbounded: string[]
}

type Quantifier = { min: number; max: number; end: number }

const frame = (open: number, start: number): Frame => ({ open, start, variable: false, ambiguous: false, literal: true, alternation: false, unbounded: [] })

function catastrophicShape(p: string): string | null {
  const stack: Frame[] = [frame(-1, 0)]
  let i = 0
  while (i < p.length) {
    const top = stack[stack.length - 1]!
    const c = p[i]!
    if (c === '(') {
      top.literal = false
      if (p.startsWith('(?<=', i) || p.startsWith('(?<!', i)) return 'lookbehind is not allowed (it is not in RE2, and V8 may backtrack through it)'
      let start = i + 1
      if (p[i + 1] === '?') {
        const kind = p[i + 2]
        // `(?:`, `(?=`, `(?!`; `(?<name>`; and inline modifiers `(?i:` where the engine knows them.
        start = kind === '<' ? p.indexOf('>', i) + 1 : kind === ':' || kind === '=' || kind === '!' ? i + 3 : p.indexOf(':', i) + 1
      }
      stack.push(frame(i, start))
      i = start
      continue
    }
    if (c === ')') {
      const group = stack.pop()!
      const parent = stack[stack.length - 1]!
      if (group.alternation) group.ambiguous ||= !group.literal || !prefixFree(p.slice(group.start, i).split('|'))
      const q = quantifierAt(p, i + 1)
      // Repeating a group that can match the same text in more than one way is what makes backtracking
      // exponential: `(a+)+` on "aaaa…!" tries every way to split the a's. A group repeated at most once is safe.
      if (q !== null && q.max > 1 && (group.variable || group.ambiguous)) {
        const what = group.variable ? 'contains a quantifier' : 'contains alternatives that can match the same text'
        return `nested quantifier: the repeated group "${p.slice(group.open, q.end)}" ${what} (catastrophic backtracking); rewrite it without repeating a quantified group, e.g. with a character class`
      }
      parent.variable ||= group.variable || (q !== null && q.min !== q.max)
      parent.ambiguous ||= group.ambiguous
      // A group that must match something separates its neighbours; lookaheads and optional groups do not.
      const zeroWidth = p[group.open + 1] === '?' && (p[group.open + 2] === '=' || p[group.open + 2] === '!')
      if (!zeroWidth && (q === null || q.min > 0)) parent.unbounded = []
      i = q === null ? i + 1 : q.end
      continue
    }
    if (c === '|') {
      top.alternation = true
      top.unbounded = []
      i++
      continue
    }
    let end: number
    if (c === '\\') {
      top.literal = false
      const n = p[i + 1] ?? ''
      if (n >= '1' && n <= '9') return `backreference "\\${n}" is not allowed (it is not in RE2, and matching it can take exponential time)`
      if (n === 'k') return 'named backreference "\\k<…>" is not allowed (it is not in RE2, and matching it can take exponential time)'
      end = escapeEnd(p, i)
    } else if (c === '[') {
      top.literal = false
      end = classEnd(p, i)
    } else {
      if (c === '.' || c === '^' || c === '$') top.literal = false
      end = i + 1
    }
    const atom = p.slice(i, end)
    const q = quantifierAt(p, end)
    if (q === null) {
      if (!ZERO_WIDTH.has(atom)) top.unbounded = []
      i = end
      continue
    }
    top.literal = false
    top.variable ||= q.min !== q.max
    if (q.max === Infinity) {
      const before = top.unbounded.find((u) => overlaps(u, atom))
      if (before !== undefined) {
        return `adjacent unbounded quantifiers over the same characters: "${before}" then "${p.slice(i, q.end)}" (polynomial backtracking); merge them into one, e.g. "\\d+\\d+" into "\\d{2,}"`
      }
      if (q.min > 0) top.unbounded = [atom]
      else top.unbounded.push(atom)
    } else if (q.min > 0) top.unbounded = []
    i = q.end
  }
  return null
}

/** Assertions match no character, so they neither separate quantifiers nor take part. */
const ZERO_WIDTH = new Set(['^', '$', '\\b', '\\B'])

/** After `\` at `i`: the index past the escape, so that the braces of `\p{…}` and `\u{…}` are not read as a quantifier. */
function escapeEnd(p: string, i: number): number {
  const n = p[i + 1]
  if ((n === 'p' || n === 'P' || n === 'u') && p[i + 2] === '{') return p.indexOf('}', i) + 1
  if (n === 'u') return i + 6
  if (n === 'x') return i + 4
  if (n === 'c') return i + 3
  return i + 2
}

/**
 * Printable ASCII plus a few whitespace and non-ASCII characters: two single-character atoms overlap when one
 * of these matches both. An approximation: it misses only an overlap that no sampled character shows (two
 * classes sharing just characters of an unsampled script), and a regex that does not compile counts as overlap.
 */
const SAMPLE: readonly string[] = [
  ...Array.from({ length: 95 }, (_, k) => String.fromCharCode(32 + k)),
  '\t', '\n', '\r', '\u00e9', '\u00df', '\u0416', '\u4e2d', '\u{1F600}',
]

function overlaps(a: string, b: string): boolean {
  try {
    const ra = new RegExp(`^(?:${a})$`, 'u')
    const rb = new RegExp(`^(?:${b})$`, 'u')
    return SAMPLE.some((ch) => ra.test(ch) && rb.test(ch))
  } catch {
    return true
  }
}

/** After `[` at `i`: the index past its closing `]` (no nested classes without the `v` flag). */
function classEnd(p: string, i: number): number {
  let j = i + 1
  if (p[j] === '^') j++
  while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1
  return j + 1
}

function quantifierAt(p: string, i: number): Quantifier | null {
  const c = p[i]
  let q: Quantifier
  if (c === '*') q = { min: 0, max: Infinity, end: i + 1 }
  else if (c === '+') q = { min: 1, max: Infinity, end: i + 1 }
  else if (c === '?') q = { min: 0, max: 1, end: i + 1 }
  else if (c === '{') {
    const close = p.indexOf('}', i)
    const [lo, hi] = p.slice(i + 1, close).split(',') as [string, string | undefined]
    const min = Number(lo)
    q = { min, max: hi === undefined ? min : hi === '' ? Infinity : Number(hi), end: close + 1 }
  } else return null
  if (p[q.end] === '?') q.end++ // lazy: same count, other order
  return q
}

/**
 * Plain alternatives none of which is a prefix of another: at any position at most one can match, so a
 * repeated `(get|put|post)` is unambiguous. `(a|aa)` and `(a|)` are not.
 */
function prefixFree(branches: string[]): boolean {
  for (const a of branches) {
    if (a === '') return false
    for (const b of branches) if (a !== b && b.startsWith(a)) return false
  }
  return new Set(branches).size === branches.length
}
