import { execFile, spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';

const isRoot = process.getuid?.() === 0;

/** postmaster.pid: line 5 is the socket folder, line 6 the TCP listen address. */
async function pidFileLines(dataDir: string): Promise<string[]> {
  return (await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n');
}

async function query<R extends object>(config: pg.ClientConfig | string, text: string): Promise<R[]> {
  const c = new pg.Client(typeof config === 'string' ? { connectionString: config } : config);
  await c.connect();
  try {
    return (await c.query<R>(text)).rows;
  } finally {
    await c.end();
  }
}

/** The error code a connection attempt fails with (null when it connects). */
async function refusal(config: pg.ClientConfig): Promise<string | null> {
  try {
    await query(config, 'SELECT 1');
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('the embedded PostgreSQL is closed to other local users', () => {
  let dir: string;
  let port: number;
  let server: EmbeddedServer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wagate-pgsec-'));
    port = await freePort();
    server = await startEmbeddedPostgres(dir, { port });
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the gateway a role that is not a superuser and owns its database', async () => {
    const [row] = await query<{ user: string; db: string; rolsuper: boolean; owner: string }>(
      server.url,
      `SELECT current_user AS user, current_database() AS db,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS rolsuper,
              (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS owner`,
    );
    expect(row).toEqual({ user: 'wagate', db: 'wagate', rolsuper: false, owner: 'wagate' });
    // What a superuser could do, the gateway's role cannot.
    await expect(query(server.url, "COPY (SELECT 1) TO PROGRAM 'true'")).rejects.toMatchObject({ code: '42501' });
  });

  it('refuses the old fixed superuser password', async () => {
    const socketDir = (await pidFileLines(dir))[4];
    expect(await refusal({ host: socketDir, port, user: 'postgres', password: 'wagate', database: 'postgres' })).toBe('28P01');
  });

  it('does not listen on TCP unless asked', async () => {
    expect((await pidFileLines(dir))[5]).toBe('');
    expect(await tcpOpen(port)).toBe(false);
  });

  it('keeps its socket in a folder of mode 0700 owned by the server, not in /tmp', async () => {
    const socketDir = (await pidFileLines(dir))[4];
    expect(socketDir).toBe(path.join(dir, 'postgres-socket'));
    const s = await stat(socketDir);
    expect(s.mode & 0o777).toBe(0o700);
    expect(s.uid).toBe((await stat(path.join(dir, 'postgres'))).uid);
  });

  it('keeps its passwords in a file of mode 0600', async () => {
    const file = path.join(dir, 'postgres-credentials.json');
    const s = await stat(file);
    expect(s.mode & 0o777).toBe(0o600);
    expect(s.uid).toBe(process.getuid!());
    const { superuser, password } = JSON.parse(await readFile(file, 'utf8'));
    expect(superuser).toMatch(/^[\w-]{24,}$/);
    expect(password).toMatch(/^[\w-]{24,}$/);
    expect(superuser).not.toBe(password);
    expect(decodeURIComponent(new URL(server.url).password)).toBe(password);
  });

  it.skipIf(!isRoot)('lets no unprivileged local user connect, even one who knows the password', async () => {
    const u = new URL(server.url);
    const socketDir = (await pidFileLines(dir))[4];
    const env = { PATH: process.env.PATH ?? '', PGPASSWORD: decodeURIComponent(u.password), PGCONNECT_TIMEOUT: '10' };
    const psql = (host: string) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile('runuser', ['-u', 'nobody', '--', 'psql', '-X', '-w', '-h', host, '-p', String(port), '-U', decodeURIComponent(u.username), '-d', 'postgres', '-c', 'SELECT 1'], { env, timeout: 30_000 }, (err, _out, stderr) =>
          resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stderr }),
        );
      });
    const viaSocket = await psql(socketDir);
    expect(viaSocket.code, viaSocket.stderr).not.toBe(0);
    expect(viaSocket.stderr).toMatch(/Permission denied/);
    const viaTcp = await psql('127.0.0.1');
    expect(viaTcp.code, viaTcp.stderr).not.toBe(0);
  });
});

describe('the embedded PostgreSQL on TCP, when asked', () => {
  it('listens on 127.0.0.1 for the gateway role only', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-pgtcp-'));
    const port = await freePort();
    const server = await startEmbeddedPostgres(dir, { port, tcp: true });
    try {
      const u = new URL(server.url);
      const password = decodeURIComponent(u.password);
      expect(await refusal({ host: '127.0.0.1', port, user: 'wagate', password, database: 'wagate' })).toBeNull();
      const su = new URL(server.superuserUrl);
      // The bootstrap superuser signs in only on the socket.
      expect(await refusal({ host: '127.0.0.1', port, user: 'postgres', password: decodeURIComponent(su.password), database: 'postgres' })).toBe('28000');
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a data directory made by an older wagate', () => {
  it('is upgraded on start: rows kept, moved to the database wagate, owned by the gateway role', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-pglegacy-'));
    let server: EmbeddedServer | null = null;
    try {
      const child = spawn(process.execPath, ['--import', 'tsx/esm', 'test/support/legacyEmbedded.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const code = await new Promise((r) => child.on('exit', r));
      expect(code).toBe(0);
      const { tenantId } = JSON.parse(out.trim().split('\n').at(-1)!);
      expect((await lstat(path.join(dir, 'postgres', 'PG_VERSION'))).isFile()).toBe(true);

      server = await startEmbeddedPostgres(dir);
      expect(await migrate(server.url)).toEqual([]);
      const rows = await query<{ id: string; name: string }>(server.url, 'SELECT id, name FROM tenants');
      expect(rows).toEqual([{ id: tenantId, name: 'Made before the upgrade' }]);
      const [who] = await query<{ user: string; rolsuper: boolean }>(server.url, 'SELECT current_user AS user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS rolsuper');
      expect(who).toEqual({ user: 'wagate', rolsuper: false });
      const owners = await query<{ owner: string }>(
        server.url,
        "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace",
      );
      expect(owners).toEqual([{ owner: 'wagate' }]);
      // The role can write where the superuser wrote, and the identity sequence follows.
      const [added] = await query<{ id: string }>(server.url, "INSERT INTO tenants (name) VALUES ('After the upgrade') RETURNING id");
      expect(BigInt(added.id)).toBeGreaterThan(BigInt(tenantId));
      // The database postgres is a fresh, empty one again; the old password no longer works.
      expect(await query(server.superuserUrl, "SELECT 1 FROM pg_class WHERE relname = 'tenants'")).toEqual([]);
      const socketDir = (await pidFileLines(dir))[4];
      expect(await refusal({ host: socketDir, port: server.port, user: 'postgres', password: 'wagate', database: 'postgres' })).toBe('28P01');
      // And the next start finds nothing left to upgrade.
      await server.stop();
      server = await startEmbeddedPostgres(dir);
      expect(await query(server.url, 'SELECT count(*)::int AS n FROM tenants')).toEqual([{ n: 2 }]);
    } finally {
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
