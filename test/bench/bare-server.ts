// Baseline for the daemon bench: bare node:http answering a fixed JSON body of a given size.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

const size = Number(process.argv[2] ?? 300)
const body = JSON.stringify({pad: 'x'.repeat(Math.max(0, size - 10))})
const server = http.createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)})
    res.end(body)
  })
})
server.keepAliveTimeout = 65_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
