import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    main: 'src/main.ts',
    'processes/socketio-node': 'src/processes/socketio-node.ts',
    'processes/connection-node': 'src/processes/connection-node.ts',
    'processes/bare-ws-node': 'src/processes/bare-ws-node.ts',
    'processes/ws-clients': 'src/processes/ws-clients.ts',
    'hop-cost': 'src/hop-cost.ts',
  },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  clean: true,
  sourcemap: true,
  target: 'node20',
});
