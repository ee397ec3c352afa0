import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../src/index.js';

describe('args', () => {
  it('args - serve defaults follow the command-line contract', () => {
    expect(parseCommand(['serve'], {})).toEqual({
      name: 'serve',
      options: {
        port: 5000,
        host: '127.0.0.1',
        driver: 'memory',
        url: undefined,
        prefix: 'backplane:',
        durable: false,
        replicas: undefined,
        outbox: true,
        jwtSecret: undefined,
        tokenSecret: undefined,
        nodeId: undefined,
        logLevel: undefined,
        logFormat: undefined,
      },
    });
  });

  it('args - every serve flag is read', () => {
    const command = parseCommand([
      'serve',
      '--port',
      '0',
      '--host',
      '0.0.0.0',
      '--driver',
      'redis',
      '--url',
      'redis://r:6379',
      '--prefix',
      'app:',
      '--durable',
      '--no-outbox',
      '--jwt-secret',
      'a-jwt-secret-of-at-least-32-bytes',
      '--token-secret',
      't',
      '--node-id',
      'n1',
      '--log-level',
      'debug',
      '--log-format',
      'json',
    ]);
    expect(command).toMatchObject({
      name: 'serve',
      options: {
        port: 0,
        host: '0.0.0.0',
        driver: 'redis',
        url: 'redis://r:6379',
        prefix: 'app:',
        durable: true,
        outbox: false,
        jwtSecret: 'a-jwt-secret-of-at-least-32-bytes',
        tokenSecret: 't',
        nodeId: 'n1',
        logLevel: 'debug',
        logFormat: 'json',
      },
    });
    expect(() => parseCommand(['serve', '--log-format', 'xml'], {})).toThrow(
      new UsageError("--log-format must be one of text, json (got 'xml')"),
    );
    expect(() => parseCommand(['serve'], { BACKPLANE_LOG_LEVEL: 'loud' })).toThrow(UsageError);
  });

  it('args - demo takes --nodes; help and bench are commands', () => {
    expect(parseCommand(['demo', '--nodes', '5'])).toMatchObject({ name: 'demo', options: { nodes: 5 } });
    expect(parseCommand([])).toEqual({ name: 'help' });
    expect(parseCommand(['--help'])).toEqual({ name: 'help' });
    expect(parseCommand(['serve', '-h'])).toEqual({ name: 'help' });
    expect(parseCommand(['bench', '--quick'])).toEqual({ name: 'bench', args: ['--quick'] });
  });

  it('args - --replicas sets the copies of the log on nats and kafka', () => {
    expect(parseCommand(['serve', '--driver', 'kafka', '--replicas', '3'], {})).toMatchObject({
      options: { driver: 'kafka', replicas: 3 },
    });
    expect(parseCommand(['serve', '--driver', 'nats'], { BACKPLANE_REPLICAS: '2' })).toMatchObject({
      options: { driver: 'nats', replicas: 2 },
    });
  });

  it('args - every flag can come from its BACKPLANE_ variable; the command line wins', () => {
    const env = {
      BACKPLANE_PORT: '6001',
      BACKPLANE_DRIVER: 'nats',
      BACKPLANE_URL: 'nats://n:4222',
      BACKPLANE_DURABLE: 'true',
      BACKPLANE_NO_OUTBOX: '1',
      BACKPLANE_JWT_SECRET: 'a-jwt-secret-from-the-environment!',
      BACKPLANE_TOKEN_SECRET: 'from-env',
      BACKPLANE_NODE_ID: 'env-node',
      BACKPLANE_NODES: '4',
    };
    expect(parseCommand(['serve', '--port', '7000'], env)).toMatchObject({
      options: {
        port: 7000,
        driver: 'nats',
        url: 'nats://n:4222',
        durable: true,
        outbox: false,
        jwtSecret: 'a-jwt-secret-from-the-environment!',
        tokenSecret: 'from-env',
        nodeId: 'env-node',
      },
    });
    expect(parseCommand(['demo'], env)).toMatchObject({ options: { nodes: 4 } });
    expect(parseCommand(['serve'], { BACKPLANE_DURABLE: 'off' })).toMatchObject({
      options: { durable: false },
    });
  });

  const badSecrets: Array<[string[], Record<string, string>, RegExp]> = [
    [['serve', '--jwt-secret', ''], {}, /--jwt-secret must not be empty/],
    [['serve'], { BACKPLANE_JWT_SECRET: '' }, /--jwt-secret must not be empty/],
    [['serve', '--token-secret', ''], {}, /--token-secret must not be empty/],
    [['serve'], { BACKPLANE_TOKEN_SECRET: '' }, /--token-secret must not be empty/],
    [['serve', '--jwt-secret', 'x'.repeat(31)], {}, /at least 32 bytes \(got 31\)/],
    [['serve'], { BACKPLANE_DURABLE: 'maybe' }, /BACKPLANE_DURABLE must be true or false/],
    [['serve', '--replicas', '3'], {}, /--replicas applies to the nats and kafka drivers/],
    [['serve', '--driver', 'nats', '--replicas', '0'], {}, /--replicas must be an integer from 1 to 5/],
  ];
  for (const [argv, env, message] of badSecrets) {
    it(`args - ${argv.join(' ')} ${JSON.stringify(env)} is a UsageError, never authentication off`, () => {
      expect(() => parseCommand(argv, env)).toThrow(message);
      expect(() => parseCommand(argv, env)).toThrow(UsageError);
    });
  }

  const bad: string[][] = [
    ['launch'],
    ['serve', '--port', 'abc'],
    ['serve', '--port', '70000'],
    ['serve', '--driver', 'mqtt'],
    ['serve', '--unknown'],
    ['serve', 'stray'],
    ['demo', '--nodes', '0'],
  ];
  for (const argv of bad) {
    it(`args - ${argv.join(' ')} is a UsageError`, () => {
      expect(() => parseCommand(argv, {})).toThrow(UsageError);
    });
  }
});
