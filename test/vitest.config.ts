import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every case here starts `backplane serve` processes (or the CLI) and brokers: seconds each on a busy
    // 2-core machine, so vitest's 5 s default is too tight for a case that starts several in a row.
    testTimeout: 60_000,
  },
});
