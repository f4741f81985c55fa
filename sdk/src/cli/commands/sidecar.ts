import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import type { Context } from '../context.js'
import type { Io } from '../output.js'
import { CliFailure, EXIT, UsageError } from '../exit.js'
import { intOf, labelsOf } from '../flag-values.js'

// The ports DESIGN.md fixes for the Node sidecar (Istio's numbers, so operators recognise them).
export const DEFAULT_INBOUND_PORT = 15006
export const DEFAULT_OUTBOUND_PORT = 15001
export const DEFAULT_ADMIN_PORT = 15000

/** What `runSidecar` from edge-proxy/src/runtime/node.ts is called with. */
export type SidecarOptions = {
  controlUrl: string
  joinToken: string
  service: string
  appPort: number
  labels: Record<string, string>
  inboundPort: number
  outboundPort: number
  adminPort: number
  stateDir?: string
  zone?: string
  /** Listener hardening limits; each one left out keeps the runtime's default (Envoy's edge guide). */
  limits?: ListenerLimitFlags
  upstreamIdleTimeoutMs?: number
  adminHost?: string
  allowRemoteAdmin?: boolean
  /**
   * Which requests get a JSON access line on stdout: `all`, `errors` (the runtime's default: responses the proxy
   * made itself and upstream 5xx) or `off`.
   */
  accessLog?: AccessLogSetting
}

/**
 * `--access-log` / `WEFT_ACCESS_LOG` (edge-proxy/src/core/tracing.ts ACCESS_LOG_SETTINGS, which the runtime checks
 * again: spelt out here because the CLI loads the runtime only when it runs one).
 */
export const ACCESS_LOG_SETTINGS = ['all', 'errors', 'off'] as const
export type AccessLogSetting = (typeof ACCESS_LOG_SETTINGS)[number]

/** The runtime's `ListenerLimits` (edge-proxy/src/runtime/listener-limits.ts), as far as flags set them. */
export type ListenerLimitFlags = Partial<{
  maxHeaderBytes: number
  maxHeaders: number
  maxBodyBytes: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  idleTimeoutMs: number
  maxConnections: number
}>

type SidecarFlags = {
  controlUrl?: string
  joinToken?: string
  service?: string
  appPort?: string
  labels?: string
  inboundPort?: string
  outboundPort?: string
  adminPort?: string
  stateDir?: string
  zone?: string
  maxHeaderBytes?: string
  maxHeaders?: string
  maxBodyBytes?: string
  headersTimeout?: string
  requestTimeout?: string
  idleTimeout?: string
  upstreamIdleTimeout?: string
  maxConnections?: string
  adminHost?: string
  allowRemoteAdmin?: boolean
  /** `--access-log <setting>`, or false for `--no-access-log`. */
  accessLog?: string | false
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 }

/** Bytes: `65536`, `60KiB`, `10MiB` (also kB/MB/GB, powers of ten). */
export function sizeOf(value: string, flag: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim())
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  const n = m && unit !== undefined ? Number(m[1]) * unit : NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a size such as 65536, 60KiB or 10MiB (got ${JSON.stringify(value)})`)
  return n
}

/** Milliseconds: `500ms`, `10s`, `5m`, `1h`; `0` where the flag allows turning the timeout off. */
export function durationOf(value: string, flag: string, allowZero = false): number {
  if (allowZero && value.trim() === '0') return 0
  const m = /^(\d+)(ms|s|m|h)$/.exec(value.trim())
  const n = m ? Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'] : NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a duration such as 500ms, 10s or 5m${allowZero ? ', or 0 for none' : ''} (got ${JSON.stringify(value)})`)
  return n
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/** Flags over env (`WEFT_URL`, `WEFT_JOIN_TOKEN`, `WEFT_SERVICE`, `WEFT_ACCESS_LOG`); every problem is reported at once. */
export function sidecarOptions(flags: SidecarFlags, env: Record<string, string | undefined>): SidecarOptions {
  const problems: string[] = []
  const check = <T>(f: () => T): T | undefined => {
    try {
      return f()
    } catch (err) {
      problems.push((err as Error).message)
      return undefined
    }
  }
  const controlUrl = flags.controlUrl ?? env.WEFT_URL
  const joinToken = flags.joinToken ?? env.WEFT_JOIN_TOKEN
  const service = flags.service ?? env.WEFT_SERVICE
  if (!controlUrl) problems.push('--control-url (or WEFT_URL) is required')
  else if (!URL.canParse(controlUrl) || !/^https?:$/.test(new URL(controlUrl).protocol)) problems.push(`--control-url must be an http(s) URL (got ${controlUrl})`)
  if (!joinToken) problems.push('--join-token (or WEFT_JOIN_TOKEN) is required: create one with the API (POST /v1/services/{name}/join-tokens)')
  else if (!joinToken.startsWith('wfj_')) problems.push('--join-token must be a join token (wfj_…)')
  if (!service) problems.push('--service (or WEFT_SERVICE) is required')
  else if (!DNS_LABEL.test(service)) problems.push(`--service must be a DNS label (got ${service})`)
  if (flags.appPort === undefined) problems.push('--app-port is required')
  const appPort = flags.appPort === undefined ? undefined : check(() => intOf(flags.appPort!, '--app-port'))
  const port = (v: string | undefined, flag: string, dflt: number) => (v === undefined ? dflt : check(() => intOf(v, flag)))
  const inboundPort = port(flags.inboundPort, '--inbound-port', DEFAULT_INBOUND_PORT)
  const outboundPort = port(flags.outboundPort, '--outbound-port', DEFAULT_OUTBOUND_PORT)
  const adminPort = port(flags.adminPort, '--admin-port', DEFAULT_ADMIN_PORT)
  const labels = check(() => labelsOf(flags.labels ? [flags.labels] : [], '--labels'))
  const ports = [appPort, inboundPort, outboundPort, adminPort].filter((p) => p !== undefined)
  if (new Set(ports).size !== ports.length) problems.push('--app-port, --inbound-port, --outbound-port and --admin-port must all differ')
  const limits: ListenerLimitFlags = {}
  const set = <K extends keyof ListenerLimitFlags>(key: K, raw: string | undefined, parse: (v: string) => number) => {
    if (raw === undefined) return
    const v = check(() => parse(raw))
    if (v !== undefined) limits[key] = v
  }
  set('maxHeaderBytes', flags.maxHeaderBytes, (v) => sizeOf(v, '--max-header-bytes'))
  set('maxHeaders', flags.maxHeaders, (v) => intOf(v, '--max-headers', 1, 10_000))
  set('maxBodyBytes', flags.maxBodyBytes, (v) => sizeOf(v, '--max-body-bytes'))
  set('headersTimeoutMs', flags.headersTimeout, (v) => durationOf(v, '--headers-timeout'))
  set('requestTimeoutMs', flags.requestTimeout, (v) => durationOf(v, '--request-timeout', true))
  set('idleTimeoutMs', flags.idleTimeout, (v) => durationOf(v, '--idle-timeout'))
  set('maxConnections', flags.maxConnections, (v) => intOf(v, '--max-connections', 0, 1_000_000))
  const upstreamIdleTimeoutMs = flags.upstreamIdleTimeout === undefined ? undefined : check(() => durationOf(flags.upstreamIdleTimeout!, '--upstream-idle-timeout'))
  const accessLogRaw = flags.accessLog === false ? 'off' : (flags.accessLog ?? env.WEFT_ACCESS_LOG)
  const accessLog = accessLogRaw === undefined ? undefined : ACCESS_LOG_SETTINGS.find((v) => v === accessLogRaw.trim().toLowerCase())
  if (accessLogRaw !== undefined && accessLog === undefined) problems.push(`--access-log (or WEFT_ACCESS_LOG) must be one of ${ACCESS_LOG_SETTINGS.join(', ')} (got ${JSON.stringify(accessLogRaw)})`)
  if (problems.length) throw new UsageError(`weft sidecar:\n  ${problems.join('\n  ')}`)
  return {
    controlUrl: controlUrl!,
    joinToken: joinToken!,
    service: service!,
    appPort: appPort!,
    labels: labels!,
    inboundPort: inboundPort!,
    outboundPort: outboundPort!,
    adminPort: adminPort!,
    // Left out when not given, so the runtime's own defaults apply.
    ...(flags.stateDir === undefined ? {} : { stateDir: flags.stateDir }),
    ...(flags.zone === undefined ? {} : { zone: flags.zone }),
    ...(Object.keys(limits).length === 0 ? {} : { limits }),
    ...(upstreamIdleTimeoutMs === undefined ? {} : { upstreamIdleTimeoutMs }),
    ...(flags.adminHost === undefined ? {} : { adminHost: flags.adminHost }),
    ...(flags.allowRemoteAdmin === true ? { allowRemoteAdmin: true } : {}),
    ...(accessLog === undefined ? {} : { accessLog }),
  }
}

export function registerSidecar(program: Command, ctx: Context): void {
  sidecarCommand(program.command('sidecar'), ctx.io, loadRuntime)
}

/**
 * The sidecar's flags and action on `cmd`: `weft sidecar` (the runtime loaded from the checkout) and the
 * bundled `weft-sidecar.mjs` that containers run (edge-proxy/src/runtime/sidecar-main.ts, the runtime linked
 * in) share them, so both take the same flags and report problems the same way.
 */
export function sidecarCommand(cmd: Command, io: Pick<Io, 'err' | 'env'>, runtime: () => Promise<SidecarRuntime>): Command {
  return cmd
    .description('run the Node sidecar proxy beside an application')
    .option('--control-url <url>', 'the control API (else WEFT_URL)')
    .option('--join-token <token>', "the service's join token, wfj_… (else WEFT_JOIN_TOKEN)")
    .option('--service <name>', 'the service this sidecar fronts (else WEFT_SERVICE)')
    .option('--app-port <port>', 'the port the application listens on, on 127.0.0.1')
    .option('--labels <k=v,…>', 'endpoint labels, e.g. version=v1')
    .option('--inbound-port <port>', `inbound listener (default ${DEFAULT_INBOUND_PORT})`)
    .option('--outbound-port <port>', `outbound HTTP proxy (default ${DEFAULT_OUTBOUND_PORT})`)
    .option('--admin-port <port>', `admin: /ready, /config_dump, /metrics (default ${DEFAULT_ADMIN_PORT})`)
    .option('--state-dir <dir>', 'where the last good snapshot is kept')
    .option('--zone <zone>', 'the locality of this endpoint')
    // Listener hardening (Envoy's edge guide); the defaults are the runtime's.
    .option('--max-header-bytes <size>', 'request line + headers, e.g. 60KiB (default 60KiB): 431 beyond')
    .option('--max-headers <n>', 'header fields per request (default 100): 431 beyond')
    .option('--max-body-bytes <size>', 'request body, e.g. 10MiB (default 10MiB): 413 beyond')
    .option('--headers-timeout <duration>', 'until the request headers are in (default 10s): 408 after')
    .option('--request-timeout <duration>', 'until the whole request is in, body included (default 5m; 0: none): 408 after')
    .option('--idle-timeout <duration>', 'an idle keep-alive connection, or an answer the client stopped reading, is closed after (default 5m)')
    .option('--upstream-idle-timeout <duration>', 'idle pooled connections to upstreams and the app close after (default 30s)')
    .option('--max-connections <n>', 'open connections per listener (default 10000; 0: unlimited)')
    .option('--admin-host <host>', 'where admin listens (default 127.0.0.1; loopback only unless --allow-remote-admin)')
    .option('--allow-remote-admin', 'allow a non-loopback --admin-host (admin serves the snapshot without authentication)')
    .option('--access-log <setting>', 'JSON access lines on stdout: all (every request), errors (the default: responses the proxy made itself, and upstream 5xx) or off; also WEFT_ACCESS_LOG')
    .option('--no-access-log', 'the same as --access-log off')
    .action(async (flags: SidecarFlags) => {
      const options = sidecarOptions(flags, io.env)
      const sidecar = await (await runtime()).runSidecar(options).catch((err: unknown) => {
        // The runtime checks its options (admin host, limits) before starting, with RangeError: a usage problem.
        if (err instanceof RangeError) throw new UsageError(`weft sidecar: ${err.message}`)
        throw err
      })
      const ports = sidecar?.ports
      io.err(
        `weft sidecar for ${options.service} running` +
          (ports ? `: inbound :${ports.inbound} → app :${options.appPort}, outbound :${ports.outbound}, admin :${ports.admin}` : '') +
          '\n',
      )
      if (typeof sidecar?.close !== 'function') return
      // Runs until a signal; then drains (the runtime deregisters the endpoint) and exits 0.
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          io.err(`${signal}: draining\n`)
          void sidecar.close!().then(resolve, (err) => {
            io.err(`drain failed: ${(err as Error).message}\n`)
            resolve()
          })
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
    })
}

/** What the runtime answers: its listening ports and a drain. */
type RunningSidecar = { ports?: { inbound: number; outbound: number; admin: number }; close?: () => Promise<void> } | undefined
export type SidecarRuntime = { runSidecar: (options: SidecarOptions) => Promise<RunningSidecar> }

async function loadRuntime(): Promise<SidecarRuntime> {
  const file = fileURLToPath(new URL('../../../../edge-proxy/src/runtime/node.ts', import.meta.url))
  if (!existsSync(file)) {
    throw new CliFailure(`the Node sidecar runtime is not available: ${file} does not exist (weft sidecar runs from a checkout of the Weft repository)`, EXIT.software)
  }
  // A variable specifier keeps tsc from resolving (and typing) a module another part of the repo owns.
  const specifier = new URL('../../../../edge-proxy/src/runtime/node.ts', import.meta.url).href
  const mod = (await import(specifier)) as Partial<SidecarRuntime>
  if (typeof mod.runSidecar !== 'function') {
    throw new CliFailure(`the Node sidecar runtime (${file}) does not export runSidecar(options) yet`, EXIT.software)
  }
  return mod as SidecarRuntime
}
