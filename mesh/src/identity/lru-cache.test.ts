import { describe, expect, it } from 'vitest'
import { LruCache } from './lru-cache'

describe('LruCache', () => {
  it('evicts the least recently used entry beyond maxSize', () => {
    const c = new LruCache<string, number>(2)
    c.set('a', 1).set('b', 2)
    expect(c.get('a')).toBe(1) // a is now the most recent
    c.set('c', 3)
    expect(c.peek('b')).toBeUndefined()
    expect(c.peek('a')).toBe(1)
    expect(c.peek('c')).toBe(3)
    expect(c.size).toBe(2)
  })

  it('keeps the order right when the most recent key is read again, after deletes and clears too', () => {
    const c = new LruCache<string, number>(3)
    c.set('a', 1).set('b', 2).set('c', 3)
    c.get('a')
    c.get('a')
    expect([...c.entries()].map(([k]) => k)).toEqual(['b', 'c', 'a'])
    // The most recent key deleted and set again: read afterwards, the others keep their order.
    c.delete('a')
    c.set('d', 4)
    c.get('b')
    expect([...c.entries()].map(([k]) => k)).toEqual(['c', 'd', 'b'])
    c.clear()
    c.set('x', 1).set('y', 2)
    c.get('x')
    c.get('y')
    expect([...c.entries()].map(([k]) => k)).toEqual(['x', 'y'])
  })

  it('peek does not refresh recency', () => {
    const c = new LruCache<string, number>(2)
    c.set('a', 1).set('b', 2)
    c.peek('a')
    c.set('c', 3)
    expect(c.peek('a')).toBeUndefined()
  })

  it('overwriting a key refreshes it without growing', () => {
    const c = new LruCache<string, number>(2)
    c.set('a', 1).set('b', 2).set('a', 10).set('c', 3)
    expect(c.peek('a')).toBe(10)
    expect(c.peek('b')).toBeUndefined()
    expect(c.size).toBe(2)
  })

  it('size 0 stores nothing', () => {
    const c = new LruCache<string, number>(0)
    c.set('a', 1)
    expect(c.get('a')).toBeUndefined()
    expect(c.size).toBe(0)
  })

  it('entries() lists least recently used first without touching recency', () => {
    const c = new LruCache<string, number>(3)
    c.set('a', 1).set('b', 2).set('c', 3)
    c.get('a')
    expect([...c.entries()]).toEqual([['b', 2], ['c', 3], ['a', 1]])
    expect([...c.entries()]).toEqual([['b', 2], ['c', 3], ['a', 1]])
  })

  it('delete and clear', () => {
    const c = new LruCache<string, number>(3)
    c.set('a', 1).set('b', 2)
    expect(c.delete('a')).toBe(true)
    expect(c.delete('a')).toBe(false)
    c.clear()
    expect(c.size).toBe(0)
  })

  it.each([-1, 1.5, Number.NaN])('rejects maxSize %s', (n) => {
    expect(() => new LruCache(n)).toThrow(RangeError)
  })
})
