import type { Command } from 'commander'
import { Weft } from '../index.js'
import { resolveConnection } from './config.js'
import { UsageError } from './exit.js'
import { formatOf, type Format, type Io } from './output.js'

/** What every command gets: where to write, and how to build a client from the flags and config. */
export type Context = {
  io: Io
  /** A client for the resolved URL and key; `operator` prefers `WEFT_OPERATOR_KEY`. */
  client: (cmd: Command, opts?: { operator?: boolean }) => Promise<Weft>
  /** The output format from `--json` / `-o`. */
  format: (cmd: Command) => Format
}

type GlobalFlags = { url?: string; apiKey?: string; json?: boolean; output?: string }

export function createContext(io: Io): Context {
  return {
    io,
    async client(cmd, opts = {}) {
      const flags = cmd.optsWithGlobals<GlobalFlags>()
      const { url, apiKey } = await resolveConnection(io.env, flags, opts)
      try {
        // Two retries: enough to ride out a restart, short enough that a person is not left waiting.
        return new Weft({ baseUrl: url, apiKey, retry: { maxRetries: 2 }, headers: { 'user-agent': 'weft-cli' } })
      } catch (err) {
        // The SDK lists every bad option in one TypeError: a bad URL or key from flags, env or the stored login.
        throw new UsageError(`${(err as Error).message} (check --url, WEFT_URL or weft login)`)
      }
    },
    format(cmd) {
      return formatOf(cmd.optsWithGlobals<GlobalFlags>())
    },
  }
}
