import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('cli install', () => {
  it('cli - `npx backplane` runs from the repository root right after install and build', async () => {
    // npm links a workspace's bin at install time only if the file exists: the bin is a committed stub.
    const { stdout } = await run('npx', ['--no-install', 'backplane', '--help'], {
      cwd: ROOT,
      timeout: 30_000,
    });
    expect(stdout).toContain('Usage:');
    expect(stdout).toContain('backplane serve');
  });
});
