import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/db/embedded.ts';

/** Where Debian's package `pgbouncer` puts the binary. */
const PGBOUNCER = '/usr/sbin/pgbouncer';
const OS_USER = 'postgres';

/** Debian's pgbouncer binary, or null when the package is not installed. */
export function pgbouncerBin(): string | null {
  return existsSync(PGBOUNCER) ? PGBOUNCER : null;
}

/**
 * The pgbouncer.ini that docs/deploy.md shows ("Behind a connection
 * pooler"): transaction pooling, passwords checked against a userlist,
 * `poolSize` server connections per database and user however many clients
 * connect. For the server URL's database, or with `allDatabases` for any
 * database of that server (`*`: the benchmark's runs each make one).
 */
export function pgbouncerIni(o: { server: URL; port: number; dir: string; poolSize: number; allDatabases?: boolean }): string {
  const db = o.server.pathname.slice(1);
  const entry = o.allDatabases ? `* = host=${o.server.hostname} port=${o.server.port}` : `${db} = host=${o.server.hostname} port=${o.server.port} dbname=${db}`;
  return `[databases]
${entry}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${o.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${path.join(o.dir, 'userlist.txt')}
admin_users = ${decodeURIComponent(o.server.username)}
pool_mode = transaction
default_pool_size = ${o.poolSize}
max_client_conn = 500
logfile = ${path.join(o.dir, 'pgbouncer.log')}
`;
}

/**
 * Debian's PgBouncer 1.18 in transaction mode in front of a PostgreSQL
 * server, on 127.0.0.1 at a free port, run in the foreground as a child of
 * the test or benchmark. PgBouncer refuses to run as root: as root it drops to the OS user
 * `postgres` (`-u`), which must read its folder.
 */
export class PgBouncer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** The pool's URL: the server's database and user, through PgBouncer. */
    readonly url: string,
    /** PgBouncer's admin console (SHOW POOLS …). */
    readonly adminUrl: string,
  ) {}

  /** Starts PgBouncer in front of `serverUrl` (postgres://user:password@host:port/db) and waits until it accepts logins. */
  static async start(bin: string, serverUrl: string, opts: { poolSize: number; allDatabases?: boolean }): Promise<PgBouncer> {
    const server = new URL(serverUrl);
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-pgbouncer-'));
    const port = await freePort();
    const user = decodeURIComponent(server.username);
    // A plain password in the userlist lets PgBouncer log in to the server with SCRAM too.
    await writeFile(path.join(dir, 'userlist.txt'), `"${user}" "${decodeURIComponent(server.password)}"\n`, { mode: 0o600 });
    await writeFile(path.join(dir, 'pgbouncer.ini'), pgbouncerIni({ server, port, dir, poolSize: opts.poolSize, allDatabases: opts.allDatabases }));
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const { uid, gid } = await osUser(OS_USER);
      for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(path.join(dir, f), uid, gid);
    }
    const child = spawn(bin, [...(asRoot ? ['-u', OS_USER] : []), path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    const through = new URL(serverUrl);
    through.host = `127.0.0.1:${port}`;
    const admin = new URL(through);
    admin.pathname = '/pgbouncer';
    const bouncer = new PgBouncer(child, dir, through.toString(), admin.toString());
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${stderr.trim()}`);
      const c = new pg.Client({ connectionString: bouncer.url });
      try {
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
        return bouncer;
      } catch (err) {
        await c.end().catch(() => {});
        if (Date.now() > until) {
          await bouncer.stop();
          throw new Error(`pgbouncer did not accept a login within 30 s: ${(err as Error).message} ${stderr.trim()}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** PgBouncer's process id (its CPU time is read from /proc). */
  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** The same database and user as `directUrl` (a database of the server behind), through PgBouncer. */
  through(directUrl: string): string {
    const u = new URL(directUrl);
    u.host = new URL(this.url).host;
    return u.toString();
  }

  /** SHOW POOLS for one database (default: the pool URL's): clients in, server connections out. */
  async pool(database = new URL(this.url).pathname.slice(1)): Promise<{ clients: number; servers: number }> {
    const c = new pg.Client({ connectionString: this.adminUrl });
    await c.connect();
    try {
      // The admin console speaks only the simple query protocol: no parameters.
      const { rows } = await c.query<Record<string, string>>('SHOW POOLS');
      const row = rows.find((r) => r.database === database);
      if (!row) return { clients: 0, servers: 0 };
      const n = (k: string) => Number(row[k] ?? 0);
      return { clients: n('cl_active') + n('cl_waiting'), servers: n('sv_active') + n('sv_idle') + n('sv_used') + n('sv_tested') + n('sv_login') };
    } finally {
      await c.end();
    }
  }

  /** Stops PgBouncer and removes its folder. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function osUser(name: string): Promise<{ uid: number; gid: number }> {
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) => {
      const p = spawn('id', [flag, name], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (d) => (out += String(d)));
      p.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`id ${flag} ${name} failed`))));
    });
  return { uid: await id('-u'), gid: await id('-g') };
}
