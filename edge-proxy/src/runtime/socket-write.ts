// A message's head (and a body held whole) written straight to a socket's libuv handle, as net.Socket's
// Writable does at its end (Node's stream_base_commons: a WriteWrap, then writeLatin1String or writev).
// The Writable's own path per write — state, buffering while corked, the callback and the tick after it — cost
// the two writes of every proxied request (the response to the client, the request to the upstream) ≈ µs each.
//
// Order is what makes it safe: it is taken only when nothing of the socket's own is corked, buffered, in flight
// or queued in libuv; then the bytes go to libuv now, and anything written later (through here or the Writable)
// queues behind them in libuv's write queue. When the kernel does not take them all at once, libuv keeps the
// rest queued (`writeQueueSize`), so the next write goes through the Writable, whose backpressure ('drain')
// applies from there on: at most one head and one held body are ever outside the Writable's accounting.
import type { Socket } from 'node:net'
import { getSystemErrorName } from 'node:util'

type WriteReq = { handle: unknown; oncomplete: (this: WriteReq, status: number) => void; async: boolean; buffer: unknown; socket: Socket | null }
type StreamHandle = {
  writeQueueSize: number
  writeLatin1String(req: WriteReq, s: string): number
  writev(req: WriteReq, chunks: unknown[], allBuffers: boolean): number
}
type StreamWrap = { WriteWrap: new () => WriteReq; streamBaseState: Int32Array; kLastWriteWasAsync: number }

// Node's internal stream binding, the one net.Socket writes through; on process.binding's allow-list (no warning).
const { WriteWrap, streamBaseState, kLastWriteWasAsync } = (process as unknown as { binding(name: string): StreamWrap }).binding('stream_wrap')

/**
 * Bytes of the socket's writes that have left it: the handle's count of what was handed to libuv (writeMessage's
 * included; net.Socket's `bytesWritten` adds what its Writable still buffers) less what the Writable has not seen
 * completed. Grows while the peer reads; stands still while it does not.
 */
export function bytesSent(socket: Socket): number {
  return (socket.bytesWritten ?? 0) - socket.writableLength
}

/** Bytes written to the socket and not yet taken by the kernel: in its Writable, or queued in libuv. */
export function bytesWaiting(socket: Socket): number {
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle
  return socket.writableLength + (handle?.writeQueueSize ?? 0)
}

function errnoError(status: number): Error {
  const code = getSystemErrorName(status)
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' })
}

// Called by libuv only when the write did not complete at once: an error ends the socket, as the Writable's would.
function onComplete(this: WriteReq, status: number): void {
  const socket = this.socket
  this.socket = null
  this.buffer = null
  if (status < 0 && socket !== null && !socket.destroyed) socket.destroy(errnoError(status))
}

/**
 * Writes `head` (latin1) and then `body`, in one system call where the kernel takes them. Returns false only
 * when the socket's own buffer is full (wait for its 'drain'), as socket.write does.
 */
export function writeMessage(socket: Socket, head: string, body: Uint8Array | null): boolean {
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle
  if (handle === null || socket.writableLength > 0 || socket.writableCorked > 0 || socket.connecting || !socket.writable || handle.writeQueueSize > 0) {
    if (body === null) return socket.write(head, 'latin1')
    socket.cork()
    socket.write(head, 'latin1')
    const ok = socket.write(body)
    socket.uncork()
    return ok
  }
  const req = new WriteWrap()
  req.handle = handle
  req.oncomplete = onComplete
  req.async = false
  req.socket = socket
  const err = body === null ? handle.writeLatin1String(req, head) : handle.writev(req, [head, 'latin1', body, 'buffer'], false)
  if (err !== 0) {
    socket.destroy(errnoError(err))
    return false
  }
  // Still in flight: libuv holds what the kernel did not take (a string's bytes are copied; a body is not).
  if (streamBaseState[kLastWriteWasAsync] !== 0) req.buffer = body
  else req.socket = null
  return true
}
