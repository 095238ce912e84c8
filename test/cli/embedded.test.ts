import { spawn } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.ts';
import { sqlClient } from '../support/db.ts';
import { cliWorkDir, runCli } from './runCli.ts';

const STARTING = 'wagate: starting the embedded PostgreSQL';
const exists = (p: string) => access(p).then(() => true, () => false);

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('wagate provisioning commands on the embedded PostgreSQL (no DATABASE_URL)', () => {
  let cwd: string;
  let dataDir: string;
  let server: EmbeddedServer | null = null;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-cli-data-'));
  });
  afterAll(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const run = (...args: string[]) => runCli(args, { cwd, env: { WAGATE_DATA_DIR: dataDir } });
  const pidFile = () => path.join(dataDir, 'postgres', 'postmaster.pid');

  it('starts the embedded server for the command, migrates it, and stops it after', async () => {
    const r = await run('migrate');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^applied 001_schema\.sql\n/);
    expect(r.stderr).toContain(STARTING);
    expect(await exists(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    expect(await exists(pidFile())).toBe(false);
  });

  it('keeps what it created in the data directory from one command to the next', async () => {
    const first = await run('tenant', 'create', '--name', 'First');
    const second = await run('tenant', 'create', '--name', 'Second');
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(Number(JSON.parse(second.stdout).id)).toBeGreaterThan(Number(JSON.parse(first.stdout).id));
    expect(await exists(pidFile())).toBe(false);
  });

  it("uses the server a running gateway started on the data directory instead of starting a second one", async () => {
    server = await startEmbeddedPostgres(dataDir);
    const r = await run('tenant', 'create', '--name', 'While running');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(STARTING);
    const created = JSON.parse(r.stdout);
    // The running server still runs, and has the tenant.
    const c = await sqlClient(server.url);
    try {
      expect((await c.query('SELECT name FROM tenants WHERE id = $1', [created.id])).rows).toEqual([{ name: 'While running' }]);
    } finally {
      await c.end();
    }
    expect(await exists(pidFile())).toBe(true);
    await server.stop();
    server = null;
  });

  it('starts its own server when postmaster.pid was left by a killed process', async () => {
    expect(await exists(pidFile())).toBe(false);
    await writeFile(pidFile(), `${await deadPid()}\n${path.join(dataDir, 'postgres')}\n1700000000\n1\n/tmp\n127.0.0.1\n`);
    const r = await run('key', 'create', '--tenant', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(STARTING);
    expect(JSON.parse(r.stdout).key).toMatch(/^wgk_/);
  });
});
