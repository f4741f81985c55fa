import { describe, expect, it } from 'vitest'
import { canonicalJson } from './canonical-json'

describe('canonicalJson', () => {
  it.each([
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
    [{ a: { d: [3, { z: 1, y: 2 }], c: null } }, '{"a":{"c":null,"d":[3,{"y":2,"z":1}]}}'],
    [{ a: undefined, b: 'x' }, '{"b":"x"}'],
    [[undefined, 1], '[null,1]'],
    ['ü"\n', JSON.stringify('ü"\n')],
  ])('%j → %s', (input, out) => {
    expect(canonicalJson(input)).toBe(out)
    expect(JSON.parse(canonicalJson(input))).toEqual(JSON.parse(JSON.stringify(input)))
  })
  it('is independent of insertion order', () => {
    expect(canonicalJson({ x: 1, y: { p: 1, q: 2 } })).toBe(canonicalJson({ y: { q: 2, p: 1 }, x: 1 }))
  })
  it('refuses NaN and Infinity', () => {
    expect(() => canonicalJson({ a: NaN })).toThrow(TypeError)
  })
})
