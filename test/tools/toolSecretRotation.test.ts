import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt, keyId, storedKeyId } from '../../src/shared/secrets.ts';
import { rotateSecrets } from '../../src/tenancy/rotateSecrets.ts';
import { sqlClient } from '../support/db.ts';
import { api, provisionTenant, startTestGateway, TEST_SECRET_KEY, type TestGateway } from '../support/gateway.ts';

describe('secret key rotation', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("re-encrypts each tool's signing secret with the new key", async () => {
    const t = await provisionTenant(gw);
    const r = await api(gw, 'POST', '/api/tools', { name: 'lookup', parameters: { type: 'object' }, url: 'https://8.8.8.8/tool', secret: 'tool-signing-secret' }, t.key);
    expect(r.status).toBe(201);
    const next = randomBytes(32);
    await rotateSecrets(gw.db, [Buffer.from(TEST_SECRET_KEY, 'hex')], next, 1);
    const c = await sqlClient(gw.dbUrl);
    try {
      const { rows } = await c.query('SELECT secret_enc FROM tools WHERE id = $1', [r.body.id]);
      expect(storedKeyId(rows[0].secret_enc)).toBe(keyId(next));
      expect(decrypt(next, rows[0].secret_enc)).toBe('tool-signing-secret');
    } finally {
      await c.end();
    }
  });
});
