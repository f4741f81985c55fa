/**
 * JWT-SVID costs, side by side, as ratios to the floor they cannot beat: one raw WebCrypto ES256 verify.
 * Not a test and asserts nothing (timings vary by machine); run with `npx tsx bench/identity.bench.ts`.
 *
 * Each benchmark awaits one operation at a time, so ops/s is per-core latency-bound throughput, the way a
 * proxy meets one request's token. Rounds are interleaved (A B C D, A B C D, …) and the median is reported,
 * so a burst of background load skews all four alike instead of one.
 */
import { calculateJwkThumbprint, exportJWK } from 'jose'
import { createSvidVerifier, JwksCache, signSvid, spiffeIdOf, type SignSvidOptions } from '../mesh/src/identity'

const ROUND_MS = 1000
const ROUNDS = 3
const WARMUP_MS = 300

type Bench = { name: string; op: () => Promise<unknown> }

async function opsPerSecond(op: () => Promise<unknown>, ms: number): Promise<number> {
  let n = 0
  const start = performance.now()
  const end = start + ms
  // Check the clock every 64 ops: performance.now() is cheap but not free next to a Map lookup.
  while (true) {
    for (let i = 0; i < 64; i++) await op()
    n += 64
    const t = performance.now()
    if (t >= end) return (n * 1000) / (t - start)
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main() {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = await exportJWK(pair.publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  const issuer = 'https://weft.bench'
  const audience = spiffeIdOf('acme.weft', 'shipping')
  const signOptions: SignSvidOptions = { privateKey: pair.privateKey, kid, alg: 'ES256', issuer, subject: spiffeIdOf('acme.weft', 'orders'), audience, ttlSeconds: 900 }
  const token = await signSvid(signOptions)

  const [h, p, s] = token.split('.') as [string, string, string]
  const signingInput = new TextEncoder().encode(`${h}.${p}`)
  const signature = Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
  const ecdsa = { name: 'ECDSA', hash: 'SHA-256' }

  const jwks = new JwksCache({ jwks: { keys: [{ ...jwk, kid, alg: 'ES256' }] } })
  const base = { trustDomain: 'acme.weft', issuer, audience, jwks }
  // cacheSize 0: every call decodes, checks claims, looks the key up and runs WebCrypto, as for a new token.
  const uncached = createSvidVerifier({ ...base, cacheSize: 0 })
  const cached = createSvidVerifier(base)
  await cached.verify(token)
  if (!(await crypto.subtle.verify(ecdsa, pair.publicKey, signature, signingInput))) throw new Error('raw verify failed: bench is broken')

  const benches: Bench[] = [
    { name: 'WebCrypto ES256 verify (raw)', op: () => crypto.subtle.verify(ecdsa, pair.publicKey, signature, signingInput) },
    { name: 'signSvid (ES256)', op: () => signSvid(signOptions) },
    { name: 'verify, uncached (cacheSize 0)', op: () => uncached.verify(token) },
    { name: 'verify, cached (LRU hit)', op: () => cached.verify(token) },
  ]

  for (const b of benches) await opsPerSecond(b.op, WARMUP_MS)
  const samples = benches.map(() => [] as number[])
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, b] of benches.entries()) samples[i]!.push(await opsPerSecond(b.op, ROUND_MS))
  }
  const results = benches.map((b, i) => ({ name: b.name, ops: median(samples[i]!) }))
  const raw = results[0]!.ops

  const stats = cached.stats()
  if (uncached.stats().hits !== 0 || stats.signatureChecks !== 1) throw new Error(`cache did not behave: ${JSON.stringify({ uncached: uncached.stats(), cached: stats })}`)

  const width = Math.max(...results.map((r) => r.name.length))
  console.log(`JWT-SVID benchmark — Node ${process.version}, ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, median, one op in flight`)
  console.log(`${'benchmark'.padEnd(width)}  ${'ops/s'.padStart(12)}  ${'× raw verify'.padStart(12)}  ${'µs/op'.padStart(8)}`)
  for (const r of results) {
    console.log(`${r.name.padEnd(width)}  ${Math.round(r.ops).toLocaleString('en-US').padStart(12)}  ${(r.ops / raw).toFixed(2).padStart(12)}  ${(1e6 / r.ops).toFixed(2).padStart(8)}`)
  }
}

await main()
