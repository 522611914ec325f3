// What the relay and the node share as servers, apart from the wire: how they refuse requests and turn
// errors into answers, declare routes and build their API documents, read their configuration, and
// tell the time. It is a package of its own (`@ochat/shared-protocol/server`) so that both servers
// import one copy of it without importing each other, and it is kept out of the package's main entry
// so that a client of the protocol never pulls in Fastify's types.

export * from './clock.ts'
export * from './config.ts'
export * from './docs-viewer.ts'
export * from './errors.ts'
export * from './http-refusals.ts'
export * from './migrations.ts'
export * from './request-id.ts'
export * from './routes.ts'
