import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { renderReport } from './report/markdown.js';
import type { BenchResults } from './run.js';

export interface WriteOptions {
  /** Directory of the JSON results (`latest.json` and one file per run). */
  resultsDir: string;
  /** The markdown page; its charts go to a directory named after it (`benchmarks.md` → `benchmarks/`). Absent: no page. */
  docsFile?: string;
}

/** Writes the JSON results and, when asked, the markdown page with its SVG charts. Returns the paths written. */
export function writeResults(results: BenchResults, options: WriteOptions): string[] {
  const written: string[] = [];
  mkdirSync(options.resultsDir, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const stamp = results.environment.date.replace(/[:.]/g, '-');
  for (const name of ['latest.json', `${stamp}-${results.mode}.json`]) {
    writeFileSync(join(options.resultsDir, name), json);
    written.push(join(options.resultsDir, name));
  }
  if (options.docsFile) {
    const chartDir = join(dirname(options.docsFile), basename(options.docsFile, '.md'));
    const { markdown, charts } = renderReport(results, relative(dirname(options.docsFile), chartDir));
    mkdirSync(chartDir, { recursive: true });
    for (const [name, svg] of Object.entries(charts)) {
      writeFileSync(join(chartDir, name), svg);
      written.push(join(chartDir, name));
    }
    writeFileSync(options.docsFile, markdown);
    written.push(options.docsFile);
  }
  return written;
}
