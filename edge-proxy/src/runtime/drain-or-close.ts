// Waiting out backpressure on a Node writable: both the response writer (node-response.ts) and the upstream
// client (http1-agent.ts) stop writing when write() returns false and go on at the next 'drain'.
import type { EventEmitter } from 'node:events'

/** Resolves at the writable's next 'drain', or when it closes (the caller checks whether it may write on). */
export function drainOrClose(writable: Pick<EventEmitter, 'on' | 'off'>): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      writable.off('drain', done)
      writable.off('close', done)
      resolve()
    }
    writable.on('drain', done)
    writable.on('close', done)
  })
}
