// Weft's AssemblyScript proxy-wasm SDK: import from "../sdk" in a filter, and re-export "../sdk/exports" from
// its entry file.
export { Action, LogLevel, MapType, BufferType, MetricType, StreamType } from "./abi";
export { HttpContext, RootContext, registerRootContext } from "./context";
export {
  HeaderPair,
  SharedValue,
  addHeader,
  addRequestHeader,
  addResponseHeader,
  callForeignFunction,
  callForeignFunctionWith,
  continueRequest,
  continueResponse,
  defineMetric,
  deserializeHeaders,
  getBufferBytes,
  getCurrentTimeNanoseconds,
  getForeignFunctionData,
  getHeader,
  getHeaderBytes,
  getHeaders,
  getHttpCallResponseBody,
  getProperty,
  getRequestHeader,
  getRequestHeaderBytes,
  getResponseHeader,
  headerNamesWithPrefix,
  getSharedData,
  httpCall,
  incrementMetric,
  log,
  logError,
  logInfo,
  logText,
  logWarn,
  readHeaderInto,
  recordMetric,
  removeHeader,
  removeRequestHeader,
  replaceHeader,
  replaceRequestHeader,
  replaceResponseHeader,
  sendLocalResponse,
  serializeHeaders,
  setBufferBytes,
  setHeaders,
  setSharedData,
  setTickPeriodMilliseconds,
} from "./host";
export { JsonValue, JsonKind, formatNumber, numberField, parseJson, stringArrayField, stringifyJson } from "./json";
export { FNV_OFFSET_BASIS, cookieValue, decodeBase64Url, fnv1a64, fnv1a64Bytes, hash64, hashPercentBucket, jsonEscape, percentBucketAfter } from "./util";
export { CLAIM_HEADER_PREFIX, ValueSource, claimHeader } from "./source";
export { TextBuilder } from "./text";
