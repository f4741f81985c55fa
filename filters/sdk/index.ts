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
  continueRequest,
  continueResponse,
  defineMetric,
  deserializeHeaders,
  getBufferBytes,
  getCurrentTimeNanoseconds,
  getForeignFunctionData,
  getHeader,
  getHeaders,
  getHttpCallResponseBody,
  getProperty,
  getRequestHeader,
  getResponseHeader,
  headerNamesWithPrefix,
  getSharedData,
  httpCall,
  incrementMetric,
  log,
  logError,
  logInfo,
  logWarn,
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
export { cookieValue, decodeBase64Url, hash64, hashPercentBucket, jsonEscape } from "./util";
export { CLAIM_HEADER_PREFIX, ValueSource, claimHeader } from "./source";
