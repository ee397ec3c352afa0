import { parseArgs } from 'node:util';
import { DRIVERS, type DriverName } from './brokers.js';
import { type Mode, SCENARIOS, type ScenarioName } from './presets.js';

export const HELP = `Usage: backplane bench [--quick | --smoke] [--drivers memory,redis,nats,kafka]
                       [--only efficiency,broadcast,latency,groups,connections,recovery,cost,presence]
                       [--results <dir>] [--docs <file.md> | --no-docs]

Runs the benchmark suite against brokers it starts itself (redis-server, nats-server, Kafka), writes the
JSON results to --results (default benchmarks/results) and regenerates --docs (default docs/benchmarks.md)
with its SVG charts. --quick: every scenario, smaller (under 10 minutes). --smoke: a few seconds, proves
the suite runs.`;

export interface BenchArgs {
  mode: Mode;
  drivers: DriverName[] | undefined;
  scenarios: ScenarioName[] | undefined;
  resultsDir: string | undefined;
  docsFile: string | undefined | false;
  help: boolean;
}

/** Parses `backplane bench` flags; throws an Error with a one-line message on bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      smoke: { type: 'boolean' },
      drivers: { type: 'string' },
      only: { type: 'string' },
      results: { type: 'string' },
      docs: { type: 'string' },
      'no-docs': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.quick && values.smoke) throw new Error('--quick and --smoke exclude each other');
  return {
    mode: values.smoke ? 'smoke' : values.quick ? 'quick' : 'full',
    drivers: list(values.drivers, DRIVERS, '--drivers'),
    scenarios: list(values.only, SCENARIOS, '--only'),
    resultsDir: values.results,
    docsFile: values['no-docs'] ? false : values.docs,
    help: values.help ?? false,
  };
}

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items)
    if (!allowed.includes(item as T))
      throw new Error(`${flag}: unknown '${item}' (expected ${allowed.join(', ')})`);
  if (items.length === 0) throw new Error(`${flag} needs at least one of ${allowed.join(', ')}`);
  return items as T[];
}
