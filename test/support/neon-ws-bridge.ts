// What Neon's wsproxy does, for tests: accepts WebSocket connections on /v1?address=HOST:PORT (the URL Neon's
// driver builds from neonConfig.wsProxy) and relays the PostgreSQL wire protocol, carried in binary frames,
// to a real PostgreSQL server over TCP. Every connection goes to the one server it was started with: the
// address the driver named is recorded, not dialled, so a test can give DATABASE_URL a host that does not
// exist and know that whatever reached the database came through here.
// Also runnable for local development (README, WEFT_NEON_WS_PROXY): npx tsx test/support/neon-ws-bridge.ts postgres://… [PORT]
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import { pathToFileURL } from 'node:url'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'

export type NeonWsBridge = Awaited<ReturnType<typeof neonWsBridge>>

/** A host no resolver knows (RFC 2606): a URL naming it can reach the database only through the bridge. */
export const BRIDGED_HOST = 'postgres.neon-bridge.invalid'

const bytesOf = (data: RawData): Buffer => (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer))

/** Listens on a loopback port (a free one unless given) and relays to the server of `serverUrl` (postgres://…). */
export async function neonWsBridge(serverUrl: string, port = 0) {
  const target = new URL(serverUrl)
  const addresses: string[] = []
  const open = new Set<{ ws: WebSocket; tcp: Socket }>()
  const bytes = { toServer: 0, toClient: 0 }

  const http = createServer((_req, res) => res.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket only\n'))
  const wss = new WebSocketServer({ noServer: true })
  http.on('upgrade', (req: IncomingMessage, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://bridge')
    const address = url.searchParams.get('address')
    if (url.pathname !== '/v1' || !address) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nexpected /v1?address=HOST:PORT\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => relay(ws, address))
  })

  function relay(ws: WebSocket, address: string): void {
    addresses.push(address)
    const tcp = connect(Number(target.port || 5432), target.hostname)
    const pair = { ws, tcp }
    open.add(pair)
    // Frames that arrive before the TCP connection is up are queued by the socket; order is kept.
    ws.on('message', (data) => {
      const chunk = bytesOf(data)
      bytes.toServer += chunk.length
      tcp.write(chunk)
    })
    tcp.on('data', (chunk: Buffer) => {
      bytes.toClient += chunk.length
      ws.send(chunk, { binary: true })
    })
    const drop = () => {
      if (!open.delete(pair)) return
      tcp.destroy()
      ws.close()
    }
    ws.on('close', drop).on('error', drop)
    tcp.on('close', drop).on('error', drop)
  }

  await new Promise<void>((resolve, reject) => http.once('error', reject).listen(port, '127.0.0.1', resolve))
  const bound = (http.address() as { port: number }).port
  return {
    /** WEFT_NEON_WS_PROXY for a control API that should go through this bridge. */
    proxyUrl: `ws://127.0.0.1:${bound}/v1`,
    /** The HOST:PORT each connection asked for, in order: one entry per WebSocket connection. */
    addresses,
    /** Bytes relayed each way: the proof that the wire protocol went through WebSockets. */
    bytes,
    /** Connections open now. */
    open: () => open.size,
    /** The URL of `databaseUrl`'s database with BRIDGED_HOST for its host: no driver reaches it but through a bridge. */
    bridgedUrl(databaseUrl: string): string {
      const u = new URL(databaseUrl)
      u.hostname = BRIDGED_HOST
      return u.toString()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const { ws, tcp } of open) {
          tcp.destroy()
          ws.terminate()
        }
        open.clear()
        wss.close()
        http.close(() => resolve())
      }),
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = process.argv[2] ?? process.env.DATABASE_URL
  if (!server?.startsWith('postgres')) {
    console.error('usage: npx tsx test/support/neon-ws-bridge.ts postgres://USER[:PASSWORD]@HOST:PORT/DB [LISTEN_PORT]')
    process.exit(64)
  }
  const bridge = await neonWsBridge(server, Number(process.argv[3] ?? 0))
  console.log(`relaying to ${new URL(server).host}; set WEFT_NEON_WS_PROXY=${bridge.proxyUrl}`)
  process.once('SIGINT', () => void bridge.close().then(() => process.exit(0)))
}
