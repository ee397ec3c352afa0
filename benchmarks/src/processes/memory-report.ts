/** What a measured server process answers to `{ type: 'memory' }`: heap and RSS after two full collections. */
export async function memoryReport(): Promise<object> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  gc?.();
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
  return { type: 'memory', heapUsed, rss, external, arrayBuffers, gc: gc !== undefined };
}
