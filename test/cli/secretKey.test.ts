import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt, keyId, storedKeyId } from '../../src/shared/secrets.ts';
import { sqlClient } from '../support/db.ts';
import { provisionTenant, startTestGateway, TEST_ADMIN_KEY, TEST_APP_SECRET, TEST_SECRET_KEY, TEST_VERIFY_TOKEN, type TestGateway } from '../support/gateway.ts';
import { cliWorkDir, errorLine, runCli } from './runCli.ts';

const OLD = Buffer.from(TEST_SECRET_KEY, 'hex');
const NEW = randomBytes(32);

/** The production start's environment on `dbUrl` with `secretKey`. */
const startEnv = (dbUrl: string, secretKey: string) => ({
  DATABASE_URL: dbUrl,
  WAGATE_SECRET_KEY: secretKey,
  WHATSAPP_APP_SECRET: TEST_APP_SECRET,
  WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
  WAGATE_ADMIN_KEY: TEST_ADMIN_KEY,
  PORT: '0',
  LOG_LEVEL: 'silent',
});

/** The channel's own webhook handshake: answers only if the gateway decrypts the channel's verify token. */
async function handshake(gw: TestGateway, channelId: string, token: string): Promise<number> {
  const q = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': '7' });
  return (await fetch(`${gw.url}/webhooks/whatsapp/${channelId}?${q}`)).status;
}

describe('a secret key that does not fit is refused at start', () => {
  let cwd: string;
  let dbUrl: string;
  let client: pg.Client;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    const gw = await startTestGateway();
    dbUrl = gw.dbUrl;
    await provisionTenant(gw);
    await gw.stop();
    client = await sqlClient(dbUrl);
  });
  afterAll(async () => {
    await client?.end();
  });

  it('wagate start with another WAGATE_SECRET_KEY exits 1 with one line naming it', async () => {
    const r = await runCli(['start'], { cwd, env: startEnv(dbUrl, randomBytes(32).toString('hex')) });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/^wagate: WAGATE_SECRET_KEY: does not decrypt this database's secrets \(encrypted with key [0-9a-f]{8}; /);
    expect(r.stdout).not.toMatch(/listening/);
  }, 150_000);

  it('a database from before the canary: the key is checked against a stored channel token, then the canary is written', async () => {
    await client.query('DELETE FROM secret_canary');
    const r = await runCli(['start'], { cwd, env: startEnv(dbUrl, randomBytes(32).toString('hex')) });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/^wagate: WAGATE_SECRET_KEY: does not decrypt the stored channel tokens/);
    expect((await client.query('SELECT 1 FROM secret_canary')).rowCount).toBe(0);
    const gw = await startTestGateway({ dbUrl });
    await gw.stop();
    const [row] = (await client.query('SELECT value_enc FROM secret_canary')).rows;
    expect(storedKeyId(row.value_enc)).toBe(keyId(OLD));
  }, 150_000);
});

describe('wagate secret-key rotate', () => {
  let cwd: string;
  let client: pg.Client;
  let oldOnly: TestGateway;
  let both: TestGateway | null = null;
  let a: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    oldOnly = await startTestGateway();
    client = await sqlClient(oldOnly.dbUrl);
    a = await provisionTenant(oldOnly, { agent: { provider: 'openai', apiKey: 'sk-old-tenant' }, channel: { appSecret: 'a-app-secret', verifyToken: 'a-verify' } });
    await oldOnly.stop();
  });
  afterAll(async () => {
    await both?.stop();
    await client?.end();
  });

  const allSecrets = async (): Promise<string[]> => {
    const ch = (await client.query('SELECT access_token_enc, app_secret_enc, verify_token_enc FROM channels')).rows.flatMap((r) => Object.values(r));
    const t = (await client.query('SELECT agent_secrets FROM tenants')).rows.flatMap((r) => Object.values(r.agent_secrets));
    const c = (await client.query('SELECT value_enc FROM secret_canary')).rows.map((r) => r.value_enc);
    return [...ch, ...t, ...c].filter((v): v is string => typeof v === 'string');
  };

  it('a gateway with the new key and the old one as WAGATE_SECRET_KEY_PREVIOUS reads secrets under either key', async () => {
    both = await startTestGateway({ dbUrl: oldOnly.dbUrl, env: { WAGATE_SECRET_KEY: NEW.toString('hex'), WAGATE_SECRET_KEY_PREVIOUS: TEST_SECRET_KEY } });
    const b = await provisionTenant(both, { agent: { provider: 'openai', apiKey: 'sk-new-tenant' }, channel: { appSecret: 'b-app-secret', verifyToken: 'b-verify' } });
    const ids = new Set((await allSecrets()).map(storedKeyId));
    expect(ids).toEqual(new Set([keyId(OLD), keyId(NEW)]));
    expect(await handshake(both, a.channel.id, 'a-verify')).toBe(200);
    expect(await handshake(both, b.channel.id, 'b-verify')).toBe(200);
  });

  it('re-encrypts every stored secret with the new key, in batches; the gateway that knows both keeps reading', async () => {
    const file = path.join(cwd, 'new.key');
    await writeFile(file, NEW.toString('hex') + '\n');
    const before = await allSecrets();
    const r = await runCli(['secret-key', 'rotate', '--new-key-file', file, '--batch-size', '1'], { cwd, env: { DATABASE_URL: oldOnly.dbUrl, WAGATE_SECRET_KEY: TEST_SECRET_KEY } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    // Channel A's three secrets and tenant A's model key were under the old key; B's three and its model key under the new one.
    expect(report).toEqual({ keyId: keyId(NEW), rewritten: 4, alreadyNew: 4 });
    const after = await allSecrets();
    expect(after).toHaveLength(before.length);
    for (const s of after) {
      expect(storedKeyId(s)).toBe(keyId(NEW));
      expect(() => decrypt(OLD, s)).toThrow();
    }
    const [t] = (await client.query('SELECT agent_secrets FROM tenants WHERE id = $1', [a.tenant.id])).rows;
    expect(decrypt(NEW, t.agent_secrets.apiKey)).toBe('sk-old-tenant');
    expect(await handshake(both!, a.channel.id, 'a-verify')).toBe(200);

    // Run again: nothing left to do.
    const again = await runCli(['secret-key', 'rotate', '--new-key-file', file], { cwd, env: { DATABASE_URL: oldOnly.dbUrl, WAGATE_SECRET_KEY: TEST_SECRET_KEY } });
    expect(JSON.parse(again.stdout)).toEqual({ keyId: keyId(NEW), rewritten: 0, alreadyNew: 8 });
  }, 150_000);

  it('after the rotation the new key alone starts and reads everything; the old key alone is refused', async () => {
    const fresh = await startTestGateway({ dbUrl: oldOnly.dbUrl, env: { WAGATE_SECRET_KEY: NEW.toString('hex') } });
    try {
      expect(await handshake(fresh, a.channel.id, 'a-verify')).toBe(200);
    } finally {
      await fresh.stop();
    }
    await expect(startTestGateway({ dbUrl: oldOnly.dbUrl })).rejects.toThrow(/^WAGATE_SECRET_KEY: does not decrypt/);
  });

  it('refuses a key file that is not a key, with one line', async () => {
    const file = path.join(cwd, 'bad.key');
    await writeFile(file, 'not a key');
    const r = await runCli(['secret-key', 'rotate', '--new-key-file', file], { cwd, env: { DATABASE_URL: oldOnly.dbUrl, WAGATE_SECRET_KEY: NEW.toString('hex') } });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toBe('wagate: --new-key-file: must be 32 bytes, as 64 hex characters or base64');
  }, 150_000);
});
