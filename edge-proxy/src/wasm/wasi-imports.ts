import { WasiErrno } from './abi'
import type { GuestMemory } from './guest-memory'
import { msToNanos } from './nanos'
import { GuestExit } from './wasm-errors'
import type { FilterLogger } from './filter-logger'

export const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'] as const

export type WasiDeps = {
  memory: () => GuestMemory
  logger: FilterLogger
  /** Wall clock in milliseconds since the epoch (injected so tests can pin it). */
  now: () => number
}

// wasi_snapshot_preview1 has no filesystem or sockets here: each of these answers NOSYS so a module that
// imports it (wasi-libc links many) loads, and one that calls it gets an error it can handle.
const NOSYS = [
  'clock_res_get', 'fd_advise', 'fd_allocate', 'fd_datasync', 'fd_fdstat_set_flags', 'fd_fdstat_set_rights',
  'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread', 'fd_pwrite', 'fd_readdir',
  'fd_renumber', 'fd_seek', 'fd_sync', 'fd_tell', 'path_create_directory', 'path_filestat_get',
  'path_filestat_set_times', 'path_link', 'path_open', 'path_readlink', 'path_remove_directory', 'path_rename',
  'path_symlink', 'path_unlink_file', 'proc_raise', 'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown',
] as const

const STDIO = new Set([0, 1, 2])
// crypto.getRandomValues refuses more than 65536 bytes per call (Web Crypto spec).
const RANDOM_CHUNK = 65_536
// A process-relative monotonic origin: performance.now() exists in Node and Workers.
const monotonicNanos = (): bigint => msToNanos(performance.now())

/**
 * The WASI functions SDKs need (spec "Logging", "Clocks", "Randomness", "Environment variables", "Unimplemented
 * WASI functions"), shaped for what standard Go (`GOOS=wasip1`) calls as well as Rust and C++ SDKs.
 */
export function createWasiImports(deps: WasiDeps): Record<string, (...args: never[]) => unknown> {
  const stdoutLine: string[] = []
  const stderrLine: string[] = []
  const decoder = new TextDecoder()

  function fdWrite(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number {
    if (fd !== 1 && fd !== 2) return WasiErrno.BADF
    const mem = deps.memory()
    if (!mem.inBounds(iovs, iovsLen * 8) || !mem.inBounds(nwrittenPtr, 4)) return WasiErrno.FAULT
    let written = 0
    let text = ''
    for (let i = 0; i < iovsLen; i++) {
      const ptr = mem.u32(iovs + i * 8)
      const len = mem.u32(iovs + i * 8 + 4)
      if (!mem.inBounds(ptr, len)) return WasiErrno.FAULT
      text += decoder.decode(mem.bytes.subarray(ptr, ptr + len), { stream: true })
      written += len
    }
    // Go and libc write a line in several pieces: log whole lines so one message is one record.
    const pending = fd === 1 ? stdoutLine : stderrLine
    const lines = (pending.join('') + text).split('\n')
    pending.length = 0
    pending.push(lines.pop() ?? '')
    for (const line of lines) {
      if (fd === 1) deps.logger.info({ fd }, line)
      else deps.logger.error({ fd }, line)
    }
    mem.setU32(nwrittenPtr, written)
    return WasiErrno.SUCCESS
  }

  function clockTimeGet(clockId: number, _precision: bigint, resultPtr: number): number {
    const mem = deps.memory()
    if (!mem.inBounds(resultPtr, 8)) return WasiErrno.FAULT
    // 0 REALTIME, 1 MONOTONIC; 2 and 3 are CPU-time clocks, which a proxy shares between requests: answer
    // with the monotonic clock rather than NOTSUP, because Go's runtime aborts on an error here.
    if (clockId === 0) mem.setU64(resultPtr, msToNanos(deps.now()))
    else if (clockId >= 1 && clockId <= 3) mem.setU64(resultPtr, monotonicNanos())
    else return WasiErrno.INVAL
    return WasiErrno.SUCCESS
  }

  function randomGet(ptr: number, len: number): number {
    const mem = deps.memory()
    if (!mem.inBounds(ptr, len)) return WasiErrno.FAULT
    for (let off = 0; off < len; off += RANDOM_CHUNK) {
      crypto.getRandomValues(mem.bytes.subarray(ptr + off, ptr + Math.min(len, off + RANDOM_CHUNK)))
    }
    return WasiErrno.SUCCESS
  }

  function zeroCounts(countPtr: number, sizePtr: number): number {
    const mem = deps.memory()
    if (!mem.inBounds(countPtr, 4) || !mem.inBounds(sizePtr, 4)) return WasiErrno.FAULT
    mem.setU32(countPtr, 0)
    mem.setU32(sizePtr, 0)
    return WasiErrno.SUCCESS
  }

  /**
   * Go's scheduler sleeps through poll_oneoff. A proxy cannot block its thread, so every subscription fires at
   * once: clock subscriptions as expired, fd subscriptions as ready with 0 bytes. Layouts from the WASI
   * preview1 witx: subscription 48 bytes (userdata u64 @0, tag u8 @8), event 32 bytes (userdata @0,
   * error u16 @8, type u8 @10).
   */
  function pollOneoff(inPtr: number, outPtr: number, nsubscriptions: number, neventsPtr: number): number {
    const mem = deps.memory()
    if (nsubscriptions === 0) return WasiErrno.INVAL
    if (!mem.inBounds(inPtr, nsubscriptions * 48) || !mem.inBounds(outPtr, nsubscriptions * 32)) {
      return WasiErrno.FAULT
    }
    if (!mem.inBounds(neventsPtr, 4)) return WasiErrno.FAULT
    const view = mem.view
    for (let i = 0; i < nsubscriptions; i++) {
      const sub = inPtr + i * 48
      const ev = outPtr + i * 32
      mem.bytes.fill(0, ev, ev + 32)
      view.setBigUint64(ev, view.getBigUint64(sub, true), true)
      view.setUint8(ev + 10, view.getUint8(sub + 8))
    }
    mem.setU32(neventsPtr, nsubscriptions)
    return WasiErrno.SUCCESS
  }

  function fdFdstatGet(fd: number, ptr: number): number {
    if (!STDIO.has(fd)) return WasiErrno.BADF
    const mem = deps.memory()
    if (!mem.inBounds(ptr, 24)) return WasiErrno.FAULT
    mem.bytes.fill(0, ptr, ptr + 24)
    mem.view.setUint8(ptr, 2) // filetype CHARACTER_DEVICE
    // fd_write right (bit 6) on stdout/stderr, fd_read (bit 1) on stdin.
    mem.setU64(ptr + 8, fd === 0 ? 2n : 64n)
    return WasiErrno.SUCCESS
  }

  const wasi: Record<string, (...args: never[]) => unknown> = {
    fd_write: fdWrite,
    fd_read: () => WasiErrno.BADF,
    fd_close: (fd: number) => (STDIO.has(fd) ? WasiErrno.SUCCESS : WasiErrno.BADF),
    fd_fdstat_get: fdFdstatGet,
    // No preopened directories: BADF ends wasi-libc's and Go's preopen scan (spec, DESIGN.md host notes).
    fd_prestat_get: () => WasiErrno.BADF,
    fd_prestat_dir_name: () => WasiErrno.BADF,
    clock_time_get: clockTimeGet,
    random_get: randomGet,
    environ_sizes_get: zeroCounts,
    environ_get: () => WasiErrno.SUCCESS,
    args_sizes_get: zeroCounts,
    args_get: () => WasiErrno.SUCCESS,
    poll_oneoff: pollOneoff,
    sched_yield: () => WasiErrno.SUCCESS,
    proc_exit: (code: number) => {
      throw new GuestExit(code)
    },
  }
  for (const name of NOSYS) wasi[name] = () => WasiErrno.NOSYS
  return wasi
}
