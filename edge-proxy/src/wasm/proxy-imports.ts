import { BufferType, MapType, Status, StreamType } from './abi'
import type { FilterLogger } from './filter-logger'
import type { FilterMetrics } from './filter-metrics'
import type { GuestMemory } from './guest-memory'
import {
  byteStringMapSize,
  bytesToByteString,
  deserializeHeaderMap,
  findHeader,
  normalizeHeaderName,
  serializeHeaderMap,
  type HeaderPairs,
} from './header-map'
import type { SharedData, SharedQueues } from './shared-data'
import { msToNanos } from './nanos'
import { GuestAbort } from './wasm-errors'

/** A response a filter asked for with `proxy_send_local_response`. */
export type LocalResponse = {
  status: number
  details: string
  body: Uint8Array
  headers: HeaderPairs
  grpcStatus: number
}

/** A call made with `proxy_http_call`, dispatched by the proxy (through the mesh) and answered asynchronously. */
export type FilterHttpCall = {
  /** The `upstream` argument: for Weft, a mesh service name. */
  upstream: string
  /** Includes `:method`, `:path`, `:authority`. */
  headers: HeaderPairs
  body: Uint8Array
  timeoutMs: number
}

export type FilterHttpCallResponse = { headers: HeaderPairs; body: Uint8Array; trailers?: HeaderPairs }

/**
/**
 * What a foreign function may do besides answering at once (filters/README.md, "Foreign functions").
 */
export type ForeignCall = {
  /** The host's clock (ms since the epoch), so functions see the same time as the filter. */
  now(): number
  /**
   * For work that cannot finish synchronously (WebCrypto): returns an id at once; when `answer` resolves, the
   * host calls `proxy_on_foreign_function(calling context, id, size)` with the bytes readable as buffer
   * FOREIGN_FUNCTION_ARGUMENTS (ABI 0.2.1). A rejection fails the calling stream by its failure policy.
   */
  defer(answer: Promise<Uint8Array>): number
}

/**
 * A host function a filter calls with `proxy_call_foreign_function(name, args)`, e.g. `weft.verify_jwt`. The whole
 * seam: register functions by name in `foreignFunctions` (FilterHostOptions; the proxy core takes
 * `filterForeignFunctions`). A function receives a copy of the argument bytes (a view of guest memory when it
 * sets `borrowsArguments`) and returns the result bytes synchronously (the ABI call cannot wait; for async work it
 * answers a pending id and uses `call.defer`). A name not registered answers NOT_FOUND; a function that throws
 * answers INTERNAL_FAILURE (logged), the VM stays healthy.
 */
export type ForeignFunction = ((args: Uint8Array, call: ForeignCall) => Uint8Array) & {
  /**
   * Set on a function that reads `args` only while it runs (never keeps them, nor reads them from later async
   * work): it is handed a view of the guest's memory instead of a copy, which saves an ArrayBuffer per call
   * (about 1 µs for a ~1 KB token). weft.verify_jwt and weft.jwt_config decode their arguments at once.
   */
  readonly borrowsArguments?: boolean
}

/** What the host functions act on: the VM's state at the moment of the call. */
export interface ProxyImportHost {
  memory(): GuestMemory
  readonly logger: FilterLogger
  now(): number
  logLevel: number
  readonly sharedData: SharedData
  readonly queues: SharedQueues
  readonly metrics: FilterMetrics
  readonly foreignFunctions: ReadonlyMap<string, ForeignFunction>
  tickPeriodMs: number
  /** A header map of the effective context; undefined when that map does not exist now. */
  headerMap(mapType: number): HeaderPairs | undefined
  setHeaderMap(mapType: number, pairs: HeaderPairs): boolean
  buffer(bufferType: number): Uint8Array | undefined
  setBuffer(bufferType: number, bytes: Uint8Array): boolean
  property(path: string): Uint8Array | undefined
  setProperty(path: string, value: Uint8Array): boolean
  sendLocalResponse(response: LocalResponse): number
  continueStream(streamType: number): number
  closeStream(streamType: number): number
  setEffectiveContext(id: number): number
  done(): number
  httpCall(call: FilterHttpCall): number | { callId: number }
  /** See ForeignCall.defer. */
  deferForeignFunction(answer: Promise<Uint8Array>): number
  callStatus(): { code: number; message: string }
  /** Runs `proxy_on_queue_ready` on the root context of the VM that registered the queue. */
  onQueueReady(queueId: number): void
}

const NO_HEADERS: HeaderPairs = []
const LOG_METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'error'] as const
const MAX_MAP_TYPE = MapType.HTTP_CALL_RESPONSE_TRAILERS
const MAX_BUFFER_TYPE = BufferType.FOREIGN_FUNCTION_ARGUMENTS

type HostFn = (...args: never[]) => unknown

/**
 * `env.proxy_*`: every host function of ABI 0.2.0 and 0.2.1 (their union is the 0.2.1 list), plus the few names
 * older SDKs import (`proxy_clear_route_cache`) and AssemblyScript's runtime imports (`abort`, `trace`, `seed`).
 * Pointers are checked before use: out-of-range answers INVALID_MEMORY_ACCESS rather than trapping the host.
 */
export function createProxyImports(host: ProxyImportHost): Record<string, HostFn> {
  const mem = (): GuestMemory => host.memory()
  const inBounds = (ptr: number, len: number): boolean => mem().inBounds(ptr >>> 0, len >>> 0)
  const str = (ptr: number, len: number): string => mem().readString(ptr >>> 0, len >>> 0)
  const bytes = (ptr: number, len: number): Uint8Array => mem().read(ptr >>> 0, len >>> 0)
  const view = (ptr: number, len: number): Uint8Array => mem().bytes.subarray(ptr >>> 0, (ptr >>> 0) + (len >>> 0))
  // Header names and values cross as byte strings, never UTF-8-decoded (header-map.ts).
  const byteStr = (ptr: number, len: number): string => bytesToByteString(view(ptr, len))
  // The per-request calls check their pointers against one read of the memory's size, not a call per pointer.
  const fits = (size: number, ptr: number, len: number): boolean => (ptr >>> 0) + (len >>> 0) <= size
  const headerName = (ptr: number, len: number): string => normalizeHeaderName(byteStr(ptr, len))

  // Decoded by hand rather than TextDecoder('utf-16le'), which not every runtime ships; only error paths use it.
  function asString(ptr: number): string {
    if (ptr === 0 || !inBounds(ptr - 4, 4)) return ''
    const len = mem().u32(ptr - 4)
    if (!inBounds(ptr, len)) return ''
    const view = mem().view
    let out = ''
    for (let i = 0; i + 1 < len; i += 2) out += String.fromCharCode(view.getUint16(ptr + i, true))
    return out
  }

  function mapOp(mapType: number, op: (pairs: HeaderPairs) => number | HeaderPairs): number {
    if (mapType < 0 || mapType > MAX_MAP_TYPE) return Status.BAD_ARGUMENT
    const pairs = host.headerMap(mapType)
    if (!pairs) return Status.NOT_FOUND
    const result = op(pairs)
    if (typeof result === 'number') return result
    return host.setHeaderMap(mapType, result) ? Status.OK : Status.NOT_FOUND
  }

  /** The map to read, or the status to answer when there is none. */
  function readMap(mapType: number): HeaderPairs | number {
    if (mapType < 0 || mapType > MAX_MAP_TYPE) return Status.BAD_ARGUMENT
    return host.headerMap(mapType) ?? Status.NOT_FOUND
  }

  function writeMap(mapType: number, pairs: HeaderPairs): number {
    return host.setHeaderMap(mapType, pairs) ? Status.OK : Status.NOT_FOUND
  }

  // One per host: the functions only reach the host, nothing of the call.
  const foreignCall: ForeignCall = { now: () => host.now(), defer: (answer) => host.deferForeignFunction(answer) }

  const env: Record<string, HostFn> = {
    proxy_log(level: number, ptr: number, len: number): number {
      if (!inBounds(ptr, len)) return Status.INVALID_MEMORY_ACCESS
      const method = LOG_METHODS[level]
      if (!method) return Status.BAD_ARGUMENT
      if (level >= host.logLevel) host.logger[method]({ filterLogLevel: level }, str(ptr, len))
      return Status.OK
    },
    proxy_get_log_level(retPtr: number): number {
      if (!inBounds(retPtr, 4)) return Status.INVALID_MEMORY_ACCESS
      mem().setU32(retPtr, host.logLevel)
      return Status.OK
    },
    proxy_get_current_time_nanoseconds(retPtr: number): number {
      const m = mem()
      if (!fits(m.bytes.length, retPtr, 8)) return Status.INVALID_MEMORY_ACCESS
      m.setU64(retPtr >>> 0, msToNanos(host.now()))
      return Status.OK
    },
    proxy_set_tick_period_milliseconds(period: number): number {
      host.tickPeriodMs = period >>> 0
      return Status.OK
    },

    proxy_get_buffer_status(type: number, retSize: number, retFlags: number): number {
      if (type < 0 || type > MAX_BUFFER_TYPE) return Status.BAD_ARGUMENT
      if (!(inBounds(retSize, 4) && inBounds(retFlags, 4))) return Status.INVALID_MEMORY_ACCESS
      const buf = host.buffer(type)
      if (!buf) return Status.NOT_FOUND
      mem().setU32(retSize, buf.length)
      mem().setU32(retFlags, 0)
      return Status.OK
    },
    proxy_get_buffer_bytes(type: number, start: number, maxSize: number, retPtr: number, retSize: number): number {
      if (type < 0 || type > MAX_BUFFER_TYPE) return Status.BAD_ARGUMENT
      if (!(inBounds(retPtr, 4) && inBounds(retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      const buf = host.buffer(type)
      if (!buf) return Status.NOT_FOUND
      const from = start >>> 0
      if (from > buf.length) return Status.BAD_ARGUMENT
      mem().returnBytes(buf.subarray(from, from + (maxSize >>> 0)), retPtr, retSize)
      return Status.OK
    },
    proxy_set_buffer_bytes(type: number, start: number, size: number, ptr: number, len: number): number {
      if (type < 0 || type > MAX_BUFFER_TYPE) return Status.BAD_ARGUMENT
      if (!inBounds(ptr, len)) return Status.INVALID_MEMORY_ACCESS
      const buf = host.buffer(type)
      if (!buf) return Status.NOT_FOUND
      const from = Math.min(start >>> 0, buf.length)
      const to = Math.min(from + (size >>> 0), buf.length)
      const value = bytes(ptr, len)
      const next = new Uint8Array(from + value.length + (buf.length - to))
      next.set(buf.subarray(0, from), 0)
      next.set(value, from)
      next.set(buf.subarray(to), from + value.length)
      return host.setBuffer(type, next) ? Status.OK : Status.NOT_FOUND
    },

    proxy_get_header_map_size(mapType: number, retSize: number): number {
      if (!inBounds(retSize, 4)) return Status.INVALID_MEMORY_ACCESS
      return mapOp(mapType, (pairs) => {
        const size = byteStringMapSize(pairs)
        mem().setU32(retSize, size >= 0 ? size : serializeHeaderMap(pairs).length)
        return Status.OK
      })
    },
    proxy_get_header_map_pairs(mapType: number, retPtr: number, retSize: number): number {
      if (!(inBounds(retPtr, 4) && inBounds(retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      if (mapType < 0 || mapType > MAX_MAP_TYPE) return Status.BAD_ARGUMENT
      // A map that does not exist yet reads as empty: the Rust and Go SDKs treat any other status as fatal.
      mem().returnHeaderMap(host.headerMap(mapType) ?? NO_HEADERS, retPtr, retSize)
      return Status.OK
    },
    proxy_set_header_map_pairs(mapType: number, ptr: number, len: number): number {
      if (!inBounds(ptr, len)) return Status.INVALID_MEMORY_ACCESS
      let pairs: HeaderPairs
      try {
        pairs = deserializeHeaderMap(bytes(ptr, len))
      } catch {
        return Status.SERIALIZATION_FAILURE
      }
      return mapOp(mapType, () => pairs.map(([k, v]) => [normalizeHeaderName(k), v]))
    },
    // The per-request header calls read and write the map without a closure per call (mapOp's shape, inlined).
    proxy_get_header_map_value(mapType: number, kPtr: number, kLen: number, retPtr: number, retSize: number): number {
      const m = mem()
      const bytes = m.bytes
      const size = bytes.length
      if (!(fits(size, kPtr, kLen) && fits(size, retPtr, 4) && fits(size, retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      const pairs = readMap(mapType)
      if (typeof pairs === 'number') return pairs
      // The first value, as Envoy returns for a repeated header.
      const at = findHeader(pairs, bytes, kPtr >>> 0, kLen >>> 0)
      if (at < 0) return Status.NOT_FOUND
      m.returnByteString(pairs[at]![1], retPtr >>> 0, retSize >>> 0)
      return Status.OK
    },
    proxy_add_header_map_value(mapType: number, kPtr: number, kLen: number, vPtr: number, vLen: number): number {
      if (!(inBounds(kPtr, kLen) && inBounds(vPtr, vLen))) return Status.INVALID_MEMORY_ACCESS
      const key = headerName(kPtr, kLen)
      const value = byteStr(vPtr, vLen)
      const pairs = readMap(mapType)
      if (typeof pairs === 'number') return pairs
      return writeMap(mapType, [...pairs, [key, value]])
    },
    proxy_replace_header_map_value(mapType: number, kPtr: number, kLen: number, vPtr: number, vLen: number): number {
      const bytes = mem().bytes
      const size = bytes.length
      if (!(fits(size, kPtr, kLen) && fits(size, vPtr, vLen))) return Status.INVALID_MEMORY_ACCESS
      const pairs = readMap(mapType)
      if (typeof pairs === 'number') return pairs
      const value = bytesToByteString(bytes.subarray(vPtr >>> 0, (vPtr >>> 0) + (vLen >>> 0)))
      // The first occurrence keeps its place; later repeats go, so the header ends with exactly one value.
      const at = findHeader(pairs, bytes, kPtr >>> 0, kLen >>> 0)
      if (at < 0) return writeMap(mapType, [...pairs, [headerName(kPtr, kLen), value]])
      const key = pairs[at]![0]
      const out: HeaderPairs = []
      for (let i = 0; i < pairs.length; i++) {
        if (i === at) out.push([key, value])
        else if (pairs[i]![0] !== key) out.push(pairs[i]!)
      }
      return writeMap(mapType, out)
    },
    proxy_remove_header_map_value(mapType: number, kPtr: number, kLen: number): number {
      const bytes = mem().bytes
      if (!fits(bytes.length, kPtr, kLen)) return Status.INVALID_MEMORY_ACCESS
      const pairs = readMap(mapType)
      if (typeof pairs === 'number') return pairs
      const at = findHeader(pairs, bytes, kPtr >>> 0, kLen >>> 0)
      // Removing an absent header keeps the map (and its cached serialisation) as it is.
      if (at < 0) return writeMap(mapType, pairs)
      const key = pairs[at]![0]
      const out: HeaderPairs = pairs.slice(0, at)
      for (let i = at + 1; i < pairs.length; i++) if (pairs[i]![0] !== key) out.push(pairs[i]!)
      return writeMap(mapType, out)
    },

    proxy_get_property(pPtr: number, pLen: number, retPtr: number, retSize: number): number {
      if (!(inBounds(pPtr, pLen) && inBounds(retPtr, 4) && inBounds(retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      const value = host.property(str(pPtr, pLen))
      if (!value) return Status.NOT_FOUND
      mem().returnBytes(value, retPtr, retSize)
      return Status.OK
    },
    proxy_set_property(pPtr: number, pLen: number, vPtr: number, vLen: number): number {
      if (!(inBounds(pPtr, pLen) && inBounds(vPtr, vLen))) return Status.INVALID_MEMORY_ACCESS
      return host.setProperty(str(pPtr, pLen), bytes(vPtr, vLen)) ? Status.OK : Status.NOT_FOUND
    },

    proxy_send_local_response(
      status: number, dPtr: number, dLen: number, bPtr: number, bLen: number, hPtr: number, hLen: number,
      grpcStatus: number,
    ): number {
      if (!(inBounds(dPtr, dLen) && inBounds(bPtr, bLen) && inBounds(hPtr, hLen))) return Status.INVALID_MEMORY_ACCESS
      let headers: HeaderPairs
      try {
        headers = deserializeHeaderMap(bytes(hPtr, hLen))
      } catch {
        return Status.SERIALIZATION_FAILURE
      }
      return host.sendLocalResponse({
        status: status >>> 0,
        details: str(dPtr, dLen),
        body: bytes(bPtr, bLen),
        headers,
        grpcStatus,
      })
    },
    proxy_continue_stream: (type: number) => host.continueStream(type),
    proxy_close_stream: (type: number) => host.closeStream(type),
    // 0.1.0 names some SDK builds still import.
    proxy_continue_request: () => host.continueStream(StreamType.HTTP_REQUEST),
    proxy_continue_response: () => host.continueStream(StreamType.HTTP_RESPONSE),
    // Weft's routing runs before filters; clearing a route cache is a harmless no-op.
    proxy_clear_route_cache: () => Status.OK,
    proxy_get_status(retCode: number, retPtr: number, retSize: number): number {
      if (!(inBounds(retCode, 4) && inBounds(retPtr, 4) && inBounds(retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      const { code, message } = host.callStatus()
      mem().setU32(retCode, code)
      mem().returnString(message, retPtr, retSize)
      return Status.OK
    },
    proxy_set_effective_context: (id: number) => host.setEffectiveContext(id >>> 0),
    proxy_done: () => host.done(),

    proxy_http_call(
      uPtr: number, uLen: number, hPtr: number, hLen: number, bPtr: number, bLen: number, tPtr: number,
      tLen: number, timeout: number, retId: number,
    ): number {
      if (!(inBounds(uPtr, uLen) && inBounds(hPtr, hLen) && inBounds(bPtr, bLen) && inBounds(tPtr, tLen) && inBounds(retId, 4))) {
        return Status.INVALID_MEMORY_ACCESS
      }
      let headers: HeaderPairs
      try {
        headers = deserializeHeaderMap(bytes(hPtr, hLen))
      } catch {
        return Status.SERIALIZATION_FAILURE
      }
      const result = host.httpCall({ upstream: str(uPtr, uLen), headers, body: bytes(bPtr, bLen), timeoutMs: timeout >>> 0 })
      if (typeof result === 'number') return result
      mem().setU32(retId, result.callId)
      return Status.OK
    },
    // gRPC has no transport in Weft yet: BAD_ARGUMENT/PARSE_FAILURE are the spec's "unknown upstream" answers,
    // which SDKs surface as an error to the filter instead of panicking on UNIMPLEMENTED.
    proxy_grpc_call: () => Status.PARSE_FAILURE,
    proxy_grpc_stream: () => Status.PARSE_FAILURE,
    proxy_grpc_send: () => Status.NOT_FOUND,
    proxy_grpc_cancel: () => Status.NOT_FOUND,
    proxy_grpc_close: () => Status.NOT_FOUND,

    proxy_get_shared_data(kPtr: number, kLen: number, retPtr: number, retSize: number, retCas: number): number {
      if (!(inBounds(kPtr, kLen) && inBounds(retPtr, 4) && inBounds(retSize, 4) && inBounds(retCas, 4))) return Status.INVALID_MEMORY_ACCESS
      const entry = host.sharedData.get(str(kPtr, kLen))
      if (!entry) return Status.NOT_FOUND
      mem().returnBytes(entry.value, retPtr, retSize)
      mem().setU32(retCas, entry.cas)
      return Status.OK
    },
    proxy_set_shared_data(kPtr: number, kLen: number, vPtr: number, vLen: number, cas: number): number {
      if (!(inBounds(kPtr, kLen) && inBounds(vPtr, vLen))) return Status.INVALID_MEMORY_ACCESS
      return host.sharedData.set(str(kPtr, kLen), bytes(vPtr, vLen), cas >>> 0)
    },
    proxy_register_shared_queue(nPtr: number, nLen: number, retId: number): number {
      if (!(inBounds(nPtr, nLen) && inBounds(retId, 4))) return Status.INVALID_MEMORY_ACCESS
      mem().setU32(retId, host.queues.register(str(nPtr, nLen), (id) => host.onQueueReady(id)))
      return Status.OK
    },
    proxy_resolve_shared_queue(_vPtr: number, _vLen: number, nPtr: number, nLen: number, retId: number): number {
      if (!(inBounds(nPtr, nLen) && inBounds(retId, 4))) return Status.INVALID_MEMORY_ACCESS
      const id = host.queues.resolve(str(nPtr, nLen))
      if (id === undefined) return Status.NOT_FOUND
      mem().setU32(retId, id)
      return Status.OK
    },
    proxy_enqueue_shared_queue(id: number, vPtr: number, vLen: number): number {
      if (!inBounds(vPtr, vLen)) return Status.INVALID_MEMORY_ACCESS
      return host.queues.enqueue(id >>> 0, bytes(vPtr, vLen))
    },
    proxy_dequeue_shared_queue(id: number, retPtr: number, retSize: number): number {
      if (!(inBounds(retPtr, 4) && inBounds(retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      const item = host.queues.dequeue(id >>> 0)
      if (typeof item === 'number') return item
      mem().returnBytes(item, retPtr, retSize)
      return Status.OK
    },

    proxy_define_metric(type: number, nPtr: number, nLen: number, retId: number): number {
      if (!(inBounds(nPtr, nLen) && inBounds(retId, 4))) return Status.INVALID_MEMORY_ACCESS
      const { status, id } = host.metrics.define(type, str(nPtr, nLen))
      if (status === Status.OK) mem().setU32(retId, id)
      return status
    },
    // i64 parameters arrive as BigInt (JS-BigInt integration), never as number.
    proxy_increment_metric: (id: number, delta: bigint) => host.metrics.increment(id >>> 0, BigInt.asIntN(64, delta)),
    proxy_record_metric: (id: number, value: bigint) => host.metrics.record(id >>> 0, BigInt.asUintN(64, value)),
    proxy_get_metric(id: number, retPtr: number): number {
      if (!inBounds(retPtr, 8)) return Status.INVALID_MEMORY_ACCESS
      const value = host.metrics.get(id >>> 0)
      if (value === undefined) return Status.NOT_FOUND
      mem().setU64(retPtr, value)
      return Status.OK
    },

    proxy_call_foreign_function(nPtr: number, nLen: number, aPtr: number, aLen: number, retPtr: number, retSize: number): number {
      if (!(inBounds(nPtr, nLen) && inBounds(aPtr, aLen) && inBounds(retPtr, 4) && inBounds(retSize, 4))) return Status.INVALID_MEMORY_ACCESS
      const name = str(nPtr, nLen)
      const fn = host.foreignFunctions.get(name)
      if (!fn) return Status.NOT_FOUND
      let result: Uint8Array
      try {
        // No guest code runs during the call, so a borrowed view cannot change under the function.
        result = fn(fn.borrowsArguments === true ? view(aPtr, aLen) : bytes(aPtr, aLen), foreignCall)
      } catch (error) {
        // A host-side failure is the filter's to handle (a status), not a reason to break its VM.
        host.logger.warn({ function: name, err: String(error) }, 'foreign function failed')
        return Status.INTERNAL_FAILURE
      }
      mem().returnBytes(result, retPtr, retSize)
      return Status.OK
    },

    // AssemblyScript's runtime imports, for modules built without `--use abort=…`: abort(message, fileName,
    // line, column) and trace(message, n, …args) take UTF-16 strings whose byte length sits at ptr - 4.
    abort(msgPtr: number, filePtr: number, line: number, column: number): never {
      throw new GuestAbort(`filter aborted: ${asString(msgPtr)} at ${asString(filePtr)}:${line}:${column}`)
    },
    trace(msgPtr: number, n: number, ...args: number[]): void {
      host.logger.debug({ args: args.slice(0, n) }, asString(msgPtr))
    },
    seed: () => Date.now() * Math.random(),
  }
  return env
}
