/**
 * The policy language and its evaluators, shared by the proxies (per request) and the control API
 * (`POST /v1/simulate`), so that a simulation and the data plane cannot disagree. Pure and runtime-agnostic:
 * time and randomness are always passed in.
 *
 * The schemas' types only: their zod values are for validating input (the control API imports schemas.ts
 * itself), and loading zod and building every schema cost a sidecar ≈ 13 MiB of resident memory.
 */
export type * from './schemas'
export { durationMs } from './duration'
export { authorize, compileAuthorization, type Authorizer, type AuthzAction, type AuthzDecision, type AuthzRuleReport, type DryRunDecision } from './authz'
export { chooseWeighted, pickBackendSubsets, type BackendSelection, type BackendSubset } from './backends'
export {
  evaluateInbound,
  evaluateOutbound,
  simulate,
  type InboundEvaluation,
  type OutboundEvaluation,
  type SimulationResult,
} from './evaluate-request'
export { applicableFaults, compileFaults, rollFault, rollFaults, type ApplicableFault, type FaultInjector, type FaultRoll, type SkippedFault } from './fault'
export { compileIstioPattern, compileIstioPatterns } from './istio-pattern'
export { fieldValue, type MeshRequest } from './mesh-request'
export { compilePathMatch, type CompiledPathMatch, type PathMatchSpec } from './path-match'
export {
  applicableLimits,
  compileRateLimits,
  MAX_BUCKET_KEY_VALUE_LENGTH,
  type ApplicableLimit,
  type RateLimiter,
  type SkippedLimit,
} from './rate-limit'
export {
  compileRoutes,
  matchRoute,
  type RouteCandidate,
  type RouteExplanation,
  type RouteMatched,
  type RouteMatcher,
  type RouteOutcome,
  type SkippedRouteMatch,
} from './route-match'
export { checkRegex, MAX_HEADER_VALUE_LENGTH, MAX_PATH_LENGTH, MAX_REGEX_LENGTH, safeTest, type RegexCheck } from './safe-regex'
export { TokenBucket, type TakeResult } from './token-bucket'
export { DEFAULT_MAX_BUCKETS, TokenBucketStore, type BucketLimit, type RateLimitStore, type TokenBucketStoreOptions } from './token-bucket-store'
export type { Refusal, WeftReason } from './weft-reason'
