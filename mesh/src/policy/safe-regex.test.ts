import { describe, expect, it } from 'vitest'
import { checkRegex, MAX_REGEX_LENGTH, safeTest } from './safe-regex'

describe('checkRegex', () => {
  it.each([
    ['/users/[0-9]+', '/users/42', '/users/42/x'],
    ['/api/v[12]/.*', '/api/v1/anything', '/api/v3/x'],
    ['[a-f0-9]{8}-[a-f0-9]{4}', 'deadbeef-cafe', 'deadbeef-caf'],
    ['(get|put|post)+', 'getput', 'getp'],
    ['(ab|cd)*', 'abcdab', 'abc'],
    ['(\\d{3}-)+\\d{4}', '555-123-4567', '555-12-4567'],
    ['(a+)?b', 'aaab', 'aaa'],
    ['(?:x-)?v\\d+', 'x-v2', 'y-v2'],
    ['(?<major>\\d+)\\.\\d+', '10.2', '10.'],
    ['\\p{L}+', 'héllo', 'h3llo'],
    ['a|b', 'b', 'ab'],
    ['foo(?=bar)bar', 'foobar', 'foo'],
    ['/users/[0-9]+/orders/[0-9]+', '/users/1/orders/2', '/users/1/orders/'],
    ['[a-z]+[0-9]+', 'abc123', '123abc'],
    ['.*\\.json', '/a/b.json', '/a/b.jsonx'],
    ['\\d+\\.\\d+', '1.25', '1.'],
    ['\\d+\\b\\.\\d*', '3.', '.3'],
    ['\\u0041+B+', 'AAB', 'AB!'],
  ])('accepts %s', (pattern, matching, other) => {
    const r = checkRegex(pattern)
    expect(r).toMatchObject({ ok: true })
    if (!r.ok) return
    expect(safeTest(r.regex, matching)).toBe(true)
    // Full match: the anchors are added, so a partial match is no match.
    expect(safeTest(r.regex, other)).toBe(false)
  })

  it.each([
    ['(a+)+', 'nested quantifier'],
    ['(a*)*', 'nested quantifier'],
    ['(a|aa)+', 'nested quantifier'],
    ['(a|a)*', 'nested quantifier'],
    ['(a|)+', 'nested quantifier'],
    ['(\\w+\\s?)*', 'nested quantifier'],
    ['(.*)*x', 'nested quantifier'],
    ['(?:a+){10}', 'nested quantifier'],
    ['((ab)*c)+', 'nested quantifier'],
    ['((a|ab)c)+', 'nested quantifier'],
    ['([a-z]+/)+', 'nested quantifier'],
    ['(a?a)+', 'nested quantifier'],
    ['a*a*a*b', 'adjacent unbounded quantifiers'],
    ['\\d+\\d+', 'adjacent unbounded quantifiers'],
    ['.*.*=.*', 'adjacent unbounded quantifiers'],
    ['\\w+\\s*\\w+', 'adjacent unbounded quantifiers'],
    ['[0-9]+-?\\d+', 'adjacent unbounded quantifiers'],
    ['x+(?:y)?x{2,}', 'adjacent unbounded quantifiers'],
    ['\\p{L}+[a-z]*', 'adjacent unbounded quantifiers'],
    ['(.)\\1', 'backreference'],
    ['(?<x>a)\\k<x>', 'backreference'],
    ['(?<=/api)/users', 'lookbehind'],
    ['(?<!x)y', 'lookbehind'],
    ['(', 'not a valid ECMAScript regular expression'],
    ['a{2,1}', 'not a valid ECMAScript regular expression'],
    ['\\z', 'not a valid ECMAScript regular expression'],
    ['a)|(b', 'not a valid ECMAScript regular expression'],
    ['(?i)abc', 'not a valid ECMAScript regular expression'],
    ['a'.repeat(MAX_REGEX_LENGTH + 1), 'longer than 256'],
  ])('refuses %s', (pattern, reason) => {
    const r = checkRegex(pattern)
    expect(r.ok).toBe(false)
    expect(!r.ok && r.reason).toContain(reason)
  })

  it('accepts a pattern of exactly the maximum length', () => {
    expect(checkRegex('a'.repeat(MAX_REGEX_LENGTH)).ok).toBe(true)
  })

  it('names the offending group', () => {
    const r = checkRegex('/x/(\\w+\\s?)*/y')
    expect(!r.ok && r.reason).toContain('"(\\w+\\s?)*"')
  })
})

describe('safeTest', () => {
  it('refuses input over the cap without running the regex', () => {
    const r = checkRegex('.*')
    if (!r.ok) throw new Error(r.reason)
    expect(safeTest(r.regex, 'x'.repeat(8192))).toBe(true)
    expect(safeTest(r.regex, 'x'.repeat(8193))).toBe(false)
    expect(safeTest(r.regex, 'xyz', 2)).toBe(false)
  })
})
