import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, parseBenchArgs } from './args.js';
import { runBenchmarks } from './run.js';
import { writeResults } from './write-results.js';

/**
 * `backplane bench` / `npm run bench`: parses flags, runs the suite, writes results. Returns the exit code:
 * 0 done, 2 bad flags, 1 the run failed (a broker could not start, …).
 */
export async function runBenchCommand(
  argv: readonly string[],
  repoRoot = fileURLToPath(new URL('../../', import.meta.url)), // benchmarks/dist/ → the repository
): Promise<number> {
  let args: ReturnType<typeof parseBenchArgs>;
  try {
    args = parseBenchArgs(argv);
  } catch (error) {
    process.stderr.write(`backplane bench: ${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  try {
    const results = await runBenchmarks({
      mode: args.mode,
      ...(args.drivers && { drivers: args.drivers }),
      ...(args.scenarios && { scenarios: args.scenarios }),
    });
    const written = writeResults(results, {
      resultsDir: args.resultsDir ?? join(repoRoot, 'benchmarks', 'results'),
      ...(args.docsFile !== false && { docsFile: args.docsFile ?? join(repoRoot, 'docs', 'benchmarks.md') }),
    });
    process.stderr.write(`wrote ${written.map((p) => relative(process.cwd(), p)).join(', ')}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`backplane bench: ${(error as Error).message}\n`);
    return 1;
  }
}
