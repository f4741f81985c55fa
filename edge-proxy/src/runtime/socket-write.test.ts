// writeMessage on real loopback sockets: bytes arrive whole and in order whichever path each write takes (the
// handle at once, or the socket's Writable when something of its own is corked, buffered or still queued).
import { once } from 'node:events'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { bytesSent, writeMessage } from './socket-write'

let server: Server | null = null
afterEach(() => server?.close())

/** A connected pair: the client socket written to, the server side read from (paused until asked). */
async function pair(): Promise<{ out: Socket; peer: Socket }> {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer((s) => {
      s.pause()
      resolve(s)
    })
  })
  server!.listen(0, '127.0.0.1')
  await once(server!, 'listening')
  const out = connect((server!.address() as { port: number }).port, '127.0.0.1')
  await once(out, 'connect')
  return { out, peer: await accepted }
}

function readAll(peer: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  return new Promise((resolve, reject) => {
    peer.on('data', (d: Buffer) => {
      chunks.push(d)
      got += d.length
      if (got >= bytes) resolve(Buffer.concat(chunks))
    })
    peer.on('error', reject)
    peer.resume()
  })
}

const queued = (s: Socket) => (s as unknown as { _handle: { writeQueueSize: number } })._handle.writeQueueSize

describe('writeMessage', () => {
  it('sends a head, a head with a body, and writes of the socket’s own in the order they were made', async () => {
    const { out, peer } = await pair()
    const body = Buffer.from('{"ok":true}')
    expect(writeMessage(out, 'HEAD-1\r\n\r\n', null)).toBe(true)
    expect(writeMessage(out, 'HEAD-2\r\n\r\n', body)).toBe(true)
    out.write('between')
    // The Writable may still hold 'between': this goes behind it, not ahead.
    writeMessage(out, 'HEAD-3\r\n\r\n', new Uint8Array([0x21]))
    out.cork()
    out.write('corked-')
    writeMessage(out, 'HEAD-4\r\n\r\n', body)
    out.uncork()
    const expected = `HEAD-1\r\n\r\nHEAD-2\r\n\r\n{"ok":true}betweenHEAD-3\r\n\r\n!corked-HEAD-4\r\n\r\n{"ok":true}`
    expect((await readAll(peer, expected.length)).toString('latin1')).toBe(expected)
    // Counted whichever way each write went.
    expect(bytesSent(out)).toBe(expected.length)
    out.destroy()
  })

  it('writes latin1 heads byte for byte', async () => {
    const { out, peer } = await pair()
    const head = 'x-name: caf\u00e9 \u00ff\r\n\r\n'
    writeMessage(out, head, null)
    expect([...(await readAll(peer, head.length))]).toEqual([...Buffer.from(head, 'latin1')])
    out.destroy()
  })

  it('keeps a body the kernel did not take queued, and what follows goes behind it through the Writable', async () => {
    const { out, peer } = await pair()
    // More than loopback's socket buffers hold while the peer does not read: libuv keeps the rest queued.
    const big = Buffer.alloc(16 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i)
    expect(writeMessage(out, 'BIG\r\n\r\n', big)).toBe(true)
    expect(queued(out)).toBeGreaterThan(0)
    // Taken by the Writable now (its own accounting and 'drain' apply), queued behind the big body in libuv.
    writeMessage(out, 'NEXT\r\n\r\n', Buffer.from('tail'))
    expect(out.writableLength).toBeGreaterThan(0)
    // Short of the whole while the peer reads nothing (the Writable's write waits), the whole after.
    const total = 7 + big.length + 12
    await new Promise((r) => setTimeout(r, 50))
    expect(bytesSent(out)).toBe(7 + big.length)
    const all = await readAll(peer, total)
    for (const end = Date.now() + 2_000; bytesSent(out) < total && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5))
    expect(bytesSent(out)).toBe(total)
    expect(all.subarray(0, 7).toString()).toBe('BIG\r\n\r\n')
    expect(all.subarray(7, 7 + big.length).equals(big)).toBe(true)
    expect(all.subarray(7 + big.length).toString()).toBe('NEXT\r\n\r\ntail')
    out.destroy()
  })

  it('ends the socket with the system error when the peer has reset the connection', async () => {
    const { out, peer } = await pair()
    // Not reading, so that the reset shows on a write (here) rather than on a read (the socket's own).
    ;(out as unknown as { _handle: { readStop(): number } })._handle.readStop()
    // events.once would reject on the 'error' this test waits for.
    const closed = new Promise((resolve) => out.on('close', resolve))
    const errors: (Error & { code?: string; syscall?: string })[] = []
    out.on('error', (e) => errors.push(e))
    peer.resetAndDestroy()
    await new Promise((r) => setTimeout(r, 50))
    // The first write may still be taken by the kernel; the reset shows on one of the next.
    for (let i = 0; i < 5 && !out.destroyed; i++) writeMessage(out, 'HEAD\r\n\r\n', Buffer.alloc(1024))
    await closed
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ syscall: 'write' })
    expect(errors[0]!.code).toMatch(/^(ECONNRESET|EPIPE)$/)
  })

  it('goes through the Writable before the socket has connected, and the bytes follow once it has', async () => {
    const { out: first, peer: _ } = await pair()
    first.destroy()
    const port = (server!.address() as { port: number }).port
    const accepted = once(server!, 'connection') as Promise<[Socket]>
    const out = connect(port, '127.0.0.1')
    expect(out.connecting).toBe(true)
    writeMessage(out, 'EARLY\r\n\r\n', Buffer.from('body'))
    const [peer] = await accepted
    expect((await readAll(peer, 13)).toString()).toBe('EARLY\r\n\r\nbody')
    out.destroy()
  })
})
