import { runBenchCommand } from './bench-command.js';

/** `npm run bench -- …` from the repository root. */
process.exitCode = await runBenchCommand(process.argv.slice(2));
