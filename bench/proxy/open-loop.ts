/**
 * The fixed-rate (open-loop) load generator: wrk only saturates, so this sends requests on a precise
 * schedule (request i at t0 + i/rate) whether or not earlier ones have come back, over an undici keep-alive
 * pool. Latency is measured from the *scheduled* send time to the last byte of the body, so a stall in the
 * proxy delays every request queued behind it and shows in the percentiles (no coordinated omission).
 * Runs as its own process, so its event loop competes with nobody's in the measured processes:
 *   open-loop.ts '<json OpenLoopConfig>'  →  one line of JSON OpenLoopResult on stdout.
 */
import { pathToFileURL } from 'node:url'
import { Pool } from 'undici'
import { runToEnd, tsNode } from './processes'

export type OpenLoopConfig = {
  /** Origin of the first hop, e.g. http://127.0.0.1:15001. */
  origin: string
  /** Request target: `/bench`, or absolute-form `http://app/bench` through an HTTP proxy. */
  path: string
  method: 'GET' | 'POST'
  headers: Record<string, string>
  bodyBytes: number
  rate: number
  durationMs: number
  /** Requests sent before the clock starts (connections opened, JIT warm): not recorded. */
  warmupRequests: number
  connections: number
}

export type OpenLoopResult = {
  sent: number
  completed: number
  /** Still unanswered DRAIN_MS after the last scheduled send: the proxy could not keep up with the rate. */
  unfinished: number
  errors: number
  non2xx: number
  /** Achieved completion rate over the run. */
  rate: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
  /** How late the generator itself sent (event-loop jitter of this process), for judging its precision. */
  sendLagMs: { p50: number; p99: number; max: number }
}

/** How long to wait for the last answers once the schedule is done; later ones count as unfinished (latency ∞). */
const DRAIN_MS = 5_000

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

async function run(config: OpenLoopConfig): Promise<OpenLoopResult> {
  const pool = new Pool(config.origin, { connections: config.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  const body = config.bodyBytes > 0 ? Buffer.alloc(config.bodyBytes, 'q') : undefined
  const headers = { ...config.headers, ...(body ? { 'content-type': 'application/octet-stream' } : {}) }
  const one = async () => {
    const res = await pool.request({ origin: config.origin, path: config.path, method: config.method, headers, body })
    for await (const _ of res.body) {
      // drain: latency ends at the body's last byte
    }
    return res.statusCode
  }
  for (let i = 0; i < config.warmupRequests; i++) await one()

  const total = Math.round((config.rate * config.durationMs) / 1000)
  const interval = 1000 / config.rate
  const latency = new Float64Array(total)
  const lag = new Float64Array(total)
  let completed = 0
  let errors = 0
  let non2xx = 0
  let sent = 0
  let lastDone = 0
  const t0 = performance.now() + 5
  let allDone!: () => void
  const finished = new Promise<void>((r) => (allDone = r))

  const fire = (i: number, scheduled: number) => {
    lag[i] = performance.now() - scheduled
    one().then(
      (status) => {
        const end = performance.now()
        latency[completed++] = end - scheduled
        lastDone = end
        if (status < 200 || status >= 300) non2xx++
        if (completed + errors === total) allDone()
      },
      () => {
        errors++
        if (completed + errors === total) allDone()
      },
    )
  }
  // Timers are good to ~1 ms; closer to the next send the loop yields with setImmediate so I/O still runs.
  const tick = () => {
    const now = performance.now()
    while (sent < total && t0 + sent * interval <= now) {
      fire(sent, t0 + sent * interval)
      sent++
    }
    if (sent >= total) return
    const wait = t0 + sent * interval - performance.now()
    if (wait > 2) setTimeout(tick, wait - 1.5)
    else setImmediate(tick)
  }
  tick()
  let drainTimer: ReturnType<typeof setTimeout> | undefined
  const drained = await Promise.race([
    finished.then(() => true),
    new Promise<false>((r) => (drainTimer = setTimeout(() => r(false), config.durationMs + 5 + DRAIN_MS))),
  ])
  clearTimeout(drainTimer)
  const unfinished = total - completed - errors
  const recorded = completed
  const failed = errors
  if (drained) await pool.close()
  else await pool.destroy()

  // Unanswered requests are the slowest of all: they sort last as +Infinity, so a p99 they reach reads ∞.
  const done = new Float64Array(recorded + unfinished).fill(Infinity)
  done.set(latency.subarray(0, recorded))
  done.sort()
  const lags = lag.sort()
  let sum = 0
  for (const x of done.subarray(0, recorded)) sum += x
  return {
    sent,
    completed: recorded,
    unfinished,
    errors: failed,
    non2xx,
    rate: recorded / ((Math.max(lastDone, t0 + config.durationMs) - t0) / 1000),
    latencyMs: { p50: percentile(done, 50), p90: percentile(done, 90), p99: percentile(done, 99), p999: percentile(done, 99.9), max: done[done.length - 1] ?? NaN, mean: sum / recorded },
    sendLagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags[lags.length - 1] ?? NaN },
  }
}

/** JSON has no Infinity: it travels as the string "Infinity" (unanswered requests' latency). */
export const infinityOut = (_: string, v: unknown) => (v === Infinity ? 'Infinity' : v)
export const infinityIn = (_: string, v: unknown) => (v === 'Infinity' ? Infinity : v)

/** Runs the generator as its own process (its event loop competes with nobody's) and returns its result. */
export async function runOpenLoop(config: OpenLoopConfig): Promise<OpenLoopResult> {
  const { command, args } = tsNode(new URL(import.meta.url), [JSON.stringify(config)])
  return JSON.parse(await runToEnd(command, args), infinityIn) as OpenLoopResult
}

// Run as a process (not when the benchmark imports the types and helpers above).
const [, entry, config] = process.argv
if (entry !== undefined && config !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const result = await run(JSON.parse(config) as OpenLoopConfig)
  process.stdout.write(`${JSON.stringify(result, infinityOut)}\n`)
}
