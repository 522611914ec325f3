#!/usr/bin/env node
// `pnpm start`: will start a relay on PGlite and two connected nodes ("Acme", "Globex") with sample data
// (issue 5: O'Chat on the node). Until then it says plainly what runs today, and starts nothing.
console.error(
  '`pnpm start` (a relay and two connected nodes with sample data) arrives with issue 5: nothing was started.\n',
)
console.error('What runs today, each on its own:')
console.error('  - a relay:  node relay/bin/ochat-relay.mjs serve            (PGlite in .data/relay)')
console.error('  - a node:   NODE_DATA_DIR=.data/acme node node/bin/ochat-node.mjs init --login admin')
console.error(
  '              NODE_DATA_DIR=.data/acme node node/bin/ochat-node.mjs serve   (http://127.0.0.1:8800)',
)
console.error('\nEvery test: `npx pnpm@10 test`; benchmarks: `npx pnpm@10 bench`. See README.md.')
process.exit(1)
