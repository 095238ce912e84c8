import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/db.ts';
import { migrate } from '../../src/db/migrate.ts';
import { EventSubscriptions } from '../../src/events/subscriptions.ts';
import { EgressPolicy, parseEgressAllow } from '../../src/shared/egress.ts';
import { decrypt, keyId, storedKeyId } from '../../src/shared/secrets.ts';
import { checkSecretKeys } from '../../src/tenancy/secretCanary.ts';
import { rotateSecrets } from '../../src/tenancy/rotateSecrets.ts';
import { Provisioning } from '../../src/tenancy/provision.ts';
import { freshDatabase } from '../support/db.ts';

const OLD = randomBytes(32);
const NEW = randomBytes(32);

describe("a secret-key rotation re-encrypts event subscriptions' secrets", () => {
  let db: Db;
  beforeAll(async () => {
    const url = await freshDatabase();
    await migrate(url);
    db = createDb({ connectionString: url, max: 2 });
    await checkSecretKeys(db, [OLD]);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('stores the secret encrypted, never in clear, and the rotation moves it to the new key', async () => {
    const p = new Provisioning(db, OLD, 'demo', { defaultModel: 'm', allowedModels: [] }, new EgressPolicy());
    const t = await p.createTenant({ name: 'Rotating', agent: { provider: 'demo' } });
    const subs = new EventSubscriptions(db, OLD, new EgressPolicy({ allow: parseEgressAllow('127.0.0.1:9') }));
    const s = await subs.create(t.id, { url: 'http://127.0.0.1:9/hook', secret: 'the-subscription-secret', events: ['*'] });
    const read = async () => (await db.query<{ secret_enc: string }>({ name: 'test_sub_secret', text: 'SELECT secret_enc FROM event_subscriptions WHERE id = $1' }, [s.id]))[0].secret_enc;
    const before = await read();
    expect(before).not.toContain('the-subscription-secret');
    expect(storedKeyId(before)).toBe(keyId(OLD));

    const report = await rotateSecrets(db, [OLD], NEW);
    expect(report.rewritten).toBeGreaterThanOrEqual(1);
    const after = await read();
    expect(storedKeyId(after)).toBe(keyId(NEW));
    expect(decrypt(NEW, after)).toBe('the-subscription-secret');
  });
});
