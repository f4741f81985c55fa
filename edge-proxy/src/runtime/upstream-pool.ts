// The sidecar's keep-alive pools towards upstream sidecars and its own app (http1-agent.ts, one pool per origin).
import { Http1Agent } from './http1-agent'

/**
 * Idle pooled connections close after `idleMs`, also when the server's `Keep-Alive: timeout=` hint is longer
 * (a shorter hint wins, less a second). Kept shorter than the listeners' idle timeout (5 min), so this side
 * closes first and no request is sent on a connection the server is closing. No pipelining: HTTP/1.1 servers
 * rarely handle it well.
 */
export function createUpstreamPool(idleMs: number): Http1Agent {
  return new Http1Agent({ idleMs })
}
