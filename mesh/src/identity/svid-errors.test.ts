import { describe, expect, it } from 'vitest'
import { SVID_ERROR_CLASSES, SvidError, SvidMissingClaim } from './svid-errors'

describe('SvidError classes', () => {
  it('have distinct, stable ERR_SVID_* codes, on the class and the instance', () => {
    const codes = SVID_ERROR_CLASSES.map((cls) => cls.code)
    expect(new Set(codes).size).toBe(codes.length)
    for (const cls of SVID_ERROR_CLASSES) {
      expect(cls.code).toMatch(/^ERR_SVID_[A-Z_]+$/)
      const err = cls === SvidMissingClaim ? new SvidMissingClaim('exp') : new (cls as typeof SvidError)('x')
      expect(err).toBeInstanceOf(SvidError)
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe(cls.code)
      expect(err.name).toBe(cls.name)
    }
  })

  it('name the missing claim', () => {
    const err = new SvidMissingClaim('exp')
    expect(err.claim).toBe('exp')
    expect(err.message).toContain('"exp"')
  })

  it('chain causes', () => {
    const cause = new Error('root')
    expect(new SvidError('outer', { cause }).cause).toBe(cause)
  })
})
