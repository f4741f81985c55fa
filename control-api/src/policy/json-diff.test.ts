import { describe, expect, it } from 'vitest'
import { jsonDiff } from './json-diff'

describe('jsonDiff (RFC 6902)', () => {
  it.each([
    [{ a: 1 }, { a: 1 }, []],
    [{ a: 1 }, { a: 2 }, [{ op: 'replace', path: '/a', value: 2 }]],
    [{ a: 1 }, {}, [{ op: 'remove', path: '/a' }]],
    [{}, { 'x/y': 1 }, [{ op: 'add', path: '/x~1y', value: 1 }]],
    [{ l: [1, 2, 3] }, { l: [1, 5] }, [{ op: 'replace', path: '/l/1', value: 5 }, { op: 'remove', path: '/l/2' }]],
    [{ l: [1] }, { l: [1, { w: 10 }] }, [{ op: 'add', path: '/l/1', value: { w: 10 } }]],
    [{ d: { w: 90 } }, { d: { w: 50 } }, [{ op: 'replace', path: '/d/w', value: 50 }]],
    [null, { a: 1 }, [{ op: 'replace', path: '', value: { a: 1 } }]],
  ])('%j → %j', (a, b, ops) => {
    expect(jsonDiff(a, b)).toEqual(ops)
  })
})
