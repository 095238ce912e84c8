import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { cliWorkDir, errorLine, runCli } from './runCli.ts';

describe('wagate key list / key revoke against a running gateway', () => {
  let cwd: string;
  let gw: TestGateway;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });
  const run = (...args: string[]) => runCli(args, { cwd, env: { DATABASE_URL: gw.dbUrl } });

  it("key list prints the tenant's keys as JSON, never a key", async () => {
    const t = await provisionTenant(gw, { name: 'Listed' });
    const spare = (await api(gw, 'POST', `/api/tenants/${t.tenant.id}/api-keys`)).body;
    const r = await run('key', 'list', '--tenant', t.tenant.id);
    expect(r.code, r.stderr).toBe(0);
    const keys = JSON.parse(r.stdout);
    expect(keys.map((k: any) => k.id)).toEqual([spare.id, expect.any(String)]);
    expect(keys[0]).toMatchObject({ tenantId: t.tenant.id, prefix: spare.key.slice(0, 8), revokedAt: null });
    expect(r.stdout).not.toContain(spare.key);
    expect(r.stdout).not.toContain(t.key);
  });

  it('key revoke revokes at once for the running gateway, which had the key cached', async () => {
    const t = await provisionTenant(gw, { name: 'Revoked by CLI' });
    const spare = (await api(gw, 'POST', `/api/tenants/${t.tenant.id}/api-keys`)).body;
    expect((await api(gw, 'GET', '/api/usage', undefined, spare.key)).status).toBe(200);
    const r = await run('key', 'revoke', '--id', spare.id);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: spare.id, tenantId: t.tenant.id, revokedAt: expect.any(String) });
    await expect.poll(async () => (await api(gw, 'GET', '/api/usage', undefined, spare.key)).status, { timeout: 1_000, interval: 20 }).toBe(401);
    const listed = JSON.parse((await run('key', 'list', '--tenant', t.tenant.id)).stdout);
    expect(listed.find((k: any) => k.id === spare.id).revokedAt).toEqual(expect.any(String));
    expect((await api(gw, 'GET', '/api/usage', undefined, t.key)).status).toBe(200);
  });

  it('refuses unknown ids and tenants with exit 1 and one line', async () => {
    const r = await run('key', 'revoke', '--id', '999999');
    expect(r.code).toBe(1);
    expect(errorLine(r)).toBe('wagate: key 999999 not found');
    const l = await run('key', 'list', '--tenant', '999999');
    expect(l.code).toBe(1);
    expect(errorLine(l)).toBe('wagate: tenant 999999 not found');
  });
});
