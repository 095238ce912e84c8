import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import { cliWorkDir, errorLine, runCli, type CliResult } from './runCli.ts';

const BIN = fileURLToPath(new URL('../../bin/wagate.mjs', import.meta.url));

/** The variables `wagate start` requires outside sandbox mode, valid. */
const PRODUCTION = {
  WHATSAPP_APP_SECRET: 'app-secret',
  WHATSAPP_VERIFY_TOKEN: 'verify-token',
  WAGATE_ADMIN_KEY: 'admin-key-0123456789abcdefghijklmnop',
  WAGATE_SECRET_KEY: '0123456789abcdef'.repeat(4),
};

/** A start-up failure: exit code 1, one line on stderr, no stack trace. */
function expectOneLine(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(errorLine(r)).toMatch(pattern);
}

describe('wagate start: each start-up failure is one line naming the setting, exit 1', () => {
  let cwd: string;
  let scratch: string;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    scratch = await mkdtemp(path.join(tmpdir(), 'wagate-startfail-'));
    // Open like /tmp itself: as root, the embedded server's user must reach the data directories in it.
    await chmod(scratch, 0o755);
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('names PORT and HOST when the port is in use', async () => {
    const port = await freePort();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runCli(['start', '--sandbox'], { cwd, env: { PORT: String(port), WAGATE_DATA_DIR: path.join(scratch, 'port-in-use'), LOG_LEVEL: 'silent' } });
      expectOneLine(r, new RegExp(`^wagate: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use .*\\(set PORT, or HOST, to a free one\\)$`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('names DATABASE_URL when the database cannot be reached', async () => {
    const r = await runCli(['start'], { cwd, env: { ...PRODUCTION, PORT: '0', DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:1/none', LOG_LEVEL: 'silent' } });
    expectOneLine(r, /^wagate: cannot reach the database \(DATABASE_URL\): .*ECONNREFUSED.*\(check DATABASE_URL\)$/);
    expect(r.stderr).not.toContain('secret-pw');
  });

  it('names DATABASE_DIRECT_URL when prepared statements are off without it (a pooler needs it)', async () => {
    const r = await runCli(['start'], { cwd, env: { ...PRODUCTION, PORT: '0', DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:1/none', DATABASE_PREPARED_STATEMENTS: 'false', LOG_LEVEL: 'silent' } });
    expectOneLine(r, /^wagate: DATABASE_DIRECT_URL: required with DATABASE_PREPARED_STATEMENTS=false: LISTEN, the process lock and migrations need a URL that reaches PostgreSQL without the pooler$/);
  });

  it('names both URLs when one of them cannot be reached', async () => {
    const env = { ...PRODUCTION, PORT: '0', DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:1/none', DATABASE_DIRECT_URL: 'postgres://u:secret-pw@127.0.0.1:2/none', DATABASE_PREPARED_STATEMENTS: 'false', LOG_LEVEL: 'silent' };
    const r = await runCli(['start'], { cwd, env });
    // The migrations run first, over the direct URL: its address is the one refused.
    expectOneLine(r, /^wagate: cannot reach the database \(DATABASE_URL or DATABASE_DIRECT_URL\): .*ECONNREFUSED 127\.0\.0\.1:2.*\(check DATABASE_URL and DATABASE_DIRECT_URL\)$/);
    expect(r.stderr).not.toContain('secret-pw');
  });

  it('names WAGATE_DATA_DIR when the data directory cannot be written (sandbox)', async () => {
    const file = path.join(scratch, 'a-file');
    await writeFile(file, 'not a folder\n');
    const r = await runCli(['start', '--sandbox'], { cwd, env: { PORT: '0', WAGATE_DATA_DIR: path.join(file, 'data'), LOG_LEVEL: 'silent' } });
    expectOneLine(r, /^wagate: WAGATE_DATA_DIR .*a-file\/data is not writable \(ENOTDIR.*\): set WAGATE_DATA_DIR to a folder this user can write$/);
  });

  it('names WAGATE_DATA_DIR when the embedded PostgreSQL cannot have its data directory', async () => {
    const file = path.join(scratch, 'another-file');
    await writeFile(file, 'not a folder\n');
    const r = await runCli(['start'], { cwd, env: { ...PRODUCTION, PORT: '0', WAGATE_DATA_DIR: path.join(file, 'data'), LOG_LEVEL: 'silent' } });
    expectOneLine(r, /^wagate: WAGATE_DATA_DIR .*another-file\/data is not writable \(ENOTDIR\): set WAGATE_DATA_DIR to a folder this user can write$/);
  });

  it('reports every invalid variable at once, one line each', async () => {
    const r = await runCli(['start'], { cwd, env: { PORT: 'eighty', DB_POOL_MAX: '0', LOG_LEVEL: 'loud', WAGATE_ADMIN_KEY: 'short' } });
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      'wagate: PORT: must be a whole number (got "eighty")',
      'wagate: DB_POOL_MAX: must be between 1 and 1000 (got "0")',
      'wagate: WAGATE_ADMIN_KEY: must carry at least 128 bits: 32 characters or more, at least 8 of them different (openssl rand -hex 24)',
      expect.stringMatching(/^wagate: LOG_LEVEL: /),
      'wagate: WHATSAPP_APP_SECRET: required outside sandbox mode',
      'wagate: WHATSAPP_VERIFY_TOKEN: required outside sandbox mode',
      'wagate: WAGATE_SECRET_KEY: required outside sandbox mode',
    ]);
  });

  it('refuses a Node.js older than package.json engines before loading anything', async () => {
    const pkg = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')));
    const minimum = String(pkg.engines.node).replace(/^>=\s*/, '');
    const [major, minor] = minimum.split('.').map(Number);
    const older = minor > 0 ? `${major}.${minor - 1}.9` : `${major - 1}.99.0`;
    // The version the process reports is replaced before the entry point runs, as an old Node.js would report it.
    const fake = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'${older}'})`;
    const r = await new Promise<CliResult>((resolve) =>
      execFile(process.execPath, ['--import', fake, BIN, 'start', '--sandbox'], { cwd, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`wagate: Node.js ${minimum} or newer is required, this is ${older} (install a newer Node.js, e.g. from nodejs.org or your package manager)\n`);
  });
});
