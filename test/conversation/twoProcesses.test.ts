import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app/gateway.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { startGatewayChild, type GatewayChild } from '../support/crash.ts';
import { freshDatabase } from '../support/db.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';

/** The customer messages of one model request: the user messages after the last assistant message. */
function turnMessages(body: any): string[] {
  const messages = body.messages as { role: string; content: string }[];
  const i = messages.map((m) => m.role).lastIndexOf('assistant');
  return messages.slice(i + 1).filter((m) => m.role === 'user').map((m) => m.content);
}

describe('two processes on one database', () => {
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let p: GatewayChild;
  let q: GatewayChild;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    const dbUrl = await freshDatabase();
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
    const env = { WAGATE_TEST_LEASE_SECONDS: '5', WAGATE_TEST_RENEW_MS: '1000', WAGATE_TEST_SWEEP_MS: '200' };
    const opts = { dbUrl, whatsappApiUrl: cloud.url + '/v25.0', openaiBaseUrl: model.openaiBaseUrl, env };
    [p, q] = await Promise.all([startGatewayChild(opts), startGatewayChild(opts)]);
    rows = await ConversationRows.open(dbUrl);
    sends = new SendLog(cloud);
  });
  afterAll(async () => {
    sends?.stop();
    for (const c of [p, q]) c?.kill('SIGTERM');
    await Promise.all([p?.exited, q?.exited]);
    await rows?.close();
    await cloud?.close();
    await model?.close();
  });

  /** Waits until nothing is pending in the whole database. */
  async function allSettled(timeoutMs: number): Promise<void> {
    await eventually(async () => {
      const [r] = await rows.query<{ open: number }>(
        `SELECT count(*)::int AS open FROM messages WHERE (direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued')`,
      );
      return r.open === 0;
    }, timeoutMs, 'everything settled');
  }

  it("one conversation's messages posted alternately to both: answers in order, none twice, none missing", async () => {
    const t = await provisionTenant({ url: p.url } as Gateway, { agent: { provider: 'openai', coalesce: 'queue' } });
    const viaP = new Customers(p.url, t.phoneNumberId);
    const viaQ = new Customers(q.url, t.phoneNumberId);
    const was = Array.from({ length: 10 }, () => newWaId());
    model.reset();
    model.setLatency(200);
    try {
      await Promise.all(
        was.map(async (wa) => {
          for (let i = 1; i <= 6; i++) {
            await (i % 2 ? viaP : viaQ).say(wa, `${wa} m${i}`);
            await new Promise((r) => setTimeout(r, 80));
          }
        }),
      );
      await allSettled(20_000);
    } finally {
      model.setLatency(0);
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const wa of was) {
      const expected = Array.from({ length: 6 }, (_, i) => `${wa} m${i + 1}`);
      const calls = model.requests.filter((r) => turnMessages(r.body).some((m) => m.startsWith(wa)));
      const turns = calls.map((c) => turnMessages(c.body));
      // Every message reached the agent exactly once as a turn's own message, in order.
      expect(turns.flat(), wa).toEqual(expected);
      // One answer per turn, in order; none twice, none missing; the last message answered.
      expect(sends.to(wa), wa).toEqual(turns.map((tm) => `echo: ${tm.at(-1)}`));
      const ds = await rows.dispositions(wa);
      expect(ds.every((d) => d === 'answered' || d === 'coalesced'), `${wa}: ${ds.join(',')}`).toBe(true);
      expect(ds.at(-1)).toBe('answered');
      expect(ds.filter((d) => d === 'answered')).toHaveLength(turns.length);
    }
  });

  it('a turn longer than the lease keeps it by renewal: the other process, sweeping all along, never takes the conversation over', async () => {
    const t = await provisionTenant({ url: p.url } as Gateway, { agent: { provider: 'openai' } });
    const wa = newWaId();
    const before = model.requests.length;
    // Leases last 5 s here; the agent takes 7 s.
    model.script({ kind: 'echo', latencyMs: 7_000 });
    await new Customers(p.url, t.phoneNumberId).say(wa, 'a long think');
    // Ingest takes its lease for a fixed 15 s; bring it to the runner's 5 s, so only renewal can keep it past the call.
    await rows.query(`UPDATE conversations SET lease_until = now() + interval '5 seconds' WHERE id = (SELECT id FROM conversations c WHERE c.contact_id = (SELECT id FROM contacts WHERE wa_id = $1))`, [wa]);
    await eventually(() => sends.to(wa).length === 1, 15_000, 'the answer');
    await eventually(() => rows.settled(wa));
    await new Promise((r) => setTimeout(r, 500));
    const calls = model.requests.slice(before).filter((r) => turnMessages(r.body).includes('a long think'));
    expect(calls).toHaveLength(1);
    expect(sends.to(wa)).toEqual(['echo: a long think']);
    expect(await rows.dispositions(wa)).toEqual(['answered']);
  });

  // docs/behaviour.md: "the customer gets one answer for a burst … a restart or a second process changes
  // none of this": the holder must hear of a message the other process stored while its call runs.
  it('coalesce restart across processes: a burst split over both, ending on the process not holding it, gets one answer that saw all 4', async () => {
    const t = await provisionTenant({ url: p.url } as Gateway, { agent: { provider: 'openai', coalesce: 'restart' } });
    const viaP = new Customers(p.url, t.phoneNumberId);
    const viaQ = new Customers(q.url, t.phoneNumberId);
    const wa = newWaId();
    // Each message restarts the call: it must outlast the gap between two of them, which a
    // busy machine stretches well past the 60 ms slept.
    model.setLatency(2_500);
    const before = model.requests.length;
    try {
      for (let i = 1; i <= 4; i++) {
        await (i % 2 ? viaP : viaQ).say(wa, `b${i}`);
        await new Promise((r) => setTimeout(r, 60));
      }
      await eventually(() => rows.settled(wa), 15_000, 'the burst settled');
    } finally {
      model.setLatency(0);
    }
    expect(sends.to(wa)).toEqual(['echo: b4']);
    expect(turnMessages(model.requests.slice(before).at(-1)!.body)).toEqual(['b1', 'b2', 'b3', 'b4']);
  });
  // Runs last: it kills P.
  it('the holder killed mid-turn: the other process takes its conversations over once it finds the holder dead, each answered once', async () => {
    const t = await provisionTenant({ url: q.url } as Gateway, { agent: { provider: 'openai', coalesce: 'queue' } });
    const viaP = new Customers(p.url, t.phoneNumberId);
    const viaQ = new Customers(q.url, t.phoneNumberId);
    const was = Array.from({ length: 20 }, () => newWaId());
    // Long calls, and the kill once all 20 are seen running: mid-turn for certain. (After a
    // fixed 1.5 s, a busy machine could kill P after some sends, which no status webhook
    // here tells Q about: Q sent them again.)
    model.setLatency(8_000);
    const posted = Date.now();
    await Promise.all(was.map((wa) => viaP.say(wa, `${wa} first`)));
    await eventually(() => model.inflight >= 20, 6_000, 'the 20 agent calls running');
    // Past the first renewal, the leases are the runner's 5 s.
    await new Promise((r) => setTimeout(r, Math.max(0, posted + 1_500 - Date.now())));
    p.kill('SIGKILL');
    await p.exited;
    model.setLatency(100);
    // Written right after the kill, while the dead holder's leases may still run: Q stores them and leaves
    // them to the holder of record until its sweep finds it dead (its liveness lock gone) and cuts them short.
    await Promise.all(was.slice(0, 5).map((wa) => viaQ.say(wa, `${wa} second`)));
    await allSettled(20_000);
    await new Promise((r) => setTimeout(r, 300));
    for (const [i, wa] of was.entries()) {
      const got = sends.to(wa);
      if (i < 5) {
        // Both messages answered, in order (one turn or two), nothing twice.
        expect(got.at(-1), wa).toBe(`echo: ${wa} second`);
        expect(got.length).toBeLessThanOrEqual(2);
        if (got.length === 2) expect(got[0]).toBe(`echo: ${wa} first`);
      } else {
        expect(got, wa).toEqual([`echo: ${wa} first`]);
      }
      const ds = await rows.dispositions(wa);
      expect(ds.every((d) => d === 'answered' || d === 'coalesced'), `${wa}: ${ds.join(',')}`).toBe(true);
    }
  });
});
