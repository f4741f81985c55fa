// The sidecar's keep-alive pools towards upstream sidecars and its own app (undici, one pool per origin).
import { Agent } from 'undici'

/**
 * Idle pooled connections close after `idleMs`, also when the server's `Keep-Alive: timeout=` hint is longer
 * (keepAliveMaxTimeout caps it). Kept shorter than the listeners' idle timeout (5 min), so this side closes
 * first and no request is sent on a connection the server is closing. Pipelining off: HTTP/1.1 servers
 * rarely handle it well.
 */
export function createUpstreamPool(idleMs: number): Agent {
  if (!Number.isSafeInteger(idleMs) || idleMs < 1) throw new RangeError(`the upstream idle timeout must be a positive integer of milliseconds (got ${idleMs})`)
  return new Agent({ keepAliveTimeout: idleMs, keepAliveMaxTimeout: idleMs, connections: 256, pipelining: 1 })
}
