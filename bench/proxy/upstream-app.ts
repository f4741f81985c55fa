/**
 * The application behind every proxy: plain node:http, a fixed 1 KiB body for every request (a POST's
 * body is read to the end first). Run as its own process: `upstream-app.ts <port>`.
 */
import { createServer } from 'node:http'

export const BODY_BYTES = 1024
const body = Buffer.alloc(BODY_BYTES, 'w')
const port = Number(process.argv[2])

const server = createServer((req, res) => {
  const answer = () => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY_BYTES })
    res.end(body)
  }
  if (req.method === 'GET' || req.method === 'HEAD') return answer()
  req.on('data', () => {})
  req.on('end', answer)
})
// Proxies keep their upstream connections for a long time; Node's 5 s default would make them reconnect mid-run.
server.keepAliveTimeout = 120_000
server.headersTimeout = 121_000
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
