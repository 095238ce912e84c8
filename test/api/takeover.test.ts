import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';

describe('POST /api/conversations/:id/pause and /resume', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  const lastInbound = async (gwKey: string, id: string) =>
    (await api(h.gw, 'GET', `/api/conversations/${id}/messages?order=desc&limit=10`, undefined, gwKey)).body.items.find((m: any) => m.direction === 'inbound');

  it('pause stops the bot (disposition paused, nothing sent); resume brings it back for the next message only', async () => {
    const t = await tenantWithConversation(h.gw, { text: 'hello' });
    await eventually(async () => (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.lastMessage?.author === 'agent');

    const p = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/pause`, undefined, t.key);
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ id: t.conversationId, paused: true, pausedUntil: null, pausedBy: 'operator' });

    const sendsBefore = h.cloud.stats().sends;
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'still there?').body);
    const m = await eventually(async () => {
      const x = await lastInbound(t.key, t.conversationId);
      return x?.text === 'still there?' && x.disposition ? x : null;
    });
    expect(m.disposition).toBe('paused');
    expect(h.cloud.stats().sends).toBe(sendsBefore);

    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/resume`, undefined, t.key);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ paused: false, pausedUntil: null, pausedBy: null });
    // The message that came while paused stays unanswered …
    expect((await lastInbound(t.key, t.conversationId)).disposition).toBe('paused');
    // … and the next one is answered.
    const sent = h.cloud.once('send', (s) => s.to === t.from);
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'hello again').body);
    await sent;
  });

  it('pause takes an optional {"minutes"}: a resume timer for this pause', async () => {
    const t = await tenantWithConversation(h.gw);
    const before = Date.now();
    const p = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/pause`, { minutes: 30 }, t.key);
    expect(p.status).toBe(200);
    const until = new Date(p.body.pausedUntil).getTime();
    expect(until).toBeGreaterThanOrEqual(before + 29 * 60_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 31 * 60_000);
  });

  it("without minutes the tenant's resumeAfterMinutes sets the timer", async () => {
    const t = await tenantWithConversation(h.gw, { agent: { provider: 'demo', resumeAfterMinutes: 10 } });
    const p = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/pause`, {}, t.key);
    expect(p.body.pausedUntil).not.toBeNull();
    expect(new Date(p.body.pausedUntil).getTime()).toBeGreaterThan(Date.now() + 9 * 60_000);
  });

  it('400 for bad minutes or extra fields; resume takes no body; 404 for unknown ids', async () => {
    const t = await tenantWithConversation(h.gw);
    for (const body of [{ minutes: 0 }, { minutes: 1.5 }, { minutes: '5' }, { minutes: 525_601 }, { until: 'tomorrow' }]) {
      const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/pause`, body, t.key);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/resume`, { now: true }, t.key);
    expect(r.status).toBe(400);
    for (const path of ['pause', 'resume', 'read']) {
      expect((await api(h.gw, 'POST', `/api/conversations/31415926/${path}`, undefined, t.key)).status, path).toBe(404);
    }
  });
});
