import { z } from 'zod'

/** The API's conventional Workers dev port; DESIGN.md fixes it. */
export const DEFAULT_PORT = 8787
/** Kept beside the checkout so `npm start` survives restarts without any setup. */
export const DEFAULT_DATA_DIR = './.weft/data'
/** 16 MiB: Go and Rust proxy-wasm modules run to a few MiB; this leaves room without inviting abuse. */
export const DEFAULT_MAX_FILTER_BYTES = 16 * 1024 * 1024
/** A week: signing keys rotate often enough to limit a leak, rarely enough that JWKS caches never miss. */
export const DEFAULT_KEY_ROTATION_HOURS = 168
/**
 * A day: a proxy that outlived a control-plane outage longer than its token (15 min by default) renews with the
 * expired token instead of needing a new join token, as a kubelet's long-lived credential lets Istio's agent do.
 */
export const DEFAULT_RENEWAL_GRACE_HOURS = 24
/** 1 MiB: far above any real service or policy document, small enough to refuse abuse cheaply. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .refine((v) => /^(memory:\/\/|postgres(ql)?:\/\/|file:\/\/)/.test(v), 'must be memory://, file://DIR or postgres://…')
    .optional(),
  WEFT_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  WEFT_OPERATOR_KEY: z
    .string()
    .regex(/^wfo_[A-Za-z0-9_-]{20,}$/, 'must look like wfo_ followed by at least 20 URL-safe characters')
    .optional(),
  WEFT_PUBLIC_URL: z.string().url().optional(),
  WEFT_MASTER_KEY: z.string().regex(/^[A-Za-z0-9+/_-]{43}=?$/, 'must be 32 random bytes, base64-encoded (openssl rand -base64 32)').optional(),
  WEFT_KEY_ROTATION_HOURS: z.coerce.number().positive().max(24 * 365).default(DEFAULT_KEY_ROTATION_HOURS),
  /** How long after expiry a workload's control-API token may still renew itself (0: never). */
  WEFT_RENEWAL_GRACE_HOURS: z.coerce.number().min(0).max(24 * 30).default(DEFAULT_RENEWAL_GRACE_HOURS),
  WEFT_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  WEFT_MAX_BODY_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
  /** Comma-separated origins allowed to call the API from a browser (e.g. a console); unset: none. */
  WEFT_CORS_ORIGINS: z.string().optional(),
  WEFT_MAX_FILTER_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_FILTER_BYTES),
  /** Let webhooks point at loopback and private addresses (a hosted API must not: tenants could probe its network). */
  WEFT_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false', '1', '0']).default('false'),
  /**
   * Workers only: reach PostgreSQL through this WebSocket proxy with Neon's driver (Neon's own wsproxy, or the
   * test bridge), whatever DATABASE_URL's host. For local development and tests; unset on Neon itself.
   */
  WEFT_NEON_WS_PROXY: z
    .string()
    .refine(isWsProxyUrl, 'must be ws://HOST[:PORT][/PATH] or wss://… with no query (e.g. ws://localhost:5433/v1)')
    .optional(),
})

/** The proxy URL Neon's driver will append `?address=HOST:PORT` to. */
function isWsProxyUrl(v: string): boolean {
  if (!/^wss?:\/\/[^/?#]/.test(v)) return false
  try {
    const u = new URL(v)
    return !u.search && !u.hash && !u.username && !u.password
  } catch {
    return false
  }
}

export type Config = {
  port: number
  host: string
  database: { kind: 'pglite'; dataDir: string | null } | { kind: 'postgres'; url: string }
  operatorKey: string | undefined
  masterKey: string | undefined
  keyRotationMs: number
  renewalGraceMs: number
  publicUrl: string
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  maxBodyBytes: number
  maxFilterBytes: number
  corsOrigins: string[]
  webhookAllowPrivate: boolean
  /** WEFT_NEON_WS_PROXY: a WebSocket proxy to reach PostgreSQL through with Neon's driver (Workers). */
  neonWsProxy: string | undefined
}

export class ConfigError extends Error {
  static code = 'ERR_WEFT_CONFIG'
  code = ConfigError.code
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

/**
 * Reads the whole configuration from an injected environment (process.env on Node, `env` on Workers)
 * and reports every problem at once rather than the first one.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means unset, as shells and container runtimes mostly intend it.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = Env.safeParse(given)
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`))
  }
  const e = parsed.data
  let database: Config['database']
  if (!e.DATABASE_URL) database = { kind: 'pglite', dataDir: e.WEFT_DATA_DIR }
  else if (e.DATABASE_URL === 'memory://') database = { kind: 'pglite', dataDir: null }
  else if (e.DATABASE_URL.startsWith('file://')) database = { kind: 'pglite', dataDir: e.DATABASE_URL.slice('file://'.length) }
  else database = { kind: 'postgres', url: e.DATABASE_URL }
  return {
    port: e.PORT,
    host: e.HOST,
    database,
    operatorKey: e.WEFT_OPERATOR_KEY,
    masterKey: e.WEFT_MASTER_KEY,
    keyRotationMs: e.WEFT_KEY_ROTATION_HOURS * 3600_000,
    renewalGraceMs: e.WEFT_RENEWAL_GRACE_HOURS * 3600_000,
    publicUrl: (e.WEFT_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    logLevel: e.WEFT_LOG_LEVEL,
    maxBodyBytes: e.WEFT_MAX_BODY_BYTES,
    maxFilterBytes: e.WEFT_MAX_FILTER_BYTES,
    corsOrigins: (e.WEFT_CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    webhookAllowPrivate: e.WEFT_WEBHOOK_ALLOW_PRIVATE === 'true' || e.WEFT_WEBHOOK_ALLOW_PRIVATE === '1',
    neonWsProxy: e.WEFT_NEON_WS_PROXY,
  }
}

