import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository's root folder (the benchmark runs its children from there). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A process the benchmark started and must stop. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** The last lines it wrote (stdout and stderr), for error messages. */
  readonly tail: string[];
  /** Calls `fn` with each line it writes to stdout; returns the unsubscribe. */
  onLine(fn: (line: string) => void): () => void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 30;

// Children still running: killed if the benchmark itself exits early (an
// error, Ctrl-C), so no gateway or fake server is left behind.
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/**
 * Starts a TypeScript entry point (through tsx) or a `.mjs` script with the
 * current Node.js, with exactly the environment given (plus PATH and HOME).
 */
export function spawnChild(name: string, script: string, args: string[], opts: { env?: Record<string, string>; nodeArgs?: string[] } = {}): Child {
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(script.endsWith('.ts') ? ['--import', 'tsx'] : [])];
  const env: Record<string, string> = { NODE_ENV: 'production', ...opts.env };
  for (const k of ['PATH', 'HOME', 'TMPDIR']) if (process.env[k] !== undefined && env[k] === undefined) env[k] = process.env[k]!;
  const child = spawn(process.execPath, [...nodeArgs, path.resolve(ROOT, script), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  const listeners = new Set<(line: string) => void>();
  // Both pipes are always read, so a chatty child never blocks on a full pipe.
  createInterface({ input: child.stderr! }).on('line', keep);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    keep(line);
    for (const fn of listeners) fn(line);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name,
    pid: child.pid ?? -1,
    process: child,
    tail,
    onLine(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Error raised when a child fails to start: says which and shows what it wrote. */
export class ChildStartError extends Error {
  readonly code = 'child_start_failed';
  constructor(child: Child, why: string) {
    super(`${child.name} did not start: ${why}${child.tail.length ? `\n  ${child.tail.slice(-10).join('\n  ')}` : ''}`);
    this.name = 'ChildStartError';
  }
}

/** Waits for the first line of stdout that parses as a JSON object. */
export function firstJsonLine<T>(child: Child, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.process.off('exit', onExit);
      off();
      fn();
    };
    const onExit = (code: number | null) => done(() => reject(new ChildStartError(child, `exited with code ${code}`)));
    const timer = setTimeout(() => done(() => reject(new ChildStartError(child, `no JSON line within ${timeoutMs} ms`))), timeoutMs);
    child.process.once('exit', onExit);
    const off = child.onLine((line) => {
      if (!line.startsWith('{')) return;
      try {
        const v = JSON.parse(line) as T;
        done(() => resolve(v));
      } catch {
        /* not the line we wait for */
      }
    });
  });
}

/** Polls `url` until it answers 200; fails if the child exits or time runs out. */
export async function waitUntilReady(child: Child, url: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) throw new ChildStartError(child, `exited with code ${child.process.exitCode ?? child.process.signalCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) throw new ChildStartError(child, `${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A process's resident memory now and at its peak (Linux's VmRSS and VmHWM),
 * in MiB; null where /proc is not available.
 */
export async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number } | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rss = kb('VmRSS');
    const peak = kb('VmHWM');
    if (!Number.isFinite(rss) || !Number.isFinite(peak)) return null;
    return { rssMb: rss / 1024, peakMb: peak / 1024 };
  } catch {
    return null;
  }
}

// Linux reports CPU time in clock ticks; 100 a second on every common configuration.
const TICKS_PER_SECOND = 100;

/** A process's parent and CPU ticks, from /proc/<pid>/stat; null when it is gone or /proc is missing. */
async function statOf(pid: number): Promise<{ ppid: number; own: number; children: number } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ": state, ppid, …, utime (12th), stime, cutime, cstime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { ppid: f[1], own: f[11] + f[12], children: f[13] + f[14] };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used since it started, in ms; null where /proc is not available. */
export async function cpuMsOf(pid: number): Promise<number | null> {
  const s = await statOf(pid);
  return s && Number.isFinite(s.own) ? (s.own * 1000) / TICKS_PER_SECOND : null;
}

/**
 * CPU time of a process and all its children, living or exited (a server
 * that forks a process per connection, as PostgreSQL does), in ms; null
 * where /proc is not available.
 */
export async function treeCpuMs(pid: number): Promise<number | null> {
  const root = await statOf(pid);
  if (!root) return null;
  // Exited children that were waited for are in the parent's cutime/cstime.
  let ticks = root.own + root.children;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return null;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = await statOf(Number(e));
    if (s && s.ppid === pid) ticks += s.own + s.children;
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** The postmaster's pid, from the first line of `postmaster.pid` in a PostgreSQL data folder. */
export async function postmasterPid(dataDir: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
