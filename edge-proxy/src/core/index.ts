/**
 * The Weft proxy core: runtime-agnostic (fetch Request/Response, WebCrypto, timers), shared by the Node
 * sidecar and the Cloudflare Worker. See edge-proxy/README.md.
 */
export { createProxyCore, type EndpointReport, type ProxyCore } from './create-proxy-core'
export { normalizePath, type NormalizedPath } from './normalize-path'
export { PROXY_PROBLEM_BASE, problemResponse, useMadeResponses, WEFT_REASON_HEADER, type MadeResponseFactory } from './problem-response'
export { PROXY_REASONS } from './proxy-reasons'
export {
  DEFAULT_LIMITS,
  DEFAULT_MAX_REPLAY_BODY_BYTES,
  DEFAULT_RETRY_BUDGET_WINDOW_MS,
  DEFAULT_TIMEOUT_MS,
  type ProxyCoreDeps,
  type ProxyLimits,
  type ProxyLogger,
  type UpstreamCall,
  type UpstreamTarget,
} from './proxy-deps'
export { Cancellation, toAbortSignal, type CancelSignal } from './cancel-signal'
export { shareDeadlineTimers } from './deadline'
export { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from './metrics-registry'
export { parseTraceparent } from './traceparent'
export { ACCESS_LOG_SETTINGS, accessLogSettingOf, DEFAULT_ACCESS_LOG, type AccessLogMode, type AccessLogSetting } from './tracing'
export { classifyUpstreamError, UpstreamConnectError, UpstreamResetError, upstreamUrl } from './upstream-errors'
export { WEFT_IDENTITY_HEADER, WEFT_SOURCE_PRINCIPAL_HEADER } from './forwarded-headers'
export { HeaderFields } from './header-fields'
