#!/usr/bin/env node
import { BackplaneError } from '@backplane/core';
import { HELP, parseCommand } from './args.js';
import { UsageError } from './cli-error.js';
import { runDemo } from './demo.js';
import { startNodeServer } from './node-server.js';

/** Runs until SIGTERM/SIGINT, then closes gracefully and exits 0. */
function untilSignal(close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`backplane: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2));
  switch (command.name) {
    case 'help':
      process.stdout.write(HELP);
      return;
    case 'bench': {
      // The suite is the repository's `benchmarks` workspace: it brings socket.io, the broker launchers and
      // the peers, which an installed CLI should not carry. Loaded only when asked for.
      const specifier = '@backplane/benchmarks';
      const suite = (await import(specifier).catch(() => undefined)) as
        | { runBenchCommand(argv: readonly string[]): Promise<number> }
        | undefined;
      if (!suite)
        throw new UsageError(
          'backplane bench runs from a clone of the repository: npm install && npm run bench -- [--quick]',
        );
      process.exitCode = await suite.runBenchCommand(command.args);
      return;
    }
    case 'serve': {
      if (!command.options.tokenSecret && !command.options.jwtSecret)
        process.stderr.write(
          'backplane: no --token-secret: connection tokens are signed with a random secret of this process; give every node the same --token-secret (or BACKPLANE_TOKEN_SECRET) when a client may negotiate on one node and connect to another\n',
        );
      const node = await startNodeServer(command.options);
      untilSignal(() => node.close()); // before the ready line: whoever reads it may signal at once
      process.stdout.write(`listening on ${node.url}\n`);
      return;
    }
    case 'demo': {
      let close = async () => {};
      untilSignal(() => close());
      const demo = await runDemo(command.options);
      close = () => demo.close();
      return;
    }
  }
}

main().catch((error: unknown) => {
  // One clear line, never a stack trace: bad flags and an unreachable broker exit 2.
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  process.stderr.write(`backplane: ${message}${cause}\n`);
  process.exit(error instanceof UsageError || error instanceof BackplaneError ? 2 : 1);
});
