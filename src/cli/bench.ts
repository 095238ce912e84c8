import { bench } from '../../bench/main.ts';
import { BenchOptionsError } from '../../bench/options.ts';

/**
 * `wagate bench` (and `npm run bench`): the benchmark (docs/performance.md). A bad
 * option prints what is wrong and sets exit code 2; anything else that fails
 * is thrown to the caller.
 */
export async function runBench(args: string[]): Promise<void> {
  try {
    await bench(args);
  } catch (err) {
    if (!(err instanceof BenchOptionsError)) throw err;
    process.stderr.write(`wagate bench: ${err.message}\nRun "wagate bench --help" for the options.\n`);
    process.exitCode = 2;
  }
}
