import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/db/embedded.ts';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const OS_USER = 'postgres';

/** The bin folder of Debian's newest installed PostgreSQL server (package `postgresql`), or null. */
export function debianPostgresBin(): string | null {
  if (!existsSync(DEBIAN_ROOT)) return null;
  const versions = readdirSync(DEBIAN_ROOT)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(DEBIAN_ROOT, v, 'bin');
    if (['pg_ctl', 'initdb', 'postgres'].every((f) => existsSync(path.join(bin, f)))) return bin;
  }
  return null;
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(args[0] ?? file)} failed: ${String(stderr || stdout || err.message).trim()}`));
      else resolve(String(stdout));
    });
  });
}

/**
 * A PostgreSQL cluster of Debian's server binaries in a temporary folder,
 * listening on 127.0.0.1 at a free port: a server the gateway reaches only
 * through DATABASE_URL (or through PgBouncer), which a test can crash
 * (`pg_ctl stop -m immediate`) and start again. PostgreSQL refuses to run as root: as root,
 * it runs as the OS user `postgres` (the package creates it).
 */
export class DebianCluster {
  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    private readonly port: number,
    /** The gateway's URL: database `wagate`, as the cluster's superuser. */
    readonly url: string,
  ) {}

  static async create(bin: string): Promise<DebianCluster> {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-debian-pg-'));
    const password = randomBytes(12).toString('hex');
    await writeFile(path.join(dir, 'pw'), password + '\n', { mode: 0o600 });
    if (process.getuid?.() === 0) {
      const uid = Number((await run('id', ['-u', OS_USER])).trim());
      const gid = Number((await run('id', ['-g', OS_USER])).trim());
      await chown(dir, uid, gid);
      await chown(path.join(dir, 'pw'), uid, gid);
    }
    const port = await freePort();
    const cluster = new DebianCluster(bin, dir, port, `postgres://postgres:${password}@127.0.0.1:${port}/wagate`);
    await cluster.as('initdb', ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${path.join(dir, 'pw')}`, '--encoding=UTF8', '--no-sync']);
    await cluster.start();
    const admin = new pg.Client({ connectionString: cluster.url.replace(/\/wagate$/, '/postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE wagate');
    await admin.end();
    return cluster;
  }

  private as(tool: string, args: string[]): Promise<string> {
    const file = path.join(this.bin, tool);
    return process.getuid?.() === 0 ? run('runuser', ['-u', OS_USER, '--', file, ...args]) : run(file, args);
  }

  /** The cluster's data folder (postmaster.pid, for the server's CPU time). */
  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir}`;
    await this.as('pg_ctl', ['-D', path.join(this.dir, 'data'), '-l', path.join(this.dir, 'log'), '-o', opts, '-w', '-t', '60', 'start']);
  }

  /** A crash: every server process quits at once, without a checkpoint; the next start recovers from the WAL. */
  async crash(): Promise<void> {
    await this.as('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  /** Stops the server (if it runs) and removes the folder. */
  async destroy(): Promise<void> {
    await this.as('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', 'fast', '-w', 'stop']).catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}
