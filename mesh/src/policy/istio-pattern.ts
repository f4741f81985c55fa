/**
 * Istio's string match for AuthorizationPolicy principals, paths and header values (and FaultPolicy
 * sources): exact, "prefix*", "*suffix", or "*" for any value. A "*" anywhere else is a literal character,
 * as in Istio. Each test is O(pattern length) and allocates nothing.
 */
export function compileIstioPattern(pattern: string): (value: string) => boolean {
  if (pattern === '*') return () => true
  if (pattern.length > 1 && pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1)
    return (value) => value.startsWith(prefix)
  }
  if (pattern.length > 1 && pattern.startsWith('*')) {
    const suffix = pattern.slice(1)
    return (value) => value.endsWith(suffix)
  }
  return (value) => value === pattern
}

/** An OR-list of patterns as one predicate; `value` null (no principal) matches none of them. */
export function compileIstioPatterns(patterns: readonly string[]): (value: string | null) => boolean {
  const tests = patterns.map(compileIstioPattern)
  return (value) => {
    if (value === null) return false
    for (const test of tests) if (test(value)) return true
    return false
  }
}
