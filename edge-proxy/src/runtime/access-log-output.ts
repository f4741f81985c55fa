// Where the Node sidecar's access lines go by default: stdout, buffered. One synchronous write per request
// cost a hop about a tenth of its CPU (bench/proxy.bench.ts), so lines are written 32 KiB at a time and at
// least every second, as Envoy's file access log does (`access_log_flush_interval`, 1 s).
// Not sonic-boom (pino's destination), which measured each write's byte length against the whole pending
// buffer — re-flattening and re-scanning up to 64 KiB of text per line (≈ 4 µs per request under perf).
// Here a line is only pushed; the batch is joined and handed to the stream (Node's stdout handles pipes,
// files, terminals and EAGAIN) once per flush.

export const ACCESS_LOG_BUFFER_BYTES = 32 * 1024
export const ACCESS_LOG_FLUSH_MS = 1_000

/** The part of a Writable the output uses: process.stdout by default. */
export type TextSink = { write(text: string, callback?: (err?: Error | null) => void): boolean }

export type AccessLogOutput = {
  readonly stream: { write(line: string): void }
  /** Writes out what is buffered (resolves once the sink took it) and stops the flush timer; the sink stays open. */
  close(): Promise<void>
}

export function bufferedAccessLogOutput(sink: TextSink = process.stdout, flushMs = ACCESS_LOG_FLUSH_MS, bufferBytes = ACCESS_LOG_BUFFER_BYTES): AccessLogOutput {
  let lines: string[] = []
  // Characters, not bytes: a line is ASCII but for what a client sent in its path; the threshold is a batch size.
  let pending = 0
  const flush = (callback?: () => void) => {
    if (lines.length === 0) return callback?.()
    const batch = lines.join('')
    lines = []
    pending = 0
    sink.write(batch, callback)
  }
  const timer = setInterval(() => flush(), flushMs)
  timer.unref()
  return {
    stream: {
      write(line: string) {
        lines.push(line)
        pending += line.length
        if (pending >= bufferBytes) flush()
      },
    },
    async close() {
      clearInterval(timer)
      await new Promise<void>((resolve) => flush(resolve))
    },
  }
}
