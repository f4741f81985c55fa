// A TCP relay in front of PostgreSQL that reads the frontend half of the wire protocol as it passes, so a
// test can count the statements a Worker (and its Durable Objects) really send: nothing lags or samples,
// unlike the server's statistics views.
import { connect, createServer, type Socket } from 'node:net'

export type Statement = { connection: number; sql: string; params: (string | null)[] }

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104

/** Splits one client's byte stream into messages; calls back with each statement it executes. */
function frontendParser(connection: number, onStatement: (s: Statement) => void) {
  let buffer = Buffer.alloc(0)
  let startup = true
  let parsed = '' // the SQL of the last Parse: extended-protocol statements are unnamed, bound right after
  const cstring = (b: Buffer, at: number) => {
    const end = b.indexOf(0, at)
    return { value: b.toString('utf8', at, end), next: end + 1 }
  }
  return (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      if (startup) {
        // Startup, SSLRequest and GSSENCRequest carry no type byte: length, then a code.
        if (buffer.length < 8) return
        const length = buffer.readInt32BE(0)
        if (buffer.length < length) return
        const code = buffer.readInt32BE(4)
        buffer = buffer.subarray(length)
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false
        continue
      }
      if (buffer.length < 5) return
      const length = buffer.readInt32BE(1)
      if (buffer.length < 1 + length) return
      const type = String.fromCharCode(buffer[0]!)
      const body = buffer.subarray(5, 1 + length)
      buffer = buffer.subarray(1 + length)
      if (type === 'Q') onStatement({ connection, sql: cstring(body, 0).value, params: [] })
      if (type === 'P') parsed = cstring(body, cstring(body, 0).next).value
      if (type === 'B') {
        // Bind: portal, statement, parameter format codes, then each parameter as length + bytes.
        let at = cstring(body, cstring(body, 0).next).next
        at += 2 + 2 * body.readInt16BE(at)
        const count = body.readInt16BE(at)
        at += 2
        const params: (string | null)[] = []
        for (let i = 0; i < count; i++) {
          const n = body.readInt32BE(at)
          at += 4
          params.push(n < 0 ? null : body.toString('utf8', at, at + n))
          if (n > 0) at += n
        }
        onStatement({ connection, sql: parsed, params })
      }
    }
  }
}

/** Listens on a free local port and relays to the server of `serverUrl`; `urlFor` rewrites a URL through it. */
export async function pgWireTap(serverUrl: string) {
  const target = new URL(serverUrl)
  const statements: Statement[] = []
  const sockets = new Set<Socket>()
  let connections = 0
  const live = new Set<number>()
  const server = createServer((client) => {
    const id = ++connections
    live.add(id)
    const upstream = connect(Number(target.port || 5432), target.hostname)
    sockets.add(client).add(upstream)
    const parse = frontendParser(id, (s) => statements.push(s))
    client.on('data', (chunk: Buffer) => {
      parse(chunk)
      upstream.write(chunk)
    })
    upstream.pipe(client)
    const drop = () => {
      live.delete(id)
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('close', drop).on('error', drop)
    upstream.on('close', drop).on('error', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    statements,
    /** Connections opened so far. */
    connections: () => connections,
    /** Connections open now. */
    open: () => live.size,
    urlFor(databaseUrl: string): string {
      const u = new URL(databaseUrl)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.toString()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
