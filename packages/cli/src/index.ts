// Programmatic entry points of the `backplane` command (used by tests and the benchmarks)

// Command line
export type { Command, DriverName, ServeOptions } from './args.js';
export { DRIVERS, HELP, parseCommand } from './args.js';
export { UsageError } from './cli-error.js';

// Serving a node
export type { NodeServerOptions, RunningNode } from './node-server.js';
export { startNodeServer } from './node-server.js';
export { ChatHub } from './chat-hub.js';

// Demo
export type { Demo } from './demo.js';
export { runDemo } from './demo.js';
