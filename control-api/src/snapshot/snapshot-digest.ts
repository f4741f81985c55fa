import { createHash } from 'node:crypto'

/**
 * sha256 hex of a snapshot body, synchronously. Every revision hashes one body per watched service (1000 in a
 * large tenant), and WebCrypto's digest costs ~0.1 ms each in Node for the thread-pool hop alone, ten times the
 * hash itself. node:crypto is there on Node and in workerd under `nodejs_compat`, which the control API Worker
 * needs anyway (node-postgres); the bytes are the same as WebCrypto's, so ETags agree across runtimes.
 */
export function snapshotDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
