// The proxy's control-plane client: createControlClient for the Node sidecar, createWorkerControl for the
// Worker (workerd refuses I/O objects shared between requests). Runtime-agnostic; the Node-only FileSnapshotStore is imported from
// './file-snapshot-store' directly so that the Worker bundle never sees node:fs.
export { AudienceTokens, DEFAULT_MAX_AUDIENCE_TOKENS, type AudienceTokenStats } from './audience-tokens'
export { backoffDelayMs, DEFAULT_BACKOFF, refreshDelayMs, audienceTokenMarginMs, type BackoffOptions } from './backoff'
export { DEFAULT_POLL_WAIT_SECONDS, type SnapshotInfo, type SnapshotListener, type SnapshotSource } from './config-watch'
export {
  createControlClient,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type ControlClient,
  type ControlClientOptions,
  type ControlClientState,
  type ControlClientStatus,
  type ControlOp,
  type ControlRuntime,
} from './control-client'
export * from './control-errors'
export type { FetchLike } from './control-http'
export type { HeldToken, IdentitySource } from './control-identity'
export type { ControlLogger } from './control-logger'
export type { EndpointHealth, EndpointInput, RegisteredEndpoint } from './endpoint-registration'
export { parseSnapshot } from './parse-snapshot'
export { MemorySnapshotStore, type SnapshotStore, type StoredAudienceToken, type StoredIdentity, type StoredSnapshot } from './snapshot-store'
export { cacheKeyValue, KeyValueSnapshotStore, kvKeyValue, type CacheLike, type KvLike, type TextKeyValue } from './key-value-snapshot-store'
export { createWorkerControl, type WorkerControl, type WorkerControlOptions, type WorkerControlStatus, type WorkerEndpoint } from './worker-control'
