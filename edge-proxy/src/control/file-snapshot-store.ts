// The sidecar's store: the one file of the control client that uses Node's file system.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { isStoredAudienceToken, type SnapshotStore, type StoredAudienceToken, type StoredIdentity, type StoredSnapshot } from './snapshot-store'

const SNAPSHOT_FILE = 'snapshot.json'
const IDENTITY_FILE = 'identity.json'
const AUDIENCE_TOKENS_FILE = 'audience-tokens.json'
const FORMAT = 'weft.state-file/v1'
// The identity and audience-token files hold bearer tokens and the snapshot the tenant's topology: owner-only.
const FILE_MODE = 0o600
const DIR_MODE = 0o700

/** A state file that exists but cannot be read as one; the client logs it and starts without it. */
export class StateFileCorrupt extends Error {
  static code = 'ERR_STATE_FILE_CORRUPT'
  code = StateFileCorrupt.code
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StateFileCorrupt'
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new StateFileCorrupt(`${path} is not JSON`, { cause: err })
  }
  if (typeof value !== 'object' || value === null || (value as { format?: unknown }).format !== FORMAT) {
    throw new StateFileCorrupt(`${path} is not a ${FORMAT} file`)
  }
  return value as Record<string, unknown>
}

/**
 * Keeps the snapshot (`snapshot.json`), the identity (`identity.json`) and the audience tokens
 * (`audience-tokens.json`) in a directory, e.g. the
 * sidecar's `--state-dir`. Each write goes to a temporary file in the same directory, is flushed, and is
 * renamed over the old one, so that a crash leaves either the old file or the new one, never half of
 * one. Writes are serialised so that an older snapshot can never land after a newer one.
 */
export class FileSnapshotStore implements SnapshotStore {
  readonly dir: string
  #queue: Promise<unknown> = Promise.resolve()
  #seq = 0

  constructor(dir: string) {
    if (typeof dir !== 'string' || dir === '') throw new TypeError('FileSnapshotStore needs a directory')
    this.dir = dir
  }

  async load(): Promise<StoredSnapshot | null> {
    const v = await readJson(join(this.dir, SNAPSHOT_FILE))
    if (!v) return null
    if (typeof v.etag !== 'string' || typeof v.body !== 'string') throw new StateFileCorrupt(`${join(this.dir, SNAPSHOT_FILE)} has no etag and body`)
    return { etag: v.etag, body: v.body }
  }

  save(etag: string, body: string): Promise<void> {
    return this.#write(SNAPSHOT_FILE, { format: FORMAT, savedAt: new Date().toISOString(), etag, body })
  }

  async loadIdentity(): Promise<StoredIdentity | null> {
    const v = await readJson(join(this.dir, IDENTITY_FILE))
    if (!v) return null
    const id = v.identity as StoredIdentity | null | undefined
    if (id === null || id === undefined) return null
    if (typeof id.token !== 'string' || typeof id.expiresAt !== 'number') throw new StateFileCorrupt(`${join(this.dir, IDENTITY_FILE)} holds no identity`)
    return id
  }

  saveIdentity(identity: StoredIdentity | null): Promise<void> {
    if (identity === null) return this.#enqueue(() => rm(join(this.dir, IDENTITY_FILE), { force: true }))
    return this.#write(IDENTITY_FILE, { format: FORMAT, savedAt: new Date().toISOString(), identity })
  }

  async loadAudienceTokens(): Promise<StoredAudienceToken[]> {
    const path = join(this.dir, AUDIENCE_TOKENS_FILE)
    const v = await readJson(path)
    if (!v) return []
    if (!Array.isArray(v.tokens) || !v.tokens.every(isStoredAudienceToken)) throw new StateFileCorrupt(`${path} holds no list of audience tokens`)
    return v.tokens
  }

  saveAudienceTokens(tokens: StoredAudienceToken[]): Promise<void> {
    if (tokens.length === 0) return this.#enqueue(() => rm(join(this.dir, AUDIENCE_TOKENS_FILE), { force: true }))
    return this.#write(AUDIENCE_TOKENS_FILE, { format: FORMAT, savedAt: new Date().toISOString(), tokens })
  }

  #write(name: string, value: unknown): Promise<void> {
    return this.#enqueue(async () => {
      await mkdir(this.dir, { recursive: true, mode: DIR_MODE })
      const target = join(this.dir, name)
      const temp = join(this.dir, `.${name}.${process.pid}.${++this.#seq}.tmp`)
      const fh = await open(temp, 'wx', FILE_MODE)
      try {
        await fh.writeFile(JSON.stringify(value), 'utf8')
        await fh.sync()
      } catch (err) {
        await fh.close()
        await rm(temp, { force: true })
        throw err
      }
      await fh.close()
      try {
        await rename(temp, target)
      } catch (err) {
        await rm(temp, { force: true })
        throw err
      }
    })
  }

  #enqueue(task: () => Promise<unknown>): Promise<void> {
    const run = this.#queue.then(task)
    this.#queue = run.catch(() => {})
    return run.then(() => {})
  }
}
