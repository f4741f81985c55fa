// Node's own llhttp binding, the parser node:http uses, as the sidecar's HTTP/1.1 client (http1-connection.ts)
// and server (http1-server.ts) drive it. Internal to Node (`_http_common`), so typed here for what they call.
import { createRequire } from 'node:module'

export type Parser = {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | (Error & { code?: string })
  finish(): undefined | (Error & { code?: string })
  /** Reads a stream handle (a socket's `_handle`) itself: each read is parsed in C++, then kOnExecute is called. */
  consume(handle: object): void
  unconsume(): void
  [callback: number]: unknown
}

type ParserClass = {
  new (): Parser
  REQUEST: number
  RESPONSE: number
  kOnMessageBegin: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
  kOnExecute: number
  kLenientNone: number
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass; methods: string[] }

export const HTTPParser = common.HTTPParser
/** Method names by the index llhttp reports for a request. */
export const methods = common.methods
