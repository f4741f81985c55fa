// A tiny service for the walkthrough: answers with its name and the headers the mesh added.
import { createServer } from 'node:http'
const [name, port] = [process.argv[2], Number(process.argv[3])]
createServer((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ app: name, path: req.url, caller: req.headers['weft-source-principal'] ?? null, hello: req.headers['x-hello'] ?? null }))
}).listen(port, '127.0.0.1')
