import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TEST_ADMIN_KEY, TEST_APP_SECRET, TEST_SECRET_KEY, TEST_VERIFY_TOKEN } from './gateway.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(ROOT, 'test/support/gatewayChild.ts');
const TAIL_LINES = 40;

/** A gateway running in a child process (test/support/gatewayChild.ts). */
export interface GatewayChild {
  /** http://127.0.0.1:<port> once listening. */
  readonly url: string;
  readonly pid: number;
  /** The child's lease id (empty with the `start` entry, which prints none). */
  readonly leaseOwner: string;
  readonly process: ChildProcess;
  /** Its exit code and signal, once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it wrote, for failure messages. */
  readonly tail: string[];
  /** Sends a signal (SIGKILL: a crash; SIGTERM: a shutdown). */
  kill(signal: NodeJS.Signals): void;
  /** Calls `fn` with every line it writes on stderr (its log) from now on; returns the unsubscribe. */
  watch(fn: (line: string) => void): () => void;
}

export interface GatewayChildOptions {
  /** DATABASE_URL; omitted, the child starts its embedded PostgreSQL (give WAGATE_DATA_DIR in `env`). */
  dbUrl?: string;
  /** The Cloud API base URL (the simulator's url + '/v25.0'). */
  whatsappApiUrl: string;
  /** The fake model's OpenAI base URL. */
  openaiBaseUrl: string;
  /** More environment: WAGATE_TEST_* knobs, PORT, WAGATE_SHUTDOWN_GRACE_MS … */
  env?: Record<string, string>;
  /** `start` runs `wagate start`'s own code (give a PORT); default: the test entry with its knobs. */
  entry?: 'test' | 'start';
  startTimeoutMs?: number;
}

/**
 * Starts a gateway child on the given database with the test secrets and
 * waits until it listens. The child is killed when the test process exits,
 * so a failing test never leaves one behind.
 */
export async function startGatewayChild(opts: GatewayChildOptions): Promise<GatewayChild> {
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    ...(opts.dbUrl ? { DATABASE_URL: opts.dbUrl } : {}),
    WHATSAPP_API_URL: opts.whatsappApiUrl,
    OPENAI_BASE_URL: opts.openaiBaseUrl,
    OPENAI_API_KEY: 'sk-test',
    WHATSAPP_APP_SECRET: TEST_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    WAGATE_ADMIN_KEY: TEST_ADMIN_KEY,
    WAGATE_SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...opts.env,
  };
  if (opts.entry === 'start') env.WAGATE_TEST_ENTRY = 'start';
  for (const k of ['PATH', 'HOME', 'TMPDIR']) if (process.env[k] !== undefined && env[k] === undefined) env[k] = process.env[k]!;
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolve({ code, signal });
    });
  });
  // Both pipes are always read, so a chatty child never blocks on a full pipe.
  const watchers = new Set<(line: string) => void>();
  createInterface({ input: child.stderr! }).on('line', (line) => {
    keep(line);
    for (const fn of watchers) fn(line);
  });
  const lines = createInterface({ input: child.stdout! });
  const fail = (why: string) => new Error(`gateway child did not start: ${why}\n  ${tail.slice(-15).join('\n  ')}`);
  const timeoutMs = opts.startTimeoutMs ?? 60_000;

  let started: { url: string; leaseOwner: string };
  if (opts.entry === 'start') {
    lines.on('line', keep);
    if (!env.PORT || env.PORT === '0') throw new Error('the start entry needs a PORT');
    const url = `http://127.0.0.1:${env.PORT}`;
    await waitReady(url + '/readyz', exited, timeoutMs, fail);
    started = { url, leaseOwner: '' };
  } else {
    started = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(fail(`no JSON line within ${timeoutMs} ms`)), timeoutMs);
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(fail(`exited (code ${code}, signal ${signal})`));
      });
      lines.on('line', (line) => {
        keep(line);
        if (!line.startsWith('{')) return;
        try {
          const v = JSON.parse(line) as { url: string; leaseOwner: string };
          clearTimeout(timer);
          resolve(v);
        } catch {
          /* not the line we wait for */
        }
      });
    });
  }
  return {
    url: started.url,
    leaseOwner: started.leaseOwner,
    pid: child.pid ?? -1,
    process: child,
    exited,
    tail,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    watch(fn) {
      watchers.add(fn);
      return () => watchers.delete(fn);
    },
  };
}

async function waitReady(
  url: string,
  exited: Promise<unknown>,
  timeoutMs: number,
  fail: (why: string) => Error,
): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw fail('exited');
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) throw fail(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP port free right now on 127.0.0.1 (for a child that must listen on a known port). */
export { freePort } from '../../src/db/embedded.ts';
