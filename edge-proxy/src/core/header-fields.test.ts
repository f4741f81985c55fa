// HeaderFields against Fetch's Headers: the same operations on both must give the same answers and the same
// refusals, and the lines must still be in the order they came.
import { describe, expect, it } from 'vitest'
import { HeaderFields } from './header-fields'

type Op = { op: 'append' | 'set' | 'delete' | 'get' | 'has'; name: string; value: string }

const NAMES = ['a', 'B', 'content-type', 'Set-Cookie', 'x-Weft', 'bad name', 'é', '', 'accept']
const VALUES = ['1', ' padded\t', 'two, parts', 'line\nbreak', 'nul\0', 'wide ☃', 'latin é', '', 'x'.repeat(900), '\r\nlead']

/** A small deterministic generator (mulberry32): the same sequence on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function run(target: Headers, op: Op): unknown {
  try {
    switch (op.op) {
      case 'append':
        return target.append(op.name, op.value)
      case 'set':
        return target.set(op.name, op.value)
      case 'delete':
        return target.delete(op.name)
      case 'get':
        return target.get(op.name)
      case 'has':
        return target.has(op.name)
    }
  } catch (err) {
    return err instanceof TypeError ? 'TypeError' : err
  }
}

describe('HeaderFields', () => {
  it('answers as a Fetch Headers does over random operations, refusals included', () => {
    const random = rng(7)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
    for (let round = 0; round < 300; round++) {
      const fetchHeaders = new Headers()
      const fields = HeaderFields.of()
      for (let i = 0; i < 12; i++) {
        const op: Op = { op: pick(['append', 'append', 'set', 'delete', 'get', 'has'] as const), name: pick(NAMES), value: pick(VALUES) }
        expect(run(fields, op), JSON.stringify(op)).toEqual(run(fetchHeaders, op))
      }
      expect([...fields]).toEqual([...fetchHeaders])
      expect([...fields.keys()]).toEqual([...fetchHeaders.keys()])
      expect([...fields.values()]).toEqual([...fetchHeaders.values()])
      expect(fields.getSetCookie()).toEqual(fetchHeaders.getSetCookie())
      const seen: [string, string][] = []
      fields.forEach((value, name, parent) => {
        expect(parent).toBe(fields)
        seen.push([name, value])
      })
      expect(seen).toEqual([...fetchHeaders.entries()])
      expect([...fields.toHeaders()]).toEqual([...fetchHeaders])
      // Fetch's constructors take it as a sequence of pairs, as they take a Headers' entries (which trims a value
      // that a combined empty repeat left ending in ", ").
      expect([...new Headers(fields)]).toEqual([...new Headers([...fetchHeaders])])
    }
  })

  it('keeps parsed lines in order, repeats apart, names lower-cased, and copies without the dropped ones', () => {
    const fields = HeaderFields.fromParsedLines(['Host', 'a', 'X-B', '1', 'Accept', 'text/html', 'x-b', '2', 'Set-Cookie', 'c=1', 'set-cookie', 'd=2'])
    const lines: string[] = []
    fields.forEachLine((name, value) => lines.push(`${name}: ${value}`))
    expect(lines).toEqual(['host: a', 'x-b: 1', 'accept: text/html', 'x-b: 2', 'set-cookie: c=1', 'set-cookie: d=2'])
    expect(fields.get('x-b')).toBe('1, 2')
    expect([...fields]).toEqual([
      ['accept', 'text/html'],
      ['host', 'a'],
      ['set-cookie', 'c=1'],
      ['set-cookie', 'd=2'],
      ['x-b', '1, 2'],
    ])
    const record: Record<string, string> = Object.create(null)
    fields.combinedInto(record)
    expect({ ...record }).toEqual({ host: 'a', 'x-b': '1, 2', accept: 'text/html', 'set-cookie': 'c=1, d=2' })

    const copy = fields.filtered((name) => name !== 'host')
    copy.set('x-b', '3')
    const copied: string[] = []
    copy.forEachLine((name, value) => copied.push(`${name}: ${value}`))
    // set() replaces the first line in place and drops the later repeats.
    expect(copied).toEqual(['x-b: 3', 'accept: text/html', 'set-cookie: c=1', 'set-cookie: d=2'])
    expect(fields.get('x-b')).toBe('1, 2')
    expect(fields.get('host')).toBe('a')
  })
})
