import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app/gateway.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { startGatewayChild, type GatewayChild, type GatewayChildOptions } from '../support/crash.ts';
import { freshDatabase } from '../support/db.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { ConversationRows } from './conversationRows.ts';
import { newWaId, SendLog, settle } from './customers.ts';

/**
 * SIGKILL at any point loses nothing: every acknowledged message is answered,
 * once. What "once" allows: the Cloud API has no idempotency key, so a send
 * that reached Meta but whose `sent` was not yet committed when the process
 * died is ambiguous, and the next process sends it again (docs/behaviour.md: "only a
 * send that was in flight at the crash can be sent twice"). Right after each
 * kill the test computes that set exactly: replies still `queued` in the
 * database whose id the simulator already received (biz_opaque_callback_data).
 * Only those may arrive twice, as the same message (same id) again, never as a
 * second answer; every other conversation gets exactly one. Sends are paced at
 * one a second while the replies pile up, so at most one send is in flight at
 * a kill: at most one resend per crash.
 */
describe('crash safety: a process killed with SIGKILL at any point loses nothing', () => {
  const N = 100;
  let dbUrl: string;
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let rows: ConversationRows;
  let sends: SendLog;
  const children: GatewayChild[] = [];
  let childOpts: GatewayChildOptions;

  beforeAll(async () => {
    dbUrl = await freshDatabase();
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
    rows = await ConversationRows.open(dbUrl);
    sends = new SendLog(cloud);
    childOpts = {
      dbUrl,
      whatsappApiUrl: cloud.url + '/v25.0',
      openaiBaseUrl: model.openaiBaseUrl,
      env: { WAGATE_TEST_LEASE_SECONDS: '3', WAGATE_TEST_RENEW_MS: '500', WAGATE_TEST_SWEEP_MS: '200', DB_POOL_MAX: '10' },
    };
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
    const c = await startGatewayChild(childOpts);
    children.push(c);
    return c;
  }

  async function kill(c: GatewayChild): Promise<void> {
    c.kill('SIGKILL');
    expect((await c.exited).signal).toBe('SIGKILL');
    // Requests the dead process wrote before it died may still be in the simulator's socket buffers.
    await settle(300);
  }

  /** Replies left `queued` whose id the simulator already received: the sends a crash left ambiguous. */
  async function ambiguousSends(): Promise<Set<string>> {
    const seen = new Set(
      cloud
        .requests()
        .map((r) => (r.body as any)?.biz_opaque_callback_data)
        .filter((cb): cb is string => typeof cb === 'string' && cb.startsWith('wg:'))
        .map((cb) => cb.slice(3)),
    );
    const queued = await rows.query<{ id: string }>(`SELECT id FROM messages WHERE direction = 'outbound' AND status = 'queued'`);
    return new Set(queued.map((r) => r.id).filter((id) => seen.has(id)));
  }

  async function count(sql: string): Promise<number> {
    const [r] = await rows.query<{ n: number }>(sql);
    return r.n;
  }

  it('100 conversations in flight, killed after some acks during agent calls, then after reply commits before sends: each acknowledged message answered exactly once', async () => {
    const a = await start();
    const t = await provisionTenant({ url: a.url } as Gateway, { agent: { provider: 'openai' } });
    const customers = Array.from({ length: N }, () => newWaId());
    const notes = customers.map((wa) => textNotification(t.phoneNumberId, wa, `order status for ${wa}?`));

    // 1. Kill A while webhooks are still arriving and the first agent calls run (the model takes 3 s,
    //    so that even a loaded machine kills A before its first reply commit).
    model.setLatency(3_000);
    const acked = new Set<number>();
    let killedA: Promise<void> | null = null;
    let callsAtKill = 0;
    await Promise.all(
      notes.map(async (n, i) => {
        await new Promise((r) => setTimeout(r, i * 20));
        try {
          const res = await postWebhook(a.url, n.body);
          if (res.status === 200) acked.add(i);
        } catch {
          // The process died under this request: not acknowledged, Meta delivers it again.
        }
        if (acked.size >= 40 && !killedA) {
          callsAtKill = model.inflight;
          killedA = kill(a);
        }
      }),
    );
    await killedA;
    expect(acked.size).toBeGreaterThanOrEqual(40);
    // Killed during agent calls.
    expect(callsAtKill).toBeGreaterThan(0);
    const ambiguousA = await ambiguousSends();
    expect(ambiguousA.size).toBeLessThanOrEqual(1);

    // 2. B takes over. Meta delivers what was not acknowledged again. Replies now pile up
    //    (sends paced at one a second), and B is killed once many are committed but not sent,
    //    while its first send hangs at the Cloud API (accepted only after B is dead).
    model.setLatency(100);
    await rows.query('UPDATE channels SET messages_per_second = 1');
    const HELD_MS = 6_000;
    cloud.script({ on: 'send', delayMs: HELD_MS });
    const b = await start();
    for (const [i, n] of notes.entries()) {
      if (acked.has(i)) continue;
      const res = await postWebhook(b.url, n.body);
      expect(res.status).toBe(200);
    }
    await eventually(
      () => count(`SELECT count(*)::int AS n FROM messages WHERE direction = 'outbound' AND status = 'queued'`).then((n) => n >= 30),
      30_000,
      'replies committed and waiting to be sent',
    );
    const held = cloud.requests().find((r) => (r.body as any)?.type === 'text');
    const heldInFlight = held !== undefined && Date.now() < held.at + HELD_MS - 500;
    await kill(b);
    const ambiguousB = await ambiguousSends();
    expect(ambiguousB.size).toBeLessThanOrEqual(1);
    const heldId = String((held?.body as any)?.biz_opaque_callback_data ?? '').slice(3);
    // The send hanging at the kill is the ambiguous one (when the kill came while it hung, as it normally does).
    if (heldInFlight) expect([...ambiguousB]).toEqual([heldId]);

    // 3. C, at full speed, finishes everything: every message answered within 30 s.
    await rows.query('UPDATE channels SET messages_per_second = 80');
    await start();
    await eventually(
      () =>
        count(
          `SELECT count(*)::int AS n FROM messages WHERE (direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued')`,
        ).then((n) => n === 0),
      30_000,
      'everything answered after the restarts',
    );
    // The held send is accepted by the simulator HELD_MS after it arrived, dead client or not.
    if (held) await settle(Math.max(0, held.at + HELD_MS + 300 - Date.now()));
    await settle(500);

    const ambiguous = new Set([...ambiguousA, ...ambiguousB]);
    const byTo = sends.byRecipient();
    let resent = 0;
    for (const wa of customers) {
      const got = byTo.get(wa) ?? [];
      expect(got.length, `${wa} got ${got.length} sends`).toBeGreaterThanOrEqual(1);
      expect(new Set(got.map((s) => s.body))).toEqual(new Set([`echo: order status for ${wa}?`]));
      // A second send only for an ambiguous one, and then the very same message again.
      if (got.length > 1) {
        expect(got).toHaveLength(2);
        expect(got[0].messageId).toBe(got[1].messageId);
        expect(ambiguous.has(got[0].messageId!), `${wa} was sent twice without being in flight at a crash`).toBe(true);
        resent++;
      }
    }
    expect(resent).toBeLessThanOrEqual(ambiguous.size);
    // In the database: one inbound row per message, answered; one reply each; one quota unit each.
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE direction = 'inbound'`)).toBe(N);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE direction = 'inbound' AND disposition = 'answered'`)).toBe(N);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE direction = 'outbound' AND status = 'sent'`)).toBe(N);
    expect(await count(`SELECT count(*)::int AS n FROM messages WHERE direction = 'outbound'`)).toBe(N);
    expect(await count(`SELECT coalesce(sum(count), 0)::int AS n FROM usage`)).toBe(N);
  });
});
