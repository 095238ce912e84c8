import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, postWebhook, textMessage } from '../support/webhooks.ts';
import { ingestOnly, RecordingConsumer, Rows } from './rows.ts';

describe('Meta delivers at least once: each message is stored once', () => {
  let gw: TestGateway;
  let rows: Rows;
  let p: Awaited<ReturnType<typeof provisionTenant>>;
  const consumer = new RecordingConsumer();
  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly(consumer));
    rows = await Rows.open(gw.dbUrl);
    p = await provisionTenant(gw);
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  const count = async (ids: string[]) =>
    (await rows.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE wamid = ANY($1)', [ids]))[0].n;

  it('stores the same notification delivered twice once and acknowledges both', async () => {
    const ms = [textMessage('15550004001', 'one'), textMessage('15550004001', 'two')];
    const body = notification({ value: messagesValue(p.phoneNumberId, ms) });
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(await count(ms.map((m) => m.id))).toBe(2);
  });

  it('stores the same notification delivered 20 times concurrently once', async () => {
    const ms = [textMessage('15550004002', 'a'), textMessage('15550004003', 'b'), textMessage('15550004002', 'c')];
    const body = notification({ value: messagesValue(p.phoneNumberId, ms) });
    const results = await Promise.all(Array.from({ length: 20 }, () => postWebhook(gw.url, body)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await count(ms.map((m) => m.id))).toBe(3);
    const contacts = await rows.query("SELECT count(*)::int AS n FROM contacts WHERE wa_id IN ('15550004002', '15550004003')");
    expect(contacts[0].n).toBe(2);
    const convs = await rows.query(
      "SELECT count(*)::int AS n FROM conversations v JOIN contacts c ON c.id = v.contact_id WHERE c.wa_id IN ('15550004002', '15550004003')",
    );
    expect(convs[0].n).toBe(2);
  });

  it('stores a message repeated within one notification once', async () => {
    const m = textMessage('15550004004', 'twice in one');
    const body = notification({ value: messagesValue(p.phoneNumberId, [m, m]) });
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(await count([m.id])).toBe(1);
  });

  it('hands only the newly stored messages to the conversation runner', async () => {
    const m = textMessage('15550004005', 'handed over once');
    const body = notification({ value: messagesValue(p.phoneNumberId, [m]) });
    await postWebhook(gw.url, body);
    const first = consumer.received.at(-1)!;
    expect(first.conversations.flatMap((c) => c.messages.map((x) => x.wamid))).toEqual([m.id]);
    await postWebhook(gw.url, body);
    const second = consumer.received.at(-1)!;
    expect(second.conversations.flatMap((c) => c.messages)).toEqual([]);
    expect(second.duplicates).toBe(1);
  });

  it('stores 20 different messages of one customer sent concurrently, each once, in one conversation', async () => {
    const ms = Array.from({ length: 20 }, (_, i) => textMessage('15550004006', `burst ${i}`));
    const results = await Promise.all(ms.map((m) => postWebhook(gw.url, notification({ value: messagesValue(p.phoneNumberId, [m]) }))));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const stored = await rows.query('SELECT DISTINCT conversation_id FROM messages WHERE wamid = ANY($1)', [ms.map((m) => m.id)]);
    expect(stored).toHaveLength(1);
    expect(await count(ms.map((m) => m.id))).toBe(20);
    const [conv] = await rows.query('SELECT inbound_seq FROM conversations WHERE id = $1', [stored[0].conversation_id]);
    // One bump per ingest statement that brought new messages; concurrent
    // notifications may share a statement, so between 1 and 20.
    expect(Number(conv.inbound_seq)).toBeGreaterThanOrEqual(1);
    expect(Number(conv.inbound_seq)).toBeLessThanOrEqual(20);
  });

  // Meta retries for days: a redelivery must not bump inbound_seq, take the lease or reorder the list.
  it('leaves the conversation as it was when a message is delivered again', async () => {
    const m = textMessage('15550004007', 'delivered again later');
    const body = notification({ value: messagesValue(p.phoneNumberId, [m]) });
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    const row = (await rows.message(m.id))!;
    // As if the turn had run and released the conversation.
    await rows.query('UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE id = $1', [row.conversation_id]);
    const read = () =>
      rows.query('SELECT inbound_seq, lease_owner, last_message_at FROM conversations WHERE id = $1', [row.conversation_id]).then((r) => r[0]);
    const before = await read();
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    expect(await read()).toEqual(before);
  });
});
