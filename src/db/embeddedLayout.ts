import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Where the embedded PostgreSQL's pieces live, and as whom it runs.
 *
 * - `<dataDir>/postgres`: the cluster (PGDATA), mode 0700, owned by the server's user.
 * - `<dataDir>/postgres-socket`: the server's Unix socket, in a folder of mode
 *   0700 owned by the server's user: no other local user can connect.
 * - `<dataDir>/postgres-credentials.json`: the passwords (mode 0600).
 *
 * PostgreSQL refuses to run as root: as root, the server runs as the OS user
 * `postgres` (created when missing). That user must be able to enter the
 * folders of the binaries and of the cluster; when it cannot (a checkout in
 * /root, mode 0700), the binaries are copied to `<systemDir>/postgres-<version>`
 * and the cluster (with its socket folder) is made in
 * `<systemDir>/clusters/<id>`, with `<dataDir>/postgres` a symbolic link to it.
 */
export interface EmbeddedLayout {
  /** The cluster's real path (PGDATA). */
  readonly clusterDir: string;
  /** The folder of the Unix socket. */
  readonly socketDir: string;
  /** True when socketDir is a temporary folder to remove at stop (the usual path was too long for a socket). */
  readonly socketDirTemporary: boolean;
  readonly credentialsFile: string;
  readonly bin: { readonly postgres: string; readonly initdb: string };
  /** The OS user the server runs as when this process is root; null otherwise (it runs as this process's user). */
  readonly user: { readonly uid: number; readonly gid: number } | null;
}

/** A start-up failure of the embedded PostgreSQL, with a message made for the operator (one line). */
export class EmbeddedPostgresError extends Error {
  readonly code = 'embedded_postgres';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

export const SERVER_USER = 'postgres';
/** Where relocated binaries and clusters go when WAGATE_EMBEDDED_PG_DIR is not set. */
export const DEFAULT_SYSTEM_DIR = '/var/lib/wagate';
const SOCKET_DIR = 'postgres-socket';
const CREDENTIALS_FILE = 'postgres-credentials.json';
// sun_path holds 108 bytes with the terminating zero; PostgreSQL names the socket `.s.PGSQL.<port>`.
const MAX_SOCKET_PATH = 107;

const exists = (p: string) => stat(p).then(() => true, () => false);
const isRoot = () => process.getuid?.() === 0;

function run(file: string, args: string[], opts: { uid?: number; gid?: number } = {}): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...opts, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } }, (err, stdout) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, stdout: String(stdout) });
    });
  });
}

/** The PostgreSQL binaries of the `embedded-postgres` package for this platform. */
export async function packagedBinaries(): Promise<{ postgres: string; initdb: string; version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod: { postgres: string; initdb: string };
  try {
    mod = (await import(name)) as { postgres: string; initdb: string };
  } catch (err) {
    throw new EmbeddedPostgresError(`the embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (${name} is not installed): set DATABASE_URL to use a PostgreSQL server`, { cause: err });
  }
  const pkg = JSON.parse(await readFile(path.resolve(path.dirname(mod.postgres), '../../package.json'), 'utf8')) as { version: string };
  return { postgres: mod.postgres, initdb: mod.initdb, version: pkg.version };
}

/** The uid and gid of the server's OS user, creating the user (a system user without a shell) when missing. */
async function serverUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => {
    const [u, g] = await Promise.all([run('id', ['-u', SERVER_USER]), run('id', ['-g', SERVER_USER])]);
    return u.code === 0 && g.code === 0 ? { uid: Number(u.stdout), gid: Number(g.stdout) } : null;
  };
  const found = await ids();
  if (found) return found;
  await run('groupadd', ['--system', SERVER_USER]);
  const made = await run('useradd', ['--system', '-g', SERVER_USER, '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SERVER_USER]);
  const after = await ids();
  if (!after) {
    throw new EmbeddedPostgresError(`running as root, the embedded PostgreSQL needs an OS user '${SERVER_USER}' and creating it failed (useradd exit ${made.code}): create it, or run wagate as another user`);
  }
  return after;
}

/** Whether `user` can reach `p` (every folder on the way searchable), checked by the kernel itself. */
async function canReach(user: { uid: number; gid: number }, p: string, test: '-x' | '-r' = '-x'): Promise<boolean> {
  return (await run('test', [test, p], user)).code === 0;
}

/**
 * Works out the layout for `dataDir`, creating the folders (and, as root,
 * relocating what the server's user cannot reach). `systemDir` is used only
 * for that relocation.
 */
export async function prepareLayout(dataDir: string, systemDir: string): Promise<EmbeddedLayout> {
  const root = path.resolve(dataDir);
  try {
    await mkdir(root, { recursive: true });
    // Probe: the data directory must be writable by this process (the credentials file lives there).
    const probe = path.join(root, `.wagate-write-test-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new EmbeddedPostgresError(`WAGATE_DATA_DIR ${root} is not writable (${e.code ?? e.message}): set WAGATE_DATA_DIR to a folder this user can write`, { cause: err });
  }
  const credentialsFile = path.join(root, CREDENTIALS_FILE);
  const packaged = await packagedBinaries();
  const link = path.join(root, 'postgres');

  if (!isRoot()) {
    const socket = await socketFolder(path.join(root, SOCKET_DIR), null);
    return { clusterDir: link, ...socket, credentialsFile, bin: packaged, user: null };
  }

  const user = await serverUser();
  let bin: EmbeddedLayout['bin'] = packaged;
  if (!(await canReach(user, packaged.postgres))) bin = await copyBinaries(packaged, systemDir, user);

  let clusterDir = link;
  const linkStat = await lstat(link).catch(() => null);
  if (linkStat?.isSymbolicLink()) {
    clusterDir = path.resolve(root, await readlink(link));
  } else if (!(await canReach(user, root))) {
    // The data directory itself is closed to others (a fresh mkdtemp, mode 0700), while
    // its parent is open: letting others search it (not list it) is enough, and reveals
    // nothing: the files in it are mode 0600 or in folders of mode 0700.
    if (await canReach(user, path.dirname(root))) {
      await chmod(root, ((await stat(root)).mode & 0o7777) | 0o001);
    } else if (linkStat) {
      throw new EmbeddedPostgresError(
        `the embedded PostgreSQL runs as the OS user '${SERVER_USER}', who cannot enter ${root} where its cluster is: move the folder ${link} to a place that user can reach and set WAGATE_DATA_DIR, or open the folders on the way to it`,
      );
    } else {
      clusterDir = await relocatedCluster(systemDir, user, link);
    }
  }
  const socketHome = clusterDir === link ? root : path.dirname(clusterDir);
  const socket = await socketFolder(path.join(socketHome, SOCKET_DIR), user);
  return { clusterDir, ...socket, credentialsFile, bin, user };
}

/** The socket folder (mode 0700, owned by the server's user), or a temporary one when its path is too long for a socket. */
async function socketFolder(dir: string, user: { uid: number; gid: number } | null): Promise<{ socketDir: string; socketDirTemporary: boolean }> {
  let socketDir = dir;
  let socketDirTemporary = false;
  if (Buffer.byteLength(path.join(dir, '.s.PGSQL.65535')) > MAX_SOCKET_PATH) {
    socketDir = await mkdtemp(path.join(tmpdir(), 'wagate-pg-'));
    socketDirTemporary = true;
  } else {
    await mkdir(socketDir, { recursive: true, mode: 0o700 });
  }
  if (user) await chown(socketDir, user.uid, user.gid);
  await chmod(socketDir, 0o700);
  return { socketDir, socketDirTemporary };
}

/** Makes `systemDir` (and its parents), leaving it enterable by the server's user. */
async function ensureSystemDir(systemDir: string, user: { uid: number; gid: number }): Promise<void> {
  const dir = path.resolve(systemDir);
  if (!(await exists(dir))) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(dir, 0o755);
  }
  if (!(await canReach(user, dir))) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL runs as the OS user '${SERVER_USER}', who can reach neither this checkout nor WAGATE_EMBEDDED_PG_DIR ${dir}: set WAGATE_EMBEDDED_PG_DIR to a folder that user can enter`,
    );
  }
}

/** Copies the server's binaries, libraries and shared files (not the static libraries) to `systemDir`, once per version. */
async function copyBinaries(packaged: { postgres: string; version: string }, systemDir: string, user: { uid: number; gid: number }): Promise<EmbeddedLayout['bin']> {
  await ensureSystemDir(systemDir, user);
  const native = path.resolve(path.dirname(packaged.postgres), '..');
  const dest = path.join(path.resolve(systemDir), `postgres-${packaged.version}-${process.platform}-${process.arch}`);
  const bin = { postgres: path.join(dest, 'bin', 'postgres'), initdb: path.join(dest, 'bin', 'initdb') };
  if (await exists(path.join(dest, '.complete'))) return bin;
  const tmp = `${dest}.partial-${randomBytes(4).toString('hex')}`;
  try {
    await cp(native, tmp, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !src.endsWith('.a') && path.basename(src) !== 'pkgconfig',
    });
    await writeFile(path.join(tmp, '.complete'), `${native}\n`);
    await rm(dest, { recursive: true, force: true });
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (await exists(path.join(dest, '.complete'))) return bin; // another process copied them meanwhile
    throw new EmbeddedPostgresError(`could not copy the embedded PostgreSQL's binaries to WAGATE_EMBEDDED_PG_DIR ${path.resolve(systemDir)}: ${(err as Error).message}`, { cause: err });
  }
  return bin;
}

/** A new cluster folder under `<systemDir>/clusters`, linked from `<dataDir>/postgres`. */
async function relocatedCluster(systemDir: string, user: { uid: number; gid: number }, link: string): Promise<string> {
  await ensureSystemDir(systemDir, user);
  const clusters = path.join(path.resolve(systemDir), 'clusters');
  await mkdir(clusters, { recursive: true, mode: 0o711 });
  const home = await mkdtemp(path.join(clusters, 'cluster-'));
  await chmod(home, 0o711);
  const clusterDir = path.join(home, 'postgres');
  await mkdir(clusterDir, { mode: 0o700 });
  await writeFile(path.join(home, 'README'), `The embedded PostgreSQL of wagate's data directory ${path.dirname(link)} (linked from ${link}).\n`);
  await symlink(clusterDir, link);
  return clusterDir;
}
