import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A Kafka client's first connect (metadata, and kafkajs' consumer-group join) takes seconds on a busy
    // 2-core machine; the suite's cases each make fresh clients, so vitest's 5 s default is too tight.
    testTimeout: 30_000,
  },
});
