import * as imports from "./imports";
import { BufferType, LogLevel, MapType, MetricType, Status, StreamType } from "./abi";
import { TextBuilder } from "./text";

// Return slots for host calls: static memory, so no allocation per call. Filters are single-threaded and
// host calls do not nest, so one pair is enough.
const RETURN_PTR: usize = memory.data(8);
const RETURN_SIZE: usize = memory.data(8);
const RETURN_CAS: usize = memory.data(8);

// The host copies each answer (a header value, a map, shared data) into memory it asks proxy_on_memory_allocate
// for, and the SDK copies or decodes it at once and gives it back. Answers that fit go to one static region
// instead of a heap allocation each: it is handed out only while free, and the SDK frees it when it has taken
// the answer, so an answer nobody takes merely sends later ones to the heap.
const RETURN_SCRATCH_SIZE: usize = 4096;
const RETURN_SCRATCH: usize = memory.data(4096, 16);
let returnScratchInUse = false;

/** proxy_on_memory_allocate: the return scratch region when it fits and is free, else the heap. */
export function allocateReturn(size: usize): usize {
  if (size <= RETURN_SCRATCH_SIZE && !returnScratchInUse) {
    returnScratchInUse = true;
    return RETURN_SCRATCH;
  }
  return heap.alloc(size);
}

function releaseReturned(ptr: usize): void {
  if (ptr == RETURN_SCRATCH) returnScratchInUse = false;
  else if (ptr != 0) heap.free(ptr);
}

/** Bytes the host placed in guest memory (allocated through proxy_on_memory_allocate): copy, then free. */
function takeReturnedBytes(): ArrayBuffer {
  const ptr = load<usize>(RETURN_PTR);
  const size = load<u32>(RETURN_SIZE);
  const out = new ArrayBuffer(size);
  if (ptr != 0) {
    memory.copy(changetype<usize>(out), ptr, size);
    releaseReturned(ptr);
  }
  return out;
}

function takeReturnedString(): string {
  const ptr = load<usize>(RETURN_PTR);
  const size = load<u32>(RETURN_SIZE);
  if (ptr == 0) return "";
  const s = String.UTF8.decodeUnsafe(ptr, size);
  releaseReturned(ptr);
  return s;
}

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

// Text arguments (header names and values, keys, log lines) are UTF-8-encoded into one of two static regions
// rather than a fresh ArrayBuffer per call; text that might not fit is encoded on the heap and kept referenced
// until the next call stages over it. The host only reads arguments during the call.
const ARG_SCRATCH_SIZE: i32 = 2048;

/** One argument slot: where its text was staged, how long it is, and the heap copy kept while it is in use. */
class Staged {
  ptr: usize = 0;
  length: usize = 0;
  keep: ArrayBuffer | null = null;

  constructor(public scratch: usize) {}

  stage(s: string): void {
    // Three bytes per UTF-16 unit at most (a surrogate pair is two units and four bytes).
    if (s.length * 3 <= ARG_SCRATCH_SIZE) {
      this.ptr = this.scratch;
      this.length = String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.scratch);
      this.keep = null;
    } else {
      const bytes = utf8(s);
      this.keep = bytes;
      this.ptr = changetype<usize>(bytes);
      this.length = bytes.byteLength;
    }
  }
}

// Two slots: a call passes at most two texts (a header name and its value).
const argA = new Staged(memory.data(2048, 16));
const argB = new Staged(memory.data(2048, 16));

// --- logging ---------------------------------------------------------------------------------------------

export function log(level: LogLevel, message: string): void {
  argA.stage(message);
  imports.proxy_log(level, argA.ptr, argA.length);
}

/** Logs a message built in a TextBuilder, as its bytes (no string made for it). */
export function logText(level: LogLevel, text: TextBuilder): void {
  imports.proxy_log(level, text.ptr, text.length);
}

export function logInfo(message: string): void {
  log(LogLevel.Info, message);
}

export function logWarn(message: string): void {
  log(LogLevel.Warn, message);
}

export function logError(message: string): void {
  log(LogLevel.Error, message);
}

// --- buffers ---------------------------------------------------------------------------------------------

export function getBufferBytes(bufferType: BufferType, start: u32, maxSize: u32): ArrayBuffer | null {
  const status = imports.proxy_get_buffer_bytes(bufferType, start, maxSize, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturnedBytes();
}

/**
 * Replaces `size` bytes at `start` of a buffer with `value`: (0, 0) prepends, start at or past the end
 * appends, (0, length) replaces the whole body (spec, proxy_set_buffer_bytes).
 */
export function setBufferBytes(bufferType: BufferType, start: u32, size: u32, value: ArrayBuffer): bool {
  return imports.proxy_set_buffer_bytes(bufferType, start, size, changetype<usize>(value), value.byteLength) == Status.Ok;
}

// --- header maps -----------------------------------------------------------------------------------------

/** A header name and value; pseudo-headers (`:path`) included in request and response maps. */
export class HeaderPair {
  constructor(public key: string, public value: string) {}
}

export function getHeader(map: MapType, name: string): string | null {
  argA.stage(name);
  const status = imports.proxy_get_header_map_value(map, argA.ptr, argA.length, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturnedString();
}

/** A header's value as the bytes the host holds, not decoded: for values a filter handles as bytes (a token). */
export function getHeaderBytes(map: MapType, name: string): ArrayBuffer | null {
  argA.stage(name);
  const status = imports.proxy_get_header_map_value(map, argA.ptr, argA.length, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturnedBytes();
}

/**
 * Copies a header's value (its bytes, not decoded) to `dest`, which holds `capacity` bytes, with no allocation:
 * returns its length, -1 when the header is absent, -2 when it does not fit (nothing copied).
 */
export function readHeaderInto(map: MapType, name: string, dest: usize, capacity: i32): i32 {
  argA.stage(name);
  const status = imports.proxy_get_header_map_value(map, argA.ptr, argA.length, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return -1;
  const ptr = load<usize>(RETURN_PTR);
  const size = load<u32>(RETURN_SIZE);
  let length: i32 = -2;
  if (size <= <u32>capacity) {
    memory.copy(dest, ptr, size);
    length = <i32>size;
  }
  releaseReturned(ptr);
  return length;
}

export function addHeader(map: MapType, name: string, value: string): void {
  argA.stage(name);
  argB.stage(value);
  imports.proxy_add_header_map_value(map, argA.ptr, argA.length, argB.ptr, argB.length);
}

export function replaceHeader(map: MapType, name: string, value: string): void {
  argA.stage(name);
  argB.stage(value);
  imports.proxy_replace_header_map_value(map, argA.ptr, argA.length, argB.ptr, argB.length);
}

export function removeHeader(map: MapType, name: string): void {
  argA.stage(name);
  imports.proxy_remove_header_map_value(map, argA.ptr, argA.length);
}

export function getHeaders(map: MapType): Array<HeaderPair> {
  if (imports.proxy_get_header_map_pairs(map, RETURN_PTR, RETURN_SIZE) != Status.Ok) return [];
  return deserializeHeaders(takeReturnedBytes());
}

/**
 * Names of the headers in `map` that start with `prefix` (ASCII, lower case), found by scanning the serialised map
 * in place: only matching names are decoded, so a per-request check costs no string per header.
 */
export function headerNamesWithPrefix(map: MapType, prefix: string): Array<string> {
  const out = new Array<string>();
  if (imports.proxy_get_header_map_pairs(map, RETURN_PTR, RETURN_SIZE) != Status.Ok) return out;
  const base = load<usize>(RETURN_PTR);
  const size = load<u32>(RETURN_SIZE);
  if (base == 0) return out;
  if (size >= 4) {
    const count = load<u32>(base);
    argA.stage(prefix);
    const p = argA.ptr;
    const pLen = <u32>argA.length;
    let lengths = base + 4;
    let data = base + 4 + <usize>count * 8;
    for (let i: u32 = 0; i < count; i++) {
      const kLen = load<u32>(lengths);
      const vLen = load<u32>(lengths + 4);
      lengths += 8;
      if (kLen >= pLen && memory.compare(data, p, pLen) == 0) out.push(String.UTF8.decodeUnsafe(data, kLen));
      data += kLen + 1 + vLen + 1;
    }
  }
  releaseReturned(base);
  return out;
}

/**
 * Removes every header of `map` whose name starts with `prefix` (ASCII, lower case): headerNamesWithPrefix and a
 * removeHeader per name, without an array when none matches (the usual case for a per-request check).
 */
export function removeHeadersWithPrefix(map: MapType, prefix: string): void {
  if (imports.proxy_get_header_map_pairs(map, RETURN_PTR, RETURN_SIZE) != Status.Ok) return;
  const base = load<usize>(RETURN_PTR);
  const size = load<u32>(RETURN_SIZE);
  if (base == 0) return;
  let names: Array<string> | null = null;
  if (size >= 4) {
    const count = load<u32>(base);
    argA.stage(prefix);
    const p = argA.ptr;
    const pLen = <u32>argA.length;
    let lengths = base + 4;
    let data = base + 4 + <usize>count * 8;
    for (let i: u32 = 0; i < count; i++) {
      const kLen = load<u32>(lengths);
      const vLen = load<u32>(lengths + 4);
      lengths += 8;
      if (kLen >= pLen && memory.compare(data, p, pLen) == 0) {
        if (names == null) names = new Array<string>();
        names.push(String.UTF8.decodeUnsafe(data, kLen));
      }
      data += kLen + 1 + vLen + 1;
    }
  }
  releaseReturned(base);
  if (names == null) return;
  for (let i = 0; i < names.length; i++) removeHeader(map, names[i]);
}

export function setHeaders(map: MapType, pairs: Array<HeaderPair>): void {
  const bytes = serializeHeaders(pairs);
  imports.proxy_set_header_map_pairs(map, changetype<usize>(bytes), bytes.byteLength);
}

export function getRequestHeader(name: string): string | null {
  return getHeader(MapType.RequestHeaders, name);
}

export function getRequestHeaderBytes(name: string): ArrayBuffer | null {
  return getHeaderBytes(MapType.RequestHeaders, name);
}

export function addRequestHeader(name: string, value: string): void {
  addHeader(MapType.RequestHeaders, name, value);
}

export function replaceRequestHeader(name: string, value: string): void {
  replaceHeader(MapType.RequestHeaders, name, value);
}

export function removeRequestHeader(name: string): void {
  removeHeader(MapType.RequestHeaders, name);
}

export function getResponseHeader(name: string): string | null {
  return getHeader(MapType.ResponseHeaders, name);
}

export function addResponseHeader(name: string, value: string): void {
  addHeader(MapType.ResponseHeaders, name, value);
}

export function replaceResponseHeader(name: string, value: string): void {
  replaceHeader(MapType.ResponseHeaders, name, value);
}

/**
 * The ABI's header-map layout: u32 count, count × (u32 key length, u32 value length), then each key and value
 * followed by NUL; little-endian (wasm is little-endian, so plain stores are).
 */
export function serializeHeaders(pairs: Array<HeaderPair>): ArrayBuffer {
  const keys = new Array<ArrayBuffer>(pairs.length);
  const values = new Array<ArrayBuffer>(pairs.length);
  let size: i32 = 4 + pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) {
    keys[i] = utf8(pairs[i].key);
    values[i] = utf8(pairs[i].value);
    size += keys[i].byteLength + 1 + values[i].byteLength + 1;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, pairs.length);
  let lengths = base + 4;
  let data = base + 4 + <usize>pairs.length * 8;
  for (let i = 0; i < pairs.length; i++) {
    const k = keys[i];
    const v = values[i];
    store<u32>(lengths, k.byteLength);
    store<u32>(lengths + 4, v.byteLength);
    lengths += 8;
    memory.copy(data, changetype<usize>(k), k.byteLength);
    data += k.byteLength;
    store<u8>(data, 0);
    data += 1;
    memory.copy(data, changetype<usize>(v), v.byteLength);
    data += v.byteLength;
    store<u8>(data, 0);
    data += 1;
  }
  return out;
}

export function deserializeHeaders(bytes: ArrayBuffer): Array<HeaderPair> {
  const out = new Array<HeaderPair>();
  if (bytes.byteLength < 4) return out;
  const base = changetype<usize>(bytes);
  const count = load<u32>(base);
  let lengths = base + 4;
  let data = base + 4 + <usize>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const kLen = load<u32>(lengths);
    const vLen = load<u32>(lengths + 4);
    lengths += 8;
    const key = String.UTF8.decodeUnsafe(data, kLen);
    data += kLen + 1;
    const value = String.UTF8.decodeUnsafe(data, vLen);
    data += vLen + 1;
    out.push(new HeaderPair(key, value));
  }
  return out;
}

// --- properties ------------------------------------------------------------------------------------------

/** Reads a property by dotted path (`request.path`, `source.principal`); null when the host has none. */
export function getProperty(path: string): string | null {
  argA.stage(path.replaceAll(".", "\0"));
  const status = imports.proxy_get_property(argA.ptr, argA.length, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturnedString();
}

// --- responses and streams -------------------------------------------------------------------------------

/** Answers the request from the filter; the callback should then return `Action.Pause`. */
export function sendLocalResponse(status: u32, details: string, body: string, headers: Array<HeaderPair>): void {
  const d = utf8(details);
  const b = utf8(body);
  const h = serializeHeaders(headers);
  imports.proxy_send_local_response(
    status,
    changetype<usize>(d), d.byteLength,
    changetype<usize>(b), b.byteLength,
    changetype<usize>(h), h.byteLength,
    -1,
  );
}

export function continueRequest(): void {
  imports.proxy_continue_stream(StreamType.Request);
}

export function continueResponse(): void {
  imports.proxy_continue_stream(StreamType.Response);
}

// --- metrics, shared data, timers -------------------------------------------------------------------------

/** Defines a metric; returns its id (0 when the host refused). */
export function defineMetric(type: MetricType, name: string): u32 {
  argA.stage(name);
  if (imports.proxy_define_metric(type, argA.ptr, argA.length, RETURN_PTR) != Status.Ok) return 0;
  return load<u32>(RETURN_PTR);
}

export function incrementMetric(id: u32, delta: i64): void {
  imports.proxy_increment_metric(id, delta);
}

export function recordMetric(id: u32, value: u64): void {
  imports.proxy_record_metric(id, value);
}

/** A shared-data value with the CAS token to write it back with. */
export class SharedValue {
  constructor(public value: ArrayBuffer, public cas: u32) {}
}

export function getSharedData(key: string): SharedValue | null {
  argA.stage(key);
  const status = imports.proxy_get_shared_data(argA.ptr, argA.length, RETURN_PTR, RETURN_SIZE, RETURN_CAS);
  if (status != Status.Ok) return null;
  const cas = load<u32>(RETURN_CAS);
  return new SharedValue(takeReturnedBytes(), cas);
}

let sharedDataCas: u32 = 0;

/**
 * getSharedData into `dest` (`capacity` bytes) instead of a new buffer: the value's length, -1 when the key is
 * absent, -2 when the value does not fit (nothing copied). Its CAS token is then sharedDataCasRead().
 */
export function readSharedDataInto(key: string, dest: usize, capacity: i32): i32 {
  argA.stage(key);
  const status = imports.proxy_get_shared_data(argA.ptr, argA.length, RETURN_PTR, RETURN_SIZE, RETURN_CAS);
  if (status != Status.Ok) return -1;
  sharedDataCas = load<u32>(RETURN_CAS);
  const ptr = load<usize>(RETURN_PTR);
  const size = load<u32>(RETURN_SIZE);
  let length: i32 = -2;
  if (size <= <u32>capacity) {
    if (ptr != 0) memory.copy(dest, ptr, size);
    length = <i32>size;
  }
  releaseReturned(ptr);
  return length;
}

/** The CAS token of the value the last readSharedDataInto found. */
export function sharedDataCasRead(): u32 {
  return sharedDataCas;
}

/** setSharedData of the `length` bytes at `ptr` (a filter's own static buffer, say). */
export function writeSharedDataFrom(key: string, ptr: usize, length: usize, cas: u32): bool {
  argA.stage(key);
  return imports.proxy_set_shared_data(argA.ptr, argA.length, ptr, length, cas) == Status.Ok;
}

/** Returns false on a CAS mismatch (someone wrote since `cas` was read). */
export function setSharedData(key: string, value: ArrayBuffer, cas: u32): bool {
  argA.stage(key);
  return imports.proxy_set_shared_data(argA.ptr, argA.length, changetype<usize>(value), value.byteLength, cas) == Status.Ok;
}

export function setTickPeriodMilliseconds(period: u32): void {
  imports.proxy_set_tick_period_milliseconds(period);
}

// --- HTTP calls ------------------------------------------------------------------------------------------

/**
 * Calls another service (for Weft, a mesh service name as `upstream`); headers must include `:method`, `:path`
 * and `:authority`. Returns the call id (0 when the host refused): the answer arrives in
 * `onHttpCallResponse` of the context that made the call, which should return `Action.Pause` meanwhile.
 */
export function httpCall(upstream: string, headers: Array<HeaderPair>, body: string, timeoutMs: u32): u32 {
  const u = utf8(upstream);
  const h = serializeHeaders(headers);
  const b = utf8(body);
  const status = imports.proxy_http_call(
    changetype<usize>(u), u.byteLength,
    changetype<usize>(h), h.byteLength,
    changetype<usize>(b), b.byteLength,
    0, 0,
    timeoutMs,
    RETURN_PTR,
  );
  return status == Status.Ok ? load<u32>(RETURN_PTR) : 0;
}

/** The body of the HTTP call being answered (inside onHttpCallResponse). */
export function getHttpCallResponseBody(size: u32): string {
  const bytes = getBufferBytes(BufferType.HttpCallResponseBody, 0, size);
  return bytes == null ? "" : String.UTF8.decode(bytes);
}

// --- time and foreign functions ----------------------------------------------------------------------------

/** The host's wall clock in nanoseconds since the epoch (Weft: the proxy's injected clock). */
export function getCurrentTimeNanoseconds(): u64 {
  imports.proxy_get_current_time_nanoseconds(RETURN_PTR);
  return load<u64>(RETURN_PTR);
}

/** Calls a host function by name (e.g. `weft.verify_jwt`); null when the host has no such function. */
export function callForeignFunction(name: string, args: ArrayBuffer): ArrayBuffer | null {
  argA.stage(name);
  const status = imports.proxy_call_foreign_function(argA.ptr, argA.length, changetype<usize>(args), args.byteLength, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturnedBytes();
}

/** callForeignFunction with arguments that are `length` bytes at `ptr` (a filter's own buffer, say). */
export function callForeignFunctionWith(name: string, ptr: usize, length: usize): ArrayBuffer | null {
  argA.stage(name);
  const status = imports.proxy_call_foreign_function(argA.ptr, argA.length, ptr, length, RETURN_PTR, RETURN_SIZE);
  if (status != Status.Ok) return null;
  return takeReturnedBytes();
}

/** The data a deferred foreign function delivered (inside onForeignFunction). */
export function getForeignFunctionData(size: u32): ArrayBuffer {
  const bytes = getBufferBytes(BufferType.ForeignFunctionArguments, 0, size);
  return bytes == null ? new ArrayBuffer(0) : bytes;
}
