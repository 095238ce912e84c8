import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/db/embedded.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `wagate start --sandbox` running in a child process, as `npm start` runs it. */
export interface SandboxProcess {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The demo tenant's key, as printed at start. */
  readonly tenantKey: string;
  readonly adminKey: string;
  /** Everything the process printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the sandbox with its own data directory (embedded PostgreSQL inside)
 * and a real port (the simulator posts statuses back to it), and waits for
 * the lines it prints at start. `extraEnv` adds to its environment.
 */
/**
 * How long a sandbox may take to start: a fresh data directory runs initdb
 * and every migration, which takes seconds on an idle machine and has taken
 * more than a minute and a half with both cores busy.
 */
export const SANDBOX_START_MS = 180_000;
/** A beforeAll that starts a sandbox, with room for the rest of its set-up. */
export const SANDBOX_START_HOOK_MS = SANDBOX_START_MS + 60_000;

export async function startSandboxProcess(timeoutMs = SANDBOX_START_MS, extraEnv: Record<string, string> = {}): Promise<SandboxProcess> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-sandbox-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, WAGATE_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...extraEnv };
  // The sandbox's own embedded database and the demo agent, whatever the test run was given.
  delete env.DATABASE_URL;
  delete env.OPENAI_API_KEY;
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'bin/wagate.mjs'), 'start', '--sandbox'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const started = Date.now();
    for (;;) {
      const tenant = /sign in with the demo tenant key: (wgk_\S+)/.exec(out);
      const admin = /admin key[^:]*: (wgk_\S+)/.exec(out);
      if (tenant && admin) {
        return { url: `http://127.0.0.1:${port}`, tenantKey: tenant[1], adminKey: admin[1], output: () => out, stop };
      }
      if (child.exitCode !== null) throw new Error(`the sandbox exited with ${child.exitCode}:\n${out}`);
      if (Date.now() - started > timeoutMs) throw new Error(`the sandbox did not start within ${timeoutMs} ms:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
