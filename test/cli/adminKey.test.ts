import { beforeAll, describe, expect, it } from 'vitest';
import { cliWorkDir, errorLine, runCli } from './runCli.ts';

// Each case runs its own child process; the key is refused before any database is opened.
describe.concurrent('wagate start: WAGATE_ADMIN_KEY must carry at least 128 bits', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await cliWorkDir();
  });

  it.each([
    ['20 characters', 'admin-key-0123456789'],
    ['31 hex characters', '0123456789abcdef0123456789abcde'],
    ['40 times one character', 'a'.repeat(40)],
    ['a short pattern repeated', 'abc123'.repeat(8)],
  ])('exits 1 with one line for %s', async (_what, key) => {
    const r = await runCli(['start'], {
      cwd,
      env: {
        WAGATE_ADMIN_KEY: key,
        WHATSAPP_APP_SECRET: 'app-secret',
        WHATSAPP_VERIFY_TOKEN: 'verify-token',
        WAGATE_SECRET_KEY: 'a'.repeat(64),
        // Nothing listens there: a key that passed would fail later, on another line.
        DATABASE_URL: 'postgres://127.0.0.1:9/none',
      },
    });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toMatch(/^wagate: WAGATE_ADMIN_KEY: must carry at least 128 bits: 32 characters or more/);
    expect(line).not.toContain(key);
  });
});
