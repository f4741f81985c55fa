import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { UsageError } from './exit.js'

/** Where `weft login` keeps `{ url, apiKey }`. */
export const ENV_CONFIG = 'WEFT_CONFIG'
export const ENV_URL = 'WEFT_URL'
export const ENV_API_KEY = 'WEFT_API_KEY'
/** The operator key: used when no tenant key is given, and first for the operator's `tenants` commands. */
export const ENV_OPERATOR_KEY = 'WEFT_OPERATOR_KEY'
// Owner-only: the file holds a bearer secret.
const CONFIG_FILE_MODE = 0o600

export type StoredConfig = { url?: string; apiKey?: string }
export type Env = Record<string, string | undefined>
export type Connection = { url: string; apiKey: string | undefined }

/** `$WEFT_CONFIG`, else `$XDG_CONFIG_HOME/weft/config.json`, else `~/.config/weft/config.json`. */
export function configPath(env: Env): string {
  if (env[ENV_CONFIG]) return env[ENV_CONFIG]
  const base = env.XDG_CONFIG_HOME || join(env.HOME || env.USERPROFILE || '.', '.config')
  return join(base, 'weft', 'config.json')
}

export async function readStoredConfig(env: Env): Promise<StoredConfig | undefined> {
  const file = configPath(env)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
    const { url, apiKey } = parsed as Record<string, unknown>
    return { url: typeof url === 'string' ? url : undefined, apiKey: typeof apiKey === 'string' ? apiKey : undefined }
  } catch (err) {
    throw new UsageError(`${file} is not a weft config (${(err as Error).message}): run weft login again`)
  }
}

export async function writeStoredConfig(env: Env, config: StoredConfig): Promise<string> {
  const file = configPath(env)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, JSON.stringify(config, null, 2) + '\n', { mode: CONFIG_FILE_MODE })
  // writeFile's mode applies only when it creates the file: tighten one that existed.
  await chmod(file, CONFIG_FILE_MODE)
  return file
}

/**
 * Where to connect and with which key. Flags win; then the stored login; without a stored login, the
 * environment (`WEFT_URL`, `WEFT_API_KEY`, else `WEFT_OPERATOR_KEY`). Operator commands prefer
 * `WEFT_OPERATOR_KEY` over a stored tenant key, since a tenant key can never onboard tenants.
 */
export async function resolveConnection(env: Env, flags: { url?: string; apiKey?: string }, opts: { operator?: boolean } = {}): Promise<Connection> {
  const stored = await readStoredConfig(env)
  const url = flags.url ?? stored?.url ?? env[ENV_URL]
  const fromEnv = env[ENV_API_KEY] || env[ENV_OPERATOR_KEY] || undefined
  const apiKey = flags.apiKey ?? (opts.operator && env[ENV_OPERATOR_KEY] ? env[ENV_OPERATOR_KEY] : undefined) ?? stored?.apiKey ?? fromEnv
  if (!url) throw new UsageError(`no control API URL: run weft login --url URL --api-key KEY, set ${ENV_URL}, or pass --url`)
  return { url, apiKey }
}
