/**
 * Saturation runs with wrk (closed loop: -t1 -c16 keeps 16 requests in flight). A generated Lua script sets
 * the method, body, headers and an absolute-form target for HTTP-proxy listeners, and prints wrk's own
 * latency histogram percentiles as JSON in done(), so nothing is parsed from its human-readable table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runToEnd } from './processes'

export type WrkOptions = {
  origin: string
  path: string
  method: 'GET' | 'POST'
  headers: Record<string, string>
  bodyBytes: number
  threads: number
  connections: number
  durationSeconds: number
}

export type WrkResult = {
  requests: number
  seconds: number
  rate: number
  errors: number
  non2xx: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
}

const luaString = (s: string) => JSON.stringify(s) // a JSON string of ASCII is a valid Lua string literal

function script(o: WrkOptions): string {
  const lines = [`wrk.method = ${luaString(o.method)}`, `wrk.path = ${luaString(o.path)}`]
  // wrk adds its own `Host` unless `wrk.headers["Host"]` is set (that exact spelling): a `host` would make two
  // Host fields, which the sidecar's listener (as RFC 9112 §3.2 asks) answers with 400.
  for (const [k, v] of Object.entries(o.headers)) lines.push(`wrk.headers[${luaString(k.toLowerCase() === 'host' ? 'Host' : k)}] = ${luaString(v)}`)
  if (o.bodyBytes > 0) {
    lines.push(`wrk.body = string.rep("q", ${o.bodyBytes})`, `wrk.headers["Content-Type"] = "application/octet-stream"`)
  }
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRK_JSON {"requests":%d,"us":%d,"errors":%d,"non2xx":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%f}\\n\',',
    '    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))',
    'end',
  )
  return `${lines.join('\n')}\n`
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-wrk-'))
  try {
    const file = join(dir, 'bench.lua')
    writeFileSync(file, script(o))
    const out = await runToEnd('wrk', [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationSeconds}s`, '-s', file, `${o.origin}/`])
    const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '))
    if (!line) throw new Error(`wrk printed no result:\n${out}`)
    const r = JSON.parse(line.slice('WRK_JSON '.length))
    const ms = (us: number) => us / 1000
    const seconds = r.us / 1e6
    return {
      requests: r.requests,
      seconds,
      rate: r.requests / seconds,
      errors: r.errors,
      non2xx: r.non2xx,
      latencyMs: { p50: ms(r.p50), p90: ms(r.p90), p99: ms(r.p99), p999: ms(r.p999), max: ms(r.max), mean: ms(r.mean) },
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
