// The TypeScript loader for test processes (.taprc, node-arg), on the main thread only. `--import=tsx`
// itself would also run in every worker thread, which inherits the process's preloads: each node a test
// starts has a checkpoint thread (node/src/db/checkpointer.ts, plain JavaScript), and loading tsx there
// cost about 0.1 s of CPU per node, a sizeable part of the suite.
import { isMainThread } from 'node:worker_threads'

if (isMainThread) await import('tsx')
