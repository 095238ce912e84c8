import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, now, postWebhook, statusNotification, textMessage, wamid } from '../support/webhooks.ts';
import { ingestOnly, Rows } from './rows.ts';

describe('notifications for a phone_number_id no channel has', () => {
  let gw: TestGateway;
  let rows: Rows;
  let seen: string[];
  let off: () => void;
  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
    rows = await Rows.open(gw.dbUrl);
    seen = [];
    off = gw.bus.on('webhook.unroutable', (e) => seen.push(e.phoneNumberId));
  });
  afterAll(async () => {
    off?.();
    await rows?.close();
    await gw?.stop();
  });

  it('acknowledges a message for an unknown phone_number_id with 200, stores nothing and counts it', async () => {
    seen.length = 0;
    const before = await rows.counts();
    const body = notification({ value: messagesValue('999000111', [textMessage('15550007001', 'anyone?')]) });
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(await rows.counts()).toEqual(before);
    // Counted at every delivery (the metric), logged once.
    expect(seen).toEqual(['999000111', '999000111']);
  });

  it('counts a status notification for an unknown phone_number_id', async () => {
    seen.length = 0;
    const body = statusNotification('999000222', [{ id: wamid(), status: 'delivered', timestamp: now(), recipient_id: '15550007002' }]);
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(seen).toEqual(['999000222']);
  });

  it('stores the known part of a notification that also names an unknown number', async () => {
    seen.length = 0;
    const p = await provisionTenant(gw);
    const known = textMessage('15550007003', 'for a real channel');
    const lost = textMessage('15550007003', 'for nobody');
    const body = notification({ value: messagesValue(p.phoneNumberId, [known]) }, { value: messagesValue('999000333', [lost]) });
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(await rows.message(known.id)).toBeDefined();
    expect(await rows.message(lost.id)).toBeUndefined();
    expect(seen).toEqual(['999000333']);
  });

  it('acknowledges changes of other fields without acting on them', async () => {
    seen.length = 0;
    const before = await rows.counts();
    const body = notification(
      { field: 'account_update', value: { phone_number: '15550100', event: 'VERIFIED_ACCOUNT' } },
      { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1 } },
      { field: 'calls', value: { calls: [] } },
    );
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(await rows.counts()).toEqual(before);
    expect(seen).toEqual([]);
  });
});
