import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoTenant, loadSandboxState } from '../../src/sandbox/setup.ts';
import { api, startTestGateway, type TestGateway } from '../support/gateway.ts';

describe("the sandbox's demo key", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('is kept across starts while it works, and replaced once revoked', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-demo-'));
    const ensure = async () => ensureDemoTenant(gw.db, gw.provisioning, dir, await loadSandboxState(dir), 'demo');
    const first = await ensure();
    expect((await ensure()).tenantKey).toBe(first.tenantKey);
    const [key] = (await api(gw, 'GET', `/api/tenants/${first.tenantId}/api-keys`)).body.items;
    expect((await api(gw, 'DELETE', `/api/api-keys/${key.id}`)).status).toBe(200);
    const next = await ensure();
    expect(next.tenantId).toBe(first.tenantId);
    expect(next.tenantKey).not.toBe(first.tenantKey);
    expect((await api(gw, 'GET', '/api/usage', undefined, next.tenantKey)).status).toBe(200);
  });
});
