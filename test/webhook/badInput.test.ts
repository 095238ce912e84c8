import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, postWebhook, statusNotification, textMessage, textNotification, wamid } from '../support/webhooks.ts';
import { ingestOnly, Rows } from './rows.ts';

describe('bad input to the webhook: the documented 4xx, nothing stored, still serving', () => {
  let gw: TestGateway;
  let rows: Rows;
  let p: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
    rows = await Rows.open(gw.dbUrl);
    p = await provisionTenant(gw);
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  /** Posts signed raw bytes; checks status, JSON error code, that nothing was stored and that a good post still works. */
  async function expectRejected(raw: string | Buffer, status: number, code: string, opts: { contentType?: string } = {}) {
    const before = await rows.counts();
    const res = await postWebhook(gw.url, null, { raw, ...opts });
    expect(res.status).toBe(status);
    const body = JSON.parse(res.text);
    expect(body).toEqual({ error: { code, message: expect.any(String) } });
    expect(body.error.message.length).toBeGreaterThan(0);
    expect(await rows.counts()).toEqual(before);
    const good = textNotification(p.phoneNumberId, '15550006999', 'still serving');
    expect((await postWebhook(gw.url, good.body)).status).toBe(200);
    expect(await rows.message(good.wamid)).toBeDefined();
    return body.error.message as string;
  }

  /** A one-message notification's JSON with the message changed by `edit`. */
  const withMessage = (edit: (m: Record<string, unknown>) => void) => {
    const m: Record<string, unknown> = textMessage('15550006001', 'x');
    edit(m);
    return JSON.stringify(notification({ value: messagesValue(p.phoneNumberId, [m]) }));
  };

  it('answers 400 invalid_json to a body that is not JSON', async () => {
    await expectRejected('{"object": "whatsapp_business_account", "entry": [', 400, 'invalid_json');
    await expectRejected('object=whatsapp_business_account', 400, 'invalid_json');
  });

  it('answers 400 to an empty body', async () => {
    await expectRejected('', 400, 'invalid_json');
  });

  it('answers 400 invalid_notification to JSON that is not a WhatsApp Business Account notification', async () => {
    for (const raw of ['[]', 'null', '42', '"text"', '{}', '{"object":"page","entry":[]}', '{"object":"whatsapp_business_account"}', '{"object":"whatsapp_business_account","entry":{}}']) {
      await expectRejected(raw, 400, 'invalid_notification');
    }
  });

  it('answers 400 invalid_notification to a messages change of the wrong shape', async () => {
    const cases = [
      JSON.stringify(notification({ value: { messages: [textMessage('1555', 'no metadata')] } })),
      JSON.stringify(notification({ value: 'not an object' })),
      withMessage((m) => delete m.id),
      withMessage((m) => delete m.timestamp),
      withMessage((m) => (m.type = 42)),
      withMessage((m) => (m.id = 'w'.repeat(600))),
      withMessage((m) => delete m.from),
    ];
    for (const raw of cases) await expectRejected(raw, 400, 'invalid_notification');
  });

  it('rejects the whole notification when one of its messages is invalid, storing none of it', async () => {
    const good = textMessage('15550006002', 'fine');
    const bad = { ...textMessage('15550006002', 'broken'), timestamp: 'yesterday' };
    await expectRejected(JSON.stringify(notification({ value: messagesValue(p.phoneNumberId, [good, bad]) })), 400, 'invalid_notification');
    expect(await rows.message(good.id)).toBeUndefined();
  });

  it('answers 413 to a body over 4 MiB', async () => {
    const text = 'x'.repeat(5 * 1024 * 1024);
    await expectRejected(withMessage((m) => (m.text = { body: text })), 413, 'payload_too_large');
  });

  it('accepts a body just under the 4 MiB limit', async () => {
    const m = textMessage('15550006003', 'big');
    const skeleton = JSON.stringify(notification({ value: messagesValue(p.phoneNumberId, [m]) }));
    const body = 'y'.repeat(4 * 1024 * 1024 - skeleton.length - 16);
    const raw = skeleton.replace('"big"', JSON.stringify(body));
    expect(Buffer.byteLength(raw)).toBeLessThan(4 * 1024 * 1024);
    expect((await postWebhook(gw.url, null, { raw })).status).toBe(200);
    expect((await rows.message(m.id))?.body).toHaveLength(body.length);
  });

  it('answers 415 to a content type other than JSON', async () => {
    const raw = JSON.stringify(textNotification(p.phoneNumberId, '15550006004', 'form').body);
    await expectRejected(raw, 415, 'unsupported_media_type', { contentType: 'application/x-www-form-urlencoded' });
    await expectRejected(raw, 415, 'unsupported_media_type', { contentType: 'text/plain' });
  });

  it('answers 400 to deeply nested JSON', async () => {
    const depth = 100_000;
    await expectRejected('['.repeat(depth) + ']'.repeat(depth), 400, 'invalid_notification');
    // Nesting hidden inside an otherwise valid message.
    await expectRejected(withMessage((m) => (m.extra = JSON.parse('['.repeat(200) + ']'.repeat(200)))), 400, 'invalid_notification');
  });

  it('answers 400 to strings or keys with NUL characters', async () => {
    await expectRejected(withMessage((m) => (m.text = { body: 'nul\u0000here' })), 400, 'invalid_notification');
    await expectRejected(withMessage((m) => (m['bad\u0000key'] = 1)), 400, 'invalid_notification');
  });

  it('answers 400 to huge numbers: a timestamp of 1e30, an error code beyond int32', async () => {
    await expectRejected(withMessage((m) => (m.timestamp = 1e30)), 400, 'invalid_notification');
    await expectRejected(withMessage((m) => (m.timestamp = '1e30')), 400, 'invalid_notification');
    await expectRejected(withMessage((m) => (m.timestamp = '1000000000000000000000000000000')), 400, 'invalid_notification');
    const failed = (code: number) =>
      JSON.stringify(statusNotification(p.phoneNumberId, [{ id: wamid(), status: 'failed', timestamp: '1700000000', errors: [{ code, title: 'x' }] }]));
    await expectRejected(failed(2 ** 31), 400, 'invalid_notification');
    await expectRejected(failed(1e300), 400, 'invalid_notification');
  });

  // Valid JSON but not valid Unicode: jsonb refuses it, and a 500 would make Meta retry for days.
  it('answers 400 to a string with a lone UTF-16 surrogate', async () => {
    await expectRejected(withMessage((m) => (m.text = { body: 'half \ud800 a pair' })), 400, 'invalid_notification');
  });
});
