import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateMasterKeyBase64 } from '../identity/master-key'
import type { Logger } from '../logger'

/**
 * Node only: without WEFT_MASTER_KEY, a development key is kept in the data directory (0600) so signing keys
 * survive restarts. Loud, because a key beside the data it protects protects nothing in production.
 */
export function devMasterKey(dataDir: string | null, logger: Logger): string {
  const warning = 'WEFT_MASTER_KEY is not set: using a development master key. Set WEFT_MASTER_KEY (32 random bytes, base64) in production.'
  if (dataDir === null) {
    logger.warn({ masterKey: 'ephemeral' }, `${warning} (in-memory database: the key lives as long as the process)`)
    return generateMasterKeyBase64()
  }
  const file = join(dataDir, 'master.key')
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, generateMasterKeyBase64() + '\n', { mode: 0o600 })
  }
  logger.warn({ masterKey: file }, warning)
  return readFileSync(file, 'utf8').trim()
}
