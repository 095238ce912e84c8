import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';

describe('ingest smoke', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('stores a text message in one round trip', async () => {
    const { phoneNumberId } = await provisionTenant(gw);
    const n = textNotification(phoneNumberId, '15551230001', 'hello');
    const before = gw.ctx.db.stats.roundTrips;
    const conns = gw.ctx.db.stats.connectionsOpened;
    const res = await postWebhook(gw.url, n.body);
    expect(res.status).toBe(200);
    expect(gw.ctx.db.stats.roundTrips - before).toBe(1);
    expect(gw.ctx.db.stats.connectionsOpened - conns).toBe(0);
    const c = await sqlClient(gw.dbUrl);
    const rows = (await c.query('SELECT body, direction, wamid FROM messages')).rows;
    await c.end();
    expect(rows).toEqual([{ body: 'hello', direction: 'inbound', wamid: n.wamid }]);
  });
});
