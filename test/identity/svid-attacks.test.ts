import { beforeAll, describe, expect, it } from 'vitest'
import { SVID_ERROR_CLASSES } from '../../mesh/src/identity'
import { createSvidFixture, outcomeOf, SVID_CASES, type SvidFixture } from './svid-attack-cases'

describe('JWT-SVID verification in Node (RFC 8725 attack classes)', () => {
  let f: SvidFixture
  beforeAll(async () => {
    f = await createSvidFixture()
  })

  it.each(SVID_CASES)('$name → $expect', async (c) => {
    expect(await outcomeOf(c, f)).toBe(c.expect)
  })

  it('names every case once, and pins every rejection code to at least one case', () => {
    expect(new Set(SVID_CASES.map((c) => c.name)).size).toBe(SVID_CASES.length)
    const pinned = new Set(SVID_CASES.map((c) => c.expect))
    expect(SVID_ERROR_CLASSES.map((cls) => cls.code).filter((code) => !pinned.has(code))).toEqual([])
  })
})
