import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { decrypt, hashKey } from '../../src/shared/secrets.ts';
import { freshDatabase, sqlClient } from '../support/db.ts';
import { withDatabase } from '../support/globalSetup.ts';
import { cliWorkDir, errorLine, runCli, type CliResult } from './runCli.ts';

const SECRET_KEY = randomBytes(32);

describe('wagate provisioning commands against DATABASE_URL', () => {
  let cwd: string;
  let dbUrl: string;
  let client: pg.Client;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    dbUrl = await freshDatabase();
    client = await sqlClient(dbUrl);
  });
  afterAll(async () => {
    await client?.end();
  });

  const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: dbUrl, WAGATE_SECRET_KEY: SECRET_KEY.toString('hex'), ...extra });
  const run = (args: string[], extra?: Record<string, string>) => runCli(args, { cwd, env: env(extra) });
  const counts = async () =>
    (
      await client.query(
        'SELECT (SELECT count(*)::int FROM tenants) AS tenants, (SELECT count(*)::int FROM channels) AS channels, (SELECT count(*)::int FROM api_keys) AS keys',
      )
    ).rows[0];
  const json = (r: CliResult) => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  /** Runs a call that must be refused with `code` and one stderr line, changing nothing. */
  async function expectRefused(args: string[], code: 1 | 2, line: RegExp, extra?: Record<string, string>) {
    const before = await counts();
    const r = await run(args, extra);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stdout).toBe('');
    expect(errorLine(r)).toMatch(line);
    expect(await counts()).toEqual(before);
  }
  const newTenant = async (name = 'Acme') => json(await run(['tenant', 'create', '--name', name])).id as string;

  it('tenant create prints the created tenant as JSON', async () => {
    const t = json(await run(['tenant', 'create', '--name', 'Acme Bikes', '--limit', '250']));
    expect(t).toMatchObject({ id: expect.stringMatching(/^\d+$/), name: 'Acme Bikes', monthlyMessageLimit: 250, agent: { historyLength: 20 } });
    const [row] = (await client.query('SELECT name, monthly_message_limit FROM tenants WHERE id = $1', [t.id])).rows;
    expect(row).toEqual({ name: 'Acme Bikes', monthly_message_limit: 250 });
  });

  it('tenant create takes the agent configuration as JSON and encrypts its secrets', async () => {
    const agent = { provider: 'openai', model: 'gpt-4o', apiKey: 'sk-tenant-own', systemPrompt: 'Be brief.', debounceMs: 500 };
    const t = json(await run(['tenant', 'create', '--name', 'Own model', '--agent-json', JSON.stringify(agent)]));
    expect(t.monthlyMessageLimit).toBeNull();
    expect(t.agent).toMatchObject({ provider: 'openai', model: 'gpt-4o', systemPrompt: 'Be brief.', debounceMs: 500, hasApiKey: true });
    expect(JSON.stringify(t)).not.toContain('sk-tenant-own');
    const [row] = (await client.query('SELECT agent, agent_secrets FROM tenants WHERE id = $1', [t.id])).rows;
    expect(JSON.stringify(row.agent)).not.toContain('sk-tenant-own');
    expect(decrypt(SECRET_KEY, row.agent_secrets.apiKey)).toBe('sk-tenant-own');
  });

  it('tenant create takes the limits as JSON, and refuses an agent outside them', async () => {
    const limits = { allowedModels: ['gpt-4o'], maxHistoryLength: 100 };
    const agent = { provider: 'openai', model: 'gpt-4o', historyLength: 100 };
    const t = json(await run(['tenant', 'create', '--name', 'Big', '--limits-json', JSON.stringify(limits), '--agent-json', JSON.stringify(agent)]));
    expect(t.limits).toEqual({
      allowedModels: ['gpt-4o'],
      allowedTranscriptionModels: null,
      maxHistoryLength: 100,
      maxSystemPromptChars: 8000,
      effectiveAllowedModels: ['gpt-4o-mini', 'gpt-4o'],
      effectiveAllowedTranscriptionModels: [],
    });
    expect(t.agent).toMatchObject({ model: 'gpt-4o', historyLength: 100 });
    const cmd = (...a: string[]) => ['tenant', 'create', '--name', 'x', ...a];
    await expectRefused(cmd('--limits-json', '{"maxHistoryLength":-1}'), 2, /^wagate: --limits-json: maxHistoryLength: /);
    await expectRefused(cmd('--limits-json', '[]'), 2, /^wagate: --limits-json: must be a JSON object/);
    await expectRefused(cmd('--agent-json', '{"historyLength":80}'), 1, /^wagate: agent\.historyLength: must be at most 50/);
    await expectRefused(cmd('--agent-json', '{"model":"o1-pro"}'), 1, /^wagate: agent\.model: "o1-pro" is not allowed/);
    // Five child processes: on a busy machine each may take seconds to start.
  }, 180_000);

  it('tenant create refuses bad flags with exit 2 and creates nothing', async () => {
    const cmd = (...a: string[]) => ['tenant', 'create', ...a];
    await expectRefused(cmd('--name', 'x', '--limit', 'ten'), 2, /^wagate: --limit must be a whole number, got "ten"/);
    await expectRefused(cmd('--name', 'x', '--limit', '-5'), 2, /^wagate: option '--limit' argument is ambiguous/);
    await expectRefused(cmd('--name', 'x', '--limit', '3000000000'), 2, /^wagate: --limit: /);
    await expectRefused(cmd('--name', ''), 2, /^wagate: --name is required/);
    await expectRefused(cmd('--name', '   '), 2, /^wagate: --name: /);
    await expectRefused(cmd('--name', 'x', '--agent-json', '{"provider":'), 2, /^wagate: --agent-json: not valid JSON/);
    await expectRefused(cmd('--name', 'x', '--agent-json', '["demo"]'), 2, /^wagate: --agent-json: must be a JSON object/);
    await expectRefused(cmd('--name', 'x', '--agent-json', '{"provider":"skynet"}'), 2, /^wagate: --agent-json: provider: /);
    await expectRefused(cmd('--name', 'x', '--agent-json', '{"colour":"red"}'), 2, /^wagate: --agent-json: .*colour/);
  });

  it("tenant create with an agent secret needs WAGATE_SECRET_KEY", async () => {
    await expectRefused(['tenant', 'create', '--name', 'x', '--agent-json', '{"apiKey":"sk-1"}'], 1, /^wagate: WAGATE_SECRET_KEY: required/, {
      WAGATE_SECRET_KEY: '',
    });
  });

  it('channel add prints the channel without its secrets and stores them encrypted', async () => {
    const tenantId = await newTenant('With a number');
    const c = json(
      await run([
        'channel', 'add', '--tenant', tenantId, '--phone-number-id', '106540352242922', '--display-phone-number', '+1 555 0100',
        '--access-token', 'EAAG-cli-token', '--app-secret', 'cli-app-secret', '--verify-token', 'cli-verify', '--messages-per-second', '200',
      ]),
    );
    expect(c).toEqual({ id: expect.stringMatching(/^\d+$/), tenantId, phoneNumberId: '106540352242922', displayPhoneNumber: '+1 555 0100', messagesPerSecond: 200, wabaId: null });
    const [row] = (await client.query('SELECT * FROM channels WHERE id = $1', [c.id])).rows;
    expect(decrypt(SECRET_KEY, row.access_token_enc)).toBe('EAAG-cli-token');
    expect(decrypt(SECRET_KEY, row.app_secret_enc)).toBe('cli-app-secret');
    expect(decrypt(SECRET_KEY, row.verify_token_enc)).toBe('cli-verify');
  });

  it('tenant create, channel add, key create and key revoke are in the audit log as the command line, never with a secret', async () => {
    const t = json(await run(['tenant', 'create', '--name', 'Audited']));
    const c = json(await run(['channel', 'add', '--tenant', t.id, '--phone-number-id', 'pn-audited', '--display-phone-number', '+1', '--access-token', 'EAAG-audited']));
    const k = json(await run(['key', 'create', '--tenant', t.id]));
    json(await run(['key', 'revoke', '--id', k.id]));
    const { rows } = await client.query('SELECT actor, via, action, target_type, target_id, detail FROM audit_log WHERE tenant_id = $1 ORDER BY id', [t.id]);
    expect(rows).toEqual([
      { actor: 'cli', via: 'cli', action: 'tenant.created', target_type: 'tenant', target_id: t.id, detail: {} },
      { actor: 'cli', via: 'cli', action: 'channel.added', target_type: 'channel', target_id: c.id, detail: { phoneNumberId: 'pn-audited' } },
      { actor: 'cli', via: 'cli', action: 'api_key.created', target_type: 'api_key', target_id: k.id, detail: {} },
      { actor: 'cli', via: 'cli', action: 'api_key.revoked', target_type: 'api_key', target_id: k.id, detail: {} },
    ]);
    expect(JSON.stringify(rows)).not.toContain('EAAG-audited');
    expect(JSON.stringify(rows)).not.toContain(k.key);
  });

  it('channel add refuses bad flags with exit 2 and adds nothing', async () => {
    const tenantId = await newTenant('Bad flags');
    const base = ['channel', 'add', '--tenant', tenantId, '--display-phone-number', '+1', '--access-token', 't'];
    await expectRefused([...base, '--phone-number-id', 'has spaces'], 2, /^wagate: --phone-number-id: /);
    await expectRefused([...base, '--phone-number-id', 'pn-1', '--messages-per-second', '0'], 2, /^wagate: --messages-per-second: /);
    await expectRefused([...base, '--phone-number-id', 'pn-1', '--messages-per-second', 'fast'], 2, /^wagate: --messages-per-second must be a whole number/);
    await expectRefused([...base, '--phone-number-id', 'pn-1', '--app-secret', ''], 2, /^wagate: --app-secret: /);
    await expectRefused([...base, '--phone-number-id', 'pn-1', '--token', 'x'], 2, /^wagate: unknown option '--token'/);
    await expectRefused(['channel', 'add', '--tenant', tenantId, '--phone-number-id', 'pn-1', '--display-phone-number', '+1'], 2, /^wagate: --access-token is required/);
    await expectRefused(['channel', 'add', '--tenant', '1.5', '--phone-number-id', 'pn-1', '--display-phone-number', '+1', '--access-token', 't'], 2, /^wagate: --tenant must be a tenant id/);
  });

  it('channel add without WAGATE_SECRET_KEY or a sandbox key file exits 1 naming the variable', async () => {
    const tenantId = await newTenant('No key');
    const args = ['channel', 'add', '--tenant', tenantId, '--phone-number-id', 'pn-nokey', '--display-phone-number', '+1', '--access-token', 't'];
    await expectRefused(args, 1, /^wagate: WAGATE_SECRET_KEY: required to encrypt the channel's access token/, { WAGATE_SECRET_KEY: '', WAGATE_DATA_DIR: await cliWorkDir() });
  });

  it("channel add uses the sandbox's key from <dataDir>/sandbox.json when WAGATE_SECRET_KEY is unset", async () => {
    const tenantId = await newTenant('Sandbox key');
    const dataDir = await cliWorkDir();
    const sandboxKey = randomBytes(32);
    await writeFile(path.join(dataDir, 'sandbox.json'), JSON.stringify({ adminKey: 'wgk_admin_x', secretKey: sandboxKey.toString('hex') }));
    const args = ['channel', 'add', '--tenant', tenantId, '--phone-number-id', 'pn-sandbox', '--display-phone-number', '+1', '--access-token', 'sandbox-token'];
    const c = json(await run(args, { WAGATE_SECRET_KEY: '', WAGATE_DATA_DIR: dataDir }));
    const [row] = (await client.query('SELECT access_token_enc FROM channels WHERE id = $1', [c.id])).rows;
    expect(decrypt(sandboxKey, row.access_token_enc)).toBe('sandbox-token');
  });

  it('channel add exits 1 for a tenant that does not exist or a number that has a channel', async () => {
    const tenantId = await newTenant('Taken');
    const add = (tenant: string, pn: string) => ['channel', 'add', '--tenant', tenant, '--phone-number-id', pn, '--display-phone-number', '+1', '--access-token', 't'];
    await expectRefused(add('987654321', 'pn-ghost'), 1, /^wagate: tenant 987654321 not found$/);
    json(await run(add(tenantId, 'pn-taken')));
    await expectRefused(add(tenantId, 'pn-taken'), 1, /^wagate: phone number id pn-taken already has a channel$/);
  });

  it('key create prints the key once and stores only its hash', async () => {
    const tenantId = await newTenant('Keys');
    const r = await run(['key', 'create', '--tenant', tenantId]);
    const k = json(r);
    expect(k).toEqual({ id: expect.stringMatching(/^\d+$/), key: expect.stringMatching(/^wgk_/) });
    expect(r.stderr).toMatch(/not shown again/);
    const [row] = (await client.query('SELECT tenant_id, key_hash FROM api_keys WHERE id = $1', [k.id])).rows;
    expect({ tenant: String(row.tenant_id), hash: row.key_hash }).toEqual({ tenant: tenantId, hash: hashKey(k.key) });
    expect(JSON.stringify(row)).not.toContain(k.key);
  });

  it('key create exits 1 for a tenant that does not exist', async () => {
    await expectRefused(['key', 'create', '--tenant', '987654321'], 1, /^wagate: tenant 987654321 not found$/);
  });

  it('migrate reports an up-to-date database', async () => {
    const r = await run(['migrate']);
    expect(r).toMatchObject({ code: 0, stdout: 'the database is up to date\n' });
  });

  it('migrate applies the schema to an empty database, once', async () => {
    const name = `wagate_cli_${randomBytes(5).toString('hex')}`;
    const admin = await sqlClient(inject('pgServerUrl'));
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = withDatabase(inject('pgServerUrl'), name);
    const files = (await readdir(new URL('../../src/db/migrations/', import.meta.url))).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
    expect(files[0]).toBe('001_schema.sql');
    const first = await runCli(['migrate'], { cwd, env: { DATABASE_URL: url } });
    expect(first).toMatchObject({ code: 0, stdout: files.map((f) => `applied ${f}\n`).join('') });
    const second = await runCli(['migrate'], { cwd, env: { DATABASE_URL: url } });
    expect(second).toMatchObject({ code: 0, stdout: 'the database is up to date\n' });
    const c = await sqlClient(url);
    try {
      expect((await c.query("SELECT to_regclass('public.messages') IS NOT NULL AS ok")).rows[0].ok).toBe(true);
    } finally {
      await c.end();
    }
  });

  it('exits 1 with one line when the database cannot be reached', async () => {
    const r = await runCli(['tenant', 'create', '--name', 'x'], { cwd, env: { DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:1/none' } });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/^wagate: cannot reach the database \(DATABASE_URL\): .*ECONNREFUSED/);
    expect(r.stderr).not.toContain('secret-pw');
  });
});
