/**
 * The proxies' side of the distribution benchmark, on its own thread: many real HTTP long polls of
 * GET /v1/proxy/config, and the policy write that should wake them. The control API runs on the main
 * thread; keeping the clients off it means the time a client spends receiving 1000 answers is not charged
 * to the server's event loop (as it would not be in a real mesh), and the write's start and every receipt
 * are read from one clock.
 *
 * Started by distribution.bench.ts through `startWatchers()`; speaks the messages typed below.
 */
import { parentPort } from 'node:worker_threads'

export type Watcher = { token: string; service: string }

export type ToWatchers =
  /** Start one long poll per watcher (GETting a first snapshot for those that hold none); answer `armed`. */
  | { type: 'arm'; base: string; watchers: Watcher[]; waitSeconds: number }
  /** Send the write; answer `round` once every armed poll has answered. */
  | { type: 'write'; url: string; method: string; key: string; body: unknown }

export type RoundResult = {
  /** From just before the write is sent to its answer. */
  writeMs: number
  /** The revision the write produced (its Weft-Revision header). */
  revision: number
  /** Per watcher: from just before the write is sent to its 200 fully read; null when it did not see the write. */
  latencies: (number | null)[]
  /** Why watchers counted as null did: status codes, stale revisions, early answers, errors. */
  failures: string[]
  /** Polls that failed at the connection level and were sent again, as a proxy would (their time counts). */
  retries: number
}

export type FromWatchers = { type: 'armed' } | { type: 'round'; result: RoundResult } | { type: 'error'; message: string }

type Outcome = { at: number; status: number; revision: number; etag: string | null; error?: string; retries?: number }

// A proxy whose poll fails at the connection level polls again; a few times is plenty on loopback.
const MAX_RETRIES = 3
let retryReported = false

// A proxy holds the ETag of the snapshot it runs; answers are content-hashed, so one per token is exact.
const etags = new Map<string, string>()
let pending: { watchers: Watcher[]; outcomes: Promise<Outcome>[] } | null = null
let writeStartedAt = Infinity

// NOTE: Node's fetch is undici; its global agent keeps connections alive and does not cap them per
// origin, so 1000 concurrent polls get 1000 sockets, reused from one round to the next.
async function poll(base: string, w: Watcher, waitSeconds: number | null): Promise<Outcome> {
  const query = `service=${encodeURIComponent(w.service)}${waitSeconds === null ? '' : `&wait=${waitSeconds}`}`
  const headers: Record<string, string> = { authorization: `Bearer ${w.token}` }
  const etag = etags.get(w.token)
  if (waitSeconds !== null && etag) headers['if-none-match'] = etag
  try {
    const res = await fetch(`${base}/v1/proxy/config?${query}`, { headers })
    // The proxy needs the whole snapshot before it can apply it: read the body before taking the time.
    const body = await res.arrayBuffer()
    const at = performance.now()
    const error = res.status >= 400 ? new TextDecoder().decode(body).slice(0, 300) : undefined
    return { at, status: res.status, revision: Number(res.headers.get('weft-revision')), etag: res.headers.get('etag'), error }
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    return { at: performance.now(), status: 0, revision: 0, etag: null, error: `${String(err)}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}` }
  }
}

/** A poll that is sent again when it fails at the connection level, as a proxy would. */
async function pollRetrying(base: string, w: Watcher, waitSeconds: number | null): Promise<Outcome> {
  for (let retries = 0; ; retries++) {
    const o = await poll(base, w, waitSeconds)
    if (o.status !== 0 || retries === MAX_RETRIES) return { ...o, retries }
    // NOTE: undici reuses idle keep-alive sockets, and the server may close one just as a request goes out on it.
    if (!retryReported) console.error(`a poll of ${w.service} failed and is retried (reported once): ${o.error}`)
    retryReported = true
  }
}

/**
 * A long poll as a proxy runs it. Before the write, a 200 is a snapshot written while this watcher was not
 * watching (an earlier round had fewer watchers) and a 304 a poll that ran out its wait: both poll again.
 * Whatever answers after the write has started is the measurement.
 */
async function watch(base: string, w: Watcher, waitSeconds: number): Promise<Outcome> {
  let retries = 0
  for (;;) {
    const o = await pollRetrying(base, w, waitSeconds)
    retries += o.retries ?? 0
    if (o.at >= writeStartedAt) return { ...o, retries }
    if (o.status === 200 && o.etag) etags.set(w.token, o.etag)
    else if (o.status !== 304) {
      // Say so at once: the main thread waits for every watcher to park and would only see a timeout.
      console.error(`watcher of ${w.service} answered ${o.status} while arming: ${o.error ?? ''}`)
      return { ...o, retries }
    }
  }
}

async function prime(base: string, watchers: Watcher[]): Promise<void> {
  const missing = watchers.filter((w) => !etags.has(w.token))
  // A modest number in flight: priming is setup, not measured.
  for (let i = 0; i < missing.length; i += 50) {
    const batch = missing.slice(i, i + 50)
    const got = await Promise.all(batch.map((w) => pollRetrying(base, w, null)))
    for (const [j, o] of got.entries()) {
      if (o.status !== 200 || !o.etag) throw new Error(`priming ${batch[j]!.service} failed: ${o.status} ${o.error ?? ''}`)
      etags.set(batch[j]!.token, o.etag)
    }
  }
}

async function arm(msg: Extract<ToWatchers, { type: 'arm' }>): Promise<FromWatchers> {
  if (pending) throw new Error('armed twice without a write')
  await prime(msg.base, msg.watchers)
  writeStartedAt = Infinity
  pending = { watchers: msg.watchers, outcomes: msg.watchers.map((w) => watch(msg.base, w, msg.waitSeconds)) }
  return { type: 'armed' }
}

async function write(msg: Extract<ToWatchers, { type: 'write' }>): Promise<FromWatchers> {
  if (!pending) throw new Error('write without armed watchers')
  const { watchers, outcomes } = pending
  pending = null
  const t0 = (writeStartedAt = performance.now())
  const res = await fetch(msg.url, {
    method: msg.method,
    headers: { authorization: `Bearer ${msg.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(msg.body),
  })
  const writeMs = performance.now() - t0
  const text = await res.text()
  if (res.status >= 300) throw new Error(`the write failed: ${res.status} ${text}`)
  const revision = Number(res.headers.get('weft-revision'))
  const failures: string[] = []
  const got = await Promise.all(outcomes)
  const latencies = got.map((o, i) => {
    const w = watchers[i]!
    if (o.status === 200 && o.etag) etags.set(w.token, o.etag)
    if (o.at < t0) failures.push(`${w.service}: answered ${o.status} before the write`)
    else if (o.status !== 200) failures.push(`${w.service}: ${o.status}${o.error ? ` ${o.error}` : ''}`)
    else if (o.revision < revision) failures.push(`${w.service}: woke with revision ${o.revision}, the write made ${revision}`)
    else return o.at - t0
    return null
  })
  const retries = got.reduce((n, o) => n + (o.retries ?? 0), 0)
  return { type: 'round', result: { writeMs, revision, latencies, failures, retries } }
}

parentPort!.on('message', (msg: ToWatchers) => {
  const run = msg.type === 'arm' ? arm(msg) : write(msg)
  run.then(
    (reply) => parentPort!.postMessage(reply),
    (err) => parentPort!.postMessage({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies FromWatchers),
  )
})
