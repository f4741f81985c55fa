import { describe, expect, it } from 'vitest'
import { normalizePath } from './normalize-path'

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/admin', '/admin'],
    ['/admin/', '/admin/'],
    ['//admin', '/admin'],
    ['///admin//x', '/admin/x'],
    ['/%61dmin', '/admin'],
    ['/%41%44MIN', '/ADMIN'],
    ['/a%2d%2E%5f%7E', '/a-._~'],
    ['/./admin', '/admin'],
    ['/x/../admin', '/admin'],
    ['/x/%2e%2e/admin', '/admin'],
    ['/x/.%2E/admin', '/admin'],
    ['/../../admin', '/admin'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/..', '/'],
    ['/a//../b', '/b'],
    ['/%e2%82%ac', '/%E2%82%AC'],
    ['/100%25', '/100%25'],
    ['/%2561dmin', '/%2561dmin'],
    ['/a.b/c..d/.e', '/a.b/c..d/.e'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizePath(raw)).toEqual({ ok: true, path: expected })
  })

  it.each([
    ['/admin%2Fsecret', 'encoded'],
    ['/admin%2fsecret', 'encoded'],
    ['/admin%5Csecret', 'encoded'],
    ['/%zz', 'malformed'],
    ['/%4', 'malformed'],
    ['/%', 'malformed'],
    ['admin', 'start with'],
    ['*', 'start with'],
  ])('refuses %s', (raw, why) => {
    const r = normalizePath(raw)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toContain(why)
  })

  it('returns an already-normal path as the same string', () => {
    const p = '/api/v1/charges/ch_123'
    const r = normalizePath(p)
    expect(r.ok && r.path).toBe(p)
  })

  it('is idempotent', () => {
    for (const raw of ['//a/./b/../%63', '/x/%2e%2e/y//z/.', '/%e2%82%ac/..']) {
      const once = normalizePath(raw)
      if (!once.ok) throw new Error(raw)
      expect(normalizePath(once.path)).toEqual(once)
    }
  })
})
