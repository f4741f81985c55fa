// The sidecar's keep-alive pools towards upstream sidecars and its own app (undici, one pool per origin).
//
// undici's Agent and its `request` API are loaded from their own modules, not from undici's index: the
// index loads all of undici (its fetch, WebSocket, EventSource, mock agents, cache stores, interceptors),
// ≈ 8 MiB of a sidecar's resident memory, and the data plane uses none of it (dispatch-fetch.ts calls
// `request`). undici is pinned to an exact version (package.json); upstream-pool.test.ts proves both paths.
import type { Agent } from 'undici'
import AgentClass from 'undici/lib/dispatcher/agent.js'
import request from 'undici/lib/api/api-request.js'

// What undici's index does to Dispatcher.prototype for every API, for `request` alone and on a subclass only.
class UpstreamAgent extends AgentClass {}
Object.defineProperty(UpstreamAgent.prototype, 'request', { value: request, writable: true, configurable: true })

/**
 * Idle pooled connections close after `idleMs`, also when the server's `Keep-Alive: timeout=` hint is longer
 * (keepAliveMaxTimeout caps it). Kept shorter than the listeners' idle timeout (5 min), so this side closes
 * first and no request is sent on a connection the server is closing. Pipelining off: HTTP/1.1 servers
 * rarely handle it well.
 */
export function createUpstreamPool(idleMs: number): Agent {
  if (!Number.isSafeInteger(idleMs) || idleMs < 1) throw new RangeError(`the upstream idle timeout must be a positive integer of milliseconds (got ${idleMs})`)
  return new UpstreamAgent({ keepAliveTimeout: idleMs, keepAliveMaxTimeout: idleMs, connections: 256, pipelining: 1 })
}
