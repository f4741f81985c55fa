import { describe, expect, it } from 'vitest'
import { createFilterHost } from './filter-host'
import { assembleModule, op, type FuncType, type TestImport } from './test-wasm-binary'
import { FilterLoadError, UnknownImportError } from './wasm-errors'

const none: FuncType = { params: [], results: [] }
const ctxCreate: FuncType = { params: ['i32', 'i32'], results: [] }
const twoToBool: FuncType = { params: ['i32', 'i32'], results: ['i32'] }
const threeToAction: FuncType = { params: ['i32', 'i32', 'i32'], results: ['i32'] }

// Every host function of ABI 0.2.1 (the union with 0.2.0), as the Rust SDK's hello-world imports far more
// than it calls; signatures do not matter to JS-provided imports, so one type serves all.
const PROXY_FUNCTIONS = [
  'proxy_add_header_map_value', 'proxy_call_foreign_function', 'proxy_close_stream', 'proxy_continue_stream',
  'proxy_define_metric', 'proxy_dequeue_shared_queue', 'proxy_done', 'proxy_enqueue_shared_queue',
  'proxy_get_buffer_bytes', 'proxy_get_buffer_status', 'proxy_get_current_time_nanoseconds',
  'proxy_get_header_map_pairs', 'proxy_get_header_map_size', 'proxy_get_header_map_value', 'proxy_get_log_level',
  'proxy_get_metric', 'proxy_get_property', 'proxy_get_shared_data', 'proxy_get_status', 'proxy_grpc_call',
  'proxy_grpc_cancel', 'proxy_grpc_close', 'proxy_grpc_send', 'proxy_grpc_stream', 'proxy_http_call',
  'proxy_increment_metric', 'proxy_log', 'proxy_record_metric', 'proxy_register_shared_queue',
  'proxy_remove_header_map_value', 'proxy_replace_header_map_value', 'proxy_resolve_shared_queue',
  'proxy_send_local_response', 'proxy_set_buffer_bytes', 'proxy_set_effective_context',
  'proxy_set_header_map_pairs', 'proxy_set_property', 'proxy_set_shared_data', 'proxy_set_tick_period_milliseconds',
]
// What wasi-libc and Go's wasip1 runtime import.
const WASI_FUNCTIONS = [
  'args_get', 'args_sizes_get', 'clock_time_get', 'environ_get', 'environ_sizes_get', 'fd_close', 'fd_fdstat_get',
  'fd_prestat_get', 'fd_prestat_dir_name', 'fd_read', 'fd_seek', 'fd_write', 'path_open', 'poll_oneoff',
  'proc_exit', 'random_get', 'sched_yield',
]

function filterModule(marker: string, extraImports: TestImport[] = []): WebAssembly.Module {
  const imports: TestImport[] = [
    ...PROXY_FUNCTIONS.map((name) => ({ module: 'env', name, type: none })),
    ...WASI_FUNCTIONS.map((name) => ({ module: 'wasi_snapshot_preview1', name, type: none })),
    { module: 'wasi_unstable', name: 'proc_exit', type: none },
    { module: 'wasi_unstable', name: 'fd_write', type: none },
    ...extraImports,
  ]
  return new WebAssembly.Module(
    assembleModule(imports, [
      { name: marker, type: none, body: [] },
      // _initialize leaves a mark at address 0; context creation traps unless it is there, so the host must
      // have called _initialize before anything else.
      { name: '_initialize', type: none, body: [...op.i32Const(0), ...op.i32Const(1), ...op.i32Store] },
      {
        name: 'proxy_on_context_create',
        type: ctxCreate,
        body: [...op.i32Const(0), ...op.i32Load, ...op.i32Eqz, ...op.ifEmpty, ...op.unreachable, ...op.end],
      },
      { name: 'proxy_on_vm_start', type: twoToBool, body: op.i32Const(1) },
      { name: 'proxy_on_configure', type: twoToBool, body: op.i32Const(1) },
      { name: 'proxy_on_request_headers', type: threeToAction, body: op.i32Const(0) },
    ]),
  )
}

describe('linking modules from other SDKs', () => {
  it.each([
    ['proxy_abi_version_0_2_0', '0.2.0'],
    ['proxy_abi_version_0_2_1', '0.2.1'],
  ])('detects %s and links every host function and WASI import an SDK may declare', async (marker, abi) => {
    const host = createFilterHost({ module: filterModule(marker), rootId: 'sdk-module' })
    expect(host.abi).toBe(abi)
    const stream = host.startStream({ method: 'GET', path: '/' })
    const result = await stream.onRequestHeaders({ a: 'b' })
    stream.finish()
    expect(result.action).toBe('continue')
    expect(host.stats.failures).toBe(0)
  })

  it('lists every unknown import in one error, whatever its module', () => {
    const module = filterModule('proxy_abi_version_0_2_1', [
      { module: 'env', name: 'proxy_not_in_the_abi', type: none },
      { module: 'weft_extra', name: 'verify', type: none },
    ])
    let caught: unknown
    try {
      createFilterHost({ module, rootId: 'x' })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(UnknownImportError)
    expect((caught as UnknownImportError).imports).toEqual(['env.proxy_not_in_the_abi', 'weft_extra.verify'])
    expect((caught as Error).message).toMatch(/env\.proxy_not_in_the_abi, weft_extra\.verify/)
  })
})

describe('start-up', () => {
  it('calls _initialize before creating any context (the module traps otherwise)', () => {
    const withoutInitialize = new WebAssembly.Module(
      assembleModule([], [
        { name: 'proxy_abi_version_0_2_0', type: none, body: [] },
        {
          name: 'proxy_on_context_create',
          type: ctxCreate,
          body: [...op.i32Const(0), ...op.i32Load, ...op.i32Eqz, ...op.ifEmpty, ...op.unreachable, ...op.end],
        },
      ]),
    )
    // The same check passes in filterModule (which exports _initialize) and traps here: a trap during start-up
    // is a load error, thrown at attach time, not a crash.
    expect(() => createFilterHost({ module: withoutInitialize, rootId: 'x' })).toThrow(FilterLoadError)
    expect(() => createFilterHost({ module: withoutInitialize, rootId: 'x' })).toThrow(/unreachable/)
  })
})
