import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, TEST_APP_SECRET, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, postWebhook, textMessage, textNotification } from '../support/webhooks.ts';
import { sign } from '../../src/webhook/signature.ts';
import { ingestOnly, Rows } from './rows.ts';

describe('webhook signature (X-Hub-Signature-256 over the raw bytes)', () => {
  let gw: TestGateway;
  let rows: Rows;
  let phoneNumberId: string;
  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
    rows = await Rows.open(gw.dbUrl);
    ({ phoneNumberId } = await provisionTenant(gw));
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  async function expectRefused(res: { status: number; text: string }) {
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'invalid_signature', message: expect.any(String) } });
  }

  it('refuses a notification without a signature with 401 and stores nothing', async () => {
    const n = textNotification(phoneNumberId, '15550001001', 'unsigned');
    await expectRefused(await postWebhook(gw.url, n.body, { signature: null }));
    expect(await rows.message(n.wamid)).toBeUndefined();
  });

  it('refuses malformed signature headers with 401 and stores nothing', async () => {
    const n = textNotification(phoneNumberId, '15550001002', 'malformed');
    const raw = JSON.stringify(n.body);
    const hex = createHmac('sha256', TEST_APP_SECRET).update(raw).digest('hex');
    const sha1 = createHmac('sha1', TEST_APP_SECRET).update(raw).digest('hex');
    for (const signature of ['', hex, `sha256=${hex.slice(0, 63)}`, `sha256=${hex}0`, `sha256=${'z'.repeat(64)}`, `sha1=${sha1}`, `sha256= ${hex}`]) {
      await expectRefused(await postWebhook(gw.url, null, { raw, signature }));
    }
    expect(await rows.message(n.wamid)).toBeUndefined();
  });

  it('refuses a signature made with another secret with 401 and stores nothing', async () => {
    const n = textNotification(phoneNumberId, '15550001003', 'wrong secret');
    await expectRefused(await postWebhook(gw.url, n.body, { secret: TEST_APP_SECRET + '!' }));
    expect(await rows.message(n.wamid)).toBeUndefined();
  });

  it('refuses a body altered by one byte after signing with 401 and stores nothing', async () => {
    const n = textNotification(phoneNumberId, '15550001004', 'original');
    const raw = JSON.stringify(n.body);
    const signature = sign(raw, TEST_APP_SECRET);
    await expectRefused(await postWebhook(gw.url, null, { raw: raw.replace('original', 'originaL'), signature }));
    expect(await rows.message(n.wamid)).toBeUndefined();
  });

  it('verifies a body with non-ASCII characters escaped as \\uXXXX, as Meta signs it', async () => {
    const m = textMessage('15550001005', 'PLACEHOLDER');
    // The bytes as Meta sends them: é, / and @ escaped, an emoji as a surrogate pair.
    const raw = JSON.stringify(notification({ value: messagesValue(phoneNumberId, [m]) })).replace(
      'PLACEHOLDER',
      'caf\\u00e9 \\/ \\u0040home \\ud83d\\ude00',
    );
    expect(raw).toContain('caf\\u00e9');
    const res = await postWebhook(gw.url, null, { raw, signature: sign(raw, TEST_APP_SECRET) });
    expect(res.status).toBe(200);
    expect((await rows.message(m.id))?.body).toBe('café / @home 😀');
  });

  it('verifies a body with raw UTF-8 characters', async () => {
    const m = textMessage('15550001006', 'café / @home 😀 ünïcødé');
    const raw = Buffer.from(JSON.stringify(notification({ value: messagesValue(phoneNumberId, [m]) })), 'utf8');
    const res = await postWebhook(gw.url, null, { raw, signature: sign(raw, TEST_APP_SECRET) });
    expect(res.status).toBe(200);
    expect((await rows.message(m.id))?.body).toBe('café / @home 😀 ünïcødé');
  });

  it('refuses a body re-serialised after signing (escapes turned into UTF-8)', async () => {
    const m = textMessage('15550001007', 'PLACEHOLDER');
    const raw = JSON.stringify(notification({ value: messagesValue(phoneNumberId, [m]) })).replace('PLACEHOLDER', 'caf\\u00e9');
    const reserialised = JSON.stringify(JSON.parse(raw));
    expect(reserialised).not.toBe(raw);
    await expectRefused(await postWebhook(gw.url, null, { raw: reserialised, signature: sign(raw, TEST_APP_SECRET) }));
    expect(await rows.message(m.id)).toBeUndefined();
  });

  describe('a channel with its own app secret', () => {
    let own: Awaited<ReturnType<typeof provisionTenant>>;
    let other: Awaited<ReturnType<typeof provisionTenant>>;
    beforeAll(async () => {
      own = await provisionTenant(gw, { name: 'Own app', channel: { appSecret: 'channel-own-secret', verifyToken: 'channel-own-token' } });
      other = await provisionTenant(gw, { name: 'Other', channel: { appSecret: 'other-own-secret', verifyToken: 'other-own-token' } });
    });

    it("accepts a notification signed with the channel's secret on its own URL", async () => {
      const n = textNotification(own.phoneNumberId, '15550002001', 'own app');
      const res = await postWebhook(gw.url, n.body, { secret: 'channel-own-secret', path: `/webhooks/whatsapp/${own.channel.id}` });
      expect(res.status).toBe(200);
      const row = await rows.message(n.wamid);
      expect(row?.body).toBe('own app');
      expect(String(row?.channel_id)).toBe(own.channel.id);
    });

    it("refuses the channel's secret on the global URL", async () => {
      const n = textNotification(own.phoneNumberId, '15550002002', 'wrong door');
      await expectRefused(await postWebhook(gw.url, n.body, { secret: 'channel-own-secret' }));
      expect(await rows.message(n.wamid)).toBeUndefined();
    });

    it("refuses the global secret and another channel's secret on the channel's URL", async () => {
      const n = textNotification(own.phoneNumberId, '15550002003', 'global key');
      const path = `/webhooks/whatsapp/${own.channel.id}`;
      await expectRefused(await postWebhook(gw.url, n.body, { path }));
      await expectRefused(await postWebhook(gw.url, n.body, { path, secret: 'other-own-secret' }));
      expect(await rows.message(n.wamid)).toBeUndefined();
    });

    it("does not store another channel's phone_number_id posted to a channel's URL", async () => {
      const unroutable: string[] = [];
      const off = gw.bus.on('webhook.unroutable', (e) => unroutable.push(e.phoneNumberId));
      try {
        // Signed correctly for the URL, but naming a number of another tenant.
        const n = textNotification(other.phoneNumberId, '15550002004', 'smuggled');
        const res = await postWebhook(gw.url, n.body, { secret: 'channel-own-secret', path: `/webhooks/whatsapp/${own.channel.id}` });
        expect(res.status).toBe(200);
        expect(await rows.message(n.wamid)).toBeUndefined();
        expect(unroutable).toEqual([other.phoneNumberId]);
      } finally {
        off();
      }
    });

    it('answers 404 to a POST on the URL of a channel that does not exist', async () => {
      const n = textNotification(own.phoneNumberId, '15550002005', 'nobody');
      const res = await postWebhook(gw.url, n.body, { path: '/webhooks/whatsapp/999999999' });
      expect(res.status).toBe(404);
      expect(await rows.message(n.wamid)).toBeUndefined();
    });
  });
});
