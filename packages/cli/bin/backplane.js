#!/usr/bin/env node
// The `backplane` command. A committed file (not the build output) so that npm links it at install time,
// before anything is built. In a clone of the repository it builds the CLI on first use; an installed
// @backplane/cli package ships it built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const repository = fileURLToPath(new URL('../../../', import.meta.url));
if (!existsSync(main) && existsSync(`${repository}turbo.json`)) {
  process.stderr.write('backplane: building the CLI and the packages it uses (first run only)…\n');
  const build = spawnSync(
    'npx',
    ['turbo', 'run', 'build', '--filter=@backplane/cli...', '--output-logs=errors-only'],
    {
      cwd: repository,
      stdio: ['ignore', 2, 2],
    },
  );
  if (build.status !== 0) {
    process.stderr.write('backplane: the build failed; run `npm run build` in the repository to see why.\n');
    process.exit(1);
  }
}
if (!existsSync(main)) {
  process.stderr.write('backplane: dist/main.js is missing; reinstall @backplane/cli.\n');
  process.exit(1);
}
await import(new URL('../dist/main.js', import.meta.url).href);
