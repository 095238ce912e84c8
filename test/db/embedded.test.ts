import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

describe('embedded PostgreSQL', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('starts cleanly on a data directory left by a gateway killed with SIGKILL', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-orphan-'));
    dirs.push(dir);
    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'test/support/embeddedChild.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line).url);
      });
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CREATE TABLE kept (v text)');
    await c.query("INSERT INTO kept VALUES ('before the kill')");
    await c.end();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The orphaned server still holds the data directory.
    const orphan = Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(() => process.kill(orphan, 0)).not.toThrow();

    const server = await startEmbeddedPostgres(dir);
    try {
      const c2 = new pg.Client({ connectionString: server.url });
      await c2.connect();
      const { rows } = await c2.query('SELECT v FROM kept');
      await c2.end();
      expect(rows).toEqual([{ v: 'before the kill' }]);
      expect(() => process.kill(orphan, 0)).toThrow();
    } finally {
      await server.stop();
    }
  });

  it('leaves the process signals to the gateway: no exit hooks of its own', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-hooks-'));
    dirs.push(dir);
    const before = process.listenerCount('SIGTERM');
    const server = await startEmbeddedPostgres(dir);
    await server.stop();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});
