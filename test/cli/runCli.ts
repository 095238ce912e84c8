import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/wagate.mjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A working directory of its own: no .env, no ./data of the repository. */
export const cliWorkDir = () => mkdtemp(path.join(tmpdir(), 'wagate-cli-'));

/**
 * Runs the real `wagate` binary as a child process with only the given
 * variables (plus PATH and HOME), so nothing of the test's environment leaks in.
 */
export function runCli(args: string[], opts: { env?: Record<string, string>; cwd: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env }, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') return reject(err);
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The single line a failing command prints on stderr (the embedded server's start note aside). */
export function errorLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('wagate: starting the embedded PostgreSQL'));
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${JSON.stringify(r.stderr)}`);
  return lines[0];
}
