import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app/gateway.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { freePort, startGatewayChild, type GatewayChild } from '../support/crash.ts';
import { freshDatabase } from '../support/db.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { ConversationRows } from './conversationRows.ts';
import { newWaId, SendLog } from './customers.ts';

describe('shutdown: SIGTERM lets running turns finish and loses nothing', () => {
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let rows: ConversationRows;
  let sends: SendLog;
  let dbUrl: string;
  const children: GatewayChild[] = [];
  beforeAll(async () => {
    dbUrl = await freshDatabase();
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
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

  /** `wagate start` itself (its own signal handling and production defaults) in a child process. */
  async function startWagate(graceMs: number): Promise<GatewayChild> {
    const port = await freePort();
    const c = await startGatewayChild({
      dbUrl,
      whatsappApiUrl: cloud.url + '/v25.0',
      openaiBaseUrl: model.openaiBaseUrl,
      entry: 'start',
      env: { PORT: String(port), WAGATE_SHUTDOWN_GRACE_MS: String(graceMs) },
    });
    children.push(c);
    return c;
  }

  /** Starts a process, one customer message whose agent call takes `latencyMs`, and SIGTERMs it while the call runs. */
  async function termDuringTurn(graceMs: number, latencyMs: number) {
    const gw = await startWagate(graceMs);
    const t = await provisionTenant({ url: gw.url } as Gateway, { agent: { provider: 'openai' } });
    const wa = newWaId();
    const before = model.requests.length;
    model.script({ kind: 'echo', latencyMs });
    expect((await postWebhook(gw.url, textNotification(t.phoneNumberId, wa, 'a slow question').body)).status).toBe(200);
    await eventually(() => model.requests.length > before, 5_000, 'the agent call');
    gw.kill('SIGTERM');
    return { gw, t, wa };
  }

  it('SIGTERM while a turn runs: webhooks get 503 during the grace, exit 0, no lease left, nothing accepted lost', async () => {
    const { gw, t, wa } = await termDuringTurn(8_000, 1_500);
    // During the grace the process still listens, and refuses new work so that Meta delivers it again.
    // (A delivery that raced the signal may still have been accepted: then it must be answered too.)
    const accepted: { wa: string; text: string }[] = [];
    let refused: { wamid: string } | null = null;
    for (let i = 0; i < 50 && !refused; i++) {
      const other = newWaId();
      const n = textNotification(t.phoneNumberId, other, `too late ${i}`);
      const status = (await postWebhook(gw.url, n.body)).status;
      if (status === 503) refused = n;
      else if (status === 200) accepted.push({ wa: other, text: `too late ${i}` });
      else throw new Error(`unexpected status ${status}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused).not.toBeNull();
    expect(sends.to(wa)).toEqual([]);
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    // The running turn finished: its answer was committed (sent, or queued for whoever runs next).
    expect(await rows.dispositions(wa)).toEqual(['answered']);
    expect(await rows.query('SELECT id FROM messages WHERE wamid = $1', [refused!.wamid])).toEqual([]);
    expect(await rows.query('SELECT id FROM conversations WHERE lease_owner IS NOT NULL')).toEqual([]);
    // Whatever was left goes out exactly once with the next process.
    await startWagate(8_000);
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'sent', 10_000, 'the reply sent');
    for (const a of accepted) await eventually(() => sends.to(a.wa).length > 0, 10_000, `the answer to ${a.wa}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(sends.to(wa)).toEqual(['echo: a slow question']);
    for (const a of accepted) expect(sends.to(a.wa)).toEqual([`echo: ${a.text}`]);
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
  });

  // A turn finishing within the grace is finished only when its reply is out, not merely committed.
  it("SIGTERM while a turn runs: the running turn's reply is sent before the process exits", async () => {
    const { gw, wa } = await termDuringTurn(8_000, 1_000);
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    expect(sends.to(wa)).toEqual(['echo: a slow question']);
    expect((await rows.outbound(wa))[0].status).toBe('sent');
  });

  it('a turn that outlasts the grace is given up and its lease released: the next process answers it', async () => {
    const gw = await startWagate(500);
    const t = await provisionTenant({ url: gw.url } as Gateway, { agent: { provider: 'openai' } });
    const wa = newWaId();
    const before = model.requests.length;
    model.script('hang');
    expect((await postWebhook(gw.url, textNotification(t.phoneNumberId, wa, 'are you still there?').body)).status).toBe(200);
    await eventually(() => model.requests.length > before, 5_000, 'the agent call');
    gw.kill('SIGTERM');
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    expect(sends.to(wa)).toEqual([]);
    expect(await rows.dispositions(wa)).toEqual([null]);
    expect(await rows.query('SELECT id FROM conversations WHERE lease_owner IS NOT NULL')).toEqual([]);
    // The lease was given back, so the next process takes the message over at once (no lease to wait out).
    await startWagate(8_000);
    await eventually(() => sends.to(wa).length === 1, 10_000, 'answered by the next process');
    expect(sends.to(wa)).toEqual(['echo: are you still there?']);
    expect(await rows.dispositions(wa)).toEqual(['answered']);
  });
});
