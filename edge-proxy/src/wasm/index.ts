// The proxy-wasm host's public surface for the proxy core (README.md beside this file).
export {
  createFilterHost,
  type BodyResult,
  type ContinueResult,
  type FailurePolicy,
  type FilterFailure,
  type FilterHost,
  type FilterHostOptions,
  type FilterHostStats,
  type FilterResult,
  type FilterStream,
  type RespondResult,
} from './filter-host'
export { detectAbi } from './filter-vm'
export { DEFAULT_FUEL, DEFAULT_MAX_MEMORY_BYTES, FUEL_BUDGET_EXPORT, FUEL_EXPORT, meterWasm, WasmMeterError, type MeterOptions } from './meter-wasm'
export { silentLogger, type FilterLogger } from './filter-logger'
export { FilterMetrics, type FilterMetric, type FilterMetricKind } from './filter-metrics'
export { SharedData, SharedQueues } from './shared-data'
export { deserializeHeaderMap, HeaderList, serializeHeaderMap, type HeaderPairs } from './header-map'
export type { FilterHttpCall, FilterHttpCallResponse, ForeignFunction, LocalResponse } from './proxy-imports'
export type { RequestProperties } from './request-properties'
export {
  FilterAbiError,
  FilterConfigError,
  FilterHostError,
  FilterLoadError,
  FilterRunawayError,
  GuestAbort,
  GuestExit,
  UnknownImportError,
} from './wasm-errors'
