/**
 * A plain Node reverse proxy for comparison: node-http-proxy (the `http-proxy` package, pinned) with a
 * keep-alive agent to the app, nothing else. Run as its own process: `node-reverse-proxy.ts <listen port> <app port>`.
 */
import { Agent, createServer } from 'node:http'
import httpProxy from 'http-proxy'

const [listenPort, appPort] = process.argv.slice(2).map(Number) as [number, number]
const agent = new Agent({ keepAlive: true, maxSockets: 256 })
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${appPort}`, agent })
proxy.on('error', (err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502)
  res.end(String(err))
})
const server = createServer((req, res) => proxy.web(req, res))
server.keepAliveTimeout = 120_000
server.headersTimeout = 121_000
server.listen(listenPort, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
