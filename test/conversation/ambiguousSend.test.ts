import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app/gateway.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { freePort, startGatewayChild, type GatewayChild } from '../support/crash.ts';
import { freshDatabase } from '../support/db.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { provisionTenant, TEST_APP_SECRET } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';

/**
 * docs/behaviour.md: the outbound message's id travels in biz_opaque_callback_data,
 * which Meta echoes in status webhooks, so a send left ambiguous by a crash
 * can be settled from them before it is resent.
 */
describe('a send left ambiguous by a crash is settled by its status webhook', () => {
  let dbUrl: string;
  let port: number;
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let rows: ConversationRows;
  let sends: SendLog;
  const children: GatewayChild[] = [];
  beforeAll(async () => {
    dbUrl = await freshDatabase();
    // Both processes listen on the same port, as a restarted gateway behind Meta's webhook URL does.
    port = await freePort();
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({
      webhookUrl: `http://127.0.0.1:${port}/webhooks/whatsapp`,
      appSecret: TEST_APP_SECRET,
      statusDelaysMs: { sent: 0, delivered: 50, read: null },
    });
    rows = await ConversationRows.open(dbUrl);
    sends = new SendLog(cloud);
  });
  afterAll(async () => {
    sends?.stop();
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await rows?.close();
    await cloud?.close();
    await model?.close();
  });

  async function start(): Promise<GatewayChild> {
    const c = await startGatewayChild({
      dbUrl,
      whatsappApiUrl: cloud.url + '/v25.0',
      openaiBaseUrl: model.openaiBaseUrl,
      // The dead process's lease on a conversation with a reply still queued is cut to the settle
      // time (SEND_SETTLE_SECONDS) once the restarted process finds it dead: the status's way back
      // (the simulator retries it until the new process takes it) is shorter, so the sweep would only
      // resend what no status settled.
      env: { PORT: String(port), WAGATE_TEST_LEASE_SECONDS: '15', WAGATE_TEST_RENEW_MS: '500', WAGATE_TEST_SWEEP_MS: '200' },
    });
    children.push(c);
    return c;
  }

  it('killed while Meta holds the send: the next process learns from the status that it went out, and does not send it again', async () => {
    const a = await start();
    const t = await provisionTenant({ url: a.url } as Gateway, { agent: { provider: 'openai', markReadWithTyping: false } });
    const wa = newWaId();
    // Meta takes 3 s to accept this one send.
    cloud.script({ on: 'send', delayMs: 3_000 });
    await new Customers(a.url, t.phoneNumberId).say(wa, 'did my parcel ship?');
    await eventually(() => cloud.requests().some((r) => (r.body as any)?.to === wa), 10_000, 'the send reaching the Cloud API');
    a.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;
    const [queued] = await rows.outbound(wa);
    expect(queued.status).toBe('queued');
    await start();
    // The simulator accepts the held send and posts its statuses to the restarted gateway.
    await eventually(async () => (await rows.outbound(wa))[0]?.status !== 'queued', 15_000, 'the status settling the send');
    // Past the dead process's lease (15 s): the sweep has had every chance to resend.
    await settle(killedAt + 16_000 - Date.now());
    expect(sends.to(wa)).toEqual(['echo: did my parcel ship?']);
    const out = await rows.outbound(wa);
    expect(out).toHaveLength(1);
    expect(['sent', 'delivered']).toContain(out[0].status);
    expect(await rows.dispositions(wa)).toEqual(['answered']);
    expect((await rows.query('SELECT wamid FROM messages WHERE id = $1', [out[0].id]))[0].wamid).toMatch(/^wamid\.SIM/);
  }, 120_000);
});
