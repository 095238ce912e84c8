import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { messagesValue, notification, postWebhook, textNotification } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';

describe('a text message is answered', () => {
  let h: PipelineHarness;
  /** Whether the answer to `waId` is recorded as sent. */
  async function sendRecorded(waId: string): Promise<boolean> {
    const c = await sqlClient(h.gw.dbUrl);
    try {
      const r = await c.query(`SELECT m.status FROM messages m JOIN contacts k ON k.id = (SELECT contact_id FROM conversations WHERE id = m.conversation_id)
                               WHERE m.direction = 'outbound' AND k.wa_id = $1`, [waId]);
      return r.rows[0]?.status === 'sent';
    } finally {
      await c.end();
    }
  }
  beforeAll(async () => {
    h = await startPipeline();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('one text message → exactly one agent call and one send, in 3 round trips', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', systemPrompt: 'Be kind.' } });
    // Warm the per-process caches (tenant settings, channel token) with a first customer.
    const warm = h.cloud.once('send');
    await postWebhook(h.gw.url, textNotification(phoneNumberId, '15550009999', 'warm up').body);
    await warm;
    // Its send is recorded after the Cloud API has it: that statement is not this message's.
    await eventually(() => sendRecorded('15550009999'), undefined, 'the warm-up send recorded');
    h.model.requests.length = 0;
    const statements: string[] = [];
    const off = h.gw.bus.on('db.statement', (e) => {
      // The periodic sweep and lease renewal run whatever the traffic: not part of a message's cost.
      if (!['lease_reap_dead_owners', 'lease_sweep', 'lease_resume_due', 'lease_renew'].includes(e.name)) statements.push(e.name);
    });
    const n = textNotification(phoneNumberId, '15550001111', 'hello there');
    const conns = h.gw.db.stats.connectionsOpened;
    const sent = h.cloud.once('send');
    const res = await postWebhook(h.gw.url, n.body);
    expect(res.status).toBe(200);
    const s = await sent;
    expect(s.body).toBe('echo: hello there');
    expect(s.to).toBe('15550001111');
    await eventually(() => sendRecorded('15550001111'), undefined, 'the send recorded');
    await new Promise((r) => setTimeout(r, 100));
    expect(h.model.requests.length).toBe(1);
    const body = h.model.requests[0].body;
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'hello there' },
    ]);
    expect(h.gw.db.stats.connectionsOpened - conns).toBe(0);
    off();
    expect(statements).toEqual(['ingest_notification', 'turn_reply_commits', 'turn_send_results']);
  });

  it('a message that needs no turn (paused conversation, reaction) costs one round trip: the ingest', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const wa = '15550002222';
    const first = textNotification(phoneNumberId, wa, 'hi');
    const sent = h.cloud.once('send', (e) => e.to === wa);
    await postWebhook(h.gw.url, first.body);
    await sent;
    const c = await sqlClient(h.gw.dbUrl);
    try {
      await eventually(async () => (await c.query(`SELECT lease_owner FROM conversations v JOIN contacts k ON k.id = v.contact_id WHERE k.wa_id = $1`, [wa])).rows[0]?.lease_owner === null);
      await c.query(`UPDATE conversations SET paused = true WHERE contact_id = (SELECT id FROM contacts WHERE wa_id = $1)`, [wa]);
    } finally {
      await c.end();
    }
    const statements: string[] = [];
    const off = h.gw.bus.on('db.statement', (e) => {
      if (!['lease_reap_dead_owners', 'lease_sweep', 'lease_resume_due', 'lease_renew'].includes(e.name)) statements.push(e.name);
    });
    const paused = textNotification(phoneNumberId, wa, 'while paused');
    expect((await postWebhook(h.gw.url, paused.body)).status).toBe(200);
    const reaction = { from: wa, id: `wamid.R${Date.now()}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'reaction', reaction: { message_id: first.wamid, emoji: '👍' } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(phoneNumberId, [reaction]) }))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    off();
    expect(statements).toEqual(['ingest_notification', 'ingest_notification']);
  });
});
