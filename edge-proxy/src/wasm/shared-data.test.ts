// Shared data is bounded: past its limits the entries used longest ago go first, and CAS still protects
// a writer whose entry was dropped under it.
import { describe, expect, it } from 'vitest'
import { Status } from './abi'
import { SharedData } from './shared-data'

const bytes = (n: number) => new Uint8Array(n)

describe('SharedData limits', () => {
  it('drops the least recently used entries past maxEntries; a read or a write moves a key to the back', () => {
    const d = new SharedData({ maxEntries: 3, maxBytes: 1 << 20 })
    for (const k of ['a', 'b', 'c']) expect(d.set(k, bytes(1), 0)).toBe(Status.OK)
    expect(d.set('a', bytes(1), d.get('a')!.cas)).toBe(Status.OK) // a is now the newest
    expect(d.set('d', bytes(1), 0)).toBe(Status.OK)
    expect([d.get('a'), d.get('b'), d.get('c'), d.get('d')].map((e) => e !== undefined)).toEqual([true, false, true, true])
    expect([d.size, d.evictions]).toEqual([3, 1])
    d.get('a') // read: a is the newest again, c the oldest
    d.set('e', bytes(1), 0)
    expect([d.get('a'), d.get('c')].map((e) => e !== undefined)).toEqual([true, false])
  })

  it('keeps keys and values within maxBytes, and an update re-counts its entry', () => {
    const d = new SharedData({ maxEntries: 100, maxBytes: 30 })
    d.set('k1', bytes(8), 0)
    d.set('k2', bytes(8), 0)
    expect(d.bytes).toBe(20)
    d.set('k2', bytes(4), 0)
    expect(d.bytes).toBe(16)
    d.set('k3', bytes(18), 0) // 16 + 20 > 30: k1 goes (used longest ago), then it fits
    expect([d.get('k1'), d.get('k2')].map((e) => e !== undefined)).toEqual([false, true])
    expect([d.bytes, d.evictions]).toEqual([26, 1])
  })

  it('a CAS write against a dropped entry fails, so the writer re-reads', () => {
    const d = new SharedData({ maxEntries: 1, maxBytes: 1 << 20 })
    d.set('bucket', bytes(16), 0)
    const read = d.get('bucket')!
    d.set('other', bytes(16), 0)
    expect(d.get('bucket')).toBeUndefined()
    expect(d.set('bucket', bytes(16), read.cas)).toBe(Status.CAS_MISMATCH)
  })
})
