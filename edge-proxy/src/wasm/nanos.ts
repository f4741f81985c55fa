// The last conversion: filters read the clock several times per request, nearly always within one millisecond
// (Date.now() is whole ms), and BigInt arithmetic allocates.
let lastMs = Number.NaN
let lastNanos = 0n

/**
 * Milliseconds (possibly fractional) to integer nanoseconds. `ms * 1e6` as a double loses the last digits of
 * today's epoch nanoseconds (2^53 ≈ 9e15 < 1.7e18), so the whole milliseconds are scaled as a BigInt.
 */
export function msToNanos(ms: number): bigint {
  if (ms === lastMs) return lastNanos
  const whole = Math.floor(ms)
  const nanos = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))
  lastMs = ms
  lastNanos = nanos
  return nanos
}
