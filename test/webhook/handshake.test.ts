import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, TEST_VERIFY_TOKEN, type TestGateway } from '../support/gateway.ts';
import { ingestOnly } from './rows.ts';

async function handshake(gw: TestGateway, path: string, params: Record<string, string>) {
  const res = await fetch(`${gw.url}${path}?${new URLSearchParams(params)}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

const subscribe = (token: string, challenge = '1158201444') => ({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': challenge });

describe('webhook subscription handshake', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('answers the challenge as text/plain when the global verify token matches', async () => {
    const res = await handshake(gw, '/webhooks/whatsapp', subscribe(TEST_VERIFY_TOKEN, 'challenge-42'));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    expect(res.text).toBe('challenge-42');
  });

  it('refuses a wrong global verify token with 403', async () => {
    const res = await handshake(gw, '/webhooks/whatsapp', subscribe(TEST_VERIFY_TOKEN + 'x'));
    expect(res.status).toBe(403);
    expect(res.text).not.toContain('1158201444');
  });

  it('refuses a missing token or a mode other than subscribe with 403', async () => {
    expect((await handshake(gw, '/webhooks/whatsapp', { 'hub.mode': 'subscribe', 'hub.challenge': '1' })).status).toBe(403);
    expect((await handshake(gw, '/webhooks/whatsapp', { ...subscribe(TEST_VERIFY_TOKEN), 'hub.mode': 'unsubscribe' })).status).toBe(403);
  });

  it("answers a channel's own verify token on its own URL", async () => {
    const { channel } = await provisionTenant(gw, { channel: { appSecret: 'own-secret', verifyToken: 'own-token' } });
    const res = await handshake(gw, `/webhooks/whatsapp/${channel.id}`, subscribe('own-token', 'per-channel-7'));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    expect(res.text).toBe('per-channel-7');
  });

  it("refuses on a channel's URL the global token or a wrong one with 403", async () => {
    const { channel } = await provisionTenant(gw, { channel: { appSecret: 'own-secret-2', verifyToken: 'own-token-2' } });
    expect((await handshake(gw, `/webhooks/whatsapp/${channel.id}`, subscribe(TEST_VERIFY_TOKEN))).status).toBe(403);
    expect((await handshake(gw, `/webhooks/whatsapp/${channel.id}`, subscribe('own-token-2x'))).status).toBe(403);
  });

  it("does not accept a channel's own token on the global URL", async () => {
    await provisionTenant(gw, { channel: { appSecret: 'own-secret-3', verifyToken: 'own-token-3' } });
    expect((await handshake(gw, '/webhooks/whatsapp', subscribe('own-token-3'))).status).toBe(403);
  });

  it('uses the global token on the URL of a channel without its own', async () => {
    const { channel } = await provisionTenant(gw);
    const res = await handshake(gw, `/webhooks/whatsapp/${channel.id}`, subscribe(TEST_VERIFY_TOKEN, 'fallback-1'));
    expect(res.status).toBe(200);
    expect(res.text).toBe('fallback-1');
  });

  it('refuses the handshake of an unknown or malformed channel id with 403', async () => {
    expect((await handshake(gw, '/webhooks/whatsapp/987654321', subscribe(TEST_VERIFY_TOKEN))).status).toBe(403);
    expect((await handshake(gw, '/webhooks/whatsapp/not-a-number', subscribe(TEST_VERIFY_TOKEN))).status).toBe(403);
  });
});
