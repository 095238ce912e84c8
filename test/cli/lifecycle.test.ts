import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlClient } from '../support/db.ts';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { Customers, newWaId } from '../conversation/customers.ts';
import { cliWorkDir, errorLine, runCli } from './runCli.ts';

describe('wagate tenant list / disable / enable / delete and channel list / rotate-token / remove', () => {
  let cwd: string;
  let gw: TestGateway;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });
  const run = (...args: string[]) => runCli(args, { cwd, env: { DATABASE_URL: gw.dbUrl, WAGATE_SECRET_KEY: 'a'.repeat(64) } });

  it("tenant list prints tenants with usage; disable refuses the tenant's key at once on the running gateway; enable restores it", async () => {
    const t = await provisionTenant(gw, { name: 'Cli Life ' + Date.now() });
    const list = await run('tenant', 'list', '--search', t.tenant.name);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id: t.tenant.id, disabled: false, channels: 1, usage: expect.objectContaining({ count: 0 }) })]);

    expect((await api(gw, 'GET', '/api/usage', undefined, t.key)).status).toBe(200);
    const off = await run('tenant', 'disable', '--id', t.tenant.id);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ id: t.tenant.id, disabled: true });
    await expect.poll(async () => (await api(gw, 'GET', '/api/usage', undefined, t.key)).status, { timeout: 2_000, interval: 20 }).toBe(403);
    expect(JSON.parse((await run('tenant', 'list', '--disabled', '--search', t.tenant.id)).stdout).map((x: any) => x.id)).toEqual([t.tenant.id]);

    const on = await run('tenant', 'enable', '--id', t.tenant.id);
    expect(on.code, on.stderr).toBe(0);
    await expect.poll(async () => (await api(gw, 'GET', '/api/usage', undefined, t.key)).status, { timeout: 2_000, interval: 20 }).toBe(200);
    const audit = (await api(gw, 'GET', `/api/audit?tenantId=${t.tenant.id}`)).body.items;
    expect(audit.slice(0, 2)).toMatchObject([{ action: 'tenant.enabled', actor: 'cli', via: 'cli' }, { action: 'tenant.disabled', actor: 'cli' }]);
  });

  it('tenant delete needs --yes, then removes every row of the tenant', async () => {
    const t = await provisionTenant(gw);
    await new Customers(gw.url, t.phoneNumberId).say(newWaId(), 'hello');
    const refused = await run('tenant', 'delete', '--id', t.tenant.id);
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toContain('add --yes');
    const r = await run('tenant', 'delete', '--id', t.tenant.id, '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: t.tenant.id, deleted: true, rows: 3 });
    const client = await sqlClient(gw.dbUrl);
    try {
      const left = await client.query(
        `SELECT (SELECT count(*) FROM tenants WHERE id = $1) + (SELECT count(*) FROM channels WHERE tenant_id = $1)
              + (SELECT count(*) FROM messages WHERE tenant_id = $1) + (SELECT count(*) FROM api_keys WHERE tenant_id = $1) AS n`,
        [t.tenant.id],
      );
      expect(Number(left.rows[0].n)).toBe(0);
    } finally {
      await client.end();
    }
    expect(errorLine(await run('tenant', 'delete', '--id', t.tenant.id, '--yes'))).toBe(`wagate: tenant ${t.tenant.id} not found`);
  });

  it('channel list, rotate-token from a file (never echoed), remove', async () => {
    const t = await provisionTenant(gw);
    const list = await run('channel', 'list', '--tenant', t.tenant.id);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([t.channel]);

    const file = path.join(cwd, 'token.txt');
    await writeFile(file, 'brand-new-token\n');
    const rotated = await run('channel', 'rotate-token', '--id', t.channel.id, '--token-file', file);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toEqual(t.channel);
    expect(rotated.stdout + rotated.stderr).not.toContain('brand-new-token');
    expect(errorLine(await run('channel', 'rotate-token', '--id', t.channel.id, '--token-file', path.join(cwd, 'missing.txt')))).toMatch(/^wagate: cannot read --token-file .*ENOENT/);

    const removed = await run('channel', 'remove', '--id', t.channel.id);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ id: t.channel.id, removed: true });
    expect(JSON.parse((await run('channel', 'list', '--tenant', t.tenant.id)).stdout)).toEqual([]);
    expect(errorLine(await run('channel', 'remove', '--id', t.channel.id))).toBe(`wagate: channel ${t.channel.id} not found`);
    expect(errorLine(await run('channel', 'remove', '--id', 'x1'))).toMatch(/--id must be a channel id/);
  });
});
