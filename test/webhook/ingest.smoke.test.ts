import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, now, postWebhook, textMessage, textNotification, wamid } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';
import { ingestOnly } from './rows.ts';

describe('ingest costs one database round trip per notification', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('stores a text message in one round trip and opens no connection', async () => {
    const { phoneNumberId } = await provisionTenant(gw);
    const n = textNotification(phoneNumberId, '15551230001', 'hello');
    const before = gw.db.stats.roundTrips;
    const conns = gw.db.stats.connectionsOpened;
    const res = await postWebhook(gw.url, n.body);
    expect(res.status).toBe(200);
    expect(gw.db.stats.roundTrips - before).toBe(1);
    expect(gw.db.stats.connectionsOpened - conns).toBe(0);
    const c = await sqlClient(gw.dbUrl);
    const rows = (await c.query('SELECT body, direction, wamid FROM messages')).rows;
    await c.end();
    expect(rows).toEqual([{ body: 'hello', direction: 'inbound', wamid: n.wamid }]);
  });

  it('stores a notification of two channels, several messages and statuses in two round trips: messages, then statuses', async () => {
    const a = await provisionTenant(gw, { name: 'A' });
    const b = await provisionTenant(gw, { name: 'B' });
    const ms = [textMessage('15551230002', 'a1'), textMessage('15551230003', 'a2')];
    const statuses = [{ id: wamid(), status: 'delivered', timestamp: now(), recipient_id: '15551230002' }];
    const body = notification(
      { value: { ...messagesValue(a.phoneNumberId, ms), statuses } },
      { value: messagesValue(b.phoneNumberId, [textMessage('15551230004', 'b1')]) },
    );
    const before = gw.db.stats.roundTrips;
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    // Messages lock conversations and statuses lock sent messages: apart, they never deadlock the sender's writes.
    expect(gw.db.stats.roundTrips - before).toBe(2);
  });
});
