import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { now, postWebhook, statusNotification, textNotification, wamid } from '../support/webhooks.ts';
import { callbackDataFor } from '../../src/shared/callbackData.ts';
import { ingestOnly, Rows } from './rows.ts';

describe('statuses update the outbound message they name', () => {
  let gw: TestGateway;
  let rows: Rows;
  let p: Awaited<ReturnType<typeof provisionTenant>>;
  let conversationId: string;
  const customer = '15550005001';

  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
    rows = await Rows.open(gw.dbUrl);
    p = await provisionTenant(gw);
    const n = textNotification(p.phoneNumberId, customer, 'hello');
    expect((await postWebhook(gw.url, n.body)).status).toBe(200);
    conversationId = String((await rows.message(n.wamid))!.conversation_id);
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  /** An agent reply as the sender leaves it: sent with a wamid, or queued without one. */
  async function outbound(opts: { wamid: string | null; status: 'queued' | 'sent' }): Promise<string> {
    const [row] = await rows.query(
      `INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, wamid, type, body, status)
       VALUES ($1, $2, $3, 'outbound', 'agent', $4, 'text', 'a reply', $5) RETURNING id`,
      [p.tenant.id, p.channel.id, conversationId, opts.wamid, opts.status],
    );
    return String(row.id);
  }

  const status = (id: string, s: string, extra: Record<string, unknown> = {}) => ({ id, status: s, timestamp: now(), recipient_id: customer, ...extra });
  const post = async (...statuses: Record<string, unknown>[]) => expect((await postWebhook(gw.url, statusNotification(p.phoneNumberId, statuses))).status).toBe(200);
  const stored = async (id: string) => (await rows.query('SELECT status, wamid, error_code, error_title FROM messages WHERE id = $1', [id]))[0];

  it('moves a sent message to delivered, then read', async () => {
    const w = wamid();
    const id = await outbound({ wamid: w, status: 'sent' });
    await post(status(w, 'delivered'));
    expect((await stored(id)).status).toBe('delivered');
    await post(status(w, 'read'));
    expect((await stored(id)).status).toBe('read');
  });

  it('never moves a status backwards: read, then a late delivered, stays read', async () => {
    const w = wamid();
    const id = await outbound({ wamid: w, status: 'sent' });
    await post(status(w, 'read'));
    await post(status(w, 'delivered'));
    await post(status(w, 'sent'));
    expect((await stored(id)).status).toBe('read');
  });

  it('keeps the furthest of several statuses for one message in one notification', async () => {
    const w = wamid();
    const id = await outbound({ wamid: w, status: 'sent' });
    await post(status(w, 'read'), status(w, 'sent'), status(w, 'delivered'));
    expect((await stored(id)).status).toBe('read');
  });

  it('keeps the error code and title of a failed status', async () => {
    const w = wamid();
    const id = await outbound({ wamid: w, status: 'sent' });
    await post(
      status(w, 'failed', {
        errors: [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: 'more than 24 hours' } }],
      }),
    );
    expect(await stored(id)).toEqual({ status: 'failed', wamid: w, error_code: 131047, error_title: 'Re-engagement message' });
  });

  it('matches a status through biz_opaque_callback_data when the wamid is not yet known', async () => {
    const id = await outbound({ wamid: null, status: 'queued' });
    const w = wamid();
    await post(status(w, 'sent', { biz_opaque_callback_data: callbackDataFor(id) }));
    expect(await stored(id)).toMatchObject({ status: 'sent', wamid: w });
    // Later statuses then find it by its wamid alone.
    await post(status(w, 'delivered'));
    expect((await stored(id)).status).toBe('delivered');
  });

  it('ignores callback data naming a message of another channel', async () => {
    const other = await provisionTenant(gw, { name: 'Other tenant' });
    const n = textNotification(other.phoneNumberId, customer, 'hi other');
    await postWebhook(gw.url, n.body);
    const otherConv = (await rows.message(n.wamid))!.conversation_id;
    const [row] = await rows.query(
      `INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, type, body, status)
       VALUES ($1, $2, $3, 'outbound', 'agent', 'text', 'theirs', 'queued') RETURNING id`,
      [other.tenant.id, other.channel.id, otherConv],
    );
    await post(status(wamid(), 'read', { biz_opaque_callback_data: callbackDataFor(String(row.id)) }));
    expect((await stored(String(row.id))).status).toBe('queued');
  });

  it('acknowledges a status for a message it does not know and changes nothing', async () => {
    const before = await rows.counts();
    await post(status(wamid(), 'delivered'), status(wamid(), 'deleted'));
    expect(await rows.counts()).toEqual(before);
  });

  it('does not apply a status to an inbound message with that wamid', async () => {
    const n = textNotification(p.phoneNumberId, customer, 'inbound one');
    await postWebhook(gw.url, n.body);
    await post(status(n.wamid, 'read'));
    expect((await rows.message(n.wamid))!.status).toBe('received');
  });
});
