import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('wagate start --sandbox: stdout carries JSON lines only', () => {
  let dataDir = '';
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('prints the banner (with the keys) on stderr, and on stdout only JSON log lines, an access line with the request id among them', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-output-'));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, WAGATE_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    delete env.OPENAI_API_KEY;
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/wagate.mjs'), 'start', '--sandbox'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (/admin key[^:]*: wgk_\S+/.test(stderr)) resolve();
        });
        void exited.then((code) => reject(new Error(`wagate start exited ${code} before it was ready:\n${stderr}\n${stdout}`)));
      });
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { 'x-request-id': 'start-output-probe' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe('start-output-probe');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);

    const tenantKey = /sign in with the demo tenant key: (wgk_\S+)/.exec(stderr)?.[1];
    const adminKey = /admin key[^:]*: (wgk_\S+)/.exec(stderr)?.[1];
    expect(tenantKey).toBeTruthy();
    expect(adminKey).toBeTruthy();
    const lines = stdout.split('\n').filter((l) => l.length > 0);
    const parsed = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`a line on stdout is not JSON: ${l}`);
      }
    });
    expect(parsed.find((l) => l.msg === 'wagate sandbox is running')).toMatchObject({ level: 30, url: `http://127.0.0.1:${port}` });
    expect(parsed.find((l) => l.msg === 'request' && l.reqId === 'start-output-probe')).toMatchObject({ path: '/readyz', status: 200 });
    // The keys are for the person at the terminal, not for the log collector.
    expect(stdout).not.toContain(tenantKey!);
    expect(stdout).not.toContain(adminKey!);
  }, 240_000);
});
