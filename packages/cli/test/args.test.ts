import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../src/index.js';

describe('args', () => {
  it('args - serve defaults follow the command-line contract', () => {
    expect(parseCommand(['serve'])).toEqual({
      name: 'serve',
      options: {
        port: 5000,
        host: '127.0.0.1',
        driver: 'memory',
        url: undefined,
        prefix: 'backplane:',
        durable: false,
        outbox: true,
        jwtSecret: undefined,
        tokenSecret: undefined,
        nodeId: undefined,
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
      'j',
      '--token-secret',
      't',
      '--node-id',
      'n1',
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
        jwtSecret: 'j',
        tokenSecret: 't',
        nodeId: 'n1',
      },
    });
  });

  it('args - demo takes --nodes; help and bench are commands', () => {
    expect(parseCommand(['demo', '--nodes', '5'])).toMatchObject({ name: 'demo', options: { nodes: 5 } });
    expect(parseCommand([])).toEqual({ name: 'help' });
    expect(parseCommand(['--help'])).toEqual({ name: 'help' });
    expect(parseCommand(['serve', '-h'])).toEqual({ name: 'help' });
    expect(parseCommand(['bench', '--quick'])).toEqual({ name: 'bench', args: ['--quick'] });
  });

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
      expect(() => parseCommand(argv)).toThrow(UsageError);
    });
  }
});
