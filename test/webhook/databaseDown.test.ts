import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { ingestOnly, Rows } from './rows.ts';

describe('database unreachable while a notification arrives', () => {
  let dir: string;
  let port: number;
  let pg: EmbeddedServer | null = null;
  let gw: TestGateway | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wagate-dbdown-'));
    port = await freePort();
    pg = await startEmbeddedPostgres(dir, { port });
    await migrate(pg.url);
    gw = await startTestGateway({ dbUrl: pg.url, ...ingestOnly() });
  });
  afterAll(async () => {
    await gw?.stop().catch(() => {});
    await pg?.stop().catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 while PostgreSQL is down and stores the next delivery once it is back', async () => {
    const p = await provisionTenant(gw!);
    const own = await provisionTenant(gw!, { channel: { appSecret: 'own-app-secret', verifyToken: 'own-verify' } });
    const warm = textNotification(p.phoneNumberId, '15550008001', 'before the outage');
    expect((await postWebhook(gw!.url, warm.body)).status).toBe(200);

    await pg!.stop();
    pg = null;
    const n = textNotification(p.phoneNumberId, '15550008001', 'during the outage');
    const down = await postWebhook(gw!.url, n.body);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
    // On a channel's own URL the channel lookup itself needs the database.
    const viaChannel = textNotification(own.phoneNumberId, '15550008002', 'own app, during the outage');
    const ownPath = `/webhooks/whatsapp/${own.channel.id}`;
    expect((await postWebhook(gw!.url, viaChannel.body, { path: ownPath, secret: 'own-app-secret' })).status).toBe(503);
    expect((await fetch(gw!.url + '/readyz')).status).toBe(503);
    expect((await fetch(gw!.url + '/healthz')).status).toBe(200);

    pg = await startEmbeddedPostgres(dir, { port });
    // Meta delivers the same notification again.
    const again = await postWebhook(gw!.url, n.body);
    expect(again.status).toBe(200);
    expect((await postWebhook(gw!.url, viaChannel.body, { path: ownPath, secret: 'own-app-secret' })).status).toBe(200);
    const rows = await Rows.open(pg.url);
    try {
      expect((await rows.message(n.wamid))?.body).toBe('during the outage');
      expect((await rows.message(viaChannel.wamid))?.body).toBe('own app, during the outage');
      expect((await rows.query('SELECT count(*)::int AS n FROM messages'))[0].n).toBe(3);
    } finally {
      await rows.close();
    }
    expect((await fetch(gw!.url + '/readyz')).status).toBe(200);
  });
});
