// Where the Node sidecar's access lines go by default: stdout, buffered. One synchronous write per request
// cost a hop about a tenth of its CPU (bench/proxy.bench.ts), and a 4 KiB buffer still spent 3 % of it in
// write calls; so lines are written 32 KiB at a time and at least every second, as Envoy's file access log
// does (`access_log_flush_interval`, 1 s). pino's own destination (sonic-boom) does the buffering.
import { pino } from 'pino'

export const ACCESS_LOG_BUFFER_BYTES = 32 * 1024
export const ACCESS_LOG_FLUSH_MS = 1_000

export type AccessLogOutput = {
  readonly stream: pino.DestinationStream
  /** Writes out what is buffered and stops the flush timer; the descriptor itself stays open. */
  close(): Promise<void>
}

export function bufferedAccessLogOutput(fd = 1, flushMs = ACCESS_LOG_FLUSH_MS, bufferBytes = ACCESS_LOG_BUFFER_BYTES): AccessLogOutput {
  const out = pino.destination({ dest: fd, sync: false, minLength: bufferBytes, maxWrite: 2 * bufferBytes, periodicFlush: flushMs })
  return {
    stream: out,
    async close() {
      await new Promise<void>((resolve) => out.flush(() => resolve()))
      // end() stops the periodic flush; sonic-boom never closes fd 1 or 2.
      await new Promise<void>((resolve) => {
        out.once('close', () => resolve())
        out.end()
      })
    },
  }
}
