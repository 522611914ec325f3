// Baseline for `pnpm bench mail-in`: smtp-server as the node's listener configures it, reading every
// message to its end and answering 250 without parsing or storing it. Its own process, as the node is.
import { SMTPServer } from 'smtp-server'

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  size: 25_000_000,
  maxClients: 200,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => {})
    stream.on('end', () => callback(null, '2.0.0 discarded'))
  },
})
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'))
