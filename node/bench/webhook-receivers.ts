// Webhook receivers for `pnpm bench automation`: RECEIVERS plain node:http servers in this one process
// (apart from the node, so they do not take its event loop), each reading the body and answering 204.
// Prints the ports as one JSON line once all listen. GET /count answers the POSTs taken so far, so
// the bench can check that a baseline run reached them.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const count = Number(process.env.RECEIVERS ?? 4)
let received = 0
const servers: Server[] = []
for (let i = 0; i < count; i++) {
  const server = createServer((request, response) => {
    if (request.method === 'GET') {
      response.end(String(received))
      return
    }
    request.on('data', () => {})
    request.on('end', () => {
      received++
      response.statusCode = 204
      response.end()
    })
  })
  // Longer than a run's pauses, so connections kept alive by the senders stay open between runs.
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
}
console.log(JSON.stringify(servers.map((server) => (server.address() as AddressInfo).port)))
process.on('SIGTERM', () => {
  for (const server of servers) server.close()
  process.exit(0)
})
