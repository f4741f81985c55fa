// Where the Node sidecar's access lines go by default: stdout, buffered. One synchronous write per request
// cost a hop about a tenth of its CPU (bench/proxy.bench.ts), so lines are written 32 KiB at a time and at
// least every second, as Envoy's file access log does (`access_log_flush_interval`, 1 s).
// Not sonic-boom (pino's destination), which measured each write's byte length against the whole pending
// buffer — re-flattening and re-scanning up to 64 KiB of text per line (≈ 4 µs per request under perf).
// Lines are copied into an off-heap Buffer as they come and the full Buffer is handed to the stream (Node's
// stdout handles pipes, files, terminals and EAGAIN) once per flush. Holding up to a second's worth of line
// strings instead kept them alive through young-generation collections into the old generation; with the
// Buffer, bench/proxy/p99-probe.ts shows more but shorter pauses (longest 3.9–5.2 against 5.8–7.8 ms in its
// second rounds) — the hop's p99 itself did not move beyond this machine's noise.

export const ACCESS_LOG_BUFFER_BYTES = 32 * 1024
export const ACCESS_LOG_FLUSH_MS = 1_000

/** The part of a Writable the output uses: process.stdout by default. */
export type ByteSink = { write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean }

export type AccessLogOutput = {
  readonly stream: { write(line: string): void }
  /** Writes out what is buffered (resolves once the sink took it) and stops the flush timer; the sink stays open. */
  close(): Promise<void>
}

export function bufferedAccessLogOutput(sink: ByteSink = process.stdout, flushMs = ACCESS_LOG_FLUSH_MS, bufferBytes = ACCESS_LOG_BUFFER_BYTES): AccessLogOutput {
  let buffer = Buffer.allocUnsafe(bufferBytes)
  let used = 0
  const flush = (callback?: () => void) => {
    if (used === 0) return callback?.()
    // The sink may hold the bytes until the write completes: a fresh Buffer takes the next lines.
    const batch = buffer.subarray(0, used)
    buffer = Buffer.allocUnsafe(bufferBytes)
    used = 0
    sink.write(batch, callback)
  }
  const timer = setInterval(() => flush(), flushMs)
  timer.unref()
  return {
    stream: {
      write(line: string) {
        // UTF-8 needs at most 3 bytes per UTF-16 unit: with that much room the copy cannot be cut short.
        if (used + line.length * 3 > bufferBytes) {
          flush()
          if (line.length * 3 > bufferBytes) return void sink.write(Buffer.from(line))
        }
        used += buffer.write(line, used)
      },
    },
    async close() {
      clearInterval(timer)
      await new Promise<void>((resolve) => flush(resolve))
    },
  }
}
